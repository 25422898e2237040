package pkcs11test

import (
	"crypto/aes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kek imports an AES key-wrapping key.
func (tk *token) kek(value []byte, extra ...*pkcs11.Attribute) pkcs11.ObjectHandle {
	tk.tb.Helper()
	return tk.secret(pkcs11.CKK_AES, value, append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
	}, extra...)...)
}

// extractable imports a generic secret that may be wrapped.
func (tk *token) extractable(value []byte, extra ...*pkcs11.Attribute) pkcs11.ObjectHandle {
	tk.tb.Helper()
	return tk.secret(pkcs11.CKK_GENERIC_SECRET, value, append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
	}, extra...)...)
}

// unwrapTemplate is a session generic secret that may be read back.
func unwrapTemplate(keyType uint) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
	}
}

// TestKeyWrapVectors wraps and unwraps keys with AES key wrap against RFC
// 3394 (section 4) and AES key wrap with padding against RFC 5649 (section
// 6), through C_WrapKey and C_UnwrapKey.
func TestKeyWrapVectors(t *testing.T) {
	cases := []struct {
		name             string
		mech             uint
		kek, key, wanted string
		// whole says the key is whole 8-byte blocks. SoftHSM2 2.6 wraps
		// other keys zero-padded to whole blocks, recording the padded
		// length in RFC 5649's initial value: its output then differs
		// from the RFC's.
		whole bool
	}{
		{"RFC 3394 4.1", pkcs11.CKM_AES_KEY_WRAP, "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF",
			"1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5", true},
		{"RFC 3394 4.3", pkcs11.CKM_AES_KEY_WRAP, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
			"00112233445566778899AABBCCDDEEFF", "64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7", true},
		{"RFC 3394 4.6", pkcs11.CKM_AES_KEY_WRAP, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
			"00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
			"28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21", true},
		{"RFC 5649 6 (20 bytes)", pkcs11.CKM_AES_KEY_WRAP_PAD, "5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8",
			"c37b7e6492584340 bed1220780894115 5068f738", "138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a", false},
		{"RFC 5649 6 (7 bytes)", pkcs11.CKM_AES_KEY_WRAP_PAD, "5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8",
			"466f7250617369", "afbeb0f07dfbf541 9200f2ccb50bb24f", false},
	}
	onTokens(t, func(t *testing.T, tk *token) {
		for _, c := range cases {
			kek := tk.kek(unhex(c.kek))
			key := tk.extractable(unhex(c.key))
			m := mech(c.mech, nil)
			wrapped, err := tk.p.WrapKey(tk.sh, m, kek, key)
			require.NoError(t, err, c.name)
			if tk.name == "softhsm2" && !c.whole {
				assert.NotEqual(t, hex.EncodeToString(unhex(c.wanted)), hex.EncodeToString(wrapped), "%s: SoftHSM2's known departure", c.name)
			} else {
				assert.Equal(t, hex.EncodeToString(unhex(c.wanted)), hex.EncodeToString(wrapped), c.name)
			}

			h, err := tk.p.UnwrapKey(tk.sh, m, kek, unhex(c.wanted), unwrapTemplate(pkcs11.CKK_GENERIC_SECRET))
			require.NoError(t, err, c.name)
			assert.Equal(t, unhex(c.key), tk.value(h), c.name)

			// A wrapped key that does not check out is refused.
			bad := unhex(c.wanted)
			bad[len(bad)-1] ^= 1
			_, err = tk.p.UnwrapKey(tk.sh, m, kek, bad, unwrapTemplate(pkcs11.CKK_GENERIC_SECRET))
			tk.requireSpecRV(t, pkcs11.CKR_WRAPPED_KEY_INVALID, pkcs11.CKR_GENERAL_ERROR, err, c.name)
		}
		// RFC 3394 wraps whole 8-byte blocks only.
		kek := tk.kek(unhex("000102030405060708090A0B0C0D0E0F"))
		odd := tk.extractable(unhex("466f7250617369466f725061736900"))
		_, err := tk.p.WrapKey(tk.sh, mech(pkcs11.CKM_AES_KEY_WRAP, nil), kek, odd)
		tk.requireSpecRV(t, pkcs11.CKR_KEY_SIZE_RANGE, pkcs11.CKR_OK, err, "SoftHSM2 pads the key")
	})
}

