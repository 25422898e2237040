package pkcs11test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"unsafe"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
)

// unhex decodes a test vector, ignoring spaces.
func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// ctrParams lays out CK_AES_CTR_PARAMS for miekg/pkcs11, which passes a
// byte slice as the parameter as it is.
func ctrParams(bits uint, block []byte) []byte {
	n := int(unsafe.Sizeof(uint(0)))
	out := make([]byte, n+16)
	binary.NativeEndian.PutUint64(out, uint64(bits))
	copy(out[n:], block)
	return out
}

// NIST SP 800-38A, appendix F: the AES-128 key and the four plaintext
// blocks every example of its appendix F uses.
var (
	sp80038AKey = unhex("2b7e151628aed2a6abf7158809cf4f3c")
	sp80038APT  = unhex("6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51" +
		"30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710")
)

// TestAESVectors checks AES-ECB, AES-CBC and AES-CTR against FIPS 197 and
// NIST SP 800-38A, encrypting and decrypting, single-part and multi-part.
func TestAESVectors(t *testing.T) {
	cases := []struct {
		name     string
		key      []byte
		mech     []*pkcs11.Mechanism
		pt, want []byte
	}{
		{"FIPS 197 C.1 AES-128", unhex("000102030405060708090a0b0c0d0e0f"), mech(pkcs11.CKM_AES_ECB, nil),
			unhex("00112233445566778899aabbccddeeff"), unhex("69c4e0d86a7b0430d8cdb78070b4c55a")},
		{"FIPS 197 C.3 AES-256", unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"), mech(pkcs11.CKM_AES_ECB, nil),
			unhex("00112233445566778899aabbccddeeff"), unhex("8ea2b7ca516745bfeafc49904b496089")},
		{"SP 800-38A F.1.1 ECB-AES128", sp80038AKey, mech(pkcs11.CKM_AES_ECB, nil), sp80038APT,
			unhex("3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4")},
		{"SP 800-38A F.2.1 CBC-AES128", sp80038AKey, mech(pkcs11.CKM_AES_CBC, unhex("000102030405060708090a0b0c0d0e0f")), sp80038APT,
			unhex("7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7")},
		{"SP 800-38A F.5.1 CTR-AES128", sp80038AKey, mech(pkcs11.CKM_AES_CTR, ctrParams(128, unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"))), sp80038APT,
			unhex("874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee")},
	}
	onTokens(t, func(t *testing.T, tk *token) {
		for _, c := range cases {
			key := tk.secret(pkcs11.CKK_AES, c.key, pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true))
			ct, err := tk.encrypt(c.mech, key, c.pt)
			require.NoError(t, err, c.name)
			assert.Equal(t, hex.EncodeToString(c.want), hex.EncodeToString(ct), c.name)
			pt, err := tk.decrypt(c.mech, key, c.want)
			require.NoError(t, err, c.name)
			assert.Equal(t, c.pt, pt, c.name)

			// The same in parts: what Update returns and what Final returns
			// together are the single-part result.
			require.NoError(t, tk.p.EncryptInit(tk.sh, c.mech, key))
			var multi []byte
			for _, part := range [][]byte{c.pt[:len(c.pt)/2], c.pt[len(c.pt)/2:]} {
				out, err := tk.p.EncryptUpdate(tk.sh, part)
				require.NoError(t, err, c.name)
				multi = append(multi, out...)
			}
			out, err := tk.p.EncryptFinal(tk.sh)
			require.NoError(t, err, c.name)
			assert.Equal(t, c.want, append(multi, out...), "%s in parts", c.name)
		}
	})
}

// TestAESCBCPad checks PKCS #7 padding: a whole block of padding after
// whole blocks, the exact length, and CKR_ENCRYPTED_DATA_INVALID for a bad
// pad.
func TestAESCBCPad(t *testing.T) {
	iv := unhex("000102030405060708090a0b0c0d0e0f")
	m := mech(pkcs11.CKM_AES_CBC_PAD, iv)
	onTokens(t, func(t *testing.T, tk *token) {
		key := tk.secret(pkcs11.CKK_AES, sp80038AKey, pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true))
		for _, n := range []int{0, 1, 15, 16, 17, 64} {
			ct, err := tk.encrypt(m, key, sp80038APT[:n])
			require.NoError(t, err)
			require.Len(t, ct, n/16*16+16, "%d bytes", n)
			if n == 64 {
				// The first four blocks are plain CBC: SP 800-38A F.2.1.
				assert.Equal(t, unhex("7649abac8119b246cee98e9b12e9197d"), ct[:16])
			}
			pt, err := tk.decrypt(m, key, ct)
			require.NoError(t, err)
			assert.Equal(t, sp80038APT[:n], pt, "%d bytes", n)
		}
		// Plain CBC of a block of zeros decrypts with CBC-PAD to a last byte
		// that is no valid pad length (or, rarely, is: so a fixed block).
		bad, err := tk.encrypt(mech(pkcs11.CKM_AES_CBC, iv), key, unhex("00000000000000000000000000000000"))
		require.NoError(t, err)
		_, err = tk.decrypt(m, key, bad)
		tk.requireSpecRV(t, pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_GENERAL_ERROR, err)
		// Ciphertext that is not whole blocks.
		_, err = tk.decrypt(m, key, make([]byte, 15))
		requireRV(t, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE, err)
		// Unpadded modes encrypt whole blocks only.
		_, err = tk.encrypt(mech(pkcs11.CKM_AES_ECB, nil), key, make([]byte, 15))
		requireRV(t, pkcs11.CKR_DATA_LEN_RANGE, err)
		// A CBC IV has 16 bytes.
		err = tk.p.EncryptInit(tk.sh, mech(pkcs11.CKM_AES_CBC, iv[:8]), key)
		tk.requireSpecRV(t, pkcs11.CKR_MECHANISM_PARAM_INVALID, pkcs11.CKR_MECHANISM_INVALID, err)
	})
}

