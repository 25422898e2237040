package hsm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/pqkey"
)

// KeyType is the algorithm family of a key.
type KeyType int

// Key types.
const (
	KeyRSA KeyType = iota + 1
	KeyEC
	KeyEd25519
	KeyAES
	// KeyGenericSecret is a CKK_GENERIC_SECRET key: an HMAC key, or the
	// result of a key agreement.
	KeyGenericSecret
	// KeyMLDSA is an ML-DSA (FIPS 204) signature key, CKK_ML_DSA; its
	// parameter set is KeySpec.ParameterSet. Signing needs a node built
	// with Go 1.27 or later, and so does Key.Public (*mldsa.PublicKey).
	KeyMLDSA
	// KeyMLKEM is an ML-KEM (FIPS 203) key encapsulation key, CKK_ML_KEM.
	KeyMLKEM
)

func (t KeyType) String() string {
	switch t {
	case KeyRSA:
		return "RSA"
	case KeyEC:
		return "EC"
	case KeyEd25519:
		return "Ed25519"
	case KeyAES:
		return "AES"
	case KeyGenericSecret:
		return "generic secret"
	case KeyMLDSA:
		return "ML-DSA"
	case KeyMLKEM:
		return "ML-KEM"
	}
	return fmt.Sprintf("KeyType(%d)", int(t))
}

// Key is a key held in a partition: a private key (whose public half the
// engine knows), a public key, or a secret (AES) key. Everything needed to
// use it was read when it was found, so using it costs exactly one request.
type Key struct {
	p       *Partition
	handle  ObjectHandle
	class   ck.ObjectClass
	kind    KeyType
	label   string
	id      []byte
	private bool
	sign    bool
	decrypt bool
	public  crypto.PublicKey // nil for secret keys
	params  *pqkey.Params    // ML-DSA and ML-KEM keys
}

// Partition returns the partition holding the key.
func (k *Key) Partition() *Partition { return k.p }

// Handle returns the key's object handle.
func (k *Key) Handle() ObjectHandle { return k.handle }

// Label returns CKA_LABEL.
func (k *Key) Label() string { return k.label }

// ID returns CKA_ID.
func (k *Key) ID() []byte { return append([]byte(nil), k.id...) }

// Type returns the key's algorithm family.
func (k *Key) Type() KeyType { return k.kind }

// Public returns the public key (*rsa.PublicKey, *ecdsa.PublicKey,
// ed25519.PublicKey, *mlkem.EncapsulationKey768 or 1024, and with Go 1.27
// *mldsa.PublicKey), or nil for a secret key (and for an ML-DSA key in a
// program built with Go 1.26, which has no type for it).
func (k *Key) Public() crypto.PublicKey { return k.public }

// ParameterSet returns the CKA_PARAMETER_SET of an ML-DSA or ML-KEM key
// (ck.CKP_ML_DSA_65, ck.CKP_ML_KEM_768, ...), or 0 for another key.
func (k *Key) ParameterSet() uint64 {
	if k.params == nil {
		return 0
	}
	return k.params.Set
}

// IsPrivate reports whether the key is a private key object (as opposed to
// a public or secret key).
func (k *Key) IsPrivate() bool { return k.class == ck.CKO_PRIVATE_KEY }

// CanSign reports CKA_SIGN.
func (k *Key) CanSign() bool { return k.sign }

// CanDecrypt reports CKA_DECRYPT.
func (k *Key) CanDecrypt() bool { return k.decrypt }

// keyAttributes are read with every key lookup: enough to use the key
// without another round trip.
var keyAttributes = []AttributeType{
	ck.CKA_CLASS, ck.CKA_KEY_TYPE, ck.CKA_LABEL, ck.CKA_ID, ck.CKA_PRIVATE,
	ck.CKA_SIGN, ck.CKA_DECRYPT, ck.CKA_PUBLIC_KEY_INFO,
	ck.CKA_MODULUS, ck.CKA_PUBLIC_EXPONENT, ck.CKA_EC_PARAMS, ck.CKA_EC_POINT,
}

