package server

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/faults"
	"github.com/keyhold/keyhold/internal/wire"
)

const (
	testUserPIN = "user-pin-1234"
	testSOPIN   = "so-pin-5678"
	newUserPIN  = "changed-pin-9876"
)

// durableParts are the partitions of the storage tests: keys in the first,
// a user locked out in the second.
func durableParts() []PartitionOptions {
	return []PartitionOptions{
		{ID: 1, Name: "pay", UserPIN: testUserPIN, SOPIN: testSOPIN, MaxPINAttempts: 3},
		{ID: 2, Name: "ops", UserPIN: testUserPIN, SOPIN: testSOPIN, MaxPINAttempts: 3},
	}
}

// startDurable starts a node on dir, as configured the first time: a node
// started again gets the same options and must take its state from dir.
func startDurable(t *testing.T, dir string, fs *faults.Set) *Node {
	t.Helper()
	n, err := StartNode(NodeOptions{Dir: dir, Partitions: durableParts(), Faults: fs})
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// dialNode connects to n with a new credential of its PKI.
func dialNode(t testing.TB, n *Node) *wire.Conn {
	t.Helper()
	_, cert, err := n.PKI().ClientCredential("client")
	require.NoError(t, err)
	cfg, err := wire.ClientTLS{Certificate: cert, RootCAs: n.PKI().NodeCAPool()}.Config()
	require.NoError(t, err)
	c, err := wire.Dial(ctxT(t), n.Addr(), cfg, wire.DialOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func requireLoginCode(t *testing.T, c *wire.Conn, part uint32, pin string, rv ck.ReturnValue) {
	t.Helper()
	requireCode(t, loginErr(t, c, part, ck.CKU_USER, pin), rv)
}

// durableState makes the state the restart tests look for: keys imported,
// the user PIN of partition 1 changed, the user of partition 2 locked out,
// a client entry created and another revoked.
func durableState(t *testing.T, n *Node) []importedKey {
	c := dialNode(t, n)
	ticket := login(t, c, 1, ck.CKU_USER, testUserPIN)
	keys := importKeys(t, c, 1, ticket)
	require.NoError(t, c.Call(ctxT(t), wire.OpSetPIN, wire.SetPINRequest{
		Partition: 1, User: ck.CKU_USER, OldPIN: []byte(testUserPIN), NewPIN: []byte(newUserPIN), OpID: newOpID(t),
	}, nil))
	for range 3 {
		require.Error(t, loginErr(t, c, 2, ck.CKU_USER, "wrong-pin-0000"))
	}
	requireLoginCode(t, c, 2, testUserPIN, ck.CKR_PIN_LOCKED)
	_, err := n.CreateClient("kept", 0)
	require.NoError(t, err)
	_, err = n.CreateClient("revoked", 0)
	require.NoError(t, err)
	require.NoError(t, n.RevokeClient("revoked"))
	return keys
}

// checkDurableState checks, on a node started again, what durableState made.
func checkDurableState(t *testing.T, n *Node, keys []importedKey) {
	c := dialNode(t, n)
	requireLoginCode(t, c, 1, testUserPIN, ck.CKR_PIN_INCORRECT)
	ticket := login(t, c, 1, ck.CKU_USER, newUserPIN)
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) { k.check(t, c, 1, ticket) })
	}
	requireLoginCode(t, c, 2, testUserPIN, ck.CKR_PIN_LOCKED)
	kept, ok := n.Client("kept")
	require.True(t, ok)
	assert.False(t, kept.Revoked)
	revoked, ok := n.Client("revoked")
	require.True(t, ok)
	assert.True(t, revoked.Revoked)
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	n := startDurable(t, dir, nil)
	addr, ca := n.Addr(), n.PKI().NodeCAPEM()
	keys := durableState(t, n)
	require.NoError(t, n.Close())

	n = startDurable(t, dir, nil)
	assert.Equal(t, addr, n.Addr(), "the address is the node's")
	assert.Equal(t, ca, n.PKI().NodeCAPEM(), "the CA is the node's")
	checkDurableState(t, n, keys)

	// A crash loses the memory, not what was stored.
	fs := new(faults.Set)
	require.NoError(t, n.Close())
	n = startDurable(t, dir, fs)
	fs.Kill()
	require.NoError(t, n.Restart())
	checkDurableState(t, n, keys)
}

func TestSecretsNotOnDisk(t *testing.T) {
	// A lone node stores changes in its file; with Raft, its log holds
	// them too.
	for name, r := range map[string]string{"alone": "", "raft": ReplicationRaft} {
		t.Run(name, func(t *testing.T) { testSecretsNotOnDisk(t, r) })
	}
}