// TestAESCMACVectors checks AES-CMAC against NIST SP 800-38B, appendix D.1
// (AES-128), signing single-part and multi-part and verifying.
func TestAESCMACVectors(t *testing.T) {
	cases := []struct {
		n   int
		mac string
	}{
		{0, "bb1d6929e95937287fa37d129b756746"},
		{16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{40, "dfa66747de9ae63030ca32611497c827"},
		{64, "51f0bebf7e3b9d92fc49741779363cfe"},
	}
	m := mech(pkcs11.CKM_AES_CMAC, nil)
	onTokens(t, func(t *testing.T, tk *token) {
		key := tk.secret(pkcs11.CKK_AES, sp80038AKey, pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true))
		for _, c := range cases {
			msg := sp80038APT[:c.n]
			mac, err := tk.sign(m, key, msg)
			require.NoError(t, err, "%d bytes", c.n)
			assert.Equal(t, c.mac, hex.EncodeToString(mac), "%d bytes", c.n)
			require.NoError(t, tk.verify(m, key, msg, mac))

			require.NoError(t, tk.p.SignInit(tk.sh, m, key))
			for _, part := range parts(msg) {
				require.NoError(t, tk.p.SignUpdate(tk.sh, part))
			}
			mac, err = tk.p.SignFinal(tk.sh)
			require.NoError(t, err)
			assert.Equal(t, c.mac, hex.EncodeToString(mac), "%d bytes in parts", c.n)
		}
		mac, err := tk.sign(m, key, sp80038APT)
		require.NoError(t, err)
		mac[0] ^= 1
		requireRV(t, pkcs11.CKR_SIGNATURE_INVALID, tk.verify(m, key, sp80038APT, mac))
	})
}

