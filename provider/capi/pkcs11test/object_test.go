package pkcs11test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func dataTemplate(label string, token bool, value []byte) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, token),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_APPLICATION, "keyhold tests"),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
	}
}

func TestDataObject(t *testing.T) {
	f := setup(t)
	sh := f.open(true)
	h, err := f.p.CreateObject(sh, dataTemplate("data-1", true, []byte("hello")))
	require.NoError(t, err)

	as, err := f.p.GetAttributeValue(sh, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		pkcs11.NewAttribute(pkcs11.CKA_APPLICATION, nil),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil),
	})
	require.NoError(t, err)
	assert.Equal(t, uint(pkcs11.CKO_DATA), ulongOf(t, as[0].Value))
	assert.Equal(t, []byte{1}, as[1].Value)
	assert.Equal(t, []byte{0}, as[2].Value)
	assert.Equal(t, "data-1", string(as[3].Value))
	assert.Equal(t, "keyhold tests", string(as[4].Value))
	assert.Equal(t, "hello", string(as[5].Value))

	// C_SetAttributeValue on attributes that may change: the token lets a
	// data object's label and value change.
	require.NoError(t, f.p.SetAttributeValue(sh, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "data-renamed"),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, []byte("changed")),
	}))
	assert.Equal(t, "data-renamed", string(f.attr(sh, h, pkcs11.CKA_LABEL)))
	assert.Equal(t, "changed", string(f.attr(sh, h, pkcs11.CKA_VALUE)))
	// A token object seen from another session of the application.
	other := f.open(false)
	assert.Equal(t, []pkcs11.ObjectHandle{h}, f.find(other, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "data-renamed")))

	require.NoError(t, f.p.DestroyObject(sh, h))
	_, err = f.p.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
	requireRV(t, pkcs11.CKR_OBJECT_HANDLE_INVALID, err)
	requireRV(t, pkcs11.CKR_OBJECT_HANDLE_INVALID, f.p.DestroyObject(sh, h))
	assert.Empty(t, f.find(sh, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "data-renamed")))
}

func TestReadOnlySession(t *testing.T) {
	f := setup(t)
	rw := f.open(true)
	token, err := f.p.CreateObject(rw, dataTemplate("token-object", true, []byte("x")))
	require.NoError(t, err)

	// PKCS#11 2.40 section 5.7: a R/O session cannot create, modify or
	// destroy token objects...
	ro := f.open(false)
	_, err = f.p.CreateObject(ro, dataTemplate("from-ro", true, []byte("x")))
	requireRV(t, pkcs11.CKR_SESSION_READ_ONLY, err)
	requireRV(t, pkcs11.CKR_SESSION_READ_ONLY, f.p.DestroyObject(ro, token))
	requireRV(t, pkcs11.CKR_SESSION_READ_ONLY, f.p.SetAttributeValue(ro, token, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "x")}))
	f.login(ro)
	_, _, err = f.p.GenerateKeyPair(ro, mech(pkcs11.CKM_EC_KEY_PAIR_GEN, nil), ecTemplatesPub(paramsP256, "ro-key"), ecTemplatesPriv("ro-key"))
	requireRV(t, pkcs11.CKR_SESSION_READ_ONLY, err)
	_, err = f.p.GenerateKey(ro, mech(pkcs11.CKM_AES_KEY_GEN, nil), aesTemplate(32, "ro-aes"))
	requireRV(t, pkcs11.CKR_SESSION_READ_ONLY, err)

	// ...but it can create, modify and destroy session objects.
	sess, err := f.p.CreateObject(ro, dataTemplate("session-from-ro", false, []byte("y")))
	require.NoError(t, err)
	require.NoError(t, f.p.SetAttributeValue(ro, sess, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "renamed")}))
	require.NoError(t, f.p.DestroyObject(ro, sess))
	assert.Equal(t, "token-object", string(f.attr(ro, token, pkcs11.CKA_LABEL)))
}

func ecTemplatesPub(params []byte, label string) []*pkcs11.Attribute {
	pub, _ := ecTemplates(pkcs11.CKK_EC, params, label)
	return pub
}

func ecTemplatesPriv(label string) []*pkcs11.Attribute {
	_, priv := ecTemplates(pkcs11.CKK_EC, paramsP256, label)
	return priv
}

