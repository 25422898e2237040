package token

import "github.com/keyhold/keyhold/ck"

// rule says how an attribute of one kind of object may be given, changed
// and read. The rules follow the footnotes of the PKCS#11 attribute tables
// ("must be specified when object is created", "must not be specified when
// object is generated", "cannot be changed once set", ...). PKCS#11 4.1.1
// allows a token to be more restrictive than the specification; where this
// token is, the schema entry says why.
type rule uint16

const (
	// rMod: SetAttributes may change the attribute.
	rMod rule = 1 << iota
	// rToTrue: SetAttributes may change it only from false to true
	// (CKA_SENSITIVE, CKA_WRAP_WITH_TRUSTED).
	rToTrue
	// rToFalse: SetAttributes may change it only from true to false
	// (CKA_EXTRACTABLE, CKA_COPYABLE).
	rToFalse
	// rTokenSet: only the token sets it (CKA_LOCAL, CKA_UNIQUE_ID, ...).
	rTokenSet
	// rNoCreate: the token computes it on Create; a Create template must
	// not give it (CKA_MODULUS_BITS of a public key, CKA_VALUE_LEN).
	rNoCreate
	// rNoGen: key generation computes it; a generation template must not
	// give it (CKA_MODULUS, CKA_EC_POINT, key values).
	rNoGen
	// rReqCreate: a Create template must give it.
	rReqCreate
	// rReqGen: a generation template must give it (CKA_MODULUS_BITS,
	// CKA_EC_PARAMS of the public template, CKA_VALUE_LEN).
	rReqGen
	// rDerived: the token derives it from the key or certificate. Create
	// may give it, but only with the value the token derives; generation
	// may not give it.
	rDerived
	// rSecret: key material; unreadable (and never matched by Find) while
	// the key is sensitive or unextractable.
	rSecret
	// rSOTrue: only the SO may set it to true (CKA_TRUSTED, PKCS#11
	// footnote "can only be set to CK_TRUE by the SO user").
	rSOTrue
)

// schema is the set of attributes an object of one kind has, with their rules.
type schema map[ck.AttributeType]rule

// objKind names a kind of object: its class and, for keys, its key type, or
// for certificates, its certificate type.
type objKind struct {
	class ck.ObjectClass
	sub   uint32 // ck.KeyType for keys, ck.CertificateType for certificates, 0 for data
}

func (k objKind) keyType() ck.KeyType { return ck.KeyType(k.sub) }

func (k objKind) isKey() bool {
	switch k.class {
	case ck.CKO_PUBLIC_KEY, ck.CKO_PRIVATE_KEY, ck.CKO_SECRET_KEY:
		return true
	}
	return false
}

