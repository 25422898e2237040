/*
 * keyhold's own declaration of the PKCS#11 (Cryptoki) v3.2 interface, an
 * OASIS standard, for Unix ABIs: structures have their natural alignment (no
 * packing) and CK_ULONG is the platform's unsigned long.
 *
 * It declares the types, structures and functions that libkeyhold.so
 * implements and the few constants its C code uses. The Go side takes the
 * specification's other constants from package ck.
 */
#ifndef KEYHOLD_PKCS11_H
#define KEYHOLD_PKCS11_H

#ifdef __cplusplus
extern "C" {
#endif

/* Base types */

typedef unsigned char CK_BYTE;
typedef CK_BYTE CK_CHAR;
typedef CK_BYTE CK_UTF8CHAR;
typedef CK_BYTE CK_BBOOL;
typedef unsigned long CK_ULONG;
typedef long CK_LONG;
typedef CK_ULONG CK_FLAGS;
typedef CK_FLAGS *CK_FLAGS_PTR;

typedef CK_BYTE *CK_BYTE_PTR;
typedef CK_CHAR *CK_CHAR_PTR;
typedef CK_UTF8CHAR *CK_UTF8CHAR_PTR;
typedef CK_BBOOL *CK_BBOOL_PTR;
typedef CK_ULONG *CK_ULONG_PTR;
typedef void *CK_VOID_PTR;
typedef CK_VOID_PTR *CK_VOID_PTR_PTR;

typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_SLOT_ID;
typedef CK_ULONG CK_SESSION_HANDLE;
typedef CK_ULONG CK_OBJECT_HANDLE;
typedef CK_ULONG CK_OBJECT_CLASS;
typedef CK_ULONG CK_KEY_TYPE;
typedef CK_ULONG CK_CERTIFICATE_TYPE;
typedef CK_ULONG CK_MECHANISM_TYPE;
typedef CK_ULONG CK_ATTRIBUTE_TYPE;
typedef CK_ULONG CK_USER_TYPE;
typedef CK_ULONG CK_STATE;
typedef CK_ULONG CK_NOTIFICATION;
typedef CK_ULONG CK_RSA_PKCS_MGF_TYPE;
typedef CK_ULONG CK_RSA_PKCS_OAEP_SOURCE_TYPE;
typedef CK_ULONG CK_SESSION_VALIDATION_FLAGS_TYPE;
typedef CK_ULONG CK_HEDGE_TYPE;

typedef CK_SLOT_ID *CK_SLOT_ID_PTR;
typedef CK_SESSION_HANDLE *CK_SESSION_HANDLE_PTR;
typedef CK_OBJECT_HANDLE *CK_OBJECT_HANDLE_PTR;
typedef CK_OBJECT_CLASS *CK_OBJECT_CLASS_PTR;
typedef CK_KEY_TYPE *CK_KEY_TYPE_PTR;
typedef CK_MECHANISM_TYPE *CK_MECHANISM_TYPE_PTR;
typedef CK_ATTRIBUTE_TYPE *CK_ATTRIBUTE_TYPE_PTR;
typedef CK_RSA_PKCS_MGF_TYPE *CK_RSA_PKCS_MGF_TYPE_PTR;
typedef CK_RSA_PKCS_OAEP_SOURCE_TYPE *CK_RSA_PKCS_OAEP_SOURCE_TYPE_PTR;

/* Constants the C code and the C test programs use */

#ifndef NULL_PTR
#define NULL_PTR 0
#endif

#define CK_FALSE 0
#define CK_TRUE 1

#define CK_INVALID_HANDLE 0UL

#define CKR_OK 0x00000000UL
#define CKR_GENERAL_ERROR 0x00000005UL
#define CKR_ARGUMENTS_BAD 0x00000007UL
#define CKR_FUNCTION_NOT_PARALLEL 0x00000051UL
#define CKR_FUNCTION_NOT_SUPPORTED 0x00000054UL
#define CKR_BUFFER_TOO_SMALL 0x00000150UL
#define CKR_CRYPTOKI_NOT_INITIALIZED 0x00000190UL
#define CKR_CRYPTOKI_ALREADY_INITIALIZED 0x00000191UL

/* CK_C_INITIALIZE_ARGS.flags */
#define CKF_LIBRARY_CANT_CREATE_OS_THREADS 0x00000001UL
#define CKF_OS_LOCKING_OK 0x00000002UL

/* CK_SESSION_INFO.flags and C_OpenSession's flags */
#define CKF_RW_SESSION 0x00000002UL
#define CKF_SERIAL_SESSION 0x00000004UL

/* CK_INTERFACE.flags */
#define CKF_INTERFACE_FORK_SAFE 0x00000001UL

/* Information structures */

typedef struct CK_VERSION {
	CK_BYTE major;
	CK_BYTE minor;
} CK_VERSION;
typedef CK_VERSION *CK_VERSION_PTR;

typedef struct CK_INFO {
	CK_VERSION cryptokiVersion;
	CK_UTF8CHAR manufacturerID[32];
	CK_FLAGS flags;
	CK_UTF8CHAR libraryDescription[32];
	CK_VERSION libraryVersion;
} CK_INFO;
typedef CK_INFO *CK_INFO_PTR;

typedef struct CK_SLOT_INFO {
	CK_UTF8CHAR slotDescription[64];
	CK_UTF8CHAR manufacturerID[32];
	CK_FLAGS flags;
	CK_VERSION hardwareVersion;
	CK_VERSION firmwareVersion;
} CK_SLOT_INFO;
typedef CK_SLOT_INFO *CK_SLOT_INFO_PTR;

typedef struct CK_TOKEN_INFO {
	CK_UTF8CHAR label[32];
	CK_UTF8CHAR manufacturerID[32];
	CK_UTF8CHAR model[16];
	CK_CHAR serialNumber[16];
	CK_FLAGS flags;
	CK_ULONG ulMaxSessionCount;
	CK_ULONG ulSessionCount;
	CK_ULONG ulMaxRwSessionCount;
	CK_ULONG ulRwSessionCount;
	CK_ULONG ulMaxPinLen;
	CK_ULONG ulMinPinLen;
	CK_ULONG ulTotalPublicMemory;
	CK_ULONG ulFreePublicMemory;
	CK_ULONG ulTotalPrivateMemory;
	CK_ULONG ulFreePrivateMemory;
	CK_VERSION hardwareVersion;
	CK_VERSION firmwareVersion;
	CK_CHAR utcTime[16];
} CK_TOKEN_INFO;
typedef CK_TOKEN_INFO *CK_TOKEN_INFO_PTR;

typedef struct CK_SESSION_INFO {
	CK_SLOT_ID slotID;
	CK_STATE state;
	CK_FLAGS flags;
	CK_ULONG ulDeviceError;
} CK_SESSION_INFO;
typedef CK_SESSION_INFO *CK_SESSION_INFO_PTR;

/* Attributes and mechanisms */

typedef struct CK_ATTRIBUTE {
	CK_ATTRIBUTE_TYPE type;
	CK_VOID_PTR pValue;
	CK_ULONG ulValueLen;
} CK_ATTRIBUTE;
typedef CK_ATTRIBUTE *CK_ATTRIBUTE_PTR;

typedef struct CK_DATE {
	CK_CHAR year[4];
	CK_CHAR month[2];
	CK_CHAR day[2];
} CK_DATE;

typedef struct CK_MECHANISM {
	CK_MECHANISM_TYPE mechanism;
	CK_VOID_PTR pParameter;
	CK_ULONG ulParameterLen;
} CK_MECHANISM;
typedef CK_MECHANISM *CK_MECHANISM_PTR;

typedef struct CK_MECHANISM_INFO {
	CK_ULONG ulMinKeySize;
	CK_ULONG ulMaxKeySize;
	CK_FLAGS flags;
} CK_MECHANISM_INFO;
typedef CK_MECHANISM_INFO *CK_MECHANISM_INFO_PTR;

/* Mechanism parameters */

typedef struct CK_RSA_PKCS_PSS_PARAMS {
	CK_MECHANISM_TYPE hashAlg;
	CK_RSA_PKCS_MGF_TYPE mgf;
	CK_ULONG sLen;
} CK_RSA_PKCS_PSS_PARAMS;
typedef CK_RSA_PKCS_PSS_PARAMS *CK_RSA_PKCS_PSS_PARAMS_PTR;

typedef struct CK_RSA_PKCS_OAEP_PARAMS {
	CK_MECHANISM_TYPE hashAlg;
	CK_RSA_PKCS_MGF_TYPE mgf;
	CK_RSA_PKCS_OAEP_SOURCE_TYPE source;
	CK_VOID_PTR pSourceData;
	CK_ULONG ulSourceDataLen;
} CK_RSA_PKCS_OAEP_PARAMS;
typedef CK_RSA_PKCS_OAEP_PARAMS *CK_RSA_PKCS_OAEP_PARAMS_PTR;

/*
 * The layout of the v2.40 errata and of v3.0. The original v2.40 text lacked
 * ulIvBits; a caller built against that text passes a shorter structure, which
 * ulParameterLen tells apart.
 */
typedef struct CK_GCM_PARAMS {
	CK_BYTE_PTR pIv;
	CK_ULONG ulIvLen;
	CK_ULONG ulIvBits;
	CK_BYTE_PTR pAAD;
	CK_ULONG ulAADLen;
	CK_ULONG ulTagBits;
} CK_GCM_PARAMS;
typedef CK_GCM_PARAMS *CK_GCM_PARAMS_PTR;

typedef struct CK_EDDSA_PARAMS {
	CK_BBOOL phFlag;
	CK_ULONG ulContextDataLen;
	CK_BYTE_PTR pContextData;
} CK_EDDSA_PARAMS;
typedef CK_EDDSA_PARAMS *CK_EDDSA_PARAMS_PTR;

typedef struct CK_AES_CTR_PARAMS {
	CK_ULONG ulCounterBits;
	CK_BYTE cb[16];
} CK_AES_CTR_PARAMS;
typedef CK_AES_CTR_PARAMS *CK_AES_CTR_PARAMS_PTR;

typedef CK_ULONG CK_EC_KDF_TYPE;

typedef struct CK_ECDH1_DERIVE_PARAMS {
	CK_EC_KDF_TYPE kdf;
	CK_ULONG ulSharedDataLen;
	CK_BYTE_PTR pSharedData;
	CK_ULONG ulPublicDataLen;
	CK_BYTE_PTR pPublicData;
} CK_ECDH1_DERIVE_PARAMS;
typedef CK_ECDH1_DERIVE_PARAMS *CK_ECDH1_DERIVE_PARAMS_PTR;

/*
 * v3.2: the optional parameter of CKM_ML_DSA (and of the other pure
 * post-quantum signatures): how the signature may be randomised, and the
 * FIPS 204 context string.
 */
typedef struct CK_SIGN_ADDITIONAL_CONTEXT {
	CK_HEDGE_TYPE hedgeVariant;
	CK_BYTE_PTR pContext;
	CK_ULONG ulContextLen;
} CK_SIGN_ADDITIONAL_CONTEXT;
typedef CK_SIGN_ADDITIONAL_CONTEXT *CK_SIGN_ADDITIONAL_CONTEXT_PTR;

/* v3.2: the result of an asynchronous operation (C_AsyncComplete). */
typedef struct CK_ASYNC_DATA {
	CK_ULONG ulVersion;
	CK_BYTE_PTR pValue;
	CK_ULONG ulValue;
	CK_OBJECT_HANDLE hObject;
	CK_OBJECT_HANDLE hAdditionalObject;
} CK_ASYNC_DATA;
typedef CK_ASYNC_DATA *CK_ASYNC_DATA_PTR;

/* Callbacks and C_Initialize's arguments */

typedef CK_RV (*CK_NOTIFY)(CK_SESSION_HANDLE hSession, CK_NOTIFICATION event,
			   CK_VOID_PTR pApplication);

typedef CK_RV (*CK_CREATEMUTEX)(CK_VOID_PTR_PTR ppMutex);
typedef CK_RV (*CK_DESTROYMUTEX)(CK_VOID_PTR pMutex);
typedef CK_RV (*CK_LOCKMUTEX)(CK_VOID_PTR pMutex);
typedef CK_RV (*CK_UNLOCKMUTEX)(CK_VOID_PTR pMutex);

typedef struct CK_C_INITIALIZE_ARGS {
	CK_CREATEMUTEX CreateMutex;
	CK_DESTROYMUTEX DestroyMutex;
	CK_LOCKMUTEX LockMutex;
	CK_UNLOCKMUTEX UnlockMutex;
	CK_FLAGS flags;
	CK_VOID_PTR pReserved;
} CK_C_INITIALIZE_ARGS;
typedef CK_C_INITIALIZE_ARGS *CK_C_INITIALIZE_ARGS_PTR;

/* Function lists and interfaces */

struct CK_FUNCTION_LIST;
struct CK_FUNCTION_LIST_3_0;
struct CK_FUNCTION_LIST_3_2;
typedef struct CK_FUNCTION_LIST CK_FUNCTION_LIST;
typedef struct CK_FUNCTION_LIST_3_0 CK_FUNCTION_LIST_3_0;
typedef struct CK_FUNCTION_LIST_3_2 CK_FUNCTION_LIST_3_2;
typedef CK_FUNCTION_LIST *CK_FUNCTION_LIST_PTR;
typedef CK_FUNCTION_LIST_PTR *CK_FUNCTION_LIST_PTR_PTR;
typedef CK_FUNCTION_LIST_3_0 *CK_FUNCTION_LIST_3_0_PTR;
typedef CK_FUNCTION_LIST_3_0_PTR *CK_FUNCTION_LIST_3_0_PTR_PTR;
typedef CK_FUNCTION_LIST_3_2 *CK_FUNCTION_LIST_3_2_PTR;
typedef CK_FUNCTION_LIST_3_2_PTR *CK_FUNCTION_LIST_3_2_PTR_PTR;

typedef struct CK_INTERFACE {
	CK_CHAR_PTR pInterfaceName;
	CK_VOID_PTR pFunctionList;
	CK_FLAGS flags;
} CK_INTERFACE;
typedef CK_INTERFACE *CK_INTERFACE_PTR;
typedef CK_INTERFACE_PTR *CK_INTERFACE_PTR_PTR;

/*
 * Functions. Each is declared once, as its prototype and as the pointer type
 * CK_C_<name> of the function-list member that holds it, so that the two can
 * never disagree.
 */
#define KEYHOLD_CK_FUNCTION(name, params) \
	CK_RV name params;                \
	typedef CK_RV(*CK_##name) params

/* General purpose */
KEYHOLD_CK_FUNCTION(C_Initialize, (CK_VOID_PTR pInitArgs));
KEYHOLD_CK_FUNCTION(C_Finalize, (CK_VOID_PTR pReserved));
KEYHOLD_CK_FUNCTION(C_GetInfo, (CK_INFO_PTR pInfo));
KEYHOLD_CK_FUNCTION(C_GetFunctionList,
		    (CK_FUNCTION_LIST_PTR_PTR ppFunctionList));

/* Slots and tokens */
KEYHOLD_CK_FUNCTION(C_GetSlotList,
		    (CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList,
		     CK_ULONG_PTR pulCount));
KEYHOLD_CK_FUNCTION(C_GetSlotInfo,
		    (CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo));
KEYHOLD_CK_FUNCTION(C_GetTokenInfo,
		    (CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo));
KEYHOLD_CK_FUNCTION(C_GetMechanismList,
		    (CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
		     CK_ULONG_PTR pulCount));
KEYHOLD_CK_FUNCTION(C_GetMechanismInfo,
		    (CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
		     CK_MECHANISM_INFO_PTR pInfo));
KEYHOLD_CK_FUNCTION(C_InitToken,
		    (CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
		     CK_UTF8CHAR_PTR pLabel));
KEYHOLD_CK_FUNCTION(C_InitPIN,
		    (CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin,
		     CK_ULONG ulPinLen));
KEYHOLD_CK_FUNCTION(C_SetPIN,
		    (CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin,
		     CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNewPin,
		     CK_ULONG ulNewLen));

/* Sessions */
KEYHOLD_CK_FUNCTION(C_OpenSession,
		    (CK_SLOT_ID slotID, CK_FLAGS flags,
		     CK_VOID_PTR pApplication, CK_NOTIFY Notify,
		     CK_SESSION_HANDLE_PTR phSession));
KEYHOLD_CK_FUNCTION(C_CloseSession, (CK_SESSION_HANDLE hSession));
KEYHOLD_CK_FUNCTION(C_CloseAllSessions, (CK_SLOT_ID slotID));
KEYHOLD_CK_FUNCTION(C_GetSessionInfo,
		    (CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo));
KEYHOLD_CK_FUNCTION(C_GetOperationState,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
		     CK_ULONG_PTR pulOperationStateLen));
KEYHOLD_CK_FUNCTION(C_SetOperationState,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
		     CK_ULONG ulOperationStateLen,
		     CK_OBJECT_HANDLE hEncryptionKey,
		     CK_OBJECT_HANDLE hAuthenticationKey));
