package hsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/keyhold/keyhold/ck"
)

// KeySpec describes a key to generate or import.
type KeySpec struct {
	// Type is the algorithm family (required).
	Type KeyType
	// Bits is the RSA modulus size (2048, 3072, 4096, and 1024 on a partition
	// that allows legacy keys; default 2048), the AES key size (128, 192,
	// 256; default 256) or the generic secret's size (a multiple of 8;
	// default 256).
	Bits int
	// Curve is the EC curve: elliptic.P256() (default), P224(), P384() or
	// P521().
	Curve elliptic.Curve
	// ParameterSet is the CKA_PARAMETER_SET of an ML-DSA key
	// (ck.CKP_ML_DSA_44, ck.CKP_ML_DSA_65 (default) or ck.CKP_ML_DSA_87) or
	// of an ML-KEM key (ck.CKP_ML_KEM_768 (default) or ck.CKP_ML_KEM_1024;
	// the software HSM has no ML-KEM-512).
	ParameterSet uint64
	// Label is CKA_LABEL.
	Label string
	// ID is CKA_ID, which ties a key to its public half and certificates;
	// random 16 bytes when empty.
	ID []byte
	// Extractable allows the key to be wrapped out of the HSM later
	// (CKA_EXTRACTABLE). The key is sensitive either way: its value can never
	// be read in the clear.
	Extractable bool
	// NoSign and NoDecrypt remove CKA_SIGN / CKA_DECRYPT from the private or
	// secret key (for an ML-KEM key, NoDecrypt removes CKA_DECAPSULATE). By
	// default signature keys sign, RSA and AES keys decrypt, ML-KEM keys
	// decapsulate, generic secrets sign (HMAC).
	NoSign, NoDecrypt bool
	// Wrap makes an AES key a key-wrapping key (CKA_WRAP and CKA_UNWRAP), an
	// RSA key pair one whose public key wraps and private key unwraps, and
	// an EC private key one that derives (ECDH, CKA_DERIVE).
	Wrap bool
}

func (s *KeySpec) id() ([]byte, error) {
	if len(s.ID) > 0 {
		return s.ID, nil
	}
	id := make([]byte, 16)
	_, err := rand.Read(id)
	return id, err
}

