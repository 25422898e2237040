package token

import (
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newReplicaToken(t *testing.T, replica uint64, attempts int) *Token {
	t.Helper()
	tok, err := New(Config{Name: "test", ID: 7, UserPIN: testUserPIN, SOPIN: testSOPIN, Replica: replica, MaxPINAttempts: attempts})
	require.NoError(t, err)
	return tok
}

// syncObjects merges every record and tombstone of from into to.
func syncObjects(t *testing.T, from, to *Token) {
	t.Helper()
	for _, rec := range from.Snapshot() {
		_, err := to.Apply(rec)
		require.NoError(t, err)
	}
	for _, h := range from.Tombstones() {
		to.Remove(h)
	}
}

func TestApplyKeepsTheNewestVersion(t *testing.T) {
	a, b := newReplicaToken(t, 1, 0), newReplicaToken(t, 2, 0)
	h := mustCreate(t, a, User, ecPrivTemplate(mustEC(t), ck.String(ck.CKA_LABEL, "v1")))
	rec1, ok := a.Record(h)
	require.True(t, ok)
	assert.Equal(t, uint64(1), rec1.Version)
	assert.Equal(t, uint64(1), rec1.Writer)
	changed, err := b.Apply(rec1)
	require.NoError(t, err)
	assert.True(t, changed)
	changed, err = b.Apply(rec1)
	require.NoError(t, err)
	assert.False(t, changed, "applying a record twice changes nothing")

	// Two changes at once, one on each node, to the same version: both
	// nodes end with the same one (the higher writer's), whatever the order.
	require.NoError(t, a.SetAttributes(User, h, ck.Template{ck.String(ck.CKA_LABEL, "from-a")}))
	require.NoError(t, b.SetAttributes(User, h, ck.Template{ck.String(ck.CKA_LABEL, "from-b")}))
	ra, _ := a.Record(h)
	rb, _ := b.Record(h)
	_, err = a.Apply(rb)
	require.NoError(t, err)
	_, err = b.Apply(ra)
	require.NoError(t, err)
	assert.Equal(t, []byte("from-b"), attr(t, a, User, h, ck.CKA_LABEL))
	assert.Equal(t, a.Snapshot(), b.Snapshot())

	// An older version arriving late is ignored.
	changed, err = a.Apply(rec1)
	require.NoError(t, err)
	assert.False(t, changed)
	assert.Equal(t, []byte("from-b"), attr(t, a, User, h, ck.CKA_LABEL))

	// A bad record changes nothing.
	bad := rb
	bad.Version++
	bad.Attributes = bad.Attributes[:2]
	_, err = a.Apply(bad)
	require.Error(t, err)
	assert.Equal(t, []byte("from-b"), attr(t, a, User, h, ck.CKA_LABEL))
}

func TestRemoveWinsOverLateRecords(t *testing.T) {
	a, b := newReplicaToken(t, 1, 0), newReplicaToken(t, 2, 0)
	h := mustCreate(t, a, User, dataTemplate(ck.Bool(ck.CKA_TOKEN, true)))
	syncObjects(t, a, b)
	require.NoError(t, a.SetAttributes(User, h, ck.Template{ck.String(ck.CKA_LABEL, "changed")}))
	changedRec, _ := a.Record(h)

	// Destroyed on b while a changed it: the change arrives after the
	// destruction and must not bring the object back.
	require.NoError(t, b.Destroy(User, h))
	changed, err := b.Apply(changedRec)
	require.NoError(t, err)
	assert.False(t, changed)
	assert.True(t, a.Remove(h))
	assert.False(t, a.Remove(h))
	assert.Zero(t, a.Info().ObjectCount)
	assert.Zero(t, b.Info().ObjectCount)
	assert.Equal(t, []Handle{h}, a.Tombstones())
	assert.Equal(t, []Handle{h}, b.Tombstones())

	// A new object never reuses a destroyed handle, and Restore (a full
	// restore, not a merge) may bring one back on purpose.
	require.NoError(t, b.Restore(changedRec))
	assert.Equal(t, 1, b.Info().ObjectCount)
	assert.Empty(t, b.Tombstones())
}

func TestTombstonesAreBounded(t *testing.T) {
	var ts tombstones
	for h := range Handle(maxTombstones + 10) {
		ts.add(h + 1)
	}
	assert.Len(t, ts.queue, maxTombstones)
	assert.Len(t, ts.set, maxTombstones)
	assert.False(t, ts.has(1), "the oldest go first")
	assert.True(t, ts.has(maxTombstones+10))
}

// mergePINs exchanges user PIN states between tokens until they agree.
func mergePINs(t *testing.T, toks ...*Token) {
	t.Helper()
	for range 2 {
		for _, from := range toks {
			for _, u := range []ck.UserType{ck.CKU_USER, ck.CKU_SO} {
				rec, err := from.PINRecord(u)
				require.NoError(t, err)
				for _, to := range toks {
					_, err := to.MergePIN(rec)
					require.NoError(t, err)
				}
			}
		}
	}
}

func TestMergePINCountsEveryNodesFailures(t *testing.T) {
	a, b, c := newReplicaToken(t, 1, 3), newReplicaToken(t, 2, 3), newReplicaToken(t, 3, 3)
	// The configured PIN is the same version on every node: merging changes
	// nothing, although each node salted it differently.
	rec, err := a.PINRecord(ck.CKU_USER)
	require.NoError(t, err)
	changed, err := b.MergePIN(rec)
	require.NoError(t, err)
	assert.False(t, changed)

	// One wrong PIN on each of two nodes at once: merged, both count.
	changed, err = a.VerifyPIN(ck.CKU_USER, []byte("0000"))
	requireRV(t, err, ck.CKR_PIN_INCORRECT)
	assert.True(t, changed)
	_, err = b.VerifyPIN(ck.CKU_USER, []byte("0000"))
	requireRV(t, err, ck.CKR_PIN_INCORRECT)
	mergePINs(t, a, b, c)
	for _, tok := range []*Token{a, b, c} {
		assert.NotZero(t, tok.Info().Flags&ck.CKF_USER_PIN_FINAL_TRY)
	}
	// A third, on the third node, locks everywhere.
	gen := a.PINGeneration(ck.CKU_USER)
	_, err = c.VerifyPIN(ck.CKU_USER, []byte("0000"))
	requireRV(t, err, ck.CKR_PIN_INCORRECT)
	mergePINs(t, a, b, c)
	for _, tok := range []*Token{a, b, c} {
		requireRV(t, tok.Login(ck.CKU_USER, []byte(testUserPIN)), ck.CKR_PIN_LOCKED)
		assert.Greater(t, tok.PINGeneration(ck.CKU_USER), gen)
	}

	// Unlocked by the SO on one node: the new PIN everywhere.
	require.NoError(t, b.InitPIN(SO, []byte("5678")))
	mergePINs(t, a, b, c)
	for _, tok := range []*Token{a, b, c} {
		require.NoError(t, tok.Login(ck.CKU_USER, []byte("5678")))
	}
}

func TestMergePINLockedByMergeAlone(t *testing.T) {
	a, b := newReplicaToken(t, 1, 2), newReplicaToken(t, 2, 2)
	_, err := a.VerifyPIN(ck.CKU_USER, []byte("0000"))
	requireRV(t, err, ck.CKR_PIN_INCORRECT)
	_, err = b.VerifyPIN(ck.CKU_USER, []byte("0000"))
	requireRV(t, err, ck.CKR_PIN_INCORRECT)
	// Neither node locked alone; together they reached the limit.
	require.Zero(t, a.Info().Flags&ck.CKF_USER_PIN_LOCKED)
	mergePINs(t, a, b)
	for _, tok := range []*Token{a, b} {
		assert.NotZero(t, tok.Info().Flags&ck.CKF_USER_PIN_LOCKED)
	}
	ra, _ := a.PINRecord(ck.CKU_USER)
	rb, _ := b.PINRecord(ck.CKU_USER)
	assert.Equal(t, ra.Generation, rb.Generation)
}

func TestMergePINResetAndChanges(t *testing.T) {
	a, b := newReplicaToken(t, 1, 5), newReplicaToken(t, 2, 5)
	_, err := a.VerifyPIN(ck.CKU_USER, []byte("0000"))
	requireRV(t, err, ck.CKR_PIN_INCORRECT)
	mergePINs(t, a, b)
	// A good PIN resets the counter: a new epoch wins over old failures.
	changed, err := b.VerifyPIN(ck.CKU_USER, []byte(testUserPIN))
	require.NoError(t, err)
	assert.True(t, changed)
	changed, err = b.VerifyPIN(ck.CKU_USER, []byte(testUserPIN))
	require.NoError(t, err)
	assert.False(t, changed, "a good PIN with no failures changes nothing")
	mergePINs(t, a, b)
	assert.Zero(t, a.Info().Flags&ck.CKF_USER_PIN_COUNT_LOW)

	// Two PIN changes at once on two nodes: both nodes keep the same one.
	require.NoError(t, a.SetPIN(User, []byte(testUserPIN), []byte("aaaa")))
	require.NoError(t, b.SetPIN(User, []byte(testUserPIN), []byte("bbbb")))
	mergePINs(t, a, b)
	ra, _ := a.PINRecord(ck.CKU_USER)
	rb, _ := b.PINRecord(ck.CKU_USER)
	assert.Equal(t, ra, rb)
	assert.Equal(t, a.PINGeneration(ck.CKU_USER), b.PINGeneration(ck.CKU_USER))
	errA, errB := a.Login(ck.CKU_USER, []byte("aaaa")), a.Login(ck.CKU_USER, []byte("bbbb"))
	assert.True(t, (errA == nil) != (errB == nil), "exactly one of the new PINs won")

	// Bad records are refused.
	bad := ra
	bad.Failures = map[uint64]uint32{9: 99}
	_, err = a.MergePIN(bad)
	requireRV(t, err, ck.CKR_ARGUMENTS_BAD)
	bad = ra
	bad.User = ck.CKU_CONTEXT_SPECIFIC
	_, err = a.MergePIN(bad)
	requireRV(t, err, ck.CKR_USER_TYPE_INVALID)
}

func TestReset(t *testing.T) {
	tok := newReplicaToken(t, 0, 3)
	replica := tok.Replica()
	assert.NotZero(t, replica)
	h := mustCreate(t, tok, User, dataTemplate())
	mustCreate(t, tok, User, dataTemplate())
	require.NoError(t, tok.Destroy(User, h))
	require.NoError(t, tok.SetPIN(User, []byte(testUserPIN), []byte("5678")))
	requireRV(t, tok.Login(ck.CKU_SO, []byte("wrong-pin")), ck.CKR_PIN_INCORRECT)

	tok.Reset()
	assert.Zero(t, tok.Info().ObjectCount)
	assert.Empty(t, tok.Tombstones())
	assert.NotEqual(t, replica, tok.Replica())
	assert.Equal(t, uint64(1), tok.PINGeneration(ck.CKU_USER))
	require.NoError(t, tok.Login(ck.CKU_USER, []byte(testUserPIN)))
	assert.Zero(t, tok.Info().Flags&ck.CKF_SO_PIN_COUNT_LOW)
	fresh := newReplicaToken(t, 0, 3)
	ra, _ := tok.PINRecord(ck.CKU_USER)
	rf, _ := fresh.PINRecord(ck.CKU_USER)
	assert.Equal(t, rf.Generation, ra.Generation)
	assert.Equal(t, rf.Writer, ra.Writer)
}
