package pkcs11test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"fmt"
	"hash"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/provider/capi/internal/rawp11"
)

// exercise says how to use one mechanism: the key family it needs, its
// parameters and the input its sign or encrypt operation takes.
type exercise struct {
	family string // "RSA", "EC", "Ed", "AES", "generic", "ML-DSA", "ML-KEM"; "" for digests
	param  func() any
	input  []byte
	hash   func() hash.Hash // digests: the standard library's
	// wrapLen is the length of the secret key a wrap mechanism wraps: 32
	// bytes when zero.
	wrapLen int
}

var (
	digest32 = bytes.Repeat([]byte{0x5a}, 32)
	// block is one AES block, input for the modes without padding.
	block = []byte("sixteen byte msg")
	iv16  = bytes.Repeat([]byte{0xa5}, 16)
)

// exercises covers every mechanism the library lists. A mechanism without
// one fails TestMechanismInfoIsTrue: whoever adds a mechanism says here how
// to use it, and the test then holds the library to what it reports.
var exercises = map[uint]exercise{
	pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN: {family: "RSA"},
	pkcs11.CKM_EC_KEY_PAIR_GEN:       {family: "EC"},
	ckmEdwardsKeyPairGen:             {family: "Ed"},
	pkcs11.CKM_AES_KEY_GEN:           {family: "AES"},
	pkcs11.CKM_RSA_PKCS:              {family: "RSA", input: append(digestInfoPrefix(), digest32...)},
	pkcs11.CKM_RSA_PKCS_PSS:          {family: "RSA", param: pss(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256), input: digest32},
	pkcs11.CKM_RSA_PKCS_OAEP: {family: "RSA", param: func() any {
		return pkcs11.NewOAEPParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, pkcs11.CKZ_DATA_SPECIFIED, nil)
	}, input: []byte("secret")},
	pkcs11.CKM_SHA1_RSA_PKCS:          {family: "RSA", input: []byte("message")},
	pkcs11.CKM_SHA224_RSA_PKCS:        {family: "RSA", input: []byte("message")},
	pkcs11.CKM_SHA256_RSA_PKCS:        {family: "RSA", input: []byte("message")},
	pkcs11.CKM_SHA384_RSA_PKCS:        {family: "RSA", input: []byte("message")},
	pkcs11.CKM_SHA512_RSA_PKCS:        {family: "RSA", input: []byte("message")},
	pkcs11.CKM_SHA1_RSA_PKCS_PSS:      {family: "RSA", param: pss(pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1), input: []byte("message")},
	pkcs11.CKM_SHA224_RSA_PKCS_PSS:    {family: "RSA", param: pss(pkcs11.CKM_SHA224, pkcs11.CKG_MGF1_SHA224), input: []byte("message")},
	pkcs11.CKM_SHA256_RSA_PKCS_PSS:    {family: "RSA", param: pss(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256), input: []byte("message")},
	pkcs11.CKM_SHA384_RSA_PKCS_PSS:    {family: "RSA", param: pss(pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384), input: []byte("message")},
	pkcs11.CKM_SHA512_RSA_PKCS_PSS:    {family: "RSA", param: pss(pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512), input: []byte("message")},
	pkcs11.CKM_ECDSA:                  {family: "EC", input: digest32},
	pkcs11.CKM_ECDSA_SHA1:             {family: "EC", input: []byte("message")},
	pkcs11.CKM_ECDSA_SHA224:           {family: "EC", input: []byte("message")},
	pkcs11.CKM_ECDSA_SHA256:           {family: "EC", input: []byte("message")},
	pkcs11.CKM_ECDSA_SHA384:           {family: "EC", input: []byte("message")},
	pkcs11.CKM_ECDSA_SHA512:           {family: "EC", input: []byte("message")},
	ckmEdDSA:                          {family: "Ed", input: []byte("message")},
	pkcs11.CKM_AES_GCM:                {family: "AES", param: func() any { return pkcs11.NewGCMParams(make([]byte, 12), nil, 128) }, input: []byte("plaintext")},
	pkcs11.CKM_AES_ECB:                {family: "AES", input: block},
	pkcs11.CKM_AES_CBC:                {family: "AES", param: func() any { return iv16 }, input: block},
	pkcs11.CKM_AES_CBC_PAD:            {family: "AES", param: func() any { return iv16 }, input: []byte("plaintext")},
	pkcs11.CKM_AES_CTR:                {family: "AES", param: func() any { return ctrParams(128, iv16) }, input: []byte("plaintext")},
	pkcs11.CKM_AES_CMAC:               {family: "AES", input: []byte("message")},
	pkcs11.CKM_AES_KEY_WRAP:           {family: "AES"},
	pkcs11.CKM_AES_KEY_WRAP_PAD:       {family: "AES"},
	ckmAESKeyWrapKWP:                  {family: "AES"},
	pkcs11.CKM_GENERIC_SECRET_KEY_GEN: {family: "generic"},
	pkcs11.CKM_SHA_1_HMAC:             {family: "generic", input: []byte("message")},
	pkcs11.CKM_SHA224_HMAC:            {family: "generic", input: []byte("message")},
	pkcs11.CKM_SHA256_HMAC:            {family: "generic", input: []byte("message")},
	pkcs11.CKM_SHA384_HMAC:            {family: "generic", input: []byte("message")},
	pkcs11.CKM_SHA512_HMAC:            {family: "generic", input: []byte("message")},
	// The peer's public key, the derivation's parameter, is made anew for
	// each key (see checkDerive).
	pkcs11.CKM_ECDH1_DERIVE:          {family: "EC"},
	pkcs11.CKM_ECDH1_COFACTOR_DERIVE: {family: "EC"},
	ckmMLDSAKeyPairGen:               {family: "ML-DSA"},
	ckmMLDSA:                         {family: "ML-DSA", input: []byte("message")},
	ckmMLKEMKeyPairGen:               {family: "ML-KEM"},
	ckmMLKEM:                         {family: "ML-KEM"},
	pkcs11.CKM_SHA_1:                 {hash: sha1.New},
	pkcs11.CKM_SHA224:                {hash: sha256.New224},
	pkcs11.CKM_SHA256:                {hash: sha256.New},
	pkcs11.CKM_SHA384:                {hash: sha512.New384},
	pkcs11.CKM_SHA512:                {hash: sha512.New},
}

