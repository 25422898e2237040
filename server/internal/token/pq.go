package token

import (
	"bytes"
	"crypto/mlkem"
	"crypto/rand"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/pqkey"
)

// Post-quantum keys (PKCS#11 v3.2): ML-DSA (FIPS 204) signs, ML-KEM (FIPS
// 203) encapsulates and decapsulates. A private key object keeps its seed
// (CKA_SEED), from which the key is rebuilt whenever the object is built
// (Create, generation, Restore); both halves carry CKA_PARAMETER_SET and the
// derived CKA_PUBLIC_KEY_INFO, and a public key object the encoded public
// key in CKA_VALUE.

// mldsaKey is an ML-DSA key ready for use. The implementation needs
// crypto/mldsa (Go 1.27, mldsa.go); a Go 1.26 build has none, and refuses
// ML-DSA keys and mechanisms.
type mldsaKey interface {
	// sign signs msg (or, with mu, the 64-byte message representative)
	// with context ctx, deterministically or hedged.
	sign(msg []byte, mu bool, ctx []byte, deterministic bool) ([]byte, error)
	// verify checks a signature of msg with context ctx.
	verify(msg, sig, ctx []byte) bool
}

// heldKind returns the kind of an ML-DSA key record that a node without
// ML-DSA (a Go 1.26 build) restores all the same: a cluster member or a
// restored backup keeps every key the partition holds, and the key, held
// but unusable here (its mechanisms are not offered), works again on a node
// that has ML-DSA. Such a node never creates one.
func heldKind(vals attrs) (objKind, bool) {
	cv, _ := vals.get(ck.CKA_CLASS)
	kv, _ := vals.get(ck.CKA_KEY_TYPE)
	class := ck.ObjectClass(ulongOf(cv))
	if ulongOf(kv) != uint64(ck.CKK_ML_DSA) || (class != ck.CKO_PRIVATE_KEY && class != ck.CKO_PUBLIC_KEY) {
		return objKind{}, false
	}
	return objKind{class, uint32(ck.CKK_ML_DSA)}, true
}

// pqParams returns the parameter set CKA_PARAMETER_SET names for the
// builder's key type.
func (b *builder) pqParams() (*pqkey.Params, error) {
	v, _ := b.get(ck.CKA_PARAMETER_SET)
	p, err := pqkey.Lookup(b.kind.keyType(), ulongOf(v))
	if err != nil || p == pqkey.MLKEM512 {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v: unsupported %v parameter set", ck.CKA_PARAMETER_SET, b.kind.keyType())
	}
	return p, nil
}

// buildPQPrivate builds an ML-DSA or ML-KEM private key from its seed and
// derives its public key info.
func (b *builder) buildPQPrivate() (*keyMaterial, error) {
	p, err := b.pqParams()
	if err != nil {
		return nil, err
	}
	seed, _ := b.get(ck.CKA_SEED)
	if len(seed) != p.SeedSize {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v of an %s key must be %d bytes", ck.CKA_SEED, p.Name, p.SeedSize)
	}
	km := &keyMaterial{pq: p}
	var pub []byte
	switch p {
	case pqkey.MLKEM768:
		km.kem768, err = mlkem.NewDecapsulationKey768(seed)
		if err == nil {
			km.ek768 = km.kem768.EncapsulationKey()
			pub = km.ek768.Bytes()
		}
	case pqkey.MLKEM1024:
		km.kem1024, err = mlkem.NewDecapsulationKey1024(seed)
		if err == nil {
			km.ek1024 = km.kem1024.EncapsulationKey()
			pub = km.ek1024.Bytes()
		}
	default:
		km.mldsa, pub, err = mldsaFromSeed(p, seed)
	}
	if err != nil {
		return nil, err
	}
	if pub == nil {
		// An ML-DSA key held by a node without ML-DSA: the public key
		// info is the record's.
		return km, nil
	}
	if err := b.derivePQPublicKeyInfo(p, pub); err != nil {
		return nil, err
	}
	return km, nil
}

