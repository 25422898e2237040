package main

// The Go implementations behind the PKCS#11 entry points of entry.c. Each
// go_C_<name> has exactly the parameters of C_<name> in keyhold_pkcs11.h, with
// the specification's parameter names (C_GetMechanismInfo's "type" is a Go
// keyword, so it is mechType here). entry.c has already refused the call if
// the process is a forked child. The functions only move values across the
// interface and apply the rules about pointers and buffers; the PKCS#11
// semantics are package provider's.

/*
#cgo CFLAGS: -Wall -Wextra
#include "keyhold_pkcs11.h"
*/
import "C"

import (
	"cmp"
	"unsafe"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/provider"
)

//export go_C_Initialize
func go_C_Initialize(pInitArgs C.CK_VOID_PTR) C.CK_RV {
	var args provider.InitArgs
	if pInitArgs != nil {
		a := (*C.CK_C_INITIALIZE_ARGS)(unsafe.Pointer(pInitArgs))
		for _, set := range []bool{a.CreateMutex != nil, a.DestroyMutex != nil, a.LockMutex != nil, a.UnlockMutex != nil} {
			if set {
				args.MutexCallbacks++
			}
		}
		args.Flags = uint64(a.flags)
		args.Reserved = a.pReserved != nil
	}
	return initialize(args)
}

//export go_C_Finalize
func go_C_Finalize(pReserved C.CK_VOID_PTR) C.CK_RV {
	if pReserved != nil {
		return C.CKR_ARGUMENTS_BAD
	}
	return finalize()
}

//export go_C_GetInfo
func go_C_GetInfo(pInfo C.CK_INFO_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if pInfo == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	info := m.Info()
	pInfo.cryptokiVersion = version(info.CryptokiVersion)
	pad(pInfo.manufacturerID[:], info.ManufacturerID)
	pInfo.flags = 0
	pad(pInfo.libraryDescription[:], info.LibraryDescription)
	pInfo.libraryVersion = version(info.LibraryVersion)
	return C.CKR_OK
}

//export go_C_GetSlotList
func go_C_GetSlotList(tokenPresent C.CK_BBOOL, pSlotList C.CK_SLOT_ID_PTR, pulCount C.CK_ULONG_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	return handles(m.SlotList(tokenPresent != 0), (*C.CK_ULONG)(pSlotList), pulCount)
}

//export go_C_GetSlotInfo
func go_C_GetSlotInfo(slotID C.CK_SLOT_ID, pInfo C.CK_SLOT_INFO_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if pInfo == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	info, err := m.SlotInfo(uint64(slotID))
	if err != nil {
		return rv("C_GetSlotInfo", err)
	}
	pad(pInfo.slotDescription[:], info.Description)
	pad(pInfo.manufacturerID[:], info.ManufacturerID)
	pInfo.flags = C.CK_FLAGS(info.Flags)
	pInfo.hardwareVersion = version(info.HardwareVersion)
	pInfo.firmwareVersion = version(info.FirmwareVersion)
	return C.CKR_OK
}

//export go_C_GetTokenInfo
func go_C_GetTokenInfo(slotID C.CK_SLOT_ID, pInfo C.CK_TOKEN_INFO_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if pInfo == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	ti, err := m.TokenInfo(uint64(slotID))
	if err != nil {
		return rv("C_GetTokenInfo", err)
	}
	pad(pInfo.label[:], ti.Label)
	pad(pInfo.manufacturerID[:], ti.ManufacturerID)
	pad(pInfo.model[:], ti.Model)
	pad(pInfo.serialNumber[:], ti.SerialNumber)
	pInfo.flags = C.CK_FLAGS(ti.Flags)
	pInfo.ulMaxSessionCount = C.CK_ULONG(ti.MaxSessionCount)
	pInfo.ulSessionCount = C.CK_ULONG(ti.SessionCount)
	pInfo.ulMaxRwSessionCount = C.CK_ULONG(ti.MaxRwSessionCount)
	pInfo.ulRwSessionCount = C.CK_ULONG(ti.RwSessionCount)
	pInfo.ulMaxPinLen = C.CK_ULONG(ti.MaxPinLen)
	pInfo.ulMinPinLen = C.CK_ULONG(ti.MinPinLen)
	pInfo.ulTotalPublicMemory = C.CK_ULONG(ti.TotalPublicMemory)
	pInfo.ulFreePublicMemory = C.CK_ULONG(ti.FreePublicMemory)
	pInfo.ulTotalPrivateMemory = C.CK_ULONG(ti.TotalPrivateMemory)
	pInfo.ulFreePrivateMemory = C.CK_ULONG(ti.FreePrivateMemory)
	pInfo.hardwareVersion = version(ti.HardwareVersion)
	pInfo.firmwareVersion = version(ti.FirmwareVersion)
	pad(pInfo.utcTime[:], ti.UTCTime)
	return C.CKR_OK
}