// Attribute sets by class, composed into one schema per supported kind below.
var (
	// Common to every object (PKCS#11 4.4, storage objects).
	commonAttrs = schema{
		ck.CKA_CLASS:       rReqCreate,
		ck.CKA_TOKEN:       0,
		ck.CKA_PRIVATE:     0, // fixed after creation: changing it would move an object between visibilities
		ck.CKA_MODIFIABLE:  0,
		ck.CKA_COPYABLE:    rToFalse, // "once set to CK_FALSE, it cannot be changed to CK_TRUE"
		ck.CKA_DESTROYABLE: rMod,     // the specification does not fix it; either direction is a deliberate owner's act
		ck.CKA_LABEL:       rMod,
		ck.CKA_UNIQUE_ID:   rTokenSet,
	}
	// Common to keys (PKCS#11 4.7).
	keyAttrs = schema{
		ck.CKA_KEY_TYPE:          rReqCreate,
		ck.CKA_ID:                rMod,
		ck.CKA_START_DATE:        rMod,
		ck.CKA_END_DATE:          rMod,
		ck.CKA_DERIVE:            rMod,
		ck.CKA_LOCAL:             rTokenSet,
		ck.CKA_KEY_GEN_MECHANISM: rTokenSet,
		// Fixed after creation although the specification does not say
		// so: a restriction that anyone allowed to modify the key could
		// lift would restrict nothing.
		ck.CKA_ALLOWED_MECHANISMS: 0,
	}
	// Public keys (PKCS#11 4.8).
	publicKeyAttrs = schema{
		ck.CKA_SUBJECT:         rMod,
		ck.CKA_ENCRYPT:         rMod,
		ck.CKA_VERIFY:          rMod,
		ck.CKA_VERIFY_RECOVER:  rMod,
		ck.CKA_WRAP:            rMod,
		ck.CKA_TRUSTED:         rMod | rSOTrue,
		ck.CKA_PUBLIC_KEY_INFO: rDerived,
	}
	// Private keys (PKCS#11 4.9).
	privateKeyAttrs = schema{
		ck.CKA_SUBJECT:           rMod,
		ck.CKA_SENSITIVE:         rToTrue,
		ck.CKA_DECRYPT:           rMod,
		ck.CKA_SIGN:              rMod,
		ck.CKA_SIGN_RECOVER:      rMod,
		ck.CKA_UNWRAP:            rMod,
		ck.CKA_EXTRACTABLE:       rToFalse,
		ck.CKA_ALWAYS_SENSITIVE:  rTokenSet,
		ck.CKA_NEVER_EXTRACTABLE: rTokenSet,
		ck.CKA_WRAP_WITH_TRUSTED: rToTrue,
		// Fixed, and only false is accepted: the token is stateless and
		// cannot ask for a context-specific login before each use.
		ck.CKA_ALWAYS_AUTHENTICATE: 0,
		ck.CKA_PUBLIC_KEY_INFO:     rDerived,
	}
	// Secret keys (PKCS#11 4.10).
	secretKeyAttrs = schema{
		ck.CKA_SENSITIVE:         rToTrue,
		ck.CKA_ENCRYPT:           rMod,
		ck.CKA_DECRYPT:           rMod,
		ck.CKA_SIGN:              rMod,
		ck.CKA_VERIFY:            rMod,
		ck.CKA_WRAP:              rMod,
		ck.CKA_UNWRAP:            rMod,
		ck.CKA_EXTRACTABLE:       rToFalse,
		ck.CKA_ALWAYS_SENSITIVE:  rTokenSet,
		ck.CKA_NEVER_EXTRACTABLE: rTokenSet,
		ck.CKA_CHECK_VALUE:       rDerived,
		ck.CKA_WRAP_WITH_TRUSTED: rToTrue,
		ck.CKA_TRUSTED:           rMod | rSOTrue,
	}

	rsaPublicAttrs = schema{
		ck.CKA_MODULUS:         rReqCreate | rNoGen,
		ck.CKA_MODULUS_BITS:    rNoCreate | rReqGen,
		ck.CKA_PUBLIC_EXPONENT: rReqCreate,
	}
	rsaPrivateAttrs = schema{
		ck.CKA_MODULUS:          rReqCreate | rNoGen,
		ck.CKA_PUBLIC_EXPONENT:  rReqCreate | rNoGen,
		ck.CKA_PRIVATE_EXPONENT: rReqCreate | rNoGen | rSecret,
		ck.CKA_PRIME_1:          rReqCreate | rNoGen | rSecret,
		ck.CKA_PRIME_2:          rReqCreate | rNoGen | rSecret,
		ck.CKA_EXPONENT_1:       rNoGen | rSecret,
		ck.CKA_EXPONENT_2:       rNoGen | rSecret,
		ck.CKA_COEFFICIENT:      rNoGen | rSecret,
	}
	ecPublicAttrs = schema{
		ck.CKA_EC_PARAMS: rReqCreate | rReqGen,
		ck.CKA_EC_POINT:  rReqCreate | rNoGen,
	}
	ecPrivateAttrs = schema{
		ck.CKA_EC_PARAMS: rReqCreate | rNoGen,
		ck.CKA_VALUE:     rReqCreate | rNoGen | rSecret,
		// Not a private-key attribute in PKCS#11: this token adds it so
		// that a client holding only the private key can rebuild the
		// public key without finding the public key object as well.
		ck.CKA_EC_POINT: rDerived,
	}
	// ML-DSA and ML-KEM (PKCS#11 v3.2). The parameter set is named in the
	// public template of a generation; the private template may repeat it.
	// A private key is its seed: the expanded private key (CKA_VALUE of
	// the specification) is neither accepted nor kept, because the seed
	// determines it and Go builds the key from the seed alone.
	pqPublicAttrs = schema{
		ck.CKA_PARAMETER_SET: rReqCreate | rReqGen,
		ck.CKA_VALUE:         rReqCreate | rNoGen,
	}
	pqPrivateAttrs = schema{
		ck.CKA_PARAMETER_SET: rReqCreate,
		ck.CKA_SEED:          rReqCreate | rNoGen | rSecret,
	}
	kemPublicAttrs  = schema{ck.CKA_ENCAPSULATE: rMod}
	kemPrivateAttrs = schema{ck.CKA_DECAPSULATE: rMod}

	aesAttrs = schema{
		ck.CKA_VALUE:     rReqCreate | rNoGen | rSecret,
		ck.CKA_VALUE_LEN: rNoCreate | rReqGen,
	}

	// X.509 certificates (PKCS#11 4.6).
	x509Attrs = schema{
		ck.CKA_CERTIFICATE_TYPE:     rReqCreate,
		ck.CKA_TRUSTED:              rMod | rSOTrue,
		ck.CKA_CERTIFICATE_CATEGORY: rMod,
		ck.CKA_CHECK_VALUE:          rDerived,
		ck.CKA_START_DATE:           rMod,
		ck.CKA_END_DATE:             rMod,
		ck.CKA_PUBLIC_KEY_INFO:      rDerived,
		ck.CKA_SUBJECT:              rMod, // taken from the certificate when absent
		ck.CKA_ID:                   rMod,
		ck.CKA_ISSUER:               rMod, // taken from the certificate when absent
		ck.CKA_SERIAL_NUMBER:        rMod, // taken from the certificate when absent
		ck.CKA_VALUE:                rReqCreate,
	}
	// Data objects (PKCS#11 4.5).
	dataAttrs = schema{
		ck.CKA_APPLICATION: rMod,
		ck.CKA_OBJECT_ID:   rMod,
		ck.CKA_VALUE:       rMod,
	}
)

