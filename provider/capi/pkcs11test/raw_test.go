package pkcs11test

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
	"github.com/keyhold/keyhold/provider/capi/internal/rawp11"
)

var (
	rawOnce sync.Once
	rawLib  *rawp11.Lib
	rawErr  error
)

// raw returns the library for raw calls. It is the same instance that
// module loaded (dlopen of one file returns one library), so sessions and
// login are shared with the miekg/pkcs11 calls of the same test.
func raw(tb testing.TB) *rawp11.Lib {
	tb.Helper()
	module(tb)
	rawOnce.Do(func() { rawLib, rawErr = rawp11.Open(libtest.Library(tb)) })
	require.NoError(tb, rawErr)
	return rawLib
}

// requireRawRV fails the test unless the raw call returned want.
func requireRawRV(tb testing.TB, want, got uint, msgAndArgs ...any) {
	tb.Helper()
	require.Equal(tb, rvName(want), rvName(got), msgAndArgs...)
}

func requireRawRVIn(tb testing.TB, want []uint, got uint, msgAndArgs ...any) {
	tb.Helper()
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = rvName(w)
	}
	require.Contains(tb, names, rvName(got), msgAndArgs...)
}

// knownRV reports whether rv is a return value PKCS#11 defines.
func knownRV(rv uint) bool {
	return rv == pkcs11.CKR_OK || !strings.HasSuffix(pkcs11.Error(rv).Error(), ": ")
}

