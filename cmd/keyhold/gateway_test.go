package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	metricsAddr := freePorts(t, 1)[0]
	args := []string{"--dir", dir, "--partitions", "soft", "--partition", moduleFlag(tk, pinFile), "--metrics", metricsAddr}
	p, line := startServe(t, nil, args...)
	parts, _, config := readyLine(t, line)
	assert.Equal(t, []string{"soft", "hsm"}, parts)

	// The token's health is among the node's metrics.
	require.Eventually(t, func() bool { return len(p.out.lines()) >= 2 }, 30*time.Second, 10*time.Millisecond, "the metrics line")
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Contains(t, string(body), fmt.Sprintf("keyhold_module_sessions_closed_total{module=%q,token=%q} 0", tk.Module, tk.Label))

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

// TestServeRedundantGateways: two keyhold serve processes, each in front of
// its own SoftHSM2 token holding the same key, serve one partition (--peers:
// they share the PKI, ticket keys and client entries). 32 goroutines sign
// while one process is killed and started again: not one signature fails,
// and the restarted process serves the key under the same handle.
func TestServeRedundantGateways(t *testing.T) {
	key := mustEC(t)
	_, tokens := softhsmtest.RedundantConfig(t, key, hsm.KeySpec{Type: hsm.KeyEC, Label: "shared"})
	pinFile := filepath.Join(t.TempDir(), "hsm.pin")
	require.NoError(t, os.WriteFile(pinFile, []byte(tokens[0].PIN+"\n"), 0o600))
	dir := filepath.Join(t.TempDir(), "gw")
	addrs := freePorts(t, 2)
	args := func(i int) []string {
		return []string{"--dir", dir, "--listen", addrs[i], "--peers", strings.Join(addrs, ","),
			"--partition", moduleFlag(tokens[i], pinFile)}
	}
	// Started together, as the processes of a new cluster are.
	type started struct {
		p    *process
		line string
	}
	ready := make(chan started, 2)
	for i := range 2 {
		go func() {
			p, line := startServe(t, nil, args(i)...)
			ready <- started{p, line}
		}()
	}
	var procs [2]*process
	var config string
	for range 2 {
		s := <-ready
		parts, served, cfgPath := readyLine(t, s.line)
		require.Equal(t, []string{"hsm"}, parts)
		procs[slices.Index(addrs, served[0])] = s.p
		config = cfgPath
	}

	cfg, err := hsm.LoadConfig(config)
	require.NoError(t, err)
	require.Len(t, cfg.Partitions[0].Nodes, 2, "the configuration lists both gateways under the partition")
	client, err := hsm.Open(ctxT(t), cfg)
	require.NoError(t, err)
	defer client.Close()
	part, err := client.Partition("hsm")
	require.NoError(t, err)
	require.NoError(t, part.Login(ctxT(t), tokens[0].PIN))
	k, err := part.KeyByLabel(ctxT(t), "shared")
	require.NoError(t, err)
	s, err := signer.New(k)
	require.NoError(t, err)
	digest := sha256.Sum256([]byte("signed while a gateway process is killed"))

	var signed, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				sig, err := s.SignContext(ctx, digest[:], crypto.SHA256)
				cancel()
				if err == nil && !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
					err = errors.New("a signature the standard library rejects")
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				signed.Add(1)
			}
		}()
	}
	waitSigned := func(n int64) {
		t.Helper()
		target := signed.Load() + n
		require.Eventually(t, func() bool { return signed.Load() >= target }, time.Minute, time.Millisecond)
	}
	waitSigned(200)
	require.Error(t, procs[0].stop(syscall.SIGKILL), "killed, not exited")
	waitSigned(200)
	startServe(t, nil, args(0)...)
	waitSigned(500)
	close(stop)
	wg.Wait()
	assert.Zero(t, failed.Load(), "failed signatures; the first: %v", firstErr.Load())

	// The restarted gateway alone serves the key under the same handle.
	alone := cfg
	alone.Partitions = []hsm.PartitionConfig{{ID: cfg.Partitions[0].ID, Name: "hsm", Nodes: []hsm.NodeConfig{{Address: addrs[0]}}}}
	c0, err := hsm.Open(ctxT(t), alone)
	require.NoError(t, err)
	defer c0.Close()
	p0, err := c0.Partition("hsm")
	require.NoError(t, err)
	require.NoError(t, p0.Login(ctxT(t), tokens[0].PIN))
	again, err := p0.KeyByLabel(ctxT(t), "shared")
	require.NoError(t, err)
	assert.Equal(t, k.Handle(), again.Handle())
	sig, err := signer.New(again)
	require.NoError(t, err)
	out, err := sig.SignContext(ctxT(t), digest[:], crypto.SHA256)
	require.NoError(t, err)
	assert.True(t, ecdsa.VerifyASN1(&key.PublicKey, digest[:], out))
}

func mustEC(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return key
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

// TestServeModuleLockout: wrong PINs on a module partition are committed
// to the gateway's directory, so that the lockout outlives a killed serve
// process; the SO ends it with keyhold pin unlock, whose SO PIN the token
// checks, giving the token's User PIN.
func TestServeModuleLockout(t *testing.T) {
	tk, _, pinFile := gatewayToken(t)
	dir := filepath.Join(t.TempDir(), "gw")
	args := []string{"--dir", dir, "--partition", moduleFlag(tk, pinFile), "--max-pin-attempts", "2"}
	p, line := startServe(t, nil, args...)
	_, _, config := readyLine(t, line)
	cfg, err := hsm.LoadConfig(config)
	require.NoError(t, err)
	partition := func() *hsm.Partition {
		client, err := hsm.Open(ctxT(t), cfg)
		require.NoError(t, err)
		t.Cleanup(func() { client.Close() })
		part, err := client.Partition("hsm")
		require.NoError(t, err)
		return part
	}
	guesser := partition()
	for range 2 {
		require.ErrorIs(t, guesser.Login(ctxT(t), "not-the-pin"), hsm.ErrPINIncorrect)
	}
	require.ErrorIs(t, guesser.Login(ctxT(t), tk.PIN), hsm.ErrPINLocked)

	require.Error(t, p.stop(syscall.SIGKILL), "killed, not exited")
	startServe(t, nil, args...)
	require.ErrorIs(t, partition().Login(ctxT(t), tk.PIN), hsm.ErrPINLocked, "the lockout outlives the process")

	c := &cli{t: t, config: config, dir: t.TempDir(), outputs: new([]string)}
	wrong := c.run([]string{"KEYHOLD_SO_PIN=not-the-so-pin"}, "pin", "unlock", "--user", "--partition", "hsm", "--new-pin-file", pinFile)
	assert.Equal(t, exitPIN, wrong.code, "%s", wrong)
	unlock := c.run([]string{"KEYHOLD_SO_PIN=" + tk.SOPIN}, "pin", "unlock", "--user", "--partition", "hsm", "--new-pin-file", pinFile)
	require.Equal(t, 0, unlock.code, "%s", unlock)
	require.NoError(t, partition().Login(ctxT(t), tk.PIN))
	for _, out := range *c.outputs {
		assert.False(t, strings.Contains(out, tk.SOPIN), "an output holds the SO PIN")
	}
}
