package hsm_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/server"
	"github.com/keyhold/keyhold/testenv"
)

// TestInvalidatedKeys: on a partition that keeps destroyed keys
// invalidated, the SO lists a destroyed key, reactivates it (it signs again,
// under its handle), and purges it.
func TestInvalidatedKeys(t *testing.T) {
	c, env := open(t, testenv.WithInvalidationRetention(time.Hour))
	user, err := c.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, user.Login(ctx(t), env.UserPIN))
	key, err := user.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "kept"})
	require.NoError(t, err)
	require.NoError(t, key.Destroy(ctx(t)))
	_, err = user.KeyByLabel(ctx(t), "kept")
	require.ErrorIs(t, err, hsm.ErrNotFound, "an invalidated key is invisible")

	soClient, err := hsm.Open(ctx(t), env.Config)
	require.NoError(t, err)
	defer soClient.Close()
	so, err := soClient.Partition(env.Partition)
	require.NoError(t, err)
	_, err = so.Invalidated(ctx(t))
	require.ErrorIs(t, err, hsm.ErrNotLoggedIn, "the SO's business")
	require.NoError(t, so.LoginAs(ctx(t), hsm.SO, env.SOPIN))
	list, err := so.Invalidated(ctx(t))
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, key.Handle(), list[0].Handle)
	label, ok := list[0].Attributes.Find(ck.CKA_LABEL)
	require.True(t, ok)
	assert.Equal(t, "kept", string(label.Value))
	assert.True(t, list[0].Purge.After(list[0].Invalidated))

	require.NoError(t, so.Reactivate(ctx(t), key.Handle()))
	back, err := user.KeyByLabel(ctx(t), "kept")
	require.NoError(t, err)
	assert.Equal(t, key.Handle(), back.Handle())
	digest := sha256.Sum256([]byte("m"))
	_, err = back.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
	require.NoError(t, err)

	require.NoError(t, back.Destroy(ctx(t)))
	require.NoError(t, so.Purge(ctx(t), key.Handle()))
	list, err = so.Invalidated(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, list)
	require.ErrorIs(t, so.Reactivate(ctx(t), key.Handle()), hsm.ErrNotFound, "purged for good")
}

// TestBackup: the SO's backup is a file that the node's restore code opens
// with the password, and with no other.
func TestBackup(t *testing.T) {
	so, env := soPartition(t)
	_ = env
	file, err := so.Backup(ctx(t), []byte("backup password 1"), hsm.BackupOptions{})
	require.NoError(t, err)
	_, err = server.OpenBackup(file, []byte("backup password 1"))
	require.NoError(t, err)
	_, err = server.OpenBackup(file, []byte("backup password 2"))
	require.ErrorIs(t, err, server.ErrBackupPassword)
	_, err = so.Backup(ctx(t), nil, hsm.BackupOptions{})
	require.ErrorIs(t, err, hsm.ErrDataInvalid)
}
