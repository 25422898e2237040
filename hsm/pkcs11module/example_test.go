package pkcs11module_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"os"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	_ "github.com/keyhold/keyhold/hsm/pkcs11module" // module nodes
)

// A partition served by a token of a vendor's PKCS#11 module (here
// SoftHSM2's), used like any other partition: log in, find a key, sign.
func Example() {
	ctx := context.Background()
	cfg := hsm.Config{Partitions: []hsm.PartitionConfig{{
		ID:   1,
		Name: "local",
		Nodes: []hsm.NodeConfig{
			{Module: "/usr/lib/softhsm/libsofthsm2.so", Token: "local"},
		},
	}}}
	client, err := hsm.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	part, err := client.Partition("local")
	if err != nil {
		log.Fatal(err)
	}
	if err := part.Login(ctx, os.Getenv("KEYHOLD_PIN")); err != nil {
		log.Fatal(err)
	}
	key, err := part.KeyByLabel(ctx, "release")
	if err != nil {
		log.Fatal(err)
	}
	digest := sha256.Sum256([]byte("artifact"))
	sig, err := key.Sign(ctx, hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d-byte signature\n", len(sig))
}