func pss(h, mgf uint) func() any {
	return func() any { return pkcs11.NewPSSParams(h, mgf, 32) }
}

func digestInfoPrefix() []byte {
	return []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
}

// keySet makes and keeps the keys the test needs, one per family and size,
// through the library's own key generation.
type keySet struct {
	f    *fixture
	sh   pkcs11.SessionHandle
	made map[string]keyPair
	// targets are the keys wrap mechanisms wrap, by length.
	targets map[int]pkcs11.ObjectHandle
}

// wrapTarget returns an extractable generic secret of n bytes and its value.
func (ks *keySet) wrapTarget(t *testing.T, n int) (pkcs11.ObjectHandle, []byte) {
	t.Helper()
	value := bytes.Repeat([]byte{0x3c}, n)
	if h, ok := ks.targets[n]; ok {
		return h, value
	}
	h, err := ks.f.p.CreateObject(ks.sh, override(unwrapTemplate(pkcs11.CKK_GENERIC_SECRET), []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
	}))
	require.NoError(t, err)
	ks.targets[n] = h
	return h, value
}

func (ks *keySet) key(t *testing.T, family string, size uint) keyPair {
	t.Helper()
	name := fmt.Sprintf("%s %d", family, size)
	if k, ok := ks.made[name]; ok {
		return k
	}
	var k keyPair
	switch family {
	case "RSA":
		// Every use the RSA mechanisms may claim, wrapping included.
		pubT, privT := rsaTemplates(int(size), name, pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true))
		pubT = override(pubT, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_WRAP, true)})
		pub, priv, err := ks.f.p.GenerateKeyPair(ks.sh, mech(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil), pubT, privT)
		require.NoError(t, err, "C_GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN, %d bits)", size)
		k = keyPair{pub: pub, priv: priv}
	case "EC":
		curves := map[uint]elliptic.Curve{224: elliptic.P224(), 256: elliptic.P256(), 384: elliptic.P384(), 521: elliptic.P521()}
		c, ok := curves[size]
		require.True(t, ok, "no curve of %d bits", size)
		k = ks.f.genEC(ks.sh, c, name, pkcs11.NewAttribute(pkcs11.CKA_DERIVE, true))
	case "Ed":
		require.Equal(t, uint(255), size)
		k = ks.f.genEd25519(ks.sh, paramsEd, name)
	case "AES":
		h := ks.f.genAES(ks.sh, int(size), name, pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, true), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true))
		k = keyPair{pub: h, priv: h}
	case "ML-DSA", "ML-KEM":
		// Post-quantum keys are counted by their public key's bytes.
		k = ks.f.genPQ(ks.sh, pqParamSet(t, family, size), name)
	case "generic":
		// Generic secrets are counted in bits, made in bytes.
		require.Zero(t, size%8, "a generic secret of %d bits", size)
		h, err := ks.f.p.GenerateKey(ks.sh, mech(pkcs11.CKM_GENERIC_SECRET_KEY_GEN, nil), []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, size/8),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		})
		require.NoError(t, err, "C_GenerateKey(CKM_GENERIC_SECRET_KEY_GEN, %d bits)", size)
		k = keyPair{pub: h, priv: h}
	default:
		t.Fatalf("no key family %q", family)
	}
	ks.made[name] = k
	return k
}

