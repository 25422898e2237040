package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

func listInvalidated(t *testing.T, c *wire.Conn, part uint32, so []byte) []wire.InvalidatedObject {
	t.Helper()
	var rep wire.ListInvalidatedReply
	require.NoError(t, c.Call(ctxT(t), wire.OpListInvalidated, wire.ListInvalidatedRequest{Partition: part, Ticket: so}, &rep))
	return rep.Objects
}

// TestInvalidation: on a partition that keeps destroyed keys, a destroyed
// key is invisible and unusable, survives a restart invalidated, and the SO
// reactivates it (it signs again) or purges it; past the retention it is
// purged by itself.
func TestInvalidation(t *testing.T) {
	dir := t.TempDir()
	parts := []PartitionOptions{
		{ID: 1, Name: "kept", UserPIN: testUserPIN, SOPIN: testSOPIN, InvalidationRetention: time.Hour},
		{ID: 2, Name: "brief", UserPIN: testUserPIN, SOPIN: testSOPIN, InvalidationRetention: 50 * time.Millisecond},
		{ID: 3, Name: "none", UserPIN: testUserPIN, SOPIN: testSOPIN},
	}
	start := func() (*Node, *wire.Conn) {
		n, err := StartNode(NodeOptions{Dir: dir, Partitions: parts})
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		return n, dialNode(t, n)
	}
	n, c := start()
	user := login(t, c, 1, ck.CKU_USER, testUserPIN)
	keys := importKeys(t, c, 1, user)
	ec := keys[0]
	destroy := func(c *wire.Conn, part uint32, ticket []byte, h uint64) {
		require.NoError(t, c.Call(ctxT(t), wire.OpDestroyObject, wire.DestroyObjectRequest{Partition: part, Ticket: ticket, Handle: h, OpID: newOpID(t)}, nil))
	}
	destroy(c, 1, user, ec.handle)
	digest := make([]byte, 32)
	requireCode(t, c.Call(ctxT(t), wire.OpSign, wire.CryptRequest{Partition: 1, Ticket: user, Handle: ec.handle, Mechanism: ck.Mechanism{Type: ck.CKM_ECDSA}, Data: digest}, nil), ck.CKR_OBJECT_HANDLE_INVALID)

	so := login(t, c, 1, ck.CKU_SO, testSOPIN)
	requireCode(t, c.Call(ctxT(t), wire.OpListInvalidated, wire.ListInvalidatedRequest{Partition: 1, Ticket: user}, nil), ck.CKR_USER_NOT_LOGGED_IN)
	list := listInvalidated(t, c, 1, so)
	require.Len(t, list, 1)
	assert.Equal(t, ec.handle, list[0].Handle)
	assert.Contains(t, list[0].Attributes, ck.String(ck.CKA_LABEL, "ec"))

	// Stored invalidated: a restart keeps it so.
	require.NoError(t, n.Close())
	_, c = start()
	user = login(t, c, 1, ck.CKU_USER, testUserPIN)
	so = login(t, c, 1, ck.CKU_SO, testSOPIN)
	require.Len(t, listInvalidated(t, c, 1, so), 1)

	// Reactivated, it signs with the same key.
	reactivate := wire.InvalidatedRequest{Partition: 1, Ticket: so, Handle: ec.handle, OpID: newOpID(t)}
	require.NoError(t, c.Call(ctxT(t), wire.OpReactivate, reactivate, nil))
	require.NoError(t, c.Call(ctxT(t), wire.OpReactivate, reactivate, nil), "a retry with the same OpID gets the first result")
	ec.check(t, c, 1, user)
	assert.Empty(t, listInvalidated(t, c, 1, so))

	// Purged, it is gone.
	destroy(c, 1, user, ec.handle)
	require.NoError(t, c.Call(ctxT(t), wire.OpPurge, wire.InvalidatedRequest{Partition: 1, Ticket: so, Handle: ec.handle, OpID: newOpID(t)}, nil))
	assert.Empty(t, listInvalidated(t, c, 1, so))
	requireCode(t, c.Call(ctxT(t), wire.OpReactivate, wire.InvalidatedRequest{Partition: 1, Ticket: so, Handle: ec.handle, OpID: newOpID(t)}, nil), ck.CKR_OBJECT_HANDLE_INVALID)

	// Past its retention, an invalidated object is purged by itself.
	user2 := login(t, c, 2, ck.CKU_USER, testUserPIN)
	h := create(t, c, 2, user2, ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_DATA)), ck.Bool(ck.CKA_TOKEN, true)})
	destroy(c, 2, user2, h)
	so2 := login(t, c, 2, ck.CKU_SO, testSOPIN)
	require.Eventually(t, func() bool { return len(listInvalidated(t, c, 2, so2)) == 0 }, 10*time.Second, 10*time.Millisecond)

	// Without a retention, destroyed is destroyed.
	user3 := login(t, c, 3, ck.CKU_USER, testUserPIN)
	h = create(t, c, 3, user3, ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_DATA)), ck.Bool(ck.CKA_TOKEN, true)})
	destroy(c, 3, user3, h)
	assert.Empty(t, listInvalidated(t, c, 3, login(t, c, 3, ck.CKU_SO, testSOPIN)))
}
