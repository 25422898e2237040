package hsm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// TestCopyObject: a key copied under another label signs for the same public
// key; a key with CKA_COPYABLE false is not copied (ErrPermission).
func TestCopyObject(t *testing.T) {
	p, _ := loggedIn(t)
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "original"})
	require.NoError(t, err)
	c, err := p.CopyObject(ctx(t), key.Handle(), hsm.Template{ck.String(ck.CKA_LABEL, "copy"), ck.Bool(ck.CKA_COPYABLE, false)})
	require.NoError(t, err)
	copied, err := p.FindKey(ctx(t), hsm.KeyQuery{Label: "copy"})
	require.NoError(t, err)
	assert.Equal(t, c, copied.Handle())
	m := hsm.Mechanism{Type: ck.CKM_ECDSA_SHA256}
	sig, err := copied.Sign(ctx(t), m, []byte("copied"))
	require.NoError(t, err)
	assert.True(t, verifyRaw(t, key.Public(), m, []byte("copied"), sig))

	_, err = p.CopyObject(ctx(t), c, hsm.Template{ck.String(ck.CKA_LABEL, "again")})
	require.ErrorIs(t, err, hsm.ErrPermission)
	_, err = p.CopyObject(ctx(t), key.Handle(), hsm.Template{ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_RSA))})
	require.Error(t, err)

	n, err := p.ObjectSize(ctx(t), c)
	require.NoError(t, err)
	assert.Positive(t, n)
}
