package hsm_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"log"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// openExample starts an embedded software HSM with the given partitions,
// all with the PIN "example-pin", and returns them logged in.
func openExample(names ...string) ([]*hsm.Partition, func()) {
	var parts []testenv.PartitionOptions
	for i, n := range names {
		parts = append(parts, testenv.PartitionOptions{ID: uint32(i + 1), Name: n, UserPIN: "example-pin", SOPIN: "example-so-pin"})
	}
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{Partitions: parts})
	if err != nil {
		log.Fatal(err)
	}
	client, err := hsm.Open(context.Background(), emb.Config)
	if err != nil {
		log.Fatal(err)
	}
	var out []*hsm.Partition
	for _, n := range names {
		p, err := client.Partition(n)
		if err != nil {
			log.Fatal(err)
		}
		if err := p.Login(context.Background(), "example-pin"); err != nil {
			log.Fatal(err)
		}
		out = append(out, p)
	}
	return out, func() { client.Close(); emb.Close() }
}

// ExampleKey_ECDH agrees on a secret between an EC key that stays in the
// HSM and a peer's key: the partition key is a crypto/ecdh KeyExchanger.
func ExampleKey_ECDH() {
	parts, done := openExample("payments")
	defer done()
	ctx := context.Background()
	// Wrap gives the private key CKA_DERIVE, which ECDH needs.
	key, err := parts[0].GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "agreement", Wrap: true})
	if err != nil {
		log.Fatal(err)
	}
	var kx ecdh.KeyExchanger = key

	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	ours, err := kx.ECDH(peer.PublicKey())
	if err != nil {
		log.Fatal(err)
	}
	theirs, _ := peer.ECDH(kx.PublicKey())
	fmt.Println(bytes.Equal(ours, theirs))
	// Output: true
}

// ExampleKey_Wrap moves an AES key from one partition to another under a
// key-wrapping key that both hold.
func ExampleKey_Wrap() {
	parts, done := openExample("old", "new")
	defer done()
	ctx := context.Background()
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	var keks []*hsm.Key
	for _, p := range parts {
		// In practice the wrapping key comes from a key ceremony; here it
		// is imported into both partitions.
		h, err := p.CreateObject(ctx, hsm.Template{
			ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)),
			ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_AES)),
			ck.Bool(ck.CKA_TOKEN, true),
			ck.Bool(ck.CKA_PRIVATE, true),
			ck.Bool(ck.CKA_WRAP, true),
			ck.Bool(ck.CKA_UNWRAP, true),
			ck.Bytes(ck.CKA_VALUE, kek),
		})
		if err != nil {
			log.Fatal(err)
		}
		k, err := p.KeyByHandle(ctx, h)
		if err != nil {
			log.Fatal(err)
		}
		keks = append(keks, k)
	}

	key, err := parts[0].GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyAES, Label: "data-key", Extractable: true})
	if err != nil {
		log.Fatal(err)
	}
	m := hsm.Mechanism{Type: ck.CKM_AES_KEY_WRAP_KWP}
	wrapped, err := keks[0].Wrap(ctx, m, key)
	if err != nil {
		log.Fatal(err)
	}
	moved, err := keks[1].Unwrap(ctx, m, wrapped, hsm.KeySpec{Type: hsm.KeyAES, Label: "data-key"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(moved.Partition().Name(), moved.Label(), moved.Type())
	// Output: new data-key AES
}