func TestSessionObjects(t *testing.T) {
	f := setup(t)
	a, b := f.open(false), f.open(true)
	obj, err := f.p.CreateObject(a, dataTemplate("ephemeral", false, []byte("gone soon")))
	require.NoError(t, err)
	assert.Equal(t, []byte{0}, f.attr(a, obj, pkcs11.CKA_TOKEN))
	// Session objects belong to the application: every session of it sees
	// them (PKCS#11 2.40 section 4.4).
	assert.Equal(t, []pkcs11.ObjectHandle{obj}, f.find(b, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "ephemeral")))

	f.login(b)
	sessionOnly := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)}
	pubT, privT := ecTemplates(pkcs11.CKK_EC, paramsP256, "session-key")
	pub, priv, err := f.p.GenerateKeyPair(b, mech(pkcs11.CKM_EC_KEY_PAIR_GEN, nil), override(pubT, sessionOnly), override(privT, sessionOnly))
	require.NoError(t, err)
	key := keyPair{pub: pub, priv: priv}
	assert.Equal(t, []byte{0}, f.attr(b, key.pub, pkcs11.CKA_TOKEN))
	assert.Equal(t, []byte{0}, f.attr(b, key.priv, pkcs11.CKA_TOKEN))
	sig := f.signOnce(b, pkcs11.CKM_ECDSA, nil, key.priv, make([]byte, 32))
	assert.Len(t, sig, 64)

	// A session object is destroyed when the session that created it
	// closes (PKCS#11 2.40 section 4.4 and C_CloseSession), and with it its
	// handle.
	require.NoError(t, f.p.CloseSession(a))
	assert.Empty(t, f.find(b, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "ephemeral")))
	_, err = f.p.GetAttributeValue(b, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
	requireRV(t, pkcs11.CKR_OBJECT_HANDLE_INVALID, err)
	// The key made in b lives as long as b.
	assert.ElementsMatch(t, []pkcs11.ObjectHandle{key.pub, key.priv}, f.find(b, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "session-key")))

	c := f.open(true)
	require.NoError(t, f.p.CloseSession(b))
	assert.Empty(t, f.find(c, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "session-key")))
	// And all of them at C_Finalize: none is left in the HSM for the next
	// application to find.
	d, err := f.p.CreateObject(c, dataTemplate("until-finalize", false, nil))
	require.NoError(t, err)
	require.NotZero(t, d)
	require.NoError(t, f.p.Finalize())
	require.NoError(t, f.p.Initialize())
	e := f.open(false)
	assert.Empty(t, f.find(e, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "until-finalize")))
}

func TestPrivateDataObject(t *testing.T) {
	f := setup(t)
	sh := f.open(true)
	tmpl := dataTemplate("secret-data", true, []byte("s"))
	tmpl[2] = pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true)
	// Creating a private object needs the User (PKCS#11 2.40 section 5.7).
	_, err := f.p.CreateObject(sh, tmpl)
	requireRV(t, pkcs11.CKR_USER_NOT_LOGGED_IN, err)
	f.login(sh)
	h, err := f.p.CreateObject(sh, tmpl)
	require.NoError(t, err)
	require.NoError(t, f.p.Logout(sh))
	assert.Empty(t, f.find(sh, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "secret-data")))
	f.login(sh)
	assert.Equal(t, []pkcs11.ObjectHandle{h}, f.find(sh, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "secret-data")))
}

// selfSigned returns a self-signed certificate for key.
func selfSigned(t *testing.T, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4242),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

func TestCertificateObject(t *testing.T) {
	f := setup(t)
	sh := f.open(true)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	cert := selfSigned(t, key, "keyhold certificate test")

	h, err := f.p.CreateObject(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "cert"),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{1, 2, 3}),
		pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, cert.RawSubject),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, cert.Raw),
	})
	require.NoError(t, err)
	assert.Equal(t, cert.Raw, f.attr(sh, h, pkcs11.CKA_VALUE))
	assert.Equal(t, cert.RawSubject, f.attr(sh, h, pkcs11.CKA_SUBJECT))
	assert.Equal(t, uint(pkcs11.CKC_X_509), f.ulongAttr(sh, h, pkcs11.CKA_CERTIFICATE_TYPE))
	// Certificates are public objects by default (PKCS#11 2.40 section 4.4:
	// the default of CKA_PRIVATE is the token's; public certificates are
	// what every client expects to find before login).
	ro := f.open(false)
	assert.Equal(t, []pkcs11.ObjectHandle{h}, f.find(ro,
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{1, 2, 3})))

	// PKCS#11 2.40 section 4.6: a certificate's CKA_CERTIFICATE_TYPE and
	// CKA_VALUE are not among the attributes that may be modified after
	// creation.
	requireRV(t, pkcs11.CKR_ATTRIBUTE_READ_ONLY, f.p.SetAttributeValue(sh, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, []byte("not a certificate")),
	}))
	requireRV(t, pkcs11.CKR_ATTRIBUTE_READ_ONLY, f.p.SetAttributeValue(sh, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
	}))
	// Without its value a certificate is incomplete.
	_, err = f.p.CreateObject(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
	})
	requireRV(t, pkcs11.CKR_TEMPLATE_INCOMPLETE, err)
}