KEYHOLD_CK_FUNCTION(C_Login,
		    (CK_SESSION_HANDLE hSession, CK_USER_TYPE userType,
		     CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen));
KEYHOLD_CK_FUNCTION(C_Logout, (CK_SESSION_HANDLE hSession));

/* Objects */
KEYHOLD_CK_FUNCTION(C_CreateObject,
		    (CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
		     CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject));
KEYHOLD_CK_FUNCTION(C_CopyObject,
		    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
		     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
		     CK_OBJECT_HANDLE_PTR phNewObject));
KEYHOLD_CK_FUNCTION(C_DestroyObject,
		    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject));
KEYHOLD_CK_FUNCTION(C_GetObjectSize,
		    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
		     CK_ULONG_PTR pulSize));
KEYHOLD_CK_FUNCTION(C_GetAttributeValue,
		    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
		     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount));
KEYHOLD_CK_FUNCTION(C_SetAttributeValue,
		    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
		     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount));
KEYHOLD_CK_FUNCTION(C_FindObjectsInit,
		    (CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
		     CK_ULONG ulCount));
KEYHOLD_CK_FUNCTION(C_FindObjects,
		    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
		     CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount));
KEYHOLD_CK_FUNCTION(C_FindObjectsFinal, (CK_SESSION_HANDLE hSession));

