package pkcs11test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sessionECPair generates an EC P-256 pair as session objects, as Java's
// SunPKCS11 does before it stores a key entry.
func (f *fixture) sessionECPair(sh pkcs11.SessionHandle, label string) keyPair {
	f.tb.Helper()
	pubT, privT := ecTemplates(pkcs11.CKK_EC, curveParams(elliptic.P256()), label,
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false))
	pubT = override(pubT, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
	pub, priv, err := f.p.GenerateKeyPair(sh, mech(pkcs11.CKM_EC_KEY_PAIR_GEN, nil), pubT, privT)
	require.NoError(f.tb, err, "C_GenerateKeyPair")
	return keyPair{pub: pub, priv: priv, public: f.ecPublic(sh, pub, elliptic.P256())}
}

// verifiesECDSA reports whether key signs a message that pub verifies.
func (f *fixture) verifiesECDSA(sh pkcs11.SessionHandle, key pkcs11.ObjectHandle, pub crypto.PublicKey) bool {
	digest := sha256.Sum256([]byte("copied key"))
	sig := f.signOnce(sh, pkcs11.CKM_ECDSA, nil, key, digest[:])
	r, s := new(big.Int).SetBytes(sig[:len(sig)/2]), new(big.Int).SetBytes(sig[len(sig)/2:])
	return ecdsa.Verify(pub.(*ecdsa.PublicKey), digest[:], r, s)
}

// TestCopyObject: C_CopyObject makes a session object a token object and a
// token object a session object, keeps the key (the copy signs for the same
// public key), takes the template's changes where PKCS#11 allows them and
// refuses the others with the exact code.
func TestCopyObject(t *testing.T) {
	bothModules(t, func(t *testing.T, f *fixture) {
		sh := f.userSession()
		k := f.sessionECPair(sh, "copied")
		require.False(t, f.boolAttr(sh, k.priv, pkcs11.CKA_TOKEN))

		// Session to token, with a new CKA_ID, as SunPKCS11 stores a key
		// entry.
		tok, err := f.p.CopyObject(sh, k.priv, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_ID, []byte("alias"))})
		require.NoError(t, err, "C_CopyObject to a token object")
		assert.NotEqual(t, k.priv, tok)
		assert.True(t, f.boolAttr(sh, tok, pkcs11.CKA_TOKEN))
		assert.Equal(t, []byte("alias"), f.attr(sh, tok, pkcs11.CKA_ID))
		assert.Equal(t, []byte("copied"), f.attr(sh, tok, pkcs11.CKA_LABEL), "what the template leaves out is the original's")
		assert.True(t, f.boolAttr(sh, tok, pkcs11.CKA_SENSITIVE))
		assert.True(t, f.boolAttr(sh, tok, pkcs11.CKA_LOCAL), "a copy of a generated key is local too")
		assert.True(t, f.verifiesECDSA(sh, tok, k.public), "the copy is the same key")
		// The original is still there, and still a session object.
		assert.False(t, f.boolAttr(sh, k.priv, pkcs11.CKA_TOKEN))
		assert.ElementsMatch(t, []pkcs11.ObjectHandle{tok}, f.find(sh,
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true)))

		// Token back to session, made unmodifiable on the way.
		back, err := f.p.CopyObject(sh, tok, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false), pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false)})
		require.NoError(t, err, "C_CopyObject to a session object")
		assert.False(t, f.boolAttr(sh, back, pkcs11.CKA_TOKEN))
		assert.False(t, f.boolAttr(sh, back, pkcs11.CKA_MODIFIABLE))
		assert.True(t, f.verifiesECDSA(sh, back, k.public))

		// What a copy may change only one way, or not at all.
		for name, tc := range map[string]struct {
			attr *pkcs11.Attribute
			want uint
		}{
			"CKA_SENSITIVE true to false": {pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false), pkcs11.CKR_ATTRIBUTE_READ_ONLY},
			"CKA_EXTRACTABLE to true":     {pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true), pkcs11.CKR_ATTRIBUTE_READ_ONLY},
			"CKA_KEY_TYPE":                {pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA), pkcs11.CKR_ATTRIBUTE_READ_ONLY},
			"CKA_LOCAL":                   {pkcs11.NewAttribute(pkcs11.CKA_LOCAL, false), pkcs11.CKR_ATTRIBUTE_READ_ONLY},
		} {
			_, err := f.p.CopyObject(sh, tok, []*pkcs11.Attribute{tc.attr})
			requireRV(t, tc.want, err, name)
		}

		// CKA_COPYABLE false: no copy, whatever the template. (keyhold also
		// lets C_SetAttributeValue or a copy turn CKA_COPYABLE off, which
		// PKCS#11 allows; SoftHSM2 refuses both with
		// CKR_ATTRIBUTE_READ_ONLY, so the object here is made that way.)
		noCopy := f.genEC(sh, elliptic.P256(), "no copies", pkcs11.NewAttribute(pkcs11.CKA_COPYABLE, false)).priv
		_, err = f.p.CopyObject(sh, noCopy, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "refused")})
		requireRV(t, pkcs11.CKR_ACTION_PROHIBITED, err, "copying an object with CKA_COPYABLE false")
		_, err = f.p.CopyObject(sh, noCopy, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_COPYABLE, true)})
		requireRV(t, pkcs11.CKR_ACTION_PROHIBITED, err, "copying with CKA_COPYABLE back to true")
		requireRV(t, pkcs11.CKR_ATTRIBUTE_READ_ONLY, f.p.SetAttributeValue(sh, noCopy,
			[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_COPYABLE, true)}), "CKA_COPYABLE back to true")

		_, err = f.p.CopyObject(sh, 0x7ffffff3, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "none")})
		requireRV(t, pkcs11.CKR_OBJECT_HANDLE_INVALID, err, "copying a handle that names nothing")

		// A read-only session copies to session objects only.
		ro := f.open(false)
		_, err = f.p.CopyObject(ro, tok, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true)})
		requireRV(t, pkcs11.CKR_SESSION_READ_ONLY, err, "a token copy from a R/O session")
		sess, err := f.p.CopyObject(ro, tok, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
		require.NoError(t, err, "a session copy from a R/O session")
		// A session object ends with its session.
		require.NoError(t, f.p.CloseSession(ro))
		_, err = f.p.GetAttributeValue(sh, sess, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
		requireRV(t, pkcs11.CKR_OBJECT_HANDLE_INVALID, err, "a session copy after its session closed")
	})
}

