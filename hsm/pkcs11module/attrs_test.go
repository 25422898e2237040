//go:build cgo

package pkcs11module

import (
	"encoding/binary"
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAttributeEncoding(t *testing.T) {
	tmpl := ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
		ck.ULong(ck.CKA_VALUE_LEN, 32),
		ck.Bool(ck.CKA_SIGN, true),
		ck.String(ck.CKA_LABEL, "label"),
		{Type: ck.CKA_ALLOWED_MECHANISMS, Value: binary.LittleEndian.AppendUint64(
			binary.LittleEndian.AppendUint64(nil, uint64(ck.CKM_ECDSA)), uint64(ck.CKM_EDDSA))},
	}
	native, err := toNative(tmpl)
	require.NoError(t, err)
	require.Len(t, native, len(tmpl))
	assert.Len(t, native[0].Value, nativeULongSize)
	assert.Len(t, native[4].Value, 2*nativeULongSize)
	assert.Equal(t, []byte{1}, native[2].Value)
	for i, a := range native {
		assert.Equal(t, tmpl[i].Value, fromNative(ck.AttributeType(a.Type), a.Value), "%v", tmpl[i].Type)
	}

	_, err = toNative(ck.Template{{Type: ck.CKA_KEY_TYPE, Value: []byte{1, 2, 3, 4}}})
	var ce *ck.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, ck.CKR_ATTRIBUTE_VALUE_INVALID, ce.RV)
	_, err = toNative(ck.Template{{Type: ck.CKA_ALLOWED_MECHANISMS, Value: []byte{1, 2, 3}}})
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, ck.CKR_ATTRIBUTE_VALUE_INVALID, ce.RV)
}

func TestHandlesDependOnIdentityOnly(t *testing.T) {
	a := identity{class: ck.CKO_PRIVATE_KEY, subtype: uint64(ck.CKK_EC), hasID: true, id: "1", label: "k"}
	b := a
	assert.Equal(t, a.handle(), b.handle())
	assert.Zero(t, a.handle()>>63, "63 bits")
	for _, other := range []identity{
		{class: ck.CKO_PUBLIC_KEY, subtype: a.subtype, hasID: true, id: "1", label: "k"},
		{class: a.class, subtype: uint64(ck.CKK_RSA), hasID: true, id: "1", label: "k"},
		{class: a.class, subtype: a.subtype, hasID: true, id: "2", label: "k"},
		{class: a.class, subtype: a.subtype, hasID: true, id: "1", label: "k2"},
		{class: a.class, subtype: a.subtype, hasID: false, id: "", label: "k"},
		{class: a.class, subtype: a.subtype, hasID: true, id: "1k", label: ""},
		{class: a.class, subtype: a.subtype, hasID: true, id: "1", label: "k", index: 1},
	} {
		assert.NotEqual(t, a.handle(), other.handle(), "%+v", other)
	}
	assert.True(t, a.same(identity{class: a.class, subtype: a.subtype, hasID: true, id: "1", label: "k", index: 3}))
}