// TestHMACVectors checks HMAC with generic secret keys against RFC 4231
// (SHA-224 to SHA-512) and RFC 2202 (SHA-1), single-part and multi-part.
func TestHMACVectors(t *testing.T) {
	key1 := unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b")
	data1 := []byte("Hi There")
	key2 := []byte("Jefe")
	data2 := []byte("what do ya want for nothing?")
	key6 := make([]byte, 131)
	for i := range key6 {
		key6[i] = 0xaa
	}
	data6 := []byte("Test Using Larger Than Block-Size Key - Hash Key First")
	cases := []struct {
		name      string
		m         uint
		key, data []byte
		mac       string
	}{
		{"RFC 2202 1", pkcs11.CKM_SHA_1_HMAC, key1, data1, "b617318655057264e28bc0b6fb378c8ef146be00"},
		{"RFC 2202 2", pkcs11.CKM_SHA_1_HMAC, key2, data2, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
		{"RFC 4231 1", pkcs11.CKM_SHA224_HMAC, key1, data1, "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22"},
		{"RFC 4231 1", pkcs11.CKM_SHA256_HMAC, key1, data1, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"RFC 4231 1", pkcs11.CKM_SHA384_HMAC, key1, data1,
			"afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"},
		{"RFC 4231 1", pkcs11.CKM_SHA512_HMAC, key1, data1,
			"87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
		{"RFC 4231 2", pkcs11.CKM_SHA256_HMAC, key2, data2, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"RFC 4231 6", pkcs11.CKM_SHA256_HMAC, key6, data6, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
		{"RFC 4231 6", pkcs11.CKM_SHA512_HMAC, key6, data6,
			"80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"},
	}
	onTokens(t, func(t *testing.T, tk *token) {
		for _, c := range cases {
			key := tk.secret(pkcs11.CKK_GENERIC_SECRET, c.key, pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true))
			m := mech(c.m, nil)
			if tk.name == "softhsm2" && len(c.key) < len(c.mac)/2 {
				// SoftHSM2 refuses HMAC keys shorter than the hash, which
				// RFC 2104 allows and a token may refuse (its
				// CK_MECHANISM_INFO says so); keyhold takes them.
				err := tk.p.SignInit(tk.sh, m, key)
				requireRV(t, pkcs11.CKR_KEY_SIZE_RANGE, err)
				continue
			}
			mac, err := tk.sign(m, key, c.data)
			require.NoError(t, err, "%s %v", c.name, ck.MechanismType(c.m))
			assert.Equal(t, c.mac, hex.EncodeToString(mac), "%s %v", c.name, ck.MechanismType(c.m))
			require.NoError(t, tk.verify(m, key, c.data, mac))

			require.NoError(t, tk.p.VerifyInit(tk.sh, m, key))
			for _, part := range parts(c.data) {
				require.NoError(t, tk.p.VerifyUpdate(tk.sh, part))
			}
			require.NoError(t, tk.p.VerifyFinal(tk.sh, mac), "%s multi-part", c.name)

			mac[len(mac)-1] ^= 1
			requireRV(t, pkcs11.CKR_SIGNATURE_INVALID, tk.verify(m, key, c.data, mac))
			requireRV(t, pkcs11.CKR_SIGNATURE_LEN_RANGE, tk.verify(m, key, c.data, mac[:len(mac)-1]))
		}
	})
}

// TestGenericSecretKeyGen generates a generic secret with
// CKM_GENERIC_SECRET_KEY_GEN and checks its length and that it MACs.
func TestGenericSecretKeyGen(t *testing.T) {
	onTokens(t, func(t *testing.T, tk *token) {
		h, err := tk.p.GenerateKey(tk.sh, mech(pkcs11.CKM_GENERIC_SECRET_KEY_GEN, nil), []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 48),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		})
		require.NoError(t, err)
		as, err := tk.p.GetAttributeValue(tk.sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil)})
		require.NoError(t, err)
		assert.Equal(t, uint(48), ulongOf(t, as[0].Value))
		mac, err := tk.sign(mech(pkcs11.CKM_SHA256_HMAC, nil), h, []byte("message"))
		require.NoError(t, err)
		require.Len(t, mac, 32)
		require.NoError(t, tk.verify(mech(pkcs11.CKM_SHA256_HMAC, nil), h, []byte("message"), mac))
	})
}

