// Package signer turns a partition key into the standard library's crypto
// interfaces: crypto.Signer and crypto.MessageSigner (New; with Go 1.27 also
// for ML-DSA keys), for RSA keys also crypto.Decrypter (NewDecrypter), and
// for ML-KEM keys crypto.Decapsulator (NewDecapsulator), which crypto/hpke
// takes. The
// private key never leaves the HSM; each signature or decryption is one
// request to the partition.
//
// A *Signer is accepted wherever Go takes a private key: x509.CreateCertificate,
// tls.Certificate.PrivateKey, ssh.NewSignerFromSigner, JOSE and sigstore
// libraries.
package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// Signer is a private key in a partition. It is safe for concurrent use.
type Signer struct {
	key *hsm.Key
}

var (
	_ crypto.Signer        = (*Signer)(nil)
	_ crypto.MessageSigner = (*Signer)(nil)
	_ crypto.Signer        = (*Decrypter)(nil)
	_ crypto.Decrypter     = (*Decrypter)(nil)
)

// New returns key as a Signer. key must be a private key (RSA, EC,
// Ed25519, or with Go 1.27 ML-DSA), as Partition.FindKey and
// Partition.GenerateKey return.
func New(key *hsm.Key) (*Signer, error) {
	if key == nil || !key.IsPrivate() || key.Public() == nil {
		return nil, fmt.Errorf("signer: %w: not a private key", hsm.ErrKeyType)
	}
	if key.Type() == hsm.KeyMLKEM {
		return nil, fmt.Errorf("signer: %w: an ML-KEM key does not sign (see NewDecapsulator)", hsm.ErrKeyType)
	}
	return &Signer{key: key}, nil
}

// Key returns the partition key behind the signer.
func (s *Signer) Key() *hsm.Key { return s.key }

// Public returns the public key: *rsa.PublicKey, *ecdsa.PublicKey,
// ed25519.PublicKey or *mldsa.PublicKey.
func (s *Signer) Public() crypto.PublicKey { return s.key.Public() }

// Sign signs digest as the standard library's keys do: for RSA a PKCS#1 v1.5
// signature, or PSS when opts is *rsa.PSSOptions; for ECDSA an ASN.1 DER
// signature; for Ed25519 a pure signature of the message itself (opts must
// be crypto.Hash(0)); for ML-DSA a hedged signature of the message itself,
// with the context of opts when it is *mldsa.Options, or of a 64-byte
// message representative mu when opts.HashFunc() is crypto.MLDSAMu. rand is
// ignored: the HSM supplies randomness.
//
// The call is bounded by the client's request timeout; use SignContext to
// give a deadline of your own.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext is Sign bounded by ctx.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		opts = crypto.Hash(0)
	}
	if s.key.Type() == hsm.KeyMLDSA {
		return s.signMLDSA(ctx, digest, opts)
	}
	hash := opts.HashFunc()
	switch pub := s.key.Public().(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			return s.signPSS(ctx, pub, digest, hash, pss)
		}
		data := digest
		if hash != 0 {
			if len(digest) != hash.Size() {
				return nil, fmt.Errorf("signer: %w: digest has %d bytes, %v needs %d", hsm.ErrDataInvalid, len(digest), hash, hash.Size())
			}
			var err error
			if data, err = hsm.DigestInfo(hash, digest); err != nil {
				return nil, fmt.Errorf("signer: %w: %v", hsm.ErrMechanismUnsupported, err)
			}
		}
		return s.key.Sign(ctx, hsm.Mechanism{Type: ck.CKM_RSA_PKCS}, data)
	case *ecdsa.PublicKey:
		if hash != 0 && len(digest) != hash.Size() {
			return nil, fmt.Errorf("signer: %w: digest has %d bytes, %v needs %d", hsm.ErrDataInvalid, len(digest), hash, hash.Size())
		}
		raw, err := s.key.Sign(ctx, hsm.Mechanism{Type: ck.CKM_ECDSA}, digest)
		if err != nil {
			return nil, err
		}
		return ecdsaASN1(raw, (pub.Curve.Params().BitSize+7)/8)
	case ed25519.PublicKey:
		if o, ok := opts.(*ed25519.Options); ok && (o.Hash != 0 || o.Context != "") {
			return nil, fmt.Errorf("signer: %w: only pure Ed25519 (no prehash, no context) is supported", hsm.ErrMechanismUnsupported)
		}
		if hash != 0 {
			return nil, fmt.Errorf("signer: %w: Ed25519 signs the message itself: use crypto.Hash(0)", hsm.ErrMechanismParam)
		}
		return s.key.Sign(ctx, hsm.Mechanism{Type: ck.CKM_EDDSA}, digest)
	}
	return nil, fmt.Errorf("signer: %w: %T", hsm.ErrKeyType, s.key.Public())
}

