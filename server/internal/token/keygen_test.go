package token

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	encasn1 "encoding/asn1"
	"fmt"
	"math/big"
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	mechRSAGen = ck.Mechanism{Type: ck.CKM_RSA_PKCS_KEY_PAIR_GEN}
	mechECGen  = ck.Mechanism{Type: ck.CKM_EC_KEY_PAIR_GEN}
	mechEdGen  = ck.Mechanism{Type: ck.CKM_EC_EDWARDS_KEY_PAIR_GEN}
	mechAESGen = ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}
)

// checkGenerated checks the attributes every generated key pair has.
func checkGenerated(t *testing.T, tok *Token, pub, priv Handle, mech ck.MechanismType, kt ck.KeyType) {
	t.Helper()
	for _, h := range []Handle{pub, priv} {
		assert.True(t, attrBool(t, tok, User, h, ck.CKA_LOCAL))
		assert.Equal(t, uint64(mech), attrULong(t, tok, User, h, ck.CKA_KEY_GEN_MECHANISM))
		assert.Equal(t, uint64(kt), attrULong(t, tok, User, h, ck.CKA_KEY_TYPE))
		assert.True(t, attrBool(t, tok, User, h, ck.CKA_TOKEN))
	}
	assert.Equal(t, uint64(ck.CKO_PUBLIC_KEY), attrULong(t, tok, User, pub, ck.CKA_CLASS))
	assert.Equal(t, uint64(ck.CKO_PRIVATE_KEY), attrULong(t, tok, User, priv, ck.CKA_CLASS))
	assert.False(t, attrBool(t, tok, User, pub, ck.CKA_PRIVATE))
	assert.True(t, attrBool(t, tok, User, priv, ck.CKA_PRIVATE))
	assert.True(t, attrBool(t, tok, User, priv, ck.CKA_ALWAYS_SENSITIVE))
	assert.True(t, attrBool(t, tok, User, priv, ck.CKA_NEVER_EXTRACTABLE))
	assert.Equal(t, attr(t, tok, User, pub, ck.CKA_PUBLIC_KEY_INFO), attr(t, tok, User, priv, ck.CKA_PUBLIC_KEY_INFO))
	assert.Equal(t, []byte("pub-label"), attr(t, tok, User, pub, ck.CKA_LABEL))
	assert.Equal(t, []byte("priv-label"), attr(t, tok, User, priv, ck.CKA_LABEL))
	assert.Equal(t, []byte{0xAA}, attr(t, tok, User, pub, ck.CKA_ID))
	assert.Equal(t, []byte{0xBB}, attr(t, tok, User, priv, ck.CKA_ID))
}

var (
	pubLabels  = []ck.Attribute{ck.String(ck.CKA_LABEL, "pub-label"), ck.Bytes(ck.CKA_ID, []byte{0xAA})}
	privLabels = []ck.Attribute{ck.String(ck.CKA_LABEL, "priv-label"), ck.Bytes(ck.CKA_ID, []byte{0xBB})}
)

