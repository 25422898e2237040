package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	encasn1 "encoding/asn1"

	"github.com/keyhold/keyhold/ck"
)

// WrapKey wraps (C_WrapKey) the key h names with the wrapping key w: with
// CKM_AES_KEY_WRAP (RFC 3394), CKM_AES_KEY_WRAP_PAD or CKM_AES_KEY_WRAP_KWP
// (RFC 5649) and an AES key, or CKM_RSA_PKCS_OAEP and an RSA public key. A
// secret key is wrapped as its value, a private key as its PKCS #8
// PrivateKeyInfo. The key must be extractable (CKR_KEY_UNEXTRACTABLE), and a
// key with CKA_WRAP_WITH_TRUSTED only goes out under a wrapping key with
// CKA_TRUSTED (CKR_KEY_NOT_WRAPPABLE).
func (t *Token) WrapKey(acc Access, w Handle, m ck.Mechanism, h Handle) ([]byte, error) {
	wo, err := t.useKey(acc, w, m, opWrap)
	if err != nil {
		return nil, err
	}
	o, err := t.lookup(acc, h)
	if err != nil {
		return nil, ck.Errorf(ck.CKR_KEY_HANDLE_INVALID, "no key to wrap with handle %#x", uint64(h))
	}
	if !o.kind.isKey() {
		return nil, ck.Errorf(ck.CKR_KEY_HANDLE_INVALID, "the object to wrap is not a key")
	}
	if o.kind.class == ck.CKO_PUBLIC_KEY {
		return nil, ck.Errorf(ck.CKR_KEY_NOT_WRAPPABLE, "a public key is not wrapped: read it")
	}
	if !o.flag(ck.CKA_EXTRACTABLE) {
		return nil, ck.Errorf(ck.CKR_KEY_UNEXTRACTABLE, "the key is not extractable")
	}
	if o.flag(ck.CKA_WRAP_WITH_TRUSTED) && !wo.flag(ck.CKA_TRUSTED) {
		return nil, ck.Errorf(ck.CKR_KEY_NOT_WRAPPABLE, "the key may only be wrapped with a trusted key")
	}
	payload, err := o.keyBytes()
	if err != nil {
		return nil, err
	}
	defer clear(payload)
	return wo.key.wrap(m, payload)
}

// keyBytes is what wrapping a key encrypts.
func (o *object) keyBytes() ([]byte, error) {
	if o.kind.class == ck.CKO_SECRET_KEY {
		return bytes.Clone(o.attrs[ck.CKA_VALUE]), nil
	}
	var priv any
	switch {
	case o.key.rsa != nil:
		priv = o.key.rsa
	case o.key.ec != nil:
		priv = o.key.ec
	case o.key.ed != nil:
		priv = o.key.ed
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, ck.Errorf(ck.CKR_KEY_NOT_WRAPPABLE, "the key cannot be encoded as PKCS #8")
	}
	return der, nil
}

// wrap encrypts a key's bytes with the wrapping mechanism m.
func (k *keyMaterial) wrap(m ck.Mechanism, payload []byte) ([]byte, error) {
	var out []byte
	var ok bool
	switch m.Type {
	case ck.CKM_AES_KEY_WRAP:
		out, ok = keyWrap(k.block, payload)
	case ck.CKM_AES_KEY_WRAP_PAD, ck.CKM_AES_KEY_WRAP_KWP:
		out, ok = keyWrapPad(k.block, payload)
	case ck.CKM_RSA_PKCS_OAEP:
		return k.oaepEncrypt(m.OAEP, payload, ck.CKR_KEY_SIZE_RANGE)
	default:
		return nil, ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v does not wrap", m.Type)
	}
	if !ok {
		return nil, ck.Errorf(ck.CKR_KEY_SIZE_RANGE, "%v cannot wrap a key of %d bytes", m.Type, len(payload))
	}
	return out, nil
}

