/*
 * The PKCS#11 entry points of libkeyhold.so.
 *
 * The functions keyhold implements pass straight through to their Go
 * implementations (go_C_<name>, exported by this package); the others answer
 * here. The function lists and interfaces are plain C data, so that an
 * application can obtain them without starting any work in Go.
 *
 * Every entry point first checks the fork guard: see forked_child below.
 */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "_cgo_export.h"

/*
 * The entry points are the library's interface, whatever visibility the C
 * compiler defaults to. (The Go linker also exports the go_C_ functions of
 * exports.go; applications are to call only these, which check the fork
 * guard first.)
 */
#define KEYHOLD_EXPORT __attribute__((visibility("default")))

/* Fork guard */

/*
 * Set in the child of a fork(). The Go runtime inside the library is made of
 * threads of the process that loaded it, and fork() copies only the thread
 * that called it: in the child the runtime's other threads are gone and any
 * lock they held stays held, so a call into Go can hang forever. Once this is
 * set, no entry point enters Go again; the process can load a fresh library
 * only after exec.
 */
static volatile sig_atomic_t forked_child;

/*
 * Whether this process has already explained a refusal on stderr. An atomic
 * flag, because the child may call from several threads of its own; it is
 * lock-free, so it is safe between fork and exec.
 */
static atomic_flag fork_reported = ATOMIC_FLAG_INIT;

static void mark_forked_child(void)
{
	forked_child = 1;
	/* A grandchild is another process, with its own stderr reader. */
	atomic_flag_clear(&fork_reported);
}

__attribute__((constructor)) static void install_fork_guard(void)
{
	/*
	 * pthread_atfork fails only when memory is exhausted while the library
	 * loads; there is no caller to tell then, and the load itself is about
	 * to fail.
	 */
	(void)pthread_atfork(NULL, NULL, mark_forked_child);
}

static const char fork_message[] =
	"libkeyhold: refusing PKCS#11 calls in a process forked after "
	"libkeyhold.so was loaded: the library cannot run in a forked child; "
	"load it after exec, or use it from the parent\n";

static CK_RV refuse_in_forked_child(CK_RV rv)
{
	if (!atomic_flag_test_and_set(&fork_reported)) {
		/*
		 * write(2), not stdio: between fork and exec only
		 * async-signal-safe calls are allowed, and a stdio lock may
		 * have been held by a thread that no longer exists.
		 */
		ssize_t n = write(STDERR_FILENO, fork_message,
				  sizeof fork_message - 1);
		(void)n; /* nothing better to do if stderr is gone */
	}
	return rv;
}

/*
 * A forked child's library was never initialized in that process, and can
 * never be: to the application every call is one made before C_Initialize.
 */
static CK_RV refuse_not_initialized(void)
{
	return refuse_in_forked_child(CKR_CRYPTOKI_NOT_INITIALIZED);
}

/* Functions implemented in Go */

KEYHOLD_EXPORT CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
	/*
	 * CKR_GENERAL_ERROR rather than "not initialized": the call that
	 * initializes cannot succeed, and the application must not retry.
	 */
	if (forked_child)
		return refuse_in_forked_child(CKR_GENERAL_ERROR);
	return go_C_Initialize(pInitArgs);
}

KEYHOLD_EXPORT CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_Finalize(pReserved);
}

KEYHOLD_EXPORT CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_GetInfo(pInfo);
}

KEYHOLD_EXPORT CK_RV C_GetSlotList(CK_BBOOL tokenPresent,
				   CK_SLOT_ID_PTR pSlotList,
				   CK_ULONG_PTR pulCount)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_GetSlotList(tokenPresent, pSlotList, pulCount);
}

KEYHOLD_EXPORT CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_GetSlotInfo(slotID, pInfo);
}

KEYHOLD_EXPORT CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_GetTokenInfo(slotID, pInfo);
}

KEYHOLD_EXPORT CK_RV C_GetMechanismList(CK_SLOT_ID slotID,
					CK_MECHANISM_TYPE_PTR pMechanismList,
					CK_ULONG_PTR pulCount)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_GetMechanismList(slotID, pMechanismList, pulCount);
}

KEYHOLD_EXPORT CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID,
					CK_MECHANISM_TYPE type,
					CK_MECHANISM_INFO_PTR pInfo)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_GetMechanismInfo(slotID, type, pInfo);
}

KEYHOLD_EXPORT CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin,
			       CK_ULONG ulPinLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_InitPIN(hSession, pPin, ulPinLen);
}

KEYHOLD_EXPORT CK_RV C_SetPIN(CK_SESSION_HANDLE hSession,
			      CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
			      CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_SetPIN(hSession, pOldPin, ulOldLen, pNewPin, ulNewLen);
}

KEYHOLD_EXPORT CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags,
				   CK_VOID_PTR pApplication, CK_NOTIFY Notify,
				   CK_SESSION_HANDLE_PTR phSession)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_OpenSession(slotID, flags, pApplication, Notify, phSession);
}