/* Encryption and decryption */
KEYHOLD_CK_FUNCTION(C_EncryptInit,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hKey));
KEYHOLD_CK_FUNCTION(C_Encrypt,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
		     CK_ULONG ulDataLen, CK_BYTE_PTR pEncryptedData,
		     CK_ULONG_PTR pulEncryptedDataLen));
KEYHOLD_CK_FUNCTION(C_EncryptUpdate,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
		     CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,
		     CK_ULONG_PTR pulEncryptedPartLen));
KEYHOLD_CK_FUNCTION(C_EncryptFinal,
		    (CK_SESSION_HANDLE hSession,
		     CK_BYTE_PTR pLastEncryptedPart,
		     CK_ULONG_PTR pulLastEncryptedPartLen));
KEYHOLD_CK_FUNCTION(C_DecryptInit,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hKey));
KEYHOLD_CK_FUNCTION(C_Decrypt,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData,
		     CK_ULONG ulEncryptedDataLen, CK_BYTE_PTR pData,
		     CK_ULONG_PTR pulDataLen));
KEYHOLD_CK_FUNCTION(C_DecryptUpdate,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
		     CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
		     CK_ULONG_PTR pulPartLen));
KEYHOLD_CK_FUNCTION(C_DecryptFinal,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart,
		     CK_ULONG_PTR pulLastPartLen));

