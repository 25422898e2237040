package token

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"

	"github.com/keyhold/keyhold/ck"
)

// op is a cryptographic use of a key.
type op uint8

const (
	opSign op = iota
	opVerify
	opEncrypt
	opDecrypt
	opWrap        // the wrapping key of C_WrapKey
	opUnwrap      // the unwrapping key of C_UnwrapKey
	opDerive      // the base key of C_DeriveKey
	opEncapsulate // the public key of C_EncapsulateKey
	opDecapsulate // the private key of C_DecapsulateKey
	numOps
)

func (o op) String() string {
	return [...]string{"sign", "verify", "encrypt", "decrypt", "wrap", "unwrap", "derive", "encapsulate", "decapsulate"}[o]
}

// object is one stored object. It is immutable once built: SetAttributes
// stores an updated copy, so a caller that looked an object up under the
// read lock may keep using it (and its ready key) after releasing the lock.
type object struct {
	seq uint64 // creation order on this node; Find and Snapshot list objects in it
	// version and writer order the versions of one object across a cluster:
	// creation is version 1 and every change adds one; writer is the
	// replica that made the version and breaks ties between changes made at
	// once on two nodes.
	version, writer uint64
	kind            objKind
	schema          schema
	attrs           map[ck.AttributeType][]byte

	// Policy, decoded once from attrs so that the hot path reads fields.
	private     bool // CKA_PRIVATE: visible to User access only
	modifiable  bool
	destroyable bool
	hidden      bool               // key material unreadable: CKA_SENSITIVE or !CKA_EXTRACTABLE
	can         [numOps]bool       // uses the key's attributes permit
	allowed     []ck.MechanismType // CKA_ALLOWED_MECHANISMS; nil: no restriction

	key *keyMaterial // nil for certificates and data objects; shared by copies

	// invalidated is when the object was destroyed on a token that keeps
	// destroyed objects for a while (Unix ms); 0 for a live object. An
	// invalidated object is visible to no one and usable by no one.
	invalidated int64
}

// newObject decodes an object's policy from its attributes.
func newObject(k objKind, vals map[ck.AttributeType][]byte, key *keyMaterial) *object {
	o := &object{kind: k, schema: schemas[k], attrs: vals, key: key}
	o.private = o.flag(ck.CKA_PRIVATE)
	o.modifiable = o.flag(ck.CKA_MODIFIABLE)
	o.destroyable = o.flag(ck.CKA_DESTROYABLE)
	switch k.class {
	case ck.CKO_PUBLIC_KEY:
		o.can[opVerify] = o.flag(ck.CKA_VERIFY)
		o.can[opEncrypt] = o.flag(ck.CKA_ENCRYPT)
		o.can[opWrap] = o.flag(ck.CKA_WRAP)
		o.can[opEncapsulate] = o.flag(ck.CKA_ENCAPSULATE)
	case ck.CKO_PRIVATE_KEY:
		o.hidden = o.flag(ck.CKA_SENSITIVE) || !o.flag(ck.CKA_EXTRACTABLE)
		o.can[opSign] = o.flag(ck.CKA_SIGN)
		// A private key has no CKA_VERIFY. Verifying with its public half is
		// harmless, but the key's policy still applies: a key that may not
		// sign is not a signature key, so it does not verify either.
		o.can[opVerify] = o.flag(ck.CKA_SIGN)
		// A private key has no CKA_ENCRYPT in PKCS#11, so it never
		// encrypts: a client encrypts with the public key object, or with
		// the public half it reads from CKA_MODULUS/CKA_PUBLIC_EXPONENT.
		o.can[opDecrypt] = o.flag(ck.CKA_DECRYPT)
		o.can[opUnwrap] = o.flag(ck.CKA_UNWRAP)
		o.can[opDerive] = o.flag(ck.CKA_DERIVE)
		o.can[opDecapsulate] = o.flag(ck.CKA_DECAPSULATE)
	case ck.CKO_SECRET_KEY:
		o.hidden = o.flag(ck.CKA_SENSITIVE) || !o.flag(ck.CKA_EXTRACTABLE)
		o.can[opSign] = o.flag(ck.CKA_SIGN)
		o.can[opVerify] = o.flag(ck.CKA_VERIFY)
		o.can[opEncrypt] = o.flag(ck.CKA_ENCRYPT)
		o.can[opDecrypt] = o.flag(ck.CKA_DECRYPT)
		o.can[opWrap] = o.flag(ck.CKA_WRAP)
		o.can[opUnwrap] = o.flag(ck.CKA_UNWRAP)
		o.can[opDerive] = o.flag(ck.CKA_DERIVE)
	}
	if v := vals[ck.CKA_ALLOWED_MECHANISMS]; len(v) > 0 {
		o.allowed = mechsOf(v)
	}
	return o
}

