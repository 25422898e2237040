package token

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	encasn1 "encoding/asn1"
	"math/big"
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCreateDefaults imports one object of every supported kind and checks
// the attributes the token fills in.
func TestCreateDefaults(t *testing.T) {
	rsaKey := testRSA(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	aesKey := make([]byte, 32)
	_, _ = rand.Read(aesKey)
	cert, certDER := selfSigned(t, ecKey)

	type want struct {
		attr ck.AttributeType
		val  []byte
	}
	f, tr := []byte{0}, []byte{1}
	unavailable := ulongValue(ck.CK_UNAVAILABLE_INFORMATION)
	tests := []struct {
		name  string
		tmpl  ck.Template
		wants []want
		none  []ck.AttributeType // attributes the object must not have
	}{
		{"RSA private", rsaPrivTemplate(rsaKey), []want{
			{ck.CKA_TOKEN, tr}, {ck.CKA_PRIVATE, tr}, {ck.CKA_MODIFIABLE, tr}, {ck.CKA_COPYABLE, tr},
			{ck.CKA_DESTROYABLE, tr}, {ck.CKA_LABEL, []byte{}}, {ck.CKA_ID, []byte{}},
			{ck.CKA_START_DATE, []byte{}}, {ck.CKA_END_DATE, []byte{}}, {ck.CKA_DERIVE, f},
			{ck.CKA_LOCAL, f}, {ck.CKA_KEY_GEN_MECHANISM, unavailable},
			{ck.CKA_SENSITIVE, tr}, {ck.CKA_EXTRACTABLE, f}, {ck.CKA_ALWAYS_SENSITIVE, f},
			{ck.CKA_NEVER_EXTRACTABLE, f}, {ck.CKA_SIGN, tr}, {ck.CKA_DECRYPT, tr},
			{ck.CKA_SIGN_RECOVER, f}, {ck.CKA_UNWRAP, f}, {ck.CKA_WRAP_WITH_TRUSTED, f},
			{ck.CKA_ALWAYS_AUTHENTICATE, f}, {ck.CKA_SUBJECT, []byte{}},
			{ck.CKA_MODULUS, rsaKey.N.Bytes()}, {ck.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}},
		}, []ck.AttributeType{ck.CKA_ENCRYPT, ck.CKA_VERIFY, ck.CKA_MODULUS_BITS, ck.CKA_VALUE}},
		{"RSA public", rsaPubTemplate(&rsaKey.PublicKey), []want{
			{ck.CKA_PRIVATE, f}, {ck.CKA_VERIFY, tr}, {ck.CKA_ENCRYPT, tr}, {ck.CKA_WRAP, f},
			{ck.CKA_VERIFY_RECOVER, f}, {ck.CKA_TRUSTED, f}, {ck.CKA_LOCAL, f},
			{ck.CKA_MODULUS_BITS, ulongValue(2048)},
		}, []ck.AttributeType{ck.CKA_SIGN, ck.CKA_SENSITIVE, ck.CKA_PRIVATE_EXPONENT}},
		{"EC private", ecPrivTemplate(ecKey), []want{
			{ck.CKA_PRIVATE, tr}, {ck.CKA_SIGN, tr}, {ck.CKA_DECRYPT, f},
			{ck.CKA_EC_POINT, derOctetString(mustBytes(ecKey.PublicKey.Bytes()))},
		}, []ck.AttributeType{ck.CKA_MODULUS}},
		{"EC public", ecPubTemplate(&ecKey.PublicKey), []want{
			{ck.CKA_PRIVATE, f}, {ck.CKA_VERIFY, tr}, {ck.CKA_ENCRYPT, f},
		}, nil},
		{"Ed25519 private", edPrivTemplate(edKey), []want{
			{ck.CKA_EC_POINT, derOctetString(edPub)}, {ck.CKA_SIGN, tr},
		}, nil},
		{"Ed25519 public", edPubTemplate(edPub), []want{{ck.CKA_VERIFY, tr}}, nil},
		{"AES", aesTemplate(aesKey), []want{
			{ck.CKA_PRIVATE, tr}, {ck.CKA_SENSITIVE, tr}, {ck.CKA_EXTRACTABLE, f},
			{ck.CKA_ENCRYPT, tr}, {ck.CKA_DECRYPT, tr}, {ck.CKA_SIGN, f}, {ck.CKA_VERIFY, f},
			{ck.CKA_WRAP, f}, {ck.CKA_UNWRAP, f}, {ck.CKA_VALUE_LEN, ulongValue(32)},
			{ck.CKA_CHECK_VALUE, aesKCV(aesKey)}, {ck.CKA_ALWAYS_SENSITIVE, f}, {ck.CKA_LOCAL, f},
		}, []ck.AttributeType{ck.CKA_PUBLIC_KEY_INFO}},
		{"certificate", certTemplate(certDER), []want{
			{ck.CKA_PRIVATE, f}, {ck.CKA_SUBJECT, cert.RawSubject}, {ck.CKA_ISSUER, cert.RawIssuer},
			{ck.CKA_SERIAL_NUMBER, mustMarshal(cert.SerialNumber)}, {ck.CKA_TRUSTED, f},
			{ck.CKA_CERTIFICATE_CATEGORY, ulongValue(0)}, {ck.CKA_PUBLIC_KEY_INFO, cert.RawSubjectPublicKeyInfo},
			{ck.CKA_CHECK_VALUE, sha1Prefix(certDER)}, {ck.CKA_ID, []byte{}}, {ck.CKA_VALUE, certDER},
		}, []ck.AttributeType{ck.CKA_KEY_TYPE, ck.CKA_LOCAL}},
		{"data", dataTemplate(), []want{
			{ck.CKA_PRIVATE, f}, {ck.CKA_APPLICATION, []byte("tests")}, {ck.CKA_OBJECT_ID, []byte{}},
			{ck.CKA_VALUE, []byte("some data")},
		}, []ck.AttributeType{ck.CKA_KEY_TYPE, ck.CKA_ID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := newTestToken(t)
			h := mustCreate(t, tok, User, tc.tmpl)
			for _, w := range tc.wants {
				assert.Equal(t, w.val, attr(t, tok, User, h, w.attr), "%v", w.attr)
			}
			for _, typ := range tc.none {
				res, err := tok.GetAttributes(User, h, []ck.AttributeType{typ})
				require.NoError(t, err)
				assert.Equal(t, ck.CKR_ATTRIBUTE_TYPE_INVALID, res[0].RV, "%v", typ)
			}
			assert.Len(t, attr(t, tok, User, h, ck.CKA_UNIQUE_ID), 32)
		})
	}
}

