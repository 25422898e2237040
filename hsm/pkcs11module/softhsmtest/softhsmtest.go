// Package softhsmtest gives tests SoftHSM2 tokens behind keyhold's PKCS#11
// module backend: an hsm.Config whose partition's node is a fresh token,
// with its PINs, or a redundant partition of two tokens holding the same
// key. Only tests import it.
//
// SoftHSM2 reads its configuration (SOFTHSM2_CONF) and its token directory
// when the module is initialised, and a process initialises a module once:
// so every test of one test binary shares one SoftHSM2 configuration, in a
// temporary directory with a set of tokens made before the first test uses
// any. A test binary should call Main from TestMain, which removes that
// directory at the end:
//
//	func TestMain(m *testing.M) { softhsmtest.Main(m) }
//
// When SoftHSM2 is not installed, tests skip, unless KEYHOLD_REQUIRE_CLIENTS
// is "1" (as in CI), where they fail.
package softhsmtest

import (
	"context"
	"crypto"
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyhold/keyhold/hsm"
	_ "github.com/keyhold/keyhold/hsm/pkcs11module" // module nodes
)

// Tokens is how many tokens are made for a test binary before its first
// test; NewToken makes more when they run out (see initToken).
const Tokens = 16

// ModuleCandidates are where SoftHSM2's module is looked for.
var ModuleCandidates = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

// Token is one SoftHSM2 token made for a test. Its PINs are throwaway test
// PINs.
type Token struct {
	Module string // the module's path
	Label  string
	Serial string
	PIN    string // the User PIN
	SOPIN  string
}

// Node returns the configuration's node for the token, selected by label.
func (tk Token) Node() hsm.NodeConfig {
	return hsm.NodeConfig{Module: tk.Module, Token: tk.Label}
}

var (
	once   sync.Once
	dir    string
	module string
	setup  error
	mu     sync.Mutex
	tokens []Token
	next   int
)

// skipOrFail skips the test when SoftHSM2 is missing, unless CI requires
// the real clients.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("KEYHOLD_REQUIRE_CLIENTS") == "1" {
		t.Fatalf("softhsmtest: %s (KEYHOLD_REQUIRE_CLIENTS=1)", msg)
	}
	t.Skipf("softhsmtest: %s", msg)
}

// ModulePath returns the path of SoftHSM2's module, and sets up the binary's
// SoftHSM2 configuration and tokens on first use.
func ModulePath(t testing.TB) string {
	t.Helper()
	once.Do(prepare)
	if module == "" {
		skipOrFail(t, "SoftHSM2 is not installed (apt-get install softhsm2)")
	}
	if setup != nil {
		t.Fatalf("softhsmtest: %v", setup)
	}
	return module
}

func prepare() {
	for _, c := range ModuleCandidates {
		if _, err := os.Stat(c); err == nil {
			module = c
			break
		}
	}
	util, err := exec.LookPath("softhsm2-util")
	if module == "" || err != nil {
		module = ""
		return
	}
	dir, setup = os.MkdirTemp("", "keyhold-softhsm-")
	if setup != nil {
		return
	}
	tokenDir := filepath.Join(dir, "tokens")
	conf := filepath.Join(dir, "softhsm2.conf")
	if setup = os.Mkdir(tokenDir, 0o700); setup != nil {
		return
	}
	text := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokenDir)
	if setup = os.WriteFile(conf, []byte(text), 0o600); setup != nil {
		return
	}
	// The module reads this when it is initialised, once per process:
	// every token must exist by then.
	if setup = os.Setenv("SOFTHSM2_CONF", conf); setup != nil {
		return
	}
	for i := range Tokens {
		tk := Token{
			Module: module,
			Label:  fmt.Sprintf("keyhold-test-%02d", i),
			PIN:    randomPIN(),
			SOPIN:  randomPIN(),
		}
		out, err := exec.Command(util, "--init-token", "--free", "--label", tk.Label, "--pin", tk.PIN, "--so-pin", tk.SOPIN).CombinedOutput()
		if err != nil {
			setup = fmt.Errorf("softhsm2-util --init-token %s: %v: %s", tk.Label, err, out)
			return
		}
		tokens = append(tokens, tk)
	}
	serials, err := readSerials(util)
	if err != nil {
		setup = err
		return
	}
	for i := range tokens {
		tokens[i].Serial = serials[tokens[i].Label]
	}
}

// readSerials maps labels to serial numbers, as softhsm2-util shows them
// (each token's serial number comes before its label).
func readSerials(util string) (map[string]string, error) {
	out, err := exec.Command(util, "--show-slots").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("softhsm2-util --show-slots: %v", err)
	}
	serials := map[string]string{}
	var serial string
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "Serial number":
			serial = strings.TrimSpace(v)
		case "Label":
			serials[strings.TrimSpace(v)] = serial
		}
	}
	return serials, nil
}