func (o *object) flag(t ck.AttributeType) bool {
	v := o.attrs[t]
	return len(v) == 1 && v[0] == 1
}

// visible reports whether acc may see o at all. PKCS#11: private objects
// exist only for the normal user; neither a public session nor the SO sees
// them.
func (o *object) visible(acc Access) bool {
	return o.invalidated == 0 && (!o.private || acc == User)
}

// read returns the value of t as C_GetAttributeValue would: the value, or
// CKR_ATTRIBUTE_TYPE_INVALID if o has no such attribute, or
// CKR_ATTRIBUTE_SENSITIVE if it is key material the key's policy hides.
func (o *object) read(t ck.AttributeType) ([]byte, ck.ReturnValue) {
	v, ok := o.attrs[t]
	if !ok {
		return nil, ck.CKR_ATTRIBUTE_TYPE_INVALID
	}
	if o.hidden && o.schema[t]&rSecret != 0 {
		return nil, ck.CKR_ATTRIBUTE_SENSITIVE
	}
	return v, ck.CKR_OK
}

// matches reports whether o has every attribute of tmpl with the same value.
// Hidden key material never matches: otherwise Find would be an oracle that
// confirms guesses of a sensitive key's value.
func (o *object) matches(tmpl attrs) bool {
	for _, a := range tmpl {
		v, rv := o.read(a.Type)
		if rv != ck.CKR_OK || !bytes.Equal(v, a.Value) {
			return false
		}
	}
	return true
}

// with returns a copy of o with the attributes of tmpl set. The key material
// is shared: no attribute that SetAttributes may change affects it.
func (o *object) with(tmpl attrs) *object {
	vals := make(map[ck.AttributeType][]byte, len(o.attrs))
	for t, v := range o.attrs {
		vals[t] = v
	}
	for _, a := range tmpl {
		vals[a.Type] = bytes.Clone(a.Value)
	}
	n := newObject(o.kind, vals, o.key)
	n.seq = o.seq
	n.invalidated = o.invalidated
	return n
}

// origin is how an object comes into being; it decides which attributes a
// template may give and what the token-set attributes say.
type origin uint8

const (
	originCreate   origin = iota // C_CreateObject: imported
	originGenerate               // C_GenerateKey / C_GenerateKeyPair
	originRestore                // a snapshot record, from this node or another of the cluster
	originUnwrap                 // C_UnwrapKey / C_DeriveKey: key material from the token, the rest from the template
)

// builder assembles the attributes of a new object. Building is separate from
// storing (Token.insert), so that the same validated object can be stored
// under a handle chosen here or under one a cluster peer chose (Restore).
type builder struct {
	kind   objKind
	schema schema
	vals   map[ck.AttributeType][]byte
}

// newBuilder starts an object of kind k from a checked template. Values are
// copied: the caller's slices must not alias stored state.
func newBuilder(k objKind, tmpl attrs) *builder {
	b := &builder{kind: k, schema: schemas[k], vals: make(map[ck.AttributeType][]byte, 48)}
	for _, a := range tmpl {
		b.vals[a.Type] = bytes.Clone(a.Value)
	}
	b.vals[ck.CKA_CLASS] = ulongValue(uint64(k.class))
	switch {
	case k.isKey():
		b.vals[ck.CKA_KEY_TYPE] = ulongValue(uint64(k.sub))
	case k.class == ck.CKO_CERTIFICATE:
		b.vals[ck.CKA_CERTIFICATE_TYPE] = ulongValue(uint64(k.sub))
	}
	return b
}

func (b *builder) get(t ck.AttributeType) ([]byte, bool) {
	v, ok := b.vals[t]
	return v, ok
}

func (b *builder) flag(t ck.AttributeType) bool {
	v := b.vals[t]
	return len(v) == 1 && v[0] == 1
}

