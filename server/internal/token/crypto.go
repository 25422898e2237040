package token

import (
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"math/big"
	"slices"

	"github.com/keyhold/keyhold/ck"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// useKey finds the key h names and checks that acc may use it for operation
// o with mechanism m. The object returned is immutable: the caller runs the
// cryptography with no lock held. Checks run from the most general to the
// most specific, so each failure gets the PKCS#11 code that names it:
// handle, login, mechanism, key type, key usage, allowed mechanisms,
// parameters.
func (t *Token) useKey(acc Access, h Handle, m ck.Mechanism, o op) (*object, error) {
	obj, err := t.lookup(acc, h)
	if err != nil {
		return nil, err
	}
	if !obj.kind.isKey() {
		return nil, ck.Errorf(ck.CKR_KEY_HANDLE_INVALID, "the object is not a key")
	}
	// Anything that touches secret material of a private object is the
	// user's: signing and decrypting with a private key, and every use of a
	// secret key. A key made with CKA_PRIVATE=false is a public object
	// (PKCS#11 2.40 section 4.4): its creator chose to let every session use
	// it without a login, as SoftHSM2 and hardware tokens do. Verifying and
	// encrypting with a public key need no login either.
	secret := obj.kind.class == ck.CKO_SECRET_KEY ||
		(obj.kind.class == ck.CKO_PRIVATE_KEY && (o == opSign || o == opDecrypt || o == opUnwrap || o == opDerive || o == opDecapsulate))
	if secret && obj.private && acc != User {
		return nil, ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "using this key to %v needs the user to be logged in", o)
	}
	def, ok := mechDefs[m.Type]
	if !ok || def.ops&o.set() == 0 {
		return nil, ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v cannot %v on this token", m.Type, o)
	}
	if def.keyType != obj.kind.keyType() {
		return nil, ck.Errorf(ck.CKR_KEY_TYPE_INCONSISTENT, "%v needs a %v key, not %v", m.Type, def.keyType, obj.kind.keyType())
	}
	if !obj.can[o] {
		return nil, ck.Errorf(ck.CKR_KEY_FUNCTION_NOT_PERMITTED, "the key's attributes do not permit it to %v", o)
	}
	if obj.allowed != nil && !slices.Contains(obj.allowed, m.Type) {
		return nil, ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v is not in the key's %v", m.Type, ck.CKA_ALLOWED_MECHANISMS)
	}
	if err := checkParamsShape(m, def.params); err != nil {
		return nil, err
	}
	return obj, nil
}

// Sign signs data (C_Sign) with the private key h names:
//   - CKM_RSA_PKCS: PKCS#1 v1.5 padding of data as given, which is a
//     DigestInfo or any data up to k-11 bytes (the client hashes);
//   - CKM_RSA_PKCS_PSS: data is the digest; PSSParams required;
//   - CKM_ECDSA: data is the digest; the signature is r||s, each padded to
//     the curve's size, as PKCS#11 defines it;
//   - CKM_EDDSA: pure Ed25519 of the message;
//   - CKM_ML_DSA: pure ML-DSA of the message, CKM_ML_DSA_EXTERNAL_MU of a
//     64-byte mu, with an optional CK_SIGN_ADDITIONAL_CONTEXT (Go 1.27).
func (t *Token) Sign(acc Access, h Handle, m ck.Mechanism, data []byte) ([]byte, error) {
	o, err := t.useKey(acc, h, m, opSign)
	if err != nil {
		return nil, err
	}
	k := o.key
	switch m.Type {
	case ck.CKM_RSA_PKCS:
		if len(data) > k.rsa.Size()-11 {
			return nil, ck.Errorf(ck.CKR_DATA_LEN_RANGE, "%v signs at most %d bytes with this key", m.Type, k.rsa.Size()-11)
		}
		sig, err := rsa.SignPKCS1v15(nil, k.rsa, crypto.Hash(0), data)
		if err != nil {
			return nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "RSA signature failed")
		}
		return sig, nil
	case ck.CKM_RSA_PKCS_PSS:
		hash, salt, err := pssParams(m.PSS, k.rsaPub, data)
		if err != nil {
			return nil, err
		}
		if salt == 0 {
			return signPSSEmptySalt(k, hash, data)
		}
		sig, err := rsa.SignPSS(rand.Reader, k.rsa, hash, data, &rsa.PSSOptions{SaltLength: salt, Hash: hash})
		if err != nil {
			return nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "RSA-PSS signature failed")
		}
		return sig, nil
	case ck.CKM_ECDSA:
		// PKCS#11 accepts a digest of any length and truncates it to the
		// order's size; empty input is certainly a client bug.
		if len(data) == 0 {
			return nil, ck.Errorf(ck.CKR_DATA_LEN_RANGE, "%v needs a digest", m.Type)
		}
		der, err := ecdsa.SignASN1(rand.Reader, k.ec, data)
		if err != nil {
			return nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "ECDSA signature failed")
		}
		return rawECDSA(der, k.ecSize)
	case ck.CKM_EDDSA:
		return ed25519.Sign(k.ed, data), nil
	case ck.CKM_ML_DSA, ck.CKM_ML_DSA_EXTERNAL_MU:
		return k.signMLDSA(m, data)
	case ck.CKM_AES_CMAC, ck.CKM_SHA_1_HMAC, ck.CKM_SHA224_HMAC, ck.CKM_SHA256_HMAC, ck.CKM_SHA384_HMAC, ck.CKM_SHA512_HMAC:
		return k.mac(m.Type, data)
	}
	return nil, ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v cannot sign", m.Type)
}