// TestCopyObjectWithoutLogin: a public session copies public objects, but
// makes no private copy.
func TestCopyObjectWithoutLogin(t *testing.T) {
	bothModules(t, func(t *testing.T, f *fixture) {
		sh := f.open(true)
		data, err := f.p.CreateObject(sh, dataTemplate("public data", true, []byte("v")))
		require.NoError(t, err)
		c, err := f.p.CopyObject(sh, data, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "copy")})
		require.NoError(t, err)
		assert.Equal(t, []byte("v"), f.attr(sh, c, pkcs11.CKA_VALUE))
		_, err = f.p.CopyObject(sh, data, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true)})
		requireRV(t, pkcs11.CKR_USER_NOT_LOGGED_IN, err, "a private copy without login")
	})
}

// TestGetObjectSize: C_GetObjectSize answers for an object the session may
// see, and CKR_OBJECT_HANDLE_INVALID for a handle that names nothing.
func TestGetObjectSize(t *testing.T) {
	bothModules(t, func(t *testing.T, f *fixture) {
		sh := f.userSession()
		data, err := f.p.CreateObject(sh, dataTemplate("sized", true, make([]byte, 100)))
		require.NoError(t, err)
		size, err := f.p.GetObjectSize(sh, data)
		require.NoError(t, err)
		// SoftHSM2 answers CK_UNAVAILABLE_INFORMATION, which PKCS#11
		// allows; keyhold counts what it stores, the value included.
		if f.hsm != nil {
			assert.Greater(t, size, uint(100))
		}
		_, err = f.p.GetObjectSize(sh, 0x7ffffff4)
		requireRV(t, pkcs11.CKR_OBJECT_HANDLE_INVALID, err)
	})
}

// TestDigestKey: C_DigestKey continues a digest with a secret key's value;
// a key whose value may not leave the token, or a key that is not secret,
// is CKR_KEY_INDIGESTIBLE, and that error ends the digest.
func TestDigestKey(t *testing.T) {
	bothModules(t, func(t *testing.T, f *fixture) {
		sh := f.userSession()
		value := []byte("0123456789abcdef0123456789abcdef")
		plain, err := f.p.CreateObject(sh, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
		})
		require.NoError(t, err)
		sensitive := f.genAES(sh, 32, "sensitive", pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false))
		ec := f.sessionECPair(sh, "not secret")
		sha := mech(pkcs11.CKM_SHA256, nil)

		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, f.p.DigestKey(sh, plain), "without C_DigestInit")

		require.NoError(t, f.p.DigestInit(sh, sha))
		require.NoError(t, f.p.DigestUpdate(sh, []byte("before ")))
		require.NoError(t, f.p.DigestKey(sh, plain))
		require.NoError(t, f.p.DigestUpdate(sh, []byte(" after")))
		got, err := f.p.DigestFinal(sh)
		require.NoError(t, err)
		want := sha256.Sum256(append(append([]byte("before "), value...), " after"...))
		assert.Equal(t, want[:], got)

		for name, tc := range map[string]struct {
			key  pkcs11.ObjectHandle
			want uint
			// keyhold only: SoftHSM2 2.6 digests a sensitive key and even
			// a private key (its digest runs inside the token; keyhold's
			// runs in the application, so the value would have to leave the
			// HSM, and PKCS#11 speaks of a secret key's value), and keeps
			// the digest after a bad handle (PKCS#11 ends an operation on
			// any error but CKR_BUFFER_TOO_SMALL).
			keyholdOnly bool
		}{
			"sensitive key":  {sensitive, pkcs11.CKR_KEY_INDIGESTIBLE, true},
			"private key":    {ec.priv, pkcs11.CKR_KEY_INDIGESTIBLE, true},
			"bad key handle": {0x7ffffff5, pkcs11.CKR_KEY_HANDLE_INVALID, true},
		} {
			if f.hsm == nil && tc.keyholdOnly {
				continue
			}
			require.NoError(t, f.p.DigestInit(sh, sha))
			requireRV(t, tc.want, f.p.DigestKey(sh, tc.key), name)
			requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, f.p.DigestUpdate(sh, []byte("x")), "%s ended the digest", name)
		}
	})
}