// TestWrapAttributes checks the attributes that govern wrapping: the
// wrapping key's CKA_WRAP, the unwrapping key's CKA_UNWRAP, the key's
// CKA_EXTRACTABLE, and CKA_WRAP_WITH_TRUSTED; and that an unwrapped key
// takes the template's attributes and works.
func TestWrapAttributes(t *testing.T) {
	onTokens(t, func(t *testing.T, tk *token) {
		kekValue := make([]byte, 32)
		_, _ = rand.Read(kekValue)
		kek := tk.kek(kekValue)
		noWrap := tk.secret(pkcs11.CKK_AES, kekValue, pkcs11.NewAttribute(pkcs11.CKA_WRAP, false), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false))
		m := mech(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)

		// An AES key, wrapped, unwrapped as a new key that encrypts like it.
		aesValue := unhex("000102030405060708090a0b0c0d0e0f")
		aesKey := tk.secret(pkcs11.CKK_AES, aesValue, pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true), pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true))
		wrapped, err := tk.p.WrapKey(tk.sh, m, kek, aesKey)
		require.NoError(t, err)
		h, err := tk.p.UnwrapKey(tk.sh, m, kek, wrapped, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, "unwrapped"),
		})
		require.NoError(t, err)
		ct, err := tk.encrypt(mech(pkcs11.CKM_AES_ECB, nil), h, unhex("00112233445566778899aabbccddeeff"))
		require.NoError(t, err)
		assert.Equal(t, unhex("69c4e0d86a7b0430d8cdb78070b4c55a"), ct, "FIPS 197 C.1 with the unwrapped key")
		as, err := tk.p.GetAttributeValue(tk.sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil), pkcs11.NewAttribute(pkcs11.CKA_LOCAL, nil),
			pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_SENSITIVE, nil), pkcs11.NewAttribute(pkcs11.CKA_NEVER_EXTRACTABLE, nil),
		})
		require.NoError(t, err)
		assert.Equal(t, "unwrapped", string(as[0].Value))
		for _, a := range as[1:] {
			assert.Equal(t, []byte{0}, a.Value, "attribute %#x of an unwrapped key", a.Type)
		}
		_, err = tk.p.GetAttributeValue(tk.sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
		requireRV(t, pkcs11.CKR_ATTRIBUTE_SENSITIVE, err, "the template made it sensitive")

		// Keys whose attributes forbid it.
		_, err = tk.p.WrapKey(tk.sh, m, noWrap, aesKey)
		requireRV(t, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, err, "wrapping key without CKA_WRAP")
		_, err = tk.p.UnwrapKey(tk.sh, m, noWrap, wrapped, unwrapTemplate(pkcs11.CKK_AES))
		requireRV(t, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, err, "unwrapping key without CKA_UNWRAP")
		fixed := tk.secret(pkcs11.CKK_AES, aesValue, pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false))
		_, err = tk.p.WrapKey(tk.sh, m, kek, fixed)
		requireRV(t, pkcs11.CKR_KEY_UNEXTRACTABLE, err)
		trustedOnly := tk.secret(pkcs11.CKK_AES, aesValue, pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP_WITH_TRUSTED, true))
		_, err = tk.p.WrapKey(tk.sh, m, kek, trustedOnly)
		requireRV(t, pkcs11.CKR_KEY_NOT_WRAPPABLE, err, "CKA_WRAP_WITH_TRUSTED under an untrusted key")

		// The unwrap template must say what the key is.
		_, err = tk.p.UnwrapKey(tk.sh, m, kek, wrapped, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY)})
		requireRV(t, pkcs11.CKR_TEMPLATE_INCOMPLETE, err, "no CKA_KEY_TYPE")
	})
}