KEYHOLD_EXPORT CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_CloseSession(hSession);
}

KEYHOLD_EXPORT CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_CloseAllSessions(slotID);
}

KEYHOLD_EXPORT CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession,
				      CK_SESSION_INFO_PTR pInfo)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_GetSessionInfo(hSession, pInfo);
}

KEYHOLD_EXPORT CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType,
			     CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_Login(hSession, userType, pPin, ulPinLen);
}

KEYHOLD_EXPORT CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_Logout(hSession);
}

KEYHOLD_EXPORT CK_RV C_CreateObject(CK_SESSION_HANDLE hSession,
				    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
				    CK_OBJECT_HANDLE_PTR phObject)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_CreateObject(hSession, pTemplate, ulCount, phObject);
}

KEYHOLD_EXPORT CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession,
				     CK_OBJECT_HANDLE hObject)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_DestroyObject(hSession, hObject);
}

KEYHOLD_EXPORT CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin,
				 CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_InitToken(slotID, pPin, ulPinLen, pLabel);
}

KEYHOLD_EXPORT CK_RV C_CopyObject(CK_SESSION_HANDLE hSession,
				  CK_OBJECT_HANDLE hObject,
				  CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
				  CK_OBJECT_HANDLE_PTR phNewObject)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_CopyObject(hSession, hObject, pTemplate, ulCount,
			       phNewObject);
}

KEYHOLD_EXPORT CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession,
				     CK_OBJECT_HANDLE hObject,
				     CK_ULONG_PTR pulSize)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_GetObjectSize(hSession, hObject, pulSize);
}

KEYHOLD_EXPORT CK_RV C_DigestKey(CK_SESSION_HANDLE hSession,
				 CK_OBJECT_HANDLE hKey)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_DigestKey(hSession, hKey);
}

KEYHOLD_EXPORT CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession,
					 CK_OBJECT_HANDLE hObject,
					 CK_ATTRIBUTE_PTR pTemplate,
					 CK_ULONG ulCount)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_GetAttributeValue(hSession, hObject, pTemplate, ulCount);
}

KEYHOLD_EXPORT CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession,
					 CK_OBJECT_HANDLE hObject,
					 CK_ATTRIBUTE_PTR pTemplate,
					 CK_ULONG ulCount)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_SetAttributeValue(hSession, hObject, pTemplate, ulCount);
}

KEYHOLD_EXPORT CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession,
				       CK_ATTRIBUTE_PTR pTemplate,
				       CK_ULONG ulCount)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_FindObjectsInit(hSession, pTemplate, ulCount);
}

/*
 * C_FindObjectsInit of the v2.40 list, which applications get from
 * C_GetFunctionList: its searches leave out objects of the key types v3.2
 * added (ML-DSA, ML-KEM). Such an application has no name for them, and
 * some give up on a whole token when a search returns a key type they do
 * not know (libp11, under OpenSSL's engine, finds no key at all).
 */
static CK_RV find_objects_init_v2_40(CK_SESSION_HANDLE hSession,
				     CK_ATTRIBUTE_PTR pTemplate,
				     CK_ULONG ulCount)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_FindObjectsInit_v2_40(hSession, pTemplate, ulCount);
}

KEYHOLD_EXPORT CK_RV C_FindObjects(CK_SESSION_HANDLE hSession,
				   CK_OBJECT_HANDLE_PTR phObject,
				   CK_ULONG ulMaxObjectCount,
				   CK_ULONG_PTR pulObjectCount)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_FindObjects(hSession, phObject, ulMaxObjectCount,
				pulObjectCount);
}

KEYHOLD_EXPORT CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_FindObjectsFinal(hSession);
}

KEYHOLD_EXPORT CK_RV C_EncryptInit(CK_SESSION_HANDLE hSession,
				   CK_MECHANISM_PTR pMechanism,
				   CK_OBJECT_HANDLE hKey)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_EncryptInit(hSession, pMechanism, hKey);
}

KEYHOLD_EXPORT CK_RV C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
			       CK_ULONG ulDataLen, CK_BYTE_PTR pEncryptedData,
			       CK_ULONG_PTR pulEncryptedDataLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_Encrypt(hSession, pData, ulDataLen, pEncryptedData,
			    pulEncryptedDataLen);
}

KEYHOLD_EXPORT CK_RV C_EncryptUpdate(CK_SESSION_HANDLE hSession,
				     CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
				     CK_BYTE_PTR pEncryptedPart,
				     CK_ULONG_PTR pulEncryptedPartLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_EncryptUpdate(hSession, pPart, ulPartLen, pEncryptedPart,
				  pulEncryptedPartLen);
}

KEYHOLD_EXPORT CK_RV C_EncryptFinal(CK_SESSION_HANDLE hSession,
				    CK_BYTE_PTR pLastEncryptedPart,
				    CK_ULONG_PTR pulLastEncryptedPartLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_EncryptFinal(hSession, pLastEncryptedPart,
				 pulLastEncryptedPartLen);
}

