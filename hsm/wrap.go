package hsm

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"

	"github.com/keyhold/keyhold/ck"
)

// WrapKeyObject returns the key h encrypted with the wrapping key w
// (C_WrapKey): CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD or
// CKM_AES_KEY_WRAP_KWP with an AES key, CKM_RSA_PKCS_OAEP with an RSA public
// key. The key must be extractable.
func (p *Partition) WrapKeyObject(ctx context.Context, w ObjectHandle, m Mechanism, h ObjectHandle) ([]byte, error) {
	var out []byte
	err := p.do(ctx, "wrap key", opRead, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		out, err = b.WrapKey(ctx, r, w, m, h)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UnwrapKeyObject decrypts a wrapped key with the unwrapping key u
// (C_UnwrapKey) and stores it as a new object with the attributes of tmpl,
// which names at least its class and key type.
func (p *Partition) UnwrapKeyObject(ctx context.Context, u ObjectHandle, m Mechanism, wrapped []byte, tmpl Template) (ObjectHandle, error) {
	if len(wrapped) > MaxData {
		return 0, newError("unwrap key", p, ErrDataInvalid, "%d-byte wrapped key, limit %d", len(wrapped), MaxData)
	}
	if err := checkTemplate("unwrap key", p, tmpl); err != nil {
		return 0, err
	}
	// One request ID for every attempt: a retry must not make a second key.
	var h ObjectHandle
	err := p.do(ctx, "unwrap key", opWrite, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		h, err = b.UnwrapKey(ctx, r, u, m, wrapped, tmpl)
		return err
	})
	p.invalidateKeys()
	return h, err
}

// DeriveKeyObject derives a new key with the attributes of tmpl from the
// base key (C_DeriveKey): CKM_ECDH1_DERIVE with an EC private key.
func (p *Partition) DeriveKeyObject(ctx context.Context, base ObjectHandle, m Mechanism, tmpl Template) (ObjectHandle, error) {
	if err := checkTemplate("derive key", p, tmpl); err != nil {
		return 0, err
	}
	var h ObjectHandle
	err := p.do(ctx, "derive key", opWrite, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		h, err = b.DeriveKey(ctx, r, base, m, tmpl)
		return err
	})
	p.invalidateKeys()
	return h, err
}

// Wrap exports key encrypted under k, a key-wrapping key (KeySpec.Wrap),
// so that it can move to another partition or HSM that holds the same
// wrapping key (see Unwrap). The mechanism is CKM_AES_KEY_WRAP_KWP (RFC
// 5649) or CKM_AES_KEY_WRAP (RFC 3394) for an AES k, CKM_RSA_PKCS_OAEP for
// an RSA k (whose public key object wraps). key must be extractable
// (KeySpec.Extractable).
func (k *Key) Wrap(ctx context.Context, m Mechanism, key *Key) ([]byte, error) {
	if key.p != k.p {
		return nil, newError("wrap key", k.p, ErrNotFound, "the key to wrap is in partition %q, the wrapping key in %q", key.p.name, k.p.name)
	}
	if err := k.usable("wrap key"); err != nil {
		return nil, err
	}
	w := k.handle
	if k.class == ck.CKO_PRIVATE_KEY && k.kind == KeyRSA {
		// PKCS#11 wraps with the public key object of an RSA pair.
		pub, err := k.p.publicObject(ctx, k)
		if err != nil {
			return nil, err
		}
		w = pub
	}
	out, err := k.p.WrapKeyObject(ctx, w, m, key.handle)
	return out, k.gone(err)
}