// buildPQPublic builds an ML-DSA or ML-KEM public key from CKA_VALUE.
func (b *builder) buildPQPublic() (*keyMaterial, error) {
	p, err := b.pqParams()
	if err != nil {
		return nil, err
	}
	raw, _ := b.get(ck.CKA_VALUE)
	if len(raw) != p.PublicSize {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v of an %s public key must be %d bytes", ck.CKA_VALUE, p.Name, p.PublicSize)
	}
	km := &keyMaterial{pq: p}
	switch p {
	case pqkey.MLKEM768:
		km.ek768, err = mlkem.NewEncapsulationKey768(raw)
	case pqkey.MLKEM1024:
		km.ek1024, err = mlkem.NewEncapsulationKey1024(raw)
	default:
		km.mldsa, err = mldsaPublic(p, raw)
	}
	if err != nil {
		if _, ok := err.(*ck.Error); ok {
			return nil, err
		}
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not an %s public key", ck.CKA_VALUE, p.Name)
	}
	if err := b.derivePQPublicKeyInfo(p, raw); err != nil {
		return nil, err
	}
	return km, nil
}

func (b *builder) derivePQPublicKeyInfo(p *pqkey.Params, pub []byte) error {
	spki, err := p.MarshalSPKI(pub)
	if err != nil {
		return ck.Errorf(ck.CKR_GENERAL_ERROR, "encoding the public key: %v", err)
	}
	return b.derive(ck.CKA_PUBLIC_KEY_INFO, spki)
}

// generatePQ sets the values of a generated ML-DSA or ML-KEM key pair: a
// fresh seed for the private key, the public key it determines for the
// public one, and the parameter set on both.
func generatePQ(pb, sb *builder) error {
	p, err := pb.pqParams()
	if err != nil {
		return err
	}
	if v, ok := sb.get(ck.CKA_PARAMETER_SET); ok && ulongOf(v) != p.Set {
		return ck.Errorf(ck.CKR_TEMPLATE_INCONSISTENT, "the two templates name different parameter sets")
	}
	seed := make([]byte, p.SeedSize)
	_, _ = rand.Read(seed) // never fails (crypto/rand, Go 1.24+)
	sb.vals[ck.CKA_PARAMETER_SET] = ulongValue(p.Set)
	sb.vals[ck.CKA_SEED] = seed
	km, err := sb.buildKey()
	if err != nil {
		return err
	}
	pub, err := km.pqPublicBytes()
	if err != nil {
		return err
	}
	pb.vals[ck.CKA_VALUE] = pub
	// buildKey derived the private key's public key info already: the
	// generation builds it again, from the same values.
	delete(sb.vals, ck.CKA_PUBLIC_KEY_INFO)
	return nil
}

// pqPublicBytes returns the encoded public key of a post-quantum key.
func (k *keyMaterial) pqPublicBytes() ([]byte, error) {
	switch {
	case k.ek768 != nil:
		return k.ek768.Bytes(), nil
	case k.ek1024 != nil:
		return k.ek1024.Bytes(), nil
	case k.mldsa != nil:
		return mldsaPublicBytes(k.mldsa), nil
	}
	return nil, ck.Errorf(ck.CKR_GENERAL_ERROR, "not a post-quantum key")
}