//export go_C_GetMechanismList
func go_C_GetMechanismList(slotID C.CK_SLOT_ID, pMechanismList C.CK_MECHANISM_TYPE_PTR, pulCount C.CK_ULONG_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	list, err := m.MechanismList(uint64(slotID))
	if err != nil {
		return rv("C_GetMechanismList", err)
	}
	return handles(list, (*C.CK_ULONG)(pMechanismList), pulCount)
}

//export go_C_GetMechanismInfo
func go_C_GetMechanismInfo(slotID C.CK_SLOT_ID, mechType C.CK_MECHANISM_TYPE, pInfo C.CK_MECHANISM_INFO_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if pInfo == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	if uint64(mechType) > 0xFFFFFFFF {
		return C.CK_RV(ck.CKR_MECHANISM_INVALID)
	}
	info, err := m.MechanismInfo(uint64(slotID), ck.MechanismType(mechType))
	if err != nil {
		return rv("C_GetMechanismInfo", err)
	}
	pInfo.ulMinKeySize = C.CK_ULONG(info.MinKeySize)
	pInfo.ulMaxKeySize = C.CK_ULONG(info.MaxKeySize)
	pInfo.flags = C.CK_FLAGS(info.Flags)
	return C.CKR_OK
}

// pin reads a PIN argument. There is no protected authentication path, so
// a NULL PIN is bad arguments.
func pin(p C.CK_UTF8CHAR_PTR, n C.CK_ULONG) ([]byte, C.CK_RV) {
	if p == nil {
		return nil, C.CKR_ARGUMENTS_BAD
	}
	if n > maxPIN {
		return nil, C.CK_RV(ck.CKR_PIN_LEN_RANGE)
	}
	b, _ := copied(unsafe.Pointer(p), n)
	return b, C.CKR_OK
}

//export go_C_InitToken
func go_C_InitToken(slotID C.CK_SLOT_ID, pPin C.CK_UTF8CHAR_PTR, ulPinLen C.CK_ULONG, pLabel C.CK_UTF8CHAR_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	p, code := pin(pPin, ulPinLen)
	if code != C.CKR_OK {
		return code
	}
	defer clear(p)
	if pLabel == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	// CK_TOKEN_INFO's label: 32 bytes padded with blanks, not terminated.
	label, _ := copied(unsafe.Pointer(pLabel), 32)
	return rv("C_InitToken", m.InitToken(uint64(slotID), p, label))
}

//export go_C_InitPIN
func go_C_InitPIN(hSession C.CK_SESSION_HANDLE, pPin C.CK_UTF8CHAR_PTR, ulPinLen C.CK_ULONG) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	p, code := pin(pPin, ulPinLen)
	if code != C.CKR_OK {
		return code
	}
	defer clear(p)
	return rv("C_InitPIN", m.InitPIN(uint64(hSession), p))
}

//export go_C_SetPIN
func go_C_SetPIN(hSession C.CK_SESSION_HANDLE, pOldPin C.CK_UTF8CHAR_PTR, ulOldLen C.CK_ULONG, pNewPin C.CK_UTF8CHAR_PTR, ulNewLen C.CK_ULONG) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	oldPIN, code := pin(pOldPin, ulOldLen)
	if code != C.CKR_OK {
		return code
	}
	defer clear(oldPIN)
	newPIN, code := pin(pNewPin, ulNewLen)
	if code != C.CKR_OK {
		return code
	}
	defer clear(newPIN)
	return rv("C_SetPIN", m.SetPIN(uint64(hSession), oldPIN, newPIN))
}

//export go_C_OpenSession
func go_C_OpenSession(slotID C.CK_SLOT_ID, flags C.CK_FLAGS, pApplication C.CK_VOID_PTR, Notify C.CK_NOTIFY, phSession C.CK_SESSION_HANDLE_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if phSession == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	// Notify callbacks are optional for a library (PKCS#11 5.6): there are
	// no surrender points, so the library never calls them.
	h, err := m.OpenSession(uint64(slotID), uint64(flags))
	if err != nil {
		return rv("C_OpenSession", err)
	}
	*phSession = C.CK_SESSION_HANDLE(h)
	return C.CKR_OK
}

//export go_C_CloseSession
func go_C_CloseSession(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	return rv("C_CloseSession", m.CloseSession(uint64(hSession)))
}

//export go_C_CloseAllSessions
func go_C_CloseAllSessions(slotID C.CK_SLOT_ID) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	return rv("C_CloseAllSessions", m.CloseAllSessions(uint64(slotID)))
}

//export go_C_GetSessionInfo
func go_C_GetSessionInfo(hSession C.CK_SESSION_HANDLE, pInfo C.CK_SESSION_INFO_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if pInfo == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	info, err := m.SessionInfo(uint64(hSession))
	if err != nil {
		return rv("C_GetSessionInfo", err)
	}
	pInfo.slotID = C.CK_SLOT_ID(info.SlotID)
	pInfo.state = C.CK_STATE(info.State)
	pInfo.flags = C.CK_FLAGS(info.Flags)
	pInfo.ulDeviceError = 0
	return C.CKR_OK
}

