package pkcs11test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	_ "crypto/sha1" // registers crypto.SHA1
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (f *fixture) signOnce(sh pkcs11.SessionHandle, m uint, param any, key pkcs11.ObjectHandle, data []byte) []byte {
	f.tb.Helper()
	require.NoError(f.tb, f.p.SignInit(sh, mech(m, param), key), "C_SignInit(%#x)", m)
	sig, err := f.p.Sign(sh, data)
	require.NoError(f.tb, err, "C_Sign(%#x)", m)
	return sig
}

func hashOf(h crypto.Hash, msg []byte) []byte {
	w := h.New()
	w.Write(msg)
	return w.Sum(nil)
}

// digestInfo is the DER DigestInfo (RFC 8017 section 9.2) that CKM_RSA_PKCS
// signs for a hash-and-sign client.
func digestInfo(h crypto.Hash, digest []byte) []byte {
	oids := map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA1:   {1, 3, 14, 3, 2, 26},
		crypto.SHA224: {2, 16, 840, 1, 101, 3, 4, 2, 4},
		crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
		crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
		crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
	}
	return mustDER(struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}{pkix.AlgorithmIdentifier{Algorithm: oids[h], Parameters: asn1.NullRawValue}, digest})
}

// hashMechs are the digests PKCS#11 names, with the MGF1 of the same hash.
var hashMechs = []struct {
	name      string
	hash      crypto.Hash
	mech, mgf uint
	rsaPKCS   uint // CKM_SHAx_RSA_PKCS
	rsaPSS    uint // CKM_SHAx_RSA_PKCS_PSS
	ecdsa     uint // CKM_ECDSA_SHAx
}{
	{"SHA-1", crypto.SHA1, pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1, pkcs11.CKM_SHA1_RSA_PKCS, pkcs11.CKM_SHA1_RSA_PKCS_PSS, pkcs11.CKM_ECDSA_SHA1},
	{"SHA-224", crypto.SHA224, pkcs11.CKM_SHA224, pkcs11.CKG_MGF1_SHA224, pkcs11.CKM_SHA224_RSA_PKCS, pkcs11.CKM_SHA224_RSA_PKCS_PSS, pkcs11.CKM_ECDSA_SHA224},
	{"SHA-256", crypto.SHA256, pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, pkcs11.CKM_SHA256_RSA_PKCS, pkcs11.CKM_SHA256_RSA_PKCS_PSS, pkcs11.CKM_ECDSA_SHA256},
	{"SHA-384", crypto.SHA384, pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384, pkcs11.CKM_SHA384_RSA_PKCS, pkcs11.CKM_SHA384_RSA_PKCS_PSS, pkcs11.CKM_ECDSA_SHA384},
	{"SHA-512", crypto.SHA512, pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512, pkcs11.CKM_SHA512_RSA_PKCS, pkcs11.CKM_SHA512_RSA_PKCS_PSS, pkcs11.CKM_ECDSA_SHA512},
}

// signCase is one signature mechanism: what it signs (the message, or a
// digest the client made), and how Go's standard library checks it.
type signCase struct {
	name   string
	mech   uint
	param  []byte
	key    string
	input  func(msg []byte) []byte
	verify func(pub crypto.PublicKey, msg, sig []byte) error
	sigLen int
}

