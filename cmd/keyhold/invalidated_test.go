package main

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// TestKeysInvalidation: on a partition served with an invalidation
// retention, keys delete invalidates the key; the SO lists it, reactivates
// it (the same key signs again) or purges it.
func TestKeysInvalidation(t *testing.T) {
	const userPIN, soPIN = "user-pin-1234", "so-pin-5678"
	p, line := startServe(t, nil, "--dir", t.TempDir(), "--partitions", "pay", "--user-pin", userPIN, "--so-pin", soPIN,
		"--invalidation-retention", "24h")
	_, _, conf := readyLine(t, line)
	cfg, err := hsm.LoadConfig(conf)
	require.NoError(t, err)
	key := signWithEngine(t, cfg, "pay", userPIN, "doomed")
	pub := key.Public().(*ecdsa.PublicKey)
	env := []string{"KEYHOLD_CONF=" + conf, "KEYHOLD_SO_PIN=" + soPIN, "KEYHOLD_PIN=" + userPIN}
	run := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := runEnv(t, env, args...)
		require.Equal(t, 0, code, "%v: %s%s", args, stdout, stderr)
		return stdout
	}
	list := func() []invalidatedJSON {
		t.Helper()
		var l []invalidatedJSON
		require.NoError(t, json.Unmarshal([]byte(run("keys", "invalidated", "--json")), &l))
		return l
	}
	assert.Empty(t, list())

	run("keys", "delete", "pay/doomed")
	l := list()
	require.Len(t, l, 2, "the private and the public key")
	for _, o := range l {
		assert.Equal(t, "doomed", o.Label)
		assert.Equal(t, 24*60*60, int(o.Purge.Sub(o.Invalidated).Seconds()))
	}
	_, _, code := runEnv(t, env, "keys", "public", "pay/doomed")
	assert.Equal(t, exitNotFound, code, "invisible")

	for _, o := range l {
		run("keys", "reactivate", o.Handle)
	}
	assert.Empty(t, list())
	client, err := hsm.Open(ctxT(t), cfg)
	require.NoError(t, err)
	defer client.Close()
	part, err := client.Partition("pay")
	require.NoError(t, err)
	require.NoError(t, part.Login(ctxT(t), userPIN))
	back, err := part.FindKey(ctxT(t), hsm.KeyQuery{Label: "doomed"})
	require.NoError(t, err)
	digest := sha256.Sum256([]byte("signed by a reactivated key"))
	sig, err := back.Sign(ctxT(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
	require.NoError(t, err)
	assert.True(t, ecdsa.VerifyASN1(pub, digest[:], rawToASN1(t, sig)), "the same key")

	run("keys", "delete", "pay/doomed")
	for _, o := range list() {
		run("keys", "purge", o.Handle)
	}
	assert.Empty(t, list())
	_, _, code = runEnv(t, env, "keys", "reactivate", l[0].Handle)
	assert.Equal(t, exitNotFound, code, "purged for good")
	require.NoError(t, p.stop(syscall.SIGTERM))
}