/* Message digesting */
KEYHOLD_CK_FUNCTION(C_DigestInit,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism));
KEYHOLD_CK_FUNCTION(C_Digest,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
		     CK_ULONG ulDataLen, CK_BYTE_PTR pDigest,
		     CK_ULONG_PTR pulDigestLen));
KEYHOLD_CK_FUNCTION(C_DigestUpdate,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
		     CK_ULONG ulPartLen));
KEYHOLD_CK_FUNCTION(C_DigestKey,
		    (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey));
KEYHOLD_CK_FUNCTION(C_DigestFinal,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest,
		     CK_ULONG_PTR pulDigestLen));

/* Signing and verification */
KEYHOLD_CK_FUNCTION(C_SignInit,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hKey));
KEYHOLD_CK_FUNCTION(C_Sign,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
		     CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
		     CK_ULONG_PTR pulSignatureLen));
KEYHOLD_CK_FUNCTION(C_SignUpdate,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
		     CK_ULONG ulPartLen));
KEYHOLD_CK_FUNCTION(C_SignFinal,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
		     CK_ULONG_PTR pulSignatureLen));
KEYHOLD_CK_FUNCTION(C_SignRecoverInit,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hKey));
KEYHOLD_CK_FUNCTION(C_SignRecover,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
		     CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
		     CK_ULONG_PTR pulSignatureLen));
