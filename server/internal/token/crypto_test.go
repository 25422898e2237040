package token

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	ckRSAPKCS = ck.Mechanism{Type: ck.CKM_RSA_PKCS}
	ckECDSA   = ck.Mechanism{Type: ck.CKM_ECDSA}
	ckEdDSA   = ck.Mechanism{Type: ck.CKM_EDDSA}
)

func pss(h ck.MechanismType, mgf ck.MGF, salt uint32) ck.Mechanism {
	return ck.Mechanism{Type: ck.CKM_RSA_PKCS_PSS, PSS: &ck.PSSParams{Hash: h, MGF: mgf, SaltLen: salt}}
}

func oaep(h ck.MechanismType, mgf ck.MGF, label []byte) ck.Mechanism {
	return ck.Mechanism{Type: ck.CKM_RSA_PKCS_OAEP, OAEP: &ck.OAEPParams{Hash: h, MGF: mgf, Label: label}}
}

func gcm(iv, aad []byte, tagBits uint32) ck.Mechanism {
	return ck.Mechanism{Type: ck.CKM_AES_GCM, GCM: &ck.GCMParams{IV: iv, AAD: aad, TagBits: tagBits}}
}

func digest(h crypto.Hash, msg string) []byte {
	d := h.New()
	d.Write([]byte(msg))
	return d.Sum(nil)
}

// digestInfoSHA256 is the DER DigestInfo prefix for SHA-256 (RFC 8017 9.2).
var digestInfoSHA256 = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// pssHashes are the PSS/OAEP hashes with their PKCS#11 names.
var pssHashes = []struct {
	mech ck.MechanismType
	mgf  ck.MGF
	h    crypto.Hash
}{
	{ck.CKM_SHA_1, ck.CKG_MGF1_SHA1, crypto.SHA1},
	{ck.CKM_SHA224, ck.CKG_MGF1_SHA224, crypto.SHA224},
	{ck.CKM_SHA256, ck.CKG_MGF1_SHA256, crypto.SHA256},
	{ck.CKM_SHA384, ck.CKG_MGF1_SHA384, crypto.SHA384},
	{ck.CKM_SHA512, ck.CKG_MGF1_SHA512, crypto.SHA512},
}

// pssMaxSalt is the longest PSS salt for a key of modBits bits and hash h.
func pssMaxSalt(modBits int, h crypto.Hash) int {
	return (modBits-1+7)/8 - h.Size() - 2
}

type sigCase struct {
	name      string
	priv, pub ck.Template
	mech      ck.Mechanism
	data      []byte
	verify    func(sig []byte) error // the standard library's check
	stdSign   func() ([]byte, error) // a standard-library signature the token must accept, or nil
}