// unwrap decrypts wrapped key bytes. Anything that does not decrypt is
// CKR_WRAPPED_KEY_INVALID; a length the mechanism never produces is
// CKR_WRAPPED_KEY_LEN_RANGE.
func (k *keyMaterial) unwrap(m ck.Mechanism, wrapped []byte) ([]byte, error) {
	var out []byte
	var ok bool
	switch m.Type {
	case ck.CKM_AES_KEY_WRAP:
		if len(wrapped) < 24 || len(wrapped)%8 != 0 {
			return nil, ck.Errorf(ck.CKR_WRAPPED_KEY_LEN_RANGE, "%v output is whole 8-byte blocks, at least 24 bytes", m.Type)
		}
		out, ok = keyUnwrap(k.block, wrapped)
	case ck.CKM_AES_KEY_WRAP_PAD, ck.CKM_AES_KEY_WRAP_KWP:
		if len(wrapped) < 16 || len(wrapped)%8 != 0 {
			return nil, ck.Errorf(ck.CKR_WRAPPED_KEY_LEN_RANGE, "%v output is whole 8-byte blocks, at least 16 bytes", m.Type)
		}
		out, ok = keyUnwrapPad(k.block, wrapped)
	case ck.CKM_RSA_PKCS_OAEP:
		opts, err := oaepOptions(m.OAEP)
		if err != nil {
			return nil, err
		}
		if len(wrapped) != k.rsa.Size() {
			return nil, ck.Errorf(ck.CKR_WRAPPED_KEY_LEN_RANGE, "RSA ciphertext for this key has %d bytes", k.rsa.Size())
		}
		pt, err := k.rsa.Decrypt(nil, wrapped, opts)
		out, ok = pt, err == nil
	default:
		return nil, ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v does not unwrap", m.Type)
	}
	if !ok {
		return nil, ck.Errorf(ck.CKR_WRAPPED_KEY_INVALID, "the wrapped key does not decrypt")
	}
	return out, nil
}

// newKeyTemplate validates the template of a key that C_UnwrapKey or
// C_DeriveKey makes: its class and key type (class defaults to
// defaultClass when that is not 0), no attribute the key material or the
// token provides, and the right to make it.
func newKeyTemplate(acc Access, tmpl ck.Template, defaultClass ck.ObjectClass) (objKind, attrs, error) {
	vals, err := parseTemplate(tmpl, maxTemplateAttrs)
	if err != nil {
		return objKind{}, nil, err
	}
	if _, ok := vals.get(ck.CKA_CLASS); !ok && defaultClass != 0 {
		vals = append(vals, ck.Attribute{Type: ck.CKA_CLASS, Value: ulongValue(uint64(defaultClass))})
	}
	k, err := kindOf(vals)
	if err != nil {
		return objKind{}, nil, err
	}
	if k.class != ck.CKO_SECRET_KEY && k.class != ck.CKO_PRIVATE_KEY {
		return objKind{}, nil, ck.Errorf(ck.CKR_TEMPLATE_INCONSISTENT, "only secret and private keys are unwrapped or derived, not %v", k.class)
	}
	if err := checkTemplate(k, vals, originUnwrap, acc); err != nil {
		return objKind{}, nil, err
	}
	if err := checkMayCreate(k, vals, acc); err != nil {
		return objKind{}, nil, err
	}
	return k, vals, nil
}

// UnwrapKey unwraps (C_UnwrapKey) a key wrapped as WrapKey does, with the
// unwrapping key u, and stores it with the attributes of tmpl, which must
// name its class and key type. Like an imported key, an unwrapped key is
// not local, and claims no history (CKA_ALWAYS_SENSITIVE and
// CKA_NEVER_EXTRACTABLE are false).
func (t *Token) UnwrapKey(acc Access, u Handle, m ck.Mechanism, wrapped []byte, tmpl ck.Template) (Handle, error) {
	uo, err := t.useKey(acc, u, m, opUnwrap)
	if err != nil {
		return 0, err
	}
	k, vals, err := newKeyTemplate(acc, tmpl, 0)
	if err != nil {
		return 0, err
	}
	payload, err := uo.key.unwrap(m, wrapped)
	if err != nil {
		return 0, err
	}
	defer clear(payload)
	b := newBuilder(k, vals)
	if k.class == ck.CKO_SECRET_KEY {
		b.vals[ck.CKA_VALUE] = bytes.Clone(payload)
	} else if err := b.setPrivateKey(payload); err != nil {
		return 0, err
	}
	km, err := b.buildKey()
	if err != nil {
		return 0, err
	}
	hs, err := t.insert(b.finish(km, originUnwrap, 0))
	if err != nil {
		return 0, err
	}
	return hs[0], nil
}