func testSecretsNotOnDisk(t *testing.T, replication string) {
	dir := t.TempDir()
	n, err := StartNode(NodeOptions{Dir: dir, Partitions: durableParts(), Replication: replication})
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	keys := durableState(t, n)
	setup, err := n.CreateClient("host", 0)
	require.NoError(t, err)
	// Created over the wire, the reply (with the password) is also kept,
	// as the result of a request a client may retry.
	c := dialNode(t, n)
	var created wire.CreateClientReply
	require.NoError(t, c.Call(ctxT(t), wire.OpCreateClient, wire.CreateClientRequest{
		Partition: 1, Ticket: login(t, c, 1, ck.CKU_SO, testSOPIN), Name: "wire-host", OpID: newOpID(t),
	}, &created))
	if rf := n.raft(); rf != nil {
		// A snapshot too, which Raft takes by itself in time.
		require.NoError(t, rf.r.Snapshot().Error())
	}
	require.NoError(t, n.Close())

	secrets := map[string][]byte{
		"user PIN": []byte(testUserPIN), "new user PIN": []byte(newUserPIN),
		"SO PIN": []byte(testSOPIN), "setup password": []byte(setup),
		"setup password over the wire": []byte(created.Password),
	}
	for _, k := range keys {
		for i, s := range k.secrets {
			secrets[k.name+string(rune('0'+i))] = s
		}
	}
	files := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		files++
		for name, s := range secrets {
			assert.False(t, bytes.Contains(data, s), "%s is in %s", name, path)
		}
		return nil
	}))
	if replication == ReplicationRaft {
		assert.GreaterOrEqual(t, files, 4, "node.db, node.key, raft.db and a snapshot")
	} else {
		assert.Equal(t, 2, files, "node.db and node.key")
	}
}

func TestDirInUse(t *testing.T) {
	dir := t.TempDir()
	n := startDurable(t, dir, nil)
	_, err := StartNode(NodeOptions{Dir: dir, Partitions: durableParts()})
	require.ErrorIs(t, err, ErrDirInUse)
	require.NoError(t, n.Close())
	startDurable(t, dir, nil)
}

func TestNodeKeyFile(t *testing.T) {
	dir := t.TempDir()
	n := startDurable(t, dir, nil)
	require.NoError(t, n.Close())
	key := filepath.Join(dir, keyFile)

	info, err := os.Stat(key)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm())

	require.NoError(t, os.Chmod(key, 0o640))
	_, err = StartNode(NodeOptions{Dir: dir, Partitions: durableParts()})
	require.ErrorIs(t, err, ErrNodeKey)

	require.NoError(t, os.Remove(key))
	_, err = StartNode(NodeOptions{Dir: dir, Partitions: durableParts()})
	require.ErrorIs(t, err, ErrNodeKey)
}

func TestOtherPKIRefused(t *testing.T) {
	dir := t.TempDir()
	n := startDurable(t, dir, nil)
	require.NoError(t, n.Close())
	other, err := NewPKI()
	require.NoError(t, err)
	_, err = StartNode(NodeOptions{Dir: dir, Partitions: durableParts(), PKI: other})
	require.ErrorIs(t, err, ErrStoreMismatch)
}

// TestTamperedRecordRefused alters a sealed record, and moves one to
// another key: neither opens.
func TestTamperedRecordRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(b *bolt.Bucket, k, v []byte) error
	}{
		{"flipped byte", func(b *bolt.Bucket, k, v []byte) error {
			v = bytes.Clone(v)
			v[len(v)/2] ^= 1
			return b.Put(k, v)
		}},
		{"moved", func(b *bolt.Bucket, k, v []byte) error {
			moved := bytes.Clone(k)
			moved[len(moved)-1] ^= 1
			return errors.Join(b.Delete(k), b.Put(moved, bytes.Clone(v)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			n := startDurable(t, dir, nil)
			c := dialNode(t, n)
			importKeys(t, c, 1, login(t, c, 1, ck.CKU_USER, testUserPIN))
			require.NoError(t, n.Close())

			db, err := bolt.Open(filepath.Join(dir, storeFile), 0o600, nil)
			require.NoError(t, err)
			require.NoError(t, db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket(partitionBucket(1)).Bucket(bucketObjects)
				k, v := b.Cursor().First()
				require.NotNil(t, k)
				return tc.tamper(b, bytes.Clone(k), v)
			}))
			require.NoError(t, db.Close())

			_, err = StartNode(NodeOptions{Dir: dir, Partitions: durableParts()})
			require.ErrorIs(t, err, ErrStoreCorrupt)
		})
	}
}

// TestStorageFailureNotAcknowledged: a change that cannot be stored is
// answered CKR_DEVICE_ERROR, and a retry with the same OpID is not told it
// was done.
func TestStorageFailureNotAcknowledged(t *testing.T) {
	n := startDurable(t, t.TempDir(), nil)
	c := dialNode(t, n)
	ticket := login(t, c, 1, ck.CKU_USER, testUserPIN)
	// The file is closed under the node, as a failed disk would leave it.
	require.NoError(t, n.st.db.Close())
	req := wire.CreateObjectRequest{Partition: 1, Ticket: ticket, OpID: newOpID(t), Template: ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_DATA)), ck.Bool(ck.CKA_TOKEN, true),
	}}
	requireCode(t, c.Call(ctxT(t), wire.OpCreateObject, req, nil), ck.CKR_DEVICE_ERROR)
	requireCode(t, c.Call(ctxT(t), wire.OpCreateObject, req, nil), ck.CKR_DEVICE_ERROR)
	assert.Equal(t, uint64(1), n.Stats().StorageFailures)
	// What needs no storage goes on.
	require.NoError(t, c.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
}
