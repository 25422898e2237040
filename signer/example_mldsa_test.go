//go:build go1.27

package signer_test

import (
	"context"
	"crypto/mldsa"
	"fmt"
	"log"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
	"github.com/keyhold/keyhold/testenv"
)

// ExampleNew_mldsa signs with an ML-DSA-65 key that stays in a partition,
// with a context string, and verifies with crypto/mldsa (Go 1.27).
func ExampleNew_mldsa() {
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: "releases", UserPIN: "example-pin", SOPIN: "example-so-pin"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer emb.Close()
	ctx := context.Background()
	client, err := hsm.Open(ctx, emb.Config)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	part, err := client.Partition("releases")
	if err != nil {
		log.Fatal(err)
	}
	if err := part.Login(ctx, "example-pin"); err != nil {
		log.Fatal(err)
	}
	key, err := part.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyMLDSA, ParameterSet: ck.CKP_ML_DSA_65, Label: "release-signing"})
	if err != nil {
		log.Fatal(err)
	}
	s, err := signer.New(key)
	if err != nil {
		log.Fatal(err)
	}
	msg := []byte("release v1.0.0")
	opts := &mldsa.Options{Context: "release"}
	sig, err := s.Sign(nil, msg, opts)
	if err != nil {
		log.Fatal(err)
	}
	pub := s.Public().(*mldsa.PublicKey)
	fmt.Println(pub.Parameters(), len(sig), "bytes, verified:", mldsa.Verify(pub, msg, sig, opts) == nil)
	// Output: ML-DSA-65 3309 bytes, verified: true
}
