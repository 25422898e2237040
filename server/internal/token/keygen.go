package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"math/big"

	"github.com/keyhold/keyhold/ck"
)

// GenerateKeyPair generates a key pair (C_GenerateKeyPair) with
// CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_EC_KEY_PAIR_GEN or
// CKM_EC_EDWARDS_KEY_PAIR_GEN and stores both objects. Both templates are
// validated completely before any key is generated, and the two objects are
// stored together or not at all.
func (t *Token) GenerateKeyPair(acc Access, m ck.Mechanism, pub, priv ck.Template) (pubH, privH Handle, err error) {
	p, err := planKeyPair(acc, m, pub, priv)
	if err != nil {
		return 0, 0, err
	}
	if p.keyType == ck.CKK_RSA && p.bits < t.minRSABits {
		return 0, 0, ck.Errorf(ck.CKR_KEY_SIZE_RANGE, "%v must be 2048, 3072 or 4096 (this partition does not allow legacy 1024-bit keys)", ck.CKA_MODULUS_BITS)
	}
	pubObj, privObj, err := p.generate() // outside any lock: RSA generation takes a while
	if err != nil {
		return 0, 0, err
	}
	hs, err := t.insert(pubObj, privObj)
	if err != nil {
		return 0, 0, err
	}
	return hs[0], hs[1], nil
}

// GenerateKey generates a secret key (C_GenerateKey) with CKM_AES_KEY_GEN
// or CKM_GENERIC_SECRET_KEY_GEN and stores it.
func (t *Token) GenerateKey(acc Access, m ck.Mechanism, tmpl ck.Template) (Handle, error) {
	def, ok := mechDefs[m.Type]
	if !ok || def.ops&opsGenerateKey == 0 {
		return 0, ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v does not generate secret keys", m.Type)
	}
	if err := checkNoParams(m); err != nil {
		return 0, err
	}
	k := objKind{ck.CKO_SECRET_KEY, uint32(def.keyType)}
	vals, err := genTemplate(k, tmpl, acc)
	if err != nil {
		return 0, err
	}
	lenV, _ := vals.get(ck.CKA_VALUE_LEN)
	n := ulongOf(lenV)
	if err := checkSecretLen(def.keyType, n); err != nil {
		return 0, err
	}
	key := make([]byte, n)
	_, _ = rand.Read(key) // never fails (crypto/rand, Go 1.24+)
	b := newBuilder(k, vals)
	b.vals[ck.CKA_VALUE] = key
	km, err := b.buildKey()
	if err != nil {
		return 0, err
	}
	hs, err := t.insert(b.finish(km, originGenerate, m.Type))
	if err != nil {
		return 0, err
	}
	return hs[0], nil
}

// checkSecretLen checks a secret key length in bytes (CKA_VALUE_LEN) for
// key type kt.
func checkSecretLen(kt ck.KeyType, n uint64) error {
	switch kt {
	case ck.CKK_AES:
		if n != 16 && n != 24 && n != 32 {
			return ck.Errorf(ck.CKR_KEY_SIZE_RANGE, "%v must be 16, 24 or 32 for an AES key", ck.CKA_VALUE_LEN)
		}
	case ck.CKK_GENERIC_SECRET:
		if n < genericMinBytes || n > genericMaxBytes {
			return ck.Errorf(ck.CKR_KEY_SIZE_RANGE, "%v must be %d to %d for a generic secret", ck.CKA_VALUE_LEN, genericMinBytes, genericMaxBytes)
		}
	}
	return nil
}

// genTemplate validates one generation template for an object of kind k:
// encoding, CKA_CLASS/CKA_KEY_TYPE agreeing with the mechanism, attributes
// the token computes absent, required ones present, and acc allowed to make
// the object.
func genTemplate(k objKind, tmpl ck.Template, acc Access) (attrs, error) {
	vals, err := parseTemplate(tmpl, maxTemplateAttrs)
	if err != nil {
		return nil, err
	}
	if v, ok := vals.get(ck.CKA_CLASS); ok && ulongOf(v) != uint64(k.class) {
		return nil, ck.Errorf(ck.CKR_TEMPLATE_INCONSISTENT, "%v contradicts the mechanism, which makes %v objects", ck.CKA_CLASS, k.class)
	}
	if v, ok := vals.get(ck.CKA_KEY_TYPE); ok && ulongOf(v) != uint64(k.sub) {
		return nil, ck.Errorf(ck.CKR_TEMPLATE_INCONSISTENT, "%v contradicts the mechanism, which makes %v keys", ck.CKA_KEY_TYPE, k.keyType())
	}
	if err := checkTemplate(k, vals, originGenerate, acc); err != nil {
		return nil, err
	}
	if err := checkRequired(k, vals, rReqGen); err != nil {
		return nil, err
	}
	if err := checkMayCreate(k, vals, acc); err != nil {
		return nil, err
	}
	return vals, nil
}

// keyPairPlan is a validated key-pair generation request.
type keyPairPlan struct {
	mech      ck.MechanismType
	keyType   ck.KeyType
	pub, priv attrs
	bits      int   // RSA
	curve     curve // EC, EdDSA
}

