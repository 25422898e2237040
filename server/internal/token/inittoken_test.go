package token

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
)

// TestInitToken: C_InitToken by the SO wipes the destroyable objects, sets
// the label, and leaves the User PIN uninitialized until InitPIN; a wrong
// SO PIN changes nothing but the SO's counter.
func TestInitToken(t *testing.T) {
	tok := newTestToken(t)
	key := mustCreate(t, tok, User, aesTemplate(make([]byte, 32)))
	data := mustCreate(t, tok, Public, dataTemplate(ck.Bool(ck.CKA_PRIVATE, false)))
	kept := mustCreate(t, tok, Public, dataTemplate(ck.Bool(ck.CKA_PRIVATE, false), ck.Bool(ck.CKA_DESTROYABLE, false)))
	userGen, soGen := tok.PINGeneration(ck.CKU_USER), tok.PINGeneration(ck.CKU_SO)

	_, err := tok.InitToken([]byte("wrong-so-pin"), "new label")
	requireRV(t, err, ck.CKR_PIN_INCORRECT)
	assert.Equal(t, 3, tok.Info().ObjectCount)
	assert.Equal(t, "test", tok.Info().Name)
	assert.NotZero(t, tok.Info().Flags&ck.CKF_SO_PIN_COUNT_LOW, "the wrong PIN is counted")
	_, err = tok.InitToken([]byte(testSOPIN), string(make([]byte, 33)))
	requireRV(t, err, ck.CKR_ARGUMENTS_BAD)

	removed, err := tok.InitToken([]byte(testSOPIN), "new label")
	require.NoError(t, err)
	assert.ElementsMatch(t, []Handle{key, data}, removed)
	info := tok.Info()
	assert.Equal(t, "new label", info.Name)
	assert.Equal(t, 1, info.ObjectCount, "the indestructible object stays")
	assert.Zero(t, info.Flags&ck.CKF_USER_PIN_INITIALIZED)
	assert.Zero(t, info.Flags&ck.CKF_SO_PIN_COUNT_LOW, "the good PIN reset the counter")
	_, err = tok.GetAttributes(Public, kept, []ck.AttributeType{ck.CKA_LABEL})
	require.NoError(t, err)
	_, err = tok.GetAttributes(Public, data, []ck.AttributeType{ck.CKA_LABEL})
	requireRV(t, err, ck.CKR_OBJECT_HANDLE_INVALID)
	assert.Greater(t, tok.PINGeneration(ck.CKU_USER), userGen, "User tickets stop working")
	assert.Greater(t, tok.PINGeneration(ck.CKU_SO), soGen, "SO tickets stop working")

	requireRV(t, tok.Login(ck.CKU_USER, []byte(testUserPIN)), ck.CKR_USER_PIN_NOT_INITIALIZED)
	require.NoError(t, tok.Login(ck.CKU_SO, []byte(testSOPIN)), "the SO PIN is unchanged")
	require.NoError(t, tok.InitPIN(SO, []byte("new-user-pin")))
	require.NoError(t, tok.Login(ck.CKU_USER, []byte("new-user-pin")))

	// The label travels with the SO's PIN record, so a replica gets it.
	rec, err := tok.PINRecord(ck.CKU_SO)
	require.NoError(t, err)
	other := newTestToken(t)
	changed, err := other.MergePIN(rec)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, "new label", other.Info().Name)
}