// Verify checks a signature (C_Verify) with the public key object h names,
// or with the public half of a private key object (which then needs
// CKA_SIGN). Mechanisms and data as for Sign. A wrong signature answers
// CKR_SIGNATURE_INVALID, one of the wrong length CKR_SIGNATURE_LEN_RANGE.
func (t *Token) Verify(acc Access, h Handle, m ck.Mechanism, data, sig []byte) error {
	o, err := t.useKey(acc, h, m, opVerify)
	if err != nil {
		return err
	}
	k := o.key
	invalid := ck.Errorf(ck.CKR_SIGNATURE_INVALID, "the signature does not verify")
	switch m.Type {
	case ck.CKM_RSA_PKCS:
		if len(data) > k.rsaPub.Size()-11 {
			return ck.Errorf(ck.CKR_DATA_LEN_RANGE, "%v covers at most %d bytes with this key", m.Type, k.rsaPub.Size()-11)
		}
		if len(sig) != k.rsaPub.Size() {
			return ck.Errorf(ck.CKR_SIGNATURE_LEN_RANGE, "an RSA signature with this key has %d bytes", k.rsaPub.Size())
		}
		if rsa.VerifyPKCS1v15(k.rsaPub, crypto.Hash(0), data, sig) != nil {
			return invalid
		}
		return nil
	case ck.CKM_RSA_PKCS_PSS:
		hash, salt, err := pssParams(m.PSS, k.rsaPub, data)
		if err != nil {
			return err
		}
		if len(sig) != k.rsaPub.Size() {
			return ck.Errorf(ck.CKR_SIGNATURE_LEN_RANGE, "an RSA signature with this key has %d bytes", k.rsaPub.Size())
		}
		if salt == 0 {
			// Go's VerifyPSS reads salt length 0 as "any length"; PKCS#11
			// asks for exactly the length in the parameters.
			if !verifyPSSEmptySalt(k.rsaPub, hash, data, sig) {
				return invalid
			}
			return nil
		}
		if rsa.VerifyPSS(k.rsaPub, hash, data, sig, &rsa.PSSOptions{SaltLength: salt}) != nil {
			return invalid
		}
		return nil
	case ck.CKM_ECDSA:
		if len(data) == 0 {
			return ck.Errorf(ck.CKR_DATA_LEN_RANGE, "%v needs a digest", m.Type)
		}
		if len(sig) != 2*k.ecSize {
			return ck.Errorf(ck.CKR_SIGNATURE_LEN_RANGE, "an ECDSA signature on this curve has %d bytes", 2*k.ecSize)
		}
		r := new(big.Int).SetBytes(sig[:k.ecSize])
		s := new(big.Int).SetBytes(sig[k.ecSize:])
		if !ecdsa.Verify(k.ecPub, data, r, s) {
			return invalid
		}
		return nil
	case ck.CKM_EDDSA:
		if len(sig) != ed25519.SignatureSize {
			return ck.Errorf(ck.CKR_SIGNATURE_LEN_RANGE, "an Ed25519 signature has %d bytes", ed25519.SignatureSize)
		}
		if !ed25519.Verify(k.edPub, data, sig) {
			return invalid
		}
		return nil
	case ck.CKM_ML_DSA:
		return k.verifyMLDSA(m, data, sig)
	case ck.CKM_AES_CMAC, ck.CKM_SHA_1_HMAC, ck.CKM_SHA224_HMAC, ck.CKM_SHA256_HMAC, ck.CKM_SHA384_HMAC, ck.CKM_SHA512_HMAC:
		return k.verifyMAC(m.Type, data, sig)
	}
	return ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v cannot verify", m.Type)
}