// TestAESMultiPart encrypts and decrypts in parts of awkward sizes, more
// than the HSM takes in one request (512 KiB) in all, with each block mode,
// and checks the result against the standard library: Update returns
// whole blocks as they come, Final the rest.
func TestAESMultiPart(t *testing.T) {
	key := unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
	iv := unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
	msg := make([]byte, 700<<10+5)
	_, _ = rand.Read(msg)
	sizes := []int{1, 15, 17, 100, 600 << 10, 16}
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	wholeLen := len(msg) / 16 * 16
	ecb := make([]byte, wholeLen)
	for i := 0; i < wholeLen; i += 16 {
		block.Encrypt(ecb[i:], msg[i:])
	}
	cbc := make([]byte, wholeLen)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(cbc, msg[:wholeLen])
	padLen := wholeLen + 16
	padded := append(bytes.Clone(msg), bytes.Repeat([]byte{byte(padLen - len(msg))}, padLen-len(msg))...)
	cbcPad := make([]byte, padLen)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(cbcPad, padded)
	ctr := make([]byte, len(msg))
	cipher.NewCTR(block, iv).XORKeyStream(ctr, msg)

	cases := []struct {
		name   string
		m      []*pkcs11.Mechanism
		pt, ct []byte
	}{
		{"ECB", mech(pkcs11.CKM_AES_ECB, nil), msg[:wholeLen], ecb},
		{"CBC", mech(pkcs11.CKM_AES_CBC, iv), msg[:wholeLen], cbc},
		{"CBC-PAD", mech(pkcs11.CKM_AES_CBC_PAD, iv), msg, cbcPad},
		{"CTR", mech(pkcs11.CKM_AES_CTR, ctrParams(128, iv)), msg, ctr},
	}
	inParts := func(tk *token, update func([]byte) ([]byte, error), final func() ([]byte, error), in []byte) []byte {
		var out []byte
		for off, i := 0, 0; off < len(in); i++ {
			n := min(sizes[i%len(sizes)], len(in)-off)
			got, err := update(in[off : off+n])
			require.NoError(tk.tb, err)
			out = append(out, got...)
			off += n
		}
		got, err := final()
		require.NoError(tk.tb, err)
		return append(out, got...)
	}
	onTokens(t, func(t *testing.T, tk *token) {
		h := tk.secret(pkcs11.CKK_AES, key, pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true))
		for _, c := range cases {
			require.NoError(t, tk.p.EncryptInit(tk.sh, c.m, h))
			got := inParts(tk, func(p []byte) ([]byte, error) { return tk.p.EncryptUpdate(tk.sh, p) },
				func() ([]byte, error) { return tk.p.EncryptFinal(tk.sh) }, c.pt)
			assert.True(t, bytes.Equal(c.ct, got), "%s: %d bytes of ciphertext", c.name, len(got))
			require.NoError(t, tk.p.DecryptInit(tk.sh, c.m, h))
			got = inParts(tk, func(p []byte) ([]byte, error) { return tk.p.DecryptUpdate(tk.sh, p) },
				func() ([]byte, error) { return tk.p.DecryptFinal(tk.sh) }, c.ct)
			assert.True(t, bytes.Equal(c.pt, got), "%s: %d bytes of plaintext", c.name, len(got))
		}
		// Parts that do not add up to whole blocks are refused at Final.
		require.NoError(t, tk.p.EncryptInit(tk.sh, mech(pkcs11.CKM_AES_CBC, iv), h))
		_, err := tk.p.EncryptUpdate(tk.sh, msg[:20])
		require.NoError(t, err)
		_, err = tk.p.EncryptFinal(tk.sh)
		requireRV(t, pkcs11.CKR_DATA_LEN_RANGE, err)
	})
}