func TestGenerateECKeyPairs(t *testing.T) {
	curveName := mustMarshal(encasn1.RawValue{Tag: encasn1.TagPrintableString, Bytes: []byte("edwards25519")})
	tests := []struct {
		name   string
		mech   ck.Mechanism
		params []byte
		kt     ck.KeyType
	}{
		{"P-224", mechECGen, curveOID(elliptic.P224()), ck.CKK_EC},
		{"P-256", mechECGen, curveOID(elliptic.P256()), ck.CKK_EC},
		{"P-384", mechECGen, curveOID(elliptic.P384()), ck.CKK_EC},
		{"P-521", mechECGen, curveOID(elliptic.P521()), ck.CKK_EC},
		{"Ed25519 OID", mechEdGen, ed25519Params, ck.CKK_EC_EDWARDS},
		{"Ed25519 curve name", mechEdGen, curveName, ck.CKK_EC_EDWARDS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := newTestToken(t)
			pubT := withAttrs(ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, tc.params)}, pubLabels...)
			pub, priv, err := tok.GenerateKeyPair(User, tc.mech, pubT, privLabels)
			require.NoError(t, err)
			require.NotEqual(t, pub, priv)
			checkGenerated(t, tok, pub, priv, tc.mech.Type, tc.kt)
			assert.Equal(t, tc.params, attr(t, tok, User, pub, ck.CKA_EC_PARAMS))
			assert.Equal(t, tc.params, attr(t, tok, User, priv, ck.CKA_EC_PARAMS))
			point := attr(t, tok, User, pub, ck.CKA_EC_POINT)
			assert.Equal(t, point, attr(t, tok, User, priv, ck.CKA_EC_POINT), "a private key carries its public point")
			raw, ok := unwrapOctetString(point)
			require.True(t, ok, "CKA_EC_POINT is a DER OCTET STRING")

			msg := digest(crypto.SHA256, "message")
			if tc.kt == ck.CKK_EC_EDWARDS {
				require.Len(t, raw, ed25519.PublicKeySize)
				sig, err := tok.Sign(User, priv, ckEdDSA, msg)
				require.NoError(t, err)
				assert.True(t, ed25519.Verify(ed25519.PublicKey(raw), msg, sig))
				assert.True(t, ed25519.PublicKey(raw).Equal(publicFromToken(t, tok, Public, pub)))
				return
			}
			pk := publicFromToken(t, tok, Public, pub).(*ecdsa.PublicKey)
			parsed, err := ecdsa.ParseUncompressedPublicKey(pk.Curve, raw)
			require.NoError(t, err)
			assert.True(t, pk.Equal(parsed))
			sig, err := tok.Sign(User, priv, ckECDSA, msg)
			require.NoError(t, err)
			assert.True(t, verifyRawECDSA(parsed, msg, sig))
		})
	}
}

func TestGenerateRSA2048(t *testing.T) {
	tok := newTestToken(t)
	pubT := withAttrs(ck.Template{
		ck.ULong(ck.CKA_MODULUS_BITS, 2048),
		ck.Bytes(ck.CKA_PUBLIC_EXPONENT, []byte{0, 1, 0, 1}), // leading zero: the same 65537
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PUBLIC_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_RSA)),
	}, pubLabels...)
	pub, priv, err := tok.GenerateKeyPair(User, mechRSAGen, pubT, privLabels)
	require.NoError(t, err)
	checkGenerated(t, tok, pub, priv, ck.CKM_RSA_PKCS_KEY_PAIR_GEN, ck.CKK_RSA)
	assert.Equal(t, uint64(2048), attrULong(t, tok, User, pub, ck.CKA_MODULUS_BITS))
	n := new(big.Int).SetBytes(attr(t, tok, User, pub, ck.CKA_MODULUS))
	e := new(big.Int).SetBytes(attr(t, tok, User, pub, ck.CKA_PUBLIC_EXPONENT))
	assert.Equal(t, attr(t, tok, User, pub, ck.CKA_MODULUS), attr(t, tok, User, priv, ck.CKA_MODULUS))
	assert.Equal(t, []byte{1, 0, 1}, attr(t, tok, User, priv, ck.CKA_PUBLIC_EXPONENT))
	rsaPub := &rsa.PublicKey{N: n, E: int(e.Int64())}
	assert.True(t, rsaPub.Equal(publicFromToken(t, tok, Public, pub)))
	d := digest(crypto.SHA256, "m")
	sig, err := tok.Sign(User, priv, pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 32), d)
	require.NoError(t, err)
	require.NoError(t, rsa.VerifyPSS(rsaPub, crypto.SHA256, d, sig, &rsa.PSSOptions{SaltLength: 32}))
	res, err := tok.GetAttributes(User, priv, []ck.AttributeType{ck.CKA_PRIVATE_EXPONENT, ck.CKA_PRIME_1, ck.CKA_COEFFICIENT})
	require.NoError(t, err)
	for _, r := range res {
		assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, r.RV)
	}
}