// Decrypt decrypts data (C_Decrypt): CKM_RSA_PKCS_OAEP and CKM_RSA_PKCS with
// an RSA private key, CKM_AES_GCM with an AES key (data is the ciphertext
// followed by the tag). Ciphertext that does not decrypt answers
// CKR_ENCRYPTED_DATA_INVALID; RSA ciphertext of the wrong length
// CKR_ENCRYPTED_DATA_LEN_RANGE.
func (t *Token) Decrypt(acc Access, h Handle, m ck.Mechanism, data []byte) ([]byte, error) {
	o, err := t.useKey(acc, h, m, opDecrypt)
	if err != nil {
		return nil, err
	}
	k := o.key
	switch m.Type {
	case ck.CKM_RSA_PKCS_OAEP, ck.CKM_RSA_PKCS:
		var opts crypto.DecrypterOpts
		if m.Type == ck.CKM_RSA_PKCS_OAEP {
			oaep, err := oaepOptions(m.OAEP)
			if err != nil {
				return nil, err
			}
			opts = oaep
		} else {
			// PKCS#11 requires CKM_RSA_PKCS decryption, and clients (TLS
			// 1.2 RSA key exchange, CMS) still use it. The padding-oracle
			// risk Go warns about is the client protocol's to manage; this
			// test HSM answers as every PKCS#11 token does.
			//lint:ignore SA1019 PKCS#11 requires CKM_RSA_PKCS decryption; see above.
			opts = &rsa.PKCS1v15DecryptOptions{}
		}
		if len(data) != k.rsa.Size() {
			return nil, ck.Errorf(ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "RSA ciphertext for this key has %d bytes", k.rsa.Size())
		}
		pt, err := k.rsa.Decrypt(nil, data, opts)
		if err != nil {
			return nil, ck.Errorf(ck.CKR_ENCRYPTED_DATA_INVALID, "decryption failed")
		}
		return pt, nil
	case ck.CKM_AES_GCM:
		return k.gcmOpen(m.GCM, data)
	case ck.CKM_AES_ECB, ck.CKM_AES_CBC, ck.CKM_AES_CBC_PAD, ck.CKM_AES_CTR:
		return k.aesCrypt(m, data, true)
	}
	return nil, ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v cannot decrypt", m.Type)
}

// Encrypt encrypts data (C_Encrypt): CKM_RSA_PKCS_OAEP and CKM_RSA_PKCS with
// an RSA public key object, CKM_AES_GCM with an AES key (the result is the
// ciphertext followed by the tag). The IV is the caller's: this token does
// not generate GCM IVs.
func (t *Token) Encrypt(acc Access, h Handle, m ck.Mechanism, data []byte) ([]byte, error) {
	o, err := t.useKey(acc, h, m, opEncrypt)
	if err != nil {
		return nil, err
	}
	k := o.key
	switch m.Type {
	case ck.CKM_RSA_PKCS_OAEP:
		return k.oaepEncrypt(m.OAEP, data, ck.CKR_DATA_LEN_RANGE)
	case ck.CKM_RSA_PKCS:
		if max := k.rsaPub.Size() - 11; len(data) > max {
			return nil, ck.Errorf(ck.CKR_DATA_LEN_RANGE, "%v encrypts at most %d bytes with this key", m.Type, max)
		}
		//lint:ignore SA1019 PKCS#11 requires CKM_RSA_PKCS encryption, deprecated or not.
		ct, err := rsa.EncryptPKCS1v15(rand.Reader, k.rsaPub, data)
		if err != nil {
			return nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "RSA encryption failed")
		}
		return ct, nil
	case ck.CKM_AES_GCM:
		return k.gcmSeal(m.GCM, data)
	case ck.CKM_AES_ECB, ck.CKM_AES_CBC, ck.CKM_AES_CBC_PAD, ck.CKM_AES_CTR:
		return k.aesCrypt(m, data, false)
	}
	return nil, ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v cannot encrypt", m.Type)
}

