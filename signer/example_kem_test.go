package signer_test

import (
	"context"
	"crypto/hpke"
	"fmt"
	"log"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
	"github.com/keyhold/keyhold/testenv"
)

// ExampleNewDecapsulator opens an HPKE message (RFC 9180 with ML-KEM-768)
// with a private key that stays in a partition: the sender needs only the
// public key, and crypto/hpke asks the HSM to decapsulate.
func ExampleNewDecapsulator() {
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: "inbox", UserPIN: "example-pin", SOPIN: "example-so-pin"}},
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
	part, err := client.Partition("inbox")
	if err != nil {
		log.Fatal(err)
	}
	if err := part.Login(ctx, "example-pin"); err != nil {
		log.Fatal(err)
	}
	key, err := part.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyMLKEM, Label: "hpke-recipient"})
	if err != nil {
		log.Fatal(err)
	}
	d, err := signer.NewDecapsulator(key)
	if err != nil {
		log.Fatal(err)
	}

	// The sender, anywhere, with the public key only.
	pub, err := hpke.NewMLKEMPublicKey(d.Encapsulator())
	if err != nil {
		log.Fatal(err)
	}
	sealed, err := hpke.Seal(pub, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte("example"), []byte("for the partition's eyes"))
	if err != nil {
		log.Fatal(err)
	}

	// The recipient: the ML-KEM private key is the partition's.
	priv, err := hpke.NewMLKEMPrivateKey(d)
	if err != nil {
		log.Fatal(err)
	}
	msg, err := hpke.Open(priv, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte("example"), sealed)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	// Output: for the partition's eyes
}