// TestPublicKeyObjects imports public keys made by Go's standard library
// and uses them: C_Verify checks signatures Go made, and C_Encrypt's output
// is decrypted by Go.
func TestPublicKeyObjects(t *testing.T) {
	f := setup(t)
	sh := f.open(true)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaPub, err := f.p.CreateObject(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "go-rsa"),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_MODULUS, rsaKey.N.Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(rsaKey.E)).Bytes()),
	})
	require.NoError(t, err)
	// CKA_MODULUS_BITS is computed by the token (PKCS#11 2.40 Current
	// Mechanisms, RSA public key objects: "must not be specified when object
	// is created").
	assert.Equal(t, uint(2048), f.ulongAttr(sh, rsaPub, pkcs11.CKA_MODULUS_BITS))
	assert.Equal(t, rsaKey.N.Bytes(), f.attr(sh, rsaPub, pkcs11.CKA_MODULUS))

	msg := []byte("signed by Go, verified by the library")
	digest := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, digest[:])
	require.NoError(t, err)
	require.NoError(t, f.p.VerifyInit(sh, mech(pkcs11.CKM_SHA256_RSA_PKCS, nil), rsaPub))
	require.NoError(t, f.p.Verify(sh, msg, sig))
	require.NoError(t, f.p.VerifyInit(sh, mech(pkcs11.CKM_SHA256_RSA_PKCS, nil), rsaPub))
	requireRV(t, pkcs11.CKR_SIGNATURE_INVALID, f.p.Verify(sh, []byte("another message"), sig))

	// Encrypted by the library, decrypted by Go.
	for _, h := range oaepHashes {
		oaep := pkcs11.NewOAEPParams(h.mech, h.mgf, pkcs11.CKZ_DATA_SPECIFIED, []byte("label"))
		require.NoError(t, f.p.EncryptInit(sh, mech(pkcs11.CKM_RSA_PKCS_OAEP, oaep), rsaPub), h.name)
		ct, err := f.p.Encrypt(sh, []byte("for Go"))
		require.NoError(t, err, h.name)
		pt, err := rsa.DecryptOAEP(h.hash.New(), nil, rsaKey, ct, []byte("label"))
		require.NoError(t, err, h.name)
		assert.Equal(t, "for Go", string(pt), h.name)
	}
	require.NoError(t, f.p.EncryptInit(sh, mech(pkcs11.CKM_RSA_PKCS, nil), rsaPub))
	ct, err := f.p.Encrypt(sh, []byte("v1.5 for Go"))
	require.NoError(t, err)
	//lint:ignore SA1019 the library's CKM_RSA_PKCS encryption is what is tested.
	pt, err := rsa.DecryptPKCS1v15(nil, rsaKey, ct)
	require.NoError(t, err)
	assert.Equal(t, "v1.5 for Go", string(pt))

	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		ecKey, err := ecdsa.GenerateKey(c, rand.Reader)
		require.NoError(t, err)
		point, err := ecKey.PublicKey.Bytes()
		require.NoError(t, err)
		ecPub, err := f.p.CreateObject(sh, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, curveParams(c)),
			pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, mustDER(point)),
		})
		require.NoError(t, err, c.Params().Name)
		digest := sha256.Sum256(msg)
		r, s, err := ecdsa.Sign(rand.Reader, ecKey, digest[:])
		require.NoError(t, err)
		size := (c.Params().BitSize + 7) / 8
		raw := append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
		require.NoError(t, f.p.VerifyInit(sh, mech(pkcs11.CKM_ECDSA, nil), ecPub))
		require.NoError(t, f.p.Verify(sh, digest[:], raw), c.Params().Name)
		require.NoError(t, f.p.VerifyInit(sh, mech(pkcs11.CKM_ECDSA_SHA256, nil), ecPub))
		require.NoError(t, f.p.Verify(sh, msg, raw), c.Params().Name)
	}
}