// keyFromObject builds a Key from a search result.
func (p *Partition) keyFromObject(o Object) (*Key, error) {
	k := &Key{p: p, handle: o.Handle}
	var keyType ck.KeyType
	for _, a := range o.Attributes {
		switch a.Type {
		case ck.CKA_CLASS:
			v, err := a.AsULong()
			if err != nil {
				return nil, err
			}
			k.class = ck.ObjectClass(v)
		case ck.CKA_KEY_TYPE:
			v, err := a.AsULong()
			if err != nil {
				return nil, err
			}
			keyType = ck.KeyType(v)
		case ck.CKA_LABEL:
			k.label = string(a.Value)
		case ck.CKA_ID:
			k.id = a.Value
		case ck.CKA_PRIVATE:
			k.private, _ = a.AsBool()
		case ck.CKA_SIGN:
			k.sign, _ = a.AsBool()
		case ck.CKA_DECRYPT:
			k.decrypt, _ = a.AsBool()
		}
	}
	switch keyType {
	case ck.CKK_RSA:
		k.kind = KeyRSA
	case ck.CKK_EC:
		k.kind = KeyEC
	case ck.CKK_EC_EDWARDS:
		k.kind = KeyEd25519
	case ck.CKK_AES:
		k.kind = KeyAES
	case ck.CKK_GENERIC_SECRET:
		k.kind = KeyGenericSecret
	case ck.CKK_ML_DSA:
		k.kind = KeyMLDSA
	case ck.CKK_ML_KEM:
		k.kind = KeyMLKEM
	default:
		return nil, newError("find key", p, ErrKeyType, "unsupported key type %#x", uint32(keyType))
	}
	if k.class == ck.CKO_SECRET_KEY {
		return k, nil
	}
	if k.kind == KeyMLDSA || k.kind == KeyMLKEM {
		params, pub, err := pqPublicKey(k.kind, Template(o.Attributes))
		if err != nil {
			return nil, newError("find key", p, ErrAttributeInvalid, "public key of %q: %v", k.label, err)
		}
		k.params, k.public = params, pub
		return k, nil
	}
	pub, err := publicKeyFromAttributes(k.kind, Template(o.Attributes))
	if err != nil {
		return nil, newError("find key", p, ErrAttributeInvalid, "public key of %q: %v", k.label, err)
	}
	k.public = pub
	return k, nil
}

// publicKeyFromAttributes rebuilds a public key, preferring the
// SubjectPublicKeyInfo (CKA_PUBLIC_KEY_INFO, PKCS#11 3.0) and falling back to
// the algorithm-specific attributes.
func publicKeyFromAttributes(kind KeyType, attrs Template) (crypto.PublicKey, error) {
	if a, ok := attrs.Find(ck.CKA_PUBLIC_KEY_INFO); ok && len(a.Value) > 0 {
		return x509.ParsePKIXPublicKey(a.Value)
	}
	switch kind {
	case KeyRSA:
		n, ok1 := attrs.Find(ck.CKA_MODULUS)
		e, ok2 := attrs.Find(ck.CKA_PUBLIC_EXPONENT)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("no modulus or exponent")
		}
		exp := new(big.Int).SetBytes(e.Value)
		if !exp.IsInt64() || exp.Int64() > 1<<31-1 {
			return nil, fmt.Errorf("public exponent out of range")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n.Value), E: int(exp.Int64())}, nil
	case KeyEC, KeyEd25519:
		params, ok1 := attrs.Find(ck.CKA_EC_PARAMS)
		point, ok2 := attrs.Find(ck.CKA_EC_POINT)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("no EC parameters or point")
		}
		raw := point.Value
		var octets []byte
		if rest, err := asn1.Unmarshal(raw, &octets); err == nil && len(rest) == 0 {
			raw = octets
		}
		if kind == KeyEd25519 {
			if len(raw) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("Ed25519 point has %d bytes", len(raw))
			}
			return ed25519.PublicKey(bytes.Clone(raw)), nil
		}
		curve, err := curveFromParams(params.Value)
		if err != nil {
			return nil, err
		}
		return ecdsa.ParseUncompressedPublicKey(curve, raw)
	}
	return nil, fmt.Errorf("no public key for %v", kind)
}

// Named-curve OIDs (RFC 5480).
var (
	oidP256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP224    = asn1.ObjectIdentifier{1, 3, 132, 0, 33}
	oidP384    = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521    = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
)

func curveFromParams(der []byte) (elliptic.Curve, error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(der, &oid); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("CKA_EC_PARAMS is not a named-curve OID")
	}
	switch {
	case oid.Equal(oidP224):
		return elliptic.P224(), nil
	case oid.Equal(oidP256):
		return elliptic.P256(), nil
	case oid.Equal(oidP384):
		return elliptic.P384(), nil
	case oid.Equal(oidP521):
		return elliptic.P521(), nil
	}
	return nil, fmt.Errorf("unsupported curve %v", oid)
}

