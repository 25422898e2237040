package testenv

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// TestRestartAloneKeepsSecurityState is the amnesia case: every node of a
// cluster crashes (losing its memory), and one comes back while its peers
// are still down. It refuses to serve until it has caught up with its
// cluster, and then serves with the cluster's PIN state, lockouts,
// revocations and spent setup passwords, never with the configured ones.
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
	// Alone, it cannot know what it missed: it answers nothing.
	requireCode(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 1, User: ck.CKU_USER, PIN: []byte(DefaultUserPIN)}, nil), wire.CodeBusy)
	assert.False(t, b.Current())
	require.NoError(t, a.Restart())
	waitCurrent(t, b)
	requireCode(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 1, User: ck.CKU_USER, PIN: []byte(DefaultUserPIN)}, nil), ck.CKR_PIN_INCORRECT)
	login(t, c, 1, ck.CKU_USER, newPIN)
	requireCode(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 2, User: ck.CKU_USER, PIN: []byte(DefaultUserPIN)}, nil), ck.CKR_PIN_LOCKED)
	revoked, ok := b.Client("revoked")
	require.True(t, ok)
	assert.True(t, revoked.Revoked)
	_, err = enrollOn(t, env, b, "spent", pw)
	requireCode(t, err, wire.CodeEnrollRefused)

	// And the other agrees.
	waitCurrent(t, a)
	requireCode(t, dialNode(t, env, a).Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 1, User: ck.CKU_USER, PIN: []byte(DefaultUserPIN)}, nil), ck.CKR_PIN_INCORRECT)
}

// TestInvalidationReplicates: a key destroyed on one node of a cluster that
// keeps destroyed keys is invalidated on every node, and reactivated
// through another, it signs everywhere again.
func TestInvalidationReplicates(t *testing.T) {
	env := Start(t, WithNodes(2), WithInvalidationRetention(time.Hour))
	cs := dialAll(t, env)
	p := env.PartitionID
	user := login(t, cs[0], p, ck.CKU_USER, env.UserPIN)
	kp := genP256(t, cs[0], p, user, "invalidated")
	require.NoError(t, cs[0].Call(ctxT(t), wire.OpDestroyObject, wire.DestroyObjectRequest{Partition: p, Ticket: user, Handle: kp.Private, OpID: newOpID(t)}, nil))
	digest := make([]byte, 32)
	_, err := signP256(t, cs[0], p, user, kp.Private, digest)
	requireCode(t, err, ck.CKR_OBJECT_HANDLE_INVALID)
	// Signing does not catch up with the leader (docs/storage.md): the
	// other node refuses the key once it has applied the destruction,
	// within moments.
	require.Eventually(t, func() bool {
		_, err := signP256(t, cs[1], p, user, kp.Private, digest)
		var ce *ck.Error
		return errors.As(err, &ce) && ce.RV == ck.CKR_OBJECT_HANDLE_INVALID
	}, 10*time.Second, time.Millisecond)
	so := login(t, cs[1], p, ck.CKU_SO, env.SOPIN)
	var list wire.ListInvalidatedReply
	require.NoError(t, cs[1].Call(ctxT(t), wire.OpListInvalidated, wire.ListInvalidatedRequest{Partition: p, Ticket: so}, &list))
	require.Len(t, list.Objects, 1)
	assert.Equal(t, kp.Private, list.Objects[0].Handle)
	require.NoError(t, cs[1].Call(ctxT(t), wire.OpReactivate, wire.InvalidatedRequest{Partition: p, Ticket: so, Handle: kp.Private, OpID: newOpID(t)}, nil))
	for _, c := range cs {
		sig, err := signP256(t, c, p, user, kp.Private, digest)
		require.NoError(t, err)
		assert.True(t, verifyRS(ecPublicKey(t, c, p, kp.Public), digest, sig))
	}
}