// TestGenerateRSALarge generates one 3072-bit and one 4096-bit key, in
// parallel, and uses each once per mechanism.
func TestGenerateRSALarge(t *testing.T) {
	for _, bits := range []int{3072, 4096} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			t.Parallel()
			tok := newTestToken(t)
			pub, priv, err := tok.GenerateKeyPair(User, mechRSAGen, ck.Template{ck.ULong(ck.CKA_MODULUS_BITS, uint64(bits))}, nil)
			require.NoError(t, err)
			rsaPub := publicFromToken(t, tok, Public, pub).(*rsa.PublicKey)
			require.Equal(t, bits, rsaPub.N.BitLen())

			d := digest(crypto.SHA512, "m")
			sig, err := tok.Sign(User, priv, pss(ck.CKM_SHA512, ck.CKG_MGF1_SHA512, 0), d)
			require.NoError(t, err)
			require.NoError(t, rsa.VerifyPSS(rsaPub, crypto.SHA512, d, sig, nil))
			require.NoError(t, tok.Verify(Public, pub, pss(ck.CKM_SHA512, ck.CKG_MGF1_SHA512, 0), d, sig))

			di := append(append([]byte{}, digestInfoSHA256...), digest(crypto.SHA256, "m")...)
			sig, err = tok.Sign(User, priv, ckRSAPKCS, di)
			require.NoError(t, err)
			require.NoError(t, rsa.VerifyPKCS1v15(rsaPub, crypto.SHA256, digest(crypto.SHA256, "m"), sig))

			opts := &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1, Label: []byte("l")}
			ct, err := rsa.EncryptOAEPWithOptions(rand.Reader, rsaPub, []byte("secret"), opts)
			require.NoError(t, err)
			pt, err := tok.Decrypt(User, priv, oaep(ck.CKM_SHA256, ck.CKG_MGF1_SHA1, []byte("l")), ct)
			require.NoError(t, err)
			assert.Equal(t, []byte("secret"), pt)
		})
	}
}

func TestGenerateAES(t *testing.T) {
	for _, size := range []uint64{16, 24, 32} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			tok := newTestToken(t)
			h, err := tok.GenerateKey(User, mechAESGen, ck.Template{
				ck.ULong(ck.CKA_VALUE_LEN, size), ck.String(ck.CKA_LABEL, "aes"),
				ck.Bool(ck.CKA_SENSITIVE, false), ck.Bool(ck.CKA_EXTRACTABLE, true),
			})
			require.NoError(t, err)
			assert.True(t, attrBool(t, tok, User, h, ck.CKA_LOCAL))
			assert.False(t, attrBool(t, tok, User, h, ck.CKA_ALWAYS_SENSITIVE))
			assert.False(t, attrBool(t, tok, User, h, ck.CKA_NEVER_EXTRACTABLE))
			assert.Equal(t, uint64(ck.CKM_AES_KEY_GEN), attrULong(t, tok, User, h, ck.CKA_KEY_GEN_MECHANISM))
			assert.Equal(t, size, attrULong(t, tok, User, h, ck.CKA_VALUE_LEN))
			key := attr(t, tok, User, h, ck.CKA_VALUE)
			require.Len(t, key, int(size))
			assert.Equal(t, aesKCV(key), attr(t, tok, User, h, ck.CKA_CHECK_VALUE))

			iv := make([]byte, 12)
			ct, err := tok.Encrypt(User, h, gcm(iv, nil, 128), []byte("msg"))
			require.NoError(t, err)
			block, err := aes.NewCipher(key)
			require.NoError(t, err)
			a, err := cipher.NewGCM(block)
			require.NoError(t, err)
			pt, err := a.Open(nil, iv, ct, nil)
			require.NoError(t, err)
			assert.Equal(t, []byte("msg"), pt)
		})
	}
	tok := newTestToken(t)
	h, err := tok.GenerateKey(User, mechAESGen, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 32)})
	require.NoError(t, err)
	assert.True(t, attrBool(t, tok, User, h, ck.CKA_ALWAYS_SENSITIVE))
	assert.True(t, attrBool(t, tok, User, h, ck.CKA_NEVER_EXTRACTABLE))
	res, err := tok.GetAttributes(User, h, []ck.AttributeType{ck.CKA_VALUE})
	require.NoError(t, err)
	assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, res[0].RV)
}