func curveParams(c elliptic.Curve) ([]byte, error) {
	var oid asn1.ObjectIdentifier
	switch c {
	case elliptic.P224():
		oid = oidP224
	case elliptic.P256():
		oid = oidP256
	case elliptic.P384():
		oid = oidP384
	case elliptic.P521():
		oid = oidP521
	default:
		return nil, fmt.Errorf("unsupported curve")
	}
	return asn1.Marshal(oid)
}

// Sign signs data with the key. m may be a raw mechanism (CKM_ECDSA on a
// digest, CKM_RSA_PKCS on a DigestInfo, CKM_RSA_PKCS_PSS on a digest,
// CKM_EDDSA on a message) or a hash-and-sign one (CKM_SHA256_RSA_PKCS,
// CKM_ECDSA_SHA384, CKM_SHA512_RSA_PKCS_PSS, ...), for which the engine hashes
// data here and sends only the digest. The signature is in PKCS#11 form:
// raw r||s for ECDSA. For crypto.Signer semantics use package signer.
func (k *Key) Sign(ctx context.Context, m Mechanism, data []byte) ([]byte, error) {
	if err := k.usable("sign"); err != nil {
		return nil, err
	}
	raw, input, err := toRawMechanism(m, data)
	if err != nil {
		return nil, newError("sign", k.p, ErrMechanismUnsupported, "%v", err)
	}
	sig, err := k.p.SignRaw(ctx, k.handle, raw, input)
	return sig, k.gone(err)
}

// Verify checks a signature made by Sign, inside the HSM.
func (k *Key) Verify(ctx context.Context, m Mechanism, data, sig []byte) error {
	raw, input, err := toRawMechanism(m, data)
	if err != nil {
		return newError("verify", k.p, ErrMechanismUnsupported, "%v", err)
	}
	return k.gone(k.p.VerifyRaw(ctx, k.handle, raw, input, sig))
}

// Decrypt decrypts data with the key (CKM_RSA_PKCS_OAEP, CKM_RSA_PKCS,
// CKM_AES_GCM).
func (k *Key) Decrypt(ctx context.Context, m Mechanism, data []byte) ([]byte, error) {
	if err := k.usable("decrypt"); err != nil {
		return nil, err
	}
	out, err := k.p.Decrypt(ctx, k.handle, m, data)
	return out, k.gone(err)
}

// Encrypt encrypts data with the key (CKM_AES_GCM for a secret key).
func (k *Key) Encrypt(ctx context.Context, m Mechanism, data []byte) ([]byte, error) {
	if err := k.usable("encrypt"); err != nil {
		return nil, err
	}
	out, err := k.p.Encrypt(ctx, k.handle, m, data)
	return out, k.gone(err)
}

// gone drops the key from the partition's lookup cache when the HSM says it
// no longer exists (destroyed, or invalidated by the SO), so that the next
// FindKey looks again (and finds a replacement, or the key reactivated)
// instead of handing out the dead handle. It returns err.
func (k *Key) gone(err error) error {
	if errors.Is(err, ErrNotFound) {
		k.p.forgetKey(k)
	}
	return err
}

// usable answers locally what the node would refuse anyway: a private
// object needs a login, so there is no point in a round trip without one.
func (k *Key) usable(op string) error {
	if !k.private {
		return nil
	}
	if u, ok := k.p.LoggedIn(); !ok || u != User {
		return newError(op, k.p, ErrNotLoggedIn, "key %q is private: log in as User first", k.label)
	}
	return nil
}

// Destroy destroys the key object (not its public half or certificates).
func (k *Key) Destroy(ctx context.Context) error {
	return k.p.DestroyObject(ctx, k.handle)
}

// hashMechanisms maps the hash-and-sign mechanisms to their hash and the raw
// mechanism the node runs.
var hashMechanisms = map[ck.MechanismType]struct {
	hash crypto.Hash
	raw  ck.MechanismType
}{
	ck.CKM_SHA1_RSA_PKCS:       {crypto.SHA1, ck.CKM_RSA_PKCS},
	ck.CKM_SHA224_RSA_PKCS:     {crypto.SHA224, ck.CKM_RSA_PKCS},
	ck.CKM_SHA256_RSA_PKCS:     {crypto.SHA256, ck.CKM_RSA_PKCS},
	ck.CKM_SHA384_RSA_PKCS:     {crypto.SHA384, ck.CKM_RSA_PKCS},
	ck.CKM_SHA512_RSA_PKCS:     {crypto.SHA512, ck.CKM_RSA_PKCS},
	ck.CKM_SHA1_RSA_PKCS_PSS:   {crypto.SHA1, ck.CKM_RSA_PKCS_PSS},
	ck.CKM_SHA224_RSA_PKCS_PSS: {crypto.SHA224, ck.CKM_RSA_PKCS_PSS},
	ck.CKM_SHA256_RSA_PKCS_PSS: {crypto.SHA256, ck.CKM_RSA_PKCS_PSS},
	ck.CKM_SHA384_RSA_PKCS_PSS: {crypto.SHA384, ck.CKM_RSA_PKCS_PSS},
	ck.CKM_SHA512_RSA_PKCS_PSS: {crypto.SHA512, ck.CKM_RSA_PKCS_PSS},
	ck.CKM_ECDSA_SHA1:          {crypto.SHA1, ck.CKM_ECDSA},
	ck.CKM_ECDSA_SHA224:        {crypto.SHA224, ck.CKM_ECDSA},
	ck.CKM_ECDSA_SHA256:        {crypto.SHA256, ck.CKM_ECDSA},
	ck.CKM_ECDSA_SHA384:        {crypto.SHA384, ck.CKM_ECDSA},
	ck.CKM_ECDSA_SHA512:        {crypto.SHA512, ck.CKM_ECDSA},
}