func sigCases(t *testing.T) []sigCase {
	rsaKey := testRSA(t)
	rsaPub := &rsaKey.PublicKey
	var cases []sigCase

	d256 := digest(crypto.SHA256, "message")
	di := append(append([]byte{}, digestInfoSHA256...), d256...)
	cases = append(cases, sigCase{
		name: "RSA PKCS#1 v1.5 DigestInfo", priv: rsaPrivTemplate(rsaKey), pub: rsaPubTemplate(rsaPub),
		mech: ckRSAPKCS, data: di,
		verify:  func(sig []byte) error { return rsa.VerifyPKCS1v15(rsaPub, crypto.SHA256, d256, sig) },
		stdSign: func() ([]byte, error) { return rsa.SignPKCS1v15(nil, rsaKey, crypto.SHA256, d256) },
	}, sigCase{
		name: "RSA PKCS#1 v1.5 raw data", priv: rsaPrivTemplate(rsaKey), pub: rsaPubTemplate(rsaPub),
		mech: ckRSAPKCS, data: []byte("up to k-11 bytes of anything"),
		verify: func(sig []byte) error {
			return rsa.VerifyPKCS1v15(rsaPub, 0, []byte("up to k-11 bytes of anything"), sig)
		},
	}, sigCase{
		name: "RSA PKCS#1 v1.5 k-11 bytes", priv: rsaPrivTemplate(rsaKey), pub: rsaPubTemplate(rsaPub),
		mech: ckRSAPKCS, data: bytes.Repeat([]byte{0xAB}, rsaPub.Size()-11),
		verify: func(sig []byte) error {
			return rsa.VerifyPKCS1v15(rsaPub, 0, bytes.Repeat([]byte{0xAB}, rsaPub.Size()-11), sig)
		},
	})
	for _, hh := range pssHashes {
		dg := digest(hh.h, "message")
		for _, salt := range []int{0, 1, hh.h.Size(), pssMaxSalt(rsaPub.N.BitLen(), hh.h)} {
			opts := &rsa.PSSOptions{SaltLength: salt, Hash: hh.h}
			if salt == 0 {
				opts.SaltLength = rsa.PSSSaltLengthAuto // Go cannot ask for exactly 0; auto accepts it
			}
			cs := sigCase{
				name: fmt.Sprintf("RSA PSS %v salt %d", hh.mech, salt), priv: rsaPrivTemplate(rsaKey), pub: rsaPubTemplate(rsaPub),
				mech: pss(hh.mech, hh.mgf, uint32(salt)), data: dg,
				verify: func(sig []byte) error { return rsa.VerifyPSS(rsaPub, hh.h, dg, sig, opts) },
			}
			if salt > 0 {
				cs.stdSign = func() ([]byte, error) { return rsa.SignPSS(rand.Reader, rsaKey, hh.h, dg, opts) }
			}
			cases = append(cases, cs)
		}
	}
	for _, c := range []struct {
		curve elliptic.Curve
		h     crypto.Hash
	}{
		{elliptic.P256(), crypto.SHA256}, {elliptic.P384(), crypto.SHA384}, {elliptic.P521(), crypto.SHA512},
		{elliptic.P256(), crypto.SHA512}, // a longer digest is truncated, as PKCS#11 says
		{elliptic.P521(), crypto.SHA256},
	} {
		k, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		require.NoError(t, err)
		dg := digest(c.h, "message")
		cases = append(cases, sigCase{
			name: fmt.Sprintf("ECDSA %s %v", c.curve.Params().Name, c.h), priv: ecPrivTemplate(k), pub: ecPubTemplate(&k.PublicKey),
			mech: ckECDSA, data: dg,
			verify: func(sig []byte) error {
				if !verifyRawECDSA(&k.PublicKey, dg, sig) {
					return fmt.Errorf("ECDSA verification failed")
				}
				return nil
			},
			stdSign: func() ([]byte, error) {
				r, s, err := ecdsa.Sign(rand.Reader, k, dg)
				if err != nil {
					return nil, err
				}
				size := (c.curve.Params().BitSize + 7) / 8
				return append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...), nil
			},
		})
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	for _, msg := range [][]byte{[]byte("message"), {}, bytes.Repeat([]byte("long "), 2000)} {
		cases = append(cases, sigCase{
			name: fmt.Sprintf("EdDSA %d-byte message", len(msg)), priv: edPrivTemplate(edKey), pub: edPubTemplate(edPub),
			mech: ckEdDSA, data: msg,
			verify: func(sig []byte) error {
				if !ed25519.Verify(edPub, msg, sig) {
					return fmt.Errorf("Ed25519 verification failed")
				}
				return nil
			},
			stdSign: func() ([]byte, error) { return ed25519.Sign(edKey, msg), nil },
		})
	}
	return cases
}

// TestSignVerify signs with every key type and mechanism, verifies each
// signature with the standard library and with the token (public key object
// and private key object), and checks that a changed message or a signature
// of the wrong length is refused.
func TestSignVerify(t *testing.T) {
	tok := newTestToken(t)
	for _, tc := range sigCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			priv := mustCreate(t, tok, User, tc.priv)
			pub := mustCreate(t, tok, User, tc.pub)
			sig, err := tok.Sign(User, priv, tc.mech, tc.data)
			require.NoError(t, err)
			require.NoError(t, tc.verify(sig), "the standard library rejects the token's signature")

			for _, h := range []Handle{pub, priv} {
				require.NoError(t, tok.Verify(User, h, tc.mech, tc.data, sig))
			}
			// Verifying with a public key needs no login.
			require.NoError(t, tok.Verify(Public, pub, tc.mech, tc.data, sig))

			if tc.stdSign != nil {
				std, err := tc.stdSign()
				require.NoError(t, err)
				require.NoError(t, tok.Verify(User, pub, tc.mech, tc.data, std), "the token rejects the standard library's signature")
			}

			changed := append([]byte{}, tc.data...)
			if len(changed) > 0 {
				changed[0] ^= 1 // the first byte: ECDSA truncates long digests
				requireRV(t, tok.Verify(User, pub, tc.mech, changed, sig), ck.CKR_SIGNATURE_INVALID)
			}
			bad := append([]byte{}, sig...)
			bad[len(bad)/2] ^= 0x40
			requireRV(t, tok.Verify(User, pub, tc.mech, tc.data, bad), ck.CKR_SIGNATURE_INVALID)
			requireRV(t, tok.Verify(User, pub, tc.mech, tc.data, sig[:len(sig)-1]), ck.CKR_SIGNATURE_LEN_RANGE)
			requireRV(t, tok.Verify(User, pub, tc.mech, tc.data, append(sig, 0)), ck.CKR_SIGNATURE_LEN_RANGE)
		})
	}
}