func TestRawNullArguments(t *testing.T) {
	f := setup(t)
	l := raw(t)
	sh := uint(f.userSession())
	k := f.genEC(pkcs11.SessionHandle(sh), elliptic.P256(), "raw-null")
	bad := uint(pkcs11.CKR_ARGUMENTS_BAD)

	// PKCS#11 2.40 section 5.1: CKR_ARGUMENTS_BAD is the answer to a NULL
	// pointer where the function needs one, and every function may return
	// it.
	requireRawRV(t, bad, l.GetFunctionListExport(true), "C_GetFunctionList(NULL)")
	requireRawRV(t, bad, l.GetFunctionListMember(true), "C_GetFunctionList(NULL) through the list")
	rv, _ := l.GetInfo(true)
	requireRawRV(t, bad, rv, "C_GetInfo(NULL)")
	requireRawRV(t, bad, l.GetSlotInfo(f.slot, true), "C_GetSlotInfo(NULL)")
	requireRawRV(t, bad, l.GetTokenInfo(f.slot, true), "C_GetTokenInfo(NULL)")
	requireRawRV(t, bad, l.GetMechanismInfo(f.slot, pkcs11.CKM_ECDSA, true), "C_GetMechanismInfo(NULL)")
	rv, _, _ = l.GetSlotList(true, rawp11.Out{NullLen: true})
	requireRawRV(t, bad, rv, "C_GetSlotList(pulCount NULL)")
	rv, _, _ = l.GetMechanismList(f.slot, rawp11.Out{Null: true, NullLen: true})
	requireRawRV(t, bad, rv, "C_GetMechanismList(pulCount NULL)")
	rv, _ = l.OpenSession(f.slot, pkcs11.CKF_SERIAL_SESSION, true)
	requireRawRV(t, bad, rv, "C_OpenSession(phSession NULL)")
	rv, _ = l.GetSessionInfo(sh, true)
	requireRawRV(t, bad, rv, "C_GetSessionInfo(NULL)")

	requireRawRV(t, bad, l.Login(sh, pkcs11.CKU_SO, rawp11.NullIn(4)), "C_Login(pPin NULL, 4)")
	requireRawRV(t, bad, l.SetPIN(sh, rawp11.NullIn(8), rawp11.Bytes([]byte("new-pin-1"))), "C_SetPIN(pOldPin NULL, 8)")
	requireRawRV(t, bad, l.SetPIN(sh, rawp11.Bytes([]byte(f.hsm.UserPIN)), rawp11.NullIn(8)), "C_SetPIN(pNewPin NULL, 8)")

	// Templates: a NULL pointer with a nonzero count.
	rv, _ = l.CreateObject(sh, rawp11.NullTemplate(3), false)
	requireRawRV(t, bad, rv, "C_CreateObject(NULL, 3)")
	rv, _ = l.CreateObject(sh, rawp11.T(
		rawp11.Attribute{Type: pkcs11.CKA_CLASS, Value: ulongBytes(pkcs11.CKO_DATA)},
		rawp11.Attribute{Type: pkcs11.CKA_TOKEN, Value: []byte{0}},
	), true)
	requireRawRV(t, bad, rv, "C_CreateObject(phObject NULL)")
	requireRawRV(t, bad, l.FindObjectsInit(sh, rawp11.NullTemplate(2)), "C_FindObjectsInit(NULL, 2)")
	rv, _ = l.GetAttributeValue(sh, uint(k.priv), rawp11.NullTemplate(1))
	requireRawRV(t, bad, rv, "C_GetAttributeValue(NULL, 1)")
	requireRawRV(t, bad, l.SetAttributeValue(sh, uint(k.priv), rawp11.NullTemplate(1)), "C_SetAttributeValue(NULL, 1)")
	// An attribute whose value is NULL with a nonzero length, where a
	// value is read.
	requireRawRVIn(t, []uint{bad, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID}, l.SetAttributeValue(sh, uint(k.priv), rawp11.T(
		rawp11.Attribute{Type: pkcs11.CKA_LABEL, Null: true, Len: 5},
	)), "C_SetAttributeValue(CKA_LABEL NULL, 5)")
	rv, _ = l.CreateObject(sh, rawp11.T(
		rawp11.Attribute{Type: pkcs11.CKA_CLASS, Null: true, Len: 8},
	), false)
	requireRawRVIn(t, []uint{bad, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID}, rv, "C_CreateObject(CKA_CLASS NULL, 8)")

	// A NULL template with count 0 is an empty template: it matches all.
	requireRawRV(t, pkcs11.CKR_OK, l.FindObjectsInit(sh, rawp11.NullTemplate(0)))
	rv, _ = l.FindObjects(sh, rawp11.Out{Cap: 4, Null: true})
	requireRawRV(t, bad, rv, "C_FindObjects(phObject NULL)")
	rv, _ = l.FindObjects(sh, rawp11.Out{Cap: 4, NullLen: true})
	requireRawRV(t, bad, rv, "C_FindObjects(pulObjectCount NULL)")
	rv, objs := l.FindObjects(sh, rawp11.Buffer(10))
	requireRawRV(t, pkcs11.CKR_OK, rv)
	assert.ElementsMatch(t, []uint{uint(k.pub), uint(k.priv)}, objs)
	requireRawRV(t, pkcs11.CKR_OK, l.FindObjectsFinal(sh))

	// Mechanisms.
	ecPub, ecPriv := ecTemplates(pkcs11.CKK_EC, paramsP256, "raw-null-2")
	rv, _, _ = l.GenerateKeyPair(sh, nil, rawTemplate(ecPub), rawTemplate(ecPriv), false)
	requireRawRV(t, bad, rv, "C_GenerateKeyPair(pMechanism NULL)")
	rv, _, _ = l.GenerateKeyPair(sh, &rawp11.Mechanism{Type: pkcs11.CKM_EC_KEY_PAIR_GEN}, rawTemplate(ecPub), rawTemplate(ecPriv), true)
	requireRawRV(t, bad, rv, "C_GenerateKeyPair(phKey NULL)")
	rv, _ = l.GenerateKey(sh, nil, rawTemplate(aesTemplate(32, "raw-null")), false)
	requireRawRV(t, bad, rv, "C_GenerateKey(pMechanism NULL)")
	rv, _ = l.GenerateKey(sh, &rawp11.Mechanism{Type: pkcs11.CKM_AES_KEY_GEN}, rawTemplate(aesTemplate(32, "raw-null")), true)
	requireRawRV(t, bad, rv, "C_GenerateKey(phKey NULL)")
	for _, op := range []rawp11.Op{rawp11.Sign, rawp11.VerifyOp, rawp11.Encrypt, rawp11.Decrypt, rawp11.Digest} {
		requireRawRV(t, bad, l.Init(op, sh, nil, uint(k.priv)), "Init(op %d, pMechanism NULL)", op)
	}

	// Data: NULL with a nonzero length. Each call in a session of its own,
	// so that each starts with no operation but the one it sets up.
	digest := make([]byte, 32)
	ecdsaMech := &rawp11.Mechanism{Type: pkcs11.CKM_ECDSA}
	sha256Mech := &rawp11.Mechanism{Type: pkcs11.CKM_SHA256}
	nullData := []struct {
		name string
		op   rawp11.Op
		mech *rawp11.Mechanism
		key  uint
		call func(s uint) uint
	}{
		{"C_Sign(pData NULL, 32)", rawp11.Sign, ecdsaMech, uint(k.priv), func(s uint) uint {
			rv, _, _ := l.Single(rawp11.Sign, s, rawp11.NullIn(32), rawp11.Buffer(64))
			return rv
		}},
		{"C_Sign(pulSignatureLen NULL)", rawp11.Sign, ecdsaMech, uint(k.priv), func(s uint) uint {
			rv, _, _ := l.Single(rawp11.Sign, s, rawp11.Bytes(digest), rawp11.Out{Cap: 64, NullLen: true})
			return rv
		}},
		{"C_SignUpdate(pPart NULL, 10)", rawp11.Sign, ecdsaMech, uint(k.priv), func(s uint) uint {
			rv, _, _ := l.Update(rawp11.Sign, s, rawp11.NullIn(10), rawp11.Out{})
			return rv
		}},
		{"C_SignFinal(pulSignatureLen NULL)", rawp11.Sign, &rawp11.Mechanism{Type: pkcs11.CKM_ECDSA_SHA256}, uint(k.priv), func(s uint) uint {
			rv, _, _ := l.Final(rawp11.Sign, s, rawp11.Out{Cap: 64, NullLen: true})
			return rv
		}},
		{"C_Verify(pSignature NULL, 64)", rawp11.VerifyOp, ecdsaMech, uint(k.pub), func(s uint) uint {
			return l.Verify(s, rawp11.Bytes(digest), rawp11.NullIn(64))
		}},
		{"C_Verify(pData NULL, 32)", rawp11.VerifyOp, ecdsaMech, uint(k.pub), func(s uint) uint {
			return l.Verify(s, rawp11.NullIn(32), rawp11.Bytes(make([]byte, 64)))
		}},
		{"C_VerifyFinal(pSignature NULL, 64)", rawp11.VerifyOp, &rawp11.Mechanism{Type: pkcs11.CKM_ECDSA_SHA256}, uint(k.pub), func(s uint) uint {
			return l.VerifyFinal(s, rawp11.NullIn(64))
		}},
		{"C_Digest(pData NULL, 5)", rawp11.Digest, sha256Mech, 0, func(s uint) uint {
			rv, _, _ := l.Single(rawp11.Digest, s, rawp11.NullIn(5), rawp11.Buffer(32))
			return rv
		}},
		{"C_DigestUpdate(pPart NULL, 5)", rawp11.Digest, sha256Mech, 0, func(s uint) uint {
			rv, _, _ := l.Update(rawp11.Digest, s, rawp11.NullIn(5), rawp11.Out{})
			return rv
		}},
		{"C_DigestFinal(pulDigestLen NULL)", rawp11.Digest, sha256Mech, 0, func(s uint) uint {
			rv, _, _ := l.Final(rawp11.Digest, s, rawp11.Out{Cap: 32, NullLen: true})
			return rv
		}},
	}
	for _, c := range nullData {
		t.Run(c.name, func(t *testing.T) {
			rv, s := l.OpenSession(f.slot, pkcs11.CKF_SERIAL_SESSION, false)
			requireRawRV(t, pkcs11.CKR_OK, rv)
			defer l.CloseSession(s)
			requireRawRV(t, pkcs11.CKR_OK, l.Init(c.op, s, c.mech, c.key))
			requireRawRV(t, bad, c.call(s))
		})
	}

	// An error in C_Sign other than CKR_BUFFER_TOO_SMALL ends the
	// operation (section 5.11: "A call to C_Sign always terminates the
	// active signing operation unless it returns CKR_BUFFER_TOO_SMALL or is
	// a successful call ... to determine the length of the buffer needed").
	requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Sign, sh, ecdsaMech, uint(k.priv)))
	rv, _, _ = l.Single(rawp11.Sign, sh, rawp11.NullIn(32), rawp11.Buffer(64))
	requireRawRV(t, bad, rv, "C_Sign(pData NULL, 32)")
	rv, _, _ = l.Single(rawp11.Sign, sh, rawp11.Bytes(digest), rawp11.Buffer(64))
	assert.Equal(t, rvName(pkcs11.CKR_OPERATION_NOT_INITIALIZED), rvName(rv), "C_Sign after C_Sign returned CKR_ARGUMENTS_BAD")

	rv, _ = l.GenerateRandom(sh, 16, true)
	requireRawRV(t, bad, rv, "C_GenerateRandom(NULL, 16)")
	requireRawRVIn(t, []uint{bad, pkcs11.CKR_RANDOM_SEED_NOT_SUPPORTED}, l.SeedRandom(sh, rawp11.NullIn(8)), "C_SeedRandom(NULL, 8)")
}

