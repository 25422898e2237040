package token

import (
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExternalPINs: a token whose PINs are checked elsewhere counts the
// outcomes it is told as Login counts its own, locks out, replicates the
// count, and is unlocked by the SO only.
func TestExternalPINs(t *testing.T) {
	_, err := New(Config{ExternalPINs: true, SOPIN: "abcd"})
	requireRV(t, err, ck.CKR_ARGUMENTS_BAD)

	tok, err := New(Config{Name: "hsm", ExternalPINs: true, MaxPINAttempts: 3})
	require.NoError(t, err)
	gen := tok.PINGeneration(ck.CKU_USER)
	assert.Equal(t, uint64(1), gen, "every node starts at the same generation")

	changed, err := tok.CountPIN(ck.CKU_USER, false)
	requireRV(t, err, ck.CKR_PIN_INCORRECT)
	assert.True(t, changed)
	changed, err = tok.CountPIN(ck.CKU_USER, true)
	require.NoError(t, err)
	assert.True(t, changed, "a right PIN after a wrong one resets the counter")
	changed, err = tok.CountPIN(ck.CKU_USER, true)
	require.NoError(t, err)
	assert.False(t, changed)

	// Another node's wrong PINs, merged, count towards the same budget.
	other, err := New(Config{Name: "hsm", ExternalPINs: true, MaxPINAttempts: 3})
	require.NoError(t, err)
	rec, err := tok.PINRecord(ck.CKU_USER)
	require.NoError(t, err)
	require.NoError(t, other.RestorePIN(rec))
	for range 2 {
		_, err = other.CountPIN(ck.CKU_USER, false)
		requireRV(t, err, ck.CKR_PIN_INCORRECT)
	}
	rec, err = other.PINRecord(ck.CKU_USER)
	require.NoError(t, err)
	_, err = tok.MergePIN(rec)
	require.NoError(t, err)
	_, err = tok.CountPIN(ck.CKU_USER, false)
	requireRV(t, err, ck.CKR_PIN_INCORRECT)
	requireRV(t, tok.LockedOut(ck.CKU_USER), ck.CKR_PIN_LOCKED)
	_, err = tok.CountPIN(ck.CKU_USER, true)
	requireRV(t, err, ck.CKR_PIN_LOCKED)
	locked := tok.PINGeneration(ck.CKU_USER)
	assert.Greater(t, locked, gen, "a lockout ends the tickets issued before")

	requireRV(t, tok.Unlock(User), ck.CKR_USER_NOT_LOGGED_IN)
	require.NoError(t, tok.Unlock(SO))
	require.NoError(t, tok.LockedOut(ck.CKU_USER))
	assert.Greater(t, tok.PINGeneration(ck.CKU_USER), locked)
	_, err = tok.CountPIN(ck.CKU_USER, true)
	require.NoError(t, err)

	// A token with its own PINs is unlocked by a new PIN, not by Unlock.
	own := newTestToken(t)
	requireRV(t, own.Unlock(SO), ck.CKR_FUNCTION_NOT_SUPPORTED)
}