func verifyRawECDSA(h crypto.Hash) func(pub crypto.PublicKey, msg, sig []byte) error {
	return func(pub crypto.PublicKey, msg, sig []byte) error {
		k := pub.(*ecdsa.PublicKey)
		size := (k.Curve.Params().BitSize + 7) / 8
		// PKCS#11 2.40 Current Mechanisms, ECDSA: a signature is r||s, each of
		// the order's length.
		if len(sig) != 2*size {
			return fmt.Errorf("signature of %d bytes, want %d", len(sig), 2*size)
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(k, hashOf(h, msg), r, s) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
}

func signCases() []signCase {
	var cases []signCase
	identity := func(msg []byte) []byte { return msg }
	for _, h := range hashMechs {
		h := h
		cases = append(cases,
			signCase{
				name: "CKM_RSA_PKCS/DigestInfo-" + h.name, mech: pkcs11.CKM_RSA_PKCS, key: "rsa", sigLen: 256,
				input: func(msg []byte) []byte { return digestInfo(h.hash, hashOf(h.hash, msg)) },
				verify: func(pub crypto.PublicKey, msg, sig []byte) error {
					return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), h.hash, hashOf(h.hash, msg), sig)
				},
			},
			signCase{
				name: "CKM_RSA_PKCS_PSS/" + h.name, mech: pkcs11.CKM_RSA_PKCS_PSS, key: "rsa", sigLen: 256,
				param: pkcs11.NewPSSParams(h.mech, h.mgf, uint(h.hash.Size())),
				input: func(msg []byte) []byte { return hashOf(h.hash, msg) },
				verify: func(pub crypto.PublicKey, msg, sig []byte) error {
					return rsa.VerifyPSS(pub.(*rsa.PublicKey), h.hash, hashOf(h.hash, msg), sig, &rsa.PSSOptions{SaltLength: h.hash.Size()})
				},
			},
			signCase{
				name: fmt.Sprintf("%#x(%s-RSA-PKCS)", h.rsaPKCS, h.name), mech: h.rsaPKCS, key: "rsa", sigLen: 256, input: identity,
				verify: func(pub crypto.PublicKey, msg, sig []byte) error {
					return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), h.hash, hashOf(h.hash, msg), sig)
				},
			},
			signCase{
				name: fmt.Sprintf("%#x(%s-RSA-PSS)", h.rsaPSS, h.name), mech: h.rsaPSS, key: "rsa", sigLen: 256, input: identity,
				param: pkcs11.NewPSSParams(h.mech, h.mgf, uint(h.hash.Size())),
				verify: func(pub crypto.PublicKey, msg, sig []byte) error {
					return rsa.VerifyPSS(pub.(*rsa.PublicKey), h.hash, hashOf(h.hash, msg), sig, &rsa.PSSOptions{SaltLength: h.hash.Size()})
				},
			},
			signCase{
				name: fmt.Sprintf("%#x(ECDSA-%s)/P-256", h.ecdsa, h.name), mech: h.ecdsa, key: "p256", sigLen: 64, input: identity,
				verify: verifyRawECDSA(h.hash),
			},
		)
	}
	// PSS with an empty salt. Go's verifier cannot be told to expect
	// exactly no salt (PSSSaltLengthAuto accepts any length); C_Verify,
	// which checks every signature too, holds the salt to the parameters.
	cases = append(cases, signCase{
		name: "CKM_SHA256_RSA_PKCS_PSS/salt-0", mech: pkcs11.CKM_SHA256_RSA_PKCS_PSS, key: "rsa", sigLen: 256, input: identity,
		param: pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 0),
		verify: func(pub crypto.PublicKey, msg, sig []byte) error {
			return rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, hashOf(crypto.SHA256, msg), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		},
	})
	for _, c := range []struct {
		key  string
		hash crypto.Hash
		mech uint
		len  int
	}{
		{"p256", crypto.SHA256, pkcs11.CKM_ECDSA_SHA256, 64},
		{"p384", crypto.SHA384, pkcs11.CKM_ECDSA_SHA384, 96},
		{"p521", crypto.SHA512, pkcs11.CKM_ECDSA_SHA512, 132},
	} {
		c := c
		cases = append(cases,
			signCase{
				name: "CKM_ECDSA/" + c.key, mech: pkcs11.CKM_ECDSA, key: c.key, sigLen: c.len,
				input: func(msg []byte) []byte { return hashOf(c.hash, msg) },
				verify: func(pub crypto.PublicKey, msg, sig []byte) error {
					return verifyRawECDSA(c.hash)(pub, msg, sig)
				},
			},
			signCase{
				name: fmt.Sprintf("%#x/%s", c.mech, c.key), mech: c.mech, key: c.key, sigLen: c.len, input: identity,
				verify: verifyRawECDSA(c.hash),
			},
		)
	}
	cases = append(cases, signCase{
		name: "CKM_EDDSA", mech: ckmEdDSA, key: "ed25519", sigLen: ed25519.SignatureSize, input: identity,
		verify: func(pub crypto.PublicKey, msg, sig []byte) error {
			if !ed25519.Verify(pub.(ed25519.PublicKey), msg, sig) {
				return errors.New("Ed25519 signature does not verify")
			}
			return nil
		},
	})
	return cases
}

