package pkcs11test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/testenv"
)

// TestP224: an EC key on P-224 is generated and signs with CKM_ECDSA and
// CKM_ECDSA_SHA256; the standard library verifies both signatures.
func TestP224(t *testing.T) {
	bothModules(t, func(t *testing.T, f *fixture) {
		sh := f.userSession()
		info, err := f.p.GetMechanismInfo(f.slot, mech(pkcs11.CKM_EC_KEY_PAIR_GEN, nil))
		require.NoError(t, err)
		assert.LessOrEqual(t, info.MinKeySize, uint(224))
		k := f.genEC(sh, elliptic.P224(), "p224")
		pub := k.public.(*ecdsa.PublicKey)
		msg := []byte("signed on P-224")
		digest := sha256.Sum256(msg)
		for _, m := range []struct {
			mech uint
			data []byte
		}{{pkcs11.CKM_ECDSA, digest[:]}, {pkcs11.CKM_ECDSA_SHA256, msg}} {
			if !f.hasMechanism(m.mech) {
				continue // SoftHSM2 2.6 offers CKM_ECDSA, not CKM_ECDSA_SHA256
			}
			sig := f.signOnce(sh, m.mech, nil, k.priv, m.data)
			require.Len(t, sig, 56, "r||s of 28 bytes each")
			r, s := new(big.Int).SetBytes(sig[:28]), new(big.Int).SetBytes(sig[28:])
			assert.True(t, ecdsa.Verify(pub, digest[:], r, s), "mechanism %#x", m.mech)
		}
	})
}

// TestRSA1024: RSA keys under 2048 bits are refused by default; a partition
// configured for legacy keys says so in C_GetMechanismInfo and generates,
// signs and decrypts with 1024-bit keys.
func TestRSA1024(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		f := setup(t)
		sh := f.userSession()
		info, err := f.p.GetMechanismInfo(f.slot, mech(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil))
		require.NoError(t, err)
		assert.Equal(t, uint(2048), info.MinKeySize)
		pubT, privT := rsaTemplates(1024, "legacy")
		_, _, err = f.p.GenerateKeyPair(sh, mech(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil), pubT, privT)
		requireRV(t, pkcs11.CKR_KEY_SIZE_RANGE, err)
	})
	t.Run("allowed", func(t *testing.T) {
		f := setup(t, testenv.WithRSA1024())
		sh := f.userSession()
		for _, m := range []uint{pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, pkcs11.CKM_RSA_PKCS, pkcs11.CKM_SHA256_RSA_PKCS, pkcs11.CKM_RSA_PKCS_OAEP} {
			info, err := f.p.GetMechanismInfo(f.slot, mech(m, nil))
			require.NoError(t, err)
			assert.Equal(t, uint(1024), info.MinKeySize, "mechanism %#x", m)
		}
		k := f.genRSA(sh, 1024, "legacy")
		pub := k.public.(*rsa.PublicKey)
		require.Equal(t, 1024, pub.N.BitLen())
		msg := []byte("legacy signature")
		sig := f.signOnce(sh, pkcs11.CKM_SHA256_RSA_PKCS, nil, k.priv, msg)
		digest := sha256.Sum256(msg)
		assert.NoError(t, rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig))
	})
}

// TestAbsentMechanisms: DES, 3DES and DSA are left out on purpose; every
// call that names one answers CKR_MECHANISM_INVALID, as for any mechanism
// the token does not have.
func TestAbsentMechanisms(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	ec := f.genEC(sh, elliptic.P256(), "absent")
	aes := f.genAES(sh, 32, "absent")
	list, err := f.p.GetMechanismList(f.slot)
	require.NoError(t, err)
	absent := []uint{
		pkcs11.CKM_DES_KEY_GEN, pkcs11.CKM_DES_ECB, pkcs11.CKM_DES_CBC, pkcs11.CKM_DES_CBC_PAD,
		pkcs11.CKM_DES3_KEY_GEN, pkcs11.CKM_DES3_ECB, pkcs11.CKM_DES3_CBC, pkcs11.CKM_DES3_CBC_PAD,
		pkcs11.CKM_DSA_KEY_PAIR_GEN, pkcs11.CKM_DSA, pkcs11.CKM_DSA_SHA1, pkcs11.CKM_DSA_SHA256,
	}
	for _, m := range absent {
		for _, l := range list {
			assert.NotEqual(t, m, l.Mechanism, "C_GetMechanismList lists %#x", m)
		}
		_, err := f.p.GetMechanismInfo(f.slot, mech(m, nil))
		requireRV(t, pkcs11.CKR_MECHANISM_INVALID, err, "C_GetMechanismInfo(%#x)", m)
	}
	requireRV(t, pkcs11.CKR_MECHANISM_INVALID, f.p.SignInit(sh, mech(pkcs11.CKM_DSA_SHA1, nil), ec.priv))
	requireRV(t, pkcs11.CKR_MECHANISM_INVALID, f.p.EncryptInit(sh, mech(pkcs11.CKM_DES3_CBC, make([]byte, 8)), aes))
	_, err = f.p.GenerateKey(sh, mech(pkcs11.CKM_DES3_KEY_GEN, nil), []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
	requireRV(t, pkcs11.CKR_MECHANISM_INVALID, err)
	_, _, err = f.p.GenerateKeyPair(sh, mech(pkcs11.CKM_DSA_KEY_PAIR_GEN, nil),
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)}, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
	requireRV(t, pkcs11.CKR_MECHANISM_INVALID, err)
}
