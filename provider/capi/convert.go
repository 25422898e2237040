package main

/*
#include "keyhold_pkcs11.h"
*/
import "C"

import (
	"math"
	"unicode/utf8"
	"unsafe"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider"
)

// Bounds on what a caller may hand the library in one call. The HSM's own
// limits are smaller; these only keep a hostile count from turning into a
// huge allocation before the HSM's limits are checked.
const (
	maxTemplate  = 1024
	maxParamData = 1 << 20
	maxPIN       = 1024
)

var errArgumentsBad = ck.Errorf(ck.CKR_ARGUMENTS_BAD, "a required pointer is NULL")

// view returns the caller's n bytes at p, without copying: valid during the
// call only. ok is false for NULL with a nonzero length.
func view(p unsafe.Pointer, n C.CK_ULONG) ([]byte, bool) {
	if n == 0 {
		return []byte{}, true
	}
	if p == nil || uint64(n) > math.MaxInt32 {
		return nil, false
	}
	return unsafe.Slice((*byte)(p), int(n)), true
}

func copied(p unsafe.Pointer, n C.CK_ULONG) ([]byte, bool) {
	b, ok := view(p, n)
	if !ok {
		return nil, false
	}
	return append([]byte{}, b...), true
}

// template reads a CK_ATTRIBUTE array into a copy.
func template(p C.CK_ATTRIBUTE_PTR, n C.CK_ULONG) (ck.Template, error) {
	if n == 0 {
		return nil, nil
	}
	if p == nil {
		return nil, errArgumentsBad
	}
	if n > maxTemplate {
		return nil, ck.Errorf(ck.CKR_TEMPLATE_INCONSISTENT, "%d attributes, limit %d", n, hsm.MaxAttributes)
	}
	attrs := unsafe.Slice(p, int(n))
	out := make(ck.Template, len(attrs))
	for i, a := range attrs {
		if uint64(a._type) > math.MaxUint32 {
			return nil, ck.Errorf(ck.CKR_ATTRIBUTE_TYPE_INVALID, "attribute type %#x", uint64(a._type))
		}
		if uint64(a.ulValueLen) > hsm.MaxAttributeValue {
			return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "attribute %v has %d bytes", ck.AttributeType(a._type), uint64(a.ulValueLen))
		}
		v, ok := copied(unsafe.Pointer(a.pValue), a.ulValueLen)
		if !ok {
			return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "attribute %v: NULL value with a length", ck.AttributeType(a._type))
		}
		out[i] = ck.Attribute{Type: ck.AttributeType(a._type), Value: v}
	}
	return out, nil
}

func paramInvalid(m ck.MechanismType, why string) error {
	return ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v: %s", m, why)
}

// gcmParamsV240 is the CK_GCM_PARAMS of the original v2.40 text, without
// ulIvBits; callers compiled against it pass this size.
type gcmParamsV240 struct {
	pIv       C.CK_BYTE_PTR
	ulIvLen   C.CK_ULONG
	pAAD      C.CK_BYTE_PTR
	ulAADLen  C.CK_ULONG
	ulTagBits C.CK_ULONG
}