// TestPSSSaltIsExact checks that verification demands exactly the salt
// length of the parameters, 0 included.
func TestPSSSaltIsExact(t *testing.T) {
	tok := newTestToken(t)
	rsaKey := testRSA(t)
	pub := mustCreate(t, tok, User, rsaPubTemplate(&rsaKey.PublicKey))
	priv := mustCreate(t, tok, User, rsaPrivTemplate(rsaKey))
	dg := digest(crypto.SHA256, "m")
	salted, err := rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA256, dg, &rsa.PSSOptions{SaltLength: 32})
	require.NoError(t, err)
	requireRV(t, tok.Verify(User, pub, pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 0), dg, salted), ck.CKR_SIGNATURE_INVALID)
	requireRV(t, tok.Verify(User, pub, pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 31), dg, salted), ck.CKR_SIGNATURE_INVALID)
	unsalted, err := tok.Sign(User, priv, pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 0), dg)
	require.NoError(t, err)
	requireRV(t, tok.Verify(User, pub, pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 32), dg, unsalted), ck.CKR_SIGNATURE_INVALID)
	// Deterministic: an empty salt gives the same signature every time.
	again, err := tok.Sign(User, priv, pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 0), dg)
	require.NoError(t, err)
	assert.Equal(t, unsalted, again)
}

