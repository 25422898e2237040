// Package hsmtest runs a test on every kind of HSM keyhold reaches: its
// software HSM over TLS on loopback (testenv), a SoftHSM2 token, a real
// vendor-style PKCS#11 module, through the module backend
// (hsm/pkcs11module), and a SoftHSM2 token behind a keyhold node that
// serves it as a partition (a gateway, server/gateway). A test written once
// against a Target holds for all three, so that what the packages above hsm
// promise does not depend on the backend. Only tests import it.
package hsmtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/server"
	_ "github.com/keyhold/keyhold/server/gateway" // module partitions
	"github.com/keyhold/keyhold/testenv"
)

// Kind is a kind of HSM.
type Kind string

// The kinds every test runs on.
const (
	Software Kind = "software" // keyhold's software HSM over TLS
	SoftHSM2 Kind = "softhsm2" // a SoftHSM2 token through the module backend
	Gateway  Kind = "gateway"  // a SoftHSM2 token behind a keyhold node, over TLS
)

// Kinds lists them, in the order tests run.
var Kinds = []Kind{Software, SoftHSM2, Gateway}

// SoftHSM reports whether the token behind the kind is SoftHSM2 (directly or
// through a gateway): its limits (OAEP with SHA-1 only, general errors for
// bad padding) are the module's, whichever way it is reached.
func (k Kind) SoftHSM() bool { return k == SoftHSM2 || k == Gateway }

// GatewayPartition is the name of the gateway's partition.
const GatewayPartition = "gateway"

// Target is a partition ready for a test: a client of it, logged in as its
// User.
type Target struct {
	Kind      Kind
	Config    hsm.Config
	Client    *hsm.Client
	Partition *hsm.Partition
	// PIN is the User PIN.
	PIN string
	// Env is the software HSM, for fault injection; nil on the others.
	Env *testenv.Env
	// gateway is the node in front of the SoftHSM2 token, for Gateway.
	gateway *testenv.Embedded
}

// Open starts (or takes) an HSM of the given kind and returns a client of
// it logged in as the User; everything is closed when the test ends.
func Open(t testing.TB, kind Kind, opts ...testenv.Option) *Target {
	t.Helper()
	tg := &Target{Kind: kind}
	name := ""
	switch kind {
	case Software:
		tg.Env = testenv.Start(t, opts...)
		tg.Config, tg.PIN, name = tg.Env.Config, tg.Env.UserPIN, tg.Env.Partition
	case SoftHSM2:
		cfg, tk := softhsmtest.Config(t)
		tg.Config, tg.PIN, name = cfg, tk.PIN, softhsmtest.PartitionName
	case Gateway:
		tk := softhsmtest.NewToken(t)
		e, err := testenv.StartEmbedded(server.NodeOptions{Partitions: []server.PartitionOptions{{
			ID: 1, Name: GatewayPartition,
			Module: &server.ModuleOptions{Path: tk.Module, Token: tk.Label, PIN: tk.PIN},
		}}})
		if err != nil {
			t.Fatalf("hsmtest: start a gateway: %v", err)
		}
		t.Cleanup(func() { e.Close() })
		tg.gateway = e
		tg.Config, tg.PIN, name = e.Config, tk.PIN, GatewayPartition
	default:
		t.Fatalf("hsmtest: unknown kind %q", kind)
	}
	ctx := context.Background()
	c, err := hsm.Open(ctx, tg.Config)
	if err != nil {
		t.Fatalf("hsmtest: open %s: %v", kind, err)
	}
	t.Cleanup(func() { c.Close() })
	p, err := c.Partition(name)
	if err != nil {
		t.Fatalf("hsmtest: %v", err)
	}
	if err := p.Login(ctx, tg.PIN); err != nil {
		t.Fatalf("hsmtest: login to %s: %v", kind, err)
	}
	tg.Client, tg.Partition = c, p
	return tg
}

// Run runs f as a subtest on each kind of HSM.
func Run(t *testing.T, f func(t *testing.T, kind Kind)) {
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) { f(t, k) })
	}
}

// Main runs a test binary's tests, fails it when a test left a goroutine
// behind, and removes the SoftHSM2 tokens it made. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	softhsmtest.RemoveTokens()
	os.Exit(code)
}

// WriteConfig writes the target's configuration where KEYHOLD_CONF can name
// it, with what it needs beside it (the software HSM's CA and credential),
// and returns its path.
func WriteConfig(t testing.TB, tg *Target) string {
	t.Helper()
	if tg.Env != nil || tg.gateway != nil {
		var path string
		var err error
		if tg.Env != nil {
			path, err = tg.Env.WriteConfig()
		} else {
			path, err = tg.gateway.WriteConfig(t.TempDir())
		}
		if err != nil {
			t.Fatalf("hsmtest: %v", err)
		}
		return path
	}
	data, err := yaml.Marshal(tg.Config)
	if err != nil {
		t.Fatalf("hsmtest: %v", err)
	}
	path := filepath.Join(t.TempDir(), "keyhold.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("hsmtest: %v", err)
	}
	return path
}

// ImportSecret stores a secret key of key type kt with a known value (a
// private, sensitive token object) and the extra attributes given (usage,
// label, ID), and returns it, so that a test can check what the HSM does
// with it against the standard library.
func ImportSecret(t testing.TB, p *hsm.Partition, kt ck.KeyType, value []byte, extra ...hsm.Attribute) *hsm.Key {
	t.Helper()
	tmpl := append(hsm.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(kt)),
		ck.Bool(ck.CKA_TOKEN, true),
		ck.Bool(ck.CKA_PRIVATE, true),
		ck.Bool(ck.CKA_SENSITIVE, true),
		ck.Bytes(ck.CKA_VALUE, value),
	}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := p.CreateObject(ctx, tmpl)
	if err != nil {
		t.Fatalf("hsmtest: import a secret key: %v", err)
	}
	k, err := p.KeyByHandle(ctx, h)
	if err != nil {
		t.Fatalf("hsmtest: read the imported key: %v", err)
	}
	return k
}
