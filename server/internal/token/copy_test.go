package token

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
)

func TestCopy(t *testing.T) {
	tok := newTestToken(t)
	key := mustCreate(t, tok, User, aesTemplate(make([]byte, 32),
		ck.Bool(ck.CKA_SENSITIVE, false), ck.Bool(ck.CKA_EXTRACTABLE, true), ck.Bool(ck.CKA_TOKEN, false)))

	c, err := tok.Copy(User, key, ck.Template{ck.Bool(ck.CKA_TOKEN, true), ck.Bool(ck.CKA_SENSITIVE, true),
		ck.Bool(ck.CKA_EXTRACTABLE, false), ck.String(ck.CKA_LABEL, "copy")})
	require.NoError(t, err)
	assert.True(t, attrBool(t, tok, User, c, ck.CKA_TOKEN))
	assert.Equal(t, []byte("copy"), attr(t, tok, User, c, ck.CKA_LABEL))
	assert.NotEqual(t, attr(t, tok, User, key, ck.CKA_UNIQUE_ID), attr(t, tok, User, c, ck.CKA_UNIQUE_ID))
	// History is the original's: the key was imported, and it has been
	// readable.
	assert.False(t, attrBool(t, tok, User, c, ck.CKA_ALWAYS_SENSITIVE))
	assert.False(t, attrBool(t, tok, User, c, ck.CKA_NEVER_EXTRACTABLE))
	// The copy's policy is its own: its value is hidden, the original's not.
	res, err := tok.GetAttributes(User, c, []ck.AttributeType{ck.CKA_VALUE})
	require.NoError(t, err)
	assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, res[0].RV)
	assert.Len(t, attr(t, tok, User, key, ck.CKA_VALUE), 32)
	// Both are the same key.
	ct, err := tok.Encrypt(User, key, ck.Mechanism{Type: ck.CKM_AES_GCM, GCM: &ck.GCMParams{IV: make([]byte, 12), TagBits: 128}}, []byte("x"))
	require.NoError(t, err)
	pt, err := tok.Decrypt(User, c, ck.Mechanism{Type: ck.CKM_AES_GCM, GCM: &ck.GCMParams{IV: make([]byte, 12), TagBits: 128}}, ct)
	require.NoError(t, err)
	assert.Equal(t, []byte("x"), pt)
	// A change to the copy leaves the original alone.
	require.NoError(t, tok.SetAttributes(User, c, ck.Template{ck.String(ck.CKA_LABEL, "renamed")}))
	assert.Equal(t, []byte{}, attr(t, tok, User, key, ck.CKA_LABEL))

	before := tok.Info().ObjectCount
	for name, tc := range map[string]struct {
		acc  Access
		h    Handle
		tmpl ck.Template
		want ck.ReturnValue
	}{
		"sensitive back to false":  {User, c, ck.Template{ck.Bool(ck.CKA_SENSITIVE, false)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		"extractable back to true": {User, c, ck.Template{ck.Bool(ck.CKA_EXTRACTABLE, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		"another value length":     {User, key, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 16)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		"token-set attribute":      {User, key, ck.Template{ck.Bool(ck.CKA_LOCAL, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		"attribute of another class": {User, key, ck.Template{ck.Bytes(ck.CKA_MODULUS, []byte{1})},
			ck.CKR_ATTRIBUTE_TYPE_INVALID},
		"CKA_TRUSTED by the user":  {User, key, ck.Template{ck.Bool(ck.CKA_TRUSTED, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		"private object, no login": {Public, key, nil, ck.CKR_OBJECT_HANDLE_INVALID},
		"no such object":           {User, 12345, nil, ck.CKR_OBJECT_HANDLE_INVALID},
		"malformed CKA_TOKEN":      {User, key, ck.Template{ck.Bytes(ck.CKA_TOKEN, []byte{2})}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tok.Copy(tc.acc, tc.h, tc.tmpl)
			requireRV(t, err, tc.want)
		})
	}
	assert.Equal(t, before, tok.Info().ObjectCount, "a refused copy makes nothing")

	// CKA_COPYABLE false forbids copies, and does not come back.
	noCopy, err := tok.Copy(User, key, ck.Template{ck.Bool(ck.CKA_COPYABLE, false)})
	require.NoError(t, err)
	_, err = tok.Copy(User, noCopy, nil)
	requireRV(t, err, ck.CKR_ACTION_PROHIBITED)
	requireRV(t, tok.SetAttributes(User, noCopy, ck.Template{ck.Bool(ck.CKA_COPYABLE, true)}), ck.CKR_ATTRIBUTE_READ_ONLY)
}

func TestCopyPublicObject(t *testing.T) {
	tok := newTestToken(t)
	data := mustCreate(t, tok, Public, dataTemplate(ck.Bool(ck.CKA_PRIVATE, false)))
	c, err := tok.Copy(Public, data, ck.Template{ck.String(ck.CKA_LABEL, "copy")})
	require.NoError(t, err)
	assert.Equal(t, []byte("some data"), attr(t, tok, Public, c, ck.CKA_VALUE))
	_, err = tok.Copy(Public, data, ck.Template{ck.Bool(ck.CKA_PRIVATE, true)})
	requireRV(t, err, ck.CKR_USER_NOT_LOGGED_IN)
	// The user may make a private copy of a public object.
	p, err := tok.Copy(User, data, ck.Template{ck.Bool(ck.CKA_PRIVATE, true)})
	require.NoError(t, err)
	_, err = tok.GetAttributes(Public, p, []ck.AttributeType{ck.CKA_VALUE})
	requireRV(t, err, ck.CKR_OBJECT_HANDLE_INVALID)

	size, err := tok.Size(Public, data)
	require.NoError(t, err)
	longer, err := tok.Copy(Public, data, ck.Template{ck.String(ck.CKA_LABEL, "a much longer label than before")})
	require.NoError(t, err)
	size2, err := tok.Size(Public, longer)
	require.NoError(t, err)
	assert.Equal(t, size+uint64(len("a much longer label than before")), size2)
	_, err = tok.Size(Public, p)
	requireRV(t, err, ck.CKR_OBJECT_HANDLE_INVALID)
}
