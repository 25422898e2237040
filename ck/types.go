package ck

import (
	"encoding/binary"
	"fmt"
)

// AttributeType is a CK_ATTRIBUTE_TYPE (CKA_*).
type AttributeType uint32

// ObjectClass is a CK_OBJECT_CLASS (CKO_*).
type ObjectClass uint32

// KeyType is a CK_KEY_TYPE (CKK_*).
type KeyType uint32

// CertificateType is a CK_CERTIFICATE_TYPE (CKC_*).
type CertificateType uint32

// MechanismType is a CK_MECHANISM_TYPE (CKM_*).
type MechanismType uint32

// ReturnValue is a CK_RV (CKR_*). The wire protocol uses these values as its
// error codes, so that a reply's code maps to a PKCS#11 return code without
// translation.
type ReturnValue uint32

// UserType is a CK_USER_TYPE (CKU_*).
type UserType uint32

// MGF is a CK_RSA_PKCS_MGF_TYPE (CKG_*).
type MGF uint32

// Attribute is one PKCS#11 attribute: a type and its value in the portable
// encoding used on the wire:
//   - CK_BBOOL: one byte, 0 or 1;
//   - CK_ULONG and the types derived from it (CKA_CLASS, CKA_KEY_TYPE,
//     CKA_VALUE_LEN, ...): 8 bytes, little-endian;
//   - everything else (labels, IDs, DER values, big integers): the bytes as
//     PKCS#11 defines them.
type Attribute struct {
	Type  AttributeType `cbor:"1,keyasint"`
	Value []byte        `cbor:"2,keyasint"`
}

// ULongSize is the size of a CK_ULONG attribute value in the portable encoding.
const ULongSize = 8

// Bool returns a CK_BBOOL attribute.
func Bool(t AttributeType, v bool) Attribute {
	b := byte(0)
	if v {
		b = 1
	}
	return Attribute{Type: t, Value: []byte{b}}
}

// ULong returns a CK_ULONG attribute.
func ULong(t AttributeType, v uint64) Attribute {
	return Attribute{Type: t, Value: binary.LittleEndian.AppendUint64(nil, v)}
}

// Bytes returns a byte-array attribute. The value is copied.
func Bytes(t AttributeType, v []byte) Attribute {
	return Attribute{Type: t, Value: append([]byte{}, v...)}
}

// String returns a UTF-8 string attribute such as CKA_LABEL.
func String(t AttributeType, v string) Attribute {
	return Attribute{Type: t, Value: []byte(v)}
}

// AsBool decodes a CK_BBOOL value.
func (a Attribute) AsBool() (bool, error) {
	if len(a.Value) != 1 {
		return false, fmt.Errorf("attribute %v: CK_BBOOL value has %d bytes, want 1", a.Type, len(a.Value))
	}
	return a.Value[0] != 0, nil
}

// AsULong decodes a CK_ULONG value.
func (a Attribute) AsULong() (uint64, error) {
	if len(a.Value) != ULongSize {
		return 0, fmt.Errorf("attribute %v: CK_ULONG value has %d bytes, want %d", a.Type, len(a.Value), ULongSize)
	}
	return binary.LittleEndian.Uint64(a.Value), nil
}

// Template is a list of attributes, as given to C_FindObjectsInit,
// C_CreateObject or C_GenerateKeyPair.
type Template []Attribute

// Find returns the attribute of type t and whether it is present.
func (tp Template) Find(t AttributeType) (Attribute, bool) {
	for _, a := range tp {
		if a.Type == t {
			return a, true
		}
	}
	return Attribute{}, false
}

// Mechanism is a CK_MECHANISM: a type and, for the mechanisms that take them,
// typed parameters. At most one of the parameter fields is set.
type Mechanism struct {
	Type MechanismType `cbor:"1,keyasint"`
	PSS  *PSSParams    `cbor:"2,keyasint,omitempty"`
	OAEP *OAEPParams   `cbor:"3,keyasint,omitempty"`
	GCM  *GCMParams    `cbor:"4,keyasint,omitempty"`
	// IV is the initialisation vector of CKM_AES_CBC and CKM_AES_CBC_PAD
	// (16 bytes), whose parameter is a bare byte array.
	IV   []byte      `cbor:"5,keyasint,omitempty"`
	CTR  *CTRParams  `cbor:"6,keyasint,omitempty"`
	ECDH *ECDHParams `cbor:"7,keyasint,omitempty"`
	// SignContext is the optional parameter of CKM_ML_DSA and
	// CKM_ML_DSA_EXTERNAL_MU; nil means an empty context, hedging preferred.
	SignContext *SignContextParams `cbor:"8,keyasint,omitempty"`
}

// SignContextParams are CK_SIGN_ADDITIONAL_CONTEXT (PKCS#11 v3.2): how an
// ML-DSA signature is randomised and the context string it binds (FIPS 204,
// at most 255 bytes; not allowed with an external mu, which already
// includes it).
type SignContextParams struct {
	Hedge   uint32 `cbor:"1,keyasint"` // CKH_HEDGE_PREFERRED, CKH_HEDGE_REQUIRED or CKH_DETERMINISTIC_REQUIRED
	Context []byte `cbor:"2,keyasint,omitempty"`
}

// CTRParams are CK_AES_CTR_PARAMS: the initial counter block, whose last
// CounterBits bits are the counter.
type CTRParams struct {
	CounterBits uint32 `cbor:"1,keyasint"`
	Block       []byte `cbor:"2,keyasint"` // 16 bytes
}

// ECDHParams are CK_ECDH1_DERIVE_PARAMS: the key derivation function
// (CKD_NULL, ...), its shared data, and the other party's public point
// (an X9.62 uncompressed point, raw or in a DER OCTET STRING).
type ECDHParams struct {
	KDF        uint32 `cbor:"1,keyasint"`
	SharedData []byte `cbor:"2,keyasint,omitempty"`
	PublicData []byte `cbor:"3,keyasint"`
}

// PSSParams are CK_RSA_PKCS_PSS_PARAMS.
type PSSParams struct {
	Hash    MechanismType `cbor:"1,keyasint"` // CKM_SHA256, ...
	MGF     MGF           `cbor:"2,keyasint"` // CKG_MGF1_SHA256, ...
	SaltLen uint32        `cbor:"3,keyasint"`
}

// OAEPParams are CK_RSA_PKCS_OAEP_PARAMS. A non-empty Label means
// source CKZ_DATA_SPECIFIED with that label.
type OAEPParams struct {
	Hash  MechanismType `cbor:"1,keyasint"`
	MGF   MGF           `cbor:"2,keyasint"`
	Label []byte        `cbor:"3,keyasint,omitempty"`
}

// GCMParams are CK_GCM_PARAMS.
type GCMParams struct {
	IV      []byte `cbor:"1,keyasint"`
	AAD     []byte `cbor:"2,keyasint,omitempty"`
	TagBits uint32 `cbor:"3,keyasint"`
}