func TestFindObjects(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	k1 := f.genEC(sh, elliptic.P256(), "find-a")
	k2 := f.genEC(sh, elliptic.P256(), "find-b")
	data, err := f.p.CreateObject(sh, dataTemplate("find-a", true, []byte("d")))
	require.NoError(t, err)

	cases := []struct {
		name string
		tmpl []*pkcs11.Attribute
		want []pkcs11.ObjectHandle
	}{
		{"label", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "find-a")}, []pkcs11.ObjectHandle{k1.pub, k1.priv, data}},
		{"label and class", []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, "find-a"),
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		}, []pkcs11.ObjectHandle{k1.priv}},
		{"id", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, []byte("find-b"))}, []pkcs11.ObjectHandle{k2.pub, k2.priv}},
		{"class", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY)}, []pkcs11.ObjectHandle{k1.pub, k2.pub}},
		{"key type", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC)}, []pkcs11.ObjectHandle{k1.pub, k1.priv, k2.pub, k2.priv}},
		{"empty template matches all", nil, []pkcs11.ObjectHandle{k1.pub, k1.priv, k2.pub, k2.priv, data}},
		{"no match", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "nothing")}, nil},
		{"value mismatch", []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, "find-a"),
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		}, nil},
		// A sensitive value never matches: C_FindObjects must not confirm
		// guesses of it.
		{"sensitive value", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, make([]byte, 32))}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.ElementsMatch(t, c.want, f.find(sh, c.tmpl...))
		})
	}

	// One at a time: C_FindObjects continues where it stopped, and
	// returns no object twice.
	require.NoError(t, f.p.FindObjectsInit(sh, nil))
	seen := map[pkcs11.ObjectHandle]bool{}
	for {
		hs, _, err := f.p.FindObjects(sh, 1)
		require.NoError(t, err)
		require.LessOrEqual(t, len(hs), 1)
		if len(hs) == 0 {
			break
		}
		require.False(t, seen[hs[0]], "handle %d returned twice", hs[0])
		seen[hs[0]] = true
	}
	assert.Len(t, seen, 5)

	// PKCS#11 2.40 section 5.7: one search at a time per session.
	requireRV(t, pkcs11.CKR_OPERATION_ACTIVE, f.p.FindObjectsInit(sh, nil))
	require.NoError(t, f.p.FindObjectsFinal(sh))
	_, _, err = f.p.FindObjects(sh, 1)
	requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
	requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, f.p.FindObjectsFinal(sh))

	// Searches of different sessions are independent.
	other := f.open(false)
	require.NoError(t, f.p.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "find-b")}))
	assert.ElementsMatch(t, []pkcs11.ObjectHandle{k1.pub, k1.priv, data}, f.find(other, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "find-a")))
	hs, _, err := f.p.FindObjects(sh, 10)
	require.NoError(t, err)
	assert.ElementsMatch(t, []pkcs11.ObjectHandle{k2.pub, k2.priv}, hs)
	require.NoError(t, f.p.FindObjectsFinal(sh))

	// An attribute type no object can have: no match, or the library
	// refuses the template (both are allowed by section 5.7).
	err = f.p.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(unknownAttribute, []byte{1})})
	if err == nil {
		hs, _, err := f.p.FindObjects(sh, 10)
		require.NoError(t, err)
		assert.Empty(t, hs)
		require.NoError(t, f.p.FindObjectsFinal(sh))
	} else {
		requireRV(t, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, err)
	}
}

