package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/wire"
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

// TestServeProcessClusterRestart kills every process of a 3-process
// cluster with SIGKILL and starts them again: each node, asked alone,
// still has the key (and signs with it), the changed PIN and the lockout.
func TestServeProcessClusterRestart(t *testing.T) {
	const oldPIN, newPIN = "user-pin-1234", "user-pin-changed"
	dir := t.TempDir()
	addrs := freePorts(t, 3)
	peers := strings.Join(addrs, ",")
	startAll := func() []*process {
		procs := make([]*process, 3)
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				procs[i], _ = startServe(t, []string{"KEYHOLD_USER_PIN=" + oldPIN}, "--dir", dir, "--partitions", "pay,ops",
					"--listen", addrs[i], "--peers", peers, "--so-pin", "so-pin-5678", "--max-pin-attempts", "3")
			})
		}
		wg.Wait()
		return procs
	}
	procs := startAll()
	cfg, err := hsm.LoadConfig(filepath.Join(dir, "keyhold.yaml"))
	require.NoError(t, err)
	key := signWithEngine(t, cfg, "pay", oldPIN, "kept")
	pub := key.Public().(*ecdsa.PublicKey)
	c0 := dialNode(t, cfg, addrs[0])
	require.NoError(t, c0.Call(ctxT(t), wire.OpSetPIN, wire.SetPINRequest{
		Partition: 1, User: ck.CKU_USER, OldPIN: []byte(oldPIN), NewPIN: []byte(newPIN), OpID: wire.OpID{1},
	}, nil))
	for i := range 3 {
		// One wrong PIN on each node: the counter is the cluster's.
		c := dialNode(t, cfg, addrs[i])
		require.Error(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 2, User: ck.CKU_USER, PIN: []byte("wrong-pin-000")}, nil))
	}

	for _, p := range procs {
		require.Error(t, p.stop(syscall.SIGKILL))
	}
	startAll()
	digest := sha256.Sum256([]byte("signed by each node after a crash of all"))
	for _, a := range addrs {
		c := dialNode(t, cfg, a)
		err := c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 1, User: ck.CKU_USER, PIN: []byte(oldPIN)}, nil)
		requireRV(t, err, ck.CKR_PIN_INCORRECT)
		ticket := login(t, c, 1, newPIN)
		var found wire.FindObjectsReply
		require.NoError(t, c.Call(ctxT(t), wire.OpFindObjects, wire.FindObjectsRequest{Partition: 1, Ticket: ticket, Template: ck.Template{
			ck.String(ck.CKA_LABEL, "kept"), ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
		}}, &found))
		require.Len(t, found.Objects, 1, "node %s", a)
		var sig wire.DataReply
		require.NoError(t, c.Call(ctxT(t), wire.OpSign, wire.CryptRequest{
			Partition: 1, Ticket: ticket, Handle: found.Objects[0].Handle, Mechanism: ck.Mechanism{Type: ck.CKM_ECDSA}, Data: digest[:],
		}, &sig))
		assert.True(t, ecdsa.VerifyASN1(pub, digest[:], rawToASN1(t, sig.Data)), "node %s", a)
		err = c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 2, User: ck.CKU_USER, PIN: []byte(oldPIN)}, nil)
		requireRV(t, err, ck.CKR_PIN_LOCKED)
	}
}

func requireRV(t *testing.T, err error, rv ck.ReturnValue) {
	t.Helper()
	var ce *ck.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, rv, ce.RV, "%v", err)
}