func TestGenerateSensitivityFlags(t *testing.T) {
	tok := newTestToken(t)
	pubT := ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, curveOID(elliptic.P256()))}
	_, priv, err := tok.GenerateKeyPair(User, mechECGen, pubT, ck.Template{ck.Bool(ck.CKA_SENSITIVE, false)})
	require.NoError(t, err)
	assert.False(t, attrBool(t, tok, User, priv, ck.CKA_ALWAYS_SENSITIVE))
	assert.True(t, attrBool(t, tok, User, priv, ck.CKA_NEVER_EXTRACTABLE))
	_, priv, err = tok.GenerateKeyPair(User, mechECGen, pubT, ck.Template{ck.Bool(ck.CKA_EXTRACTABLE, true)})
	require.NoError(t, err)
	assert.True(t, attrBool(t, tok, User, priv, ck.CKA_ALWAYS_SENSITIVE))
	assert.False(t, attrBool(t, tok, User, priv, ck.CKA_NEVER_EXTRACTABLE))
	// A public (non-private) pair may be generated without login, and used
	// without one: CKA_PRIVATE=false makes the private key a public object.
	pub, priv, err := tok.GenerateKeyPair(Public, mechEdGen, ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, ed25519Params)}, ck.Template{ck.Bool(ck.CKA_PRIVATE, false)})
	require.NoError(t, err)
	_, err = tok.Sign(Public, priv, ckEdDSA, []byte("m"))
	require.NoError(t, err)
	require.NoError(t, tok.Destroy(Public, pub))
	require.NoError(t, tok.Destroy(Public, priv))
}

