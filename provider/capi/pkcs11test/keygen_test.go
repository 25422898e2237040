package pkcs11test

import (
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkSecretKey checks what PKCS#11 2.40 section 4.9 says of a private or
// secret key generated sensitive and unextractable: it was made in the token
// (CKA_LOCAL, CKA_KEY_GEN_MECHANISM), its secret parts can never be read, and
// the attributes that say so are right.
func (f *fixture) checkSecretKey(t *testing.T, sh pkcs11.SessionHandle, h pkcs11.ObjectHandle, class, keyType, genMech uint, secret ...uint) {
	t.Helper()
	assert.Equal(t, class, f.ulongAttr(sh, h, pkcs11.CKA_CLASS), "CKA_CLASS")
	assert.Equal(t, keyType, f.ulongAttr(sh, h, pkcs11.CKA_KEY_TYPE), "CKA_KEY_TYPE")
	assert.True(t, f.boolAttr(sh, h, pkcs11.CKA_TOKEN), "CKA_TOKEN")
	assert.True(t, f.boolAttr(sh, h, pkcs11.CKA_PRIVATE), "CKA_PRIVATE")
	assert.True(t, f.boolAttr(sh, h, pkcs11.CKA_SENSITIVE), "CKA_SENSITIVE")
	assert.True(t, f.boolAttr(sh, h, pkcs11.CKA_ALWAYS_SENSITIVE), "CKA_ALWAYS_SENSITIVE")
	assert.False(t, f.boolAttr(sh, h, pkcs11.CKA_EXTRACTABLE), "CKA_EXTRACTABLE")
	assert.True(t, f.boolAttr(sh, h, pkcs11.CKA_NEVER_EXTRACTABLE), "CKA_NEVER_EXTRACTABLE")
	assert.True(t, f.boolAttr(sh, h, pkcs11.CKA_LOCAL), "CKA_LOCAL")
	assert.Equal(t, genMech, f.ulongAttr(sh, h, pkcs11.CKA_KEY_GEN_MECHANISM), "CKA_KEY_GEN_MECHANISM")
	for _, typ := range secret {
		_, err := f.p.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
		requireRV(t, pkcs11.CKR_ATTRIBUTE_SENSITIVE, err, "attribute %#x", typ)
	}
}

func (f *fixture) checkPublicKey(t *testing.T, sh pkcs11.SessionHandle, h pkcs11.ObjectHandle, keyType, genMech uint) {
	t.Helper()
	assert.Equal(t, uint(pkcs11.CKO_PUBLIC_KEY), f.ulongAttr(sh, h, pkcs11.CKA_CLASS), "CKA_CLASS")
	assert.Equal(t, keyType, f.ulongAttr(sh, h, pkcs11.CKA_KEY_TYPE), "CKA_KEY_TYPE")
	assert.False(t, f.boolAttr(sh, h, pkcs11.CKA_PRIVATE), "CKA_PRIVATE")
	assert.True(t, f.boolAttr(sh, h, pkcs11.CKA_LOCAL), "CKA_LOCAL")
	assert.True(t, f.boolAttr(sh, h, pkcs11.CKA_VERIFY), "CKA_VERIFY")
	assert.Equal(t, genMech, f.ulongAttr(sh, h, pkcs11.CKA_KEY_GEN_MECHANISM), "CKA_KEY_GEN_MECHANISM")
}

func TestGenerateRSA(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	bits := []int{2048, 3072, 4096}
	if testing.Short() {
		bits = bits[:1]
	}
	for _, n := range bits {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			k := f.genRSA(sh, n, fmt.Sprintf("rsa-%d", n))
			f.checkPublicKey(t, sh, k.pub, pkcs11.CKK_RSA, pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN)
			assert.Equal(t, uint(n), f.ulongAttr(sh, k.pub, pkcs11.CKA_MODULUS_BITS))
			pub := k.public.(*rsa.PublicKey)
			assert.Equal(t, n, pub.N.BitLen())
			assert.Equal(t, 65537, pub.E)
			f.checkSecretKey(t, sh, k.priv, pkcs11.CKO_PRIVATE_KEY, pkcs11.CKK_RSA, pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN,
				pkcs11.CKA_PRIVATE_EXPONENT, pkcs11.CKA_PRIME_1, pkcs11.CKA_PRIME_2,
				pkcs11.CKA_EXPONENT_1, pkcs11.CKA_EXPONENT_2, pkcs11.CKA_COEFFICIENT)
			// The public parts of the private key are readable, and agree.
			assert.Equal(t, pub.N.Bytes(), f.attr(sh, k.priv, pkcs11.CKA_MODULUS))
			assert.True(t, f.boolAttr(sh, k.priv, pkcs11.CKA_SIGN))
			assert.True(t, f.boolAttr(sh, k.priv, pkcs11.CKA_DECRYPT))
		})
	}
}