//export go_C_Login
func go_C_Login(hSession C.CK_SESSION_HANDLE, userType C.CK_USER_TYPE, pPin C.CK_UTF8CHAR_PTR, ulPinLen C.CK_ULONG) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	p, code := pin(pPin, ulPinLen)
	if code != C.CKR_OK {
		return code
	}
	defer clear(p)
	if uint64(userType) > 0xFFFFFFFF {
		return C.CK_RV(ck.CKR_USER_TYPE_INVALID)
	}
	return rv("C_Login", m.Login(uint64(hSession), ck.UserType(userType), p))
}

//export go_C_Logout
func go_C_Logout(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	return rv("C_Logout", m.Logout(uint64(hSession)))
}

//export go_C_CreateObject
func go_C_CreateObject(hSession C.CK_SESSION_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG, phObject C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if phObject == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	tmpl, err := template(pTemplate, ulCount)
	if err != nil {
		return rv("C_CreateObject", err)
	}
	h, err := m.CreateObject(uint64(hSession), tmpl)
	if err != nil {
		return rv("C_CreateObject", err)
	}
	*phObject = C.CK_OBJECT_HANDLE(h)
	return C.CKR_OK
}

//export go_C_DestroyObject
func go_C_DestroyObject(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	return rv("C_DestroyObject", m.DestroyObject(uint64(hSession), uint64(hObject)))
}

//export go_C_CopyObject
func go_C_CopyObject(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG, phNewObject C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if phNewObject == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	tmpl, err := template(pTemplate, ulCount)
	if err != nil {
		return rv("C_CopyObject", err)
	}
	h, err := m.CopyObject(uint64(hSession), uint64(hObject), tmpl)
	if err != nil {
		return rv("C_CopyObject", err)
	}
	*phNewObject = C.CK_OBJECT_HANDLE(h)
	return C.CKR_OK
}

//export go_C_GetObjectSize
func go_C_GetObjectSize(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE, pulSize C.CK_ULONG_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if pulSize == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	n, err := m.ObjectSize(uint64(hSession), uint64(hObject))
	if err != nil {
		return rv("C_GetObjectSize", err)
	}
	*pulSize = C.CK_ULONG(n)
	return C.CKR_OK
}

//export go_C_DigestKey
func go_C_DigestKey(hSession C.CK_SESSION_HANDLE, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	return rv("C_DigestKey", m.DigestKey(uint64(hSession), uint64(hKey)))
}

//export go_C_GetAttributeValue
func go_C_GetAttributeValue(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if ulCount == 0 {
		return C.CKR_OK
	}
	if pTemplate == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	if ulCount > maxTemplate {
		return C.CKR_ARGUMENTS_BAD
	}
	attrs := unsafe.Slice(pTemplate, int(ulCount))
	types := make([]ck.AttributeType, len(attrs))
	for i, a := range attrs {
		types[i] = ck.AttributeType(a._type)
		if uint64(a._type) > 0xFFFFFFFF {
			types[i] = ck.CKA_VENDOR_DEFINED // a type no object has
		}
	}
	results, err := m.GetAttributes(uint64(hSession), uint64(hObject), types)
	if err != nil {
		return rv("C_GetAttributeValue", err)
	}
	// Every attribute is processed whatever happens to the others, and the
	// function reports one of the problems it met (PKCS#11 5.7): a
	// sensitive or unknown attribute over a short buffer, since it tells
	// the application more.
	code = C.CKR_OK
	for i := range attrs {
		a, r := &attrs[i], results[i]
		var problem C.CK_RV
		switch {
		case r.RV != ck.CKR_OK:
			problem = C.CK_RV(r.RV)
		case a.pValue == nil:
			a.ulValueLen = C.CK_ULONG(len(r.Value))
		case uint64(a.ulValueLen) < uint64(len(r.Value)):
			problem = C.CKR_BUFFER_TOO_SMALL
		default:
			copy(unsafe.Slice((*byte)(unsafe.Pointer(a.pValue)), len(r.Value)), r.Value)
			a.ulValueLen = C.CK_ULONG(len(r.Value))
		}
		if problem != C.CKR_OK {
			a.ulValueLen = C.CK_ULONG(ck.CK_UNAVAILABLE_INFORMATION)
			if code == C.CKR_OK || code == C.CKR_BUFFER_TOO_SMALL {
				code = problem
			}
		}
	}
	return code
}

//export go_C_SetAttributeValue
func go_C_SetAttributeValue(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	tmpl, err := template(pTemplate, ulCount)
	if err != nil {
		return rv("C_SetAttributeValue", err)
	}
	return rv("C_SetAttributeValue", m.SetAttributes(uint64(hSession), uint64(hObject), tmpl))
}

//export go_C_FindObjectsInit
func go_C_FindObjectsInit(hSession C.CK_SESSION_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	tmpl, err := template(pTemplate, ulCount)
	if err != nil {
		return rv("C_FindObjectsInit", err)
	}
	return rv("C_FindObjectsInit", m.FindObjectsInit(uint64(hSession), tmpl))
}