func TestGenerateErrors(t *testing.T) {
	p256 := ck.Bytes(ck.CKA_EC_PARAMS, curveOID(elliptic.P256()))
	bits := ck.ULong(ck.CKA_MODULUS_BITS, 2048)
	tests := []struct {
		name      string
		acc       Access
		mech      ck.Mechanism
		pub, priv ck.Template
		rv        ck.ReturnValue
	}{
		{"RSA without modulus bits", User, mechRSAGen, nil, nil, ck.CKR_TEMPLATE_INCOMPLETE},
		{"RSA 1024", User, mechRSAGen, ck.Template{ck.ULong(ck.CKA_MODULUS_BITS, 1024)}, nil, ck.CKR_KEY_SIZE_RANGE},
		{"RSA 2049", User, mechRSAGen, ck.Template{ck.ULong(ck.CKA_MODULUS_BITS, 2049)}, nil, ck.CKR_KEY_SIZE_RANGE},
		{"RSA 8192", User, mechRSAGen, ck.Template{ck.ULong(ck.CKA_MODULUS_BITS, 8192)}, nil, ck.CKR_KEY_SIZE_RANGE},
		{"RSA exponent 3", User, mechRSAGen, ck.Template{bits, ck.Bytes(ck.CKA_PUBLIC_EXPONENT, []byte{3})}, nil, ck.CKR_TEMPLATE_INCONSISTENT},
		{"RSA modulus given", User, mechRSAGen, ck.Template{bits, ck.Bytes(ck.CKA_MODULUS, []byte{1})}, nil, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"RSA exponent in private template", User, mechRSAGen, ck.Template{bits}, ck.Template{ck.Bytes(ck.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"RSA prime given", User, mechRSAGen, ck.Template{bits}, ck.Template{ck.Bytes(ck.CKA_PRIME_1, []byte{7})}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"modulus bits in private template", User, mechRSAGen, ck.Template{bits}, ck.Template{bits}, ck.CKR_TEMPLATE_INCONSISTENT},
		{"public key info given", User, mechRSAGen, ck.Template{bits, ck.Bytes(ck.CKA_PUBLIC_KEY_INFO, []byte{0x30, 0})}, nil, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"local given", User, mechECGen, ck.Template{p256}, ck.Template{ck.Bool(ck.CKA_LOCAL, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"always sensitive given", User, mechECGen, ck.Template{p256}, ck.Template{ck.Bool(ck.CKA_ALWAYS_SENSITIVE, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"never extractable given", User, mechECGen, ck.Template{p256}, ck.Template{ck.Bool(ck.CKA_NEVER_EXTRACTABLE, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"key gen mechanism given", User, mechECGen, ck.Template{p256, ck.ULong(ck.CKA_KEY_GEN_MECHANISM, 0)}, nil, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"unique ID given", User, mechECGen, ck.Template{p256, ck.String(ck.CKA_UNIQUE_ID, "x")}, nil, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"EC point given", User, mechECGen, ck.Template{p256, ck.Bytes(ck.CKA_EC_POINT, []byte{4, 0})}, nil, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"EC value given", User, mechECGen, ck.Template{p256}, ck.Template{ck.Bytes(ck.CKA_VALUE, []byte{1})}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"EC params in private template", User, mechECGen, ck.Template{p256}, ck.Template{p256}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"EC without params", User, mechECGen, nil, nil, ck.CKR_TEMPLATE_INCOMPLETE},
		{"EC secp256k1", User, mechECGen, ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, mustMarshal(encasn1.ObjectIdentifier{1, 3, 132, 0, 10}))}, nil, ck.CKR_CURVE_NOT_SUPPORTED},
		{"EC with Ed25519 params", User, mechECGen, ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, ed25519Params)}, nil, ck.CKR_CURVE_NOT_SUPPORTED},
		{"Edwards with P-256 params", User, mechEdGen, ck.Template{p256}, nil, ck.CKR_CURVE_NOT_SUPPORTED},
		{"Edwards without params", User, mechEdGen, nil, nil, ck.CKR_TEMPLATE_INCOMPLETE},
		{"EC params not DER", User, mechECGen, ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, []byte("prime256v1"))}, nil, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"public class is private", User, mechECGen, ck.Template{p256, ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY))}, nil, ck.CKR_TEMPLATE_INCONSISTENT},
		{"private class is secret", User, mechECGen, ck.Template{p256}, ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY))}, ck.CKR_TEMPLATE_INCONSISTENT},
		{"key type contradicts mechanism", User, mechECGen, ck.Template{p256, ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_RSA))}, nil, ck.CKR_TEMPLATE_INCONSISTENT},
		{"private attribute in public template", User, mechECGen, ck.Template{p256, ck.Bool(ck.CKA_SIGN, true)}, nil, ck.CKR_TEMPLATE_INCONSISTENT},
		{"public attribute in private template", User, mechECGen, ck.Template{p256}, ck.Template{ck.Bool(ck.CKA_VERIFY, true)}, ck.CKR_TEMPLATE_INCONSISTENT},
		{"unknown attribute", User, mechECGen, ck.Template{p256, {Type: ck.CKA_VENDOR_DEFINED + 1, Value: []byte{1}}}, nil, ck.CKR_ATTRIBUTE_TYPE_INVALID},
		{"private key without login", Public, mechECGen, ck.Template{p256}, nil, ck.CKR_USER_NOT_LOGGED_IN},
		{"private key as SO", SO, mechECGen, ck.Template{p256}, nil, ck.CKR_USER_NOT_LOGGED_IN},
		{"private public key without login", Public, mechECGen, ck.Template{p256, ck.Bool(ck.CKA_PRIVATE, true)}, ck.Template{ck.Bool(ck.CKA_PRIVATE, false)}, ck.CKR_USER_NOT_LOGGED_IN},
		{"not a key pair mechanism", User, mechAESGen, ck.Template{p256}, nil, ck.CKR_MECHANISM_INVALID},
		{"signature mechanism", User, ckECDSA, ck.Template{p256}, nil, ck.CKR_MECHANISM_INVALID},
		{"mechanism with parameters", User, ck.Mechanism{Type: ck.CKM_EC_KEY_PAIR_GEN, GCM: &ck.GCMParams{}}, ck.Template{p256}, nil, ck.CKR_MECHANISM_PARAM_INVALID},
		{"always authenticate", User, mechECGen, ck.Template{p256}, ck.Template{ck.Bool(ck.CKA_ALWAYS_AUTHENTICATE, true)}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := newTestToken(t)
			pub, priv, err := tok.GenerateKeyPair(tc.acc, tc.mech, tc.pub, tc.priv)
			requireRV(t, err, tc.rv)
			assert.Zero(t, pub)
			assert.Zero(t, priv)
			assert.Zero(t, tok.Info().ObjectCount)
		})
	}

	aesTests := []struct {
		name string
		acc  Access
		mech ck.Mechanism
		tmpl ck.Template
		rv   ck.ReturnValue
	}{
		{"no length", User, mechAESGen, nil, ck.CKR_TEMPLATE_INCOMPLETE},
		{"length 20", User, mechAESGen, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 20)}, ck.CKR_KEY_SIZE_RANGE},
		{"length 0", User, mechAESGen, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 0)}, ck.CKR_KEY_SIZE_RANGE},
		{"value given", User, mechAESGen, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 16), ck.Bytes(ck.CKA_VALUE, make([]byte, 16))}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"check value given", User, mechAESGen, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 16), ck.Bytes(ck.CKA_CHECK_VALUE, make([]byte, 3))}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"class contradicts", User, mechAESGen, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 16), ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PUBLIC_KEY))}, ck.CKR_TEMPLATE_INCONSISTENT},
		{"key type contradicts", User, mechAESGen, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 16), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_DES3))}, ck.CKR_TEMPLATE_INCONSISTENT},
		{"key pair mechanism", User, mechECGen, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 16)}, ck.CKR_MECHANISM_INVALID},
		{"without login", Public, mechAESGen, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 16)}, ck.CKR_USER_NOT_LOGGED_IN},
		{"with parameters", User, ck.Mechanism{Type: ck.CKM_AES_KEY_GEN, PSS: &ck.PSSParams{}}, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 16)}, ck.CKR_MECHANISM_PARAM_INVALID},
		{"RSA attribute", User, mechAESGen, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 16), ck.Bytes(ck.CKA_MODULUS, []byte{1})}, ck.CKR_TEMPLATE_INCONSISTENT},
	}
	for _, tc := range aesTests {
		t.Run("AES "+tc.name, func(t *testing.T) {
			tok := newTestToken(t)
			h, err := tok.GenerateKey(tc.acc, tc.mech, tc.tmpl)
			requireRV(t, err, tc.rv)
			assert.Zero(t, h)
			assert.Zero(t, tok.Info().ObjectCount)
		})
	}
}