func ulongBytes(v uint) []byte { return pkcs11.NewAttribute(0, v).Value }

// rawTemplate converts a miekg/pkcs11 template.
func rawTemplate(as []*pkcs11.Attribute) rawp11.Template {
	t := rawp11.Template{Attrs: make([]rawp11.Attribute, len(as))}
	for i, a := range as {
		t.Attrs[i] = rawp11.Attribute{Type: a.Type, Value: a.Value}
	}
	return t
}

// TestRawLengthQueries checks PKCS#11 2.40 section 5.2: a NULL output
// buffer asks for the length (CKR_OK, operation still active); a buffer too
// small gets CKR_BUFFER_TOO_SMALL with the length needed, and the operation
// stays active.
func TestRawLengthQueries(t *testing.T) {
	f := setup(t)
	l := raw(t)
	sh := uint(f.userSession())
	ec := f.genEC(pkcs11.SessionHandle(sh), elliptic.P256(), "raw-len-ec")
	rsaKey := f.genRSA(pkcs11.SessionHandle(sh), 2048, "raw-len-rsa")
	digest := sha256.Sum256([]byte("length queries"))
	ecdsaMech := &rawp11.Mechanism{Type: pkcs11.CKM_ECDSA}

	t.Run("C_GetSlotList", func(t *testing.T) {
		rv, n, _ := l.GetSlotList(true, rawp11.Query())
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, uint(1), n)
		rv, n, _ = l.GetSlotList(false, rawp11.Buffer(0))
		requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
		assert.Equal(t, uint(1), n)
		rv, n, slots := l.GetSlotList(true, rawp11.Buffer(4))
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, uint(1), n)
		assert.Equal(t, []uint{f.slot}, slots)
	})

	t.Run("C_GetMechanismList", func(t *testing.T) {
		rv, n, _ := l.GetMechanismList(f.slot, rawp11.Query())
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, uint(len(mechanismSpecs)), n)
		rv, n2, _ := l.GetMechanismList(f.slot, rawp11.Buffer(1))
		requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
		assert.Equal(t, n, n2)
		rv, _, list := l.GetMechanismList(f.slot, rawp11.Buffer(n))
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Len(t, list, int(n))
	})

	t.Run("C_Sign", func(t *testing.T) {
		requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Sign, sh, ecdsaMech, uint(ec.priv)))
		rv, n, _ := l.Single(rawp11.Sign, sh, rawp11.Bytes(digest[:]), rawp11.Query())
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, uint(64), n, "a P-256 signature is r||s, 64 bytes")
		rv, n, _ = l.Single(rawp11.Sign, sh, rawp11.Bytes(digest[:]), rawp11.Buffer(10))
		requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
		assert.Equal(t, uint(64), n)
		rv, _, _ = l.Single(rawp11.Sign, sh, rawp11.Bytes(digest[:]), rawp11.Buffer(0))
		requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
		// Still active: neither a length query nor a short buffer ended it.
		requireRawRV(t, pkcs11.CKR_OPERATION_ACTIVE, l.Init(rawp11.Sign, sh, ecdsaMech, uint(ec.priv)))
		rv, n, sig := l.Single(rawp11.Sign, sh, rawp11.Bytes(digest[:]), rawp11.Buffer(100))
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, uint(64), n)
		require.NoError(t, verifyRawECDSA(crypto.SHA256)(ec.public, []byte("length queries"), sig))
		// The signature ended it.
		rv, _, _ = l.Single(rawp11.Sign, sh, rawp11.Bytes(digest[:]), rawp11.Buffer(64))
		requireRawRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, rv)

		requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Sign, sh, &rawp11.Mechanism{Type: pkcs11.CKM_SHA256_RSA_PKCS}, uint(rsaKey.priv)))
		rv, n, _ = l.Single(rawp11.Sign, sh, rawp11.Bytes([]byte("m")), rawp11.Query())
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, uint(256), n)
		rv, n, _ = l.Single(rawp11.Sign, sh, rawp11.Bytes([]byte("m")), rawp11.Buffer(255))
		requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
		assert.Equal(t, uint(256), n)
		rv, _, sig = l.Single(rawp11.Sign, sh, rawp11.Bytes([]byte("m")), rawp11.Buffer(256))
		requireRawRV(t, pkcs11.CKR_OK, rv)
		m := sha256.Sum256([]byte("m"))
		require.NoError(t, rsa.VerifyPKCS1v15(rsaKey.public.(*rsa.PublicKey), crypto.SHA256, m[:], sig))
	})

	t.Run("C_SignFinal", func(t *testing.T) {
		requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Sign, sh, &rawp11.Mechanism{Type: pkcs11.CKM_ECDSA_SHA256}, uint(ec.priv)))
		rv, _, _ := l.Update(rawp11.Sign, sh, rawp11.Bytes([]byte("length queries")), rawp11.Out{})
		requireRawRV(t, pkcs11.CKR_OK, rv)
		rv, n, _ := l.Final(rawp11.Sign, sh, rawp11.Query())
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, uint(64), n)
		rv, n, _ = l.Final(rawp11.Sign, sh, rawp11.Buffer(63))
		requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
		assert.Equal(t, uint(64), n)
		rv, _, sig := l.Final(rawp11.Sign, sh, rawp11.Buffer(64))
		requireRawRV(t, pkcs11.CKR_OK, rv)
		require.NoError(t, verifyRawECDSA(crypto.SHA256)(ec.public, []byte("length queries"), sig))
		rv, _, _ = l.Final(rawp11.Sign, sh, rawp11.Buffer(64))
		requireRawRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, rv)
	})

	t.Run("C_Decrypt", func(t *testing.T) {
		msg := []byte("twenty-one bytes long")
		ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, rsaKey.public.(*rsa.PublicKey), msg, nil)
		require.NoError(t, err)
		oaep := &rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_OAEP, OAEP: &rawp11.OAEPParams{Hash: pkcs11.CKM_SHA256, MGF: pkcs11.CKG_MGF1_SHA256, Source: pkcs11.CKZ_DATA_SPECIFIED}}
		requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Decrypt, sh, oaep, uint(rsaKey.priv)))
		// A length query may answer a bound ("may somewhat exceed the
		// precise number of bytes needed", section 5.2).
		rv, n, _ := l.Single(rawp11.Decrypt, sh, rawp11.Bytes(ct), rawp11.Query())
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.GreaterOrEqual(t, n, uint(len(msg)))
		assert.LessOrEqual(t, n, uint(256))
		rv, n, _ = l.Single(rawp11.Decrypt, sh, rawp11.Bytes(ct), rawp11.Buffer(5))
		requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
		assert.GreaterOrEqual(t, n, uint(len(msg)))
		rv, n, pt := l.Single(rawp11.Decrypt, sh, rawp11.Bytes(ct), rawp11.Buffer(256))
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, uint(len(msg)), n, "the final call sets the exact length")
		assert.Equal(t, msg, pt)
	})

	t.Run("C_Encrypt", func(t *testing.T) {
		key := f.genAES(pkcs11.SessionHandle(sh), 32, "raw-len-aes")
		gcm := &rawp11.Mechanism{Type: pkcs11.CKM_AES_GCM, GCM: &rawp11.GCMParams{IV: rawp11.Bytes(make([]byte, 12)), IVBits: 96, AAD: rawp11.Bytes(nil), TagBits: 128}}
		requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Encrypt, sh, gcm, uint(key)))
		pt := []byte("forty bytes of plaintext, more or less!!")
		rv, n, _ := l.Single(rawp11.Encrypt, sh, rawp11.Bytes(pt), rawp11.Query())
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.GreaterOrEqual(t, n, uint(len(pt)+16))
		rv, _, _ = l.Single(rawp11.Encrypt, sh, rawp11.Bytes(pt), rawp11.Buffer(uint(len(pt))))
		requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
		rv, n, ct := l.Single(rawp11.Encrypt, sh, rawp11.Bytes(pt), rawp11.Buffer(uint(len(pt)+16)))
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, uint(len(pt)+16), n)
		assert.Len(t, ct, len(pt)+16)
	})

	t.Run("C_EncryptUpdate and C_DecryptUpdate", func(t *testing.T) {
		// A length query of an Update is only a question: the part is
		// processed by the call that has a buffer, once.
		keyBytes := make([]byte, 32)
		_, err := rand.Read(keyBytes)
		require.NoError(t, err)
		key := f.importAES(pkcs11.SessionHandle(sh), keyBytes)
		block, err := aes.NewCipher(keyBytes)
		require.NoError(t, err)
		gcmGo, err := cipher.NewGCM(block)
		require.NoError(t, err)
		iv := make([]byte, 12)
		pt := []byte("one part, then another part, then the end")
		want := gcmGo.Seal(nil, iv, pt, nil)
		gcm := &rawp11.Mechanism{Type: pkcs11.CKM_AES_GCM, GCM: &rawp11.GCMParams{IV: rawp11.Bytes(iv), IVBits: 96, TagBits: 128}}

		requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Encrypt, sh, gcm, uint(key)))
		var ct []byte
		for _, part := range [][]byte{pt[:10], pt[10:]} {
			rv, n, _ := l.Update(rawp11.Encrypt, sh, rawp11.Bytes(part), rawp11.Query())
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_EncryptUpdate length query")
			rv, _, out := l.Update(rawp11.Encrypt, sh, rawp11.Bytes(part), rawp11.Buffer(n))
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_EncryptUpdate")
			ct = append(ct, out...)
		}
		rv, n, _ := l.Final(rawp11.Encrypt, sh, rawp11.Query())
		requireRawRV(t, pkcs11.CKR_OK, rv, "C_EncryptFinal length query")
		rv, _, out := l.Final(rawp11.Encrypt, sh, rawp11.Buffer(n))
		requireRawRV(t, pkcs11.CKR_OK, rv, "C_EncryptFinal")
		ct = append(ct, out...)
		assert.Equal(t, want, ct, "C_EncryptUpdate with length queries, against crypto/cipher")

		requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Decrypt, sh, gcm, uint(key)))
		var got []byte
		for _, part := range [][]byte{want[:25], want[25:]} {
			rv, n, _ := l.Update(rawp11.Decrypt, sh, rawp11.Bytes(part), rawp11.Query())
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_DecryptUpdate length query")
			rv, _, out := l.Update(rawp11.Decrypt, sh, rawp11.Bytes(part), rawp11.Buffer(n))
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_DecryptUpdate")
			got = append(got, out...)
		}
		rv, n, _ = l.Final(rawp11.Decrypt, sh, rawp11.Query())
		requireRawRV(t, pkcs11.CKR_OK, rv, "C_DecryptFinal length query")
		rv, _, out = l.Final(rawp11.Decrypt, sh, rawp11.Buffer(n))
		requireRawRV(t, pkcs11.CKR_OK, rv, "C_DecryptFinal")
		got = append(got, out...)
		assert.Equal(t, pt, got, "C_DecryptUpdate with length queries")
	})

	t.Run("C_EncryptUpdate with a block mode", func(t *testing.T) {
		// AES-CBC-PAD's Update returns whole blocks at once: a length query
		// tells their number exactly, a buffer too small gets
		// CKR_BUFFER_TOO_SMALL, and neither takes the part.
		keyBytes := make([]byte, 16)
		_, err := rand.Read(keyBytes)
		require.NoError(t, err)
		key := f.importAES(pkcs11.SessionHandle(sh), keyBytes)
		block, err := aes.NewCipher(keyBytes)
		require.NoError(t, err)
		iv := make([]byte, 16)
		pt := []byte("forty bytes of plaintext, in two parts.!")
		padded := append(bytes.Clone(pt), bytes.Repeat([]byte{8}, 8)...)
		want := make([]byte, len(padded))
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(want, padded)
		cbc := &rawp11.Mechanism{Type: pkcs11.CKM_AES_CBC_PAD, Param: iv}

		requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Encrypt, sh, cbc, uint(key)))
		var ct []byte
		for _, part := range [][]byte{pt[:20], pt[20:]} {
			rv, n, _ := l.Update(rawp11.Encrypt, sh, rawp11.Bytes(part), rawp11.Query())
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_EncryptUpdate length query")
			assert.Equal(t, uint(16), n, "one whole block each time: 20 bytes, then 4 left and 20 more")
			rv, n2, _ := l.Update(rawp11.Encrypt, sh, rawp11.Bytes(part), rawp11.Buffer(n-1))
			requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
			assert.Equal(t, n, n2)
			rv, _, out := l.Update(rawp11.Encrypt, sh, rawp11.Bytes(part), rawp11.Buffer(n))
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_EncryptUpdate")
			ct = append(ct, out...)
		}
		rv, n, _ := l.Final(rawp11.Encrypt, sh, rawp11.Query())
		requireRawRV(t, pkcs11.CKR_OK, rv, "C_EncryptFinal length query")
		assert.Equal(t, uint(16), n, "the last block with its padding")
		rv, _, out := l.Final(rawp11.Encrypt, sh, rawp11.Buffer(n))
		requireRawRV(t, pkcs11.CKR_OK, rv, "C_EncryptFinal")
		ct = append(ct, out...)
		assert.Equal(t, want, ct, "against crypto/cipher")
	})

	t.Run("C_Digest", func(t *testing.T) {
		sha := &rawp11.Mechanism{Type: pkcs11.CKM_SHA256}
		requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Digest, sh, sha, 0))
		rv, n, _ := l.Single(rawp11.Digest, sh, rawp11.Bytes([]byte("abc")), rawp11.Query())
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, uint(32), n)
		rv, n, _ = l.Single(rawp11.Digest, sh, rawp11.Bytes([]byte("abc")), rawp11.Buffer(31))
		requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
		assert.Equal(t, uint(32), n)
		rv, _, d := l.Single(rawp11.Digest, sh, rawp11.Bytes([]byte("abc")), rawp11.Buffer(32))
		requireRawRV(t, pkcs11.CKR_OK, rv)
		want := sha256.Sum256([]byte("abc"))
		assert.Equal(t, want[:], d)

		requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Digest, sh, sha, 0))
		rv, _, _ = l.Update(rawp11.Digest, sh, rawp11.Bytes([]byte("abc")), rawp11.Out{})
		requireRawRV(t, pkcs11.CKR_OK, rv)
		rv, n, _ = l.Final(rawp11.Digest, sh, rawp11.Buffer(1))
		requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
		assert.Equal(t, uint(32), n)
		rv, _, d = l.Final(rawp11.Digest, sh, rawp11.Buffer(32))
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, want[:], d)
	})
}