func (s *Signer) signPSS(ctx context.Context, pub *rsa.PublicKey, digest []byte, hash crypto.Hash, o *rsa.PSSOptions) ([]byte, error) {
	if o.Hash != 0 {
		hash = o.Hash
	}
	hashMech, ok1 := hsm.HashMechanism(hash)
	mgf, ok2 := hsm.MGFOf(hash)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("signer: %w: PSS with hash %v", hsm.ErrMechanismUnsupported, hash)
	}
	if len(digest) != hash.Size() {
		return nil, fmt.Errorf("signer: %w: digest has %d bytes, %v needs %d", hsm.ErrDataInvalid, len(digest), hash, hash.Size())
	}
	// The largest salt the modulus allows (RFC 8017, 9.1.1: emLen >= hLen + sLen + 2).
	emLen := (pub.N.BitLen() - 1 + 7) / 8
	maxSalt := emLen - hash.Size() - 2
	var salt int
	switch o.SaltLength {
	case rsa.PSSSaltLengthAuto:
		// As crypto/rsa does when signing: as large as possible.
		salt = maxSalt
	case rsa.PSSSaltLengthEqualsHash:
		salt = hash.Size()
	default:
		salt = o.SaltLength
	}
	if salt < 0 || salt > maxSalt {
		return nil, fmt.Errorf("signer: %w: PSS salt length %d out of range 0..%d", hsm.ErrMechanismParam, o.SaltLength, maxSalt)
	}
	return s.key.Sign(ctx, hsm.Mechanism{
		Type: ck.CKM_RSA_PKCS_PSS,
		PSS:  &hsm.PSSParams{Hash: hashMech, MGF: mgf, SaltLen: uint32(salt)},
	}, digest)
}

// SignMessage signs msg: Ed25519 and ML-DSA sign it as it is; the other
// keys hash it with opts.HashFunc() here and sign the digest, so only the
// digest crosses the network.
func (s *Signer) SignMessage(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignMessageContext(context.Background(), msg, opts)
}

// SignMessageContext is SignMessage bounded by ctx.
func (s *Signer) SignMessageContext(ctx context.Context, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		opts = crypto.Hash(0)
	}
	if _, ok := s.key.Public().(ed25519.PublicKey); ok || s.key.Type() == hsm.KeyMLDSA {
		return s.SignContext(ctx, msg, opts)
	}
	hash := opts.HashFunc()
	if hash == 0 || !hash.Available() {
		return nil, fmt.Errorf("signer: %w: SignMessage needs a hash in opts", hsm.ErrMechanismParam)
	}
	h := hash.New()
	h.Write(msg)
	return s.SignContext(ctx, h.Sum(nil), opts)
}

// ecdsaASN1 converts PKCS#11's r||s to the ASN.1 DER form crypto/ecdsa
// uses: SEQUENCE { INTEGER r, INTEGER s }. It is on every ECDSA signature's
// path, so it writes the DER directly instead of going through big.Int.
func ecdsaASN1(raw []byte, size int) ([]byte, error) {
	if len(raw) != 2*size {
		return nil, fmt.Errorf("signer: %w: ECDSA signature of %d bytes, want %d", hsm.ErrProtocol, len(raw), 2*size)
	}
	r, s := derInteger(raw[:size]), derInteger(raw[size:])
	if r == nil || s == nil {
		return nil, fmt.Errorf("signer: %w: ECDSA signature with a zero component", hsm.ErrProtocol)
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(r) })
		b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(s) })
	})
	return b.Bytes()
}