// schemas holds one schema per kind of object this token supports.
var schemas = map[objKind]schema{
	{ck.CKO_DATA, 0}: merge(commonAttrs, dataAttrs),
	{ck.CKO_CERTIFICATE, uint32(ck.CKC_X_509)}:      merge(commonAttrs, x509Attrs),
	{ck.CKO_PUBLIC_KEY, uint32(ck.CKK_RSA)}:         merge(commonAttrs, keyAttrs, publicKeyAttrs, rsaPublicAttrs),
	{ck.CKO_PUBLIC_KEY, uint32(ck.CKK_EC)}:          merge(commonAttrs, keyAttrs, publicKeyAttrs, ecPublicAttrs),
	{ck.CKO_PUBLIC_KEY, uint32(ck.CKK_EC_EDWARDS)}:  merge(commonAttrs, keyAttrs, publicKeyAttrs, ecPublicAttrs),
	{ck.CKO_PRIVATE_KEY, uint32(ck.CKK_RSA)}:        merge(commonAttrs, keyAttrs, privateKeyAttrs, rsaPrivateAttrs),
	{ck.CKO_PRIVATE_KEY, uint32(ck.CKK_EC)}:         merge(commonAttrs, keyAttrs, privateKeyAttrs, ecPrivateAttrs),
	{ck.CKO_PRIVATE_KEY, uint32(ck.CKK_EC_EDWARDS)}: merge(commonAttrs, keyAttrs, privateKeyAttrs, ecPrivateAttrs),
	{ck.CKO_SECRET_KEY, uint32(ck.CKK_AES)}:         merge(commonAttrs, keyAttrs, secretKeyAttrs, aesAttrs),
	{ck.CKO_PUBLIC_KEY, uint32(ck.CKK_ML_DSA)}:      merge(commonAttrs, keyAttrs, publicKeyAttrs, pqPublicAttrs),
	{ck.CKO_PRIVATE_KEY, uint32(ck.CKK_ML_DSA)}:     merge(commonAttrs, keyAttrs, privateKeyAttrs, pqPrivateAttrs),
	{ck.CKO_PUBLIC_KEY, uint32(ck.CKK_ML_KEM)}:      merge(commonAttrs, keyAttrs, publicKeyAttrs, pqPublicAttrs, kemPublicAttrs),
	{ck.CKO_PRIVATE_KEY, uint32(ck.CKK_ML_KEM)}:     merge(commonAttrs, keyAttrs, privateKeyAttrs, pqPrivateAttrs, kemPrivateAttrs),
	// A generic secret has the same attributes as an AES key: a value and
	// its length.
	{ck.CKO_SECRET_KEY, uint32(ck.CKK_GENERIC_SECRET)}: merge(commonAttrs, keyAttrs, secretKeyAttrs, aesAttrs),
}