// mechanism reads a CK_MECHANISM and the parameter structure its type takes,
// copying everything: an operation keeps its mechanism beyond this call.
func mechanism(p C.CK_MECHANISM_PTR) (ck.Mechanism, error) {
	if p == nil {
		return ck.Mechanism{}, errArgumentsBad
	}
	if uint64(p.mechanism) > math.MaxUint32 {
		return ck.Mechanism{}, ck.Errorf(ck.CKR_MECHANISM_INVALID, "mechanism %#x", uint64(p.mechanism))
	}
	t := ck.MechanismType(p.mechanism)
	m := ck.Mechanism{Type: t}
	param, size := unsafe.Pointer(p.pParameter), uintptr(p.ulParameterLen)
	if param == nil && size != 0 {
		return m, paramInvalid(t, "NULL parameter with a length")
	}
	if param == nil && provider.MechanismParams(t) != provider.ParamsNone {
		// No parameters at all. Whether the mechanism does the operation
		// asked is judged first (CKR_MECHANISM_INVALID, as for a mechanism
		// unknown to the library); the provider then refuses the missing
		// parameters with CKR_MECHANISM_PARAM_INVALID.
		return m, nil
	}
	switch provider.MechanismParams(t) {
	case provider.ParamsNone:
		if size != 0 && !provider.Supported(t) {
			// An unknown mechanism's parameters cannot be judged.
			return m, ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v is not supported", t)
		}
		if size != 0 {
			return m, paramInvalid(t, "takes no parameters")
		}
	case provider.ParamsPSS:
		if size != unsafe.Sizeof(C.CK_RSA_PKCS_PSS_PARAMS{}) {
			return m, paramInvalid(t, "needs CK_RSA_PKCS_PSS_PARAMS")
		}
		pp := (*C.CK_RSA_PKCS_PSS_PARAMS)(param)
		if uint64(pp.hashAlg) > math.MaxUint32 || uint64(pp.mgf) > math.MaxUint32 || uint64(pp.sLen) > math.MaxUint32 {
			return m, paramInvalid(t, "out of range")
		}
		m.PSS = &ck.PSSParams{Hash: ck.MechanismType(pp.hashAlg), MGF: ck.MGF(pp.mgf), SaltLen: uint32(pp.sLen)}
	case provider.ParamsOAEP:
		if size != unsafe.Sizeof(C.CK_RSA_PKCS_OAEP_PARAMS{}) {
			return m, paramInvalid(t, "needs CK_RSA_PKCS_OAEP_PARAMS")
		}
		op := (*C.CK_RSA_PKCS_OAEP_PARAMS)(param)
		if uint64(op.hashAlg) > math.MaxUint32 || uint64(op.mgf) > math.MaxUint32 {
			return m, paramInvalid(t, "out of range")
		}
		m.OAEP = &ck.OAEPParams{Hash: ck.MechanismType(op.hashAlg), MGF: ck.MGF(op.mgf)}
		switch {
		case op.source == 0 && op.ulSourceDataLen == 0:
		case op.source == ck.CKZ_DATA_SPECIFIED && uint64(op.ulSourceDataLen) <= maxParamData:
			label, ok := copied(unsafe.Pointer(op.pSourceData), op.ulSourceDataLen)
			if !ok {
				return m, paramInvalid(t, "NULL label with a length")
			}
			if len(label) > 0 {
				m.OAEP.Label = label
			}
		default:
			return m, paramInvalid(t, "the label's source must be CKZ_DATA_SPECIFIED")
		}
	case provider.ParamsGCM:
		var iv, aad unsafe.Pointer
		var ivLen, aadLen, tagBits C.CK_ULONG
		switch size {
		case unsafe.Sizeof(C.CK_GCM_PARAMS{}):
			gp := (*C.CK_GCM_PARAMS)(param)
			iv, ivLen, aad, aadLen, tagBits = unsafe.Pointer(gp.pIv), gp.ulIvLen, unsafe.Pointer(gp.pAAD), gp.ulAADLen, gp.ulTagBits
		case unsafe.Sizeof(gcmParamsV240{}):
			gp := (*gcmParamsV240)(param)
			iv, ivLen, aad, aadLen, tagBits = unsafe.Pointer(gp.pIv), gp.ulIvLen, unsafe.Pointer(gp.pAAD), gp.ulAADLen, gp.ulTagBits
		default:
			return m, paramInvalid(t, "needs CK_GCM_PARAMS")
		}
		if uint64(ivLen) > maxParamData || uint64(aadLen) > maxParamData || uint64(tagBits) > 128 {
			return m, paramInvalid(t, "out of range")
		}
		ivb, ok1 := copied(iv, ivLen)
		aadb, ok2 := copied(aad, aadLen)
		if !ok1 || !ok2 {
			return m, paramInvalid(t, "NULL IV or AAD with a length")
		}
		if len(aadb) == 0 {
			aadb = nil
		}
		m.GCM = &ck.GCMParams{IV: ivb, AAD: aadb, TagBits: uint32(tagBits)}
	case provider.ParamsIV:
		// A bare byte array; its length is checked where the IV is used.
		if uint64(size) > maxParamData {
			return m, paramInvalid(t, "out of range")
		}
		iv, _ := copied(param, C.CK_ULONG(size))
		m.IV = iv
	case provider.ParamsCTR:
		if size != unsafe.Sizeof(C.CK_AES_CTR_PARAMS{}) {
			return m, paramInvalid(t, "needs CK_AES_CTR_PARAMS")
		}
		cp := (*C.CK_AES_CTR_PARAMS)(param)
		if uint64(cp.ulCounterBits) > 128 {
			return m, paramInvalid(t, "out of range")
		}
		block := C.GoBytes(unsafe.Pointer(&cp.cb[0]), 16)
		m.CTR = &ck.CTRParams{CounterBits: uint32(cp.ulCounterBits), Block: block}
	case provider.ParamsECDH:
		if size != unsafe.Sizeof(C.CK_ECDH1_DERIVE_PARAMS{}) {
			return m, paramInvalid(t, "needs CK_ECDH1_DERIVE_PARAMS")
		}
		ep := (*C.CK_ECDH1_DERIVE_PARAMS)(param)
		if uint64(ep.kdf) > math.MaxUint32 || uint64(ep.ulSharedDataLen) > maxParamData || uint64(ep.ulPublicDataLen) > maxParamData {
			return m, paramInvalid(t, "out of range")
		}
		shared, ok1 := copied(unsafe.Pointer(ep.pSharedData), ep.ulSharedDataLen)
		public, ok2 := copied(unsafe.Pointer(ep.pPublicData), ep.ulPublicDataLen)
		if !ok1 || !ok2 {
			return m, paramInvalid(t, "NULL data with a length")
		}
		if len(shared) == 0 {
			shared = nil
		}
		m.ECDH = &ck.ECDHParams{KDF: uint32(ep.kdf), SharedData: shared, PublicData: public}
	case provider.ParamsEdDSA:
		// Only pure Ed25519 is offered: no prehash, no context.
		if size == 0 {
			break
		}
		if size != unsafe.Sizeof(C.CK_EDDSA_PARAMS{}) {
			return m, paramInvalid(t, "needs CK_EDDSA_PARAMS")
		}
		ep := (*C.CK_EDDSA_PARAMS)(param)
		if ep.phFlag != 0 || ep.ulContextDataLen != 0 {
			return m, paramInvalid(t, "only pure Ed25519, without prehash or context, is supported")
		}
	case provider.ParamsSignContext:
		// Optional (PKCS#11 v3.2): none means an empty context, hedging
		// preferred. The context's length is judged by the provider.
		if size == 0 {
			break
		}
		if size != unsafe.Sizeof(C.CK_SIGN_ADDITIONAL_CONTEXT{}) {
			return m, paramInvalid(t, "needs CK_SIGN_ADDITIONAL_CONTEXT")
		}
		sc := (*C.CK_SIGN_ADDITIONAL_CONTEXT)(param)
		if uint64(sc.hedgeVariant) > math.MaxUint32 || uint64(sc.ulContextLen) > maxParamData {
			return m, paramInvalid(t, "out of range")
		}
		ctx, ok := copied(unsafe.Pointer(sc.pContext), sc.ulContextLen)
		if !ok {
			return m, paramInvalid(t, "NULL context with a length")
		}
		if len(ctx) == 0 {
			ctx = nil
		}
		m.SignContext = &ck.SignContextParams{Hedge: uint32(sc.hedgeVariant), Context: ctx}
	}
	return m, nil
}

