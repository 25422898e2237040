package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// TestServeRestartKeepsState stops keyhold serve (SIGTERM: a clean exit;
// SIGKILL: a crash) after a key was generated, a client enrolled, a PIN
// changed and a user locked out, and starts it again on the same --dir:
// everything holds, on the same address and under the same CA.
func TestServeRestartKeepsState(t *testing.T) {
	ppin, err := ppinBinary()
	require.NoError(t, err)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			const oldPIN, newPIN = "user-pin-1234", "user-pin-changed"
			dir := filepath.Join(t.TempDir(), "hsm")
			args := []string{"--dir", dir, "--partitions", "pay,ops", "--max-pin-attempts", "3",
				"--user-pin", oldPIN, "--so-pin", "so-pin-5678", "--enroll", "host"}
			p, line := startServe(t, nil, args...)
			_, addrs, conf := readyLine(t, line)
			ca, err := os.ReadFile(filepath.Join(dir, "node-ca.pem"))
			require.NoError(t, err)

			// Enroll the way an operator does.
			cmd := exec.CommandContext(ctxT(t), ppin, "enroll", "--config", conf, "--client", "host",
				"--password-file", filepath.Join(dir, "host.setup"))
			cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			cfg, err := hsm.LoadConfig(conf)
			require.NoError(t, err)

			client, err := hsm.Open(ctxT(t), cfg)
			require.NoError(t, err)
			pay, err := client.Partition("pay")
			require.NoError(t, err)
			require.NoError(t, pay.Login(ctxT(t), oldPIN))
			key, err := pay.GenerateKey(ctxT(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "kept"})
			require.NoError(t, err)
			pub, ok := key.Public().(*ecdsa.PublicKey)
			require.True(t, ok)
			require.NoError(t, pay.SetPIN(ctxT(t), oldPIN, newPIN))
			ops, err := client.Partition("ops")
			require.NoError(t, err)
			for range 3 {
				require.ErrorIs(t, ops.Login(ctxT(t), "wrong-pin-000"), hsm.ErrPINIncorrect)
			}
			require.ErrorIs(t, ops.Login(ctxT(t), oldPIN), hsm.ErrPINLocked)
			require.NoError(t, client.Close())

			// A second serve on the same directory is refused while the
			// first runs, and writes nothing.
			out2, err := runBinary(t, append([]string{"serve"}, args...)...)
			require.Error(t, err)
			assert.Equal(t, 1, exitCode(err))
			assert.Contains(t, out2, "in use")

			stopErr := p.stop(sig)
			if sig == syscall.SIGTERM {
				require.NoError(t, stopErr, "stderr:\n%s", p.stderr)
			}

			_, line = startServe(t, nil, args...)
			_, addrs2, _ := readyLine(t, line)
			assert.Equal(t, addrs, addrs2, "the address is kept")
			ca2, err := os.ReadFile(filepath.Join(dir, "node-ca.pem"))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(ca, ca2), "the CA is kept")

			// The enrolled client connects with the credential it has.
			client, err = hsm.Open(ctxT(t), cfg)
			require.NoError(t, err)
			defer client.Close()
			pay, err = client.Partition("pay")
			require.NoError(t, err)
			require.ErrorIs(t, pay.Login(ctxT(t), oldPIN), hsm.ErrPINIncorrect)
			require.NoError(t, pay.Login(ctxT(t), newPIN))
			key, err = pay.FindKey(ctxT(t), hsm.KeyQuery{Label: "kept"})
			require.NoError(t, err)
			digest := sha256.Sum256([]byte("after a restart"))
			sig, err := key.Sign(ctxT(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
			require.NoError(t, err)
			assert.True(t, ecdsa.VerifyASN1(pub, digest[:], rawToASN1(t, sig)), "same key, same public key")
			ops, err = client.Partition("ops")
			require.NoError(t, err)
			require.ErrorIs(t, ops.Login(ctxT(t), oldPIN), hsm.ErrPINLocked)
		})
	}
}