// supportedKeyTypes are the key types of some supported kind. A key type
// outside it is an unsupported value (CKR_ATTRIBUTE_VALUE_INVALID); a
// supported key type in the wrong class is an inconsistent template.
// CKK_ML_DSA joins them in a node built with Go 1.27 (mldsa.go).
var supportedKeyTypes = map[ck.KeyType]bool{
	ck.CKK_RSA: true, ck.CKK_EC: true, ck.CKK_EC_EDWARDS: true, ck.CKK_AES: true, ck.CKK_GENERIC_SECRET: true,
	ck.CKK_ML_KEM: true,
}

func merge(parts ...schema) schema {
	out := schema{}
	for _, p := range parts {
		for t, r := range p {
			out[t] = r
		}
	}
	return out
}

// defaults returns the values an object of kind k takes for attributes its
// template leaves out (token-set attributes excepted). Where PKCS#11 leaves
// a default to the token, usage flags default to what the key type can do,
// so that a key generated with a minimal template is usable for its
// algorithm's purpose and nothing else.
func defaults(k objKind) []ck.Attribute {
	f, t := []byte{0}, []byte{1}
	empty := []byte{}
	private := k.class == ck.CKO_PRIVATE_KEY || k.class == ck.CKO_SECRET_KEY
	d := []ck.Attribute{
		{Type: ck.CKA_TOKEN, Value: t},
		{Type: ck.CKA_PRIVATE, Value: boolValue(private)},
		{Type: ck.CKA_MODIFIABLE, Value: t},
		{Type: ck.CKA_COPYABLE, Value: t},
		{Type: ck.CKA_DESTROYABLE, Value: t},
		{Type: ck.CKA_LABEL, Value: empty},
	}
	if k.isKey() {
		d = append(d,
			ck.Attribute{Type: ck.CKA_ID, Value: empty},
			ck.Attribute{Type: ck.CKA_START_DATE, Value: empty},
			ck.Attribute{Type: ck.CKA_END_DATE, Value: empty},
			ck.Attribute{Type: ck.CKA_DERIVE, Value: f},
			// Empty: no restriction.
			ck.Attribute{Type: ck.CKA_ALLOWED_MECHANISMS, Value: empty},
		)
	}
	isRSA := k.keyType() == ck.CKK_RSA
	// An ML-KEM key encapsulates and decapsulates, and does nothing else.
	isKEM := k.keyType() == ck.CKK_ML_KEM
	if isKEM {
		if k.class == ck.CKO_PUBLIC_KEY {
			d = append(d, ck.Attribute{Type: ck.CKA_ENCAPSULATE, Value: t})
		} else {
			d = append(d, ck.Attribute{Type: ck.CKA_DECAPSULATE, Value: t})
		}
	}
	switch k.class {
	case ck.CKO_PUBLIC_KEY:
		d = append(d,
			ck.Attribute{Type: ck.CKA_SUBJECT, Value: empty},
			ck.Attribute{Type: ck.CKA_ENCRYPT, Value: boolValue(isRSA)},
			ck.Attribute{Type: ck.CKA_VERIFY, Value: boolValue(!isKEM)},
			ck.Attribute{Type: ck.CKA_VERIFY_RECOVER, Value: f},
			ck.Attribute{Type: ck.CKA_WRAP, Value: f},
			ck.Attribute{Type: ck.CKA_TRUSTED, Value: f},
		)
	case ck.CKO_PRIVATE_KEY:
		d = append(d,
			ck.Attribute{Type: ck.CKA_SUBJECT, Value: empty},
			ck.Attribute{Type: ck.CKA_SENSITIVE, Value: t},
			ck.Attribute{Type: ck.CKA_DECRYPT, Value: boolValue(isRSA)},
			ck.Attribute{Type: ck.CKA_SIGN, Value: boolValue(!isKEM)},
			ck.Attribute{Type: ck.CKA_SIGN_RECOVER, Value: f},
			ck.Attribute{Type: ck.CKA_UNWRAP, Value: f},
			ck.Attribute{Type: ck.CKA_EXTRACTABLE, Value: f},
			ck.Attribute{Type: ck.CKA_WRAP_WITH_TRUSTED, Value: f},
			ck.Attribute{Type: ck.CKA_ALWAYS_AUTHENTICATE, Value: f},
		)
	case ck.CKO_SECRET_KEY:
		// An AES key encrypts and decrypts, a generic secret signs and
		// verifies (HMAC): each key type's main purpose, and no other use
		// unless the template asks. Wrapping is never a default.
		mac := k.keyType() == ck.CKK_GENERIC_SECRET
		d = append(d,
			ck.Attribute{Type: ck.CKA_SENSITIVE, Value: t},
			ck.Attribute{Type: ck.CKA_ENCRYPT, Value: boolValue(!mac)},
			ck.Attribute{Type: ck.CKA_DECRYPT, Value: boolValue(!mac)},
			ck.Attribute{Type: ck.CKA_SIGN, Value: boolValue(mac)},
			ck.Attribute{Type: ck.CKA_VERIFY, Value: boolValue(mac)},
			ck.Attribute{Type: ck.CKA_WRAP, Value: f},
			ck.Attribute{Type: ck.CKA_UNWRAP, Value: f},
			ck.Attribute{Type: ck.CKA_EXTRACTABLE, Value: f},
			ck.Attribute{Type: ck.CKA_WRAP_WITH_TRUSTED, Value: f},
			ck.Attribute{Type: ck.CKA_TRUSTED, Value: f},
		)
	case ck.CKO_CERTIFICATE:
		d = append(d,
			ck.Attribute{Type: ck.CKA_TRUSTED, Value: f},
			ck.Attribute{Type: ck.CKA_CERTIFICATE_CATEGORY, Value: ulongValue(0)},
			ck.Attribute{Type: ck.CKA_START_DATE, Value: empty},
			ck.Attribute{Type: ck.CKA_END_DATE, Value: empty},
			ck.Attribute{Type: ck.CKA_ID, Value: empty},
		)
	case ck.CKO_DATA:
		d = append(d,
			ck.Attribute{Type: ck.CKA_APPLICATION, Value: empty},
			ck.Attribute{Type: ck.CKA_OBJECT_ID, Value: empty},
			ck.Attribute{Type: ck.CKA_VALUE, Value: empty},
		)
	}
	return d
}

// checkValue applies the per-attribute value rules that do not depend on the
// rest of the object. acc is who is writing the value.
func checkValue(a ck.Attribute, acc Access) error {
	switch a.Type {
	case ck.CKA_TRUSTED:
		if a.Value[0] == 1 && acc != SO {
			return ck.Errorf(ck.CKR_ATTRIBUTE_READ_ONLY, "only the SO may set %v to true", a.Type)
		}
	case ck.CKA_ALWAYS_AUTHENTICATE:
		if a.Value[0] == 1 {
			return ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not supported: this token cannot ask for a context-specific login", a.Type)
		}
	case ck.CKA_CERTIFICATE_CATEGORY:
		// 0 unspecified, 1 token user, 2 authority, 3 other entity.
		if ulongOf(a.Value) > 3 {
			return ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v: unknown category", a.Type)
		}
	}
	return nil
}