func mustBytes(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func aesKCV(key []byte) []byte {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	var blk [16]byte
	b.Encrypt(blk[:], blk[:])
	return blk[:3]
}

func sha1Prefix(b []byte) []byte {
	s := sha1.Sum(b)
	return s[:3]
}

// TestPublicKeyInfo checks that CKA_PUBLIC_KEY_INFO of every key kind parses
// to the key's public key.
func TestPublicKeyInfo(t *testing.T) {
	tok := newTestToken(t)
	rsaKey := testRSA(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	for _, tc := range []struct {
		tmpl ck.Template
		pub  interface{ Equal(x crypto.PublicKey) bool }
	}{
		{rsaPrivTemplate(rsaKey), &rsaKey.PublicKey},
		{rsaPubTemplate(&rsaKey.PublicKey), &rsaKey.PublicKey},
		{ecPrivTemplate(ecKey), &ecKey.PublicKey},
		{ecPubTemplate(&ecKey.PublicKey), &ecKey.PublicKey},
		{edPrivTemplate(edKey), edPub},
		{edPubTemplate(edPub), edPub},
	} {
		h := mustCreate(t, tok, User, tc.tmpl)
		assert.True(t, tc.pub.Equal(publicFromToken(t, tok, User, h)))
	}
}

func TestImportVariants(t *testing.T) {
	rsaKey := testRSA(t)
	p, q := rsaKey.Primes[0], rsaKey.Primes[1]
	one := big.NewInt(1)
	dp := new(big.Int).Mod(rsaKey.D, new(big.Int).Sub(p, one))
	dq := new(big.Int).Mod(rsaKey.D, new(big.Int).Sub(q, one))
	qinv := new(big.Int).ModInverse(q, p)
	ecKey, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	require.NoError(t, err)
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)

	// A P-256 key whose scalar has a leading zero byte, given without it.
	var shortEC *ecdsa.PrivateKey
	for shortEC == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		if b := mustBytes(k.Bytes()); b[0] == 0 {
			shortEC = k
		}
	}
	shortScalar := mustBytes(shortEC.Bytes())[1:]
	_, certDER := selfSigned(t, shortEC)

	swapped := rsaPrivTemplate(rsaKey)
	swapped[5].Value, swapped[6].Value = q.Bytes(), p.Bytes()

	tests := []struct {
		name string
		tmpl ck.Template
		rv   ck.ReturnValue
	}{
		{"RSA with CRT values", rsaPrivTemplate(rsaKey,
			ck.Bytes(ck.CKA_EXPONENT_1, dp.Bytes()), ck.Bytes(ck.CKA_EXPONENT_2, dq.Bytes()),
			ck.Bytes(ck.CKA_COEFFICIENT, append([]byte{0}, qinv.Bytes()...))), ck.CKR_OK},
		{"RSA with primes swapped", swapped, ck.CKR_OK},
		{"RSA with a wrong CRT value", rsaPrivTemplate(rsaKey, ck.Bytes(ck.CKA_EXPONENT_1, dq.Bytes())), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"RSA with a wrong private exponent", withAttrs(rsaPrivTemplate(rsaKey)[:4],
			ck.Bytes(ck.CKA_PRIVATE_EXPONENT, new(big.Int).Add(rsaKey.D, big.NewInt(2)).Bytes()),
			ck.Bytes(ck.CKA_PRIME_1, p.Bytes()), ck.Bytes(ck.CKA_PRIME_2, q.Bytes())), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"RSA with a wrong prime", withAttrs(rsaPrivTemplate(rsaKey)[:5],
			ck.Bytes(ck.CKA_PRIME_1, p.Bytes()), ck.Bytes(ck.CKA_PRIME_2, p.Bytes())), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"RSA without primes", rsaPrivTemplate(rsaKey)[:5], ck.CKR_TEMPLATE_INCOMPLETE},
		{"RSA public 1024-bit", rsaPubTemplate(&rsa.PublicKey{N: new(big.Int).Rsh(rsaKey.N, 1024), E: 65537}), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"RSA public even exponent", rsaPubTemplate(&rsa.PublicKey{N: rsaKey.N, E: 65536}), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"RSA public with modulus bits", rsaPubTemplate(&rsaKey.PublicKey, ck.ULong(ck.CKA_MODULUS_BITS, 2048)), ck.CKR_ATTRIBUTE_READ_ONLY},
		{"EC P-521", ecPrivTemplate(ecKey), ck.CKR_OK},
		{"EC scalar without leading zero", withAttrs(ecPrivTemplate(shortEC)[:3], ck.Bytes(ck.CKA_VALUE, shortScalar)), ck.CKR_OK},
		{"EC scalar too long", withAttrs(ecPrivTemplate(shortEC)[:3], ck.Bytes(ck.CKA_VALUE, make([]byte, 33))), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"EC zero scalar", withAttrs(ecPrivTemplate(shortEC)[:3], ck.Bytes(ck.CKA_VALUE, make([]byte, 32))), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"EC private with its own point", ecPrivTemplate(ecKey, ck.Bytes(ck.CKA_EC_POINT, derOctetString(mustBytes(ecKey.PublicKey.Bytes())))), ck.CKR_OK},
		{"EC private with another point", ecPrivTemplate(ecKey, ck.Bytes(ck.CKA_EC_POINT, derOctetString(mustBytes(shortEC.PublicKey.Bytes())))), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"EC public raw point", withAttrs(ecPubTemplate(&ecKey.PublicKey)[:3], ck.Bytes(ck.CKA_EC_POINT, mustBytes(ecKey.PublicKey.Bytes()))), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"EC public point off the curve", withAttrs(ecPubTemplate(&shortEC.PublicKey)[:3], ck.Bytes(ck.CKA_EC_POINT, derOctetString(append([]byte{4}, make([]byte, 64)...)))), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"EC public point of another curve", withAttrs(ecPubTemplate(&shortEC.PublicKey)[:3], ck.Bytes(ck.CKA_EC_POINT, derOctetString(mustBytes(ecKey.PublicKey.Bytes())))), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"EC secp256k1", withAttrs(ecPrivTemplate(shortEC)[:2], ck.Bytes(ck.CKA_EC_PARAMS, mustMarshal(encasn1.ObjectIdentifier{1, 3, 132, 0, 10})), ck.Bytes(ck.CKA_VALUE, shortScalar)), ck.CKR_CURVE_NOT_SUPPORTED},
		{"EC explicit parameters", withAttrs(ecPrivTemplate(shortEC)[:2], ck.Bytes(ck.CKA_EC_PARAMS, []byte{0x30, 0x00}), ck.Bytes(ck.CKA_VALUE, shortScalar)), ck.CKR_CURVE_NOT_SUPPORTED},
		{"EC malformed parameters", withAttrs(ecPrivTemplate(shortEC)[:2], ck.Bytes(ck.CKA_EC_PARAMS, []byte{0x06, 0x08, 0x2a}), ck.Bytes(ck.CKA_VALUE, shortScalar)), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"EC key with Ed25519 curve", withAttrs(ecPrivTemplate(shortEC)[:2], ck.Bytes(ck.CKA_EC_PARAMS, ed25519Params), ck.Bytes(ck.CKA_VALUE, edKey.Seed())), ck.CKR_CURVE_NOT_SUPPORTED},
		{"Ed25519 with curve name", withAttrs(edPrivTemplate(edKey)[:2], ck.Bytes(ck.CKA_EC_PARAMS, mustMarshal(encasn1.RawValue{Tag: encasn1.TagPrintableString, Bytes: []byte("edwards25519")})), ck.Bytes(ck.CKA_VALUE, edKey.Seed())), ck.CKR_OK},
		{"Ed448", withAttrs(edPrivTemplate(edKey)[:2], ck.Bytes(ck.CKA_EC_PARAMS, mustMarshal(encasn1.ObjectIdentifier{1, 3, 101, 113})), ck.Bytes(ck.CKA_VALUE, edKey.Seed())), ck.CKR_CURVE_NOT_SUPPORTED},
		{"Ed25519 full private key as value", withAttrs(edPrivTemplate(edKey)[:3], ck.Bytes(ck.CKA_VALUE, edKey)), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"Ed25519 public raw point", withAttrs(edPubTemplate(edPub)[:3], ck.Bytes(ck.CKA_EC_POINT, edPub)), ck.CKR_OK},
		{"Ed25519 public bad point", withAttrs(edPubTemplate(edPub)[:3], ck.Bytes(ck.CKA_EC_POINT, edPub[:31])), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"Ed25519 private with raw point", edPrivTemplate(edKey, ck.Bytes(ck.CKA_EC_POINT, edPub)), ck.CKR_OK},
		{"AES 128", aesTemplate(make([]byte, 16)), ck.CKR_OK},
		{"AES 192", aesTemplate(make([]byte, 24)), ck.CKR_OK},
		{"AES 20 bytes", aesTemplate(make([]byte, 20)), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"AES with check value", aesTemplate(make([]byte, 16), ck.Bytes(ck.CKA_CHECK_VALUE, aesKCV(make([]byte, 16)))), ck.CKR_OK},
		{"AES with wrong check value", aesTemplate(make([]byte, 16), ck.Bytes(ck.CKA_CHECK_VALUE, []byte{1, 2, 3})), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"AES with value length", aesTemplate(make([]byte, 16), ck.ULong(ck.CKA_VALUE_LEN, 16)), ck.CKR_ATTRIBUTE_READ_ONLY},
		{"certificate authority category", certTemplate(certDER, ck.ULong(ck.CKA_CERTIFICATE_CATEGORY, 2)), ck.CKR_OK},
		{"certificate not DER", certTemplate([]byte("not a certificate")), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"certificate of another type", withAttrs(ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_CERTIFICATE)), ck.ULong(ck.CKA_CERTIFICATE_TYPE, uint64(ck.CKC_WTLS))}), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"certificate without type", ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_CERTIFICATE))}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"certificate without value", ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_CERTIFICATE)), ck.ULong(ck.CKA_CERTIFICATE_TYPE, uint64(ck.CKC_X_509))}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"session object", dataTemplate(ck.Bool(ck.CKA_TOKEN, false)), ck.CKR_OK},
		{"always authenticate", rsaPrivTemplate(rsaKey, ck.Bool(ck.CKA_ALWAYS_AUTHENTICATE, true)), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"dated key", aesTemplate(make([]byte, 16), ck.String(ck.CKA_START_DATE, "20240229"), ck.String(ck.CKA_END_DATE, "")), ck.CKR_OK},
		{"bad date", aesTemplate(make([]byte, 16), ck.String(ck.CKA_START_DATE, "20230229")), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"certificate category", certTemplate(certDER, ck.ULong(ck.CKA_CERTIFICATE_CATEGORY, 4)), ck.CKR_ATTRIBUTE_VALUE_INVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := newTestToken(t)
			h, err := tok.Create(User, tc.tmpl)
			if tc.rv == ck.CKR_OK {
				require.NoError(t, err)
				require.NotZero(t, h)
				return
			}
			requireRV(t, err, tc.rv)
			assert.Zero(t, tok.Info().ObjectCount)
		})
	}
}