// derInteger returns the content octets of a DER INTEGER for the unsigned
// big-endian v: no leading zeros, and one zero byte when the top bit is set
// (DER integers are signed). Zero, never valid in a signature, gives nil.
func derInteger(v []byte) []byte {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) == 0 {
		return nil
	}
	if v[0]&0x80 != 0 {
		return append([]byte{0}, v...)
	}
	return v
}

// Decrypter is an RSA private key in a partition, as crypto.Decrypter; it
// signs as well. It is a separate type from Signer because crypto/tls treats
// any crypto.Decrypter as an RSA key-exchange key and refuses one whose
// public key is not RSA.
type Decrypter struct {
	*Signer
}

// NewDecrypter returns an RSA private key as a Decrypter.
func NewDecrypter(key *hsm.Key) (*Decrypter, error) {
	s, err := New(key)
	if err != nil {
		return nil, err
	}
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("signer: %w: decryption needs an RSA key, not %v", hsm.ErrKeyType, key.Type())
	}
	return &Decrypter{s}, nil
}

// Decrypt decrypts an RSA ciphertext: OAEP when opts is *rsa.OAEPOptions
// (with its label and MGF hash), PKCS#1 v1.5 when opts is nil or
// *rsa.PKCS1v15DecryptOptions. With a non-zero SessionKeyLen, a padding
// failure returns random bytes of that length instead of an error, as
// crypto/rsa does, so that a TLS-style caller leaks nothing about the
// padding through its behaviour.
func (s *Decrypter) Decrypt(_ io.Reader, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return s.DecryptContext(context.Background(), ciphertext, opts)
}

// DecryptContext is Decrypt bounded by ctx.
func (s *Decrypter) DecryptContext(ctx context.Context, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	switch o := opts.(type) {
	case *rsa.OAEPOptions:
		hashMech, ok := hsm.HashMechanism(o.Hash)
		if !ok {
			return nil, fmt.Errorf("signer: %w: OAEP with hash %v", hsm.ErrMechanismUnsupported, o.Hash)
		}
		mgfHash := o.MGFHash
		if mgfHash == 0 {
			mgfHash = o.Hash
		}
		mgf, ok := hsm.MGFOf(mgfHash)
		if !ok {
			return nil, fmt.Errorf("signer: %w: OAEP with MGF hash %v", hsm.ErrMechanismUnsupported, mgfHash)
		}
		return s.key.Decrypt(ctx, hsm.Mechanism{
			Type: ck.CKM_RSA_PKCS_OAEP,
			OAEP: &hsm.OAEPParams{Hash: hashMech, MGF: mgf, Label: o.Label},
		}, ciphertext)
	case nil:
		return s.key.Decrypt(ctx, hsm.Mechanism{Type: ck.CKM_RSA_PKCS}, ciphertext)
	//lint:ignore SA1019 PKCS#1 v1.5 decryption is deprecated for new designs, but
	// TLS 1.2 RSA key exchange and PKCS#11 callers still need it; the
	// Decrypter honours the options so that SessionKeyLen keeps its meaning.
	case *rsa.PKCS1v15DecryptOptions:
		if o.SessionKeyLen == 0 {
			return s.key.Decrypt(ctx, hsm.Mechanism{Type: ck.CKM_RSA_PKCS}, ciphertext)
		}
		return s.decryptSessionKey(ctx, ciphertext, o.SessionKeyLen)
	}
	return nil, fmt.Errorf("signer: %w: decrypter options %T", hsm.ErrMechanismUnsupported, opts)
}

// decryptSessionKey follows crypto/rsa's SessionKeyLen contract: a padding
// error, or a plaintext of the wrong length, yields random bytes and no
// error. Errors that are not about the ciphertext (no login, no node) are
// still returned.
func (s *Decrypter) decryptSessionKey(ctx context.Context, ciphertext []byte, keyLen int) ([]byte, error) {
	random, err := s.key.Partition().GenerateRandom(ctx, keyLen)
	if err != nil {
		return nil, err
	}
	pt, err := s.key.Decrypt(ctx, hsm.Mechanism{Type: ck.CKM_RSA_PKCS}, ciphertext)
	switch {
	case errors.Is(err, hsm.ErrDataInvalid):
		return random, nil
	case err != nil:
		return nil, err
	case len(pt) != keyLen:
		return random, nil
	}
	return pt, nil
}