// setIfAbsent gives t the value v unless the template gave one.
func (b *builder) setIfAbsent(t ck.AttributeType, v []byte) {
	if _, ok := b.vals[t]; !ok {
		b.vals[t] = v
	}
}

// derive records a value the token derives from the key or certificate. A
// template (or record) may have given it, but only with the same value:
// PKCS#11 asks the token to check a given CKA_CHECK_VALUE, and the same
// reasoning holds for the other derived attributes.
func (b *builder) derive(t ck.AttributeType, v []byte) error {
	return b.deriveEq(t, v, func(given []byte) bool { return bytes.Equal(given, v) })
}

// deriveEq is derive with a custom comparison, for values with more than one
// valid encoding (big integers with leading zeros, Ed25519 points).
func (b *builder) deriveEq(t ck.AttributeType, v []byte, same func(given []byte) bool) error {
	if given, ok := b.vals[t]; ok && (len(given) > 0 || t != ck.CKA_PUBLIC_KEY_INFO) {
		// (An empty CKA_PUBLIC_KEY_INFO is PKCS#11's default for "not
		// given", so it is derived like an absent one.)
		if !same(given) {
			return ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "attribute %v does not match the value derived from the object", t)
		}
		return nil
	}
	b.vals[t] = v
	return nil
}

// finish fills defaults and the attributes only the token sets, and returns
// the object. mech is the generation mechanism for originGenerate.
func (b *builder) finish(key *keyMaterial, from origin, mech ck.MechanismType) *object {
	for _, d := range defaults(b.kind) {
		b.setIfAbsent(d.Type, d.Value)
	}
	set := func(t ck.AttributeType, v []byte) {
		if _, ok := b.schema[t]; !ok {
			return
		}
		if from == originRestore {
			// A record carries what the token set when the object was made.
			b.setIfAbsent(t, v)
			return
		}
		b.vals[t] = v
	}
	switch from {
	case originGenerate:
		set(ck.CKA_LOCAL, boolValue(true))
		set(ck.CKA_KEY_GEN_MECHANISM, ulongValue(uint64(mech)))
		set(ck.CKA_ALWAYS_SENSITIVE, boolValue(b.flag(ck.CKA_SENSITIVE)))
		set(ck.CKA_NEVER_EXTRACTABLE, boolValue(!b.flag(ck.CKA_EXTRACTABLE)))
	default:
		// Imported: the token cannot know where the key has been, so it
		// claims nothing about its history.
		set(ck.CKA_LOCAL, boolValue(false))
		set(ck.CKA_KEY_GEN_MECHANISM, ulongValue(ck.CK_UNAVAILABLE_INFORMATION))
		set(ck.CKA_ALWAYS_SENSITIVE, boolValue(false))
		set(ck.CKA_NEVER_EXTRACTABLE, boolValue(false))
	}
	set(ck.CKA_UNIQUE_ID, newUniqueID())
	return newObject(b.kind, b.vals, key)
}

// newUniqueID returns a CKA_UNIQUE_ID: 128 random bits in hex. It is chosen
// when the object is built and travels in its snapshot record, so the nodes
// of a cluster agree on it.
func newUniqueID() []byte {
	var r [16]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand, Go 1.24+)
	return []byte(hex.EncodeToString(r[:]))
}