// TestRawGetAttributeValue checks the rules of PKCS#11 2.40 section 5.7
// (C_GetAttributeValue), which apply to each attribute of the template
// independently: every attribute is processed, whatever happens to the
// others.
func TestRawGetAttributeValue(t *testing.T) {
	f := setup(t)
	l := raw(t)
	sh := uint(f.userSession())
	k := f.genEC(pkcs11.SessionHandle(sh), elliptic.P256(), "raw-attrs")
	label := []byte("raw-attrs")
	get := func(attrs ...rawp11.Attribute) (uint, []rawp11.Result) {
		return l.GetAttributeValue(sh, uint(k.priv), rawp11.T(attrs...))
	}

	t.Run("length query", func(t *testing.T) {
		// pValue NULL: ulValueLen gets the exact length, whatever it held.
		rv, res := get(
			rawp11.Attribute{Type: pkcs11.CKA_LABEL, Null: true},
			rawp11.Attribute{Type: pkcs11.CKA_EC_PARAMS, Null: true, Len: 1 << 20},
			rawp11.Attribute{Type: pkcs11.CKA_CLASS, Null: true, Len: 1},
		)
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, uint(len(label)), res[0].Len)
		assert.Equal(t, uint(len(paramsP256)), res[1].Len)
		assert.Equal(t, uint(8), res[2].Len, "CK_ULONG is 8 bytes here")
	})

	t.Run("exact and larger buffers", func(t *testing.T) {
		rv, res := get(
			rawp11.Attribute{Type: pkcs11.CKA_LABEL, Value: make([]byte, len(label))},
			rawp11.Attribute{Type: pkcs11.CKA_EC_PARAMS, Value: make([]byte, 200)},
		)
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, label, res[0].Value)
		assert.Equal(t, uint(len(paramsP256)), res[1].Len, "ulValueLen is set to the value's length")
		assert.Equal(t, paramsP256, res[1].Value)
	})

	t.Run("sensitive", func(t *testing.T) {
		rv, res := get(
			rawp11.Attribute{Type: pkcs11.CKA_VALUE, Value: make([]byte, 64)},
			rawp11.Attribute{Type: pkcs11.CKA_LABEL, Value: make([]byte, 64)},
		)
		requireRawRV(t, pkcs11.CKR_ATTRIBUTE_SENSITIVE, rv)
		assert.Equal(t, rawp11.Unavailable, res[0].Len)
		assert.Equal(t, label, res[1].Value, "the other attributes are still read")
		// Its length is not told either.
		rv, res = get(rawp11.Attribute{Type: pkcs11.CKA_VALUE, Null: true})
		requireRawRV(t, pkcs11.CKR_ATTRIBUTE_SENSITIVE, rv)
		assert.Equal(t, rawp11.Unavailable, res[0].Len)
	})

	t.Run("unknown type", func(t *testing.T) {
		rv, res := get(
			rawp11.Attribute{Type: pkcs11.CKA_LABEL, Value: make([]byte, 64)},
			rawp11.Attribute{Type: unknownAttribute, Value: make([]byte, 8)},
			// An attribute PKCS#11 defines, but not for EC private keys.
			rawp11.Attribute{Type: pkcs11.CKA_MODULUS, Value: make([]byte, 8)},
		)
		requireRawRV(t, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, rv)
		assert.Equal(t, label, res[0].Value)
		assert.Equal(t, rawp11.Unavailable, res[1].Len)
		assert.Equal(t, rawp11.Unavailable, res[2].Len)
	})

	t.Run("buffer too small", func(t *testing.T) {
		rv, res := get(
			rawp11.Attribute{Type: pkcs11.CKA_LABEL, Value: make([]byte, len(label)-1)},
			rawp11.Attribute{Type: pkcs11.CKA_CLASS, Value: make([]byte, 8)},
			rawp11.Attribute{Type: pkcs11.CKA_ID, Value: []byte{}},
		)
		requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
		assert.Equal(t, rawp11.Unavailable, res[0].Len)
		assert.Equal(t, ulongBytes(pkcs11.CKO_PRIVATE_KEY), res[1].Value)
		assert.Equal(t, rawp11.Unavailable, res[2].Len)
	})

	t.Run("all at once", func(t *testing.T) {
		// Section 5.7: with several kinds of fault, any of their codes may
		// be returned; each attribute is still set as its own rule says.
		rv, res := get(
			rawp11.Attribute{Type: pkcs11.CKA_LABEL, Null: true},
			rawp11.Attribute{Type: pkcs11.CKA_CLASS, Value: make([]byte, 8)},
			rawp11.Attribute{Type: pkcs11.CKA_VALUE, Value: make([]byte, 64)},
			rawp11.Attribute{Type: unknownAttribute, Value: make([]byte, 8)},
			rawp11.Attribute{Type: pkcs11.CKA_ID, Value: make([]byte, 1)},
			rawp11.Attribute{Type: pkcs11.CKA_EC_PARAMS, Value: make([]byte, 100)},
			rawp11.Attribute{Type: pkcs11.CKA_SIGN, Value: make([]byte, 1)},
		)
		requireRawRVIn(t, []uint{pkcs11.CKR_ATTRIBUTE_SENSITIVE, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, pkcs11.CKR_BUFFER_TOO_SMALL}, rv)
		assert.Equal(t, uint(len(label)), res[0].Len)
		assert.Equal(t, ulongBytes(pkcs11.CKO_PRIVATE_KEY), res[1].Value)
		assert.Equal(t, rawp11.Unavailable, res[2].Len)
		assert.Equal(t, rawp11.Unavailable, res[3].Len)
		assert.Equal(t, rawp11.Unavailable, res[4].Len)
		assert.Equal(t, paramsP256, res[5].Value)
		assert.Equal(t, []byte{1}, res[6].Value)
		for i, r := range res {
			assert.Equal(t, []uint{pkcs11.CKA_LABEL, pkcs11.CKA_CLASS, pkcs11.CKA_VALUE, unknownAttribute, pkcs11.CKA_ID, pkcs11.CKA_EC_PARAMS, pkcs11.CKA_SIGN}[i], r.Type, "attribute types are left alone")
		}
	})

	t.Run("empty template", func(t *testing.T) {
		rv, _ := get()
		requireRawRV(t, pkcs11.CKR_OK, rv)
	})
}