func TestGenerateEC(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		t.Run(c.Params().Name, func(t *testing.T) {
			k := f.genEC(sh, c, "ec-"+c.Params().Name)
			f.checkPublicKey(t, sh, k.pub, pkcs11.CKK_EC, pkcs11.CKM_EC_KEY_PAIR_GEN)
			assert.Equal(t, curveParams(c), f.attr(sh, k.pub, pkcs11.CKA_EC_PARAMS))
			// The private key names its curve too (PKCS#11 2.40 Current
			// Mechanisms: CKA_EC_PARAMS of an EC private key).
			assert.Equal(t, curveParams(c), f.attr(sh, k.priv, pkcs11.CKA_EC_PARAMS))
			f.checkSecretKey(t, sh, k.priv, pkcs11.CKO_PRIVATE_KEY, pkcs11.CKK_EC, pkcs11.CKM_EC_KEY_PAIR_GEN, pkcs11.CKA_VALUE)
			assert.True(t, f.boolAttr(sh, k.priv, pkcs11.CKA_SIGN))
		})
	}
}

func TestGenerateEd25519(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	// PKCS#11 v3.0 Current Mechanisms (Edwards curves): CKA_EC_PARAMS of an
	// Edwards key is the
	// curve's OID or its name as a PrintableString.
	for name, params := range map[string][]byte{"oid": paramsEd, "name": paramsEdName} {
		t.Run(name, func(t *testing.T) {
			k := f.genEd25519(sh, params, "ed25519-"+name)
			f.checkPublicKey(t, sh, k.pub, ckkECEdwards, ckmEdwardsKeyPairGen)
			assert.Equal(t, params, f.attr(sh, k.pub, pkcs11.CKA_EC_PARAMS))
			f.checkSecretKey(t, sh, k.priv, pkcs11.CKO_PRIVATE_KEY, ckkECEdwards, ckmEdwardsKeyPairGen, pkcs11.CKA_VALUE)
		})
	}
}