// TestMechanismInfoIsTrue holds C_GetMechanismInfo to its word: for every
// mechanism listed, every operation its flags claim works with a key of the
// smallest and of the largest size it reports (key generation included, at
// both ends), and every operation they do not claim is refused with
// CKR_MECHANISM_INVALID.
func TestMechanismInfoIsTrue(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	ks := &keySet{f: f, sh: sh, made: map[string]keyPair{}, targets: map[int]pkcs11.ObjectHandle{}}
	list, err := f.p.GetMechanismList(f.slot)
	require.NoError(t, err)
	for _, lm := range list {
		m := lm.Mechanism
		t.Run(fmt.Sprintf("%#x", m), func(t *testing.T) {
			ex, ok := exercises[m]
			require.True(t, ok, "mechanism %#x is listed but has no exercise in mechtruth_test.go", m)
			info, err := f.p.GetMechanismInfo(f.slot, mech(m, nil))
			require.NoError(t, err)
			if ex.hash != nil {
				require.NotZero(t, info.Flags&pkcs11.CKF_DIGEST)
				require.NoError(t, f.p.DigestInit(sh, mech(m, nil)))
				got, err := f.p.Digest(sh, []byte("message"))
				require.NoError(t, err)
				h := ex.hash()
				h.Write([]byte("message"))
				assert.Equal(t, h.Sum(nil), got)
				checkRefused(t, f, sh, m, nil, info.Flags, ks.key(t, "AES", 16))
				return
			}
			require.NotZero(t, info.MaxKeySize, "a key mechanism reports its key sizes")
			for _, size := range []uint{info.MinKeySize, info.MaxKeySize} {
				if info.Flags&(pkcs11.CKF_GENERATE_KEY_PAIR|pkcs11.CKF_GENERATE) != 0 {
					// keySet generates through this very mechanism, anew
					// even when another mechanism had it make a key of
					// this family and size before.
					delete(ks.made, fmt.Sprintf("%s %d", ex.family, size))
					checkRefused(t, f, sh, m, nil, info.Flags, ks.key(t, ex.family, size))
					continue
				}
				k := ks.key(t, ex.family, size)
				var param any
				if ex.param != nil {
					param = ex.param()
				}
				if info.Flags&pkcs11.CKF_SIGN != 0 {
					sig := f.signOnce(sh, m, param, k.priv, ex.input)
					if info.Flags&pkcs11.CKF_VERIFY != 0 {
						require.NoError(t, f.p.VerifyInit(sh, mech(m, param), k.pub))
						assert.NoError(t, f.p.Verify(sh, ex.input, sig), "C_Verify(%#x) with a %d key", m, size)
					}
				}
				if info.Flags&pkcs11.CKF_ENCRYPT != 0 {
					require.NoError(t, f.p.EncryptInit(sh, mech(m, param), k.pub), "C_EncryptInit(%#x) with a %d key", m, size)
					ct, err := f.p.Encrypt(sh, ex.input)
					require.NoError(t, err)
					if info.Flags&pkcs11.CKF_DECRYPT != 0 {
						require.NoError(t, f.p.DecryptInit(sh, mech(m, param), k.priv))
						pt, err := f.p.Decrypt(sh, ct)
						require.NoError(t, err)
						assert.Equal(t, ex.input, pt)
					}
				}
				if info.Flags&pkcs11.CKF_WRAP != 0 {
					ks.checkWrap(t, m, ex, param, info.Flags, k, size)
				}
				if info.Flags&pkcs11.CKF_DERIVE != 0 {
					ks.checkDerive(t, m, k, size)
				}
				if info.Flags&ckfEncapsulate != 0 {
					ks.checkKEM(t, m, info.Flags, k, size)
				}
				checkRefused(t, f, sh, m, param, info.Flags, k)
			}
		})
	}
}

