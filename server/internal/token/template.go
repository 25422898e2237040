package token

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/keyhold/keyhold/ck"
)

// Limits on what a caller may send. They bound the memory and time a hostile
// client can make the token spend on one request; the wire protocol has its
// own limits on top of these.
const (
	// maxTemplateAttrs is the most attributes a template (Create, Generate*,
	// Find, SetAttributes) may hold. The largest object this token stores,
	// an RSA private key, has about 40 attributes.
	maxTemplateAttrs = 64
	// maxReadTypes is the most attribute types one GetAttributes call may
	// ask for. It is larger than maxTemplateAttrs because tools that dump an
	// object ask for every type they know at once, and a read changes
	// nothing.
	maxReadTypes = 256
	// maxRecordAttrs bounds a snapshot record, which holds every attribute
	// of an object, including those the token sets itself.
	maxRecordAttrs = 128
	// maxValueLen is the longest attribute value accepted (64 KiB): enough
	// for any certificate chain element or key this token supports.
	maxValueLen = 64 << 10
)

// kind is how an attribute's value is encoded (see ck.Attribute).
type kind uint8

const (
	kBytes kind = iota // a byte array: labels, IDs, DER, big integers
	kBool              // CK_BBOOL: one byte, 0 or 1
	kULong             // CK_ULONG: 8 bytes, little-endian
	kDate              // CK_DATE: empty, or 8 ASCII digits YYYYMMDD
	kMechs             // CK_MECHANISM_TYPE array: a multiple of 8 bytes
)

// attrKinds lists every attribute type this token knows. A type that is not
// here is answered with CKR_ATTRIBUTE_TYPE_INVALID wherever it appears.
var attrKinds = map[ck.AttributeType]kind{
	ck.CKA_CLASS:                kULong,
	ck.CKA_TOKEN:                kBool,
	ck.CKA_PRIVATE:              kBool,
	ck.CKA_LABEL:                kBytes,
	ck.CKA_UNIQUE_ID:            kBytes,
	ck.CKA_APPLICATION:          kBytes,
	ck.CKA_VALUE:                kBytes,
	ck.CKA_OBJECT_ID:            kBytes,
	ck.CKA_CERTIFICATE_TYPE:     kULong,
	ck.CKA_ISSUER:               kBytes,
	ck.CKA_SERIAL_NUMBER:        kBytes,
	ck.CKA_TRUSTED:              kBool,
	ck.CKA_CERTIFICATE_CATEGORY: kULong,
	ck.CKA_CHECK_VALUE:          kBytes,
	ck.CKA_KEY_TYPE:             kULong,
	ck.CKA_SUBJECT:              kBytes,
	ck.CKA_ID:                   kBytes,
	ck.CKA_SENSITIVE:            kBool,
	ck.CKA_ENCRYPT:              kBool,
	ck.CKA_DECRYPT:              kBool,
	ck.CKA_WRAP:                 kBool,
	ck.CKA_UNWRAP:               kBool,
	ck.CKA_SIGN:                 kBool,
	ck.CKA_SIGN_RECOVER:         kBool,
	ck.CKA_VERIFY:               kBool,
	ck.CKA_VERIFY_RECOVER:       kBool,
	ck.CKA_DERIVE:               kBool,
	ck.CKA_START_DATE:           kDate,
	ck.CKA_END_DATE:             kDate,
	ck.CKA_MODULUS:              kBytes,
	ck.CKA_MODULUS_BITS:         kULong,
	ck.CKA_PUBLIC_EXPONENT:      kBytes,
	ck.CKA_PRIVATE_EXPONENT:     kBytes,
	ck.CKA_PRIME_1:              kBytes,
	ck.CKA_PRIME_2:              kBytes,
	ck.CKA_EXPONENT_1:           kBytes,
	ck.CKA_EXPONENT_2:           kBytes,
	ck.CKA_COEFFICIENT:          kBytes,
	ck.CKA_PUBLIC_KEY_INFO:      kBytes,
	ck.CKA_VALUE_LEN:            kULong,
	ck.CKA_EXTRACTABLE:          kBool,
	ck.CKA_LOCAL:                kBool,
	ck.CKA_NEVER_EXTRACTABLE:    kBool,
	ck.CKA_ALWAYS_SENSITIVE:     kBool,
	ck.CKA_KEY_GEN_MECHANISM:    kULong,
	ck.CKA_MODIFIABLE:           kBool,
	ck.CKA_COPYABLE:             kBool,
	ck.CKA_DESTROYABLE:          kBool,
	ck.CKA_EC_PARAMS:            kBytes,
	ck.CKA_EC_POINT:             kBytes,
	ck.CKA_ALWAYS_AUTHENTICATE:  kBool,
	ck.CKA_WRAP_WITH_TRUSTED:    kBool,
	ck.CKA_ALLOWED_MECHANISMS:   kMechs,
	ck.CKA_PARAMETER_SET:        kULong,
	ck.CKA_SEED:                 kBytes,
	ck.CKA_ENCAPSULATE:          kBool,
	ck.CKA_DECAPSULATE:          kBool,
}