// go_C_FindObjectsInit_v2_40 is C_FindObjectsInit of the v2.40 function
// list (see entry.c).
//
//export go_C_FindObjectsInit_v2_40
func go_C_FindObjectsInit_v2_40(hSession C.CK_SESSION_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	tmpl, err := template(pTemplate, ulCount)
	if err != nil {
		return rv("C_FindObjectsInit", err)
	}
	return rv("C_FindObjectsInit", m.FindObjectsInitV240(uint64(hSession), tmpl))
}

//export go_C_FindObjects
func go_C_FindObjects(hSession C.CK_SESSION_HANDLE, phObject C.CK_OBJECT_HANDLE_PTR, ulMaxObjectCount C.CK_ULONG, pulObjectCount C.CK_ULONG_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if pulObjectCount == nil || (phObject == nil && ulMaxObjectCount > 0) {
		return C.CKR_ARGUMENTS_BAD
	}
	found, err := m.FindObjects(uint64(hSession), int(min(uint64(ulMaxObjectCount), 1<<20)))
	if err != nil {
		return rv("C_FindObjects", err)
	}
	out := unsafe.Slice(phObject, len(found))
	for i, h := range found {
		out[i] = C.CK_OBJECT_HANDLE(h)
	}
	*pulObjectCount = C.CK_ULONG(len(found))
	return C.CKR_OK
}

//export go_C_FindObjectsFinal
func go_C_FindObjectsFinal(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	return rv("C_FindObjectsFinal", m.FindObjectsFinal(uint64(hSession)))
}

// initOp runs an operation's Init function after reading its mechanism.
func initOp(fn string, pMechanism C.CK_MECHANISM_PTR, start func(m *provider.Module, mech ck.Mechanism) error) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	mech, err := mechanism(pMechanism)
	if err != nil {
		return rv(fn, err)
	}
	return rv(fn, start(m, mech))
}

// single runs a single-part operation (C_Sign, C_Encrypt, C_Decrypt,
// C_Digest) on the caller's input and output buffers.
func single(fn string, h C.CK_SESSION_HANDLE, op provider.Operation, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pOut C.CK_BYTE_PTR, pulOutLen C.CK_ULONG_PTR,
	run func(m *provider.Module, data []byte, out provider.Output) ([]byte, int, error)) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	data, ok := view(unsafe.Pointer(pData), ulDataLen)
	out, ok2 := output(pOut, pulOutLen)
	if !ok || !ok2 {
		return argumentsBad(m, h, op)
	}
	res, n, err := run(m, data, out)
	return deliver(fn, pOut, pulOutLen, res, n, err)
}

// final runs the last call of a multi-part operation.
func final(fn string, h C.CK_SESSION_HANDLE, op provider.Operation, pOut C.CK_BYTE_PTR, pulOutLen C.CK_ULONG_PTR,
	run func(m *provider.Module, out provider.Output) ([]byte, int, error)) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	out, ok := output(pOut, pulOutLen)
	if !ok {
		return argumentsBad(m, h, op)
	}
	res, n, err := run(m, out)
	return deliver(fn, pOut, pulOutLen, res, n, err)
}

// update feeds one part to a multi-part operation (or, for C_VerifyFinal,
// hands it the signature).
func update(fn string, h C.CK_SESSION_HANDLE, op provider.Operation, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG,
	run func(m *provider.Module, part []byte) error) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	part, ok := view(unsafe.Pointer(pPart), ulPartLen)
	if !ok {
		return argumentsBad(m, h, op)
	}
	return rv(fn, run(m, part))
}

// updateCrypt is update for C_EncryptUpdate and C_DecryptUpdate, whose
// output (the AES block modes' whole blocks; nothing for the other
// mechanisms, which their Final calls return) follows the buffer rules of
// the single-part calls: a NULL buffer asks for the length and a buffer too
// small gets it, and neither takes the part (PKCS#11 5.2).
func updateCrypt(fn string, h C.CK_SESSION_HANDLE, op provider.Operation, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG,
	pOut C.CK_BYTE_PTR, pulOutLen C.CK_ULONG_PTR, run func(m *provider.Module, part []byte, out provider.Output) ([]byte, int, error)) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	out, ok := output(pOut, pulOutLen)
	if !ok {
		return argumentsBad(m, h, op)
	}
	part, ok := view(unsafe.Pointer(pPart), ulPartLen)
	if !ok {
		return argumentsBad(m, h, op)
	}
	data, n, err := run(m, part, out)
	return deliver(fn, pOut, pulOutLen, data, n, err)
}

// argumentsBad refuses a call whose pointers are wrong, ending the operation
// it was part of: PKCS#11 ends an operation on any error but
// CKR_BUFFER_TOO_SMALL.
func argumentsBad(m *provider.Module, h C.CK_SESSION_HANDLE, op provider.Operation) C.CK_RV {
	m.Abort(uint64(h), op)
	return C.CKR_ARGUMENTS_BAD
}