func TestCertificateGivenNames(t *testing.T) {
	tok := newTestToken(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, der := selfSigned(t, ecKey)
	h := mustCreate(t, tok, Public, certTemplate(der, ck.String(ck.CKA_SUBJECT, "given"), ck.String(ck.CKA_LABEL, "cert")))
	assert.Equal(t, []byte("given"), attr(t, tok, Public, h, ck.CKA_SUBJECT))
	// Only the SO may mark a certificate trusted.
	_, err = tok.Create(User, certTemplate(der, ck.Bool(ck.CKA_TRUSTED, true)))
	requireRV(t, err, ck.CKR_ATTRIBUTE_READ_ONLY)
	h = mustCreate(t, tok, SO, certTemplate(der, ck.Bool(ck.CKA_TRUSTED, true)))
	assert.True(t, attrBool(t, tok, SO, h, ck.CKA_TRUSTED))
}

func TestFind(t *testing.T) {
	tok := newTestToken(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	priv := mustCreate(t, tok, User, ecPrivTemplate(ecKey, ck.String(ck.CKA_LABEL, "k"), ck.Bytes(ck.CKA_ID, []byte{1})))
	pub := mustCreate(t, tok, User, ecPubTemplate(&ecKey.PublicKey, ck.String(ck.CKA_LABEL, "k"), ck.Bytes(ck.CKA_ID, []byte{1})))
	data := mustCreate(t, tok, Public, dataTemplate(ck.String(ck.CKA_LABEL, "d")))

	tests := []struct {
		name string
		acc  Access
		tmpl ck.Template
		want []Handle
	}{
		{"all, user", User, nil, []Handle{priv, pub, data}},
		{"all, public", Public, nil, []Handle{pub, data}},
		{"all, SO", SO, ck.Template{}, []Handle{pub, data}},
		{"by label", User, ck.Template{ck.String(ck.CKA_LABEL, "k")}, []Handle{priv, pub}},
		{"by class", User, ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY))}, []Handle{priv}},
		{"private key, public access", Public, ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY))}, []Handle{}},
		{"by id and class", User, ck.Template{ck.Bytes(ck.CKA_ID, []byte{1}), ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PUBLIC_KEY))}, []Handle{pub}},
		{"repeated attribute", User, ck.Template{ck.String(ck.CKA_LABEL, "d"), ck.String(ck.CKA_LABEL, "d")}, []Handle{data}},
		{"no match", User, ck.Template{ck.String(ck.CKA_LABEL, "x")}, []Handle{}},
		{"prefix does not match", User, ck.Template{ck.String(ck.CKA_LABEL, "")}, []Handle{}},
		{"attribute of other classes", User, ck.Template{ck.ULong(ck.CKA_MODULUS_BITS, 2048)}, []Handle{}},
		{"sensitive value never matches", User, ck.Template{ck.Bytes(ck.CKA_VALUE, mustBytes(ecKey.Bytes()))}, []Handle{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tok.Find(tc.acc, tc.tmpl)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	// An extractable, non-sensitive key's value is readable, so it matches.
	clear := mustCreate(t, tok, User, aesTemplate(bytes.Repeat([]byte{7}, 16), ck.Bool(ck.CKA_SENSITIVE, false), ck.Bool(ck.CKA_EXTRACTABLE, true)))
	got, err := tok.Find(User, ck.Template{ck.Bytes(ck.CKA_VALUE, bytes.Repeat([]byte{7}, 16))})
	require.NoError(t, err)
	assert.Equal(t, []Handle{clear}, got)
}

func TestSensitiveValues(t *testing.T) {
	tok := newTestToken(t)
	rsaKey := testRSA(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	rsaSecret := []ck.AttributeType{ck.CKA_PRIVATE_EXPONENT, ck.CKA_PRIME_1, ck.CKA_PRIME_2, ck.CKA_EXPONENT_1, ck.CKA_EXPONENT_2, ck.CKA_COEFFICIENT}
	tests := []struct {
		name     string
		tmpl     ck.Template
		secret   []ck.AttributeType
		readable bool
	}{
		{"RSA default", rsaPrivTemplate(rsaKey), rsaSecret, false},
		{"RSA extractable but sensitive", rsaPrivTemplate(rsaKey, ck.Bool(ck.CKA_EXTRACTABLE, true)), rsaSecret, false},
		{"RSA not sensitive but unextractable", rsaPrivTemplate(rsaKey, ck.Bool(ck.CKA_SENSITIVE, false)), rsaSecret, false},
		{"RSA exportable", rsaPrivTemplate(rsaKey, ck.Bool(ck.CKA_SENSITIVE, false), ck.Bool(ck.CKA_EXTRACTABLE, true)), rsaSecret, true},
		{"EC default", ecPrivTemplate(ecKey), []ck.AttributeType{ck.CKA_VALUE}, false},
		{"Ed25519 default", edPrivTemplate(edKey), []ck.AttributeType{ck.CKA_VALUE}, false},
		{"AES default", aesTemplate(make([]byte, 16)), []ck.AttributeType{ck.CKA_VALUE}, false},
		{"AES exportable", aesTemplate(make([]byte, 16), ck.Bool(ck.CKA_SENSITIVE, false), ck.Bool(ck.CKA_EXTRACTABLE, true)), []ck.AttributeType{ck.CKA_VALUE}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := mustCreate(t, tok, User, tc.tmpl)
			types := append([]ck.AttributeType{ck.CKA_LABEL, ck.CKA_CERTIFICATE_TYPE}, tc.secret...)
			types = append(types, ck.CKA_KEY_TYPE)
			res, err := tok.GetAttributes(User, h, types)
			require.NoError(t, err)
			require.Len(t, res, len(types))
			assert.Equal(t, ck.CKR_OK, res[0].RV)
			assert.Equal(t, []byte{}, res[0].Value)
			assert.Equal(t, ck.CKR_ATTRIBUTE_TYPE_INVALID, res[1].RV)
			assert.Nil(t, res[1].Value)
			for _, r := range res[2 : len(res)-1] {
				if tc.readable {
					assert.Equal(t, ck.CKR_OK, r.RV, "%v", r.Type)
					assert.NotEmpty(t, r.Value)
				} else {
					assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, r.RV, "%v", r.Type)
					assert.Nil(t, r.Value)
				}
			}
			assert.Equal(t, ck.CKR_OK, res[len(res)-1].RV)

			// Values are copies: changing one changes nothing stored.
			res[len(res)-1].Value[0] ^= 0xFF
			assert.NotEqual(t, res[len(res)-1].Value, attr(t, tok, User, h, ck.CKA_KEY_TYPE))
		})
	}
	// Making an exportable key sensitive hides its value from then on.
	h := mustCreate(t, tok, User, aesTemplate(make([]byte, 16), ck.Bool(ck.CKA_SENSITIVE, false), ck.Bool(ck.CKA_EXTRACTABLE, true)))
	require.NoError(t, tok.SetAttributes(User, h, ck.Template{ck.Bool(ck.CKA_SENSITIVE, true)}))
	res, err := tok.GetAttributes(User, h, []ck.AttributeType{ck.CKA_VALUE, ck.CKA_ALWAYS_SENSITIVE})
	require.NoError(t, err)
	assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, res[0].RV)
	assert.Equal(t, []byte{0}, res[1].Value, "it was not always sensitive")

	_, err = tok.GetAttributes(User, h, make([]ck.AttributeType, maxReadTypes+1))
	requireRV(t, err, ck.CKR_ARGUMENTS_BAD)
}

