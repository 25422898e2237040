package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/signer"
)

// gatewayToken makes a SoftHSM2 token holding an EC key labelled
// "release", and an owner-only file with its PIN.
func gatewayToken(t *testing.T) (softhsmtest.Token, *ecdsa.PrivateKey, string) {
	t.Helper()
	tk := softhsmtest.NewToken(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	softhsmtest.Import(t, tk, key, hsm.KeySpec{Type: hsm.KeyEC, Label: "release"})
	pinFile := filepath.Join(t.TempDir(), "hsm.pin")
	require.NoError(t, os.WriteFile(pinFile, []byte(tk.PIN+"\n"), 0o600))
	return tk, key, pinFile
}

func moduleFlag(tk softhsmtest.Token, pinFile string) string {
	return "hsm=module:" + tk.Module + ",token=" + tk.Label + ",pin-file=" + pinFile
}

// TestServeModulePartition: keyhold serve serves a SoftHSM2 token as
// partition "hsm" beside a software partition; the CLI signs with the
// token's key through it, and a client that signs while the serve process
// is killed and started again recovers without restarting, with the same
// key under the same handle.
func TestServeModulePartition(t *testing.T) {
	tk, key, pinFile := gatewayToken(t)
	dir := filepath.Join(t.TempDir(), "gw")
	args := []string{"--dir", dir, "--partitions", "soft", "--partition", moduleFlag(tk, pinFile)}
	p, line := startServe(t, nil, args...)
	parts, _, config := readyLine(t, line)
	assert.Equal(t, []string{"soft", "hsm"}, parts)

	c := &cli{t: t, config: config, dir: t.TempDir(), outputs: new([]string)}
	pin := []string{"KEYHOLD_PIN=" + tk.PIN}
	artifact := c.file("app.tar.gz", []byte("the artifact"))
	sigFile := filepath.Join(c.dir, "app.sig")
	sign := c.run(pin, "sign", "--key", "hsm/release", "--out", sigFile, artifact)
	require.Equal(t, 0, sign.code, "%s", sign)
	sig, err := os.ReadFile(sigFile)
	require.NoError(t, err)
	digest := sha256.Sum256([]byte("the artifact"))
	assert.True(t, ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig), "the standard library rejects the signature")
	wrong := c.run([]string{"KEYHOLD_PIN=not-the-pin"}, "sign", "--key", "hsm/release", artifact)
	assert.NotZero(t, wrong.code, "%s", wrong)
	for _, out := range *c.outputs {
		assert.False(t, strings.Contains(out, tk.PIN), "an output holds the PIN")
	}

	// A client signs before, during and after a restart of the gateway.
	cfg, err := hsm.LoadConfig(config)
	require.NoError(t, err)
	client, err := hsm.Open(ctxT(t), cfg)
	require.NoError(t, err)
	defer client.Close()
	part, err := client.Partition("hsm")
	require.NoError(t, err)
	require.NoError(t, part.Login(ctxT(t), tk.PIN))
	k, err := part.KeyByLabel(ctxT(t), "release")
	require.NoError(t, err)
	s, err := signer.New(k)
	require.NoError(t, err)
	signOnce := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sig, err := s.SignContext(ctx, digest[:], crypto.SHA256)
		if err == nil && !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
			return errors.New("bad signature")
		}
		return err
	}
	require.NoError(t, signOnce())

	require.Error(t, p.stop(syscall.SIGKILL), "killed, not exited")
	startServe(t, nil, args...)
	require.Eventually(t, func() bool { return signOnce() == nil }, 30*time.Second, 50*time.Millisecond,
		"the client signs again once the gateway is back")
	again, err := part.KeyByLabel(ctxT(t), "release")
	require.NoError(t, err)
	assert.Equal(t, k.Handle(), again.Handle(), "the restarted gateway serves the key under the same handle")
}

func TestServeModulePartitionFlags(t *testing.T) {
	tk, _, pinFile := gatewayToken(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"relative module", []string{"--partition", "hsm=module:libsofthsm2.so,token=" + tk.Label}, "absolute"},
		{"no token", []string{"--partition", "hsm=module:" + tk.Module}, "token=LABEL is required"},
		{"unknown setting", []string{"--partition", "hsm=module:" + tk.Module + ",token=x,slot=1"}, "unknown or empty setting"},
		{"no PIN", []string{"--partition", "hsm=module:" + tk.Module + ",token=" + tk.Label}, "pin-file"},
		{"twice", []string{"--partitions", "hsm", "--partition", moduleFlag(tk, pinFile)}, "named twice"},
		{"with nodes", []string{"--nodes", "2", "--partition", moduleFlag(tk, pinFile)}, "--nodes"},
		{"no such token", []string{"--partition", "hsm=module:" + tk.Module + ",token=no-such-token,pin-file=" + pinFile}, "no token of the module matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runBinary(t, append([]string{"serve", "--dir", filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))}, tc.args...)...)
			assert.Equal(t, 1, exitCode(err), "%s", out)
			assert.Contains(t, out, tc.want)
		})
	}
}

// FuzzParseModulePartition: whatever --partition is given, it is parsed
// into a complete module partition or refused, never half-read.
func FuzzParseModulePartition(f *testing.F) {
	f.Add("hsm=module:/usr/lib/softhsm/libsofthsm2.so,token=vault,pin-file=/etc/keyhold/vault.pin")
	f.Add("hsm=module:/usr/lib/vendor.so,token=a=b")
	f.Add("=module:,token=")
	f.Add("hsm=module:relative.so,token=t")
	f.Fuzz(func(t *testing.T, v string) {
		mp, err := parseModulePartition(v)
		if err != nil {
			return
		}
		assert.NotEmpty(t, mp.name)
		assert.True(t, filepath.IsAbs(mp.opts.Path), "module path %q", mp.opts.Path)
		assert.NotEmpty(t, mp.opts.Token)
		assert.Empty(t, mp.opts.PIN, "the PIN comes from its file, never from the flag")
	})
}