// kindOf decodes the kind of object a Create template (or snapshot record)
// describes.
func kindOf(vals attrs) (objKind, error) {
	cv, ok := vals.get(ck.CKA_CLASS)
	if !ok {
		return objKind{}, ck.Errorf(ck.CKR_TEMPLATE_INCOMPLETE, "%v is required", ck.CKA_CLASS)
	}
	cl := ulongOf(cv)
	if cl > 0xFFFFFFFF {
		return objKind{}, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v: unknown class", ck.CKA_CLASS)
	}
	class := ck.ObjectClass(cl)
	switch class {
	case ck.CKO_DATA:
		return objKind{class: class}, nil
	case ck.CKO_CERTIFICATE:
		tv, ok := vals.get(ck.CKA_CERTIFICATE_TYPE)
		if !ok {
			return objKind{}, ck.Errorf(ck.CKR_TEMPLATE_INCOMPLETE, "%v is required for certificates", ck.CKA_CERTIFICATE_TYPE)
		}
		if ulongOf(tv) != uint64(ck.CKC_X_509) {
			return objKind{}, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v: only %v certificates are supported", ck.CKA_CERTIFICATE_TYPE, ck.CKC_X_509)
		}
		return objKind{class: class, sub: uint32(ck.CKC_X_509)}, nil
	case ck.CKO_PUBLIC_KEY, ck.CKO_PRIVATE_KEY, ck.CKO_SECRET_KEY:
		kv, ok := vals.get(ck.CKA_KEY_TYPE)
		if !ok {
			return objKind{}, ck.Errorf(ck.CKR_TEMPLATE_INCOMPLETE, "%v is required for keys", ck.CKA_KEY_TYPE)
		}
		kt := ulongOf(kv)
		if kt > 0xFFFFFFFF || !supportedKeyTypes[ck.KeyType(kt)] {
			return objKind{}, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v: key type not supported by this token", ck.CKA_KEY_TYPE)
		}
		k := objKind{class: class, sub: uint32(kt)}
		if _, ok := schemas[k]; !ok {
			return objKind{}, ck.Errorf(ck.CKR_TEMPLATE_INCONSISTENT, "%v is not a key type of %v objects", ck.KeyType(kt), class)
		}
		return k, nil
	}
	return objKind{}, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v: objects of class %v are not supported", ck.CKA_CLASS, class)
}

// checkTemplate applies the schema of kind k to a template used to make a new
// object: every attribute must belong to the kind (PKCS#11 4.1.1 item 5:
// an attribute of another class makes the template inconsistent), and
// attributes the token provides may not be given (item 3: read-only).
func checkTemplate(k objKind, vals attrs, from origin, acc Access) error {
	sc := schemas[k]
	for _, a := range vals {
		r, ok := sc[a.Type]
		if !ok {
			return ck.Errorf(ck.CKR_TEMPLATE_INCONSISTENT, "attribute %v does not belong to %v objects", a.Type, k.class)
		}
		switch from {
		case originCreate:
			if r&(rTokenSet|rNoCreate) != 0 {
				return ck.Errorf(ck.CKR_ATTRIBUTE_READ_ONLY, "attribute %v is set by the token and may not be given on creation", a.Type)
			}
		case originGenerate, originUnwrap:
			if r&(rTokenSet|rNoGen|rDerived) != 0 {
				return ck.Errorf(ck.CKR_ATTRIBUTE_READ_ONLY, "attribute %v is set by the token and may not be given to key generation", a.Type)
			}
		}
		if err := checkValue(a, acc); err != nil {
			return err
		}
	}
	return nil
}

// checkRequired reports the first attribute with rule req that vals lacks.
func checkRequired(k objKind, vals attrs, req rule) error {
	for t, r := range schemas[k] {
		if r&req == 0 {
			continue
		}
		if _, ok := vals.get(t); !ok {
			return ck.Errorf(ck.CKR_TEMPLATE_INCOMPLETE, "attribute %v is required", t)
		}
	}
	return nil
}

// checkMayCreate checks that acc may create an object of kind k with the
// template's CKA_PRIVATE (or its default): private objects need the user.
func checkMayCreate(k objKind, vals attrs, acc Access) error {
	private := k.class == ck.CKO_PRIVATE_KEY || k.class == ck.CKO_SECRET_KEY
	if v, ok := vals.get(ck.CKA_PRIVATE); ok {
		private = v[0] == 1
	}
	if private && acc != User {
		return ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "creating a private object needs the user to be logged in")
	}
	return nil
}

// buildCreated validates a C_CreateObject template completely and builds the
// object; nothing is stored.
func buildCreated(acc Access, tmpl ck.Template) (*object, error) {
	vals, err := parseTemplate(tmpl, maxTemplateAttrs)
	if err != nil {
		return nil, err
	}
	k, err := kindOf(vals)
	if err != nil {
		return nil, err
	}
	if err := checkTemplate(k, vals, originCreate, acc); err != nil {
		return nil, err
	}
	if err := checkRequired(k, vals, rReqCreate); err != nil {
		return nil, err
	}
	if err := checkMayCreate(k, vals, acc); err != nil {
		return nil, err
	}
	b := newBuilder(k, vals)
	key, err := b.buildKey()
	if err != nil {
		return nil, err
	}
	return b.finish(key, originCreate, 0), nil
}