//export go_C_EncryptInit
func go_C_EncryptInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return initOp("C_EncryptInit", pMechanism, func(m *provider.Module, mech ck.Mechanism) error {
		return m.EncryptInit(uint64(hSession), mech, uint64(hKey))
	})
}

//export go_C_Encrypt
func go_C_Encrypt(hSession C.CK_SESSION_HANDLE, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pEncryptedData C.CK_BYTE_PTR, pulEncryptedDataLen C.CK_ULONG_PTR) C.CK_RV {
	return single("C_Encrypt", hSession, provider.OpEncrypt, pData, ulDataLen, pEncryptedData, pulEncryptedDataLen,
		func(m *provider.Module, data []byte, out provider.Output) ([]byte, int, error) {
			return m.Encrypt(uint64(hSession), data, out)
		})
}

//export go_C_EncryptUpdate
func go_C_EncryptUpdate(hSession C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG, pEncryptedPart C.CK_BYTE_PTR, pulEncryptedPartLen C.CK_ULONG_PTR) C.CK_RV {
	return updateCrypt("C_EncryptUpdate", hSession, provider.OpEncrypt, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen, func(m *provider.Module, part []byte, out provider.Output) ([]byte, int, error) {
		return m.EncryptUpdate(uint64(hSession), part, out)
	})
}

//export go_C_EncryptFinal
func go_C_EncryptFinal(hSession C.CK_SESSION_HANDLE, pLastEncryptedPart C.CK_BYTE_PTR, pulLastEncryptedPartLen C.CK_ULONG_PTR) C.CK_RV {
	return final("C_EncryptFinal", hSession, provider.OpEncrypt, pLastEncryptedPart, pulLastEncryptedPartLen, func(m *provider.Module, out provider.Output) ([]byte, int, error) {
		return m.EncryptFinal(uint64(hSession), out)
	})
}

//export go_C_DecryptInit
func go_C_DecryptInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return initOp("C_DecryptInit", pMechanism, func(m *provider.Module, mech ck.Mechanism) error {
		return m.DecryptInit(uint64(hSession), mech, uint64(hKey))
	})
}

//export go_C_Decrypt
func go_C_Decrypt(hSession C.CK_SESSION_HANDLE, pEncryptedData C.CK_BYTE_PTR, ulEncryptedDataLen C.CK_ULONG, pData C.CK_BYTE_PTR, pulDataLen C.CK_ULONG_PTR) C.CK_RV {
	return single("C_Decrypt", hSession, provider.OpDecrypt, pEncryptedData, ulEncryptedDataLen, pData, pulDataLen,
		func(m *provider.Module, data []byte, out provider.Output) ([]byte, int, error) {
			return m.Decrypt(uint64(hSession), data, out)
		})
}

//export go_C_DecryptUpdate
func go_C_DecryptUpdate(hSession C.CK_SESSION_HANDLE, pEncryptedPart C.CK_BYTE_PTR, ulEncryptedPartLen C.CK_ULONG, pPart C.CK_BYTE_PTR, pulPartLen C.CK_ULONG_PTR) C.CK_RV {
	return updateCrypt("C_DecryptUpdate", hSession, provider.OpDecrypt, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen, func(m *provider.Module, part []byte, out provider.Output) ([]byte, int, error) {
		return m.DecryptUpdate(uint64(hSession), part, out)
	})
}

//export go_C_DecryptFinal
func go_C_DecryptFinal(hSession C.CK_SESSION_HANDLE, pLastPart C.CK_BYTE_PTR, pulLastPartLen C.CK_ULONG_PTR) C.CK_RV {
	return final("C_DecryptFinal", hSession, provider.OpDecrypt, pLastPart, pulLastPartLen, func(m *provider.Module, out provider.Output) ([]byte, int, error) {
		return m.DecryptFinal(uint64(hSession), out)
	})
}

//export go_C_DigestInit
func go_C_DigestInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR) C.CK_RV {
	return initOp("C_DigestInit", pMechanism, func(m *provider.Module, mech ck.Mechanism) error {
		return m.DigestInit(uint64(hSession), mech)
	})
}

//export go_C_Digest
func go_C_Digest(hSession C.CK_SESSION_HANDLE, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pDigest C.CK_BYTE_PTR, pulDigestLen C.CK_ULONG_PTR) C.CK_RV {
	return single("C_Digest", hSession, provider.OpDigest, pData, ulDataLen, pDigest, pulDigestLen,
		func(m *provider.Module, data []byte, out provider.Output) ([]byte, int, error) {
			return m.Digest(uint64(hSession), data, out)
		})
}

//export go_C_DigestUpdate
func go_C_DigestUpdate(hSession C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG) C.CK_RV {
	return update("C_DigestUpdate", hSession, provider.OpDigest, pPart, ulPartLen, func(m *provider.Module, part []byte) error {
		return m.DigestUpdate(uint64(hSession), part)
	})
}

