package token

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
)

func TestInvalidation(t *testing.T) {
	tok, err := New(Config{Name: "inv", ID: 1, UserPIN: "1234", SOPIN: "5678", InvalidationRetention: time.Hour})
	require.NoError(t, err)
	h, err := tok.Create(User, ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_DATA)), ck.Bool(ck.CKA_TOKEN, true),
		ck.String(ck.CKA_LABEL, "doomed"), ck.Bytes(ck.CKA_VALUE, []byte("v")),
	})
	require.NoError(t, err)
	before, ok := tok.Record(h)
	require.True(t, ok)

	require.NoError(t, tok.Destroy(User, h))
	// Invisible and unusable, to everyone.
	for _, acc := range []Access{Public, User, SO} {
		found, err := tok.Find(acc, nil)
		require.NoError(t, err)
		assert.Empty(t, found)
		_, err = tok.GetAttributes(acc, h, []ck.AttributeType{ck.CKA_LABEL})
		requireRV(t, err, ck.CKR_OBJECT_HANDLE_INVALID)
		requireRV(t, tok.Destroy(acc, h), ck.CKR_OBJECT_HANDLE_INVALID)
	}
	// Listed for the SO, with a new version that replicates.
	list := tok.Invalidated()
	require.Len(t, list, 1)
	assert.Equal(t, h, list[0].Handle)
	assert.Equal(t, time.Hour, list[0].Purge.Sub(list[0].Invalidated))
	assert.Contains(t, list[0].Attributes, ck.String(ck.CKA_LABEL, "doomed"))
	rec, ok := tok.Record(h)
	require.True(t, ok)
	assert.Greater(t, rec.Version, before.Version)
	assert.NotZero(t, rec.Invalidated)
	assert.Empty(t, tok.Expired(time.Now()))
	assert.Equal(t, []Handle{h}, tok.Expired(time.Now().Add(time.Hour)))

	// A replica that applies the record has it invalidated too.
	other, err := New(Config{Name: "inv", ID: 1, SOPIN: "5678", InvalidationRetention: time.Hour})
	require.NoError(t, err)
	_, err = other.Apply(rec)
	require.NoError(t, err)
	assert.Len(t, other.Invalidated(), 1)

	// Reactivated, it is back as it was.
	require.NoError(t, tok.Reactivate(h))
	requireRV(t, tok.Reactivate(h), ck.CKR_OBJECT_HANDLE_INVALID)
	got, err := tok.GetAttributes(User, h, []ck.AttributeType{ck.CKA_LABEL})
	require.NoError(t, err)
	assert.Equal(t, []byte("doomed"), got[0].Value)
	assert.Empty(t, tok.Invalidated())
	requireRV(t, tok.Purge(h), ck.CKR_OBJECT_HANDLE_INVALID)

	// Purged, it is gone for good.
	require.NoError(t, tok.Destroy(User, h))
	require.NoError(t, tok.Purge(h))
	assert.Empty(t, tok.Invalidated())
	_, ok = tok.Record(h)
	assert.False(t, ok)
	assert.True(t, tok.Destroyed(h))
}

func TestNoRetentionDestroysAtOnce(t *testing.T) {
	tok, err := New(Config{Name: "now", ID: 1, UserPIN: "1234", SOPIN: "5678"})
	require.NoError(t, err)
	h, err := tok.Create(User, ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_DATA)), ck.Bool(ck.CKA_TOKEN, true)})
	require.NoError(t, err)
	require.NoError(t, tok.Destroy(User, h))
	assert.Empty(t, tok.Invalidated())
	assert.True(t, tok.Destroyed(h))
	requireRV(t, tok.Reactivate(h), ck.CKR_OBJECT_HANDLE_INVALID)
}