func TestGenerateAES(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	for _, size := range []int{16, 24, 32} {
		t.Run(fmt.Sprint(size*8), func(t *testing.T) {
			h := f.genAES(sh, size, fmt.Sprintf("aes-%d", size*8))
			f.checkSecretKey(t, sh, h, pkcs11.CKO_SECRET_KEY, pkcs11.CKK_AES, pkcs11.CKM_AES_KEY_GEN, pkcs11.CKA_VALUE)
			assert.Equal(t, uint(size), f.ulongAttr(sh, h, pkcs11.CKA_VALUE_LEN))
			assert.True(t, f.boolAttr(sh, h, pkcs11.CKA_ENCRYPT))
			assert.True(t, f.boolAttr(sh, h, pkcs11.CKA_DECRYPT))
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	f := setup(t)
	pubSession := f.open(true)
	sh := f.open(true)
	f.login(sh)

	rsaPub, rsaPriv := rsaTemplates(2048, "bad")
	ecPub, ecPriv := ecTemplates(pkcs11.CKK_EC, paramsP256, "bad")
	without := func(tmpl []*pkcs11.Attribute, typ uint) []*pkcs11.Attribute {
		var out []*pkcs11.Attribute
		for _, a := range tmpl {
			if a.Type != typ {
				out = append(out, a)
			}
		}
		return out
	}
	with := func(tmpl []*pkcs11.Attribute, a *pkcs11.Attribute) []*pkcs11.Attribute {
		return append(without(tmpl, a.Type), a)
	}

	pairs := []struct {
		name      string
		mech      uint
		pub, priv []*pkcs11.Attribute
		want      uint
	}{
		// Current Mechanisms, RSA key pair generation: CKA_MODULUS_BITS is
		// required.
		{"RSA without modulus bits", pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, without(rsaPub, pkcs11.CKA_MODULUS_BITS), rsaPriv, pkcs11.CKR_TEMPLATE_INCOMPLETE},
		{"RSA 1024", pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, with(rsaPub, pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 1024)), rsaPriv, pkcs11.CKR_KEY_SIZE_RANGE},
		{"RSA 8192", pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, with(rsaPub, pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 8192)), rsaPriv, pkcs11.CKR_KEY_SIZE_RANGE},
		// Current Mechanisms, EC key pair generation: CKA_EC_PARAMS is required.
		{"EC without params", pkcs11.CKM_EC_KEY_PAIR_GEN, without(ecPub, pkcs11.CKA_EC_PARAMS), ecPriv, pkcs11.CKR_TEMPLATE_INCOMPLETE},
		{"EC on secp256k1", pkcs11.CKM_EC_KEY_PAIR_GEN, with(ecPub, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, mustDER(asn1OID(1, 3, 132, 0, 10)))), ecPriv, pkcs11.CKR_CURVE_NOT_SUPPORTED},
		{"EC params not DER", pkcs11.CKM_EC_KEY_PAIR_GEN, with(ecPub, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, []byte{0x06, 0x7f, 1})), ecPriv, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"EC with an Edwards curve", pkcs11.CKM_EC_KEY_PAIR_GEN, with(ecPub, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, paramsEd)), ecPriv, pkcs11.CKR_CURVE_NOT_SUPPORTED},
		// Section 4.1.1: the template contradicts the mechanism.
		{"RSA mechanism, EC key type", pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, with(rsaPub, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC)), rsaPriv, pkcs11.CKR_TEMPLATE_INCONSISTENT},
		{"public template of class secret", pkcs11.CKM_EC_KEY_PAIR_GEN, with(ecPub, pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY)), ecPriv, pkcs11.CKR_TEMPLATE_INCONSISTENT},
		// "Must not be specified when object is generated" (section 4.1.2's
		// footnotes to the attribute tables).
		{"EC point given", pkcs11.CKM_EC_KEY_PAIR_GEN, with(ecPub, pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, mustDER(make([]byte, 65)))), ecPriv, pkcs11.CKR_ATTRIBUTE_READ_ONLY},
		{"private value given", pkcs11.CKM_EC_KEY_PAIR_GEN, ecPub, with(ecPriv, pkcs11.NewAttribute(pkcs11.CKA_VALUE, make([]byte, 32))), pkcs11.CKR_ATTRIBUTE_READ_ONLY},
		{"unknown attribute", pkcs11.CKM_EC_KEY_PAIR_GEN, ecPub, with(ecPriv, pkcs11.NewAttribute(unknownAttribute, []byte{1})), pkcs11.CKR_ATTRIBUTE_TYPE_INVALID},
		{"bad CK_BBOOL", pkcs11.CKM_EC_KEY_PAIR_GEN, ecPub, with(ecPriv, pkcs11.NewAttribute(pkcs11.CKA_SIGN, []byte{7})), pkcs11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"not a key pair mechanism", pkcs11.CKM_AES_KEY_GEN, ecPub, ecPriv, pkcs11.CKR_MECHANISM_INVALID},
		{"unknown mechanism", pkcs11.CKM_DSA_KEY_PAIR_GEN, ecPub, ecPriv, pkcs11.CKR_MECHANISM_INVALID},
	}
	for _, c := range pairs {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := f.p.GenerateKeyPair(sh, mech(c.mech, nil), c.pub, c.priv)
			requireRV(t, c.want, err)
		})
	}

	aes := aesTemplate(32, "bad-aes")
	keys := []struct {
		name string
		mech uint
		tmpl []*pkcs11.Attribute
		want uint
	}{
		{"AES without length", pkcs11.CKM_AES_KEY_GEN, without(aes, pkcs11.CKA_VALUE_LEN), pkcs11.CKR_TEMPLATE_INCOMPLETE},
		{"AES of 20 bytes", pkcs11.CKM_AES_KEY_GEN, with(aes, pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 20)), pkcs11.CKR_KEY_SIZE_RANGE},
		{"AES with a value", pkcs11.CKM_AES_KEY_GEN, with(aes, pkcs11.NewAttribute(pkcs11.CKA_VALUE, make([]byte, 32))), pkcs11.CKR_ATTRIBUTE_READ_ONLY},
		{"AES of key type RSA", pkcs11.CKM_AES_KEY_GEN, with(aes, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA)), pkcs11.CKR_TEMPLATE_INCONSISTENT},
		{"key pair mechanism", pkcs11.CKM_EC_KEY_PAIR_GEN, aes, pkcs11.CKR_MECHANISM_INVALID},
	}
	for _, c := range keys {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.p.GenerateKey(sh, mech(c.mech, nil), c.tmpl)
			requireRV(t, c.want, err)
		})
	}

	// Key generation takes no parameters: one given is invalid.
	_, _, err := f.p.GenerateKeyPair(sh, mech(pkcs11.CKM_EC_KEY_PAIR_GEN, []byte{1, 2, 3, 4, 5, 6, 7, 8}), ecPub, ecPriv)
	requireRV(t, pkcs11.CKR_MECHANISM_PARAM_INVALID, err)

	// Private keys are private objects: without login, none can be made
	// (PKCS#11 2.40 section 5.7).
	require.NoError(t, f.p.Logout(sh))
	_, _, err = f.p.GenerateKeyPair(pubSession, mech(pkcs11.CKM_EC_KEY_PAIR_GEN, nil), ecPub, ecPriv)
	requireRV(t, pkcs11.CKR_USER_NOT_LOGGED_IN, err)
	_, err = f.p.GenerateKey(pubSession, mech(pkcs11.CKM_AES_KEY_GEN, nil), aes)
	requireRV(t, pkcs11.CKR_USER_NOT_LOGGED_IN, err)
}