//export go_C_DigestFinal
func go_C_DigestFinal(hSession C.CK_SESSION_HANDLE, pDigest C.CK_BYTE_PTR, pulDigestLen C.CK_ULONG_PTR) C.CK_RV {
	return final("C_DigestFinal", hSession, provider.OpDigest, pDigest, pulDigestLen, func(m *provider.Module, out provider.Output) ([]byte, int, error) {
		return m.DigestFinal(uint64(hSession), out)
	})
}

//export go_C_SignInit
func go_C_SignInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return initOp("C_SignInit", pMechanism, func(m *provider.Module, mech ck.Mechanism) error {
		return m.SignInit(uint64(hSession), mech, uint64(hKey))
	})
}

//export go_C_Sign
func go_C_Sign(hSession C.CK_SESSION_HANDLE, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pSignature C.CK_BYTE_PTR, pulSignatureLen C.CK_ULONG_PTR) C.CK_RV {
	return single("C_Sign", hSession, provider.OpSign, pData, ulDataLen, pSignature, pulSignatureLen,
		func(m *provider.Module, data []byte, out provider.Output) ([]byte, int, error) {
			return m.Sign(uint64(hSession), data, out)
		})
}

//export go_C_SignUpdate
func go_C_SignUpdate(hSession C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG) C.CK_RV {
	return update("C_SignUpdate", hSession, provider.OpSign, pPart, ulPartLen, func(m *provider.Module, part []byte) error {
		return m.SignUpdate(uint64(hSession), part)
	})
}

//export go_C_SignFinal
func go_C_SignFinal(hSession C.CK_SESSION_HANDLE, pSignature C.CK_BYTE_PTR, pulSignatureLen C.CK_ULONG_PTR) C.CK_RV {
	return final("C_SignFinal", hSession, provider.OpSign, pSignature, pulSignatureLen, func(m *provider.Module, out provider.Output) ([]byte, int, error) {
		return m.SignFinal(uint64(hSession), out)
	})
}

//export go_C_VerifyInit
func go_C_VerifyInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return initOp("C_VerifyInit", pMechanism, func(m *provider.Module, mech ck.Mechanism) error {
		return m.VerifyInit(uint64(hSession), mech, uint64(hKey))
	})
}

//export go_C_Verify
func go_C_Verify(hSession C.CK_SESSION_HANDLE, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pSignature C.CK_BYTE_PTR, ulSignatureLen C.CK_ULONG) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	data, ok := view(unsafe.Pointer(pData), ulDataLen)
	sig, ok2 := view(unsafe.Pointer(pSignature), ulSignatureLen)
	if !ok || !ok2 {
		return argumentsBad(m, hSession, provider.OpVerify)
	}
	return rv("C_Verify", m.Verify(uint64(hSession), data, sig))
}

//export go_C_VerifyUpdate
func go_C_VerifyUpdate(hSession C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG) C.CK_RV {
	return update("C_VerifyUpdate", hSession, provider.OpVerify, pPart, ulPartLen, func(m *provider.Module, part []byte) error {
		return m.VerifyUpdate(uint64(hSession), part)
	})
}

//export go_C_VerifyFinal
func go_C_VerifyFinal(hSession C.CK_SESSION_HANDLE, pSignature C.CK_BYTE_PTR, ulSignatureLen C.CK_ULONG) C.CK_RV {
	return update("C_VerifyFinal", hSession, provider.OpVerify, pSignature, ulSignatureLen, func(m *provider.Module, sig []byte) error {
		return m.VerifyFinal(uint64(hSession), sig)
	})
}

//export go_C_GenerateKey
func go_C_GenerateKey(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG, phKey C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if phKey == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	mech, err := mechanism(pMechanism)
	if err != nil {
		return rv("C_GenerateKey", err)
	}
	tmpl, err := template(pTemplate, ulCount)
	if err != nil {
		return rv("C_GenerateKey", err)
	}
	h, err := m.GenerateKey(uint64(hSession), mech, tmpl)
	if err != nil {
		return rv("C_GenerateKey", err)
	}
	*phKey = C.CK_OBJECT_HANDLE(h)
	return C.CKR_OK
}

//export go_C_GenerateKeyPair
func go_C_GenerateKeyPair(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, pPublicKeyTemplate C.CK_ATTRIBUTE_PTR, ulPublicKeyAttributeCount C.CK_ULONG, pPrivateKeyTemplate C.CK_ATTRIBUTE_PTR, ulPrivateKeyAttributeCount C.CK_ULONG, phPublicKey C.CK_OBJECT_HANDLE_PTR, phPrivateKey C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if phPublicKey == nil || phPrivateKey == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	mech, err := mechanism(pMechanism)
	if err != nil {
		return rv("C_GenerateKeyPair", err)
	}
	public, err := template(pPublicKeyTemplate, ulPublicKeyAttributeCount)
	if err != nil {
		return rv("C_GenerateKeyPair", err)
	}
	private, err := template(pPrivateKeyTemplate, ulPrivateKeyAttributeCount)
	if err != nil {
		return rv("C_GenerateKeyPair", err)
	}
	pub, priv, err := m.GenerateKeyPair(uint64(hSession), mech, public, private)
	if err != nil {
		return rv("C_GenerateKeyPair", err)
	}
	*phPublicKey = C.CK_OBJECT_HANDLE(pub)
	*phPrivateKey = C.CK_OBJECT_HANDLE(priv)
	return C.CKR_OK
}

