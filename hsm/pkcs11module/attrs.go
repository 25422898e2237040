//go:build cgo

package pkcs11module

import (
	"encoding/binary"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/miekg/pkcs11"
)

// The engine and package ck encode a CK_ULONG attribute as 8 bytes,
// little-endian, whatever the platform; a module reads and writes its own
// CK_ULONG (4 bytes on Windows, and in the platform's byte order). Every
// attribute crossing this package is converted between the two.

// nativeULongSize is the module's sizeof(CK_ULONG), as the binding encodes it.
var nativeULongSize = len(pkcs11.NewAttribute(0, uint(0)).Value)

// ulongAttributes are the attributes whose value is a CK_ULONG (or a type
// defined as one: CK_OBJECT_CLASS, CK_KEY_TYPE, CK_MECHANISM_TYPE, ...).
var ulongAttributes = map[ck.AttributeType]bool{
	ck.CKA_CLASS: true, ck.CKA_CERTIFICATE_TYPE: true, ck.CKA_KEY_TYPE: true,
	ck.CKA_CERTIFICATE_CATEGORY: true, ck.CKA_JAVA_MIDP_SECURITY_DOMAIN: true,
	ck.CKA_NAME_HASH_ALGORITHM: true, ck.CKA_MODULUS_BITS: true, ck.CKA_PRIME_BITS: true,
	ck.CKA_SUBPRIME_BITS: true, ck.CKA_VALUE_BITS: true, ck.CKA_VALUE_LEN: true,
	ck.CKA_KEY_GEN_MECHANISM: true, ck.CKA_HW_FEATURE_TYPE: true, ck.CKA_PIXEL_X: true,
	ck.CKA_PIXEL_Y: true, ck.CKA_RESOLUTION: true, ck.CKA_CHAR_ROWS: true,
	ck.CKA_CHAR_COLUMNS: true, ck.CKA_BITS_PER_PIXEL: true, ck.CKA_MECHANISM_TYPE: true,
	ck.CKA_PROFILE_ID: true, ck.CKA_OTP_FORMAT: true, ck.CKA_OTP_LENGTH: true,
	ck.CKA_OTP_TIME_INTERVAL: true, ck.CKA_OTP_CHALLENGE_REQUIREMENT: true,
	ck.CKA_OTP_TIME_REQUIREMENT: true, ck.CKA_OTP_COUNTER_REQUIREMENT: true,
	ck.CKA_OTP_PIN_REQUIREMENT: true, ck.CKA_OTP_SERVICE_LOGO_TYPE: true,
}

// ulongArrayAttributes hold an array of CK_ULONG (CK_MECHANISM_TYPE_PTR).
var ulongArrayAttributes = map[ck.AttributeType]bool{ck.CKA_ALLOWED_MECHANISMS: true}

func putNative(b []byte, v uint64) []byte {
	if nativeULongSize == 4 {
		return binary.NativeEndian.AppendUint32(b, uint32(v))
	}
	return binary.NativeEndian.AppendUint64(b, v)
}

func getNative(b []byte) uint64 {
	if nativeULongSize == 4 {
		return uint64(binary.NativeEndian.Uint32(b))
	}
	return binary.NativeEndian.Uint64(b)
}

// toNative converts a template for the module. It refuses, before any C
// call, what no module should be asked: too many attributes, oversized
// values, and CK_ULONG values that are not 8 bytes.
func toNative(tmpl ck.Template) ([]*pkcs11.Attribute, error) {
	if len(tmpl) > hsm.MaxAttributes {
		return nil, ck.Errorf(ck.CKR_TEMPLATE_INCONSISTENT, "%d attributes, limit %d", len(tmpl), hsm.MaxAttributes)
	}
	out := make([]*pkcs11.Attribute, 0, len(tmpl))
	for _, a := range tmpl {
		if len(a.Value) > hsm.MaxAttributeValue {
			return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v has %d bytes, limit %d", a.Type, len(a.Value), hsm.MaxAttributeValue)
		}
		var v []byte
		switch {
		case ulongAttributes[a.Type]:
			u, err := a.AsULong()
			if err != nil {
				return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not a CK_ULONG", a.Type)
			}
			v = putNative(nil, u)
		case ulongArrayAttributes[a.Type]:
			if len(a.Value)%ck.ULongSize != 0 {
				return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not an array of CK_ULONG", a.Type)
			}
			for i := 0; i < len(a.Value); i += ck.ULongSize {
				v = putNative(v, binary.LittleEndian.Uint64(a.Value[i:]))
			}
		default:
			v = append([]byte(nil), a.Value...)
		}
		out = append(out, &pkcs11.Attribute{Type: uint(a.Type), Value: v})
	}
	return out, nil
}

// fromNative converts a value the module returned into the portable
// encoding. A CK_ULONG of the wrong size is passed as it is, for the
// engine to refuse.
func fromNative(t ck.AttributeType, v []byte) []byte {
	switch {
	case ulongAttributes[t] && len(v) == nativeULongSize:
		return binary.LittleEndian.AppendUint64(nil, getNative(v))
	case ulongArrayAttributes[t] && len(v)%nativeULongSize == 0:
		out := make([]byte, 0, len(v)/nativeULongSize*ck.ULongSize)
		for i := 0; i < len(v); i += nativeULongSize {
			out = binary.LittleEndian.AppendUint64(out, getNative(v[i:]))
		}
		return out
	}
	return v
}