// Unwrap imports a key that Wrap exported, unwrapping it with k, and stores
// it in k's partition with spec's label, ID and usage (spec.Type says what
// the wrapped key is). An unwrapped private key gets no public key object:
// its public half is read from the private key object.
func (k *Key) Unwrap(ctx context.Context, m Mechanism, wrapped []byte, spec KeySpec) (*Key, error) {
	if err := k.usable("unwrap key"); err != nil {
		return nil, err
	}
	id, err := spec.id()
	if err != nil {
		return nil, err
	}
	var tmpl Template
	class := ck.CKO_SECRET_KEY
	switch spec.Type {
	case KeyAES, KeyGenericSecret:
		tmpl = secretTemplate(spec, id)
	case KeyRSA, KeyEC, KeyEd25519:
		class = ck.CKO_PRIVATE_KEY
		kt := map[KeyType]ck.KeyType{KeyRSA: ck.CKK_RSA, KeyEC: ck.CKK_EC, KeyEd25519: ck.CKK_EC_EDWARDS}[spec.Type]
		tmpl = append(hiddenKeyTemplate(class, kt, spec, id),
			ck.Bool(ck.CKA_SIGN, !spec.NoSign),
			ck.Bool(ck.CKA_DECRYPT, spec.Type == KeyRSA && !spec.NoDecrypt))
	default:
		return nil, newError("unwrap key", k.p, ErrKeyType, "unknown key type %v", spec.Type)
	}
	h, err := k.p.UnwrapKeyObject(ctx, k.handle, m, wrapped, tmpl)
	if err != nil {
		return nil, k.gone(err)
	}
	return k.p.newKey(ctx, h, class, id)
}

// publicObject finds the public key object of k's pair, by its ID.
func (p *Partition) publicObject(ctx context.Context, k *Key) (ObjectHandle, error) {
	objs, err := p.FindObjects(ctx, Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PUBLIC_KEY)), ck.Bytes(ck.CKA_ID, k.id)}, nil)
	if err != nil {
		return 0, err
	}
	if len(objs) != 1 {
		return 0, newError("wrap key", p, ErrNotFound, "%d public key objects with the ID of %q", len(objs), k.label)
	}
	return objs[0].Handle, nil
}

// The methods below make an EC private key a crypto/ecdh KeyExchanger, so
// that ECDH protocols (and crypto/hpke) can use a key that stays in the HSM.
var _ ecdh.KeyExchanger = (*Key)(nil)

// Curve returns the ecdh curve of an EC key, or nil for another key.
func (k *Key) Curve() ecdh.Curve {
	pub, ok := k.public.(*ecdsa.PublicKey)
	if !ok {
		return nil
	}
	switch pub.Curve {
	case elliptic.P256():
		return ecdh.P256()
	case elliptic.P384():
		return ecdh.P384()
	case elliptic.P521():
		return ecdh.P521()
	}
	return nil
}

// PublicKey returns the public key of an EC key as an ecdh key, or nil for
// another key.
func (k *Key) PublicKey() *ecdh.PublicKey {
	pub, ok := k.public.(*ecdsa.PublicKey)
	if !ok {
		return nil
	}
	e, err := pub.ECDH()
	if err != nil {
		return nil
	}
	return e
}

// ECDH computes the shared secret with peer inside the HSM, within the
// client's request timeout; see ECDHContext.
func (k *Key) ECDH(peer *ecdh.PublicKey) ([]byte, error) {
	return k.ECDHContext(context.Background(), peer)
}

// ECDHContext computes the ECDH shared secret of k, an EC private key with
// CKA_DERIVE (KeySpec.Wrap), and peer, inside the HSM: the secret is the
// x-coordinate, as crypto/ecdh returns it. It is one request that stores
// nothing (a node of a cluster cut off from its majority still answers it,
// as it signs).
func (k *Key) ECDHContext(ctx context.Context, peer *ecdh.PublicKey) ([]byte, error) {
	c := k.Curve()
	if c == nil || k.class != ck.CKO_PRIVATE_KEY {
		return nil, newError("ecdh", k.p, ErrKeyType, "key %q is not an EC private key", k.label)
	}
	if peer == nil || peer.Curve() != c {
		return nil, newError("ecdh", k.p, ErrKeyType, "the peer's key is not on the key's curve")
	}
	if err := k.usable("ecdh"); err != nil {
		return nil, err
	}
	out, err := k.p.Agree(ctx, k.handle, Mechanism{Type: ck.CKM_ECDH1_DERIVE, ECDH: &ECDHParams{KDF: ck.CKD_NULL, PublicData: peer.Bytes()}})
	return out, k.gone(err)
}

// Agree returns the ECDH shared secret of the EC private key object h and
// the public point in m's parameters (CKM_ECDH1_DERIVE with CKD_NULL): the
// agreement of C_DeriveKey without a key object. Most callers want
// Key.ECDH.
func (p *Partition) Agree(ctx context.Context, h ObjectHandle, m Mechanism) ([]byte, error) {
	var out []byte
	err := p.do(ctx, "ecdh", opRead, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		out, err = b.Agree(ctx, r, h, m)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
