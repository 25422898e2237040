package hsm_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// ExampleOpen opens a client, logs in to a partition and finds or creates a
// key. An embedded software HSM stands in for a real one here.
func ExampleOpen() {
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: "payments", UserPIN: "example-pin", SOPIN: "example-so-pin"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer emb.Close()

	ctx := context.Background()
	client, err := hsm.Open(ctx, emb.Config) // with a real HSM: hsm.LoadDefaultConfig()
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
	key, err := part.KeyByLabel(ctx, "api-signing")
	if errors.Is(err, hsm.ErrNotFound) {
		key, err = part.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEd25519, Label: "api-signing"})
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key.Label(), key.Type())
	// Output: api-signing Ed25519
}

// ExamplePartition_Login shows how the typed errors tell a wrong PIN from a
// locked one.
func ExamplePartition_Login() {
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: "payments", UserPIN: "example-pin", SOPIN: "example-so-pin"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer emb.Close()
	client, err := hsm.Open(context.Background(), emb.Config)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	part, _ := client.Partition("payments")

	err = part.Login(context.Background(), "not-the-pin")
	switch {
	case errors.Is(err, hsm.ErrPINIncorrect):
		fmt.Println("wrong PIN")
	case errors.Is(err, hsm.ErrPINLocked):
		fmt.Println("PIN locked: ask the security officer")
	}
	// Output: wrong PIN
}

// ExamplePartition_CopyObject gives a key a second label under which it may
// not be copied again: the copy shares the key, its attributes are its own.
func ExamplePartition_CopyObject() {
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
	key, err := part.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "api-2026"})
	if err != nil {
		log.Fatal(err)
	}
	copied, err := part.CopyObject(ctx, key.Handle(), hsm.Template{
		hsm.NewBytesAttribute(ck.CKA_LABEL, []byte("api-current")),
		hsm.NewBoolAttribute(ck.CKA_COPYABLE, false),
	})
	if err != nil {
		log.Fatal(err)
	}
	current, err := part.KeyByLabel(ctx, "api-current")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(current.Handle() == copied, current.Public().(*ecdsa.PublicKey).Equal(key.Public()))
	_, err = part.CopyObject(ctx, copied, hsm.Template{hsm.NewBytesAttribute(ck.CKA_LABEL, []byte("again"))})
	fmt.Println(errors.Is(err, hsm.ErrPermission))
	// Output:
	// true true
	// true
}