func TestAttributes(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	k := f.genEC(sh, elliptic.P256(), "attrs")

	// Several attributes at once, in the order asked.
	as, err := f.p.GetAttributeValue(sh, k.priv, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, nil),
	})
	require.NoError(t, err)
	assert.Equal(t, "attrs", string(as[0].Value))
	assert.Equal(t, []byte("attrs"), as[1].Value)
	assert.Equal(t, []byte{1}, as[2].Value)

	// Modifiable attributes change (PKCS#11 2.40 section 4.7 and 4.9).
	require.NoError(t, f.p.SetAttributeValue(sh, k.priv, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "attrs-renamed"),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{9, 9}),
	}))
	assert.Equal(t, "attrs-renamed", string(f.attr(sh, k.priv, pkcs11.CKA_LABEL)))
	assert.Equal(t, []byte{9, 9}, f.attr(sh, k.priv, pkcs11.CKA_ID))
	// Seen from another session too (the change is the object's).
	other := f.open(false)
	assert.Equal(t, []pkcs11.ObjectHandle{k.priv}, f.find(other, pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{9, 9})))

	readOnly := []struct {
		name string
		attr *pkcs11.Attribute
	}{
		{"CKA_CLASS", pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY)},
		{"CKA_KEY_TYPE", pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA)},
		// "Attribute cannot be changed once set to CK_TRUE" (section 4.9).
		{"CKA_SENSITIVE", pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false)},
		// "Once set to CK_FALSE, cannot be changed to CK_TRUE" (ditto).
		{"CKA_EXTRACTABLE", pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true)},
		// Set by the token (section 4.7).
		{"CKA_LOCAL", pkcs11.NewAttribute(pkcs11.CKA_LOCAL, false)},
		{"CKA_ALWAYS_SENSITIVE", pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_SENSITIVE, false)},
		{"CKA_EC_PARAMS", pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, paramsP384)},
	}
	for _, c := range readOnly {
		t.Run(c.name, func(t *testing.T) {
			requireRV(t, pkcs11.CKR_ATTRIBUTE_READ_ONLY, f.p.SetAttributeValue(sh, k.priv, []*pkcs11.Attribute{c.attr}))
		})
	}
	// A change refused changes nothing, not even the template's other,
	// valid attributes.
	requireRV(t, pkcs11.CKR_ATTRIBUTE_READ_ONLY, f.p.SetAttributeValue(sh, k.priv, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "half-done"),
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
	}))
	assert.Equal(t, "attrs-renamed", string(f.attr(sh, k.priv, pkcs11.CKA_LABEL)))

	_, err = f.p.GetAttributeValue(sh, k.priv, []*pkcs11.Attribute{pkcs11.NewAttribute(unknownAttribute, nil)})
	requireRV(t, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, err)
	requireRV(t, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, f.p.SetAttributeValue(sh, k.priv, []*pkcs11.Attribute{pkcs11.NewAttribute(unknownAttribute, []byte{1})}))
	requireRV(t, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID, f.p.SetAttributeValue(sh, k.priv, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_SIGN, []byte{1, 1})}))

	for _, h := range []pkcs11.ObjectHandle{0, k.priv + 12345, 1 << 62} {
		_, err = f.p.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
		requireRV(t, pkcs11.CKR_OBJECT_HANDLE_INVALID, err, "handle %#x", h)
		requireRV(t, pkcs11.CKR_OBJECT_HANDLE_INVALID, f.p.SetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "x")}), "handle %#x", h)
		requireRV(t, pkcs11.CKR_OBJECT_HANDLE_INVALID, f.p.DestroyObject(sh, h), "handle %#x", h)
	}
}

func TestCreateObjectTemplates(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaPub := func(extra ...*pkcs11.Attribute) []*pkcs11.Attribute {
		return append([]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, rsaKey.N.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
		}, extra...)
	}
	_, err = f.p.CreateObject(sh, rsaPub())
	require.NoError(t, err, "the base template is valid")

	// PKCS#11 2.40 section 4.1.1 lists what a bad template answers.
	cases := []struct {
		name string
		tmpl []*pkcs11.Attribute
		want uint
	}{
		{"no class", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "x")}, pkcs11.CKR_TEMPLATE_INCOMPLETE},
		{"no modulus", rsaPub()[:3], pkcs11.CKR_TEMPLATE_INCOMPLETE},
		{"unknown attribute", rsaPub(pkcs11.NewAttribute(unknownAttribute, []byte{1})), pkcs11.CKR_ATTRIBUTE_TYPE_INVALID},
		{"CK_ULONG of 1 byte", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, []byte{2})}, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"CK_BBOOL of 2", rsaPub(pkcs11.NewAttribute(pkcs11.CKA_VERIFY, []byte{2})), pkcs11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"unknown class", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, 0x7777)}, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"unknown key type", []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, 0x7777),
		}, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"same attribute, two values", rsaPub(pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true)), pkcs11.CKR_TEMPLATE_INCONSISTENT},
		{"attribute of another class", rsaPub(pkcs11.NewAttribute(pkcs11.CKA_SIGN, true)), pkcs11.CKR_TEMPLATE_INCONSISTENT},
		// Computed by the token (Current Mechanisms, RSA public key objects:
		// "must not be specified when object is created").
		{"modulus bits given", rsaPub(pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048)), pkcs11.CKR_ATTRIBUTE_READ_ONLY},
		{"local given", rsaPub(pkcs11.NewAttribute(pkcs11.CKA_LOCAL, true)), pkcs11.CKR_ATTRIBUTE_READ_ONLY},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.p.CreateObject(sh, c.tmpl)
			requireRV(t, c.want, err)
		})
	}
}
