package sigstore_test

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"log"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer/sigstore"
	"github.com/keyhold/keyhold/testenv"
)

// Example creates a signing key in a partition, signs an artifact with it
// through sigstore's interface, and verifies the signature with sigstore's
// verifier from the public key alone. An embedded software HSM stands in for
// the real one; with a real HSM, kms.Get(ctx, "keyhold://release/signing",
// crypto.SHA256) does the same with the configuration from KEYHOLD_CONF and
// the PIN from KEYHOLD_PIN or KEYHOLD_PIN_FILE.
func Example() {
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: "release", UserPIN: "example-pin", SOPIN: "example-so-pin"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer emb.Close()
	p := &sigstore.Provider{
		Config: &emb.Config,
		PIN:    func(*hsm.Partition) (string, error) { return "example-pin", nil },
	}
	defer p.Close()

	ctx := context.Background()
	sv, err := p.SignerVerifier(ctx, "keyhold://release/signing", crypto.SHA256)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := sv.CreateKey(ctx, sv.DefaultAlgorithm())
	if err != nil {
		log.Fatal(err)
	}
	artifact := []byte("release v1.0.0")
	sig, err := sv.SignMessage(bytes.NewReader(artifact), options.WithContext(ctx))
	if err != nil {
		log.Fatal(err)
	}

	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified:", v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(artifact)) == nil)
	// Output: verified: true
}