// checkWrap wraps a secret key of the key set's with k and, where flags claim
// unwrapping too, unwraps it back and checks its value.
func (ks *keySet) checkWrap(t *testing.T, m uint, ex exercise, param any, flags uint, k keyPair, size uint) {
	t.Helper()
	n := ex.wrapLen
	if n == 0 {
		n = 32
	}
	target, value := ks.wrapTarget(t, n)
	wrapped, err := ks.f.p.WrapKey(ks.sh, mech(m, param), k.pub, target)
	require.NoError(t, err, "C_WrapKey(%#x) with a %d key", m, size)
	if flags&pkcs11.CKF_UNWRAP == 0 {
		return
	}
	h, err := ks.f.p.UnwrapKey(ks.sh, mech(m, param), k.priv, wrapped, unwrapTemplate(pkcs11.CKK_GENERIC_SECRET))
	require.NoError(t, err, "C_UnwrapKey(%#x) with a %d key", m, size)
	assert.Equal(t, value, ks.f.attr(ks.sh, h, pkcs11.CKA_VALUE), "C_UnwrapKey(%#x) gives back the wrapped key", m)
}

// checkDerive agrees on a secret between k, an EC key pair of the token,
// and a peer key of the standard library's, and checks that both sides
// have the same.
func (ks *keySet) checkDerive(t *testing.T, m uint, k keyPair, size uint) {
	t.Helper()
	curves := map[uint]ecdh.Curve{256: ecdh.P256(), 384: ecdh.P384(), 521: ecdh.P521()}
	c, ok := curves[size]
	require.True(t, ok, "crypto/ecdh has no curve of %d bits", size)
	var point []byte
	_, err := asn1.Unmarshal(ks.f.attr(ks.sh, k.pub, pkcs11.CKA_EC_POINT), &point)
	require.NoError(t, err)
	tokenPub, err := c.NewPublicKey(point)
	require.NoError(t, err)
	peer, err := c.GenerateKey(rand.Reader)
	require.NoError(t, err)
	want, err := peer.ECDH(tokenPub)
	require.NoError(t, err)
	params := mech(m, pkcs11.NewECDH1DeriveParams(pkcs11.CKD_NULL, nil, peer.PublicKey().Bytes()))
	h, err := ks.f.p.DeriveKey(ks.sh, params, k.priv, unwrapTemplate(pkcs11.CKK_GENERIC_SECRET))
	require.NoError(t, err, "C_DeriveKey(%#x) with a %d key", m, size)
	assert.Equal(t, want, ks.f.attr(ks.sh, h, pkcs11.CKA_VALUE), "C_DeriveKey(%#x): the peer's shared secret", m)
}