// pad writes s into a blank-padded PKCS#11 string field, cut at a character
// boundary if it is too long.
func pad(dst []C.CK_UTF8CHAR, s string) {
	for len(s) > len(dst) {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	for i := range dst {
		if i < len(s) {
			dst[i] = C.CK_UTF8CHAR(s[i])
		} else {
			dst[i] = ' '
		}
	}
}

func version(v provider.Version) C.CK_VERSION {
	return C.CK_VERSION{major: C.CK_BYTE(v.Major), minor: C.CK_BYTE(v.Minor)}
}

// output reads an output buffer's description: a NULL buffer is a length
// query; a NULL length pointer is bad arguments.
func output(p C.CK_BYTE_PTR, pLen C.CK_ULONG_PTR) (provider.Output, bool) {
	if pLen == nil {
		return provider.Output{}, false
	}
	if p == nil {
		return provider.Output{Query: true}, true
	}
	return provider.Output{Cap: int(min(uint64(*pLen), math.MaxInt32))}, true
}

// deliver writes an operation's result: the data into the caller's buffer
// and its length, or just the length for a query or a buffer too small.
func deliver(fn string, p C.CK_BYTE_PTR, pLen C.CK_ULONG_PTR, data []byte, n int, err error) C.CK_RV {
	if err != nil {
		code := rv(fn, err)
		if code == C.CKR_BUFFER_TOO_SMALL {
			*pLen = C.CK_ULONG(n)
		}
		return code
	}
	*pLen = C.CK_ULONG(n)
	if p != nil && data != nil {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(p)), len(data)), data)
	}
	return C.CKR_OK
}

// handles writes a list of slot or mechanism values with the two-call
// length convention of C_GetSlotList and C_GetMechanismList.
func handles[T ~uint64 | ~uint32](list []T, p *C.CK_ULONG, pCount C.CK_ULONG_PTR) C.CK_RV {
	if pCount == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	if p == nil {
		*pCount = C.CK_ULONG(len(list))
		return C.CKR_OK
	}
	if uint64(*pCount) < uint64(len(list)) {
		*pCount = C.CK_ULONG(len(list))
		return C.CKR_BUFFER_TOO_SMALL
	}
	out := unsafe.Slice(p, len(list))
	for i, v := range list {
		out[i] = C.CK_ULONG(v)
	}
	*pCount = C.CK_ULONG(len(list))
	return C.CKR_OK
}
