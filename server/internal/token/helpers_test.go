package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/stretchr/testify/require"
)

const (
	testUserPIN = "1234"
	testSOPIN   = "so-secret-9"
)

// requireRV asserts that err is a *ck.Error with return code rv.
func requireRV(t testing.TB, err error, rv ck.ReturnValue) {
	t.Helper()
	require.Error(t, err, "want %v", rv)
	var ce *ck.Error
	require.True(t, errors.As(err, &ce), "error %v (%T) is not a *ck.Error", err, err)
	require.Equal(t, rv, ce.RV, "error: %v", err)
}

func newTestToken(t testing.TB) *Token {
	t.Helper()
	tok, err := New(Config{Name: "test", ID: 7, UserPIN: testUserPIN, SOPIN: testSOPIN})
	require.NoError(t, err)
	return tok
}

// Keys generated once per test binary: RSA generation is the slow part of
// this package's tests, so everything that only needs "an RSA key" shares
// this one.
var (
	testRSAOnce sync.Once
	testRSAKey  *rsa.PrivateKey
)

func testRSA(testing.TB) *rsa.PrivateKey {
	testRSAOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testRSAKey = k
	})
	return testRSAKey
}

func curveOID(c elliptic.Curve) []byte {
	var oid encasn1.ObjectIdentifier
	switch c {
	case elliptic.P224():
		oid = oidP224
	case elliptic.P256():
		oid = oidP256
	case elliptic.P384():
		oid = oidP384
	case elliptic.P521():
		oid = oidP521
	}
	der, err := encasn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return der
}

var ed25519Params = mustMarshal(oidEd25519)

func mustMarshal(v any) []byte {
	der, err := encasn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	return der
}

func withAttrs(base ck.Template, extra ...ck.Attribute) ck.Template {
	out := append(ck.Template{}, base...)
	return append(out, extra...)
}

func rsaPrivTemplate(k *rsa.PrivateKey, extra ...ck.Attribute) ck.Template {
	return withAttrs(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_RSA)),
		ck.Bytes(ck.CKA_MODULUS, k.N.Bytes()),
		ck.Bytes(ck.CKA_PUBLIC_EXPONENT, big.NewInt(int64(k.E)).Bytes()),
		ck.Bytes(ck.CKA_PRIVATE_EXPONENT, k.D.Bytes()),
		ck.Bytes(ck.CKA_PRIME_1, k.Primes[0].Bytes()),
		ck.Bytes(ck.CKA_PRIME_2, k.Primes[1].Bytes()),
	}, extra...)
}

func rsaPubTemplate(k *rsa.PublicKey, extra ...ck.Attribute) ck.Template {
	return withAttrs(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PUBLIC_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_RSA)),
		ck.Bytes(ck.CKA_MODULUS, k.N.Bytes()),
		ck.Bytes(ck.CKA_PUBLIC_EXPONENT, big.NewInt(int64(k.E)).Bytes()),
	}, extra...)
}

func ecPrivTemplate(k *ecdsa.PrivateKey, extra ...ck.Attribute) ck.Template {
	scalar, err := k.Bytes()
	if err != nil {
		panic(err)
	}
	return withAttrs(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_EC)),
		ck.Bytes(ck.CKA_EC_PARAMS, curveOID(k.Curve)),
		ck.Bytes(ck.CKA_VALUE, scalar),
	}, extra...)
}

func ecPubTemplate(k *ecdsa.PublicKey, extra ...ck.Attribute) ck.Template {
	point, err := k.Bytes()
	if err != nil {
		panic(err)
	}
	return withAttrs(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PUBLIC_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_EC)),
		ck.Bytes(ck.CKA_EC_PARAMS, curveOID(k.Curve)),
		ck.Bytes(ck.CKA_EC_POINT, derOctetString(point)),
	}, extra...)
}

func edPrivTemplate(k ed25519.PrivateKey, extra ...ck.Attribute) ck.Template {
	return withAttrs(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_EC_EDWARDS)),
		ck.Bytes(ck.CKA_EC_PARAMS, ed25519Params),
		ck.Bytes(ck.CKA_VALUE, k.Seed()),
	}, extra...)
}

func edPubTemplate(k ed25519.PublicKey, extra ...ck.Attribute) ck.Template {
	return withAttrs(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PUBLIC_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_EC_EDWARDS)),
		ck.Bytes(ck.CKA_EC_PARAMS, ed25519Params),
		ck.Bytes(ck.CKA_EC_POINT, derOctetString(k)),
	}, extra...)
}

func aesTemplate(key []byte, extra ...ck.Attribute) ck.Template {
	return withAttrs(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_AES)),
		ck.Bytes(ck.CKA_VALUE, key),
	}, extra...)
}

func certTemplate(der []byte, extra ...ck.Attribute) ck.Template {
	return withAttrs(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_CERTIFICATE)),
		ck.ULong(ck.CKA_CERTIFICATE_TYPE, uint64(ck.CKC_X_509)),
		ck.Bytes(ck.CKA_VALUE, der),
	}, extra...)
}

func dataTemplate(extra ...ck.Attribute) ck.Template {
	return withAttrs(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_DATA)),
		ck.String(ck.CKA_APPLICATION, "tests"),
		ck.Bytes(ck.CKA_VALUE, []byte("some data")),
	}, extra...)
}

// selfSigned returns a self-signed certificate for key.
func selfSigned(t testing.TB, key *ecdsa.PrivateKey) (*x509.Certificate, []byte) {
	t.Helper()
	cert, der, err := makeSelfSigned(key)
	require.NoError(t, err)
	return cert, der
}

func makeSelfSigned(key *ecdsa.PrivateKey) (*x509.Certificate, []byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234567),
		Subject:      pkix.Name{CommonName: "keyhold test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, der, err
}

// attr reads one attribute that must be readable.
func attr(t testing.TB, tok *Token, acc Access, h Handle, typ ck.AttributeType) []byte {
	t.Helper()
	res, err := tok.GetAttributes(acc, h, []ck.AttributeType{typ})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, ck.CKR_OK, res[0].RV, "reading %v", typ)
	return res[0].Value
}

func attrBool(t testing.TB, tok *Token, acc Access, h Handle, typ ck.AttributeType) bool {
	t.Helper()
	v := attr(t, tok, acc, h, typ)
	require.Len(t, v, 1)
	return v[0] == 1
}

func attrULong(t testing.TB, tok *Token, acc Access, h Handle, typ ck.AttributeType) uint64 {
	t.Helper()
	return ulongOf(attr(t, tok, acc, h, typ))
}

func mustCreate(t testing.TB, tok *Token, acc Access, tmpl ck.Template) Handle {
	t.Helper()
	h, err := tok.Create(acc, tmpl)
	require.NoError(t, err)
	require.NotZero(t, h)
	require.Zero(t, uint64(h)>>63, "handles are 63-bit")
	return h
}

// publicFromToken rebuilds a public key from a key object's
// CKA_PUBLIC_KEY_INFO, the way a client would.
func publicFromToken(t testing.TB, tok *Token, acc Access, h Handle) any {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(attr(t, tok, acc, h, ck.CKA_PUBLIC_KEY_INFO))
	require.NoError(t, err)
	return pub
}

// verifyRawECDSA checks a PKCS#11 r||s ECDSA signature with the standard library.
func verifyRawECDSA(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	size := (pub.Curve.Params().BitSize + 7) / 8
	if len(sig) != 2*size {
		return false
	}
	r := new(big.Int).SetBytes(sig[:size])
	s := new(big.Int).SetBytes(sig[size:])
	return ecdsa.Verify(pub, digest, r, s)
}
