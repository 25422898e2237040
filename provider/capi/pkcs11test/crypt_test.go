package pkcs11test

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oaepHashes are the OAEP hashes the library supports, each with the MGF1
// of the same hash.
var oaepHashes = hashMechs

// withGCM calls init with a CKM_AES_GCM mechanism and frees its parameters.
func withGCM(iv, aad []byte, tagBits int, init func([]*pkcs11.Mechanism) error) error {
	params := pkcs11.NewGCMParams(iv, aad, tagBits)
	defer params.Free()
	return init(mech(pkcs11.CKM_AES_GCM, params))
}

func (f *fixture) importAES(sh pkcs11.SessionHandle, key []byte, extra ...*pkcs11.Attribute) pkcs11.ObjectHandle {
	f.tb.Helper()
	h, err := f.p.CreateObject(sh, override([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, key),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
	}, extra))
	require.NoError(f.tb, err, "C_CreateObject(AES key)")
	return h
}

func (f *fixture) encrypt(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, key pkcs11.ObjectHandle, pt []byte, multi bool) ([]byte, error) {
	if err := f.p.EncryptInit(sh, m, key); err != nil {
		return nil, err
	}
	if !multi {
		return f.p.Encrypt(sh, pt)
	}
	var out []byte
	for _, part := range parts(pt) {
		o, err := f.p.EncryptUpdate(sh, part)
		if err != nil {
			return nil, err
		}
		out = append(out, o...)
	}
	o, err := f.p.EncryptFinal(sh)
	return append(out, o...), err
}

func (f *fixture) decrypt(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, key pkcs11.ObjectHandle, ct []byte, multi bool) ([]byte, error) {
	if err := f.p.DecryptInit(sh, m, key); err != nil {
		return nil, err
	}
	if !multi {
		return f.p.Decrypt(sh, ct)
	}
	var out []byte
	for _, part := range parts(ct) {
		o, err := f.p.DecryptUpdate(sh, part)
		if err != nil {
			return nil, err
		}
		out = append(out, o...)
	}
	o, err := f.p.DecryptFinal(sh)
	return append(out, o...), err
}

func TestAESGCMAgainstGo(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	pt := []byte("AES-GCM through libkeyhold.so, checked against crypto/cipher")
	aad := []byte("associated data")

	for _, size := range []int{16, 24, 32} {
		keyBytes := make([]byte, size)
		_, err := rand.Read(keyBytes)
		require.NoError(t, err)
		key := f.importAES(sh, keyBytes)
		block, err := aes.NewCipher(keyBytes)
		require.NoError(t, err)

		// PKCS#11 2.40 Current Mechanisms, AES-GCM (CK_GCM_PARAMS): the IV and tag
		// length are the caller's; the output is ciphertext || tag.
		for _, c := range []struct {
			ivLen, tagBits int
		}{{12, 128}, {12, 96}, {16, 128}, {1, 128}} {
			for _, multi := range []bool{false, true} {
				t.Run(fmt.Sprintf("AES-%d/iv-%d/tag-%d/multi=%v", size*8, c.ivLen, c.tagBits, multi), func(t *testing.T) {
					iv := make([]byte, c.ivLen)
					_, err := rand.Read(iv)
					require.NoError(t, err)
					var gcm cipher.AEAD
					if c.ivLen == 12 {
						gcm, err = cipher.NewGCMWithTagSize(block, c.tagBits/8)
					} else {
						gcm, err = cipher.NewGCMWithNonceSize(block, c.ivLen)
					}
					require.NoError(t, err)
					want := gcm.Seal(nil, iv, pt, aad)
					if c.ivLen != 12 {
						want = want[:len(pt)+c.tagBits/8]
					}

					var ct []byte
					err = withGCM(iv, aad, c.tagBits, func(m []*pkcs11.Mechanism) error {
						ct, err = f.encrypt(sh, m, key, pt, multi)
						return err
					})
					require.NoError(t, err)
					assert.Equal(t, want, ct, "the library's ciphertext is Go's")

					var got []byte
					err = withGCM(iv, aad, c.tagBits, func(m []*pkcs11.Mechanism) error {
						got, err = f.decrypt(sh, m, key, want, multi)
						return err
					})
					require.NoError(t, err)
					assert.Equal(t, pt, got, "Go's ciphertext decrypted by the library")

					// Authentication: a changed bit of ciphertext, tag or
					// AAD is CKR_ENCRYPTED_DATA_INVALID, and no plaintext.
					for name, bad := range map[string]struct{ ct, aad []byte }{
						"ciphertext": {flip(want, 0), aad},
						"tag":        {flip(want, len(want)-1), aad},
						"aad":        {want, flip(aad, 0)},
					} {
						err = withGCM(iv, bad.aad, c.tagBits, func(m []*pkcs11.Mechanism) error {
							got, err = f.decrypt(sh, m, key, bad.ct, multi)
							return err
						})
						requireRV(t, pkcs11.CKR_ENCRYPTED_DATA_INVALID, err, "tampered %s", name)
					}
				})
			}
		}
	}
}