KEYHOLD_CK_FUNCTION(C_VerifyInit,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hKey));
KEYHOLD_CK_FUNCTION(C_Verify,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
		     CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
		     CK_ULONG ulSignatureLen));
KEYHOLD_CK_FUNCTION(C_VerifyUpdate,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
		     CK_ULONG ulPartLen));
KEYHOLD_CK_FUNCTION(C_VerifyFinal,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
		     CK_ULONG ulSignatureLen));
KEYHOLD_CK_FUNCTION(C_VerifyRecoverInit,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hKey));
KEYHOLD_CK_FUNCTION(C_VerifyRecover,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
		     CK_ULONG ulSignatureLen, CK_BYTE_PTR pData,
		     CK_ULONG_PTR pulDataLen));

/* Dual-function operations */
KEYHOLD_CK_FUNCTION(C_DigestEncryptUpdate,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
		     CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,
		     CK_ULONG_PTR pulEncryptedPartLen));
KEYHOLD_CK_FUNCTION(C_DecryptDigestUpdate,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
		     CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
		     CK_ULONG_PTR pulPartLen));
KEYHOLD_CK_FUNCTION(C_SignEncryptUpdate,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
		     CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,
		     CK_ULONG_PTR pulEncryptedPartLen));
KEYHOLD_CK_FUNCTION(C_DecryptVerifyUpdate,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
		     CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
		     CK_ULONG_PTR pulPartLen));

/* Key management */
KEYHOLD_CK_FUNCTION(C_GenerateKey,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
		     CK_OBJECT_HANDLE_PTR phKey));
KEYHOLD_CK_FUNCTION(C_GenerateKeyPair,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_ATTRIBUTE_PTR pPublicKeyTemplate,
		     CK_ULONG ulPublicKeyAttributeCount,
		     CK_ATTRIBUTE_PTR pPrivateKeyTemplate,
		     CK_ULONG ulPrivateKeyAttributeCount,
		     CK_OBJECT_HANDLE_PTR phPublicKey,
		     CK_OBJECT_HANDLE_PTR phPrivateKey));
KEYHOLD_CK_FUNCTION(C_WrapKey,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey,
		     CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen));
KEYHOLD_CK_FUNCTION(C_UnwrapKey,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
		     CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
		     CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey));
KEYHOLD_CK_FUNCTION(C_DeriveKey,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
		     CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey));

/* Random numbers */
KEYHOLD_CK_FUNCTION(C_SeedRandom,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed,
		     CK_ULONG ulSeedLen));
KEYHOLD_CK_FUNCTION(C_GenerateRandom,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData,
		     CK_ULONG ulRandomLen));

/* Legacy parallel functions and slot events */
KEYHOLD_CK_FUNCTION(C_GetFunctionStatus, (CK_SESSION_HANDLE hSession));
KEYHOLD_CK_FUNCTION(C_CancelFunction, (CK_SESSION_HANDLE hSession));
KEYHOLD_CK_FUNCTION(C_WaitForSlotEvent,
		    (CK_FLAGS flags, CK_SLOT_ID_PTR pSlot,
		     CK_VOID_PTR pReserved));

/* v3.0: interfaces, user login, session cancel */
KEYHOLD_CK_FUNCTION(C_GetInterfaceList,
		    (CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount));
KEYHOLD_CK_FUNCTION(C_GetInterface,
		    (CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
		     CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags));