// TestLegacyRSA1024: 1024-bit RSA keys are refused unless the partition
// allows them; where it does, they are generated, imported and used.
func TestLegacyRSA1024(t *testing.T) {
	legacy, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	pubT := withAttrs(ck.Template{ck.ULong(ck.CKA_MODULUS_BITS, 1024)}, pubLabels...)

	strict := newTestToken(t)
	assert.Equal(t, 2048, strict.Info().MinRSABits)
	_, _, err = strict.GenerateKeyPair(User, mechRSAGen, pubT, privLabels)
	requireRV(t, err, ck.CKR_KEY_SIZE_RANGE)
	_, err = strict.Create(User, rsaPrivTemplate(legacy))
	requireRV(t, err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	_, err = strict.Create(User, rsaPubTemplate(&legacy.PublicKey))
	requireRV(t, err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	assert.Zero(t, strict.Info().ObjectCount)

	tok, err := New(Config{Name: "legacy", ID: 8, UserPIN: testUserPIN, SOPIN: testSOPIN, AllowRSA1024: true})
	require.NoError(t, err)
	assert.Equal(t, 1024, tok.Info().MinRSABits)
	pub, priv, err := tok.GenerateKeyPair(User, mechRSAGen, pubT, privLabels)
	require.NoError(t, err)
	pk := publicFromToken(t, tok, Public, pub).(*rsa.PublicKey)
	assert.Equal(t, 1024, pk.N.BitLen())
	msg := digest(crypto.SHA256, "legacy")
	sig, err := tok.Sign(User, priv, ck.Mechanism{Type: ck.CKM_RSA_PKCS}, append(append([]byte{}, digestInfoSHA256...), msg...))
	require.NoError(t, err)
	assert.NoError(t, rsa.VerifyPKCS1v15(pk, crypto.SHA256, msg, sig))

	imported := mustCreate(t, tok, User, rsaPrivTemplate(legacy))
	sig, err = tok.Sign(User, imported, ck.Mechanism{Type: ck.CKM_RSA_PKCS}, append(append([]byte{}, digestInfoSHA256...), msg...))
	require.NoError(t, err)
	assert.NoError(t, rsa.VerifyPKCS1v15(&legacy.PublicKey, crypto.SHA256, msg, sig))
	// Still nothing under 1024 bits, nor odd sizes generated.
	_, _, err = tok.GenerateKeyPair(User, mechRSAGen, withAttrs(ck.Template{ck.ULong(ck.CKA_MODULUS_BITS, 1536)}, pubLabels...), privLabels)
	requireRV(t, err, ck.CKR_KEY_SIZE_RANGE)
}