func TestSignErrors(t *testing.T) {
	tok := newTestToken(t)
	rsaKey := testRSA(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, der := selfSigned(t, ecKey)

	rsaPriv := mustCreate(t, tok, User, rsaPrivTemplate(rsaKey))
	rsaPub := mustCreate(t, tok, User, rsaPubTemplate(&rsaKey.PublicKey))
	ecPriv := mustCreate(t, tok, User, ecPrivTemplate(ecKey))
	noSign := mustCreate(t, tok, User, ecPrivTemplate(ecKey, ck.Bool(ck.CKA_SIGN, false)))
	pssOnly := mustCreate(t, tok, User, rsaPrivTemplate(rsaKey, ck.Bytes(ck.CKA_ALLOWED_MECHANISMS, ulongValue(uint64(ck.CKM_RSA_PKCS_PSS)))))
	publicPriv := mustCreate(t, tok, User, ecPrivTemplate(ecKey, ck.Bool(ck.CKA_PRIVATE, false)))
	aesKey := mustCreate(t, tok, User, aesTemplate(make([]byte, 16)))
	data := mustCreate(t, tok, User, dataTemplate())
	cert := mustCreate(t, tok, User, certTemplate(der))

	d256 := digest(crypto.SHA256, "m")
	sha256PSS := pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 32)
	tests := []struct {
		name string
		acc  Access
		h    Handle
		mech ck.Mechanism
		data []byte
		rv   ck.ReturnValue
	}{
		{"unknown handle", User, Handle(12345), ckECDSA, d256, ck.CKR_OBJECT_HANDLE_INVALID},
		{"private key, public access", Public, ecPriv, ckECDSA, d256, ck.CKR_OBJECT_HANDLE_INVALID},
		{"private key, SO access", SO, ecPriv, ckECDSA, d256, ck.CKR_OBJECT_HANDLE_INVALID},
		{"data object", User, data, ckECDSA, d256, ck.CKR_KEY_HANDLE_INVALID},
		{"certificate", User, cert, ckECDSA, d256, ck.CKR_KEY_HANDLE_INVALID},
		{"hash-and-sign mechanism", User, rsaPriv, ck.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS}, d256, ck.CKR_MECHANISM_INVALID},
		{"encryption mechanism", User, aesKey, gcm(make([]byte, 12), nil, 128), d256, ck.CKR_MECHANISM_INVALID},
		{"unknown mechanism", User, ecPriv, ck.Mechanism{Type: ck.CKM_VENDOR_DEFINED + 1}, d256, ck.CKR_MECHANISM_INVALID},
		{"ECDSA with RSA key", User, rsaPriv, ckECDSA, d256, ck.CKR_KEY_TYPE_INCONSISTENT},
		{"RSA with EC key", User, ecPriv, ckRSAPKCS, d256, ck.CKR_KEY_TYPE_INCONSISTENT},
		{"EdDSA with EC key", User, ecPriv, ckEdDSA, d256, ck.CKR_KEY_TYPE_INCONSISTENT},
		{"AES key", User, aesKey, ckECDSA, d256, ck.CKR_KEY_TYPE_INCONSISTENT},
		{"CKA_SIGN false", User, noSign, ckECDSA, d256, ck.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"public key", User, rsaPub, ckRSAPKCS, d256, ck.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"mechanism not allowed", User, pssOnly, ckRSAPKCS, d256, ck.CKR_MECHANISM_INVALID},
		{"ECDSA with parameters", User, ecPriv, ck.Mechanism{Type: ck.CKM_ECDSA, PSS: &ck.PSSParams{}}, d256, ck.CKR_MECHANISM_PARAM_INVALID},
		{"PSS without parameters", User, rsaPriv, ck.Mechanism{Type: ck.CKM_RSA_PKCS_PSS}, d256, ck.CKR_MECHANISM_PARAM_INVALID},
		{"PSS with OAEP parameters", User, rsaPriv, ck.Mechanism{Type: ck.CKM_RSA_PKCS_PSS, OAEP: &ck.OAEPParams{}}, d256, ck.CKR_MECHANISM_PARAM_INVALID},
		{"PSS with two parameter sets", User, rsaPriv, ck.Mechanism{Type: ck.CKM_RSA_PKCS_PSS, PSS: sha256PSS.PSS, GCM: &ck.GCMParams{}}, d256, ck.CKR_MECHANISM_PARAM_INVALID},
		{"PSS MGF of another hash", User, rsaPriv, pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA1, 32), d256, ck.CKR_MECHANISM_PARAM_INVALID},
		{"PSS unsupported hash", User, rsaPriv, pss(ck.CKM_SHA3_256, ck.CKG_MGF1_SHA3_256, 32), d256, ck.CKR_MECHANISM_PARAM_INVALID},
		{"PSS salt too long", User, rsaPriv, pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, uint32(pssMaxSalt(2048, crypto.SHA256)+1)), d256, ck.CKR_MECHANISM_PARAM_INVALID},
		{"PSS huge salt", User, rsaPriv, pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 1<<31), d256, ck.CKR_MECHANISM_PARAM_INVALID},
		{"PSS digest of another size", User, rsaPriv, sha256PSS, digest(crypto.SHA384, "m"), ck.CKR_DATA_LEN_RANGE},
		{"RSA PKCS data too long", User, rsaPriv, ckRSAPKCS, make([]byte, 2048/8-10), ck.CKR_DATA_LEN_RANGE},
		{"ECDSA empty digest", User, ecPriv, ckECDSA, nil, ck.CKR_DATA_LEN_RANGE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tok.Sign(tc.acc, tc.h, tc.mech, tc.data)
			requireRV(t, err, tc.rv)
		})
	}
	// A private key made with CKA_PRIVATE=false is a public object: every
	// session may sign with it, logged in or not (PKCS#11 2.40 section 4.4).
	for _, acc := range []Access{Public, SO, User} {
		_, err := tok.Sign(acc, publicPriv, ckECDSA, d256)
		require.NoError(t, err, "access %v", acc)
	}
	// The allowed mechanism works.
	_, err = tok.Sign(User, pssOnly, sha256PSS, d256)
	require.NoError(t, err)
	// Verification checks CKA_VERIFY on public keys and CKA_SIGN on private keys.
	noVerify := mustCreate(t, tok, User, ecPubTemplate(&ecKey.PublicKey, ck.Bool(ck.CKA_VERIFY, false)))
	sig, err := tok.Sign(User, ecPriv, ckECDSA, d256)
	require.NoError(t, err)
	requireRV(t, tok.Verify(User, noVerify, ckECDSA, d256, sig), ck.CKR_KEY_FUNCTION_NOT_PERMITTED)
	requireRV(t, tok.Verify(User, noSign, ckECDSA, d256, sig), ck.CKR_KEY_FUNCTION_NOT_PERMITTED)
	require.NoError(t, tok.Verify(User, ecPriv, ckECDSA, d256, sig))
	requireRV(t, tok.Verify(User, ecPriv, ckECDSA, nil, sig), ck.CKR_DATA_LEN_RANGE)
	requireRV(t, tok.Verify(User, rsaPub, ckRSAPKCS, make([]byte, 2048/8), make([]byte, 2048/8)), ck.CKR_DATA_LEN_RANGE)
	// Verifying with a non-private private key needs no login: it uses only the public half.
	require.NoError(t, tok.Verify(Public, publicPriv, ckECDSA, d256, sig))
}