func TestAESGCM(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	iv := make([]byte, 12)
	for _, size := range []int{16, 24, 32} {
		key := f.genAES(sh, size, fmt.Sprintf("gcm-%d", size))
		for _, pt := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("0123456789abcdef"), 300)} {
			var ct, got []byte
			err := withGCM(iv, nil, 128, func(m []*pkcs11.Mechanism) (err error) {
				ct, err = f.encrypt(sh, m, key, pt, false)
				return err
			})
			require.NoError(t, err)
			assert.Len(t, ct, len(pt)+16)
			err = withGCM(iv, nil, 128, func(m []*pkcs11.Mechanism) (err error) {
				got, err = f.decrypt(sh, m, key, ct, true)
				return err
			})
			require.NoError(t, err)
			assert.Equal(t, len(pt), len(got))
			assert.True(t, bytes.Equal(pt, got))
		}
	}

	key := f.genAES(sh, 32, "gcm-errors")
	noEncrypt := f.genAES(sh, 32, "gcm-no-encrypt", pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false))
	noDecrypt := f.genAES(sh, 32, "gcm-no-decrypt", pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false))
	ec := f.genEC(sh, elliptic.P256(), "gcm-ec")

	// PKCS#11 2.40 sections 5.8 and 5.9 (C_EncryptInit, C_DecryptInit).
	requireRV(t, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, withGCM(iv, nil, 128, func(m []*pkcs11.Mechanism) error {
		return f.p.EncryptInit(sh, m, noEncrypt)
	}))
	requireRV(t, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, withGCM(iv, nil, 128, func(m []*pkcs11.Mechanism) error {
		return f.p.DecryptInit(sh, m, noDecrypt)
	}))
	requireRV(t, pkcs11.CKR_KEY_TYPE_INCONSISTENT, withGCM(iv, nil, 128, func(m []*pkcs11.Mechanism) error {
		return f.p.EncryptInit(sh, m, ec.pub)
	}))
	// Section 2.10.4: tags of 32..128 bits in steps the standard allows,
	// IVs of 1 byte or more.
	for _, tag := range []int{0, 8, 100, 136, 256} {
		requireRV(t, pkcs11.CKR_MECHANISM_PARAM_INVALID, withGCM(iv, nil, tag, func(m []*pkcs11.Mechanism) error {
			return f.p.EncryptInit(sh, m, key)
		}), "tag of %d bits", tag)
	}
	requireRV(t, pkcs11.CKR_MECHANISM_PARAM_INVALID, withGCM(nil, nil, 128, func(m []*pkcs11.Mechanism) error {
		return f.p.EncryptInit(sh, m, key)
	}), "empty IV")
	requireRV(t, pkcs11.CKR_MECHANISM_PARAM_INVALID, f.p.EncryptInit(sh, mech(pkcs11.CKM_AES_GCM, nil), key), "no parameters")
	requireRV(t, pkcs11.CKR_MECHANISM_INVALID, f.p.EncryptInit(sh, mech(pkcs11.CKM_AES_CTS, make([]byte, 16)), key))
	// Ciphertext shorter than its tag.
	err := withGCM(iv, nil, 128, func(m []*pkcs11.Mechanism) error {
		_, err := f.decrypt(sh, m, key, make([]byte, 15), false)
		return err
	})
	requireRV(t, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE, err)

	// Operation state (sections 5.8, 5.9).
	_, err = f.p.Encrypt(sh, []byte("x"))
	requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
	_, err = f.p.EncryptUpdate(sh, []byte("x"))
	requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
	_, err = f.p.EncryptFinal(sh)
	requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
	_, err = f.p.Decrypt(sh, make([]byte, 32))
	requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
	_, err = f.p.DecryptUpdate(sh, make([]byte, 32))
	requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
	_, err = f.p.DecryptFinal(sh)
	requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
	// A second Init is refused and leaves the first operation active.
	require.NoError(t, withGCM(iv, nil, 128, func(m []*pkcs11.Mechanism) error {
		require.NoError(t, f.p.EncryptInit(sh, m, key))
		requireRV(t, pkcs11.CKR_OPERATION_ACTIVE, f.p.EncryptInit(sh, m, key))
		return nil
	}))
	ct, err := f.p.Encrypt(sh, []byte("still active"))
	require.NoError(t, err)
	require.NoError(t, withGCM(iv, nil, 128, func(m []*pkcs11.Mechanism) error {
		require.NoError(t, f.p.DecryptInit(sh, m, key))
		requireRV(t, pkcs11.CKR_OPERATION_ACTIVE, f.p.DecryptInit(sh, m, key))
		return nil
	}))
	pt, err := f.p.Decrypt(sh, ct)
	require.NoError(t, err)
	assert.Equal(t, "still active", string(pt))

	// A secret key is the User's: after logout its handle is invalid.
	require.NoError(t, f.p.Logout(sh))
	requireRVIn(t, []uint{pkcs11.CKR_KEY_HANDLE_INVALID, pkcs11.CKR_USER_NOT_LOGGED_IN}, withGCM(iv, nil, 128, func(m []*pkcs11.Mechanism) error {
		return f.p.EncryptInit(sh, m, key)
	}))
}