// setPrivateKey sets the attributes of a PKCS #8 private key, which must be
// of the template's key type.
func (b *builder) setPrivateKey(der []byte) error {
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return ck.Errorf(ck.CKR_WRAPPED_KEY_INVALID, "the unwrapped bytes are not a PKCS #8 private key")
	}
	mismatch := ck.Errorf(ck.CKR_TEMPLATE_INCONSISTENT, "the wrapped key is not a %v key", b.kind.keyType())
	switch key := priv.(type) {
	case *rsa.PrivateKey:
		if b.kind.keyType() != ck.CKK_RSA || len(key.Primes) != 2 {
			return mismatch
		}
		b.vals[ck.CKA_MODULUS] = key.N.Bytes()
		b.vals[ck.CKA_PUBLIC_EXPONENT] = big64(uint64(key.E))
		b.vals[ck.CKA_PRIVATE_EXPONENT] = key.D.Bytes()
		b.vals[ck.CKA_PRIME_1] = key.Primes[0].Bytes()
		b.vals[ck.CKA_PRIME_2] = key.Primes[1].Bytes()
	case *ecdsa.PrivateKey:
		if b.kind.keyType() != ck.CKK_EC {
			return mismatch
		}
		params, err := ecParamsOf(key)
		if err != nil {
			return err
		}
		raw, err := key.Bytes()
		if err != nil {
			return ck.Errorf(ck.CKR_WRAPPED_KEY_INVALID, "the unwrapped EC key cannot be encoded")
		}
		b.vals[ck.CKA_EC_PARAMS] = params
		b.vals[ck.CKA_VALUE] = raw
	case ed25519.PrivateKey:
		if b.kind.keyType() != ck.CKK_EC_EDWARDS {
			return mismatch
		}
		params, _ := encasn1.Marshal(oidEd25519)
		b.vals[ck.CKA_EC_PARAMS] = params
		b.vals[ck.CKA_VALUE] = bytes.Clone(key.Seed())
	default:
		return ck.Errorf(ck.CKR_WRAPPED_KEY_INVALID, "the unwrapped private key is of a type this token does not hold")
	}
	return nil
}

// big64 encodes v as a minimal big-endian integer.
func big64(v uint64) []byte {
	var out []byte
	for ; v > 0; v >>= 8 {
		out = append([]byte{byte(v)}, out...)
	}
	return out
}

// ecParamsOf returns the CKA_EC_PARAMS of an EC key on a supported curve.
func ecParamsOf(k *ecdsa.PrivateKey) ([]byte, error) {
	var oid encasn1.ObjectIdentifier
	switch k.Curve.Params().Name {
	case "P-256":
		oid = oidP256
	case "P-384":
		oid = oidP384
	case "P-521":
		oid = oidP521
	default:
		return nil, ck.Errorf(ck.CKR_CURVE_NOT_SUPPORTED, "the key's curve is not supported")
	}
	der, _ := encasn1.Marshal(oid)
	return der, nil
}

// DeriveKey derives (C_DeriveKey) a secret key from the EC private key base
// with CKM_ECDH1_DERIVE or CKM_ECDH1_COFACTOR_DERIVE (the same on the prime
// curves offered, whose cofactor is 1). Only the null key derivation
// function is offered: the key's value is the shared secret's x-coordinate,
// or its last CKA_VALUE_LEN bytes when the template asks for fewer. The
// template names the key type (CKK_GENERIC_SECRET or CKK_AES); the class
// defaults to CKO_SECRET_KEY.
func (t *Token) DeriveKey(acc Access, base Handle, m ck.Mechanism, tmpl ck.Template) (Handle, error) {
	bo, err := t.useKey(acc, base, m, opDerive)
	if err != nil {
		return 0, err
	}
	k, vals, err := newKeyTemplate(acc, tmpl, ck.CKO_SECRET_KEY)
	if err != nil {
		return 0, err
	}
	z, err := bo.key.ecdh(m.ECDH)
	if err != nil {
		return 0, err
	}
	defer clear(z)
	return t.insertSecret(m, k, vals, z, bo.flag(ck.CKA_ALWAYS_SENSITIVE), bo.flag(ck.CKA_NEVER_EXTRACTABLE))
}

// Agree computes the ECDH shared secret of the EC private key h and the
// public point in m's parameters, and returns it (its x-coordinate), storing
// nothing. It needs what DeriveKey needs (CKA_DERIVE, a login for a private
// key): a key that may derive may give an extractable secret, which this
// returns at once, without an object for a cluster to replicate and
// destroy again. data must be empty.
func (t *Token) Agree(acc Access, h Handle, m ck.Mechanism, data []byte) ([]byte, error) {
	o, err := t.useKey(acc, h, m, opDerive)
	if err != nil {
		return nil, err
	}
	if len(data) != 0 {
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "agreement takes its input in the mechanism's parameters")
	}
	return o.key.ecdh(m.ECDH)
}

// ecdh computes the ECDH shared secret with the public point of p.
func (k *keyMaterial) ecdh(p *ck.ECDHParams) ([]byte, error) {
	if p.KDF != ck.CKD_NULL || len(p.SharedData) != 0 {
		return nil, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "only the null key derivation function, without shared data, is supported")
	}
	priv, err := k.ec.ECDH()
	if err != nil {
		return nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "ECDH key")
	}
	point := p.PublicData
	if raw, ok := unwrapOctetString(point); ok && len(point) != 1+2*k.ecSize {
		point = raw
	}
	pub, err := priv.Curve().NewPublicKey(point)
	if err != nil {
		return nil, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "the public data is not an uncompressed point on the key's curve")
	}
	z, err := priv.ECDH(pub)
	if err != nil {
		return nil, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "the public point gives no shared secret")
	}
	return z, nil
}