// TestOAEP decrypts with every pairing of OAEP hash and MGF1 hash, with a
// label, ciphertexts made by the standard library, and encrypts with the
// token for the standard library to decrypt.
func TestOAEP(t *testing.T) {
	tok := newTestToken(t)
	rsaKey := testRSA(t)
	priv := mustCreate(t, tok, User, rsaPrivTemplate(rsaKey))
	pub := mustCreate(t, tok, User, rsaPubTemplate(&rsaKey.PublicKey))
	msg := []byte("a session key, say")
	for _, hh := range pssHashes {
		for _, mh := range pssHashes {
			for _, label := range [][]byte{nil, []byte("label")} {
				t.Run(fmt.Sprintf("%v/%v/label=%q", hh.mech, mh.mgf, label), func(t *testing.T) {
					m := oaep(hh.mech, mh.mgf, label)
					opts := &rsa.OAEPOptions{Hash: hh.h, MGFHash: mh.h, Label: label}
					ct, err := rsa.EncryptOAEPWithOptions(rand.Reader, &rsaKey.PublicKey, msg, opts)
					require.NoError(t, err)
					pt, err := tok.Decrypt(User, priv, m, ct)
					require.NoError(t, err)
					assert.Equal(t, msg, pt)

					ct, err = tok.Encrypt(Public, pub, m, msg)
					require.NoError(t, err)
					pt, err = rsaKey.Decrypt(nil, ct, opts)
					require.NoError(t, err)
					assert.Equal(t, msg, pt)

					// Another label, or another MGF hash, does not decrypt.
					_, err = tok.Decrypt(User, priv, oaep(hh.mech, mh.mgf, []byte("other")), ct)
					requireRV(t, err, ck.CKR_ENCRYPTED_DATA_INVALID)
				})
			}
		}
	}
}