// checkRefused checks that the operations info's flags do not claim are
// refused as an unknown mechanism would be, with k, a key of the
// mechanism's family (for a digest, any key: the mechanism is what is
// refused).
func checkRefused(t *testing.T, f *fixture, sh pkcs11.SessionHandle, m uint, param any, flags uint, k keyPair) {
	t.Helper()
	p, mm := f.p, mech(m, param)
	// The key wraps itself, or its pair's other half: what is refused is
	// the mechanism, whatever the key.
	calls := []struct {
		flag uint
		name string
		call func() error
	}{
		{pkcs11.CKF_SIGN, "C_SignInit", func() error { return p.SignInit(sh, mm, k.priv) }},
		{pkcs11.CKF_VERIFY, "C_VerifyInit", func() error { return p.VerifyInit(sh, mm, k.pub) }},
		{pkcs11.CKF_ENCRYPT, "C_EncryptInit", func() error { return p.EncryptInit(sh, mm, k.pub) }},
		{pkcs11.CKF_DECRYPT, "C_DecryptInit", func() error { return p.DecryptInit(sh, mm, k.priv) }},
		{pkcs11.CKF_DIGEST, "C_DigestInit", func() error { return p.DigestInit(sh, mm) }},
		{pkcs11.CKF_WRAP, "C_WrapKey", func() error { _, err := p.WrapKey(sh, mm, k.pub, k.priv); return err }},
		{pkcs11.CKF_UNWRAP, "C_UnwrapKey", func() error {
			_, err := p.UnwrapKey(sh, mm, k.priv, bytes.Repeat([]byte{1}, 40), unwrapTemplate(pkcs11.CKK_AES))
			return err
		}},
		{pkcs11.CKF_DERIVE, "C_DeriveKey", func() error {
			_, err := p.DeriveKey(sh, mm, k.priv, unwrapTemplate(pkcs11.CKK_GENERIC_SECRET))
			return err
		}},
		{pkcs11.CKF_GENERATE, "C_GenerateKey", func() error {
			_, err := p.GenerateKey(sh, mm, aesTemplate(16, "refused", pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)))
			return err
		}},
		{pkcs11.CKF_GENERATE_KEY_PAIR, "C_GenerateKeyPair", func() error {
			pubT, privT := ecTemplates(pkcs11.CKK_EC, curveParams(elliptic.P256()), "refused")
			_, _, err := p.GenerateKeyPair(sh, mm, pubT, privT)
			return err
		}},
	}
	for _, c := range calls {
		if flags&c.flag == 0 {
			requireRV(t, pkcs11.CKR_MECHANISM_INVALID, c.call(), "%s(%#x), not claimed", c.name, m)
		}
	}
	// The v3.2 functions, through the v3.2 interface.
	i, raw := v32(t), &rawp11.Mechanism{Type: m}
	if p, ok := param.([]byte); ok {
		raw.Param = p
	}
	if flags&ckfEncapsulate == 0 {
		rv, _, _, _, err := i.EncapsulateKey(uint(sh), raw, uint(k.pub), rawTemplate(kemSecretTemplate()), rawp11.Buffer(2048), false)
		require.NoError(t, err)
		requireRawRV(t, pkcs11.CKR_MECHANISM_INVALID, rv, "C_EncapsulateKey(%#x), not claimed", m)
	}
	if flags&ckfDecapsulate == 0 {
		rv, _, err := i.DecapsulateKey(uint(sh), raw, uint(k.priv), rawTemplate(kemSecretTemplate()), rawp11.Bytes(make([]byte, 1088)), false)
		require.NoError(t, err)
		requireRawRV(t, pkcs11.CKR_MECHANISM_INVALID, rv, "C_DecapsulateKey(%#x), not claimed", m)
	}
}

// checkKEM encapsulates to k's public key and, where flags claim
// decapsulation, decapsulates the ciphertext with its private key: both
// sides get the same secret.
func (ks *keySet) checkKEM(t *testing.T, m uint, flags uint, k keyPair, size uint) {
	t.Helper()
	i := v32(t)
	rv, _, ct, key, err := i.EncapsulateKey(uint(ks.sh), &rawp11.Mechanism{Type: m}, uint(k.pub), rawTemplate(kemSecretTemplate()), rawp11.Buffer(4096), false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv, "C_EncapsulateKey(%#x) with a %d key", m, size)
	if flags&ckfDecapsulate == 0 {
		return
	}
	rv, back, err := i.DecapsulateKey(uint(ks.sh), &rawp11.Mechanism{Type: m}, uint(k.priv), rawTemplate(kemSecretTemplate()), rawp11.Bytes(ct), false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv, "C_DecapsulateKey(%#x) with a %d key", m, size)
	assert.Equal(t, ks.f.attr(ks.sh, pkcs11.ObjectHandle(key), pkcs11.CKA_VALUE), ks.f.attr(ks.sh, pkcs11.ObjectHandle(back), pkcs11.CKA_VALUE),
		"C_EncapsulateKey(%#x) and C_DecapsulateKey agree", m)
}
