// Package rawp11 calls the functions of a PKCS#11 library with raw
// arguments: NULL pointers, explicit buffer and parameter lengths, attribute
// arrays with chosen lengths. A PKCS#11 client library never passes such
// arguments, but C applications do, and the specification says what a
// library must answer to each; the tests of libkeyhold.so use this package
// to check those answers.
//
// Every buffer handed to the library is C memory of at least the length
// the call claims: the library trusts lengths, as every PKCS#11 library
// must, and this package never lies about them. It lies only with NULL
// pointers, which a library must check.
package rawp11

/*
#cgo CFLAGS: -I${SRCDIR}/../..
#cgo LDFLAGS: -ldl -lpthread
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "keyhold_pkcs11.h"

// Mutex callbacks for C_Initialize, over pthread mutexes, for a library
// that chooses to use them.
static CK_RV kh_create_mutex(CK_VOID_PTR_PTR pp) {
	pthread_mutex_t *m = malloc(sizeof *m);
	if (m == NULL) return 0x02; // CKR_HOST_MEMORY
	pthread_mutex_init(m, NULL);
	*pp = m;
	return CKR_OK;
}
static CK_RV kh_destroy_mutex(CK_VOID_PTR p) {
	pthread_mutex_destroy(p);
	free(p);
	return CKR_OK;
}
static CK_RV kh_lock_mutex(CK_VOID_PTR p) { pthread_mutex_lock(p); return CKR_OK; }
static CK_RV kh_unlock_mutex(CK_VOID_PTR p) { pthread_mutex_unlock(p); return CKR_OK; }

static void kh_set_mutexes(CK_C_INITIALIZE_ARGS *a, int create, int destroy, int lock, int unlock) {
	a->CreateMutex = create ? kh_create_mutex : NULL;
	a->DestroyMutex = destroy ? kh_destroy_mutex : NULL;
	a->LockMutex = lock ? kh_lock_mutex : NULL;
	a->UnlockMutex = unlock ? kh_unlock_mutex : NULL;
}

static void *kh_dlopen(const char *path) { return dlopen(path, RTLD_NOW | RTLD_LOCAL); }
static const char *kh_dlerror(void) { const char *e = dlerror(); return e ? e : "unknown dlopen error"; }
static void *kh_dlsym(void *h, const char *name) { return dlsym(h, name); }

static CK_RV kh_get_function_list(void *sym, CK_FUNCTION_LIST_PTR_PTR pp) {
	return ((CK_C_GetFunctionList)sym)(pp);
}
static CK_RV kh_get_interface_list(void *sym, CK_INTERFACE_PTR p, CK_ULONG_PTR n) {
	return ((CK_C_GetInterfaceList)sym)(p, n);
}
static CK_RV kh_get_interface(void *sym, CK_UTF8CHAR_PTR name, CK_VERSION_PTR v, CK_INTERFACE_PTR_PTR pp, CK_FLAGS flags) {
	return ((CK_C_GetInterface)sym)(name, v, pp, flags);
}

static CK_RV kh_Initialize(CK_FUNCTION_LIST_PTR f, CK_VOID_PTR a) { return f->C_Initialize(a); }
static CK_RV kh_Finalize(CK_FUNCTION_LIST_PTR f, CK_VOID_PTR r) { return f->C_Finalize(r); }
static CK_RV kh_GetInfo(CK_FUNCTION_LIST_PTR f, CK_INFO_PTR p) { return f->C_GetInfo(p); }
static CK_RV kh_GetFunctionList(CK_FUNCTION_LIST_PTR f, CK_FUNCTION_LIST_PTR_PTR p) { return f->C_GetFunctionList(p); }
static CK_RV kh_GetSlotList(CK_FUNCTION_LIST_PTR f, CK_BBOOL present, CK_SLOT_ID_PTR l, CK_ULONG_PTR n) { return f->C_GetSlotList(present, l, n); }
static CK_RV kh_GetSlotInfo(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID s, CK_SLOT_INFO_PTR p) { return f->C_GetSlotInfo(s, p); }
static CK_RV kh_GetTokenInfo(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID s, CK_TOKEN_INFO_PTR p) { return f->C_GetTokenInfo(s, p); }
static CK_RV kh_GetMechanismList(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID s, CK_MECHANISM_TYPE_PTR l, CK_ULONG_PTR n) { return f->C_GetMechanismList(s, l, n); }
static CK_RV kh_GetMechanismInfo(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID s, CK_MECHANISM_TYPE m, CK_MECHANISM_INFO_PTR p) { return f->C_GetMechanismInfo(s, m, p); }
static CK_RV kh_InitPIN(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR p, CK_ULONG n) { return f->C_InitPIN(h, p, n); }
static CK_RV kh_SetPIN(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR o, CK_ULONG on, CK_UTF8CHAR_PTR p, CK_ULONG n) { return f->C_SetPIN(h, o, on, p, n); }
static CK_RV kh_OpenSession(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID s, CK_FLAGS fl, CK_SESSION_HANDLE_PTR h) { return f->C_OpenSession(s, fl, NULL, NULL, h); }
static CK_RV kh_CloseSession(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h) { return f->C_CloseSession(h); }
static CK_RV kh_CloseAllSessions(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID s) { return f->C_CloseAllSessions(s); }
static CK_RV kh_GetSessionInfo(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR p) { return f->C_GetSessionInfo(h, p); }
static CK_RV kh_Login(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG n) { return f->C_Login(h, u, p, n); }
static CK_RV kh_Logout(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h) { return f->C_Logout(h); }
static CK_RV kh_CreateObject(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o) { return f->C_CreateObject(h, t, n, o); }
static CK_RV kh_DestroyObject(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o) { return f->C_DestroyObject(h, o); }
static CK_RV kh_GetAttributeValue(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n) { return f->C_GetAttributeValue(h, o, t, n); }
static CK_RV kh_SetAttributeValue(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n) { return f->C_SetAttributeValue(h, o, t, n); }
static CK_RV kh_FindObjectsInit(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n) { return f->C_FindObjectsInit(h, t, n); }
static CK_RV kh_FindObjects(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR o, CK_ULONG max, CK_ULONG_PTR n) { return f->C_FindObjects(h, o, max, n); }
static CK_RV kh_FindObjectsFinal(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h) { return f->C_FindObjectsFinal(h); }
static CK_RV kh_GenerateKey(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o) { return f->C_GenerateKey(h, m, t, n, o); }
static CK_RV kh_GenerateKeyPair(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, CK_ULONG pn, CK_ATTRIBUTE_PTR st, CK_ULONG sn, CK_OBJECT_HANDLE_PTR po, CK_OBJECT_HANDLE_PTR so) { return f->C_GenerateKeyPair(h, m, pt, pn, st, sn, po, so); }
static CK_RV kh_SeedRandom(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG n) { return f->C_SeedRandom(h, p, n); }
static CK_RV kh_GenerateRandom(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG n) { return f->C_GenerateRandom(h, p, n); }

// Operations, by number: see the Op constants.
static CK_RV kh_init(CK_FUNCTION_LIST_PTR f, int op, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) {
	switch (op) {
	case 0: return f->C_SignInit(h, m, k);
	case 1: return f->C_VerifyInit(h, m, k);
	case 2: return f->C_EncryptInit(h, m, k);
	case 3: return f->C_DecryptInit(h, m, k);
	case 4: return f->C_DigestInit(h, m);
	}
	return CKR_GENERAL_ERROR;
}
static CK_RV kh_single(CK_FUNCTION_LIST_PTR f, int op, CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inLen, CK_BYTE_PTR out, CK_ULONG_PTR outLen) {
	switch (op) {
	case 0: return f->C_Sign(h, in, inLen, out, outLen);
	case 2: return f->C_Encrypt(h, in, inLen, out, outLen);
	case 3: return f->C_Decrypt(h, in, inLen, out, outLen);
	case 4: return f->C_Digest(h, in, inLen, out, outLen);
	}
	return CKR_GENERAL_ERROR;
}
static CK_RV kh_update(CK_FUNCTION_LIST_PTR f, int op, CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inLen, CK_BYTE_PTR out, CK_ULONG_PTR outLen) {
	switch (op) {
	case 0: return f->C_SignUpdate(h, in, inLen);
	case 1: return f->C_VerifyUpdate(h, in, inLen);
	case 2: return f->C_EncryptUpdate(h, in, inLen, out, outLen);
	case 3: return f->C_DecryptUpdate(h, in, inLen, out, outLen);
	case 4: return f->C_DigestUpdate(h, in, inLen);
	}
	return CKR_GENERAL_ERROR;
}
static CK_RV kh_final(CK_FUNCTION_LIST_PTR f, int op, CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outLen) {
	switch (op) {
	case 0: return f->C_SignFinal(h, out, outLen);
	case 2: return f->C_EncryptFinal(h, out, outLen);
	case 3: return f->C_DecryptFinal(h, out, outLen);
	case 4: return f->C_DigestFinal(h, out, outLen);
	}
	return CKR_GENERAL_ERROR;
}
static CK_RV kh_Verify(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR s, CK_ULONG sn) { return f->C_Verify(h, d, dn, s, sn); }
static CK_RV kh_VerifyFinal(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG sn) { return f->C_VerifyFinal(h, s, sn); }

// The functions libkeyhold.so does not implement, called with well-formed
// arguments so that only "not supported" is a right answer.
static CK_RV kh_unsupported(CK_FUNCTION_LIST_PTR f, int which, CK_SLOT_ID slot, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o) {
	CK_BYTE buf[512];
	CK_ULONG n = sizeof buf;
	CK_OBJECT_HANDLE out = 0;
	CK_SLOT_ID s = 0;
	CK_MECHANISM m = { 0x00001041UL, NULL, 0 }; // CKM_ECDSA
	CK_UTF8CHAR label[32];
	CK_UTF8CHAR pin[] = "0000";
	CK_BYTE_PTR data = buf;
	memset(buf, 0, sizeof buf);
	memset(label, ' ', sizeof label);
	switch (which) {
	case 0: return f->C_InitToken(slot, pin, 4, label);
	case 1: return f->C_GetOperationState(h, buf, &n);
	case 2: return f->C_SetOperationState(h, buf, 16, 0, 0);
	case 3: return f->C_CopyObject(h, o, NULL, 0, &out);
	case 4: return f->C_GetObjectSize(h, o, &n);
	case 5: return f->C_DigestKey(h, o);
	case 6: return f->C_SignRecoverInit(h, &m, o);
	case 7: return f->C_SignRecover(h, data, 32, buf, &n);
	case 8: return f->C_VerifyRecoverInit(h, &m, o);
	case 9: return f->C_VerifyRecover(h, data, 64, buf, &n);
	case 10: return f->C_DigestEncryptUpdate(h, data, 16, buf, &n);
	case 11: return f->C_DecryptDigestUpdate(h, data, 16, buf, &n);
	case 12: return f->C_SignEncryptUpdate(h, data, 16, buf, &n);
	case 13: return f->C_DecryptVerifyUpdate(h, data, 16, buf, &n);
	case 14: return f->C_WrapKey(h, &m, o, o, buf, &n);
	case 15: return f->C_UnwrapKey(h, &m, o, data, 16, NULL, 0, &out);
	case 16: return f->C_DeriveKey(h, &m, o, NULL, 0, &out);
	case 17: return f->C_WaitForSlotEvent(1, &s, NULL); // CKF_DONT_BLOCK
	case 18: return f->C_GetFunctionStatus(h);
	case 19: return f->C_CancelFunction(h);
	}
	return CKR_GENERAL_ERROR;
}

// The functions PKCS#11 v3.0 added, through a v3.0 function list.
static CK_RV kh_v3(CK_FUNCTION_LIST_3_0_PTR f, int which, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o) {
	CK_BYTE buf[256];
	CK_ULONG n = sizeof buf;
	CK_MECHANISM m = { 0x00001041UL, NULL, 0 }; // CKM_ECDSA
	CK_UTF8CHAR pin[] = "0000";
	CK_UTF8CHAR user[] = "user";
	memset(buf, 0, sizeof buf);
	switch (which) {
	case 0: return f->C_LoginUser(h, 1, pin, 4, user, 4);
	case 1: return f->C_SessionCancel(h, 0);
	case 2: return f->C_MessageEncryptInit(h, &m, o);
	case 3: return f->C_EncryptMessage(h, NULL, 0, NULL, 0, buf, 16, buf, &n);
	case 4: return f->C_EncryptMessageBegin(h, NULL, 0, NULL, 0);
	case 5: return f->C_EncryptMessageNext(h, NULL, 0, buf, 16, buf, &n, 0);
	case 6: return f->C_MessageEncryptFinal(h);
	case 7: return f->C_MessageDecryptInit(h, &m, o);
	case 8: return f->C_DecryptMessage(h, NULL, 0, NULL, 0, buf, 16, buf, &n);
	case 9: return f->C_DecryptMessageBegin(h, NULL, 0, NULL, 0);
	case 10: return f->C_DecryptMessageNext(h, NULL, 0, buf, 16, buf, &n, 0);
	case 11: return f->C_MessageDecryptFinal(h);
	case 12: return f->C_MessageSignInit(h, &m, o);
	case 13: return f->C_SignMessage(h, NULL, 0, buf, 32, buf, &n);
	case 14: return f->C_SignMessageBegin(h, NULL, 0);
	case 15: return f->C_SignMessageNext(h, NULL, 0, buf, 32, buf, &n);
	case 16: return f->C_MessageSignFinal(h);
	case 17: return f->C_MessageVerifyInit(h, &m, o);
	case 18: return f->C_VerifyMessage(h, NULL, 0, buf, 32, buf, 64);
	case 19: return f->C_VerifyMessageBegin(h, NULL, 0);
	case 20: return f->C_VerifyMessageNext(h, NULL, 0, buf, 32, buf, 64);
	case 21: return f->C_MessageVerifyFinal(h);
	}
	return CKR_GENERAL_ERROR;
}

// The functions PKCS#11 v3.2 added that libkeyhold.so does not implement,
// through a v3.2 function list, with well-formed arguments.
static CK_RV kh_v32(CK_FUNCTION_LIST_3_2_PTR f, int which, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o) {
	CK_BYTE buf[256];
	CK_ULONG n = sizeof buf;
	CK_FLAGS flags = 0;
	CK_ASYNC_DATA result;
	CK_OBJECT_HANDLE out = 0;
	CK_MECHANISM m = { 0x00001087UL, NULL, 0 }; // CKM_AES_GCM
	CK_UTF8CHAR fn[] = "C_Sign";
	memset(buf, 0, sizeof buf);
	memset(&result, 0, sizeof result);
	switch (which) {
	case 0: return f->C_GetSessionValidationFlags(h, 0, &flags);
	case 1: return f->C_AsyncComplete(h, fn, &result);
	case 2: return f->C_AsyncGetID(h, fn, &n);
	case 3: return f->C_AsyncJoin(h, fn, 1, buf, sizeof buf);
	case 4: return f->C_WrapKeyAuthenticated(h, &m, o, o, buf, 16, buf, &n);
	case 5: return f->C_UnwrapKeyAuthenticated(h, &m, o, buf, 32, NULL, 0, buf, 16, &out);
	}
	return CKR_GENERAL_ERROR;
}

static CK_RV kh_EncapsulateKey(CK_FUNCTION_LIST_3_2_PTR f, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k, CK_ATTRIBUTE_PTR t, CK_ULONG tn, CK_BYTE_PTR ct, CK_ULONG_PTR ctn, CK_OBJECT_HANDLE_PTR o) { return f->C_EncapsulateKey(h, m, k, t, tn, ct, ctn, o); }
static CK_RV kh_DecapsulateKey(CK_FUNCTION_LIST_3_2_PTR f, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k, CK_ATTRIBUTE_PTR t, CK_ULONG tn, CK_BYTE_PTR ct, CK_ULONG ctn, CK_OBJECT_HANDLE_PTR o) { return f->C_DecapsulateKey(h, m, k, t, tn, ct, ctn, o); }
static CK_RV kh_VerifySignatureInit(CK_FUNCTION_LIST_3_2_PTR f, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k, CK_BYTE_PTR s, CK_ULONG sn) { return f->C_VerifySignatureInit(h, m, k, s, sn); }
static CK_RV kh_VerifySignature(CK_FUNCTION_LIST_3_2_PTR f, CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn) { return f->C_VerifySignature(h, d, dn); }
static CK_RV kh_VerifySignatureUpdate(CK_FUNCTION_LIST_3_2_PTR f, CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn) { return f->C_VerifySignatureUpdate(h, d, dn); }
static CK_RV kh_VerifySignatureFinal(CK_FUNCTION_LIST_3_2_PTR f, CK_SESSION_HANDLE h) { return f->C_VerifySignatureFinal(h); }

// kh_null_members counts the NULL function pointers of a function list of
// n members after its version.
static int kh_null_members(void *list, int n, int *first) {
	void **fns = (void **)((char *)list + offsetof(CK_FUNCTION_LIST, C_Initialize));
	int count = 0;
	*first = -1;
	for (int i = 0; i < n; i++) {
		if (fns[i] == NULL) {
			if (*first < 0) *first = i;
			count++;
		}
	}
	return count;
}
static int kh_members_2_40(void) {
	return (sizeof(CK_FUNCTION_LIST) - offsetof(CK_FUNCTION_LIST, C_Initialize)) / sizeof(void *);
}
static int kh_members_3_0(void) {
	return (sizeof(CK_FUNCTION_LIST_3_0) - offsetof(CK_FUNCTION_LIST_3_0, C_Initialize)) / sizeof(void *);
}
static int kh_members_3_2(void) {
	return (sizeof(CK_FUNCTION_LIST_3_2) - offsetof(CK_FUNCTION_LIST_3_2, C_Initialize)) / sizeof(void *);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Unavailable is CK_UNAVAILABLE_INFORMATION, the ulValueLen of an attribute
// that C_GetAttributeValue could not return.
const Unavailable = ^uint(0)

// Version is a CK_VERSION.
type Version struct{ Major, Minor byte }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Lib is a PKCS#11 library loaded with dlopen, and its v2.40 function list.
type Lib struct {
	handle unsafe.Pointer
	fl     C.CK_FUNCTION_LIST_PTR
}

// Open loads the library at path and gets its function list. The library is
// never unloaded: it may hold a Go runtime, which cannot be unloaded. Loading
// a library that the process already loaded returns the same instance, so
// calls made here and through another client share its state.
func Open(path string) (*Lib, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	h := C.kh_dlopen(cpath)
	if h == nil {
		return nil, fmt.Errorf("rawp11: dlopen %s: %s", path, C.GoString(C.kh_dlerror()))
	}
	l := &Lib{handle: h}
	sym := l.sym("C_GetFunctionList")
	if sym == nil {
		return nil, fmt.Errorf("rawp11: %s has no C_GetFunctionList", path)
	}
	if rv := C.kh_get_function_list(sym, &l.fl); rv != C.CKR_OK || l.fl == nil {
		return nil, fmt.Errorf("rawp11: C_GetFunctionList: CK_RV %#x", uint(rv))
	}
	return l, nil
}

func (l *Lib) sym(name string) unsafe.Pointer {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return C.kh_dlsym(l.handle, cname)
}

// HasSymbol reports whether the library exports name.
func (l *Lib) HasSymbol(name string) bool { return l.sym(name) != nil }

// FunctionListVersion returns the version field of C_GetFunctionList's list.
func (l *Lib) FunctionListVersion() Version {
	return Version{byte(l.fl.version.major), byte(l.fl.version.minor)}
}

// NullFunctions returns the number of NULL members of C_GetFunctionList's
// list and the index of the first (-1 when none).
func (l *Lib) NullFunctions() (count, first int) {
	var f C.int
	n := C.kh_null_members(unsafe.Pointer(l.fl), C.kh_members_2_40(), &f)
	return int(n), int(f)
}

// GetFunctionListExport calls the exported C_GetFunctionList; null passes a
// NULL ppFunctionList.
func (l *Lib) GetFunctionListExport(null bool) uint {
	var out C.CK_FUNCTION_LIST_PTR
	p := &out
	if null {
		p = nil
	}
	return uint(C.kh_get_function_list(l.sym("C_GetFunctionList"), p))
}

// GetFunctionListMember calls the C_GetFunctionList member of the list; null
// passes NULL.
func (l *Lib) GetFunctionListMember(null bool) uint {
	var out C.CK_FUNCTION_LIST_PTR
	p := &out
	if null {
		p = nil
	}
	return uint(C.kh_GetFunctionList(l.fl, p))
}

// cmem collects C allocations made for one call.
type cmem []unsafe.Pointer

func (m *cmem) alloc(n int) unsafe.Pointer {
	if n < 1 {
		n = 1
	}
	p := C.calloc(C.size_t(n), 1)
	if p == nil {
		panic("rawp11: out of C memory")
	}
	*m = append(*m, p)
	return p
}

func (m *cmem) bytes(b []byte) unsafe.Pointer {
	p := m.alloc(len(b))
	if len(b) > 0 {
		C.memcpy(p, unsafe.Pointer(&b[0]), C.size_t(len(b)))
	}
	return p
}

func (m *cmem) free() {
	for _, p := range *m {
		C.free(p)
	}
	*m = nil
}

// In is an input byte array: Data, or a NULL pointer with length Len.
type In struct {
	Data []byte
	Null bool
	Len  uint
}

// Bytes is the input b.
func Bytes(b []byte) In { return In{Data: b} }

// NullIn is a NULL input pointer with length n.
func NullIn(n uint) In { return In{Null: true, Len: n} }

func (in In) c(m *cmem) (C.CK_BYTE_PTR, C.CK_ULONG) {
	if in.Null {
		return nil, C.CK_ULONG(in.Len)
	}
	return C.CK_BYTE_PTR(m.bytes(in.Data)), C.CK_ULONG(len(in.Data))
}

// Out is an output buffer: Cap elements, or a NULL pointer (a length
// query); its length argument starts at Cap, or is itself a NULL pointer.
type Out struct {
	Cap     uint
	Null    bool
	NullLen bool
}

// Buffer is an output buffer of n elements.
func Buffer(n uint) Out { return Out{Cap: n} }

// Query is a NULL output buffer: a length query.
func Query() Out { return Out{Null: true} }

// out returns C buffers for o of elements of size elem.
func (o Out) c(m *cmem, elem int) (unsafe.Pointer, *C.CK_ULONG) {
	var p unsafe.Pointer
	if !o.Null {
		p = m.alloc(int(o.Cap) * elem)
	}
	var n *C.CK_ULONG
	if !o.NullLen {
		n = (*C.CK_ULONG)(m.alloc(C.sizeof_CK_ULONG))
		*n = C.CK_ULONG(o.Cap)
	}
	return p, n
}

// result reads what the library wrote into o's buffers: the length it set,
// and the bytes when the call succeeded into a real buffer.
func (o Out) bytes(rv C.CK_RV, p unsafe.Pointer, n *C.CK_ULONG) (uint, []byte) {
	if n == nil {
		return 0, nil
	}
	got := uint(*n)
	if rv != C.CKR_OK || p == nil || got > o.Cap {
		return got, nil
	}
	return got, C.GoBytes(p, C.int(got))
}

func (o Out) ulongs(rv C.CK_RV, p unsafe.Pointer, n *C.CK_ULONG) (uint, []uint) {
	if n == nil {
		return 0, nil
	}
	got := uint(*n)
	if rv != C.CKR_OK || p == nil || got > o.Cap {
		return got, nil
	}
	out := make([]uint, got)
	arr := unsafe.Slice((*C.CK_ULONG)(p), got)
	for i := range out {
		out[i] = uint(arr[i])
	}
	return got, out
}

// InitArgs are C_Initialize's CK_C_INITIALIZE_ARGS: which mutex callbacks
// are set, the flags, and whether pReserved is non-NULL.
type InitArgs struct {
	CreateMutex, DestroyMutex, LockMutex, UnlockMutex bool
	Flags                                             uint
	Reserved                                          bool
}

// AllMutexes sets every mutex callback.
func AllMutexes(flags uint) *InitArgs {
	return &InitArgs{CreateMutex: true, DestroyMutex: true, LockMutex: true, UnlockMutex: true, Flags: flags}
}

// Initialize calls C_Initialize; nil passes NULL.
func (l *Lib) Initialize(a *InitArgs) uint {
	if a == nil {
		return uint(C.kh_Initialize(l.fl, nil))
	}
	var m cmem
	defer m.free()
	args := (*C.CK_C_INITIALIZE_ARGS)(m.alloc(C.sizeof_CK_C_INITIALIZE_ARGS))
	C.kh_set_mutexes(args, cbool(a.CreateMutex), cbool(a.DestroyMutex), cbool(a.LockMutex), cbool(a.UnlockMutex))
	args.flags = C.CK_FLAGS(a.Flags)
	if a.Reserved {
		args.pReserved = C.CK_VOID_PTR(m.alloc(16))
	}
	return uint(C.kh_Initialize(l.fl, C.CK_VOID_PTR(args)))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Finalize calls C_Finalize; reserved passes a non-NULL pReserved.
func (l *Lib) Finalize(reserved bool) uint {
	var m cmem
	defer m.free()
	var p unsafe.Pointer
	if reserved {
		p = m.alloc(16)
	}
	return uint(C.kh_Finalize(l.fl, C.CK_VOID_PTR(p)))
}

// Info is a CK_INFO.
type Info struct {
	CryptokiVersion, LibraryVersion Version
	ManufacturerID, Description     string
	Flags                           uint
}

// GetInfo calls C_GetInfo; null passes a NULL pInfo.
func (l *Lib) GetInfo(null bool) (uint, Info) {
	return getInfo(l.fl, null)
}

func getInfo(fl C.CK_FUNCTION_LIST_PTR, null bool) (uint, Info) {
	if null {
		return uint(C.kh_GetInfo(fl, nil)), Info{}
	}
	var ci C.CK_INFO
	rv := C.kh_GetInfo(fl, &ci)
	return uint(rv), Info{
		CryptokiVersion: Version{byte(ci.cryptokiVersion.major), byte(ci.cryptokiVersion.minor)},
		LibraryVersion:  Version{byte(ci.libraryVersion.major), byte(ci.libraryVersion.minor)},
		ManufacturerID:  C.GoStringN((*C.char)(unsafe.Pointer(&ci.manufacturerID[0])), 32),
		Description:     C.GoStringN((*C.char)(unsafe.Pointer(&ci.libraryDescription[0])), 32),
		Flags:           uint(ci.flags),
	}
}

// GetSlotList calls C_GetSlotList.
func (l *Lib) GetSlotList(tokenPresent bool, o Out) (rv, count uint, slots []uint) {
	var m cmem
	defer m.free()
	p, n := o.c(&m, C.sizeof_CK_ULONG)
	present := C.CK_BBOOL(0)
	if tokenPresent {
		present = 1
	}
	r := C.kh_GetSlotList(l.fl, present, C.CK_SLOT_ID_PTR(p), n)
	count, slots = o.ulongs(r, p, n)
	return uint(r), count, slots
}

// GetSlotInfo calls C_GetSlotInfo; null passes a NULL pInfo.
func (l *Lib) GetSlotInfo(slot uint, null bool) uint {
	var info C.CK_SLOT_INFO
	p := &info
	if null {
		p = nil
	}
	return uint(C.kh_GetSlotInfo(l.fl, C.CK_SLOT_ID(slot), p))
}

// GetTokenInfo calls C_GetTokenInfo; null passes a NULL pInfo.
func (l *Lib) GetTokenInfo(slot uint, null bool) uint {
	var info C.CK_TOKEN_INFO
	p := &info
	if null {
		p = nil
	}
	return uint(C.kh_GetTokenInfo(l.fl, C.CK_SLOT_ID(slot), p))
}

// GetMechanismList calls C_GetMechanismList.
func (l *Lib) GetMechanismList(slot uint, o Out) (rv, count uint, mechs []uint) {
	var m cmem
	defer m.free()
	p, n := o.c(&m, C.sizeof_CK_ULONG)
	r := C.kh_GetMechanismList(l.fl, C.CK_SLOT_ID(slot), C.CK_MECHANISM_TYPE_PTR(p), n)
	count, mechs = o.ulongs(r, p, n)
	return uint(r), count, mechs
}

// GetMechanismInfo calls C_GetMechanismInfo; null passes a NULL pInfo.
func (l *Lib) GetMechanismInfo(slot, mech uint, null bool) uint {
	var info C.CK_MECHANISM_INFO
	p := &info
	if null {
		p = nil
	}
	return uint(C.kh_GetMechanismInfo(l.fl, C.CK_SLOT_ID(slot), C.CK_MECHANISM_TYPE(mech), p))
}

// OpenSession calls C_OpenSession without notification callback;
// nullHandle passes a NULL phSession.
func (l *Lib) OpenSession(slot, flags uint, nullHandle bool) (rv, session uint) {
	var h C.CK_SESSION_HANDLE
	p := &h
	if nullHandle {
		p = nil
	}
	r := C.kh_OpenSession(l.fl, C.CK_SLOT_ID(slot), C.CK_FLAGS(flags), p)
	return uint(r), uint(h)
}

// CloseSession calls C_CloseSession.
func (l *Lib) CloseSession(session uint) uint {
	return uint(C.kh_CloseSession(l.fl, C.CK_SESSION_HANDLE(session)))
}

// CloseAllSessions calls C_CloseAllSessions.
func (l *Lib) CloseAllSessions(slot uint) uint {
	return uint(C.kh_CloseAllSessions(l.fl, C.CK_SLOT_ID(slot)))
}

// SessionInfo is a CK_SESSION_INFO.
type SessionInfo struct{ SlotID, State, Flags, DeviceError uint }

// GetSessionInfo calls C_GetSessionInfo; null passes a NULL pInfo.
func (l *Lib) GetSessionInfo(session uint, null bool) (uint, SessionInfo) {
	var info C.CK_SESSION_INFO
	p := &info
	if null {
		p = nil
	}
	rv := C.kh_GetSessionInfo(l.fl, C.CK_SESSION_HANDLE(session), p)
	return uint(rv), SessionInfo{uint(info.slotID), uint(info.state), uint(info.flags), uint(info.ulDeviceError)}
}

// Login calls C_Login.
func (l *Lib) Login(session, user uint, pin In) uint {
	var m cmem
	defer m.free()
	p, n := pin.c(&m)
	return uint(C.kh_Login(l.fl, C.CK_SESSION_HANDLE(session), C.CK_USER_TYPE(user), (*C.CK_UTF8CHAR)(p), n))
}

// Logout calls C_Logout.
func (l *Lib) Logout(session uint) uint {
	return uint(C.kh_Logout(l.fl, C.CK_SESSION_HANDLE(session)))
}

// InitPIN calls C_InitPIN.
func (l *Lib) InitPIN(session uint, pin In) uint {
	var m cmem
	defer m.free()
	p, n := pin.c(&m)
	return uint(C.kh_InitPIN(l.fl, C.CK_SESSION_HANDLE(session), (*C.CK_UTF8CHAR)(p), n))
}

// SetPIN calls C_SetPIN.
func (l *Lib) SetPIN(session uint, oldPIN, newPIN In) uint {
	var m cmem
	defer m.free()
	op, on := oldPIN.c(&m)
	np, nn := newPIN.c(&m)
	return uint(C.kh_SetPIN(l.fl, C.CK_SESSION_HANDLE(session), (*C.CK_UTF8CHAR)(op), on, (*C.CK_UTF8CHAR)(np), nn))
}

// Attribute is one CK_ATTRIBUTE: Value copied into a C buffer of exactly
// its length, or, with Null, a NULL pValue with ulValueLen Len.
type Attribute struct {
	Type  uint
	Value []byte
	Null  bool
	Len   uint
}

// Template is a CK_ATTRIBUTE array argument: Attrs, or, with Null, a NULL
// pointer with count Count.
type Template struct {
	Attrs []Attribute
	Null  bool
	Count uint
}

// T is the template of attrs.
func T(attrs ...Attribute) Template { return Template{Attrs: attrs} }

// NullTemplate is a NULL template pointer with count n.
func NullTemplate(n uint) Template { return Template{Null: true, Count: n} }

func (t Template) c(m *cmem) (C.CK_ATTRIBUTE_PTR, C.CK_ULONG) {
	if t.Null {
		return nil, C.CK_ULONG(t.Count)
	}
	if len(t.Attrs) == 0 {
		return C.CK_ATTRIBUTE_PTR(m.alloc(C.sizeof_CK_ATTRIBUTE)), 0
	}
	arr := C.CK_ATTRIBUTE_PTR(m.alloc(len(t.Attrs) * C.sizeof_CK_ATTRIBUTE))
	s := unsafe.Slice(arr, len(t.Attrs))
	for i, a := range t.Attrs {
		s[i]._type = C.CK_ATTRIBUTE_TYPE(a.Type)
		if a.Null {
			s[i].pValue = nil
			s[i].ulValueLen = C.CK_ULONG(a.Len)
		} else {
			s[i].pValue = C.CK_VOID_PTR(m.bytes(a.Value))
			s[i].ulValueLen = C.CK_ULONG(len(a.Value))
		}
	}
	return arr, C.CK_ULONG(len(t.Attrs))
}

// Result is one attribute as C_GetAttributeValue left it: the ulValueLen it
// set and, when that fits the buffer given, the value.
type Result struct {
	Type  uint
	Len   uint
	Value []byte
}

// CreateObject calls C_CreateObject; nullHandle passes a NULL phObject.
func (l *Lib) CreateObject(session uint, t Template, nullHandle bool) (rv, object uint) {
	var m cmem
	defer m.free()
	tp, tn := t.c(&m)
	var h C.CK_OBJECT_HANDLE
	hp := &h
	if nullHandle {
		hp = nil
	}
	r := C.kh_CreateObject(l.fl, C.CK_SESSION_HANDLE(session), tp, tn, hp)
	return uint(r), uint(h)
}

// DestroyObject calls C_DestroyObject.
func (l *Lib) DestroyObject(session, object uint) uint {
	return uint(C.kh_DestroyObject(l.fl, C.CK_SESSION_HANDLE(session), C.CK_OBJECT_HANDLE(object)))
}

// GetAttributeValue calls C_GetAttributeValue and returns each attribute as
// the library left it.
func (l *Lib) GetAttributeValue(session, object uint, t Template) (uint, []Result) {
	var m cmem
	defer m.free()
	tp, tn := t.c(&m)
	rv := C.kh_GetAttributeValue(l.fl, C.CK_SESSION_HANDLE(session), C.CK_OBJECT_HANDLE(object), tp, tn)
	if t.Null {
		return uint(rv), nil
	}
	out := make([]Result, len(t.Attrs))
	if len(t.Attrs) == 0 {
		return uint(rv), out
	}
	s := unsafe.Slice(tp, len(t.Attrs))
	for i, a := range t.Attrs {
		n := uint(s[i].ulValueLen)
		out[i] = Result{Type: uint(s[i]._type), Len: n}
		if !a.Null && n != Unavailable && n <= uint(len(a.Value)) && s[i].pValue != nil {
			out[i].Value = C.GoBytes(unsafe.Pointer(s[i].pValue), C.int(n))
		}
	}
	return uint(rv), out
}

// SetAttributeValue calls C_SetAttributeValue.
func (l *Lib) SetAttributeValue(session, object uint, t Template) uint {
	var m cmem
	defer m.free()
	tp, tn := t.c(&m)
	return uint(C.kh_SetAttributeValue(l.fl, C.CK_SESSION_HANDLE(session), C.CK_OBJECT_HANDLE(object), tp, tn))
}

// FindObjectsInit calls C_FindObjectsInit.
func (l *Lib) FindObjectsInit(session uint, t Template) uint {
	var m cmem
	defer m.free()
	tp, tn := t.c(&m)
	return uint(C.kh_FindObjectsInit(l.fl, C.CK_SESSION_HANDLE(session), tp, tn))
}

// FindObjects calls C_FindObjects with ulMaxObjectCount o.Cap; o.Null
// passes a NULL phObject, o.NullLen a NULL pulObjectCount.
func (l *Lib) FindObjects(session uint, o Out) (rv uint, objects []uint) {
	var m cmem
	defer m.free()
	p, n := o.c(&m, C.sizeof_CK_ULONG)
	if n != nil {
		*n = 0
	}
	r := C.kh_FindObjects(l.fl, C.CK_SESSION_HANDLE(session), C.CK_OBJECT_HANDLE_PTR(p), C.CK_ULONG(o.Cap), n)
	_, objects = o.ulongs(r, p, n)
	return uint(r), objects
}

// FindObjectsFinal calls C_FindObjectsFinal.
func (l *Lib) FindObjectsFinal(session uint) uint {
	return uint(C.kh_FindObjectsFinal(l.fl, C.CK_SESSION_HANDLE(session)))
}

// GCMParams is a CK_GCM_PARAMS.
type GCMParams struct {
	IV, AAD         In
	IVBits, TagBits uint
}

// OAEPParams is a CK_RSA_PKCS_OAEP_PARAMS.
type OAEPParams struct {
	Hash, MGF, Source uint
	Label             In
}

// PSSParams is a CK_RSA_PKCS_PSS_PARAMS.
type PSSParams struct{ Hash, MGF, SaltLen uint }

// SignContextParams is a CK_SIGN_ADDITIONAL_CONTEXT (PKCS#11 v3.2).
type SignContextParams struct {
	Hedge   uint
	Context In
}

// Sizes of the parameter structures, for tests that pass wrong ones.
var (
	SizeofGCMParams  = uint(C.sizeof_CK_GCM_PARAMS)
	SizeofOAEPParams = uint(C.sizeof_CK_RSA_PKCS_OAEP_PARAMS)
	SizeofPSSParams  = uint(C.sizeof_CK_RSA_PKCS_PSS_PARAMS)
	// SizeofSignContext is the size of CK_SIGN_ADDITIONAL_CONTEXT.
	SizeofSignContext = uint(C.sizeof_CK_SIGN_ADDITIONAL_CONTEXT)
)

// Mechanism is a CK_MECHANISM. Its parameter is Param's bytes, or the
// structure GCM, OAEP or PSS describes, in a C buffer; ulParameterLen is its
// size, or ParamLen when SetLen (the buffer is then at least ParamLen
// bytes, so that a library reading what the length claims reads memory
// that exists). NullParam passes a NULL pParameter with ulParameterLen
// ParamLen.
type Mechanism struct {
	Type      uint
	Param     []byte
	GCM       *GCMParams
	OAEP      *OAEPParams
	PSS       *PSSParams
	SignCtx   *SignContextParams
	NullParam bool
	SetLen    bool
	ParamLen  uint
}

func (mech *Mechanism) c(m *cmem) C.CK_MECHANISM_PTR {
	if mech == nil {
		return nil
	}
	cm := (C.CK_MECHANISM_PTR)(m.alloc(C.sizeof_CK_MECHANISM))
	cm.mechanism = C.CK_MECHANISM_TYPE(mech.Type)
	if mech.NullParam {
		cm.ulParameterLen = C.CK_ULONG(mech.ParamLen)
		return cm
	}
	var p unsafe.Pointer
	var size uint
	switch {
	case mech.GCM != nil:
		size = SizeofGCMParams
		p = m.alloc(int(max(size, mech.ParamLen)))
		g := (*C.CK_GCM_PARAMS)(p)
		g.pIv, g.ulIvLen = mech.GCM.IV.c(m)
		g.ulIvBits = C.CK_ULONG(mech.GCM.IVBits)
		g.pAAD, g.ulAADLen = mech.GCM.AAD.c(m)
		g.ulTagBits = C.CK_ULONG(mech.GCM.TagBits)
	case mech.OAEP != nil:
		size = SizeofOAEPParams
		p = m.alloc(int(max(size, mech.ParamLen)))
		o := (*C.CK_RSA_PKCS_OAEP_PARAMS)(p)
		o.hashAlg = C.CK_MECHANISM_TYPE(mech.OAEP.Hash)
		o.mgf = C.CK_RSA_PKCS_MGF_TYPE(mech.OAEP.MGF)
		o.source = C.CK_RSA_PKCS_OAEP_SOURCE_TYPE(mech.OAEP.Source)
		label, n := mech.OAEP.Label.c(m)
		o.pSourceData, o.ulSourceDataLen = C.CK_VOID_PTR(label), n
	case mech.PSS != nil:
		size = SizeofPSSParams
		p = m.alloc(int(max(size, mech.ParamLen)))
		s := (*C.CK_RSA_PKCS_PSS_PARAMS)(p)
		s.hashAlg = C.CK_MECHANISM_TYPE(mech.PSS.Hash)
		s.mgf = C.CK_RSA_PKCS_MGF_TYPE(mech.PSS.MGF)
		s.sLen = C.CK_ULONG(mech.PSS.SaltLen)
	case mech.SignCtx != nil:
		size = SizeofSignContext
		p = m.alloc(int(max(size, mech.ParamLen)))
		sc := (*C.CK_SIGN_ADDITIONAL_CONTEXT)(p)
		sc.hedgeVariant = C.CK_HEDGE_TYPE(mech.SignCtx.Hedge)
		sc.pContext, sc.ulContextLen = mech.SignCtx.Context.c(m)
	case mech.Param != nil:
		size = uint(len(mech.Param))
		p = m.alloc(int(max(size, mech.ParamLen)))
		if size > 0 {
			C.memcpy(p, unsafe.Pointer(&mech.Param[0]), C.size_t(size))
		}
	}
	if mech.SetLen {
		size = mech.ParamLen
	}
	cm.pParameter = C.CK_VOID_PTR(p)
	cm.ulParameterLen = C.CK_ULONG(size)
	return cm
}

// GenerateKey calls C_GenerateKey; a nil m passes a NULL pMechanism,
// nullHandle a NULL phKey.
func (l *Lib) GenerateKey(session uint, mech *Mechanism, t Template, nullHandle bool) (rv, key uint) {
	var m cmem
	defer m.free()
	tp, tn := t.c(&m)
	var h C.CK_OBJECT_HANDLE
	hp := &h
	if nullHandle {
		hp = nil
	}
	r := C.kh_GenerateKey(l.fl, C.CK_SESSION_HANDLE(session), mech.c(&m), tp, tn, hp)
	return uint(r), uint(h)
}

// GenerateKeyPair calls C_GenerateKeyPair; nullHandles passes NULL
// phPublicKey and phPrivateKey.
func (l *Lib) GenerateKeyPair(session uint, mech *Mechanism, pub, priv Template, nullHandles bool) (rv, pubKey, privKey uint) {
	var m cmem
	defer m.free()
	pp, pn := pub.c(&m)
	sp, sn := priv.c(&m)
	var ph, sh C.CK_OBJECT_HANDLE
	php, shp := &ph, &sh
	if nullHandles {
		php, shp = nil, nil
	}
	r := C.kh_GenerateKeyPair(l.fl, C.CK_SESSION_HANDLE(session), mech.c(&m), pp, pn, sp, sn, php, shp)
	return uint(r), uint(ph), uint(sh)
}

// Op is a cryptographic operation.
type Op int

// Operations. Verify has no single-part output and no Final with output: use
// Verify and VerifyFinal.
const (
	Sign Op = iota
	VerifyOp
	Encrypt
	Decrypt
	Digest
)

// Init calls C_SignInit, C_VerifyInit, C_EncryptInit, C_DecryptInit or
// C_DigestInit (key ignored); a nil m passes a NULL pMechanism.
func (l *Lib) Init(op Op, session uint, mech *Mechanism, key uint) uint {
	var m cmem
	defer m.free()
	return uint(C.kh_init(l.fl, C.int(op), C.CK_SESSION_HANDLE(session), mech.c(&m), C.CK_OBJECT_HANDLE(key)))
}

// Single calls C_Sign, C_Encrypt, C_Decrypt or C_Digest.
func (l *Lib) Single(op Op, session uint, in In, o Out) (rv, n uint, out []byte) {
	if op == VerifyOp {
		panic("rawp11: Single(VerifyOp): use Verify")
	}
	var m cmem
	defer m.free()
	ip, il := in.c(&m)
	p, np := o.c(&m, 1)
	r := C.kh_single(l.fl, C.int(op), C.CK_SESSION_HANDLE(session), ip, il, C.CK_BYTE_PTR(p), np)
	n, out = o.bytes(r, p, np)
	return uint(r), n, out
}

// Update calls C_SignUpdate, C_VerifyUpdate or C_DigestUpdate (o unused),
// or C_EncryptUpdate or C_DecryptUpdate with output o.
func (l *Lib) Update(op Op, session uint, in In, o Out) (rv, n uint, out []byte) {
	var m cmem
	defer m.free()
	ip, il := in.c(&m)
	p, np := o.c(&m, 1)
	r := C.kh_update(l.fl, C.int(op), C.CK_SESSION_HANDLE(session), ip, il, C.CK_BYTE_PTR(p), np)
	n, out = o.bytes(r, p, np)
	return uint(r), n, out
}

// Final calls C_SignFinal, C_EncryptFinal, C_DecryptFinal or C_DigestFinal.
func (l *Lib) Final(op Op, session uint, o Out) (rv, n uint, out []byte) {
	if op == VerifyOp {
		panic("rawp11: Final(VerifyOp): use VerifyFinal")
	}
	var m cmem
	defer m.free()
	p, np := o.c(&m, 1)
	r := C.kh_final(l.fl, C.int(op), C.CK_SESSION_HANDLE(session), C.CK_BYTE_PTR(p), np)
	n, out = o.bytes(r, p, np)
	return uint(r), n, out
}

// Verify calls C_Verify.
func (l *Lib) Verify(session uint, data, sig In) uint {
	var m cmem
	defer m.free()
	dp, dn := data.c(&m)
	sp, sn := sig.c(&m)
	return uint(C.kh_Verify(l.fl, C.CK_SESSION_HANDLE(session), dp, dn, sp, sn))
}

// VerifyFinal calls C_VerifyFinal.
func (l *Lib) VerifyFinal(session uint, sig In) uint {
	var m cmem
	defer m.free()
	sp, sn := sig.c(&m)
	return uint(C.kh_VerifyFinal(l.fl, C.CK_SESSION_HANDLE(session), sp, sn))
}

// GenerateRandom calls C_GenerateRandom for n bytes; null passes a NULL
// pRandomData.
func (l *Lib) GenerateRandom(session, n uint, null bool) (uint, []byte) {
	var m cmem
	defer m.free()
	var p unsafe.Pointer
	if !null {
		p = m.alloc(int(n))
	}
	rv := C.kh_GenerateRandom(l.fl, C.CK_SESSION_HANDLE(session), C.CK_BYTE_PTR(p), C.CK_ULONG(n))
	if rv != C.CKR_OK || p == nil {
		return uint(rv), nil
	}
	return uint(rv), C.GoBytes(p, C.int(n))
}

// SeedRandom calls C_SeedRandom.
func (l *Lib) SeedRandom(session uint, seed In) uint {
	var m cmem
	defer m.free()
	p, n := seed.c(&m)
	return uint(C.kh_SeedRandom(l.fl, C.CK_SESSION_HANDLE(session), p, n))
}

// unsupportedCalls names the v2.40 functions kh_unsupported can call, in
// its numbering.
var unsupportedCalls = []string{
	"C_InitToken", "C_GetOperationState", "C_SetOperationState", "C_CopyObject",
	"C_GetObjectSize", "C_DigestKey", "C_SignRecoverInit", "C_SignRecover",
	"C_VerifyRecoverInit", "C_VerifyRecover", "C_DigestEncryptUpdate",
	"C_DecryptDigestUpdate", "C_SignEncryptUpdate", "C_DecryptVerifyUpdate",
	"C_WrapKey", "C_UnwrapKey", "C_DeriveKey", "C_WaitForSlotEvent",
	"C_GetFunctionStatus", "C_CancelFunction",
}

// Unsupported names the v2.40 functions the library does not implement,
// which CallUnsupported can call.
var Unsupported = []string{
	"C_InitToken", "C_GetOperationState", "C_SetOperationState", "C_CopyObject",
	"C_GetObjectSize", "C_DigestKey", "C_SignRecoverInit", "C_SignRecover",
	"C_VerifyRecoverInit", "C_VerifyRecover", "C_DigestEncryptUpdate",
	"C_DecryptDigestUpdate", "C_SignEncryptUpdate", "C_DecryptVerifyUpdate",
	"C_WaitForSlotEvent", "C_GetFunctionStatus", "C_CancelFunction",
}

// CallUnsupported calls the function name (one of Unsupported, or a
// function that was once unsupported, such as C_WrapKey) with well-formed
// arguments naming slot, session and object.
func (l *Lib) CallUnsupported(name string, slot, session, object uint) (uint, error) {
	for i, n := range unsupportedCalls {
		if n == name {
			return uint(C.kh_unsupported(l.fl, C.int(i), C.CK_SLOT_ID(slot), C.CK_SESSION_HANDLE(session), C.CK_OBJECT_HANDLE(object))), nil
		}
	}
	return 0, fmt.Errorf("rawp11: %s is not a function CallUnsupported knows", name)
}

// V3Functions names the functions PKCS#11 v3.0 added after C_GetInterface,
// in CallV3's numbering.
var V3Functions = []string{
	"C_LoginUser", "C_SessionCancel",
	"C_MessageEncryptInit", "C_EncryptMessage", "C_EncryptMessageBegin", "C_EncryptMessageNext", "C_MessageEncryptFinal",
	"C_MessageDecryptInit", "C_DecryptMessage", "C_DecryptMessageBegin", "C_DecryptMessageNext", "C_MessageDecryptFinal",
	"C_MessageSignInit", "C_SignMessage", "C_SignMessageBegin", "C_SignMessageNext", "C_MessageSignFinal",
	"C_MessageVerifyInit", "C_VerifyMessage", "C_VerifyMessageBegin", "C_VerifyMessageNext", "C_MessageVerifyFinal",
}

// Interface is a CK_INTERFACE.
type Interface struct {
	Name  string
	Flags uint
	// Version is the version field of the interface's function list.
	Version Version
	list    unsafe.Pointer
}

func interfaceOf(ci *C.CK_INTERFACE) Interface {
	i := Interface{Flags: uint(ci.flags), list: unsafe.Pointer(ci.pFunctionList)}
	if ci.pInterfaceName != nil {
		i.Name = C.GoString((*C.char)(unsafe.Pointer(ci.pInterfaceName)))
	}
	if i.list != nil {
		v := (*C.CK_VERSION)(i.list)
		i.Version = Version{byte(v.major), byte(v.minor)}
	}
	return i
}

// ErrNoList is returned by Interface methods when the interface has no
// function list.
var ErrNoList = errors.New("rawp11: interface without function list")

// NullFunctions returns the number of NULL members of the interface's
// function list, read as a v3.2 list when its version is 3.2 or later, as
// a v3.0 list when it is 3.0 or 3.1 and as a v2.40 list otherwise, and the
// index of the first (-1 when none).
func (i Interface) NullFunctions() (count, first int, err error) {
	if i.list == nil {
		return 0, 0, ErrNoList
	}
	members := C.kh_members_2_40()
	switch {
	case i.Version.Major > 3 || i.Version.Major == 3 && i.Version.Minor >= 2:
		members = C.kh_members_3_2()
	case i.Version.Major == 3:
		members = C.kh_members_3_0()
	}
	var f C.int
	n := C.kh_null_members(i.list, members, &f)
	return int(n), int(f), nil
}

// GetInfo calls C_GetInfo through the interface's function list.
func (i Interface) GetInfo() (uint, Info, error) {
	if i.list == nil {
		return 0, Info{}, ErrNoList
	}
	rv, info := getInfo(C.CK_FUNCTION_LIST_PTR(i.list), false)
	return rv, info, nil
}

// SameList reports whether the interface's function list is the one
// C_GetFunctionList returns.
func (i Interface) SameList(l *Lib) bool { return i.list == unsafe.Pointer(l.fl) }

// CallV3 calls the v3.0 function name (one of V3Functions) through the
// interface's function list, which must be a v3.0 one.
func (i Interface) CallV3(name string, session, object uint) (uint, error) {
	if i.list == nil {
		return 0, ErrNoList
	}
	if i.Version.Major < 3 {
		return 0, fmt.Errorf("rawp11: interface %s %v has no v3.0 functions", i.Name, i.Version)
	}
	for n, fn := range V3Functions {
		if fn == name {
			return uint(C.kh_v3(C.CK_FUNCTION_LIST_3_0_PTR(i.list), C.int(n), C.CK_SESSION_HANDLE(session), C.CK_OBJECT_HANDLE(object))), nil
		}
	}
	return 0, fmt.Errorf("rawp11: %s is not a v3.0 function CallV3 knows", name)
}

// Members returns the number of function pointers of the function lists of
// versions 2.40, 3.0 and 3.2, as this package's header declares them.
func Members() (v240, v30, v32 int) {
	return int(C.kh_members_2_40()), int(C.kh_members_3_0()), int(C.kh_members_3_2())
}

// V32Unsupported names the functions PKCS#11 v3.2 added that CallV32 can
// call, in its numbering.
var V32Unsupported = []string{
	"C_GetSessionValidationFlags", "C_AsyncComplete", "C_AsyncGetID", "C_AsyncJoin",
	"C_WrapKeyAuthenticated", "C_UnwrapKeyAuthenticated",
}

// v32 returns the interface's function list as a v3.2 one.
func (i Interface) v32() (C.CK_FUNCTION_LIST_3_2_PTR, error) {
	if i.list == nil {
		return nil, ErrNoList
	}
	if i.Version.Major < 3 || i.Version.Major == 3 && i.Version.Minor < 2 {
		return nil, fmt.Errorf("rawp11: interface %s %v has no v3.2 functions", i.Name, i.Version)
	}
	return C.CK_FUNCTION_LIST_3_2_PTR(i.list), nil
}

// CallV32 calls the v3.2 function name (one of V32Unsupported) through the
// interface's function list, which must be a v3.2 one, with well-formed
// arguments naming session and object.
func (i Interface) CallV32(name string, session, object uint) (uint, error) {
	f, err := i.v32()
	if err != nil {
		return 0, err
	}
	for n, fn := range V32Unsupported {
		if fn == name {
			return uint(C.kh_v32(f, C.int(n), C.CK_SESSION_HANDLE(session), C.CK_OBJECT_HANDLE(object))), nil
		}
	}
	return 0, fmt.Errorf("rawp11: %s is not a v3.2 function CallV32 knows", name)
}

// EncapsulateKey calls C_EncapsulateKey through the interface's v3.2
// function list, with the ciphertext buffer o; nullKey passes a NULL phKey.
func (i Interface) EncapsulateKey(session uint, mech *Mechanism, pub uint, t Template, o Out, nullKey bool) (rv, n uint, ct []byte, key uint, err error) {
	f, err := i.v32()
	if err != nil {
		return 0, 0, nil, 0, err
	}
	var m cmem
	defer m.free()
	tp, tn := t.c(&m)
	p, np := o.c(&m, 1)
	var h C.CK_OBJECT_HANDLE
	hp := &h
	if nullKey {
		hp = nil
	}
	r := C.kh_EncapsulateKey(f, C.CK_SESSION_HANDLE(session), mech.c(&m), C.CK_OBJECT_HANDLE(pub), tp, tn, C.CK_BYTE_PTR(p), np, hp)
	n, ct = o.bytes(r, p, np)
	return uint(r), n, ct, uint(h), nil
}

// DecapsulateKey calls C_DecapsulateKey through the interface's v3.2
// function list; nullKey passes a NULL phKey.
func (i Interface) DecapsulateKey(session uint, mech *Mechanism, priv uint, t Template, ct In, nullKey bool) (rv, key uint, err error) {
	f, err := i.v32()
	if err != nil {
		return 0, 0, err
	}
	var m cmem
	defer m.free()
	tp, tn := t.c(&m)
	cp, cn := ct.c(&m)
	var h C.CK_OBJECT_HANDLE
	hp := &h
	if nullKey {
		hp = nil
	}
	r := C.kh_DecapsulateKey(f, C.CK_SESSION_HANDLE(session), mech.c(&m), C.CK_OBJECT_HANDLE(priv), tp, tn, cp, cn, hp)
	return uint(r), uint(h), nil
}

// FindObjects runs a whole search through the interface's function list
// (C_FindObjectsInit, C_FindObjects for up to 64 objects,
// C_FindObjectsFinal) and returns the first code that is not CKR_OK, or the
// objects found.
func (i Interface) FindObjects(session uint, t Template) (uint, []uint, error) {
	if i.list == nil {
		return 0, nil, ErrNoList
	}
	fl := C.CK_FUNCTION_LIST_PTR(i.list)
	var m cmem
	defer m.free()
	tp, tn := t.c(&m)
	if rv := C.kh_FindObjectsInit(fl, C.CK_SESSION_HANDLE(session), tp, tn); rv != C.CKR_OK {
		return uint(rv), nil, nil
	}
	out := make([]C.CK_OBJECT_HANDLE, 64)
	var n C.CK_ULONG
	rv := C.kh_FindObjects(fl, C.CK_SESSION_HANDLE(session), &out[0], C.CK_ULONG(len(out)), &n)
	if final := C.kh_FindObjectsFinal(fl, C.CK_SESSION_HANDLE(session)); rv == C.CKR_OK {
		rv = final
	}
	if rv != C.CKR_OK {
		return uint(rv), nil, nil
	}
	objs := make([]uint, n)
	for k := range objs {
		objs[k] = uint(out[k])
	}
	return uint(rv), objs, nil
}

// VerifySignatureInit calls C_VerifySignatureInit through the interface's
// v3.2 function list; a nil mech passes a NULL pMechanism.
func (i Interface) VerifySignatureInit(session uint, mech *Mechanism, key uint, sig In) (uint, error) {
	f, err := i.v32()
	if err != nil {
		return 0, err
	}
	var m cmem
	defer m.free()
	sp, sn := sig.c(&m)
	return uint(C.kh_VerifySignatureInit(f, C.CK_SESSION_HANDLE(session), mech.c(&m), C.CK_OBJECT_HANDLE(key), sp, sn)), nil
}

// VerifySignature calls C_VerifySignature through the interface's v3.2
// function list.
func (i Interface) VerifySignature(session uint, data In) (uint, error) {
	f, err := i.v32()
	if err != nil {
		return 0, err
	}
	var m cmem
	defer m.free()
	dp, dn := data.c(&m)
	return uint(C.kh_VerifySignature(f, C.CK_SESSION_HANDLE(session), dp, dn)), nil
}

// VerifySignatureUpdate calls C_VerifySignatureUpdate through the
// interface's v3.2 function list.
func (i Interface) VerifySignatureUpdate(session uint, part In) (uint, error) {
	f, err := i.v32()
	if err != nil {
		return 0, err
	}
	var m cmem
	defer m.free()
	dp, dn := part.c(&m)
	return uint(C.kh_VerifySignatureUpdate(f, C.CK_SESSION_HANDLE(session), dp, dn)), nil
}

// VerifySignatureFinal calls C_VerifySignatureFinal through the interface's
// v3.2 function list.
func (i Interface) VerifySignatureFinal(session uint) (uint, error) {
	f, err := i.v32()
	if err != nil {
		return 0, err
	}
	return uint(C.kh_VerifySignatureFinal(f, C.CK_SESSION_HANDLE(session))), nil
}

// GetInterfaceList calls the exported C_GetInterfaceList.
func (l *Lib) GetInterfaceList(o Out) (rv, count uint, ifaces []Interface, err error) {
	sym := l.sym("C_GetInterfaceList")
	if sym == nil {
		return 0, 0, nil, errors.New("rawp11: the library does not export C_GetInterfaceList")
	}
	var m cmem
	defer m.free()
	p, n := o.c(&m, C.sizeof_CK_INTERFACE)
	r := C.kh_get_interface_list(sym, C.CK_INTERFACE_PTR(p), n)
	if n != nil {
		count = uint(*n)
	}
	if r == C.CKR_OK && p != nil && count <= o.Cap {
		s := unsafe.Slice((*C.CK_INTERFACE)(p), count)
		for k := range s {
			ifaces = append(ifaces, interfaceOf(&s[k]))
		}
	}
	return uint(r), count, ifaces, nil
}

// GetInterface calls the exported C_GetInterface. A nil name or version
// passes NULL; nullOut passes a NULL ppInterface.
func (l *Lib) GetInterface(name *string, version *Version, flags uint, nullOut bool) (uint, Interface, error) {
	sym := l.sym("C_GetInterface")
	if sym == nil {
		return 0, Interface{}, errors.New("rawp11: the library does not export C_GetInterface")
	}
	var m cmem
	defer m.free()
	var cname *C.CK_UTF8CHAR
	if name != nil {
		cname = (*C.CK_UTF8CHAR)(m.bytes(append([]byte(*name), 0)))
	}
	var cv *C.CK_VERSION
	if version != nil {
		cv = (*C.CK_VERSION)(m.alloc(C.sizeof_CK_VERSION))
		cv.major, cv.minor = C.CK_BYTE(version.Major), C.CK_BYTE(version.Minor)
	}
	var out C.CK_INTERFACE_PTR
	op := &out
	if nullOut {
		op = nil
	}
	rv := C.kh_get_interface(sym, cname, cv, op, C.CK_FLAGS(flags))
	if rv != C.CKR_OK || out == nil {
		return uint(rv), Interface{}, nil
	}
	return uint(rv), interfaceOf(out), nil
}
