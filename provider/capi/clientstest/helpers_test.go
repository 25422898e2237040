package clientstest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

// pinEnv carries a PIN to the programs that can read one from their
// environment: in a command line it would be visible to every user of the
// machine through ps.
const pinEnv = "KEYHOLD_TEST_PIN"

// commandTimeout bounds every external program. None needs more than a few
// seconds here; a hung one (a library that deadlocks in C_Initialize, say)
// must fail its test instead of stalling the whole run.
const commandTimeout = 30 * time.Second

// option changes a command before it starts.
type option func(*exec.Cmd)

// withEnv adds variables (NAME=value) to a command's environment.
func withEnv(kv ...string) option {
	return func(c *exec.Cmd) { c.Env = append(c.Env, kv...) }
}

// inDir runs a command in dir.
func inDir(dir string) option {
	return func(c *exec.Cmd) { c.Dir = dir }
}

// command returns name with args, bound to ctx, with the HSM's configuration
// in its environment.
func command(ctx context.Context, h *libtest.HSM, name string, args []string, opts ...option) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = h.Command(name).Env
	// A killed program may leave its output pipes to a child; Wait must not
	// wait for that child forever.
	cmd.WaitDelay = 2 * time.Second
	for _, o := range opts {
		o(cmd)
	}
	return cmd
}

// run runs a program to its end and returns its output.
func run(t *testing.T, h *libtest.HSM, name string, args []string, opts ...option) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := command(ctx, h, name, args, opts...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	t.Logf("$ %s %s\n%s%s", name, strings.Join(args, " "), out.String(), errOut.String())
	return out.String(), errOut.String(), err
}

// mustRun runs a program and fails the test unless it exits 0.
func mustRun(t *testing.T, h *libtest.HSM, name string, args []string, opts ...option) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := run(t, h, name, args, opts...)
	require.NoError(t, err, "%s %s\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), stdout, stderr)
	return stdout, stderr
}

// testContext is a context for calls through the Go SDK.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	t.Cleanup(cancel)
	return ctx
}

// sdkPartition opens a Go SDK client of the HSM, next to the library, and
// returns the named partition logged in as its User. The tests use it to
// prepare keys and to check what a program did.
func sdkPartition(t *testing.T, h *libtest.HSM, name, pin string) *hsm.Partition {
	t.Helper()
	ctx := testContext(t)
	c, err := hsm.Open(ctx, h.Env.Config)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	p, err := c.Partition(name)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx, pin))
	return p
}

// generate makes a key through the Go SDK.
func generate(t *testing.T, p *hsm.Partition, spec hsm.KeySpec) *hsm.Key {
	t.Helper()
	k, err := p.GenerateKey(testContext(t), spec)
	require.NoError(t, err)
	return k
}

// writePublicPEM writes pub as a PEM "PUBLIC KEY" file, as openssl reads it.
func writePublicPEM(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "public.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644))
	return path
}

// parsePublicPEM returns the one public key in a PEM text.
func parsePublicPEM(t *testing.T, text string) crypto.PublicKey {
	t.Helper()
	block, _ := pem.Decode([]byte(text))
	require.NotNil(t, block, "no PEM block in %q", text)
	require.Equal(t, "PUBLIC KEY", block.Type)
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	require.NoError(t, err)
	return pub
}

// samePublic reports whether two public keys are equal.
func samePublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