// TestTemplateValuesAreCopied checks that a caller changing its template
// after Create changes nothing stored.
func TestTemplateValuesAreCopied(t *testing.T) {
	tok := newTestToken(t)
	tmpl := dataTemplate(ck.String(ck.CKA_LABEL, "label"))
	h := mustCreate(t, tok, Public, tmpl)
	for i := range tmpl {
		for j := range tmpl[i].Value {
			tmpl[i].Value[j] ^= 0xFF
		}
	}
	assert.Equal(t, []byte("label"), attr(t, tok, Public, h, ck.CKA_LABEL))
	assert.Equal(t, []byte("some data"), attr(t, tok, Public, h, ck.CKA_VALUE))
}

func TestObjectLimit(t *testing.T) {
	tok := newTestToken(t)
	// Fill the table directly: creating 65536 objects one by one would only
	// slow the test down.
	filler := &object{}
	for i := range maxObjects - 1 {
		tok.objects[Handle(1<<40+i)] = filler
	}
	mustCreate(t, tok, Public, dataTemplate())
	_, err := tok.Create(Public, dataTemplate())
	requireRV(t, err, ck.CKR_DEVICE_MEMORY)
	_, _, err = tok.GenerateKeyPair(User, mechEdGen, ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, ed25519Params)}, nil)
	requireRV(t, err, ck.CKR_DEVICE_MEMORY)
	assert.Equal(t, maxObjects, tok.Info().ObjectCount)
}

func TestAccessString(t *testing.T) {
	assert.Equal(t, "Public", Public.String())
	assert.Equal(t, "User", User.String())
	assert.Equal(t, "SO", SO.String())
	assert.Equal(t, "Access(7)", Access(7).String())
}

func TestEmptyPublicKeyInfoIsDerived(t *testing.T) {
	tok := newTestToken(t)
	k := mustEC(t)
	h := mustCreate(t, tok, User, ecPubTemplate(&k.PublicKey, ck.Bytes(ck.CKA_PUBLIC_KEY_INFO, nil)))
	assert.True(t, k.PublicKey.Equal(publicFromToken(t, tok, User, h)))
}