KEYHOLD_CK_FUNCTION(C_LoginUser,
		    (CK_SESSION_HANDLE hSession, CK_USER_TYPE userType,
		     CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
		     CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen));
KEYHOLD_CK_FUNCTION(C_SessionCancel,
		    (CK_SESSION_HANDLE hSession, CK_FLAGS flags));

/* v3.0: message-based encryption */
KEYHOLD_CK_FUNCTION(C_MessageEncryptInit,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hKey));
KEYHOLD_CK_FUNCTION(C_EncryptMessage,
		    (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
		     CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
		     CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pPlaintext,
		     CK_ULONG ulPlaintextLen, CK_BYTE_PTR pCiphertext,
		     CK_ULONG_PTR pulCiphertextLen));
KEYHOLD_CK_FUNCTION(C_EncryptMessageBegin,
		    (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
		     CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
		     CK_ULONG ulAssociatedDataLen));
KEYHOLD_CK_FUNCTION(C_EncryptMessageNext,
		    (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
		     CK_ULONG ulParameterLen, CK_BYTE_PTR pPlaintextPart,
		     CK_ULONG ulPlaintextPartLen, CK_BYTE_PTR pCiphertextPart,
		     CK_ULONG_PTR pulCiphertextPartLen, CK_FLAGS flags));
KEYHOLD_CK_FUNCTION(C_MessageEncryptFinal, (CK_SESSION_HANDLE hSession));

/* v3.0: message-based decryption */
KEYHOLD_CK_FUNCTION(C_MessageDecryptInit,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hKey));
KEYHOLD_CK_FUNCTION(C_DecryptMessage,
		    (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
		     CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
		     CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pCiphertext,
		     CK_ULONG ulCiphertextLen, CK_BYTE_PTR pPlaintext,
		     CK_ULONG_PTR pulPlaintextLen));
KEYHOLD_CK_FUNCTION(C_DecryptMessageBegin,
		    (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
		     CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
		     CK_ULONG ulAssociatedDataLen));
KEYHOLD_CK_FUNCTION(C_DecryptMessageNext,
		    (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
		     CK_ULONG ulParameterLen, CK_BYTE_PTR pCiphertextPart,
		     CK_ULONG ulCiphertextPartLen, CK_BYTE_PTR pPlaintextPart,
		     CK_ULONG_PTR pulPlaintextPartLen, CK_FLAGS flags));
KEYHOLD_CK_FUNCTION(C_MessageDecryptFinal, (CK_SESSION_HANDLE hSession));

/* v3.0: message-based signing */
KEYHOLD_CK_FUNCTION(C_MessageSignInit,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hKey));
KEYHOLD_CK_FUNCTION(C_SignMessage,
		    (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
		     CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
		     CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
		     CK_ULONG_PTR pulSignatureLen));
KEYHOLD_CK_FUNCTION(C_SignMessageBegin,
		    (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
		     CK_ULONG ulParameterLen));
KEYHOLD_CK_FUNCTION(C_SignMessageNext,
		    (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
		     CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
		     CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
		     CK_ULONG_PTR pulSignatureLen));
KEYHOLD_CK_FUNCTION(C_MessageSignFinal, (CK_SESSION_HANDLE hSession));

/* v3.0: message-based verification */
KEYHOLD_CK_FUNCTION(C_MessageVerifyInit,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hKey));
KEYHOLD_CK_FUNCTION(C_VerifyMessage,
		    (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
		     CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
		     CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
		     CK_ULONG ulSignatureLen));
KEYHOLD_CK_FUNCTION(C_VerifyMessageBegin,
		    (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
		     CK_ULONG ulParameterLen));
KEYHOLD_CK_FUNCTION(C_VerifyMessageNext,
		    (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
		     CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
		     CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
		     CK_ULONG ulSignatureLen));
KEYHOLD_CK_FUNCTION(C_MessageVerifyFinal, (CK_SESSION_HANDLE hSession));

/* v3.2: key encapsulation */
KEYHOLD_CK_FUNCTION(C_EncapsulateKey,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hPublicKey, CK_ATTRIBUTE_PTR pTemplate,
		     CK_ULONG ulAttributeCount, CK_BYTE_PTR pCiphertext,
		     CK_ULONG_PTR pulCiphertextLen, CK_OBJECT_HANDLE_PTR phKey));
KEYHOLD_CK_FUNCTION(C_DecapsulateKey,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hPrivateKey, CK_ATTRIBUTE_PTR pTemplate,
		     CK_ULONG ulAttributeCount, CK_BYTE_PTR pCiphertext,
		     CK_ULONG ulCiphertextLen, CK_OBJECT_HANDLE_PTR phKey));

/* v3.2: verification with the signature given first */
KEYHOLD_CK_FUNCTION(C_VerifySignatureInit,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pSignature,
		     CK_ULONG ulSignatureLen));
KEYHOLD_CK_FUNCTION(C_VerifySignature,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
		     CK_ULONG ulDataLen));
