package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

const backupPassword = "correct horse battery staple"

// fetchBackup takes a backup over the wire, chunk by chunk, as keyhold
// backup does.
func fetchBackup(t *testing.T, c *wire.Conn, part uint32, soTicket []byte, whole bool) []byte {
	t.Helper()
	var rep wire.BackupReply
	require.NoError(t, c.Call(ctxT(t), wire.OpBackup, wire.BackupRequest{
		Partition: part, Ticket: soTicket, Password: []byte(backupPassword), Node: whole,
	}, &rep))
	file := append([]byte(nil), rep.Data...)
	for uint64(len(file)) < rep.Size {
		require.NoError(t, c.Call(ctxT(t), wire.OpBackup, wire.BackupRequest{
			Partition: part, Ticket: soTicket, Snapshot: rep.Snapshot, Offset: uint64(len(file)),
		}, &rep))
		require.NotEmpty(t, rep.Data)
		file = append(file, rep.Data...)
	}
	return file
}

// TestBackupRestore backs a node up, destroys its keys, restores the backup
// onto a fresh directory, and signs with the same keys there.
func TestBackupRestore(t *testing.T) {
	n := startDurable(t, t.TempDir(), nil)
	c := dialNode(t, n)
	ticket := login(t, c, 1, ck.CKU_USER, testUserPIN)
	keys := importKeys(t, c, 1, ticket)
	so := login(t, c, 1, ck.CKU_SO, testSOPIN)

	// The SO's alone.
	requireCode(t, c.Call(ctxT(t), wire.OpBackup, wire.BackupRequest{Partition: 1, Ticket: ticket, Password: []byte(backupPassword)}, nil), ck.CKR_USER_NOT_LOGGED_IN)
	requireCode(t, c.Call(ctxT(t), wire.OpBackup, wire.BackupRequest{Partition: 1, Ticket: so, Password: []byte("short")}, nil), ck.CKR_PIN_LEN_RANGE)

	file := fetchBackup(t, c, 1, so, true)
	for _, k := range keys {
		require.NoError(t, c.Call(ctxT(t), wire.OpDestroyObject, wire.DestroyObjectRequest{
			Partition: 1, Ticket: ticket, Handle: k.handle, OpID: newOpID(t),
		}, nil))
	}

	s, err := OpenBackup(file, []byte(backupPassword))
	require.NoError(t, err)
	info := s.Info()
	assert.True(t, info.WholeNode)
	require.Len(t, info.Partitions, 2)
	assert.Equal(t, PartitionInfo{ID: 1, Name: "pay", Objects: len(keys), Keys: len(keys)}, info.Partitions[0])
	assert.Equal(t, PartitionInfo{ID: 2, Name: "ops"}, info.Partitions[1])
	assert.False(t, info.Newest.IsZero())

	dir := t.TempDir()
	_, err = Restore(file, []byte(backupPassword), dir, false)
	require.NoError(t, err)
	restored := startDurable(t, dir, nil)
	assert.Equal(t, n.PKI().NodeCAPEM(), restored.PKI().NodeCAPEM(), "a whole-node backup keeps the CA")
	rc := dialNode(t, restored)
	rt := login(t, rc, 1, ck.CKU_USER, testUserPIN)
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) { k.check(t, rc, 1, rt) })
	}

	// Onto a directory in use, only when forced.
	require.NoError(t, restored.Close())
	_, err = Restore(file, []byte(backupPassword), dir, false)
	require.ErrorIs(t, err, ErrDirNotEmpty)
	_, err = Restore(file, []byte(backupPassword), dir, true)
	require.NoError(t, err)
}

func TestBackupRefused(t *testing.T) {
	n := startDurable(t, t.TempDir(), nil)
	c := dialNode(t, n)
	importKeys(t, c, 1, login(t, c, 1, ck.CKU_USER, testUserPIN))
	file := fetchBackup(t, c, 1, login(t, c, 1, ck.CKU_SO, testSOPIN), false)
	s, err := OpenBackup(file, []byte(backupPassword))
	require.NoError(t, err)
	assert.False(t, s.Info().WholeNode)
	assert.Len(t, s.Info().Partitions, 1)

	_, err = OpenBackup(file, []byte("not the backup password"))
	require.ErrorIs(t, err, ErrBackupPassword)
	for _, at := range []int{0, 20, 60, len(file) / 2, len(file) - 40, len(file) - 1} {
		altered := append([]byte(nil), file...)
		altered[at] ^= 0x01
		_, err = OpenBackup(altered, []byte(backupPassword))
		require.ErrorIs(t, err, ErrBackupCorrupt, "byte %d", at)
	}
	_, err = OpenBackup(file[:len(file)-1], []byte(backupPassword))
	require.ErrorIs(t, err, ErrBackupCorrupt)

	dir := t.TempDir()
	_, err = Restore(file, []byte("not the backup password"), dir, false)
	require.ErrorIs(t, err, ErrBackupPassword)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing written")
	_, err = os.Stat(filepath.Join(dir, storeFile))
	require.ErrorIs(t, err, os.ErrNotExist)
}