// TestRawMechanismParameters passes parameter structures of the wrong
// size: PKCS#11 2.40 section 5.11 and following answer
// CKR_MECHANISM_PARAM_INVALID; a NULL pParameter with a length may also be
// CKR_ARGUMENTS_BAD.
func TestRawMechanismParameters(t *testing.T) {
	f := setup(t)
	l := raw(t)
	sh := uint(f.userSession())
	rsaKey := f.genRSA(pkcs11.SessionHandle(sh), 2048, "raw-params-rsa")
	aesKey := f.genAES(pkcs11.SessionHandle(sh), 32, "raw-params-aes")
	ec := f.genEC(pkcs11.SessionHandle(sh), elliptic.P256(), "raw-params-ec")
	pss := &rawp11.PSSParams{Hash: pkcs11.CKM_SHA256, MGF: pkcs11.CKG_MGF1_SHA256, SaltLen: 32}
	oaep := &rawp11.OAEPParams{Hash: pkcs11.CKM_SHA256, MGF: pkcs11.CKG_MGF1_SHA256, Source: pkcs11.CKZ_DATA_SPECIFIED}
	gcm := &rawp11.GCMParams{IV: rawp11.Bytes(make([]byte, 12)), IVBits: 96, TagBits: 128}
	paramInvalid := []uint{pkcs11.CKR_MECHANISM_PARAM_INVALID}
	nullInvalid := []uint{pkcs11.CKR_MECHANISM_PARAM_INVALID, pkcs11.CKR_ARGUMENTS_BAD}

	cases := []struct {
		name string
		op   rawp11.Op
		key  uint
		mech rawp11.Mechanism
		want []uint
	}{
		{"PSS, right size", rawp11.Sign, uint(rsaKey.priv), rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_PSS, PSS: pss}, []uint{pkcs11.CKR_OK}},
		{"PSS, 8 bytes short", rawp11.Sign, uint(rsaKey.priv), rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_PSS, PSS: pss, SetLen: true, ParamLen: rawp11.SizeofPSSParams - 8}, paramInvalid},
		{"PSS, 8 bytes long", rawp11.Sign, uint(rsaKey.priv), rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_PSS, PSS: pss, SetLen: true, ParamLen: rawp11.SizeofPSSParams + 8}, paramInvalid},
		{"PSS, length 0", rawp11.Sign, uint(rsaKey.priv), rawp11.Mechanism{Type: pkcs11.CKM_SHA256_RSA_PKCS_PSS, PSS: pss, SetLen: true, ParamLen: 0}, paramInvalid},
		{"PSS, NULL with length", rawp11.Sign, uint(rsaKey.priv), rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_PSS, NullParam: true, ParamLen: rawp11.SizeofPSSParams}, nullInvalid},
		{"PSS verify, 1 byte short", rawp11.VerifyOp, uint(rsaKey.pub), rawp11.Mechanism{Type: pkcs11.CKM_SHA256_RSA_PKCS_PSS, PSS: pss, SetLen: true, ParamLen: rawp11.SizeofPSSParams - 1}, paramInvalid},
		{"OAEP, right size", rawp11.Decrypt, uint(rsaKey.priv), rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_OAEP, OAEP: oaep}, []uint{pkcs11.CKR_OK}},
		{"OAEP, 8 bytes short", rawp11.Decrypt, uint(rsaKey.priv), rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_OAEP, OAEP: oaep, SetLen: true, ParamLen: rawp11.SizeofOAEPParams - 8}, paramInvalid},
		{"OAEP, 8 bytes long", rawp11.Encrypt, uint(rsaKey.pub), rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_OAEP, OAEP: oaep, SetLen: true, ParamLen: rawp11.SizeofOAEPParams + 8}, paramInvalid},
		{"OAEP, NULL with length", rawp11.Decrypt, uint(rsaKey.priv), rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_OAEP, NullParam: true, ParamLen: rawp11.SizeofOAEPParams}, nullInvalid},
		{"OAEP, label NULL with length", rawp11.Decrypt, uint(rsaKey.priv), rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_OAEP, OAEP: &rawp11.OAEPParams{Hash: pkcs11.CKM_SHA256, MGF: pkcs11.CKG_MGF1_SHA256, Source: pkcs11.CKZ_DATA_SPECIFIED, Label: rawp11.NullIn(16)}}, nullInvalid},
		{"OAEP, unknown source", rawp11.Decrypt, uint(rsaKey.priv), rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_OAEP, OAEP: &rawp11.OAEPParams{Hash: pkcs11.CKM_SHA256, MGF: pkcs11.CKG_MGF1_SHA256, Source: 0x77}}, paramInvalid},
		{"GCM, right size", rawp11.Encrypt, uint(aesKey), rawp11.Mechanism{Type: pkcs11.CKM_AES_GCM, GCM: gcm}, []uint{pkcs11.CKR_OK}},
		{"GCM, 1 byte short", rawp11.Encrypt, uint(aesKey), rawp11.Mechanism{Type: pkcs11.CKM_AES_GCM, GCM: gcm, SetLen: true, ParamLen: rawp11.SizeofGCMParams - 1}, paramInvalid},
		{"GCM, 8 bytes long", rawp11.Decrypt, uint(aesKey), rawp11.Mechanism{Type: pkcs11.CKM_AES_GCM, GCM: gcm, SetLen: true, ParamLen: rawp11.SizeofGCMParams + 8}, paramInvalid},
		{"GCM, 16 bytes", rawp11.Encrypt, uint(aesKey), rawp11.Mechanism{Type: pkcs11.CKM_AES_GCM, GCM: gcm, SetLen: true, ParamLen: 16}, paramInvalid},
		{"GCM, NULL with length", rawp11.Encrypt, uint(aesKey), rawp11.Mechanism{Type: pkcs11.CKM_AES_GCM, NullParam: true, ParamLen: rawp11.SizeofGCMParams}, nullInvalid},
		{"GCM, IV NULL with length", rawp11.Encrypt, uint(aesKey), rawp11.Mechanism{Type: pkcs11.CKM_AES_GCM, GCM: &rawp11.GCMParams{IV: rawp11.NullIn(12), IVBits: 96, TagBits: 128}}, nullInvalid},
		{"GCM, AAD NULL with length", rawp11.Encrypt, uint(aesKey), rawp11.Mechanism{Type: pkcs11.CKM_AES_GCM, GCM: &rawp11.GCMParams{IV: rawp11.Bytes(make([]byte, 12)), IVBits: 96, AAD: rawp11.NullIn(20), TagBits: 128}}, nullInvalid},
		{"ECDSA with a parameter", rawp11.Sign, uint(ec.priv), rawp11.Mechanism{Type: pkcs11.CKM_ECDSA, Param: make([]byte, 8)}, paramInvalid},
		{"ECDSA, NULL with length", rawp11.Sign, uint(ec.priv), rawp11.Mechanism{Type: pkcs11.CKM_ECDSA, NullParam: true, ParamLen: 8}, nullInvalid},
		{"SHA-256 with a parameter", rawp11.Digest, 0, rawp11.Mechanism{Type: pkcs11.CKM_SHA256, Param: make([]byte, 4)}, paramInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A session of its own, so that an operation the case starts
			// ends with it; sh keeps the application logged in.
			s := f.open(true)
			defer f.p.CloseSession(s)
			requireRawRVIn(t, c.want, l.Init(c.op, uint(s), &c.mech, c.key))
		})
	}
}