// GenerateKey generates a key inside the HSM and returns it ready to use. The
// private (or secret) key is private, sensitive and, unless spec says
// otherwise, not extractable; the public key of a pair is a public object
// with the same label and ID. Needs a User login.
func (p *Partition) GenerateKey(ctx context.Context, spec KeySpec) (*Key, error) {
	id, err := spec.id()
	if err != nil {
		return nil, err
	}
	common := func(class ck.ObjectClass) Template {
		return Template{
			ck.ULong(ck.CKA_CLASS, uint64(class)),
			ck.Bool(ck.CKA_TOKEN, true),
			ck.String(ck.CKA_LABEL, spec.Label),
			ck.Bytes(ck.CKA_ID, id),
		}
	}
	private := append(common(ck.CKO_PRIVATE_KEY),
		ck.Bool(ck.CKA_PRIVATE, true),
		ck.Bool(ck.CKA_SENSITIVE, true),
		ck.Bool(ck.CKA_EXTRACTABLE, spec.Extractable),
		ck.Bool(ck.CKA_SIGN, !spec.NoSign),
	)
	public := append(common(ck.CKO_PUBLIC_KEY),
		ck.Bool(ck.CKA_PRIVATE, false),
		ck.Bool(ck.CKA_VERIFY, true),
	)
	var mech Mechanism
	switch spec.Type {
	case KeyRSA:
		bits := spec.Bits
		if bits == 0 {
			bits = 2048
		}
		mech.Type = ck.CKM_RSA_PKCS_KEY_PAIR_GEN
		public = append(public,
			ck.ULong(ck.CKA_MODULUS_BITS, uint64(bits)),
			ck.Bytes(ck.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
			ck.Bool(ck.CKA_ENCRYPT, true))
		private = append(private, ck.Bool(ck.CKA_DECRYPT, !spec.NoDecrypt))
		if spec.Wrap {
			public = append(public, ck.Bool(ck.CKA_WRAP, true))
			private = append(private, ck.Bool(ck.CKA_UNWRAP, true))
		}
	case KeyEC:
		curve := spec.Curve
		if curve == nil {
			curve = elliptic.P256()
		}
		params, err := curveParams(curve)
		if err != nil {
			return nil, newError("generate key", p, ErrKeyType, "%v", err)
		}
		mech.Type = ck.CKM_EC_KEY_PAIR_GEN
		public = append(public, ck.Bytes(ck.CKA_EC_PARAMS, params))
		// Said explicitly: the default is the token's, and some (SoftHSM2)
		// let any private key decrypt.
		private = append(private, ck.Bool(ck.CKA_DECRYPT, false))
		if spec.Wrap {
			private = append(private, ck.Bool(ck.CKA_DERIVE, true))
		}
	case KeyEd25519:
		params, _ := asn1.Marshal(oidEd25519)
		mech.Type = ck.CKM_EC_EDWARDS_KEY_PAIR_GEN
		public = append(public, ck.Bytes(ck.CKA_EC_PARAMS, params))
		private = append(private, ck.Bool(ck.CKA_DECRYPT, false))
	case KeyMLDSA, KeyMLKEM:
		params, err := pqParams(spec)
		if err != nil {
			return nil, newError("generate key", p, ErrKeyType, "%v", err)
		}
		mech.Type = ck.CKM_ML_DSA_KEY_PAIR_GEN
		if spec.Type == KeyMLKEM {
			mech.Type = ck.CKM_ML_KEM_KEY_PAIR_GEN
		}
		public, private = pqTemplates(spec, params, public, private)
	case KeyAES, KeyGenericSecret:
		return p.generateSecret(ctx, spec, id)
	default:
		return nil, newError("generate key", p, ErrKeyType, "unknown key type %v", spec.Type)
	}
	_, priv, err := p.GenerateKeyPairObjects(ctx, mech, public, private)
	if err != nil {
		return nil, err
	}
	return p.newKey(ctx, priv, ck.CKO_PRIVATE_KEY, id)
}

// newKey reads a key that was just generated. The key exists once the
// generation is acknowledged, so a failed read must not report the
// generation as failed: the read is tried again as a search by the ID the
// key was given, which any node that has the key answers.
func (p *Partition) newKey(ctx context.Context, h ObjectHandle, class ck.ObjectClass, id []byte) (*Key, error) {
	k, err := p.keyByHandle(ctx, "generate key", h)
	if err == nil || ctx.Err() != nil {
		return k, err
	}
	objs, ferr := p.FindObjects(ctx, Template{ck.ULong(ck.CKA_CLASS, uint64(class)), ck.Bytes(ck.CKA_ID, id)}, keyAttributes)
	if ferr != nil || len(objs) != 1 {
		return nil, err
	}
	return p.keyFromObject(objs[0])
}

// generateSecret generates an AES key, which encrypts and decrypts, or a
// generic secret, which signs and verifies (HMAC).
func (p *Partition) generateSecret(ctx context.Context, spec KeySpec, id []byte) (*Key, error) {
	bits := spec.Bits
	if bits == 0 {
		bits = 256
	}
	tmpl := append(secretTemplate(spec, id), ck.ULong(ck.CKA_VALUE_LEN, uint64(bits/8)))
	mech := Mechanism{Type: ck.CKM_AES_KEY_GEN}
	if spec.Type == KeyGenericSecret {
		mech.Type = ck.CKM_GENERIC_SECRET_KEY_GEN
	}
	h, err := p.GenerateKeyObject(ctx, mech, tmpl)
	if err != nil {
		return nil, err
	}
	return p.newKey(ctx, h, ck.CKO_SECRET_KEY, id)
}

// secretTemplate is the template of a secret key of spec: AES keys encrypt
// and decrypt, generic secrets sign and verify, and both wrap other keys
// when spec asks.
func secretTemplate(spec KeySpec, id []byte) Template {
	kt, crypt, mac := ck.CKK_AES, !spec.NoDecrypt, false
	if spec.Type == KeyGenericSecret {
		kt, crypt, mac = ck.CKK_GENERIC_SECRET, false, !spec.NoSign
	}
	return append(hiddenKeyTemplate(ck.CKO_SECRET_KEY, kt, spec, id),
		ck.Bool(ck.CKA_ENCRYPT, crypt),
		ck.Bool(ck.CKA_DECRYPT, crypt),
		ck.Bool(ck.CKA_SIGN, mac),
		ck.Bool(ck.CKA_VERIFY, mac),
		ck.Bool(ck.CKA_WRAP, spec.Wrap),
		ck.Bool(ck.CKA_UNWRAP, spec.Wrap),
	)
}

// hiddenKeyTemplate is the start of the template of a private or secret
// key of spec: a private token object, sensitive, extractable only when
// spec says so.
func hiddenKeyTemplate(class ck.ObjectClass, kt ck.KeyType, spec KeySpec, id []byte) Template {
	return Template{
		ck.ULong(ck.CKA_CLASS, uint64(class)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(kt)),
		ck.Bool(ck.CKA_TOKEN, true),
		ck.String(ck.CKA_LABEL, spec.Label),
		ck.Bytes(ck.CKA_ID, id),
		ck.Bool(ck.CKA_PRIVATE, true),
		ck.Bool(ck.CKA_SENSITIVE, true),
		ck.Bool(ck.CKA_EXTRACTABLE, spec.Extractable),
	}
}

// keyByHandle reads the attributes of a new key object and returns it as a Key.
func (p *Partition) keyByHandle(ctx context.Context, op string, h ObjectHandle) (*Key, error) {
	vals, err := p.GetAttributes(ctx, h, keyAttributes)
	if err != nil {
		return nil, err
	}
	var attrs Template
	for _, v := range vals {
		if v.RV == 0 {
			attrs = append(attrs, Attribute{Type: v.Type, Value: v.Value})
		}
	}
	return p.keyFromObject(Object{Handle: h, Attributes: attrs})
}

// ImportKey stores an existing private key (*rsa.PrivateKey,
// *ecdsa.PrivateKey, ed25519.PrivateKey, *mlkem.DecapsulationKey768 or
// 1024, and with Go 1.27 *mldsa.PrivateKey) in the partition, with its
// public key as a public object, and returns it. The key becomes sensitive:
// its value (for ML-DSA and ML-KEM keys, the seed, CKA_SEED) can't be read
// back. spec.Type, Bits, Curve and ParameterSet are taken from the key.
// Needs a User login.
func (p *Partition) ImportKey(ctx context.Context, priv crypto.PrivateKey, spec KeySpec) (*Key, error) {
	id, err := spec.id()
	if err != nil {
		return nil, err
	}
	private := Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
		ck.Bool(ck.CKA_TOKEN, true),
		ck.String(ck.CKA_LABEL, spec.Label),
		ck.Bytes(ck.CKA_ID, id),
		ck.Bool(ck.CKA_PRIVATE, true),
		ck.Bool(ck.CKA_SENSITIVE, true),
		ck.Bool(ck.CKA_EXTRACTABLE, spec.Extractable),
		ck.Bool(ck.CKA_SIGN, !spec.NoSign),
	}
	public := Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PUBLIC_KEY)),
		ck.Bool(ck.CKA_TOKEN, true),
		ck.String(ck.CKA_LABEL, spec.Label),
		ck.Bytes(ck.CKA_ID, id),
		ck.Bool(ck.CKA_PRIVATE, false),
		ck.Bool(ck.CKA_VERIFY, true),
	}
	if params, seed, pub, ok := pqPrivateKey(priv); ok {
		if params.KeyType == ck.CKK_ML_KEM {
			spec.Type = KeyMLKEM
		}
		public, private = pqTemplates(spec, params, public, private)
		private = append(private, ck.Bytes(ck.CKA_SEED, seed))
		public = append(public, ck.Bytes(ck.CKA_VALUE, pub))
		return p.importPair(ctx, public, private)
	}
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		if len(k.Primes) != 2 {
			return nil, newError("import key", p, ErrKeyType, "multi-prime RSA keys are not supported")
		}
		k.Precompute()
		e := big.NewInt(int64(k.E)).Bytes()
		private = append(private,
			ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_RSA)),
			ck.Bool(ck.CKA_DECRYPT, !spec.NoDecrypt),
			ck.Bytes(ck.CKA_MODULUS, k.N.Bytes()),
			ck.Bytes(ck.CKA_PUBLIC_EXPONENT, e),
			ck.Bytes(ck.CKA_PRIVATE_EXPONENT, k.D.Bytes()),
			ck.Bytes(ck.CKA_PRIME_1, k.Primes[0].Bytes()),
			ck.Bytes(ck.CKA_PRIME_2, k.Primes[1].Bytes()),
			ck.Bytes(ck.CKA_EXPONENT_1, k.Precomputed.Dp.Bytes()),
			ck.Bytes(ck.CKA_EXPONENT_2, k.Precomputed.Dq.Bytes()),
			ck.Bytes(ck.CKA_COEFFICIENT, k.Precomputed.Qinv.Bytes()),
		)
		public = append(public,
			ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_RSA)),
			ck.Bool(ck.CKA_ENCRYPT, true),
			ck.Bytes(ck.CKA_MODULUS, k.N.Bytes()),
			ck.Bytes(ck.CKA_PUBLIC_EXPONENT, e),
		)
	case *ecdsa.PrivateKey:
		params, err := curveParams(k.Curve)
		if err != nil {
			return nil, newError("import key", p, ErrKeyType, "%v", err)
		}
		scalar, err := k.Bytes()
		if err != nil {
			return nil, newError("import key", p, ErrKeyType, "%v", err)
		}
		point, err := k.PublicKey.Bytes()
		if err != nil {
			return nil, newError("import key", p, ErrKeyType, "%v", err)
		}
		ecPoint, _ := asn1.Marshal(point)
		private = append(private,
			ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_EC)),
			ck.Bytes(ck.CKA_EC_PARAMS, params),
			ck.Bytes(ck.CKA_VALUE, scalar))
		public = append(public,
			ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_EC)),
			ck.Bytes(ck.CKA_EC_PARAMS, params),
			ck.Bytes(ck.CKA_EC_POINT, ecPoint))
	case ed25519.PrivateKey:
		params, _ := asn1.Marshal(oidEd25519)
		ecPoint, _ := asn1.Marshal([]byte(k.Public().(ed25519.PublicKey)))
		private = append(private,
			ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_EC_EDWARDS)),
			ck.Bytes(ck.CKA_EC_PARAMS, params),
			ck.Bytes(ck.CKA_VALUE, k.Seed()))
		public = append(public,
			ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_EC_EDWARDS)),
			ck.Bytes(ck.CKA_EC_PARAMS, params),
			ck.Bytes(ck.CKA_EC_POINT, ecPoint))
	default:
		return nil, newError("import key", p, ErrKeyType, "unsupported private key type %T", priv)
	}
	return p.importPair(ctx, public, private)
}

// importPair creates an imported key's private and public objects, or
// neither, and returns the private key.
func (p *Partition) importPair(ctx context.Context, public, private Template) (*Key, error) {
	h, err := p.CreateObject(ctx, private)
	if err != nil {
		return nil, err
	}
	if _, err := p.CreateObject(ctx, public); err != nil {
		// Don't leave half a key pair behind.
		_ = p.DestroyObject(ctx, h)
		return nil, fmt.Errorf("import public half: %w", err)
	}
	return p.keyByHandle(ctx, "import key", h)
}
