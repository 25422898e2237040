package testenv

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// TestRestartAloneKeepsSecurityState is the amnesia case: every node of a
// cluster crashes, and one comes back while its peers are still down. It
// serves with the PIN state, lockouts, revocations and spent setup
// passwords it stored, never with the configured ones.
func TestRestartAloneKeepsSecurityState(t *testing.T) {
	env := Start(t, WithNodes(2), WithPartition(1, "pay", DefaultUserPIN, DefaultSOPIN), WithPartition(2, "ops", DefaultUserPIN, DefaultSOPIN))
	cs := dialAll(t, env)
	const newPIN = "changed-pin-4321"
	require.NoError(t, cs[0].Call(ctxT(t), wire.OpSetPIN, wire.SetPINRequest{
		Partition: 1, User: ck.CKU_USER, OldPIN: []byte(DefaultUserPIN), NewPIN: []byte(newPIN), OpID: newOpID(t),
	}, nil))
	for range DefaultMaxPINAttempts {
		require.Error(t, cs[1].Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 2, User: ck.CKU_USER, PIN: []byte("wrong-pin-000")}, nil))
	}
	a, b := env.Nodes[0], env.Nodes[1]
	_, err := a.CreateClient("revoked", time.Hour)
	require.NoError(t, err)
	require.NoError(t, a.RevokeClient("revoked"))
	pw, err := a.CreateClient("spent", time.Hour)
	require.NoError(t, err)
	_, err = enrollOn(t, env, b, "spent", pw)
	require.NoError(t, err)

	a.Kill()
	b.Kill()
	require.NoError(t, b.Restart())
	c := dialNode(t, env, b)
	requireCode(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 1, User: ck.CKU_USER, PIN: []byte(DefaultUserPIN)}, nil), ck.CKR_PIN_INCORRECT)
	login(t, c, 1, ck.CKU_USER, newPIN)
	requireCode(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 2, User: ck.CKU_USER, PIN: []byte(DefaultUserPIN)}, nil), ck.CKR_PIN_LOCKED)
	revoked, ok := b.Client("revoked")
	require.True(t, ok)
	assert.True(t, revoked.Revoked)
	_, err = enrollOn(t, env, b, "spent", pw)
	requireCode(t, err, wire.CodeEnrollRefused)

	// The other comes back and both agree.
	require.NoError(t, a.Restart())
	requireCode(t, dialNode(t, env, a).Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 1, User: ck.CKU_USER, PIN: []byte(DefaultUserPIN)}, nil), ck.CKR_PIN_INCORRECT)
}