KEYHOLD_CK_FUNCTION(C_VerifySignatureUpdate,
		    (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
		     CK_ULONG ulPartLen));
KEYHOLD_CK_FUNCTION(C_VerifySignatureFinal, (CK_SESSION_HANDLE hSession));

/* v3.2: validation flags, asynchronous operations, authenticated wrapping */
KEYHOLD_CK_FUNCTION(C_GetSessionValidationFlags,
		    (CK_SESSION_HANDLE hSession,
		     CK_SESSION_VALIDATION_FLAGS_TYPE type,
		     CK_FLAGS_PTR pFlags));
KEYHOLD_CK_FUNCTION(C_AsyncComplete,
		    (CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pFunctionName,
		     CK_ASYNC_DATA_PTR pResult));
KEYHOLD_CK_FUNCTION(C_AsyncGetID,
		    (CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pFunctionName,
		     CK_ULONG_PTR pulID));
KEYHOLD_CK_FUNCTION(C_AsyncJoin,
		    (CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pFunctionName,
		     CK_ULONG ulID, CK_BYTE_PTR pData, CK_ULONG ulData));
KEYHOLD_CK_FUNCTION(C_WrapKeyAuthenticated,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey,
		     CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen,
		     CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen));
KEYHOLD_CK_FUNCTION(C_UnwrapKeyAuthenticated,
		    (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
		     CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
		     CK_ULONG ulAttributeCount, CK_BYTE_PTR pAssociatedData,
		     CK_ULONG ulAssociatedDataLen, CK_OBJECT_HANDLE_PTR phKey));

#undef KEYHOLD_CK_FUNCTION

/*
 * The v2.40 function list. Member order is part of the ABI: applications
 * call through these slots by position.
 */
#define KEYHOLD_CK_FUNCTION_LIST_2_40_MEMBERS      \
	CK_C_Initialize C_Initialize;                   \
	CK_C_Finalize C_Finalize;                       \
	CK_C_GetInfo C_GetInfo;                         \
	CK_C_GetFunctionList C_GetFunctionList;         \
	CK_C_GetSlotList C_GetSlotList;                 \
	CK_C_GetSlotInfo C_GetSlotInfo;                 \
	CK_C_GetTokenInfo C_GetTokenInfo;               \
	CK_C_GetMechanismList C_GetMechanismList;       \
	CK_C_GetMechanismInfo C_GetMechanismInfo;       \
	CK_C_InitToken C_InitToken;                     \
	CK_C_InitPIN C_InitPIN;                         \
	CK_C_SetPIN C_SetPIN;                           \
	CK_C_OpenSession C_OpenSession;                 \
	CK_C_CloseSession C_CloseSession;               \
	CK_C_CloseAllSessions C_CloseAllSessions;       \
	CK_C_GetSessionInfo C_GetSessionInfo;           \
	CK_C_GetOperationState C_GetOperationState;     \
	CK_C_SetOperationState C_SetOperationState;     \
	CK_C_Login C_Login;                             \
	CK_C_Logout C_Logout;                           \
	CK_C_CreateObject C_CreateObject;               \
	CK_C_CopyObject C_CopyObject;                   \
	CK_C_DestroyObject C_DestroyObject;             \
	CK_C_GetObjectSize C_GetObjectSize;             \
	CK_C_GetAttributeValue C_GetAttributeValue;     \
	CK_C_SetAttributeValue C_SetAttributeValue;     \
	CK_C_FindObjectsInit C_FindObjectsInit;         \
	CK_C_FindObjects C_FindObjects;                 \
	CK_C_FindObjectsFinal C_FindObjectsFinal;       \
	CK_C_EncryptInit C_EncryptInit;                 \
	CK_C_Encrypt C_Encrypt;                         \
	CK_C_EncryptUpdate C_EncryptUpdate;             \
	CK_C_EncryptFinal C_EncryptFinal;               \
	CK_C_DecryptInit C_DecryptInit;                 \
	CK_C_Decrypt C_Decrypt;                         \
	CK_C_DecryptUpdate C_DecryptUpdate;             \
	CK_C_DecryptFinal C_DecryptFinal;               \
	CK_C_DigestInit C_DigestInit;                   \
	CK_C_Digest C_Digest;                           \
	CK_C_DigestUpdate C_DigestUpdate;               \
	CK_C_DigestKey C_DigestKey;                     \
	CK_C_DigestFinal C_DigestFinal;                 \
	CK_C_SignInit C_SignInit;                       \
	CK_C_Sign C_Sign;                               \
	CK_C_SignUpdate C_SignUpdate;                   \
	CK_C_SignFinal C_SignFinal;                     \
	CK_C_SignRecoverInit C_SignRecoverInit;         \
	CK_C_SignRecover C_SignRecover;                 \
	CK_C_VerifyInit C_VerifyInit;                   \
	CK_C_Verify C_Verify;                           \
	CK_C_VerifyUpdate C_VerifyUpdate;               \
	CK_C_VerifyFinal C_VerifyFinal;                 \
	CK_C_VerifyRecoverInit C_VerifyRecoverInit;     \
	CK_C_VerifyRecover C_VerifyRecover;             \
	CK_C_DigestEncryptUpdate C_DigestEncryptUpdate; \
	CK_C_DecryptDigestUpdate C_DecryptDigestUpdate; \
	CK_C_SignEncryptUpdate C_SignEncryptUpdate;     \
	CK_C_DecryptVerifyUpdate C_DecryptVerifyUpdate; \
	CK_C_GenerateKey C_GenerateKey;                 \
	CK_C_GenerateKeyPair C_GenerateKeyPair;         \
	CK_C_WrapKey C_WrapKey;                         \
	CK_C_UnwrapKey C_UnwrapKey;                     \
	CK_C_DeriveKey C_DeriveKey;                     \
	CK_C_SeedRandom C_SeedRandom;                   \
	CK_C_GenerateRandom C_GenerateRandom;           \
	CK_C_GetFunctionStatus C_GetFunctionStatus;     \
	CK_C_CancelFunction C_CancelFunction;           \
	CK_C_WaitForSlotEvent C_WaitForSlotEvent;