// signMLDSA signs with CKM_ML_DSA (data is the message) or
// CKM_ML_DSA_EXTERNAL_MU (data is mu), with the optional
// CK_SIGN_ADDITIONAL_CONTEXT. The software token can always hedge, so
// CKH_HEDGE_PREFERRED and CKH_HEDGE_REQUIRED both hedge.
func (k *keyMaterial) signMLDSA(m ck.Mechanism, data []byte) ([]byte, error) {
	mu := m.Type == ck.CKM_ML_DSA_EXTERNAL_MU
	ctx, deterministic, err := signContext(m)
	if err != nil {
		return nil, err
	}
	if mu && len(data) != pqkey.MuSize {
		return nil, ck.Errorf(ck.CKR_DATA_LEN_RANGE, "%v signs a %d-byte mu", m.Type, pqkey.MuSize)
	}
	if mu && len(ctx) != 0 {
		return nil, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v takes no context: mu already includes it", m.Type)
	}
	sig, err := k.mldsa.sign(data, mu, ctx, deterministic)
	if err != nil {
		return nil, ck.Errorf(ck.CKR_FUNCTION_FAILED, "ML-DSA signature failed")
	}
	return sig, nil
}

// verifyMLDSA checks a CKM_ML_DSA signature.
func (k *keyMaterial) verifyMLDSA(m ck.Mechanism, data, sig []byte) error {
	ctx, _, err := signContext(m)
	if err != nil {
		return err
	}
	if len(sig) != k.pq.OutputSize {
		return ck.Errorf(ck.CKR_SIGNATURE_LEN_RANGE, "an %s signature has %d bytes", k.pq.Name, k.pq.OutputSize)
	}
	if !k.mldsa.verify(data, sig, ctx) {
		return ck.Errorf(ck.CKR_SIGNATURE_INVALID, "the signature does not verify")
	}
	return nil
}

// signContext checks the CK_SIGN_ADDITIONAL_CONTEXT of an ML-DSA mechanism.
func signContext(m ck.Mechanism) (ctx []byte, deterministic bool, err error) {
	p := m.SignContext
	if p == nil {
		return nil, false, nil
	}
	switch p.Hedge {
	case ck.CKH_HEDGE_PREFERRED, ck.CKH_HEDGE_REQUIRED:
	case ck.CKH_DETERMINISTIC_REQUIRED:
		deterministic = true
	default:
		return nil, false, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "unknown hedging variant %d", p.Hedge)
	}
	if len(p.Context) > pqkey.MaxContext {
		return nil, false, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "the context has %d bytes, at most %d are allowed", len(p.Context), pqkey.MaxContext)
	}
	return p.Context, deterministic, nil
}

// decapsulate returns the shared secret of an ML-KEM ciphertext.
func (k *keyMaterial) decapsulate(ct []byte) ([]byte, error) {
	if len(ct) != k.pq.OutputSize {
		return nil, ck.Errorf(ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "an %s ciphertext has %d bytes", k.pq.Name, k.pq.OutputSize)
	}
	var z []byte
	var err error
	if k.kem768 != nil {
		z, err = k.kem768.Decapsulate(ct)
	} else {
		z, err = k.kem1024.Decapsulate(ct)
	}
	if err != nil {
		return nil, ck.Errorf(ck.CKR_ENCRYPTED_DATA_INVALID, "the ciphertext does not decapsulate")
	}
	return z, nil
}

// encapsulate returns a fresh shared secret and its ciphertext.
func (k *keyMaterial) encapsulate() (secret, ct []byte) {
	if k.ek768 != nil {
		return k.ek768.Encapsulate()
	}
	return k.ek1024.Encapsulate()
}

// Decapsulate returns the shared secret that ciphertext encapsulates to the
// ML-KEM private key h (CKM_ML_KEM, CKA_DECAPSULATE), storing nothing: the
// decapsulation crypto.Decapsulator needs. A well-formed ciphertext made for
// another key yields an unrelated secret (FIPS 203 implicit rejection).
func (t *Token) Decapsulate(acc Access, h Handle, m ck.Mechanism, ciphertext []byte) ([]byte, error) {
	o, err := t.useKey(acc, h, m, opDecapsulate)
	if err != nil {
		return nil, err
	}
	return o.key.decapsulate(ciphertext)
}