KEYHOLD_EXPORT CK_RV C_DecryptInit(CK_SESSION_HANDLE hSession,
				   CK_MECHANISM_PTR pMechanism,
				   CK_OBJECT_HANDLE hKey)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_DecryptInit(hSession, pMechanism, hKey);
}

KEYHOLD_EXPORT CK_RV C_Decrypt(CK_SESSION_HANDLE hSession,
			       CK_BYTE_PTR pEncryptedData,
			       CK_ULONG ulEncryptedDataLen, CK_BYTE_PTR pData,
			       CK_ULONG_PTR pulDataLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_Decrypt(hSession, pEncryptedData, ulEncryptedDataLen, pData,
			    pulDataLen);
}

KEYHOLD_EXPORT CK_RV C_DecryptUpdate(CK_SESSION_HANDLE hSession,
				     CK_BYTE_PTR pEncryptedPart,
				     CK_ULONG ulEncryptedPartLen,
				     CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_DecryptUpdate(hSession, pEncryptedPart, ulEncryptedPartLen,
				  pPart, pulPartLen);
}

KEYHOLD_EXPORT CK_RV C_DecryptFinal(CK_SESSION_HANDLE hSession,
				    CK_BYTE_PTR pLastPart,
				    CK_ULONG_PTR pulLastPartLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_DecryptFinal(hSession, pLastPart, pulLastPartLen);
}

KEYHOLD_EXPORT CK_RV C_DigestInit(CK_SESSION_HANDLE hSession,
				  CK_MECHANISM_PTR pMechanism)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_DigestInit(hSession, pMechanism);
}

KEYHOLD_EXPORT CK_RV C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
			      CK_ULONG ulDataLen, CK_BYTE_PTR pDigest,
			      CK_ULONG_PTR pulDigestLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_Digest(hSession, pData, ulDataLen, pDigest, pulDigestLen);
}

KEYHOLD_EXPORT CK_RV C_DigestUpdate(CK_SESSION_HANDLE hSession,
				    CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_DigestUpdate(hSession, pPart, ulPartLen);
}

KEYHOLD_EXPORT CK_RV C_DigestFinal(CK_SESSION_HANDLE hSession,
				   CK_BYTE_PTR pDigest,
				   CK_ULONG_PTR pulDigestLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_DigestFinal(hSession, pDigest, pulDigestLen);
}

KEYHOLD_EXPORT CK_RV C_SignInit(CK_SESSION_HANDLE hSession,
				CK_MECHANISM_PTR pMechanism,
				CK_OBJECT_HANDLE hKey)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_SignInit(hSession, pMechanism, hKey);
}

KEYHOLD_EXPORT CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
			    CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
			    CK_ULONG_PTR pulSignatureLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_Sign(hSession, pData, ulDataLen, pSignature,
			 pulSignatureLen);
}

KEYHOLD_EXPORT CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
				  CK_ULONG ulPartLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_SignUpdate(hSession, pPart, ulPartLen);
}

KEYHOLD_EXPORT CK_RV C_SignFinal(CK_SESSION_HANDLE hSession,
				 CK_BYTE_PTR pSignature,
				 CK_ULONG_PTR pulSignatureLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_SignFinal(hSession, pSignature, pulSignatureLen);
}

KEYHOLD_EXPORT CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession,
				  CK_MECHANISM_PTR pMechanism,
				  CK_OBJECT_HANDLE hKey)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_VerifyInit(hSession, pMechanism, hKey);
}

KEYHOLD_EXPORT CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
			      CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
			      CK_ULONG ulSignatureLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_Verify(hSession, pData, ulDataLen, pSignature,
			   ulSignatureLen);
}

KEYHOLD_EXPORT CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession,
				    CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_VerifyUpdate(hSession, pPart, ulPartLen);
}

KEYHOLD_EXPORT CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession,
				   CK_BYTE_PTR pSignature,
				   CK_ULONG ulSignatureLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_VerifyFinal(hSession, pSignature, ulSignatureLen);
}

KEYHOLD_EXPORT CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession,
				   CK_MECHANISM_PTR pMechanism,
				   CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
				   CK_OBJECT_HANDLE_PTR phKey)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_GenerateKey(hSession, pMechanism, pTemplate, ulCount,
				phKey);
}

KEYHOLD_EXPORT CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession,
				       CK_MECHANISM_PTR pMechanism,
				       CK_ATTRIBUTE_PTR pPublicKeyTemplate,
				       CK_ULONG ulPublicKeyAttributeCount,
				       CK_ATTRIBUTE_PTR pPrivateKeyTemplate,
				       CK_ULONG ulPrivateKeyAttributeCount,
				       CK_OBJECT_HANDLE_PTR phPublicKey,
				       CK_OBJECT_HANDLE_PTR phPrivateKey)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_GenerateKeyPair(hSession, pMechanism, pPublicKeyTemplate,
				    ulPublicKeyAttributeCount,
				    pPrivateKeyTemplate,
				    ulPrivateKeyAttributeCount, phPublicKey,
				    phPrivateKey);
}