func TestRSAEncryptionErrors(t *testing.T) {
	tok := newTestToken(t)
	rsaKey := testRSA(t)
	priv := mustCreate(t, tok, User, rsaPrivTemplate(rsaKey))
	pub := mustCreate(t, tok, User, rsaPubTemplate(&rsaKey.PublicKey))
	noDecrypt := mustCreate(t, tok, User, rsaPrivTemplate(rsaKey, ck.Bool(ck.CKA_DECRYPT, false)))
	noEncrypt := mustCreate(t, tok, User, rsaPubTemplate(&rsaKey.PublicKey, ck.Bool(ck.CKA_ENCRYPT, false)))
	good := oaep(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, nil)

	// PKCS#1 v1.5 round trips, both ways.
	ct, err := tok.Encrypt(User, pub, ckRSAPKCS, []byte("secret"))
	require.NoError(t, err)
	pt, err := tok.Decrypt(User, priv, ckRSAPKCS, ct)
	require.NoError(t, err)
	assert.Equal(t, []byte("secret"), pt)
	//lint:ignore SA1019 testing the PKCS#11 mechanism against the standard library.
	ct, err = rsa.EncryptPKCS1v15(rand.Reader, &rsaKey.PublicKey, []byte("secret"))
	require.NoError(t, err)
	pt, err = tok.Decrypt(User, priv, ckRSAPKCS, ct)
	require.NoError(t, err)
	assert.Equal(t, []byte("secret"), pt)

	garbage := bytes.Repeat([]byte{0x5A}, 256)
	tests := []struct {
		name    string
		decrypt bool
		acc     Access
		h       Handle
		mech    ck.Mechanism
		data    []byte
		rv      ck.ReturnValue
	}{
		{"decrypt short", true, User, priv, good, garbage[:255], ck.CKR_ENCRYPTED_DATA_LEN_RANGE},
		{"decrypt long", true, User, priv, ckRSAPKCS, append(garbage, 0), ck.CKR_ENCRYPTED_DATA_LEN_RANGE},
		{"decrypt garbage OAEP", true, User, priv, good, garbage, ck.CKR_ENCRYPTED_DATA_INVALID},
		{"decrypt garbage PKCS", true, User, priv, ckRSAPKCS, garbage, ck.CKR_ENCRYPTED_DATA_INVALID},
		{"decrypt above modulus", true, User, priv, ckRSAPKCS, bytes.Repeat([]byte{0xFF}, 256), ck.CKR_ENCRYPTED_DATA_INVALID},
		{"decrypt not permitted", true, User, noDecrypt, good, garbage, ck.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"decrypt with public key", true, User, pub, good, garbage, ck.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"decrypt without login", true, Public, priv, good, garbage, ck.CKR_OBJECT_HANDLE_INVALID},
		{"OAEP bad hash", true, User, priv, oaep(ck.CKM_MD5, ck.CKG_MGF1_SHA256, nil), garbage, ck.CKR_MECHANISM_PARAM_INVALID},
		{"OAEP bad MGF", true, User, priv, oaep(ck.CKM_SHA256, ck.CKG_MGF1_SHA3_256, nil), garbage, ck.CKR_MECHANISM_PARAM_INVALID},
		{"OAEP without parameters", true, User, priv, ck.Mechanism{Type: ck.CKM_RSA_PKCS_OAEP}, garbage, ck.CKR_MECHANISM_PARAM_INVALID},
		{"PSS cannot decrypt", true, User, priv, pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 0), garbage, ck.CKR_MECHANISM_INVALID},
		{"encrypt too long OAEP", false, User, pub, good, make([]byte, 256-2*32-1), ck.CKR_DATA_LEN_RANGE},
		{"encrypt too long PKCS", false, User, pub, ckRSAPKCS, make([]byte, 256-10), ck.CKR_DATA_LEN_RANGE},
		{"encrypt with private key", false, User, priv, good, []byte("x"), ck.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"encrypt not permitted", false, User, noEncrypt, good, []byte("x"), ck.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"encrypt with EC mechanism", false, User, pub, ckECDSA, []byte("x"), ck.CKR_MECHANISM_INVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.decrypt {
				_, err = tok.Decrypt(tc.acc, tc.h, tc.mech, tc.data)
			} else {
				_, err = tok.Encrypt(tc.acc, tc.h, tc.mech, tc.data)
			}
			requireRV(t, err, tc.rv)
		})
	}
	// The longest OAEP message fits.
	_, err = tok.Encrypt(User, pub, good, make([]byte, 256-2*32-2))
	require.NoError(t, err)
}