// DecapsulateKey decapsulates ciphertext with the ML-KEM private key h and
// stores the shared secret as a new secret key with the attributes of tmpl
// (C_DecapsulateKey).
func (t *Token) DecapsulateKey(acc Access, h Handle, m ck.Mechanism, ciphertext []byte, tmpl ck.Template) (Handle, error) {
	o, err := t.useKey(acc, h, m, opDecapsulate)
	if err != nil {
		return 0, err
	}
	k, vals, err := newKeyTemplate(acc, tmpl, ck.CKO_SECRET_KEY)
	if err != nil {
		return 0, err
	}
	z, err := o.key.decapsulate(ciphertext)
	if err != nil {
		return 0, err
	}
	defer clear(z)
	return t.insertSecret(m, k, vals, z, o.flag(ck.CKA_ALWAYS_SENSITIVE), o.flag(ck.CKA_NEVER_EXTRACTABLE))
}

// EncapsulateKey encapsulates a fresh shared secret to the ML-KEM public key
// h, stores the secret as a new secret key with the attributes of tmpl, and
// returns the ciphertext and the key (C_EncapsulateKey). The secret was
// made in the token, so the new key has always been sensitive, and never
// extractable, if it is now.
func (t *Token) EncapsulateKey(acc Access, h Handle, m ck.Mechanism, tmpl ck.Template) ([]byte, Handle, error) {
	o, err := t.useKey(acc, h, m, opEncapsulate)
	if err != nil {
		return nil, 0, err
	}
	if o.kind.class != ck.CKO_PUBLIC_KEY {
		return nil, 0, ck.Errorf(ck.CKR_KEY_TYPE_INCONSISTENT, "encapsulation takes the public key")
	}
	k, vals, err := newKeyTemplate(acc, tmpl, ck.CKO_SECRET_KEY)
	if err != nil {
		return nil, 0, err
	}
	z, ct := o.key.encapsulate()
	defer clear(z)
	nh, err := t.insertSecret(m, k, vals, z, true, true)
	if err != nil {
		return nil, 0, err
	}
	return ct, nh, nil
}

// insertSecret stores the shared secret z (or, with CKA_VALUE_LEN in the
// template, its last bytes) as the secret key kind k with the attributes
// vals, as C_DeriveKey, C_DecapsulateKey and C_EncapsulateKey do.
// sensitive and unextractable say whether the material has always been
// sensitive and never extractable before it reached the new key.
func (t *Token) insertSecret(m ck.Mechanism, k objKind, vals attrs, z []byte, sensitive, unextractable bool) (Handle, error) {
	if k.class != ck.CKO_SECRET_KEY {
		return 0, ck.Errorf(ck.CKR_TEMPLATE_INCONSISTENT, "%v makes secret keys", m.Type)
	}
	n := uint64(len(z))
	if v, ok := vals.get(ck.CKA_VALUE_LEN); ok {
		n = ulongOf(v)
		if n > uint64(len(z)) {
			return 0, ck.Errorf(ck.CKR_KEY_SIZE_RANGE, "the shared secret has %d bytes, fewer than %v asks", len(z), ck.CKA_VALUE_LEN)
		}
	}
	if err := checkSecretLen(k.keyType(), n); err != nil {
		return 0, err
	}
	b := newBuilder(k, vals)
	b.vals[ck.CKA_VALUE] = bytes.Clone(z[uint64(len(z))-n:])
	km, err := b.buildKey()
	if err != nil {
		return 0, err
	}
	o := b.finish(km, originUnwrap, 0)
	// PKCS#11: a key made from another has always been sensitive, and
	// never extractable, if both it and its source have.
	o.attrs[ck.CKA_ALWAYS_SENSITIVE] = boolValue(sensitive && o.flag(ck.CKA_SENSITIVE))
	o.attrs[ck.CKA_NEVER_EXTRACTABLE] = boolValue(unextractable && !o.flag(ck.CKA_EXTRACTABLE))
	hs, err := t.insert(o)
	if err != nil {
		return 0, err
	}
	return hs[0], nil
}
