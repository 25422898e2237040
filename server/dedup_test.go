package server

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// requireCode checks that err is a reply error with code rv.
func requireCode(t testing.TB, err error, rv ck.ReturnValue) {
	t.Helper()
	var ce *ck.Error
	require.True(t, errors.As(err, &ce), "want %v, got %v", rv, err)
	require.Equal(t, rv, ce.RV, "error: %v", err)
}

func TestDedupCacheBounds(t *testing.T) {
	d := newDedupCache(50*time.Millisecond, 3)
	calls := 0
	run := func(i byte) any {
		v, err := d.do(dedupKey{id: wire.OpID{i}}, func() (any, error) { calls++; return int(i), nil })
		require.NoError(t, err)
		return v
	}
	for i := range byte(3) {
		run(i + 1)
	}
	run(1)
	assert.Equal(t, 3, calls)
	run(4) // evicts the oldest, OpID 1
	assert.Equal(t, 3, d.len())
	run(1)
	assert.Equal(t, 5, calls)
	time.Sleep(60 * time.Millisecond)
	run(2) // everything expired
	assert.Equal(t, 6, calls)
	assert.Equal(t, 1, d.len())

	// A panicking operation releases waiters with a general error.
	func() {
		defer func() { require.NotNil(t, recover()) }()
		_, _ = d.do(dedupKey{id: wire.OpID{9}}, func() (any, error) { panic("boom") })
	}()
	_, err := d.do(dedupKey{id: wire.OpID{9}}, func() (any, error) { calls++; return nil, nil })
	requireCode(t, err, ck.CKR_GENERAL_ERROR)
}