func TestRSAEncryption(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	k := f.genRSA(sh, 2048, "rsa-crypt")
	pub := k.public.(*rsa.PublicKey)
	msg := []byte("a key to wrap, say")

	for _, h := range oaepHashes {
		for _, label := range [][]byte{nil, []byte("label")} {
			for _, multi := range []bool{false, true} {
				t.Run(fmt.Sprintf("OAEP-%s/label=%q/multi=%v", h.name, label, multi), func(t *testing.T) {
					m := mech(pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.NewOAEPParams(h.mech, h.mgf, pkcs11.CKZ_DATA_SPECIFIED, label))
					// The library encrypts with the public key object and
					// decrypts with the private key.
					ct, err := f.encrypt(sh, m, k.pub, msg, multi)
					require.NoError(t, err)
					assert.Len(t, ct, 256)
					got, err := f.decrypt(sh, m, k.priv, ct, multi)
					require.NoError(t, err)
					assert.Equal(t, msg, got)
					// Go encrypts, the library decrypts.
					goCT, err := rsa.EncryptOAEP(h.hash.New(), rand.Reader, pub, msg, label)
					require.NoError(t, err)
					got, err = f.decrypt(sh, m, k.priv, goCT, multi)
					require.NoError(t, err)
					assert.Equal(t, msg, got)
					// Another label does not decrypt.
					other := mech(pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.NewOAEPParams(h.mech, h.mgf, pkcs11.CKZ_DATA_SPECIFIED, []byte("other")))
					_, err = f.decrypt(sh, other, k.priv, goCT, multi)
					requireRV(t, pkcs11.CKR_ENCRYPTED_DATA_INVALID, err)
				})
			}
		}
	}

	t.Run("OAEP-SHA-256/MGF1-SHA-1", func(t *testing.T) {
		// The OAEP hash and the MGF1 hash are independent (PKCS#11 2.40
		// Current Mechanisms, CK_RSA_PKCS_OAEP_PARAMS); Java's default is SHA-256 with MGF1-SHA-1.
		ct, err := rsa.EncryptOAEPWithOptions(rand.Reader, pub, msg, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1})
		require.NoError(t, err)
		got, err := f.decrypt(sh, mech(pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.NewOAEPParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA1, pkcs11.CKZ_DATA_SPECIFIED, nil)), k.priv, ct, false)
		require.NoError(t, err)
		assert.Equal(t, msg, got)
	})

	for _, multi := range []bool{false, true} {
		t.Run(fmt.Sprintf("PKCS1v15/multi=%v", multi), func(t *testing.T) {
			m := mech(pkcs11.CKM_RSA_PKCS, nil)
			ct, err := f.encrypt(sh, m, k.pub, msg, multi)
			require.NoError(t, err)
			got, err := f.decrypt(sh, m, k.priv, ct, multi)
			require.NoError(t, err)
			assert.Equal(t, msg, got)
			// PKCS#11 offers CKM_RSA_PKCS decryption, so it is tested
			// against Go's implementation, deprecated or not.
			//lint:ignore SA1019 the library's CKM_RSA_PKCS is what is tested.
			goCT, err := rsa.EncryptPKCS1v15(rand.Reader, pub, msg)
			require.NoError(t, err)
			got, err = f.decrypt(sh, m, k.priv, goCT, multi)
			require.NoError(t, err)
			assert.Equal(t, msg, got)
		})
	}

	t.Run("errors", func(t *testing.T) {
		oaep := mech(pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.NewOAEPParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, pkcs11.CKZ_DATA_SPECIFIED, nil))
		goCT, err := rsa.EncryptOAEP(crypto.SHA256.New(), rand.Reader, pub, msg, nil)
		require.NoError(t, err)
		// PKCS#11 2.40 section 5.9 (C_Decrypt).
		_, err = f.decrypt(sh, oaep, k.priv, goCT[:255], false)
		requireRV(t, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE, err)
		_, err = f.decrypt(sh, oaep, k.priv, flip(goCT, 100), false)
		requireRV(t, pkcs11.CKR_ENCRYPTED_DATA_INVALID, err)
		// A failed C_Decrypt ended the operation.
		_, err = f.p.Decrypt(sh, goCT)
		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
		// OAEP with SHA-256 carries at most k - 2*32 - 2 bytes.
		_, err = f.encrypt(sh, oaep, k.pub, make([]byte, 256-2*32-1), false)
		requireRV(t, pkcs11.CKR_DATA_LEN_RANGE, err)
		_, err = f.encrypt(sh, mech(pkcs11.CKM_RSA_PKCS, nil), k.pub, make([]byte, 256-10), false)
		requireRV(t, pkcs11.CKR_DATA_LEN_RANGE, err)

		// CK_RSA_PKCS_OAEP_PARAMS (Current Mechanisms, PKCS #1 RSA OAEP).
		for name, p := range map[string]*pkcs11.OAEPParams{
			"MD5":           pkcs11.NewOAEPParams(pkcs11.CKM_MD5, pkcs11.CKG_MGF1_SHA256, pkcs11.CKZ_DATA_SPECIFIED, nil),
			"unknown MGF":   pkcs11.NewOAEPParams(pkcs11.CKM_SHA256, 0x77, pkcs11.CKZ_DATA_SPECIFIED, nil),
			"no parameters": nil,
		} {
			t.Run(name, func(t *testing.T) {
				// A session of its own: an Init wrongly accepted must
				// not make the next case's Init CKR_OPERATION_ACTIVE.
				s := f.open(false)
				defer f.p.CloseSession(s)
				var m []*pkcs11.Mechanism
				if p == nil {
					m = mech(pkcs11.CKM_RSA_PKCS_OAEP, nil)
				} else {
					m = mech(pkcs11.CKM_RSA_PKCS_OAEP, p)
				}
				requireRV(t, pkcs11.CKR_MECHANISM_PARAM_INVALID, f.p.DecryptInit(s, m, k.priv))
			})
		}

		noDecrypt := f.genRSA(sh, 2048, "rsa-no-decrypt", pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false))
		requireRV(t, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, f.p.DecryptInit(sh, oaep, noDecrypt.priv))
		ec := f.genEC(sh, elliptic.P256(), "ec-no-oaep")
		requireRV(t, pkcs11.CKR_KEY_TYPE_INCONSISTENT, f.p.DecryptInit(sh, oaep, ec.priv))
		requireRV(t, pkcs11.CKR_KEY_TYPE_INCONSISTENT, f.p.EncryptInit(sh, oaep, ec.pub))
		requireRV(t, pkcs11.CKR_MECHANISM_INVALID, f.p.EncryptInit(sh, mech(pkcs11.CKM_SHA256_RSA_PKCS, nil), k.pub), "a signature mechanism")
	})
}