// oaepEncrypt encrypts data with RSA-OAEP; data longer than the parameters
// allow with this key is tooLong (CKR_DATA_LEN_RANGE for C_Encrypt,
// CKR_KEY_SIZE_RANGE for the key of C_WrapKey).
func (k *keyMaterial) oaepEncrypt(p *ck.OAEPParams, data []byte, tooLong ck.ReturnValue) ([]byte, error) {
	opts, err := oaepOptions(p)
	if err != nil {
		return nil, err
	}
	if max := k.rsaPub.Size() - 2*opts.Hash.Size() - 2; len(data) > max {
		return nil, ck.Errorf(tooLong, "OAEP with these parameters encrypts at most %d bytes with this key", max)
	}
	ct, err := rsa.EncryptOAEPWithOptions(rand.Reader, k.rsaPub, data, opts)
	if err != nil {
		return nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "RSA-OAEP encryption failed")
	}
	return ct, nil
}

// pssParams checks CK_RSA_PKCS_PSS_PARAMS for a signature on digest with
// pub: a supported hash, the MGF1 of the same hash (Go's PSS has no
// separate MGF hash, and PKCS#11 tokens commonly require them to match), a
// salt no longer than the modulus allows, and a digest of the hash's size.
func pssParams(p *ck.PSSParams, pub *rsa.PublicKey, digest []byte) (crypto.Hash, int, error) {
	hh, ok := hashes[p.Hash]
	if !ok {
		return 0, 0, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "PSS hash %v is not supported", p.Hash)
	}
	if p.MGF != hh.mgf {
		return 0, 0, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "PSS with %v needs %v, not %v", p.Hash, hh.mgf, p.MGF)
	}
	// RFC 8017 9.1.1: emLen >= hLen + sLen + 2, emLen = ceil((modBits-1)/8).
	emLen := (pub.N.BitLen() - 1 + 7) / 8
	if max := emLen - hh.h.Size() - 2; int64(p.SaltLen) > int64(max) {
		return 0, 0, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "PSS salt of %d bytes is longer than %d, the most this key allows", p.SaltLen, max)
	}
	if len(digest) != hh.h.Size() {
		return 0, 0, ck.Errorf(ck.CKR_DATA_LEN_RANGE, "a %v digest has %d bytes, not %d", p.Hash, hh.h.Size(), len(digest))
	}
	return hh.h, int(p.SaltLen), nil
}

// oaepOptions checks CK_RSA_PKCS_OAEP_PARAMS. The OAEP hash and the MGF1 hash
// are independent: any supported pair is accepted.
func oaepOptions(p *ck.OAEPParams) (*rsa.OAEPOptions, error) {
	hh, ok := hashes[p.Hash]
	if !ok {
		return nil, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "OAEP hash %v is not supported", p.Hash)
	}
	mgf, ok := mgfHashes[p.MGF]
	if !ok {
		return nil, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "OAEP mask generation %v is not supported", p.MGF)
	}
	return &rsa.OAEPOptions{Hash: hh.h, MGFHash: mgf, Label: p.Label}, nil
}

// rawECDSA converts an ASN.1 ECDSA signature to PKCS#11's r||s, each
// left-padded to size bytes.
func rawECDSA(der []byte, size int) ([]byte, error) {
	out := make([]byte, 2*size)
	in := cryptobyte.String(der)
	var seq, r, s cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, asn1.INTEGER) || !seq.ReadASN1(&s, asn1.INTEGER) || !seq.Empty() ||
		!putFixed(out[:size], r) || !putFixed(out[size:], s) {
		return nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "ECDSA signature encoding")
	}
	return out, nil
}

