package hsm_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// ExampleEnroll enrolls a host with the one-time setup password an
// administrator handed out, stores the credential in a secrets file, and
// checks that the node accepts it: what ppin enroll and ppin status do. An
// embedded software HSM stands in for a real one here.
func ExampleEnroll() {
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: "payments", UserPIN: "example-pin", SOPIN: "example-so-pin"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer emb.Close()
	// The administrator's side (Partition.CreateClient with the SO's login,
	// or keyhold serve --enroll).
	setupPassword, err := emb.Node.CreateClient("web-1", 0)
	if err != nil {
		log.Fatal(err)
	}

	// The host's side: a configuration that pins the node, and no
	// credential yet.
	ctx := context.Background()
	cfg := emb.Config
	cfg.Credential = nil
	enr, err := hsm.Enroll(ctx, cfg, "web-1", []byte(setupPassword))
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "keyhold-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg.Secrets = filepath.Join(dir, "keyhold.secrets")
	if err := hsm.WriteSecretsFile(cfg.Secrets, &hsm.Secrets{Credentials: []hsm.Credential{enr.Credential}}); err != nil {
		log.Fatal(err)
	}
	if err := hsm.PingNode(ctx, cfg, enr.Node); err != nil {
		log.Fatal(err)
	}
	fmt.Println("enrolled", enr.Certificate.Subject.CommonName)

	// A setup password is good for one enrollment.
	_, err = hsm.Enroll(ctx, cfg, "web-1", []byte(setupPassword))
	fmt.Println("again:", errors.Is(err, hsm.ErrEnrollRefused))
	// Output:
	// enrolled web-1
	// again: true
}