func TestRawInitialize(t *testing.T) {
	f := setup(t)
	l := raw(t)
	require.NoError(t, f.p.Finalize())
	notInitialized := func(msg string) {
		t.Helper()
		rv, _ := l.GetInfo(false)
		requireRawRV(t, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, rv, msg)
	}

	// PKCS#11 2.40 section 5.4 (C_Initialize, CK_C_INITIALIZE_ARGS).
	requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, l.Initialize(&rawp11.InitArgs{Flags: pkcs11.CKF_OS_LOCKING_OK, Reserved: true}), "pReserved non-NULL")
	notInitialized("after pReserved")
	for name, a := range map[string]*rawp11.InitArgs{
		"CreateMutex only":    {CreateMutex: true, Flags: pkcs11.CKF_OS_LOCKING_OK},
		"all but UnlockMutex": {CreateMutex: true, DestroyMutex: true, LockMutex: true, Flags: pkcs11.CKF_OS_LOCKING_OK},
		"Lock and Unlock":     {LockMutex: true, UnlockMutex: true},
	} {
		requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, l.Initialize(a), "some but not all mutex callbacks: %s", name)
		notInitialized(name)
	}
	// All callbacks and no CKF_OS_LOCKING_OK: accepted (see
	// TestInitializeLocking).
	requireRawRV(t, pkcs11.CKR_OK, l.Initialize(rawp11.AllMutexes(0)))
	requireRawRV(t, pkcs11.CKR_OK, l.Finalize(false))
	notInitialized("after C_Finalize")
	// Accepted: see TestInitializeFlags.
	requireRawRV(t, pkcs11.CKR_OK, l.Initialize(&rawp11.InitArgs{Flags: pkcs11.CKF_LIBRARY_CANT_CREATE_OS_THREADS}))
	requireRawRV(t, pkcs11.CKR_OK, l.Finalize(false))
	notInitialized("after C_Finalize")

	// All callbacks with CKF_OS_LOCKING_OK: the library may lock as it
	// likes.
	requireRawRV(t, pkcs11.CKR_OK, l.Initialize(rawp11.AllMutexes(pkcs11.CKF_OS_LOCKING_OK)))
	requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, l.Finalize(true), "C_Finalize(pReserved non-NULL)")
	requireRawRV(t, pkcs11.CKR_OK, l.Finalize(false))
	// NULL arguments: no threads, no locking needed.
	requireRawRV(t, pkcs11.CKR_OK, l.Initialize(nil))
	requireRawRV(t, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED, l.Initialize(nil))
	rv, info := l.GetInfo(false)
	requireRawRV(t, pkcs11.CKR_OK, rv)
	assert.Equal(t, rawp11.Version{Major: 2, Minor: 40}, info.CryptokiVersion)
	requireRawRV(t, pkcs11.CKR_OK, l.Finalize(false))
	requireRawRV(t, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, l.Finalize(false))
}