//export go_C_SeedRandom
func go_C_SeedRandom(hSession C.CK_SESSION_HANDLE, pSeed C.CK_BYTE_PTR, ulSeedLen C.CK_ULONG) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	seed, ok := view(unsafe.Pointer(pSeed), ulSeedLen)
	if !ok {
		return C.CKR_ARGUMENTS_BAD
	}
	return rv("C_SeedRandom", m.SeedRandom(uint64(hSession), seed))
}

// maxRandom bounds one C_GenerateRandom: larger requests are a caller's
// mistake, not a need.
const maxRandom = 16 << 20

//export go_C_GenerateRandom
func go_C_GenerateRandom(hSession C.CK_SESSION_HANDLE, RandomData C.CK_BYTE_PTR, ulRandomLen C.CK_ULONG) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if RandomData == nil && ulRandomLen > 0 {
		return C.CKR_ARGUMENTS_BAD
	}
	if ulRandomLen > maxRandom {
		return C.CK_RV(ck.CKR_DATA_LEN_RANGE)
	}
	b, err := m.GenerateRandom(uint64(hSession), int(ulRandomLen))
	if err != nil {
		return rv("C_GenerateRandom", err)
	}
	if len(b) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(RandomData)), len(b)), b)
	}
	return C.CKR_OK
}

//export go_C_WrapKey
func go_C_WrapKey(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hWrappingKey, hKey C.CK_OBJECT_HANDLE, pWrappedKey C.CK_BYTE_PTR, pulWrappedKeyLen C.CK_ULONG_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	out, ok := output(pWrappedKey, pulWrappedKeyLen)
	if !ok {
		return C.CKR_ARGUMENTS_BAD
	}
	mech, err := mechanism(pMechanism)
	if err != nil {
		return rv("C_WrapKey", cmp.Or(m.CheckKeys(uint64(hSession), []uint64{uint64(hWrappingKey), uint64(hKey)},
			[]ck.ReturnValue{ck.CKR_WRAPPING_KEY_HANDLE_INVALID, ck.CKR_KEY_HANDLE_INVALID}), err))
	}
	data, n, err := m.WrapKey(uint64(hSession), mech, uint64(hWrappingKey), uint64(hKey), out)
	return deliver("C_WrapKey", pWrappedKey, pulWrappedKeyLen, data, n, err)
}

//export go_C_UnwrapKey
func go_C_UnwrapKey(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hUnwrappingKey C.CK_OBJECT_HANDLE, pWrappedKey C.CK_BYTE_PTR, ulWrappedKeyLen C.CK_ULONG, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG, phKey C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	return keyFromBytes(m, "C_UnwrapKey", hSession, pMechanism, hUnwrappingKey, pWrappedKey, ulWrappedKeyLen, pTemplate, ulCount, phKey, m.UnwrapKey)
}

// keyFromBytes is C_UnwrapKey and C_DecapsulateKey: a new key from the
// private or secret key hKey and the caller's bytes (a wrapped key, a
// ciphertext), whose handle errors are CKR_UNWRAPPING_KEY_HANDLE_INVALID.
func keyFromBytes(m *provider.Module, fn string, hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE,
	pIn C.CK_BYTE_PTR, ulInLen C.CK_ULONG, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG, phKey C.CK_OBJECT_HANDLE_PTR,
	make func(provider.SessionHandle, ck.Mechanism, provider.ObjectHandle, []byte, ck.Template) (provider.ObjectHandle, error)) C.CK_RV {
	if phKey == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	in, ok := copied(unsafe.Pointer(pIn), ulInLen)
	if !ok {
		return C.CKR_ARGUMENTS_BAD
	}
	check := func() error {
		return m.CheckKeys(uint64(hSession), []uint64{uint64(hKey)}, []ck.ReturnValue{ck.CKR_UNWRAPPING_KEY_HANDLE_INVALID})
	}
	return newKey(fn, pMechanism, pTemplate, ulCount, phKey, check, func(mech ck.Mechanism, tmpl ck.Template) (uint64, error) {
		return make(uint64(hSession), mech, uint64(hKey), in, tmpl)
	})
}

//export go_C_DeriveKey
func go_C_DeriveKey(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hBaseKey C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG, phKey C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if phKey == nil {
		return C.CKR_ARGUMENTS_BAD
	}
	check := func() error {
		return m.CheckKeys(uint64(hSession), []uint64{uint64(hBaseKey)}, []ck.ReturnValue{ck.CKR_KEY_HANDLE_INVALID})
	}
	return newKey("C_DeriveKey", pMechanism, pTemplate, ulCount, phKey, check, func(mech ck.Mechanism, tmpl ck.Template) (uint64, error) {
		return m.DeriveKey(uint64(hSession), mech, uint64(hBaseKey), tmpl)
	})
}