// putFixed writes the unsigned DER integer content v right-aligned in dst.
func putFixed(dst, v []byte) bool {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) > len(dst) {
		return false
	}
	copy(dst[len(dst)-len(v):], v)
	return true
}

// GCM parameters PKCS#11 and NIST SP 800-38D allow. Tags of 32 and 64 bits
// are allowed for special applications only; they are accepted because a
// token should not refuse what the standard permits, and a test HSM is where
// a client's handling of them gets tested.
const (
	gcmMaxIVLen      = 128
	gcmStandardIVLen = 12
)

func gcmTagLen(p *ck.GCMParams) (int, error) {
	if len(p.IV) < 1 || len(p.IV) > gcmMaxIVLen {
		return 0, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "GCM IV of %d bytes: 1..%d are accepted", len(p.IV), gcmMaxIVLen)
	}
	switch p.TagBits {
	case 32, 64, 96, 104, 112, 120, 128:
		return int(p.TagBits / 8), nil
	}
	return 0, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "GCM tag of %d bits is not allowed", p.TagBits)
}

// aead returns AES-GCM for an IV of ivLen bytes with a 16-byte tag. The
// common 12-byte IV uses the instance built with the key; other lengths
// build one per call (Go's GCM fixes the IV length at construction).
func (k *keyMaterial) aead(ivLen int) (cipher.AEAD, error) {
	if ivLen == gcmStandardIVLen {
		return k.gcm, nil
	}
	a, err := cipher.NewGCMWithNonceSize(k.block, ivLen)
	if err != nil {
		return nil, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "GCM IV length not supported")
	}
	return a, nil
}

// gcmSeal encrypts with AES-GCM. A GCM tag of t bytes is the first t bytes of
// the full tag (SP 800-38D), so a shorter tag is the full one truncated.
func (k *keyMaterial) gcmSeal(p *ck.GCMParams, pt []byte) ([]byte, error) {
	tagLen, err := gcmTagLen(p)
	if err != nil {
		return nil, err
	}
	a, err := k.aead(len(p.IV))
	if err != nil {
		return nil, err
	}
	return a.Seal(nil, p.IV, pt, p.AAD)[:len(pt)+tagLen], nil
}

// gcmOpen decrypts with AES-GCM. A full 16-byte tag goes through Go's Open.
// Go cannot check a truncated tag with an IV other than 12 bytes, nor tags
// under 12 bytes at all, so for those: recover the plaintext with the GCM key
// stream (the ciphertext part of sealing zeros), re-seal it, and compare the
// tag prefix in constant time. The plaintext is returned only if the tag
// matches.
func (k *keyMaterial) gcmOpen(p *ck.GCMParams, data []byte) ([]byte, error) {
	tagLen, err := gcmTagLen(p)
	if err != nil {
		return nil, err
	}
	if len(data) < tagLen {
		return nil, ck.Errorf(ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "GCM ciphertext shorter than its %d-byte tag", tagLen)
	}
	a, err := k.aead(len(p.IV))
	if err != nil {
		return nil, err
	}
	invalid := ck.Errorf(ck.CKR_ENCRYPTED_DATA_INVALID, "GCM authentication failed")
	if tagLen == a.Overhead() {
		pt, err := a.Open(nil, p.IV, data, p.AAD)
		if err != nil {
			return nil, invalid
		}
		return pt, nil
	}
	ct, tag := data[:len(data)-tagLen], data[len(data)-tagLen:]
	stream := a.Seal(nil, p.IV, make([]byte, len(ct)), nil)[:len(ct)]
	pt := make([]byte, len(ct))
	subtle.XORBytes(pt, ct, stream)
	full := a.Seal(nil, p.IV, pt, p.AAD)
	if subtle.ConstantTimeCompare(full[len(pt):len(pt)+tagLen], tag) != 1 {
		clear(pt)
		return nil, invalid
	}
	return pt, nil
}