// signingKeys generates one key of each kind the sign mechanisms use.
func (f *fixture) signingKeys(sh pkcs11.SessionHandle) map[string]keyPair {
	return map[string]keyPair{
		"rsa":     f.genRSA(sh, 2048, "sign-rsa"),
		"p256":    f.genEC(sh, elliptic.P256(), "sign-p256"),
		"p384":    f.genEC(sh, elliptic.P384(), "sign-p384"),
		"p521":    f.genEC(sh, elliptic.P521(), "sign-p521"),
		"ed25519": f.genEd25519(sh, paramsEd, "sign-ed25519"),
	}
}

// parts splits b into three parts, the middle one empty: PKCS#11 allows
// parts of any length, zero included.
func parts(b []byte) [][]byte {
	return [][]byte{b[:len(b)/3], {}, b[len(b)/3:]}
}

func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0x01
	return out
}

func TestSign(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	keys := f.signingKeys(sh)
	msg := []byte("keyhold signs this message through PKCS#11")

	for _, c := range signCases() {
		t.Run(c.name, func(t *testing.T) {
			k := keys[c.key]
			var param any
			if c.param != nil {
				param = c.param
			}
			in := c.input(msg)

			// Single part (PKCS#11 2.40 section 5.11, C_Sign).
			sig := f.signOnce(sh, c.mech, param, k.priv, in)
			assert.Len(t, sig, c.sigLen)
			require.NoError(t, c.verify(k.public, msg, sig), "single-part signature, checked by Go")

			// Multi-part (C_SignUpdate, C_SignFinal): hash-and-sign
			// mechanisms hash the parts, raw ones accumulate them.
			require.NoError(t, f.p.SignInit(sh, mech(c.mech, param), k.priv))
			for _, part := range parts(in) {
				require.NoError(t, f.p.SignUpdate(sh, part))
			}
			sig2, err := f.p.SignFinal(sh)
			require.NoError(t, err)
			assert.Len(t, sig2, c.sigLen)
			require.NoError(t, c.verify(k.public, msg, sig2), "multi-part signature, checked by Go")

			// C_Verify and C_VerifyUpdate/C_VerifyFinal with the public
			// key object accept both.
			for _, s := range [][]byte{sig, sig2} {
				require.NoError(t, f.p.VerifyInit(sh, mech(c.mech, param), k.pub))
				require.NoError(t, f.p.Verify(sh, in, s))
				require.NoError(t, f.p.VerifyInit(sh, mech(c.mech, param), k.pub))
				for _, part := range parts(in) {
					require.NoError(t, f.p.VerifyUpdate(sh, part))
				}
				require.NoError(t, f.p.VerifyFinal(sh, s))
			}

			// Tampered data, or signature: CKR_SIGNATURE_INVALID; a
			// signature of the wrong length: CKR_SIGNATURE_LEN_RANGE.
			require.NoError(t, f.p.VerifyInit(sh, mech(c.mech, param), k.pub))
			requireRV(t, pkcs11.CKR_SIGNATURE_INVALID, f.p.Verify(sh, flip(in, len(in)-1), sig), "tampered data")
			require.NoError(t, f.p.VerifyInit(sh, mech(c.mech, param), k.pub))
			requireRV(t, pkcs11.CKR_SIGNATURE_INVALID, f.p.Verify(sh, in, flip(sig, len(sig)-1)), "tampered signature")
			require.NoError(t, f.p.VerifyInit(sh, mech(c.mech, param), k.pub))
			for _, part := range parts(flip(in, 0)) {
				require.NoError(t, f.p.VerifyUpdate(sh, part))
			}
			requireRV(t, pkcs11.CKR_SIGNATURE_INVALID, f.p.VerifyFinal(sh, sig), "tampered data, multi-part")
			require.NoError(t, f.p.VerifyInit(sh, mech(c.mech, param), k.pub))
			requireRV(t, pkcs11.CKR_SIGNATURE_LEN_RANGE, f.p.Verify(sh, in, sig[:len(sig)-1]), "short signature")
			require.NoError(t, f.p.VerifyInit(sh, mech(c.mech, param), k.pub))
			requireRV(t, pkcs11.CKR_SIGNATURE_LEN_RANGE, f.p.Verify(sh, in, append(append([]byte(nil), sig...), 0)), "long signature")
			// A failed C_Verify ended the operation (section 5.12).
			requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, f.p.Verify(sh, in, sig))
		})
	}
}