// newKey reads the mechanism and template of a call that makes one key from
// another (C_UnwrapKey, C_DeriveKey), makes it, and returns its handle. A
// mechanism that cannot be read is reported after what check finds wrong
// with the session and key handles.
func newKey(fn string, pMechanism C.CK_MECHANISM_PTR, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG, phKey C.CK_OBJECT_HANDLE_PTR,
	check func() error, make func(ck.Mechanism, ck.Template) (uint64, error)) C.CK_RV {
	mech, err := mechanism(pMechanism)
	if err != nil {
		return rv(fn, cmp.Or(check(), err))
	}
	tmpl, err := template(pTemplate, ulCount)
	if err != nil {
		return rv(fn, err)
	}
	h, err := make(mech, tmpl)
	if err != nil {
		return rv(fn, err)
	}
	*phKey = C.CK_OBJECT_HANDLE(h)
	return C.CKR_OK
}

//export go_C_VerifySignatureInit
func go_C_VerifySignatureInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE, pSignature C.CK_BYTE_PTR, ulSignatureLen C.CK_ULONG) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	if pMechanism == nil {
		// PKCS#11 v3.2: a NULL mechanism ends the active verification.
		if err := m.Active(uint64(hSession), provider.OpVerifySignature); err != nil && provider.ReturnValue(err) != ck.CKR_OPERATION_NOT_INITIALIZED {
			return rv("C_VerifySignatureInit", err)
		}
		m.Abort(uint64(hSession), provider.OpVerifySignature)
		return C.CKR_OK
	}
	sig, ok := view(unsafe.Pointer(pSignature), ulSignatureLen)
	if !ok {
		return C.CKR_ARGUMENTS_BAD
	}
	return initOp("C_VerifySignatureInit", pMechanism, func(m *provider.Module, mech ck.Mechanism) error {
		return m.VerifySignatureInit(uint64(hSession), mech, uint64(hKey), sig)
	})
}

//export go_C_VerifySignature
func go_C_VerifySignature(hSession C.CK_SESSION_HANDLE, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG) C.CK_RV {
	return update("C_VerifySignature", hSession, provider.OpVerifySignature, pData, ulDataLen, func(m *provider.Module, data []byte) error {
		return m.VerifySignature(uint64(hSession), data)
	})
}

//export go_C_VerifySignatureUpdate
func go_C_VerifySignatureUpdate(hSession C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG) C.CK_RV {
	return update("C_VerifySignatureUpdate", hSession, provider.OpVerifySignature, pPart, ulPartLen, func(m *provider.Module, part []byte) error {
		return m.VerifySignatureUpdate(uint64(hSession), part)
	})
}

//export go_C_VerifySignatureFinal
func go_C_VerifySignatureFinal(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	return rv("C_VerifySignatureFinal", m.VerifySignatureFinal(uint64(hSession)))
}

//export go_C_EncapsulateKey
func go_C_EncapsulateKey(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hPublicKey C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulAttributeCount C.CK_ULONG, pCiphertext C.CK_BYTE_PTR, pulCiphertextLen C.CK_ULONG_PTR, phKey C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	// A length query makes no key, so it needs no phKey.
	out, ok := output(pCiphertext, pulCiphertextLen)
	if !ok || phKey == nil && !out.Query {
		return C.CKR_ARGUMENTS_BAD
	}
	mech, err := mechanism(pMechanism)
	if err != nil {
		return rv("C_EncapsulateKey", cmp.Or(m.CheckKeys(uint64(hSession), []uint64{uint64(hPublicKey)}, []ck.ReturnValue{ck.CKR_KEY_HANDLE_INVALID}), err))
	}
	tmpl, err := template(pTemplate, ulAttributeCount)
	if err != nil {
		return rv("C_EncapsulateKey", err)
	}
	ct, n, key, err := m.EncapsulateKey(uint64(hSession), mech, uint64(hPublicKey), tmpl, out)
	if code := deliver("C_EncapsulateKey", pCiphertext, pulCiphertextLen, ct, n, err); code != C.CKR_OK || ct == nil {
		return code
	}
	*phKey = C.CK_OBJECT_HANDLE(key)
	return C.CKR_OK
}

//export go_C_DecapsulateKey
func go_C_DecapsulateKey(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hPrivateKey C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulAttributeCount C.CK_ULONG, pCiphertext C.CK_BYTE_PTR, ulCiphertextLen C.CK_ULONG, phKey C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	m, code := current()
	if code != C.CKR_OK {
		return code
	}
	return keyFromBytes(m, "C_DecapsulateKey", hSession, pMechanism, hPrivateKey, pCiphertext, ulCiphertextLen, pTemplate, ulAttributeCount, phKey,
		m.DecapsulateKey)
}