func TestRawFunctionList(t *testing.T) {
	l := raw(t)
	assert.Equal(t, rawp11.Version{Major: 2, Minor: 40}, l.FunctionListVersion())
	n, first := l.NullFunctions()
	assert.Zero(t, n, "every member of the function list is set (the first NULL is member %d)", first)
	for _, sym := range []string{"C_GetFunctionList", "C_GetInterfaceList", "C_GetInterface"} {
		assert.True(t, l.HasSymbol(sym), sym)
	}
}

// TestRawInterfaces checks PKCS#11 v3.0 section 5.4 (C_GetInterfaceList,
// C_GetInterface). Both may be called before C_Initialize.
func TestRawInterfaces(t *testing.T) {
	l := raw(t)
	rv, n, _, err := l.GetInterfaceList(rawp11.Query())
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv)
	require.GreaterOrEqual(t, n, uint(3), "a v3.0, a v3.2 and a v2.40 interface")
	rv, n2, _, err := l.GetInterfaceList(rawp11.Buffer(1))
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
	assert.Equal(t, n, n2)
	rv, _, _, err = l.GetInterfaceList(rawp11.Out{Cap: 8, NullLen: true})
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, rv)
	rv, _, ifaces, err := l.GetInterfaceList(rawp11.Buffer(n + 2))
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv)
	require.Len(t, ifaces, int(n))

	versions := map[rawp11.Version]rawp11.Interface{}
	forkSafe := false
	for _, i := range ifaces {
		assert.Equal(t, "PKCS 11", i.Name)
		versions[i.Version] = i
		forkSafe = forkSafe || i.Flags&1 != 0 // CKF_INTERFACE_FORK_SAFE
		nulls, first, err := i.NullFunctions()
		require.NoError(t, err)
		assert.Zero(t, nulls, "interface %v: every member is set (first NULL: %d)", i.Version, first)
	}
	v3, ok := versions[rawp11.Version{Major: 3, Minor: 0}]
	require.True(t, ok, "a v3.0 interface: %v", ifaces)
	_, ok = versions[rawp11.Version{Major: 3, Minor: 2}]
	require.True(t, ok, "a v3.2 interface: %v", ifaces)
	_, ok = versions[rawp11.Version{Major: 2, Minor: 40}]
	require.True(t, ok, "a v2.40 interface: %v", ifaces)

	name := "PKCS 11"
	for _, v := range []rawp11.Version{{Major: 3, Minor: 0}, {Major: 3, Minor: 2}, {Major: 2, Minor: 40}} {
		rv, i, err := l.GetInterface(&name, &v, 0, false)
		require.NoError(t, err)
		requireRawRV(t, pkcs11.CKR_OK, rv, "version %v", v)
		assert.Equal(t, name, i.Name)
		assert.Equal(t, v, i.Version)
	}
	// NULL name and version: the default interface, which stays v3.0 so
	// that an application that names no version gets what it always got.
	rv, def, err := l.GetInterface(nil, nil, 0, false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv)
	assert.Equal(t, "PKCS 11", def.Name)
	assert.Equal(t, rawp11.Version{Major: 3, Minor: 0}, def.Version)
	// No such interface.
	other := "Vendor Interface"
	rv, _, err = l.GetInterface(&other, nil, 0, false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, rv)
	rv, _, err = l.GetInterface(&name, &rawp11.Version{Major: 9, Minor: 9}, 0, false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, rv)
	rv, _, err = l.GetInterface(&name, nil, 0, true)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, rv, "ppInterface NULL")
	// Asking for a fork-safe interface gets one only if one is listed.
	rv, _, err = l.GetInterface(&name, nil, 1, false)
	require.NoError(t, err)
	if forkSafe {
		requireRawRV(t, pkcs11.CKR_OK, rv)
	} else {
		requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, rv)
	}

	// The lists work: C_GetInfo through each, and the functions v3.0 added,
	// which this library does not implement, answer so.
	f := setup(t)
	sh := uint(f.open(true))
	for _, i := range ifaces {
		rv, info, err := i.GetInfo()
		require.NoError(t, err)
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.Equal(t, "keyhold", strings.TrimRight(info.ManufacturerID, " "))
	}
	for _, fn := range rawp11.V3Functions {
		rv, err := v3.CallV3(fn, sh, 0)
		require.NoError(t, err)
		requireRawRV(t, pkcs11.CKR_FUNCTION_NOT_SUPPORTED, rv, fn)
	}
}