// TestWrapRSAOAEP wraps an AES key with an RSA public key (OAEP, SHA-1: what
// SoftHSM2 offers) and unwraps it with the private key.
func TestWrapRSAOAEP(t *testing.T) {
	onTokens(t, func(t *testing.T, tk *token) {
		pubT, privT := rsaTemplates(2048, "oaep-wrap", pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false))
		pubT = override(pubT, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false), pkcs11.NewAttribute(pkcs11.CKA_WRAP, true)})
		privT = override(privT, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true)})
		pub, priv, err := tk.p.GenerateKeyPair(tk.sh, mech(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil), pubT, privT)
		require.NoError(t, err)
		aesValue := make([]byte, 32)
		_, _ = rand.Read(aesValue)
		key := tk.extractable(aesValue)
		oaep := mech(pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.NewOAEPParams(pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1, pkcs11.CKZ_DATA_SPECIFIED, nil))
		wrapped, err := tk.p.WrapKey(tk.sh, oaep, pub, key)
		require.NoError(t, err)
		require.Len(t, wrapped, 256)

		// Unwrapped by the private key; and a key the standard library
		// wrapped with the public key unwraps too.
		h, err := tk.p.UnwrapKey(tk.sh, oaep, priv, wrapped, unwrapTemplate(pkcs11.CKK_GENERIC_SECRET))
		require.NoError(t, err)
		assert.Equal(t, aesValue, tk.value(h))
		as, err := tk.p.GetAttributeValue(tk.sh, pub, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil)})
		require.NoError(t, err)
		stdPub := &rsa.PublicKey{N: bigOf(as[0].Value), E: int(bigOf(as[1].Value).Int64())}
		ours, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, stdPub, aesValue[:aes.BlockSize], nil)
		require.NoError(t, err)
		h, err = tk.p.UnwrapKey(tk.sh, oaep, priv, ours, unwrapTemplate(pkcs11.CKK_GENERIC_SECRET))
		require.NoError(t, err)
		assert.Equal(t, aesValue[:aes.BlockSize], tk.value(h))
	})
}

func bigOf(b []byte) *big.Int { return new(big.Int).SetBytes(b) }

// TestKeyCallsCheckHandlesFirst: C_WrapKey, C_UnwrapKey and C_DeriveKey
// report a bad session or key handle as such, whatever the mechanism, and
// name the wrapping and unwrapping keys' handles as the specification does.
func TestKeyCallsCheckHandlesFirst(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	kek := f.genAES(sh, 16, "kek", pkcs11.NewAttribute(pkcs11.CKA_WRAP, true), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true))
	unknown := mech(pkcs11.CKM_VENDOR_DEFINED+1, []byte{1})
	const bad = pkcs11.ObjectHandle(0x7fff0001)

	_, err := f.p.WrapKey(sh, unknown, bad, kek)
	requireRV(t, pkcs11.CKR_WRAPPING_KEY_HANDLE_INVALID, err)
	_, err = f.p.WrapKey(sh, unknown, kek, bad)
	requireRV(t, pkcs11.CKR_KEY_HANDLE_INVALID, err)
	_, err = f.p.WrapKey(sh, unknown, kek, kek)
	requireRV(t, pkcs11.CKR_MECHANISM_INVALID, err)
	_, err = f.p.WrapKey(sh+1000, unknown, kek, kek)
	requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, err)

	_, err = f.p.UnwrapKey(sh, unknown, bad, make([]byte, 24), unwrapTemplate(pkcs11.CKK_AES))
	requireRV(t, pkcs11.CKR_UNWRAPPING_KEY_HANDLE_INVALID, err)
	_, err = f.p.UnwrapKey(sh, mech(pkcs11.CKM_AES_KEY_WRAP, nil), bad, make([]byte, 24), unwrapTemplate(pkcs11.CKK_AES))
	requireRV(t, pkcs11.CKR_UNWRAPPING_KEY_HANDLE_INVALID, err)
	_, err = f.p.DeriveKey(sh, unknown, bad, unwrapTemplate(pkcs11.CKK_AES))
	requireRV(t, pkcs11.CKR_KEY_HANDLE_INVALID, err)
	_, err = f.p.DeriveKey(sh+1000, unknown, kek, unwrapTemplate(pkcs11.CKK_AES))
	requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, err)
}
