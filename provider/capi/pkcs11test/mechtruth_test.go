package pkcs11test

import (
	"bytes"
	"crypto/elliptic"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exercise says how to use one mechanism: the key family it needs, its
// parameters and the input its sign or encrypt operation takes.
type exercise struct {
	family string // "RSA", "EC", "Ed", "AES"; "" for digests
	param  func() any
	input  []byte
	hash   func() hash.Hash // digests: the standard library's
}

var digest32 = bytes.Repeat([]byte{0x5a}, 32)

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
	pkcs11.CKM_SHA1_RSA_PKCS:       {family: "RSA", input: []byte("message")},
	pkcs11.CKM_SHA224_RSA_PKCS:     {family: "RSA", input: []byte("message")},
	pkcs11.CKM_SHA256_RSA_PKCS:     {family: "RSA", input: []byte("message")},
	pkcs11.CKM_SHA384_RSA_PKCS:     {family: "RSA", input: []byte("message")},
	pkcs11.CKM_SHA512_RSA_PKCS:     {family: "RSA", input: []byte("message")},
	pkcs11.CKM_SHA1_RSA_PKCS_PSS:   {family: "RSA", param: pss(pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1), input: []byte("message")},
	pkcs11.CKM_SHA224_RSA_PKCS_PSS: {family: "RSA", param: pss(pkcs11.CKM_SHA224, pkcs11.CKG_MGF1_SHA224), input: []byte("message")},
	pkcs11.CKM_SHA256_RSA_PKCS_PSS: {family: "RSA", param: pss(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256), input: []byte("message")},
	pkcs11.CKM_SHA384_RSA_PKCS_PSS: {family: "RSA", param: pss(pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384), input: []byte("message")},
	pkcs11.CKM_SHA512_RSA_PKCS_PSS: {family: "RSA", param: pss(pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512), input: []byte("message")},
	pkcs11.CKM_ECDSA:               {family: "EC", input: digest32},
	pkcs11.CKM_ECDSA_SHA1:          {family: "EC", input: []byte("message")},
	pkcs11.CKM_ECDSA_SHA224:        {family: "EC", input: []byte("message")},
	pkcs11.CKM_ECDSA_SHA256:        {family: "EC", input: []byte("message")},
	pkcs11.CKM_ECDSA_SHA384:        {family: "EC", input: []byte("message")},
	pkcs11.CKM_ECDSA_SHA512:        {family: "EC", input: []byte("message")},
	ckmEdDSA:                       {family: "Ed", input: []byte("message")},
	pkcs11.CKM_AES_GCM:             {family: "AES", param: func() any { return pkcs11.NewGCMParams(make([]byte, 12), nil, 128) }, input: []byte("plaintext")},
	pkcs11.CKM_SHA_1:               {hash: sha1.New},
	pkcs11.CKM_SHA224:              {hash: sha256.New224},
	pkcs11.CKM_SHA256:              {hash: sha256.New},
	pkcs11.CKM_SHA384:              {hash: sha512.New384},
	pkcs11.CKM_SHA512:              {hash: sha512.New},
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
		k = ks.f.genRSA(ks.sh, int(size), name)
	case "EC":
		curves := map[uint]elliptic.Curve{224: elliptic.P224(), 256: elliptic.P256(), 384: elliptic.P384(), 521: elliptic.P521()}
		c, ok := curves[size]
		require.True(t, ok, "no curve of %d bits", size)
		k = ks.f.genEC(ks.sh, c, name)
	case "Ed":
		require.Equal(t, uint(255), size)
		k = ks.f.genEd25519(ks.sh, paramsEd, name)
	case "AES":
		h := ks.f.genAES(ks.sh, int(size), name)
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
	ks := &keySet{f: f, sh: sh, made: map[string]keyPair{}}
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
				checkRefused(t, f, sh, m, nil, info.Flags, keyPair{})
				return
			}
			require.NotZero(t, info.MaxKeySize, "a key mechanism reports its key sizes")
			for _, size := range []uint{info.MinKeySize, info.MaxKeySize} {
				if info.Flags&(pkcs11.CKF_GENERATE_KEY_PAIR|pkcs11.CKF_GENERATE) != 0 {
					// keySet generates through this very mechanism.
					ks.key(t, ex.family, size)
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
				checkRefused(t, f, sh, m, param, info.Flags, k)
			}
		})
	}
}

// checkRefused checks that the operations info's flags do not claim are
// refused as an unknown mechanism would be.
func checkRefused(t *testing.T, f *fixture, sh pkcs11.SessionHandle, m uint, param any, flags uint, k keyPair) {
	t.Helper()
	if k.priv == 0 {
		// A digest: no key, so only key operations are asked, with some
		// key of the session.
		k = keyPair{pub: 0x7ffffff7, priv: 0x7ffffff7}
	}
	if flags&pkcs11.CKF_SIGN == 0 && k.pub != 0x7ffffff7 {
		requireRV(t, pkcs11.CKR_MECHANISM_INVALID, f.p.SignInit(sh, mech(m, param), k.priv), "C_SignInit(%#x), not claimed", m)
	}
	if flags&pkcs11.CKF_ENCRYPT == 0 && k.pub != 0x7ffffff7 {
		requireRV(t, pkcs11.CKR_MECHANISM_INVALID, f.p.EncryptInit(sh, mech(m, param), k.pub), "C_EncryptInit(%#x), not claimed", m)
	}
	if flags&pkcs11.CKF_DIGEST == 0 {
		requireRV(t, pkcs11.CKR_MECHANISM_INVALID, f.p.DigestInit(sh, mech(m, param)), "C_DigestInit(%#x), not claimed", m)
	}
}