func randomPIN() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1e8))
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%08d", n)
}

// Main runs a test binary's tests and then removes its SoftHSM2 directory.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	RemoveTokens()
	os.Exit(code)
}

// RemoveTokens removes the test binary's SoftHSM2 directory, for a TestMain
// that does more than Main.
func RemoveTokens() {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

// NewToken returns a token no other test of the binary has had.
func NewToken(t testing.TB) Token {
	t.Helper()
	ModulePath(t)
	mu.Lock()
	defer mu.Unlock()
	if next >= len(tokens) {
		tk := Token{Module: module, Label: fmt.Sprintf("keyhold-test-%02d", len(tokens)), PIN: randomPIN(), SOPIN: randomPIN()}
		serial, err := initToken(module, tk.Label, tk.PIN, tk.SOPIN)
		if err != nil {
			t.Fatalf("softhsmtest: make token %s: %v", tk.Label, err)
		}
		tk.Serial = serial
		tokens = append(tokens, tk)
	}
	tk := tokens[next]
	next++
	return tk
}

// PartitionName is the partition name of the configurations made here.
const PartitionName = "softhsm"

// Config returns a configuration with one partition, PartitionName (ID 1),
// whose one node is a new token; and the token, for its PINs.
func Config(t testing.TB) (hsm.Config, Token) {
	t.Helper()
	tk := NewToken(t)
	return ConfigFor(tk), tk
}

// ConfigFor returns a configuration with one partition, PartitionName (ID
// 1), served by the given tokens, which should hold the same keys.
func ConfigFor(tks ...Token) hsm.Config {
	p := hsm.PartitionConfig{ID: 1, Name: PartitionName}
	for _, tk := range tks {
		p.Nodes = append(p.Nodes, tk.Node())
	}
	return hsm.Config{Partitions: []hsm.PartitionConfig{p}}
}

// Import stores key in the token under spec (see hsm.Partition.ImportKey),
// logged in with the token's PIN, through a Client of its own.
func Import(t testing.TB, tk Token, key crypto.PrivateKey, spec hsm.KeySpec) {
	t.Helper()
	ctx := context.Background()
	c, err := hsm.Open(ctx, ConfigFor(tk))
	if err != nil {
		t.Fatalf("softhsmtest: open token %s: %v", tk.Label, err)
	}
	defer c.Close()
	p, err := c.Partition(PartitionName)
	if err != nil {
		t.Fatalf("softhsmtest: %v", err)
	}
	if err := p.Login(ctx, tk.PIN); err != nil {
		t.Fatalf("softhsmtest: login to %s: %v", tk.Label, err)
	}
	if _, err := p.ImportKey(ctx, key, spec); err != nil {
		t.Fatalf("softhsmtest: import into %s: %v", tk.Label, err)
	}
}

// RedundantConfig returns a configuration whose one partition is served by
// two new tokens that hold the same key, imported under spec (give it a
// Label or ID to find the key by), and the two tokens. Both tokens get the
// same User PIN, as the nodes of one partition have.
func RedundantConfig(t testing.TB, key crypto.PrivateKey, spec hsm.KeySpec) (hsm.Config, [2]Token) {
	t.Helper()
	a, b := NewToken(t), NewToken(t)
	if len(spec.ID) == 0 {
		spec.ID = make([]byte, 16)
		_, _ = rand.Read(spec.ID)
	}
	setPIN(t, b, a.PIN)
	b.PIN = a.PIN
	Import(t, a, key, spec)
	Import(t, b, key, spec)
	return ConfigFor(a, b), [2]Token{a, b}
}

// setPIN changes tk's User PIN, so that two tokens of one partition share
// one.
func setPIN(t testing.TB, tk Token, pin string) {
	t.Helper()
	ctx := context.Background()
	c, err := hsm.Open(ctx, ConfigFor(tk))
	if err != nil {
		t.Fatalf("softhsmtest: open token %s: %v", tk.Label, err)
	}
	defer c.Close()
	p, err := c.Partition(PartitionName)
	if err != nil {
		t.Fatalf("softhsmtest: %v", err)
	}
	if err := p.Login(ctx, tk.PIN); err != nil {
		t.Fatalf("softhsmtest: login to %s: %v", tk.Label, err)
	}
	if err := p.SetPIN(ctx, tk.PIN, pin); err != nil {
		t.Fatalf("softhsmtest: set PIN of %s: %v", tk.Label, err)
	}
	mu.Lock()
	for i := range tokens {
		if tokens[i].Label == tk.Label {
			tokens[i].PIN = pin
		}
	}
	mu.Unlock()
}
