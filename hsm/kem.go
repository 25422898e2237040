package hsm

import (
	"context"
	"crypto"
	"crypto/mlkem"

	"github.com/keyhold/keyhold/ck"
)

// ML-KEM (FIPS 203, PKCS#11 v3.2 CKM_ML_KEM). A partition's ML-KEM private
// key decapsulates in the HSM in two ways:
//   - Key.Decapsulate (Partition.Decapsulate) returns the 32-byte shared
//     secret to the caller and stores nothing: what crypto.Decapsulator and
//     crypto/hpke need;
//   - Partition.DecapsulateKeyObject stores the shared secret as a new secret
//     key object and returns its handle, the secret never leaving the HSM:
//     PKCS#11's C_DecapsulateKey.
//
// Partition.EncapsulateKeyObject is C_EncapsulateKey with a public key
// object: a fresh shared secret stored as a new secret key, and the
// ciphertext for the private key's holder.

// Decapsulate returns the shared secret that ciphertext encapsulates to k,
// an ML-KEM private key (CKA_DECAPSULATE). A ciphertext of the wrong length
// is ErrDataInvalid; a well-formed one that was not made for k yields an
// unrelated secret, as FIPS 203's implicit rejection requires.
func (k *Key) Decapsulate(ctx context.Context, ciphertext []byte) ([]byte, error) {
	if k.kind != KeyMLKEM || k.class != ck.CKO_PRIVATE_KEY {
		return nil, newError("decapsulate", k.p, ErrKeyType, "key %q is not an ML-KEM private key", k.label)
	}
	if err := k.usable("decapsulate"); err != nil {
		return nil, err
	}
	out, err := k.p.Decapsulate(ctx, k.handle, Mechanism{Type: ck.CKM_ML_KEM}, ciphertext)
	return out, k.gone(err)
}

// Encapsulator returns the public half of an ML-KEM key
// (*mlkem.EncapsulationKey768 or *mlkem.EncapsulationKey1024), which
// encapsulates in process, or nil for another key.
func (k *Key) Encapsulator() crypto.Encapsulator {
	switch pub := k.public.(type) {
	case *mlkem.EncapsulationKey768:
		return pub
	case *mlkem.EncapsulationKey1024:
		return pub
	}
	return nil
}

// Decapsulate returns the shared secret that ciphertext encapsulates to the
// ML-KEM private key object h (mechanism CKM_ML_KEM, no parameters),
// storing nothing. Most callers want Key.Decapsulate.
func (p *Partition) Decapsulate(ctx context.Context, h ObjectHandle, m Mechanism, ciphertext []byte) ([]byte, error) {
	return p.crypt(ctx, "decapsulate", h, ciphertext, func(ctx context.Context, b Backend, r Request) ([]byte, error) {
		return b.Decapsulate(ctx, r, h, m, ciphertext)
	})
}

// DecapsulateKeyObject decapsulates ciphertext with the ML-KEM private key
// object h into a new secret key object with the attributes of tmpl
// (CKA_CLASS CKO_SECRET_KEY, CKA_KEY_TYPE CKK_GENERIC_SECRET or CKK_AES with
// CKA_VALUE_LEN at most 32, ...), and returns its handle: PKCS#11's
// C_DecapsulateKey.
func (p *Partition) DecapsulateKeyObject(ctx context.Context, h ObjectHandle, m Mechanism, ciphertext []byte, tmpl Template) (ObjectHandle, error) {
	if err := checkTemplate("decapsulate key", p, tmpl); err != nil {
		return 0, err
	}
	if len(ciphertext) > MaxData {
		return 0, newError("decapsulate key", p, ErrDataInvalid, "%d bytes of ciphertext, limit %d", len(ciphertext), MaxData)
	}
	var out ObjectHandle
	err := p.do(ctx, "decapsulate key", opWrite, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		out, err = b.DecapsulateKey(ctx, r, h, m, ciphertext, tmpl)
		return err
	})
	p.invalidateKeys()
	return out, err
}

// EncapsulateKeyObject encapsulates a fresh shared secret to the ML-KEM
// public key object h, stores the secret as a new secret key object with
// the attributes of tmpl, and returns the ciphertext and the new key's
// handle: PKCS#11's C_EncapsulateKey.
func (p *Partition) EncapsulateKeyObject(ctx context.Context, h ObjectHandle, m Mechanism, tmpl Template) (ciphertext []byte, key ObjectHandle, err error) {
	if err := checkTemplate("encapsulate key", p, tmpl); err != nil {
		return nil, 0, err
	}
	err = p.do(ctx, "encapsulate key", opWrite, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		ciphertext, key, err = b.EncapsulateKey(ctx, r, h, m, tmpl)
		return err
	})
	p.invalidateKeys()
	return ciphertext, key, err
}