KEYHOLD_EXPORT CK_RV C_WrapKey(CK_SESSION_HANDLE hSession,
			       CK_MECHANISM_PTR pMechanism,
			       CK_OBJECT_HANDLE hWrappingKey,
			       CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
			       CK_ULONG_PTR pulWrappedKeyLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_WrapKey(hSession, pMechanism, hWrappingKey, hKey,
			    pWrappedKey, pulWrappedKeyLen);
}

KEYHOLD_EXPORT CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession,
				 CK_MECHANISM_PTR pMechanism,
				 CK_OBJECT_HANDLE hUnwrappingKey,
				 CK_BYTE_PTR pWrappedKey,
				 CK_ULONG ulWrappedKeyLen,
				 CK_ATTRIBUTE_PTR pTemplate,
				 CK_ULONG ulAttributeCount,
				 CK_OBJECT_HANDLE_PTR phKey)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_UnwrapKey(hSession, pMechanism, hUnwrappingKey,
			      pWrappedKey, ulWrappedKeyLen, pTemplate,
			      ulAttributeCount, phKey);
}

KEYHOLD_EXPORT CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession,
				 CK_MECHANISM_PTR pMechanism,
				 CK_OBJECT_HANDLE hBaseKey,
				 CK_ATTRIBUTE_PTR pTemplate,
				 CK_ULONG ulAttributeCount,
				 CK_OBJECT_HANDLE_PTR phKey)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_DeriveKey(hSession, pMechanism, hBaseKey, pTemplate,
			      ulAttributeCount, phKey);
}

KEYHOLD_EXPORT CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed,
				  CK_ULONG ulSeedLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_SeedRandom(hSession, pSeed, ulSeedLen);
}

KEYHOLD_EXPORT CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession,
				      CK_BYTE_PTR RandomData,
				      CK_ULONG ulRandomLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_GenerateRandom(hSession, RandomData, ulRandomLen);
}

/* v3.2: key encapsulation */

KEYHOLD_EXPORT CK_RV C_EncapsulateKey(CK_SESSION_HANDLE hSession,
				      CK_MECHANISM_PTR pMechanism,
				      CK_OBJECT_HANDLE hPublicKey,
				      CK_ATTRIBUTE_PTR pTemplate,
				      CK_ULONG ulAttributeCount,
				      CK_BYTE_PTR pCiphertext,
				      CK_ULONG_PTR pulCiphertextLen,
				      CK_OBJECT_HANDLE_PTR phKey)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_EncapsulateKey(hSession, pMechanism, hPublicKey, pTemplate,
				   ulAttributeCount, pCiphertext,
				   pulCiphertextLen, phKey);
}

KEYHOLD_EXPORT CK_RV C_DecapsulateKey(CK_SESSION_HANDLE hSession,
				      CK_MECHANISM_PTR pMechanism,
				      CK_OBJECT_HANDLE hPrivateKey,
				      CK_ATTRIBUTE_PTR pTemplate,
				      CK_ULONG ulAttributeCount,
				      CK_BYTE_PTR pCiphertext,
				      CK_ULONG ulCiphertextLen,
				      CK_OBJECT_HANDLE_PTR phKey)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_DecapsulateKey(hSession, pMechanism, hPrivateKey, pTemplate,
				   ulAttributeCount, pCiphertext,
				   ulCiphertextLen, phKey);
}

/* v3.2: verification with the signature given at initialization */

KEYHOLD_EXPORT CK_RV C_VerifySignatureInit(CK_SESSION_HANDLE hSession,
					   CK_MECHANISM_PTR pMechanism,
					   CK_OBJECT_HANDLE hKey,
					   CK_BYTE_PTR pSignature,
					   CK_ULONG ulSignatureLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_VerifySignatureInit(hSession, pMechanism, hKey, pSignature,
					ulSignatureLen);
}

KEYHOLD_EXPORT CK_RV C_VerifySignature(CK_SESSION_HANDLE hSession,
				       CK_BYTE_PTR pData, CK_ULONG ulDataLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_VerifySignature(hSession, pData, ulDataLen);
}

KEYHOLD_EXPORT CK_RV C_VerifySignatureUpdate(CK_SESSION_HANDLE hSession,
					     CK_BYTE_PTR pPart,
					     CK_ULONG ulPartLen)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_VerifySignatureUpdate(hSession, pPart, ulPartLen);
}

KEYHOLD_EXPORT CK_RV C_VerifySignatureFinal(CK_SESSION_HANDLE hSession)
{
	if (forked_child)
		return refuse_not_initialized();
	return go_C_VerifySignatureFinal(hSession);
}

/* Functions keyhold does not implement */