func TestAESGCM(t *testing.T) {
	tok := newTestToken(t)
	aad := []byte("header")
	msg := []byte("the plaintext, longer than one block of AES")
	for _, size := range []int{16, 24, 32} {
		key := make([]byte, size)
		_, _ = rand.Read(key)
		h := mustCreate(t, tok, User, aesTemplate(key))
		block, err := aes.NewCipher(key)
		require.NoError(t, err)
		for _, ivLen := range []int{1, 8, 12, 16, 60, 128} {
			for _, tagBits := range []uint32{32, 64, 96, 104, 112, 120, 128} {
				t.Run(fmt.Sprintf("AES-%d IV %d tag %d", size*8, ivLen, tagBits), func(t *testing.T) {
					iv := make([]byte, ivLen)
					_, _ = rand.Read(iv)
					tagLen := int(tagBits / 8)
					m := gcm(iv, aad, tagBits)
					ct, err := tok.Encrypt(User, h, m, msg)
					require.NoError(t, err)
					require.Len(t, ct, len(msg)+tagLen)

					// A truncated tag is the standard library's full tag, cut.
					std, err := cipher.NewGCMWithNonceSize(block, ivLen)
					require.NoError(t, err)
					full := std.Seal(nil, iv, msg, aad)
					assert.Equal(t, full[:len(msg)+tagLen], ct)
					if ivLen == 12 && tagLen >= 12 {
						std, err := cipher.NewGCMWithTagSize(block, tagLen)
						require.NoError(t, err)
						pt, err := std.Open(nil, iv, ct, aad)
						require.NoError(t, err)
						assert.Equal(t, msg, pt)
					}

					pt, err := tok.Decrypt(User, h, m, ct)
					require.NoError(t, err)
					assert.Equal(t, msg, pt)

					for _, i := range []int{0, len(msg) - 1, len(ct) - 1} {
						bad := append([]byte{}, ct...)
						bad[i] ^= 1
						_, err = tok.Decrypt(User, h, m, bad)
						requireRV(t, err, ck.CKR_ENCRYPTED_DATA_INVALID)
					}
					_, err = tok.Decrypt(User, h, gcm(iv, []byte("other"), tagBits), ct)
					requireRV(t, err, ck.CKR_ENCRYPTED_DATA_INVALID)
					_, err = tok.Decrypt(User, h, m, ct[:tagLen-1])
					requireRV(t, err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE)
				})
			}
		}
	}

	h := mustCreate(t, tok, User, aesTemplate(make([]byte, 16)))
	// Empty plaintext and empty AAD.
	ct, err := tok.Encrypt(User, h, gcm(make([]byte, 12), nil, 128), nil)
	require.NoError(t, err)
	require.Len(t, ct, 16)
	pt, err := tok.Decrypt(User, h, gcm(make([]byte, 12), nil, 128), ct)
	require.NoError(t, err)
	assert.Empty(t, pt)

	noEncrypt := mustCreate(t, tok, User, aesTemplate(make([]byte, 16), ck.Bool(ck.CKA_ENCRYPT, false)))
	publicAES := mustCreate(t, tok, User, aesTemplate(make([]byte, 16), ck.Bool(ck.CKA_PRIVATE, false)))
	iv := make([]byte, 12)
	tests := []struct {
		name string
		acc  Access
		h    Handle
		mech ck.Mechanism
		rv   ck.ReturnValue
	}{
		{"no IV", User, h, gcm(nil, nil, 128), ck.CKR_MECHANISM_PARAM_INVALID},
		{"IV too long", User, h, gcm(make([]byte, 129), nil, 128), ck.CKR_MECHANISM_PARAM_INVALID},
		{"tag 0", User, h, gcm(iv, nil, 0), ck.CKR_MECHANISM_PARAM_INVALID},
		{"tag 100", User, h, gcm(iv, nil, 100), ck.CKR_MECHANISM_PARAM_INVALID},
		{"tag 136", User, h, gcm(iv, nil, 136), ck.CKR_MECHANISM_PARAM_INVALID},
		{"tag 88", User, h, gcm(iv, nil, 88), ck.CKR_MECHANISM_PARAM_INVALID},
		{"no parameters", User, h, ck.Mechanism{Type: ck.CKM_AES_GCM}, ck.CKR_MECHANISM_PARAM_INVALID},
		{"not permitted", User, noEncrypt, gcm(iv, nil, 128), ck.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"RSA mechanism", User, h, oaep(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, nil), ck.CKR_KEY_TYPE_INCONSISTENT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tok.Encrypt(tc.acc, tc.h, tc.mech, msg)
			requireRV(t, err, tc.rv)
		})
	}
	_, err = tok.Decrypt(User, noEncrypt, gcm(iv, nil, 128), ct)
	require.NoError(t, err, "CKA_DECRYPT is still true")
	// A secret key made with CKA_PRIVATE=false is a public object: a
	// session without login may use it (PKCS#11 2.40 section 4.4).
	_, err = tok.Encrypt(Public, publicAES, gcm(iv, nil, 128), msg)
	require.NoError(t, err)
}

// TestSHA512Digests makes sure the SHA-384/512 imports are exercised with
// PSS on a digest computed independently of the token's hash table.
func TestSHA512Digests(t *testing.T) {
	tok := newTestToken(t)
	rsaKey := testRSA(t)
	priv := mustCreate(t, tok, User, rsaPrivTemplate(rsaKey))
	d := sha512.Sum384([]byte("m"))
	sig, err := tok.Sign(User, priv, pss(ck.CKM_SHA384, ck.CKG_MGF1_SHA384, 48), d[:])
	require.NoError(t, err)
	require.NoError(t, rsa.VerifyPSS(&rsaKey.PublicKey, crypto.SHA384, d[:], sig, &rsa.PSSOptions{SaltLength: 48}))
	d2 := sha256.Sum224([]byte("m"))
	sig, err = tok.Sign(User, priv, pss(ck.CKM_SHA224, ck.CKG_MGF1_SHA224, 0), d2[:])
	require.NoError(t, err)
	require.NoError(t, rsa.VerifyPSS(&rsaKey.PublicKey, crypto.SHA224, d2[:], sig, nil))
}