func planKeyPair(acc Access, m ck.Mechanism, pub, priv ck.Template) (*keyPairPlan, error) {
	def, ok := mechDefs[m.Type]
	if !ok || def.ops&opsGenerateKeyPair == 0 {
		return nil, ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v does not generate key pairs", m.Type)
	}
	if err := checkNoParams(m); err != nil {
		return nil, err
	}
	p := &keyPairPlan{mech: m.Type, keyType: def.keyType}
	var err error
	if p.pub, err = genTemplate(objKind{ck.CKO_PUBLIC_KEY, uint32(def.keyType)}, pub, acc); err != nil {
		return nil, err
	}
	if p.priv, err = genTemplate(objKind{ck.CKO_PRIVATE_KEY, uint32(def.keyType)}, priv, acc); err != nil {
		return nil, err
	}
	switch def.keyType {
	case ck.CKK_RSA:
		v, _ := p.pub.get(ck.CKA_MODULUS_BITS)
		switch bits := ulongOf(v); bits {
		case 1024, 2048, 3072, 4096:
			// 1024 only where the partition allows it: GenerateKeyPair
			// checks.
			p.bits = int(bits)
		default:
			return nil, ck.Errorf(ck.CKR_KEY_SIZE_RANGE, "%v must be 2048, 3072 or 4096", ck.CKA_MODULUS_BITS)
		}
		if e, ok := p.pub.get(ck.CKA_PUBLIC_EXPONENT); ok {
			if new(big.Int).SetBytes(e).Cmp(big.NewInt(rsaPublicExponent)) != 0 {
				return nil, ck.Errorf(ck.CKR_TEMPLATE_INCONSISTENT, "%v: only 65537 is supported", ck.CKA_PUBLIC_EXPONENT)
			}
		}
	case ck.CKK_EC, ck.CKK_EC_EDWARDS:
		v, _ := p.pub.get(ck.CKA_EC_PARAMS)
		if p.curve, err = curveFor(def.keyType, v); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// generate makes the key pair and builds both objects through the same path
// as an imported key (builder.buildKey), from the generated values set as
// attributes; then the objects are exactly what their snapshot records
// rebuild.
func (p *keyPairPlan) generate() (pubObj, privObj *object, err error) {
	pb := newBuilder(objKind{ck.CKO_PUBLIC_KEY, uint32(p.keyType)}, p.pub)
	sb := newBuilder(objKind{ck.CKO_PRIVATE_KEY, uint32(p.keyType)}, p.priv)
	switch p.keyType {
	case ck.CKK_RSA:
		k, err := rsa.GenerateKey(rand.Reader, p.bits)
		if err != nil {
			return nil, nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "RSA key generation failed")
		}
		e := big.NewInt(int64(k.E)).Bytes()
		pb.vals[ck.CKA_MODULUS] = k.N.Bytes()
		pb.setIfAbsent(ck.CKA_PUBLIC_EXPONENT, e)
		sb.vals[ck.CKA_MODULUS] = k.N.Bytes()
		sb.vals[ck.CKA_PUBLIC_EXPONENT] = e
		sb.vals[ck.CKA_PRIVATE_EXPONENT] = k.D.Bytes()
		sb.vals[ck.CKA_PRIME_1] = k.Primes[0].Bytes()
		sb.vals[ck.CKA_PRIME_2] = k.Primes[1].Bytes()
	case ck.CKK_EC:
		k, err := ecdsa.GenerateKey(p.curve.elliptic(), rand.Reader)
		if err != nil {
			return nil, nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "EC key generation failed")
		}
		point, err := k.PublicKey.Bytes()
		if err != nil {
			return nil, nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "EC key generation failed")
		}
		scalar, err := k.Bytes()
		if err != nil {
			return nil, nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "EC key generation failed")
		}
		pb.vals[ck.CKA_EC_POINT] = derOctetString(point)
		sb.vals[ck.CKA_VALUE] = scalar
	case ck.CKK_EC_EDWARDS:
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "Ed25519 key generation failed")
		}
		pb.vals[ck.CKA_EC_POINT] = derOctetString(pub)
		sb.vals[ck.CKA_VALUE] = bytes.Clone(priv.Seed())
	case ck.CKK_ML_DSA, ck.CKK_ML_KEM:
		if err := generatePQ(pb, sb); err != nil {
			return nil, nil, err
		}
	}
	if p.curve != curveNone {
		// The curve is named in the public template only (PKCS#11: the
		// private template must not give it); the private key has it too.
		sb.vals[ck.CKA_EC_PARAMS] = bytes.Clone(pb.vals[ck.CKA_EC_PARAMS])
	}
	pk, err := pb.buildKey()
	if err != nil {
		return nil, nil, err
	}
	sk, err := sb.buildKey()
	if err != nil {
		return nil, nil, err
	}
	return pb.finish(pk, originGenerate, p.mech), sb.finish(sk, originGenerate, p.mech), nil
}