// attrs is a validated template: every attribute known, well formed, and
// present once, in the order the caller gave them (so that when a template
// has several faults, the error reported does not depend on map order).
type attrs []ck.Attribute

// get returns the value of t and whether it is present.
func (as attrs) get(t ck.AttributeType) ([]byte, bool) {
	for i := range as {
		if as[i].Type == t {
			return as[i].Value, true
		}
	}
	return nil, false
}

// parseTemplate checks a caller's template as a whole before anything looks
// at its meaning: size, known types, value encodings, and repeated types.
// It returns the attributes deduplicated, in template order.
//
// A template longer than limit answers CKR_ARGUMENTS_BAD rather than
// CKR_TEMPLATE_INCONSISTENT: the template is not contradictory, it is larger
// than this token accepts, and CKR_ARGUMENTS_BAD is a valid return of every
// PKCS#11 function (CKR_TEMPLATE_INCONSISTENT is not, for C_FindObjectsInit).
func parseTemplate(tmpl ck.Template, limit int) (attrs, error) {
	if len(tmpl) > limit {
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "template has %d attributes, at most %d are accepted", len(tmpl), limit)
	}
	out := make(attrs, 0, len(tmpl))
	for _, a := range tmpl {
		if err := checkEncoding(a); err != nil {
			return nil, err
		}
		if prev, ok := out.get(a.Type); ok {
			// PKCS#11 4.1.1 item 6 encourages treating a repeated attribute
			// with the same value as if it appeared once; different values
			// cannot all be satisfied.
			if !bytes.Equal(prev, a.Value) {
				return nil, ck.Errorf(ck.CKR_TEMPLATE_INCONSISTENT, "attribute %v given twice with different values", a.Type)
			}
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// checkEncoding checks that a's type is known and that its value is encoded
// as its type requires.
func checkEncoding(a ck.Attribute) error {
	k, ok := attrKinds[a.Type]
	if !ok {
		return ck.Errorf(ck.CKR_ATTRIBUTE_TYPE_INVALID, "attribute %v is not supported by this token", a.Type)
	}
	if len(a.Value) > maxValueLen {
		return ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "attribute %v: value of %d bytes is longer than %d", a.Type, len(a.Value), maxValueLen)
	}
	switch k {
	case kBool:
		// CK_BBOOL is CK_TRUE (1) or CK_FALSE (0). Other bytes are refused
		// rather than read as true, because Find compares values byte for
		// byte and a 2 would never match the stored 1.
		if len(a.Value) != 1 || a.Value[0] > 1 {
			return ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "attribute %v: not a CK_BBOOL (want one byte, 0 or 1; got %d bytes)", a.Type, len(a.Value))
		}
	case kULong:
		if len(a.Value) != ck.ULongSize {
			return ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "attribute %v: CK_ULONG value has %d bytes, want %d", a.Type, len(a.Value), ck.ULongSize)
		}
	case kDate:
		if len(a.Value) != 0 {
			if _, err := time.Parse("20060102", string(a.Value)); err != nil || len(a.Value) != 8 {
				return ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "attribute %v: not a CK_DATE (YYYYMMDD)", a.Type)
			}
		}
	case kMechs:
		if len(a.Value)%ck.ULongSize != 0 {
			return ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "attribute %v: length %d is not a multiple of %d", a.Type, len(a.Value), ck.ULongSize)
		}
	}
	return nil
}

// Encoding helpers for the portable attribute encoding.

func boolValue(b bool) []byte {
	if b {
		return []byte{1}
	}
	return []byte{0}
}

func ulongValue(v uint64) []byte {
	return binary.LittleEndian.AppendUint64(nil, v)
}

// ulongOf decodes a CK_ULONG value that checkEncoding has accepted.
func ulongOf(v []byte) uint64 {
	if len(v) != ck.ULongSize {
		return 0
	}
	return binary.LittleEndian.Uint64(v)
}

// mechsOf decodes a CKA_ALLOWED_MECHANISMS value.
func mechsOf(v []byte) []ck.MechanismType {
	if len(v) == 0 {
		return nil
	}
	out := make([]ck.MechanismType, 0, len(v)/ck.ULongSize)
	for i := 0; i+ck.ULongSize <= len(v); i += ck.ULongSize {
		m := binary.LittleEndian.Uint64(v[i:])
		if m > 0xFFFFFFFF {
			// Not a mechanism any token defines; keep it out of the list
			// rather than truncating it into one that exists.
			continue
		}
		out = append(out, ck.MechanismType(m))
	}
	if len(out) == 0 {
		// Only impossible values: nothing is allowed. An empty, non-nil
		// list says so (nil means "no restriction").
		return []ck.MechanismType{}
	}
	return out
}
