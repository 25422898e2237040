package pkcs11test

import (
	"crypto/elliptic"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/provider/capi/internal/rawp11"
)

// v32 returns the library's PKCS#11 v3.2 interface, as an application that
// wants the v3.2 functions asks for it: C_GetInterface("PKCS 11", 3.2).
func v32(t *testing.T) rawp11.Interface {
	t.Helper()
	name := "PKCS 11"
	rv, i, err := raw(t).GetInterface(&name, &rawp11.Version{Major: 3, Minor: 2}, 0, false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv, `C_GetInterface("PKCS 11", 3.2)`)
	return i
}

// TestInterfaceVersions checks that each caller gets the function list of
// the version it asks for: v3.2 callers the 104 functions of
// CK_FUNCTION_LIST_3_2, v3.0 callers the v3.0 list they got before v3.2 was
// offered, and C_GetFunctionList the v2.40 list.
func TestInterfaceVersions(t *testing.T) {
	l := raw(t)
	v240, v30, v32n := rawp11.Members()
	// The function counts of the specification's lists: the header's
	// layout is the ABI.
	assert.Equal(t, 68, v240)
	assert.Equal(t, 92, v30)
	assert.Equal(t, 104, v32n)
	// The library exports every function by name too, as PKCS#11 allows
	// applications to look them up.
	for _, fn := range append([]string{"C_EncapsulateKey", "C_DecapsulateKey", "C_VerifySignatureInit", "C_VerifySignature",
		"C_VerifySignatureUpdate", "C_VerifySignatureFinal"}, rawp11.V32Unsupported...) {
		assert.True(t, l.HasSymbol(fn), fn)
	}

	name := "PKCS 11"
	for _, v := range []rawp11.Version{{Major: 3, Minor: 2}, {Major: 3, Minor: 0}} {
		rv, i, err := l.GetInterface(&name, &v, 0, false)
		require.NoError(t, err)
		requireRawRV(t, pkcs11.CKR_OK, rv, "version %v", v)
		assert.Equal(t, v, i.Version)
		assert.False(t, i.SameList(l), "the v%v list is not C_GetFunctionList's", v)
		nulls, first, err := i.NullFunctions()
		require.NoError(t, err)
		assert.Zero(t, nulls, "v%v: every member is set (first NULL: %d)", v, first)
	}
	assert.Equal(t, rawp11.Version{Major: 2, Minor: 40}, l.FunctionListVersion(), "C_GetFunctionList")
	rv, i, err := l.GetInterface(&name, &rawp11.Version{Major: 2, Minor: 40}, 0, false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv)
	assert.True(t, i.SameList(l), "the v2.40 interface is C_GetFunctionList's list")
	// A version between the two is not offered.
	rv, _, err = l.GetInterface(&name, &rawp11.Version{Major: 3, Minor: 1}, 0, false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, rv)
}

// TestV32UnsupportedFunctions checks the v3.2 functions keyhold does not
// implement: not supported once initialized, not initialized before.
func TestV32UnsupportedFunctions(t *testing.T) {
	i := v32(t)
	for _, fn := range rawp11.V32Unsupported {
		rv, err := i.CallV32(fn, 1, 1)
		require.NoError(t, err)
		requireRawRV(t, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, rv, "%s before C_Initialize", fn)
	}
	f := setup(t)
	sh := f.userSession()
	k := f.genEC(sh, elliptic.P256(), "v32-unsupported")
	for _, fn := range rawp11.V32Unsupported {
		rv, err := i.CallV32(fn, uint(sh), uint(k.priv))
		require.NoError(t, err)
		requireRawRV(t, pkcs11.CKR_FUNCTION_NOT_SUPPORTED, rv, fn)
	}
}