// HashOf returns the hash of a hash-and-sign mechanism, or 0 for a raw one.
func HashOf(m MechanismType) crypto.Hash { return hashMechanisms[m].hash }

// toRawMechanism turns a hash-and-sign mechanism into the raw one and the
// digest (wrapped in a DigestInfo for PKCS#1 v1.5). Hashing here is the
// protocol's rule: only digests cross the network.
func toRawMechanism(m Mechanism, data []byte) (Mechanism, []byte, error) {
	hm, ok := hashMechanisms[m.Type]
	if !ok {
		return m, data, nil
	}
	if !hm.hash.Available() {
		return m, nil, fmt.Errorf("hash %v not available", hm.hash)
	}
	h := hm.hash.New()
	h.Write(data)
	digest := h.Sum(nil)
	raw := Mechanism{Type: hm.raw, PSS: m.PSS}
	switch hm.raw {
	case ck.CKM_RSA_PKCS:
		di, err := DigestInfo(hm.hash, digest)
		if err != nil {
			return m, nil, err
		}
		return raw, di, nil
	case ck.CKM_RSA_PKCS_PSS:
		if m.PSS == nil {
			return m, nil, fmt.Errorf("%v needs PSS parameters", m.Type)
		}
		if want := hashMechanism(hm.hash); m.PSS.Hash != want {
			return m, nil, fmt.Errorf("%v with PSS hash %v", m.Type, m.PSS.Hash)
		}
	}
	return raw, digest, nil
}

// digestInfoPrefixes are the DER prefixes of a PKCS#1 v1.5 DigestInfo
// (RFC 8017, section 9.2, note 1).
var digestInfoPrefixes = map[crypto.Hash][]byte{
	crypto.SHA1:   {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA224: {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// DigestInfo returns the DER DigestInfo that CKM_RSA_PKCS signs for a
// PKCS#1 v1.5 signature over digest.
func DigestInfo(h crypto.Hash, digest []byte) ([]byte, error) {
	prefix, ok := digestInfoPrefixes[h]
	if !ok {
		return nil, fmt.Errorf("no DigestInfo for hash %v", h)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("digest has %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	return append(append(make([]byte, 0, len(prefix)+len(digest)), prefix...), digest...), nil
}

// hashMechanism returns the CKM_SHA* digest mechanism of a hash.
func hashMechanism(h crypto.Hash) ck.MechanismType {
	switch h {
	case crypto.SHA1:
		return ck.CKM_SHA_1
	case crypto.SHA224:
		return ck.CKM_SHA224
	case crypto.SHA256:
		return ck.CKM_SHA256
	case crypto.SHA384:
		return ck.CKM_SHA384
	case crypto.SHA512:
		return ck.CKM_SHA512
	}
	return 0
}

// HashMechanism returns the CKM_SHA* digest mechanism of h, and whether
// PKCS#11 has one.
func HashMechanism(h crypto.Hash) (MechanismType, bool) {
	m := hashMechanism(h)
	return m, m != 0
}

// MGFOf returns the CKG_MGF1_* value that uses h.
func MGFOf(h crypto.Hash) (MGF, bool) {
	switch h {
	case crypto.SHA1:
		return ck.CKG_MGF1_SHA1, true
	case crypto.SHA224:
		return ck.CKG_MGF1_SHA224, true
	case crypto.SHA256:
		return ck.CKG_MGF1_SHA256, true
	case crypto.SHA384:
		return ck.CKG_MGF1_SHA384, true
	case crypto.SHA512:
		return ck.CKG_MGF1_SHA512, true
	}
	return 0, false
}