func TestVerifyWithoutLogin(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	k := f.genEC(sh, elliptic.P256(), "public-verify")
	digest := hashOf(crypto.SHA256, []byte("m"))
	sig := f.signOnce(sh, pkcs11.CKM_ECDSA, nil, k.priv, digest)
	require.NoError(t, f.p.Logout(sh))
	// Verifying with a public key needs no login (PKCS#11 2.40 section
	// 5.12: public objects are usable in public sessions).
	ro := f.open(false)
	require.NoError(t, f.p.VerifyInit(ro, mech(pkcs11.CKM_ECDSA, nil), k.pub))
	require.NoError(t, f.p.Verify(ro, digest, sig))
}

func TestSignErrors(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	keys := f.signingKeys(sh)
	rsaKey, ecKey, edKey := keys["rsa"], keys["p256"], keys["ed25519"]
	aesKey := f.genAES(sh, 32, "not-for-signing")
	noSign := f.genEC(sh, elliptic.P256(), "no-sign", pkcs11.NewAttribute(pkcs11.CKA_SIGN, false))
	data, err := f.p.CreateObject(sh, dataTemplate("data", false, []byte("x")))
	require.NoError(t, err)
	digest := hashOf(crypto.SHA256, []byte("m"))
	pss := pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 32)

	t.Run("operation state", func(t *testing.T) {
		// PKCS#11 2.40 section 5.11: Update/Final/Sign need SignInit.
		_, err := f.p.Sign(sh, digest)
		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, f.p.SignUpdate(sh, digest))
		_, err = f.p.SignFinal(sh)
		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, f.p.Verify(sh, digest, make([]byte, 64)))
		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, f.p.VerifyUpdate(sh, digest))
		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, f.p.VerifyFinal(sh, make([]byte, 64)))

		// A second SignInit while one is active, which it leaves alone.
		require.NoError(t, f.p.SignInit(sh, mech(pkcs11.CKM_ECDSA, nil), ecKey.priv))
		requireRV(t, pkcs11.CKR_OPERATION_ACTIVE, f.p.SignInit(sh, mech(pkcs11.CKM_ECDSA, nil), ecKey.priv))
		sig, err := f.p.Sign(sh, digest)
		require.NoError(t, err)
		require.NoError(t, verifyRawECDSA(crypto.SHA256)(ecKey.public, []byte("m"), sig))
		// C_Sign ended it.
		_, err = f.p.Sign(sh, digest)
		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)

		// C_Sign "cannot be used to terminate a multi-part operation"
		// (section 5.11): after an Update it must not sign. The
		// specification names no code for it; any error will do.
		require.NoError(t, f.p.SignInit(sh, mech(pkcs11.CKM_ECDSA_SHA256, nil), ecKey.priv))
		require.NoError(t, f.p.SignUpdate(sh, []byte("part")))
		_, err = f.p.Sign(sh, []byte("all"))
		require.Error(t, err, "C_Sign after C_SignUpdate")
		_, err = f.p.SignFinal(sh)
		requireRVIn(t, []uint{pkcs11.CKR_OK, pkcs11.CKR_OPERATION_NOT_INITIALIZED}, err)

		require.NoError(t, f.p.VerifyInit(sh, mech(pkcs11.CKM_ECDSA, nil), ecKey.pub))
		requireRV(t, pkcs11.CKR_OPERATION_ACTIVE, f.p.VerifyInit(sh, mech(pkcs11.CKM_ECDSA, nil), ecKey.pub))
		require.NoError(t, f.p.Verify(sh, digest, sig))
	})

	t.Run("an error in C_Sign ends the operation", func(t *testing.T) {
		// Section 5.11: C_Sign always terminates the operation unless it
		// returns CKR_BUFFER_TOO_SMALL or answers a length query.
		require.NoError(t, f.p.SignInit(sh, mech(pkcs11.CKM_RSA_PKCS_PSS, pss), rsaKey.priv))
		_, err := f.p.Sign(sh, digest[:31])
		requireRV(t, pkcs11.CKR_DATA_LEN_RANGE, err, "a SHA-256 digest has 32 bytes")
		_, err = f.p.Sign(sh, digest)
		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)

		require.NoError(t, f.p.SignInit(sh, mech(pkcs11.CKM_RSA_PKCS, nil), rsaKey.priv))
		_, err = f.p.Sign(sh, make([]byte, 256-10))
		requireRV(t, pkcs11.CKR_DATA_LEN_RANGE, err, "PKCS#1 v1.5 signs at most k-11 bytes")
		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, f.p.SignUpdate(sh, digest))

		// The same for a multi-part signature that fails at its end.
		require.NoError(t, f.p.SignInit(sh, mech(pkcs11.CKM_RSA_PKCS, nil), rsaKey.priv))
		require.NoError(t, f.p.SignUpdate(sh, make([]byte, 200)))
		require.NoError(t, f.p.SignUpdate(sh, make([]byte, 200)))
		_, err = f.p.SignFinal(sh)
		requireRV(t, pkcs11.CKR_DATA_LEN_RANGE, err)
		_, err = f.p.SignFinal(sh)
		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)

		require.NoError(t, f.p.VerifyInit(sh, mech(pkcs11.CKM_ECDSA_SHA256, nil), ecKey.pub))
		require.NoError(t, f.p.VerifyUpdate(sh, []byte("m")))
		requireRV(t, pkcs11.CKR_SIGNATURE_INVALID, f.p.VerifyFinal(sh, make([]byte, 64)))
		requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, f.p.VerifyUpdate(sh, []byte("m")))
	})

	initCases := []struct {
		name   string
		verify bool
		mech   uint
		param  any
		key    pkcs11.ObjectHandle
		want   []uint
	}{
		// Section 5.11 (C_SignInit) and 5.12 (C_VerifyInit).
		{"CKA_SIGN false", false, pkcs11.CKM_ECDSA, nil, noSign.priv, []uint{pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED}},
		{"RSA key, ECDSA", false, pkcs11.CKM_ECDSA, nil, rsaKey.priv, []uint{pkcs11.CKR_KEY_TYPE_INCONSISTENT}},
		{"EC key, RSA", false, pkcs11.CKM_SHA256_RSA_PKCS, nil, ecKey.priv, []uint{pkcs11.CKR_KEY_TYPE_INCONSISTENT}},
		{"Ed25519 key, ECDSA", false, pkcs11.CKM_ECDSA, nil, edKey.priv, []uint{pkcs11.CKR_KEY_TYPE_INCONSISTENT}},
		{"EC key, EdDSA", false, ckmEdDSA, nil, ecKey.priv, []uint{pkcs11.CKR_KEY_TYPE_INCONSISTENT}},
		{"EC public key, RSA verify", true, pkcs11.CKM_SHA256_RSA_PKCS, nil, ecKey.pub, []uint{pkcs11.CKR_KEY_TYPE_INCONSISTENT}},
		// A secret key neither is an EC key nor may sign: either answer
		// names a real fault.
		{"AES key, ECDSA", false, pkcs11.CKM_ECDSA, nil, aesKey, []uint{pkcs11.CKR_KEY_TYPE_INCONSISTENT, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED}},
		{"data object", false, pkcs11.CKM_ECDSA, nil, data, []uint{pkcs11.CKR_KEY_HANDLE_INVALID}},
		{"no such key", false, pkcs11.CKM_ECDSA, nil, 0x7eadbeef, []uint{pkcs11.CKR_KEY_HANDLE_INVALID}},
		{"no such key, verify", true, pkcs11.CKM_ECDSA, nil, 0x7eadbeef, []uint{pkcs11.CKR_KEY_HANDLE_INVALID}},
		{"handle 0", false, pkcs11.CKM_ECDSA, nil, 0, []uint{pkcs11.CKR_KEY_HANDLE_INVALID}},
		{"unknown mechanism", false, pkcs11.CKM_VENDOR_DEFINED | 0x1234, nil, ecKey.priv, []uint{pkcs11.CKR_MECHANISM_INVALID}},
		{"MD5 with RSA", false, pkcs11.CKM_MD5_RSA_PKCS, nil, rsaKey.priv, []uint{pkcs11.CKR_MECHANISM_INVALID}},
		{"digest mechanism", false, pkcs11.CKM_SHA256, nil, ecKey.priv, []uint{pkcs11.CKR_MECHANISM_INVALID}},
		{"encryption mechanism", false, pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.NewOAEPParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 0, nil), rsaKey.priv, []uint{pkcs11.CKR_MECHANISM_INVALID}},
		{"key generation mechanism", false, pkcs11.CKM_EC_KEY_PAIR_GEN, nil, ecKey.priv, []uint{pkcs11.CKR_MECHANISM_INVALID}},
		// CK_RSA_PKCS_PSS_PARAMS (Current Mechanisms, PKCS #1 RSA PSS): the hash
		// must be the
		// mechanism's, the MGF that of a supported hash, the salt no longer
		// than the key allows.
		{"PSS without parameters", false, pkcs11.CKM_RSA_PKCS_PSS, nil, rsaKey.priv, []uint{pkcs11.CKR_MECHANISM_PARAM_INVALID}},
		{"SHA256-RSA-PSS with SHA-1", false, pkcs11.CKM_SHA256_RSA_PKCS_PSS, pkcs11.NewPSSParams(pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1, 20), rsaKey.priv, []uint{pkcs11.CKR_MECHANISM_PARAM_INVALID}},
		{"PSS with MD5", false, pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(pkcs11.CKM_MD5, pkcs11.CKG_MGF1_SHA256, 16), rsaKey.priv, []uint{pkcs11.CKR_MECHANISM_PARAM_INVALID}},
		{"PSS with unknown MGF", false, pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(pkcs11.CKM_SHA256, 0x77, 32), rsaKey.priv, []uint{pkcs11.CKR_MECHANISM_PARAM_INVALID}},
		{"PSS salt too long", false, pkcs11.CKM_SHA256_RSA_PKCS_PSS, pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 1000), rsaKey.priv, []uint{pkcs11.CKR_MECHANISM_PARAM_INVALID}},
		{"ECDSA with parameters", false, pkcs11.CKM_ECDSA, []byte{1, 2, 3, 4, 5, 6, 7, 8}, ecKey.priv, []uint{pkcs11.CKR_MECHANISM_PARAM_INVALID}},
	}
	for _, c := range initCases {
		t.Run(c.name, func(t *testing.T) {
			// A session of its own, so that an operation a failing case
			// leaves behind does not spill into the next case.
			s := f.open(false)
			defer f.p.CloseSession(s)
			var err error
			if c.verify {
				err = f.p.VerifyInit(s, mech(c.mech, c.param), c.key)
			} else {
				err = f.p.SignInit(s, mech(c.mech, c.param), c.key)
			}
			requireRVIn(t, c.want, err)
			// A refused Init leaves no operation behind.
			_, err = f.p.Sign(s, digest)
			requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, err)
			requireRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, f.p.Verify(s, digest, make([]byte, 64)))
		})
	}
}