func TestDigest(t *testing.T) {
	f := setup(t)
	// Digests need no login and no key: a R/O public session.
	sh := f.open(false)
	long := bytes.Repeat([]byte("keyhold"), 10000)
	for _, h := range hashMechs {
		for name, msg := range map[string][]byte{"empty": {}, "short": []byte("abc"), "long": long} {
			t.Run(h.name+"/"+name, func(t *testing.T) {
				want := hashOf(h.hash, msg)
				require.NoError(t, f.p.DigestInit(sh, mech(h.mech, nil)))
				got, err := f.p.Digest(sh, msg)
				require.NoError(t, err)
				assert.Equal(t, want, got, "C_Digest")

				require.NoError(t, f.p.DigestInit(sh, mech(h.mech, nil)))
				for _, part := range parts(msg) {
					require.NoError(t, f.p.DigestUpdate(sh, part))
				}
				got, err = f.p.DigestFinal(sh)
				require.NoError(t, err)
				assert.Equal(t, want, got, "C_DigestUpdate/C_DigestFinal")
			})
		}
	}

	// PKCS#11 2.40 section 5.10 (message digesting).
	_, err := f.p.Digest(sh, []byte("x"))
	requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
	requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, f.p.DigestUpdate(sh, []byte("x")))
	_, err = f.p.DigestFinal(sh)
	requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
	require.NoError(t, f.p.DigestInit(sh, mech(pkcs11.CKM_SHA256, nil)))
	requireRV(t, pkcs11.CKR_OPERATION_ACTIVE, f.p.DigestInit(sh, mech(pkcs11.CKM_SHA512, nil)))
	got, err := f.p.Digest(sh, []byte("x"))
	require.NoError(t, err)
	assert.Equal(t, hashOf(crypto.SHA256, []byte("x")), got, "the refused DigestInit changed nothing")
	requireRV(t, pkcs11.CKR_MECHANISM_INVALID, f.p.DigestInit(sh, mech(pkcs11.CKM_ECDSA, nil)))
	requireRV(t, pkcs11.CKR_MECHANISM_INVALID, f.p.DigestInit(sh, mech(pkcs11.CKM_MD5, nil)))
	requireRV(t, pkcs11.CKR_MECHANISM_PARAM_INVALID, f.p.DigestInit(sh, mech(pkcs11.CKM_SHA256, []byte{1, 2, 3, 4, 5, 6, 7, 8})))
}

func TestRandom(t *testing.T) {
	f := setup(t)
	sh := f.open(false)
	seen := map[string]bool{}
	for _, n := range []int{1, 16, 32, 1000, 4096} {
		b, err := f.p.GenerateRandom(sh, n)
		require.NoError(t, err, "%d bytes", n)
		require.Len(t, b, n)
		if n >= 16 {
			assert.False(t, seen[string(b)], "%d random bytes repeated", n)
			seen[string(b)] = true
			assert.NotEqual(t, make([]byte, n), b)
		}
	}
	// PKCS#11 2.40 section 5.15: seeding may be unsupported by the token;
	// a library that accepts it mixes the seed locally.
	requireRVIn(t, []uint{pkcs11.CKR_OK, pkcs11.CKR_RANDOM_SEED_NOT_SUPPORTED}, f.p.SeedRandom(sh, []byte("some seed")))
	_, err := f.p.GenerateRandom(sh, 32)
	require.NoError(t, err)
}