struct CK_FUNCTION_LIST {
	CK_VERSION version;
	KEYHOLD_CK_FUNCTION_LIST_2_40_MEMBERS
};

/*
 * The functions v3.0 added, after the v2.40 ones, so that a v3.0 list can
 * also be read as a v2.40 one.
 */
#define KEYHOLD_CK_FUNCTION_LIST_3_0_MEMBERS     \
	CK_C_GetInterfaceList C_GetInterfaceList;       \
	CK_C_GetInterface C_GetInterface;               \
	CK_C_LoginUser C_LoginUser;                     \
	CK_C_SessionCancel C_SessionCancel;             \
	CK_C_MessageEncryptInit C_MessageEncryptInit;   \
	CK_C_EncryptMessage C_EncryptMessage;           \
	CK_C_EncryptMessageBegin C_EncryptMessageBegin; \
	CK_C_EncryptMessageNext C_EncryptMessageNext;   \
	CK_C_MessageEncryptFinal C_MessageEncryptFinal; \
	CK_C_MessageDecryptInit C_MessageDecryptInit;   \
	CK_C_DecryptMessage C_DecryptMessage;           \
	CK_C_DecryptMessageBegin C_DecryptMessageBegin; \
	CK_C_DecryptMessageNext C_DecryptMessageNext;   \
	CK_C_MessageDecryptFinal C_MessageDecryptFinal; \
	CK_C_MessageSignInit C_MessageSignInit;         \
	CK_C_SignMessage C_SignMessage;                 \
	CK_C_SignMessageBegin C_SignMessageBegin;       \
	CK_C_SignMessageNext C_SignMessageNext;         \
	CK_C_MessageSignFinal C_MessageSignFinal;       \
	CK_C_MessageVerifyInit C_MessageVerifyInit;     \
	CK_C_VerifyMessage C_VerifyMessage;             \
	CK_C_VerifyMessageBegin C_VerifyMessageBegin;   \
	CK_C_VerifyMessageNext C_VerifyMessageNext;     \
	CK_C_MessageVerifyFinal C_MessageVerifyFinal;

struct CK_FUNCTION_LIST_3_0 {
	CK_VERSION version;
	KEYHOLD_CK_FUNCTION_LIST_2_40_MEMBERS
	KEYHOLD_CK_FUNCTION_LIST_3_0_MEMBERS
};

/*
 * The v3.2 function list: the v3.0 list, unchanged, followed by the
 * functions v3.2 added.
 */
struct CK_FUNCTION_LIST_3_2 {
	CK_VERSION version;
	KEYHOLD_CK_FUNCTION_LIST_2_40_MEMBERS
	KEYHOLD_CK_FUNCTION_LIST_3_0_MEMBERS
	CK_C_EncapsulateKey C_EncapsulateKey;
	CK_C_DecapsulateKey C_DecapsulateKey;
	CK_C_VerifySignatureInit C_VerifySignatureInit;
	CK_C_VerifySignature C_VerifySignature;
	CK_C_VerifySignatureUpdate C_VerifySignatureUpdate;
	CK_C_VerifySignatureFinal C_VerifySignatureFinal;
	CK_C_GetSessionValidationFlags C_GetSessionValidationFlags;
	CK_C_AsyncComplete C_AsyncComplete;
	CK_C_AsyncGetID C_AsyncGetID;
	CK_C_AsyncJoin C_AsyncJoin;
	CK_C_WrapKeyAuthenticated C_WrapKeyAuthenticated;
	CK_C_UnwrapKeyAuthenticated C_UnwrapKeyAuthenticated;
};

#undef KEYHOLD_CK_FUNCTION_LIST_2_40_MEMBERS
#undef KEYHOLD_CK_FUNCTION_LIST_3_0_MEMBERS

#ifdef __cplusplus
}
#endif

#endif /* KEYHOLD_PKCS11_H */
