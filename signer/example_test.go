package signer_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"log"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
	"github.com/keyhold/keyhold/testenv"
)

// Example shows the first things a user does: open a client, log in to a
// partition, get a key as a crypto.Signer, and sign. An embedded software
// HSM stands in for the real one; with a real HSM the configuration comes
// from hsm.LoadDefaultConfig().
func Example() {
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: "payments", UserPIN: "example-pin", SOPIN: "example-so-pin"}},
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
	part, err := client.Partition("payments")
	if err != nil {
		log.Fatal(err)
	}
	if err := part.Login(ctx, "example-pin"); err != nil {
		log.Fatal(err)
	}
	key, err := part.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "invoice-signing"})
	if err != nil {
		log.Fatal(err)
	}
	// Later, anywhere: the key by its pkcs11: URI.
	key, err = client.KeyByURI(ctx, "pkcs11:token=payments;object=invoice-signing;type=private")
	if err != nil {
		log.Fatal(err)
	}

	s, err := signer.New(key)
	if err != nil {
		log.Fatal(err)
	}
	digest := sha256.Sum256([]byte("invoice #1"))
	sig, err := s.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified:", ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), digest[:], sig))
	// Output: verified: true
}