/*
 * Before C_Initialize every function but C_Initialize, C_GetFunctionList
 * and C_GetInterface* answers CKR_CRYPTOKI_NOT_INITIALIZED (PKCS#11 2.40
 * section 5.1), those it does not implement included: a strict application
 * probes with them.
 */
static CK_RV not_supported(void)
{
	if (forked_child)
		return refuse_not_initialized();
	if (!go_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

/* These answer the same whatever they are given. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"

KEYHOLD_EXPORT CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession,
					 CK_BYTE_PTR pOperationState,
					 CK_ULONG_PTR pulOperationStateLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession,
					 CK_BYTE_PTR pOperationState,
					 CK_ULONG ulOperationStateLen,
					 CK_OBJECT_HANDLE hEncryptionKey,
					 CK_OBJECT_HANDLE hAuthenticationKey)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_SignRecoverInit(CK_SESSION_HANDLE hSession,
				       CK_MECHANISM_PTR pMechanism,
				       CK_OBJECT_HANDLE hKey)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_SignRecover(CK_SESSION_HANDLE hSession,
				   CK_BYTE_PTR pData, CK_ULONG ulDataLen,
				   CK_BYTE_PTR pSignature,
				   CK_ULONG_PTR pulSignatureLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE hSession,
					 CK_MECHANISM_PTR pMechanism,
					 CK_OBJECT_HANDLE hKey)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_VerifyRecover(CK_SESSION_HANDLE hSession,
				     CK_BYTE_PTR pSignature,
				     CK_ULONG ulSignatureLen, CK_BYTE_PTR pData,
				     CK_ULONG_PTR pulDataLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE hSession,
					   CK_BYTE_PTR pPart,
					   CK_ULONG ulPartLen,
					   CK_BYTE_PTR pEncryptedPart,
					   CK_ULONG_PTR pulEncryptedPartLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE hSession,
					   CK_BYTE_PTR pEncryptedPart,
					   CK_ULONG ulEncryptedPartLen,
					   CK_BYTE_PTR pPart,
					   CK_ULONG_PTR pulPartLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE hSession,
					 CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
					 CK_BYTE_PTR pEncryptedPart,
					 CK_ULONG_PTR pulEncryptedPartLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE hSession,
					   CK_BYTE_PTR pEncryptedPart,
					   CK_ULONG ulEncryptedPartLen,
					   CK_BYTE_PTR pPart,
					   CK_ULONG_PTR pulPartLen)
{
	return not_supported();
}

/*
 * The specification keeps these two from the days of parallel sessions and
 * fixes their answer for every library that has none.
 */
KEYHOLD_EXPORT CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
	if (forked_child)
		return refuse_not_initialized();
	if (!go_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	return CKR_FUNCTION_NOT_PARALLEL;
}

KEYHOLD_EXPORT CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession)
{
	if (forked_child)
		return refuse_not_initialized();
	if (!go_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	return CKR_FUNCTION_NOT_PARALLEL;
}

KEYHOLD_EXPORT CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot,
					CK_VOID_PTR pReserved)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_LoginUser(CK_SESSION_HANDLE hSession,
				 CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
				 CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pUsername,
				 CK_ULONG ulUsernameLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_SessionCancel(CK_SESSION_HANDLE hSession,
				     CK_FLAGS flags)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_MessageEncryptInit(CK_SESSION_HANDLE hSession,
					  CK_MECHANISM_PTR pMechanism,
					  CK_OBJECT_HANDLE hKey)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_EncryptMessage(CK_SESSION_HANDLE hSession,
				      CK_VOID_PTR pParameter,
				      CK_ULONG ulParameterLen,
				      CK_BYTE_PTR pAssociatedData,
				      CK_ULONG ulAssociatedDataLen,
				      CK_BYTE_PTR pPlaintext,
				      CK_ULONG ulPlaintextLen,
				      CK_BYTE_PTR pCiphertext,
				      CK_ULONG_PTR pulCiphertextLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_EncryptMessageBegin(CK_SESSION_HANDLE hSession,
					   CK_VOID_PTR pParameter,
					   CK_ULONG ulParameterLen,
					   CK_BYTE_PTR pAssociatedData,
					   CK_ULONG ulAssociatedDataLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_EncryptMessageNext(CK_SESSION_HANDLE hSession,
					  CK_VOID_PTR pParameter,
					  CK_ULONG ulParameterLen,
					  CK_BYTE_PTR pPlaintextPart,
					  CK_ULONG ulPlaintextPartLen,
					  CK_BYTE_PTR pCiphertextPart,
					  CK_ULONG_PTR pulCiphertextPartLen,
					  CK_FLAGS flags)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_MessageEncryptFinal(CK_SESSION_HANDLE hSession)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_MessageDecryptInit(CK_SESSION_HANDLE hSession,
					  CK_MECHANISM_PTR pMechanism,
					  CK_OBJECT_HANDLE hKey)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_DecryptMessage(CK_SESSION_HANDLE hSession,
				      CK_VOID_PTR pParameter,
				      CK_ULONG ulParameterLen,
				      CK_BYTE_PTR pAssociatedData,
				      CK_ULONG ulAssociatedDataLen,
				      CK_BYTE_PTR pCiphertext,
				      CK_ULONG ulCiphertextLen,
				      CK_BYTE_PTR pPlaintext,
				      CK_ULONG_PTR pulPlaintextLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_DecryptMessageBegin(CK_SESSION_HANDLE hSession,
					   CK_VOID_PTR pParameter,
					   CK_ULONG ulParameterLen,
					   CK_BYTE_PTR pAssociatedData,
					   CK_ULONG ulAssociatedDataLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_DecryptMessageNext(CK_SESSION_HANDLE hSession,
					  CK_VOID_PTR pParameter,
					  CK_ULONG ulParameterLen,
					  CK_BYTE_PTR pCiphertextPart,
					  CK_ULONG ulCiphertextPartLen,
					  CK_BYTE_PTR pPlaintextPart,
					  CK_ULONG_PTR pulPlaintextPartLen,
					  CK_FLAGS flags)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_MessageDecryptFinal(CK_SESSION_HANDLE hSession)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_MessageSignInit(CK_SESSION_HANDLE hSession,
				       CK_MECHANISM_PTR pMechanism,
				       CK_OBJECT_HANDLE hKey)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_SignMessage(CK_SESSION_HANDLE hSession,
				   CK_VOID_PTR pParameter,
				   CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
				   CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
				   CK_ULONG_PTR pulSignatureLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_SignMessageBegin(CK_SESSION_HANDLE hSession,
					CK_VOID_PTR pParameter,
					CK_ULONG ulParameterLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_SignMessageNext(CK_SESSION_HANDLE hSession,
				       CK_VOID_PTR pParameter,
				       CK_ULONG ulParameterLen,
				       CK_BYTE_PTR pData, CK_ULONG ulDataLen,
				       CK_BYTE_PTR pSignature,
				       CK_ULONG_PTR pulSignatureLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_MessageSignFinal(CK_SESSION_HANDLE hSession)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_MessageVerifyInit(CK_SESSION_HANDLE hSession,
					 CK_MECHANISM_PTR pMechanism,
					 CK_OBJECT_HANDLE hKey)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_VerifyMessage(CK_SESSION_HANDLE hSession,
				     CK_VOID_PTR pParameter,
				     CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
				     CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
				     CK_ULONG ulSignatureLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_VerifyMessageBegin(CK_SESSION_HANDLE hSession,
					  CK_VOID_PTR pParameter,
					  CK_ULONG ulParameterLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_VerifyMessageNext(CK_SESSION_HANDLE hSession,
					 CK_VOID_PTR pParameter,
					 CK_ULONG ulParameterLen,
					 CK_BYTE_PTR pData, CK_ULONG ulDataLen,
					 CK_BYTE_PTR pSignature,
					 CK_ULONG ulSignatureLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_MessageVerifyFinal(CK_SESSION_HANDLE hSession)
{
	return not_supported();
}

/*
 * v3.2 functions keyhold does not implement: validation flags, asynchronous
 * operations and authenticated wrapping.
 */

KEYHOLD_EXPORT CK_RV C_GetSessionValidationFlags(
	CK_SESSION_HANDLE hSession, CK_SESSION_VALIDATION_FLAGS_TYPE type,
	CK_FLAGS_PTR pFlags)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_AsyncComplete(CK_SESSION_HANDLE hSession,
				     CK_UTF8CHAR_PTR pFunctionName,
				     CK_ASYNC_DATA_PTR pResult)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_AsyncGetID(CK_SESSION_HANDLE hSession,
				  CK_UTF8CHAR_PTR pFunctionName,
				  CK_ULONG_PTR pulID)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_AsyncJoin(CK_SESSION_HANDLE hSession,
				 CK_UTF8CHAR_PTR pFunctionName, CK_ULONG ulID,
				 CK_BYTE_PTR pData, CK_ULONG ulData)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_WrapKeyAuthenticated(CK_SESSION_HANDLE hSession,
					    CK_MECHANISM_PTR pMechanism,
					    CK_OBJECT_HANDLE hWrappingKey,
					    CK_OBJECT_HANDLE hKey,
					    CK_BYTE_PTR pAssociatedData,
					    CK_ULONG ulAssociatedDataLen,
					    CK_BYTE_PTR pWrappedKey,
					    CK_ULONG_PTR pulWrappedKeyLen)
{
	return not_supported();
}

KEYHOLD_EXPORT CK_RV C_UnwrapKeyAuthenticated(
	CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
	CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
	CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
	CK_ULONG ulAttributeCount, CK_BYTE_PTR pAssociatedData,
	CK_ULONG ulAssociatedDataLen, CK_OBJECT_HANDLE_PTR phKey)
{
	return not_supported();
}

#pragma GCC diagnostic pop

/* Function lists and interfaces */

/*
 * The 68 functions of v2.40, in every list: the v3.0 and v3.2 lists begin
 * with them.
 */
#define KEYHOLD_V2_40_FUNCTIONS(find_objects_init) \
	.C_Initialize = C_Initialize, \
	.C_Finalize = C_Finalize, \
	.C_GetInfo = C_GetInfo, \
	.C_GetFunctionList = C_GetFunctionList, \
	.C_GetSlotList = C_GetSlotList, \
	.C_GetSlotInfo = C_GetSlotInfo, \
	.C_GetTokenInfo = C_GetTokenInfo, \
	.C_GetMechanismList = C_GetMechanismList, \
	.C_GetMechanismInfo = C_GetMechanismInfo, \
	.C_InitToken = C_InitToken, \
	.C_InitPIN = C_InitPIN, \
	.C_SetPIN = C_SetPIN, \
	.C_OpenSession = C_OpenSession, \
	.C_CloseSession = C_CloseSession, \
	.C_CloseAllSessions = C_CloseAllSessions, \
	.C_GetSessionInfo = C_GetSessionInfo, \
	.C_GetOperationState = C_GetOperationState, \
	.C_SetOperationState = C_SetOperationState, \
	.C_Login = C_Login, \
	.C_Logout = C_Logout, \
	.C_CreateObject = C_CreateObject, \
	.C_CopyObject = C_CopyObject, \
	.C_DestroyObject = C_DestroyObject, \
	.C_GetObjectSize = C_GetObjectSize, \
	.C_GetAttributeValue = C_GetAttributeValue, \
	.C_SetAttributeValue = C_SetAttributeValue, \
	.C_FindObjectsInit = find_objects_init, \
	.C_FindObjects = C_FindObjects, \
	.C_FindObjectsFinal = C_FindObjectsFinal, \
	.C_EncryptInit = C_EncryptInit, \
	.C_Encrypt = C_Encrypt, \
	.C_EncryptUpdate = C_EncryptUpdate, \
	.C_EncryptFinal = C_EncryptFinal, \
	.C_DecryptInit = C_DecryptInit, \
	.C_Decrypt = C_Decrypt, \
	.C_DecryptUpdate = C_DecryptUpdate, \
	.C_DecryptFinal = C_DecryptFinal, \
	.C_DigestInit = C_DigestInit, \
	.C_Digest = C_Digest, \
	.C_DigestUpdate = C_DigestUpdate, \
	.C_DigestKey = C_DigestKey, \
	.C_DigestFinal = C_DigestFinal, \
	.C_SignInit = C_SignInit, \
	.C_Sign = C_Sign, \
	.C_SignUpdate = C_SignUpdate, \
	.C_SignFinal = C_SignFinal, \
	.C_SignRecoverInit = C_SignRecoverInit, \
	.C_SignRecover = C_SignRecover, \
	.C_VerifyInit = C_VerifyInit, \
	.C_Verify = C_Verify, \
	.C_VerifyUpdate = C_VerifyUpdate, \
	.C_VerifyFinal = C_VerifyFinal, \
	.C_VerifyRecoverInit = C_VerifyRecoverInit, \
	.C_VerifyRecover = C_VerifyRecover, \
	.C_DigestEncryptUpdate = C_DigestEncryptUpdate, \
	.C_DecryptDigestUpdate = C_DecryptDigestUpdate, \
	.C_SignEncryptUpdate = C_SignEncryptUpdate, \
	.C_DecryptVerifyUpdate = C_DecryptVerifyUpdate, \
	.C_GenerateKey = C_GenerateKey, \
	.C_GenerateKeyPair = C_GenerateKeyPair, \
	.C_WrapKey = C_WrapKey, \
	.C_UnwrapKey = C_UnwrapKey, \
	.C_DeriveKey = C_DeriveKey, \
	.C_SeedRandom = C_SeedRandom, \
	.C_GenerateRandom = C_GenerateRandom, \
	.C_GetFunctionStatus = C_GetFunctionStatus, \
	.C_CancelFunction = C_CancelFunction, \
	.C_WaitForSlotEvent = C_WaitForSlotEvent,

/* The 24 functions v3.0 added, in the v3.0 and v3.2 lists. */
#define KEYHOLD_V3_0_FUNCTIONS \
	.C_GetInterfaceList = C_GetInterfaceList, \
	.C_GetInterface = C_GetInterface, \
	.C_LoginUser = C_LoginUser, \
	.C_SessionCancel = C_SessionCancel, \
	.C_MessageEncryptInit = C_MessageEncryptInit, \
	.C_EncryptMessage = C_EncryptMessage, \
	.C_EncryptMessageBegin = C_EncryptMessageBegin, \
	.C_EncryptMessageNext = C_EncryptMessageNext, \
	.C_MessageEncryptFinal = C_MessageEncryptFinal, \
	.C_MessageDecryptInit = C_MessageDecryptInit, \
	.C_DecryptMessage = C_DecryptMessage, \
	.C_DecryptMessageBegin = C_DecryptMessageBegin, \
	.C_DecryptMessageNext = C_DecryptMessageNext, \
	.C_MessageDecryptFinal = C_MessageDecryptFinal, \
	.C_MessageSignInit = C_MessageSignInit, \
	.C_SignMessage = C_SignMessage, \
	.C_SignMessageBegin = C_SignMessageBegin, \
	.C_SignMessageNext = C_SignMessageNext, \
	.C_MessageSignFinal = C_MessageSignFinal, \
	.C_MessageVerifyInit = C_MessageVerifyInit, \
	.C_VerifyMessage = C_VerifyMessage, \
	.C_VerifyMessageBegin = C_VerifyMessageBegin, \
	.C_VerifyMessageNext = C_VerifyMessageNext, \
	.C_MessageVerifyFinal = C_MessageVerifyFinal,

static CK_FUNCTION_LIST function_list_2_40 = {
	.version = { 2, 40 },
	KEYHOLD_V2_40_FUNCTIONS(find_objects_init_v2_40)
};

static CK_FUNCTION_LIST_3_0 function_list_3_0 = {
	.version = { 3, 0 },
	KEYHOLD_V2_40_FUNCTIONS(C_FindObjectsInit)
	KEYHOLD_V3_0_FUNCTIONS
};

static CK_FUNCTION_LIST_3_2 function_list_3_2 = {
	.version = { 3, 2 },
	KEYHOLD_V2_40_FUNCTIONS(C_FindObjectsInit)
	KEYHOLD_V3_0_FUNCTIONS
	.C_EncapsulateKey = C_EncapsulateKey,
	.C_DecapsulateKey = C_DecapsulateKey,
	.C_VerifySignatureInit = C_VerifySignatureInit,
	.C_VerifySignature = C_VerifySignature,
	.C_VerifySignatureUpdate = C_VerifySignatureUpdate,
	.C_VerifySignatureFinal = C_VerifySignatureFinal,
	.C_GetSessionValidationFlags = C_GetSessionValidationFlags,
	.C_AsyncComplete = C_AsyncComplete,
	.C_AsyncGetID = C_AsyncGetID,
	.C_AsyncJoin = C_AsyncJoin,
	.C_WrapKeyAuthenticated = C_WrapKeyAuthenticated,
	.C_UnwrapKeyAuthenticated = C_UnwrapKeyAuthenticated,
};

static CK_CHAR interface_name[] = "PKCS 11";

/*
 * The first interface is the default one, the answer to a C_GetInterface
 * call that names no version. It stays v3.0: an application that asks for
 * no version gets what it got before v3.2 was offered, and one that wants
 * the v3.2 functions asks for version 3.2.
 */
static CK_INTERFACE interfaces[] = {
	{ interface_name, &function_list_3_0, 0 },
	{ interface_name, &function_list_3_2, 0 },
	{ interface_name, &function_list_2_40, 0 },
};

#define INTERFACE_COUNT (sizeof interfaces / sizeof interfaces[0])

/*
 * The three functions below only hand out the C data above; they never enter
 * Go, so they answer in a forked child as well.
 */

/*
 * Version 2.40, not 3.0: applications written for v2.x check the major
 * version of this list. Callers that want 3.0 ask C_GetInterface.
 */
KEYHOLD_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (ppFunctionList == NULL_PTR)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &function_list_2_40;
	return CKR_OK;
}

KEYHOLD_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList,
					CK_ULONG_PTR pulCount)
{
	CK_ULONG capacity;
	size_t i;

	if (pulCount == NULL_PTR)
		return CKR_ARGUMENTS_BAD;
	capacity = *pulCount;
	*pulCount = INTERFACE_COUNT;
	if (pInterfacesList == NULL_PTR)
		return CKR_OK;
	if (capacity < INTERFACE_COUNT)
		return CKR_BUFFER_TOO_SMALL;
	for (i = 0; i < INTERFACE_COUNT; i++)
		pInterfacesList[i] = interfaces[i];
	return CKR_OK;
}

KEYHOLD_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName,
				    CK_VERSION_PTR pVersion,
				    CK_INTERFACE_PTR_PTR ppInterface,
				    CK_FLAGS flags)
{
	size_t i;

	if (ppInterface == NULL_PTR)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < INTERFACE_COUNT; i++) {
		CK_INTERFACE *iface = &interfaces[i];
		/* Every function list begins with its version. */
		const CK_VERSION *version = iface->pFunctionList;

		if (pInterfaceName != NULL_PTR &&
		    strcmp((const char *)pInterfaceName,
			   (const char *)iface->pInterfaceName) != 0)
			continue;
		if (pVersion != NULL_PTR &&
		    (pVersion->major != version->major ||
		     pVersion->minor != version->minor))
			continue;
		/* The caller's flags are requirements: all must be offered. */
		if ((iface->flags & flags) != flags)
			continue;
		*ppInterface = iface;
		return CKR_OK;
	}
	return CKR_ARGUMENTS_BAD;
}