// implemented are the functions of rawp11.Unsupported that the library has
// since implemented; their own tests check them (copy_test.go,
// inittoken_test.go).
var implemented = map[string]bool{
	"C_InitToken": true, "C_CopyObject": true, "C_GetObjectSize": true, "C_DigestKey": true,
}

func TestRawUnsupportedFunctions(t *testing.T) {
	f := setup(t)
	l := raw(t)
	sh := f.userSession()
	k := f.genEC(sh, elliptic.P256(), "unsupported")
	for _, fn := range rawp11.Unsupported {
		if implemented[fn] {
			continue
		}
		t.Run(fn, func(t *testing.T) {
			want := uint(pkcs11.CKR_FUNCTION_NOT_SUPPORTED)
			if fn == "C_GetFunctionStatus" || fn == "C_CancelFunction" {
				// PKCS#11 2.40 section 5.16: legacy functions that "should
				// simply return CKR_FUNCTION_NOT_PARALLEL".
				want = pkcs11.CKR_FUNCTION_NOT_PARALLEL
			}
			rv, err := l.CallUnsupported(fn, f.slot, uint(sh), uint(k.priv))
			require.NoError(t, err)
			requireRawRV(t, want, rv)
		})
	}
	// And the library still works.
	sig := f.signOnce(sh, pkcs11.CKM_ECDSA, nil, k.priv, hashOf(crypto.SHA256, []byte("m")))
	require.NoError(t, verifyRawECDSA(crypto.SHA256)(k.public, []byte("m"), sig))
}

// TestRawNothingBeforeInitialize: before C_Initialize (here: after
// C_Finalize) even the functions the library does not implement answer
// CKR_CRYPTOKI_NOT_INITIALIZED, as PKCS#11 2.40 section 5.1 says of every
// function but C_Initialize and C_GetFunctionList.
func TestRawNothingBeforeInitialize(t *testing.T) {
	t.Run("keyhold", func(t *testing.T) {
		f := setup(t)
		require.NoError(t, f.p.Finalize())
		checkNothingBeforeInitialize(t, raw(t), nil)
	})
	t.Run("softhsm2", func(t *testing.T) {
		softHSM(t)
		l, err := rawp11.Open(softhsmtest.ModulePath(t))
		require.NoError(t, err)
		requireRawRV(t, pkcs11.CKR_OK, l.Finalize(false))
		t.Cleanup(func() { l.Initialize(nil) })
		checkNothingBeforeInitialize(t, l, softHSMExceptions)
	})
}

// softHSMExceptions are the functions SoftHSM2 2.6 may answer otherwise
// before C_Initialize: the two legacy functions PKCS#11 2.40 section 5.16
// says "should simply return CKR_FUNCTION_NOT_PARALLEL" (seen answering
// either code, depending on what the process did with the module before).
var softHSMExceptions = map[string]bool{"C_GetFunctionStatus": true, "C_CancelFunction": true}

func checkNothingBeforeInitialize(t *testing.T, l *rawp11.Lib, exceptions map[string]bool) {
	for _, fn := range append(slices.Clone(rawp11.Unsupported), "C_WrapKey", "C_UnwrapKey", "C_DeriveKey") {
		rv, err := l.CallUnsupported(fn, 1, 1, 1)
		require.NoError(t, err)
		if exceptions[fn] {
			require.Contains(t, []string{rvName(pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED), rvName(pkcs11.CKR_FUNCTION_NOT_PARALLEL)}, rvName(rv), fn)
			continue
		}
		requireRawRV(t, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, rv, "%s before C_Initialize", fn)
	}
	rv, _ := l.GetInfo(false)
	requireRawRV(t, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, rv, "C_GetInfo before C_Initialize")
}