// TestVerifySignature checks C_VerifySignatureInit, C_VerifySignature,
// C_VerifySignatureUpdate and C_VerifySignatureFinal (PKCS#11 v3.2 section
// 5.15): the signature comes with the Init, the data after.
func TestVerifySignature(t *testing.T) {
	f := setup(t)
	i := v32(t)
	sh := f.userSession()
	s := uint(sh)
	data := []byte("verified with the signature given first")

	ec := f.genEC(sh, elliptic.P256(), "v32-verify-ec")
	rsaKey := f.genRSA(sh, 2048, "v32-verify-rsa")
	for _, tc := range []struct {
		name string
		mech uint
		key  keyPair
	}{
		{"ECDSA-SHA256", pkcs11.CKM_ECDSA_SHA256, ec},
		{"RSA-SHA256", pkcs11.CKM_SHA256_RSA_PKCS, rsaKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, f.p.SignInit(sh, mech(tc.mech, nil), tc.key.priv))
			sig, err := f.p.Sign(sh, data)
			require.NoError(t, err)
			m := &rawp11.Mechanism{Type: tc.mech}
			pub := uint(tc.key.pub)

			// Single part.
			rv, err := i.VerifySignatureInit(s, m, pub, rawp11.Bytes(sig))
			require.NoError(t, err)
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_VerifySignatureInit")
			rv, _ = i.VerifySignature(s, rawp11.Bytes(data))
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_VerifySignature")
			rv, _ = i.VerifySignature(s, rawp11.Bytes(data))
			requireRawRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, rv, "C_VerifySignature ended the operation")

			// Multi-part.
			rv, _ = i.VerifySignatureInit(s, m, pub, rawp11.Bytes(sig))
			requireRawRV(t, pkcs11.CKR_OK, rv)
			for _, part := range [][]byte{data[:7], data[7:20], data[20:]} {
				rv, _ = i.VerifySignatureUpdate(s, rawp11.Bytes(part))
				requireRawRV(t, pkcs11.CKR_OK, rv, "C_VerifySignatureUpdate")
			}
			rv, _ = i.VerifySignatureFinal(s)
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_VerifySignatureFinal")
			rv, _ = i.VerifySignatureFinal(s)
			requireRawRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, rv, "C_VerifySignatureFinal ended the operation")

			// Other data, a signature of the wrong length.
			rv, _ = i.VerifySignatureInit(s, m, pub, rawp11.Bytes(sig))
			requireRawRV(t, pkcs11.CKR_OK, rv)
			rv, _ = i.VerifySignature(s, rawp11.Bytes([]byte("other data")))
			requireRawRV(t, pkcs11.CKR_SIGNATURE_INVALID, rv)
			rv, _ = i.VerifySignatureInit(s, m, pub, rawp11.Bytes(sig[:len(sig)-1]))
			requireRawRV(t, pkcs11.CKR_OK, rv, "the length is judged with the data")
			rv, _ = i.VerifySignature(s, rawp11.Bytes(data))
			requireRawRV(t, pkcs11.CKR_SIGNATURE_LEN_RANGE, rv)
		})
	}

	require.NoError(t, f.p.SignInit(sh, mech(pkcs11.CKM_ECDSA_SHA256, nil), ec.priv))
	sig, err := f.p.Sign(sh, data)
	require.NoError(t, err)
	m := &rawp11.Mechanism{Type: pkcs11.CKM_ECDSA_SHA256}

	// One verification of each kind may be active at once: they have their
	// own functions.
	rv, _ := i.VerifySignatureInit(s, m, uint(ec.pub), rawp11.Bytes(sig))
	requireRawRV(t, pkcs11.CKR_OK, rv)
	rv, _ = i.VerifySignatureInit(s, m, uint(ec.pub), rawp11.Bytes(sig))
	requireRawRV(t, pkcs11.CKR_OPERATION_ACTIVE, rv, "a second C_VerifySignatureInit")
	require.NoError(t, f.p.VerifyInit(sh, mech(pkcs11.CKM_ECDSA_SHA256, nil), ec.pub))
	require.NoError(t, f.p.Verify(sh, data, sig), "C_Verify beside an active C_VerifySignatureInit")
	// A NULL mechanism ends the active verification, and only it.
	rv, _ = i.VerifySignatureInit(s, nil, 0, rawp11.Bytes(nil))
	requireRawRV(t, pkcs11.CKR_OK, rv, "C_VerifySignatureInit(NULL mechanism)")
	rv, _ = i.VerifySignature(s, rawp11.Bytes(data))
	requireRawRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, rv)

	// Bad calls change nothing or end the operation, as for C_VerifyInit.
	rv, _ = i.VerifySignatureInit(s, m, uint(ec.pub), rawp11.NullIn(64))
	requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, rv, "NULL signature with a length")
	rv, _ = i.VerifySignature(s, rawp11.Bytes(data))
	requireRawRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, rv, "a refused Init starts nothing")
	rv, _ = i.VerifySignatureInit(s, m, uint(ec.priv), rawp11.Bytes(sig))
	requireRawRV(t, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, rv, "a private key without CKA_VERIFY")
	rv, _ = i.VerifySignatureInit(s, &rawp11.Mechanism{Type: pkcs11.CKM_SHA256_RSA_PKCS}, uint(ec.pub), rawp11.Bytes(sig))
	requireRawRV(t, pkcs11.CKR_KEY_TYPE_INCONSISTENT, rv, "an RSA mechanism with an EC key")
	rv, _ = i.VerifySignatureInit(s, m, uint(ec.pub), rawp11.Bytes(sig))
	requireRawRV(t, pkcs11.CKR_OK, rv)
	rv, _ = i.VerifySignatureUpdate(s, rawp11.NullIn(4))
	requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, rv)
	rv, _ = i.VerifySignatureFinal(s)
	requireRawRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, rv, "bad arguments ended the operation")
	rv, _ = i.VerifySignatureFinal(0)
	requireRawRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, rv)
}
