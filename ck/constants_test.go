package ck

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"math/bits"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestKnownValues pins a sample of constants to the numbers of the
// specification (pkcs11t.h). A C library sees these numbers, so each one is
// checked against the standard rather than against this package.
func TestKnownValues(t *testing.T) {
	tests := []struct {
		name      string
		got, want uint64
	}{
		{"CK_UNAVAILABLE_INFORMATION", CK_UNAVAILABLE_INFORMATION, 0xFFFFFFFFFFFFFFFF},
		{"CK_EFFECTIVELY_INFINITE", CK_EFFECTIVELY_INFINITE, 0},
		{"CK_INVALID_HANDLE", CK_INVALID_HANDLE, 0},

		{"CKO_DATA", uint64(CKO_DATA), 0x0},
		{"CKO_CERTIFICATE", uint64(CKO_CERTIFICATE), 0x1},
		{"CKO_PUBLIC_KEY", uint64(CKO_PUBLIC_KEY), 0x2},
		{"CKO_PRIVATE_KEY", uint64(CKO_PRIVATE_KEY), 0x3},
		{"CKO_SECRET_KEY", uint64(CKO_SECRET_KEY), 0x4},
		{"CKO_PROFILE", uint64(CKO_PROFILE), 0x9},
		{"CKO_VENDOR_DEFINED", uint64(CKO_VENDOR_DEFINED), 0x80000000},

		{"CKK_RSA", uint64(CKK_RSA), 0x0},
		{"CKK_EC", uint64(CKK_EC), 0x3},
		{"CKK_ECDSA", uint64(CKK_ECDSA), 0x3},
		{"CKK_GENERIC_SECRET", uint64(CKK_GENERIC_SECRET), 0x10},
		{"CKK_DES3", uint64(CKK_DES3), 0x15},
		{"CKK_AES", uint64(CKK_AES), 0x1F},
		{"CKK_SHA256_HMAC", uint64(CKK_SHA256_HMAC), 0x2B},
		{"CKK_CHACHA20", uint64(CKK_CHACHA20), 0x33},
		{"CKK_EC_EDWARDS", uint64(CKK_EC_EDWARDS), 0x40},
		{"CKK_EC_MONTGOMERY", uint64(CKK_EC_MONTGOMERY), 0x41},
		{"CKK_HKDF", uint64(CKK_HKDF), 0x42},
		{"CKK_ML_KEM", uint64(CKK_ML_KEM), 0x49},
		{"CKK_ML_DSA", uint64(CKK_ML_DSA), 0x4A},

		{"CKC_X_509", uint64(CKC_X_509), 0x0},
		{"CKC_WTLS", uint64(CKC_WTLS), 0x2},

		{"CKA_CLASS", uint64(CKA_CLASS), 0x0},
		{"CKA_LABEL", uint64(CKA_LABEL), 0x3},
		{"CKA_UNIQUE_ID", uint64(CKA_UNIQUE_ID), 0x4},
		{"CKA_VALUE", uint64(CKA_VALUE), 0x11},
		{"CKA_CERTIFICATE_TYPE", uint64(CKA_CERTIFICATE_TYPE), 0x80},
		{"CKA_KEY_TYPE", uint64(CKA_KEY_TYPE), 0x100},
		{"CKA_ID", uint64(CKA_ID), 0x102},
		{"CKA_SENSITIVE", uint64(CKA_SENSITIVE), 0x103},
		{"CKA_SIGN", uint64(CKA_SIGN), 0x108},
		{"CKA_VERIFY", uint64(CKA_VERIFY), 0x10A},
		{"CKA_DERIVE", uint64(CKA_DERIVE), 0x10C},
		{"CKA_MODULUS", uint64(CKA_MODULUS), 0x120},
		{"CKA_PUBLIC_EXPONENT", uint64(CKA_PUBLIC_EXPONENT), 0x122},
		{"CKA_PUBLIC_KEY_INFO", uint64(CKA_PUBLIC_KEY_INFO), 0x129},
		{"CKA_VALUE_LEN", uint64(CKA_VALUE_LEN), 0x161},
		{"CKA_EXTRACTABLE", uint64(CKA_EXTRACTABLE), 0x162},
		{"CKA_DESTROYABLE", uint64(CKA_DESTROYABLE), 0x172},
		{"CKA_EC_PARAMS", uint64(CKA_EC_PARAMS), 0x180},
		{"CKA_EC_POINT", uint64(CKA_EC_POINT), 0x181},
		{"CKA_ALWAYS_AUTHENTICATE", uint64(CKA_ALWAYS_AUTHENTICATE), 0x202},
		{"CKA_WRAP_TEMPLATE", uint64(CKA_WRAP_TEMPLATE), 0x40000211},
		{"CKA_UNWRAP_TEMPLATE", uint64(CKA_UNWRAP_TEMPLATE), 0x40000212},
		{"CKA_DERIVE_TEMPLATE", uint64(CKA_DERIVE_TEMPLATE), 0x40000213},
		{"CKA_OTP_COUNTER", uint64(CKA_OTP_COUNTER), 0x22E},
		{"CKA_ALLOWED_MECHANISMS", uint64(CKA_ALLOWED_MECHANISMS), 0x40000600},
		{"CKA_PROFILE_ID", uint64(CKA_PROFILE_ID), 0x601},
		{"CKA_PARAMETER_SET", uint64(CKA_PARAMETER_SET), 0x61D},
		{"CKA_ENCAPSULATE", uint64(CKA_ENCAPSULATE), 0x633},
		{"CKA_DECAPSULATE", uint64(CKA_DECAPSULATE), 0x634},
		{"CKA_SEED", uint64(CKA_SEED), 0x637},
		{"CKA_VENDOR_DEFINED", uint64(CKA_VENDOR_DEFINED), 0x80000000},

		{"CKM_RSA_PKCS_KEY_PAIR_GEN", uint64(CKM_RSA_PKCS_KEY_PAIR_GEN), 0x0},
		{"CKM_RSA_PKCS", uint64(CKM_RSA_PKCS), 0x1},
		{"CKM_RSA_X_509", uint64(CKM_RSA_X_509), 0x3},
		{"CKM_SHA1_RSA_PKCS", uint64(CKM_SHA1_RSA_PKCS), 0x6},
		{"CKM_RSA_PKCS_OAEP", uint64(CKM_RSA_PKCS_OAEP), 0x9},
		{"CKM_RSA_PKCS_PSS", uint64(CKM_RSA_PKCS_PSS), 0xD},
		{"CKM_SHA1_RSA_PKCS_PSS", uint64(CKM_SHA1_RSA_PKCS_PSS), 0xE},
		{"CKM_ML_KEM_KEY_PAIR_GEN", uint64(CKM_ML_KEM_KEY_PAIR_GEN), 0xF},
		{"CKM_ML_KEM", uint64(CKM_ML_KEM), 0x17},
		{"CKM_ML_DSA_KEY_PAIR_GEN", uint64(CKM_ML_DSA_KEY_PAIR_GEN), 0x1C},
		{"CKM_ML_DSA", uint64(CKM_ML_DSA), 0x1D},
		{"CKM_HASH_ML_DSA", uint64(CKM_HASH_ML_DSA), 0x1F},
		{"CKM_ML_DSA_EXTERNAL_MU_GEN", uint64(CKM_ML_DSA_EXTERNAL_MU_GEN), 0x403B},
		{"CKM_ML_DSA_EXTERNAL_MU", uint64(CKM_ML_DSA_EXTERNAL_MU), 0x403C},
		{"CKM_SHA256_RSA_PKCS", uint64(CKM_SHA256_RSA_PKCS), 0x40},
		{"CKM_SHA384_RSA_PKCS", uint64(CKM_SHA384_RSA_PKCS), 0x41},
		{"CKM_SHA512_RSA_PKCS", uint64(CKM_SHA512_RSA_PKCS), 0x42},
		{"CKM_SHA256_RSA_PKCS_PSS", uint64(CKM_SHA256_RSA_PKCS_PSS), 0x43},
		{"CKM_SHA384_RSA_PKCS_PSS", uint64(CKM_SHA384_RSA_PKCS_PSS), 0x44},
		{"CKM_SHA512_RSA_PKCS_PSS", uint64(CKM_SHA512_RSA_PKCS_PSS), 0x45},
		{"CKM_SHA224_RSA_PKCS", uint64(CKM_SHA224_RSA_PKCS), 0x46},
		{"CKM_SHA224_RSA_PKCS_PSS", uint64(CKM_SHA224_RSA_PKCS_PSS), 0x47},
		{"CKM_SHA3_256_RSA_PKCS", uint64(CKM_SHA3_256_RSA_PKCS), 0x60},
		{"CKM_MD5", uint64(CKM_MD5), 0x210},
		{"CKM_SHA_1", uint64(CKM_SHA_1), 0x220},
		{"CKM_SHA256", uint64(CKM_SHA256), 0x250},
		{"CKM_SHA256_HMAC", uint64(CKM_SHA256_HMAC), 0x251},
		{"CKM_SHA224", uint64(CKM_SHA224), 0x255},
		{"CKM_SHA384", uint64(CKM_SHA384), 0x260},
		{"CKM_SHA512", uint64(CKM_SHA512), 0x270},
		{"CKM_SHA3_256", uint64(CKM_SHA3_256), 0x2B0},
		{"CKM_SHA3_224", uint64(CKM_SHA3_224), 0x2B5},
		{"CKM_SHA3_384", uint64(CKM_SHA3_384), 0x2C0},
		{"CKM_SHA3_512", uint64(CKM_SHA3_512), 0x2D0},
		{"CKM_GENERIC_SECRET_KEY_GEN", uint64(CKM_GENERIC_SECRET_KEY_GEN), 0x350},
		{"CKM_EC_KEY_PAIR_GEN", uint64(CKM_EC_KEY_PAIR_GEN), 0x1040},
		{"CKM_ECDSA_KEY_PAIR_GEN", uint64(CKM_ECDSA_KEY_PAIR_GEN), 0x1040},
		{"CKM_ECDSA", uint64(CKM_ECDSA), 0x1041},
		{"CKM_ECDSA_SHA1", uint64(CKM_ECDSA_SHA1), 0x1042},
		{"CKM_ECDSA_SHA224", uint64(CKM_ECDSA_SHA224), 0x1043},
		{"CKM_ECDSA_SHA256", uint64(CKM_ECDSA_SHA256), 0x1044},
		{"CKM_ECDSA_SHA384", uint64(CKM_ECDSA_SHA384), 0x1045},
		{"CKM_ECDSA_SHA512", uint64(CKM_ECDSA_SHA512), 0x1046},
		{"CKM_ECDH1_DERIVE", uint64(CKM_ECDH1_DERIVE), 0x1050},
		{"CKM_EC_EDWARDS_KEY_PAIR_GEN", uint64(CKM_EC_EDWARDS_KEY_PAIR_GEN), 0x1055},
		{"CKM_EC_MONTGOMERY_KEY_PAIR_GEN", uint64(CKM_EC_MONTGOMERY_KEY_PAIR_GEN), 0x1056},
		{"CKM_EDDSA", uint64(CKM_EDDSA), 0x1057},
		{"CKM_AES_KEY_GEN", uint64(CKM_AES_KEY_GEN), 0x1080},
		{"CKM_AES_ECB", uint64(CKM_AES_ECB), 0x1081},
		{"CKM_AES_CBC", uint64(CKM_AES_CBC), 0x1082},
		{"CKM_AES_CBC_PAD", uint64(CKM_AES_CBC_PAD), 0x1085},
		{"CKM_AES_CTR", uint64(CKM_AES_CTR), 0x1086},
		{"CKM_AES_GCM", uint64(CKM_AES_GCM), 0x1087},
		{"CKM_AES_CMAC", uint64(CKM_AES_CMAC), 0x108A},
		{"CKM_AES_KEY_WRAP", uint64(CKM_AES_KEY_WRAP), 0x2109},
		{"CKM_AES_KEY_WRAP_PAD", uint64(CKM_AES_KEY_WRAP_PAD), 0x210A},
		{"CKM_AES_KEY_WRAP_KWP", uint64(CKM_AES_KEY_WRAP_KWP), 0x210B},
		{"CKM_HKDF_DERIVE", uint64(CKM_HKDF_DERIVE), 0x402A},
		{"CKM_VENDOR_DEFINED", uint64(CKM_VENDOR_DEFINED), 0x80000000},

		{"CKR_OK", uint64(CKR_OK), 0x0},
		{"CKR_GENERAL_ERROR", uint64(CKR_GENERAL_ERROR), 0x5},
		{"CKR_ARGUMENTS_BAD", uint64(CKR_ARGUMENTS_BAD), 0x7},
		{"CKR_ATTRIBUTE_SENSITIVE", uint64(CKR_ATTRIBUTE_SENSITIVE), 0x11},
		{"CKR_ATTRIBUTE_TYPE_INVALID", uint64(CKR_ATTRIBUTE_TYPE_INVALID), 0x12},
		{"CKR_ACTION_PROHIBITED", uint64(CKR_ACTION_PROHIBITED), 0x1B},
		{"CKR_DATA_LEN_RANGE", uint64(CKR_DATA_LEN_RANGE), 0x21},
		{"CKR_DEVICE_REMOVED", uint64(CKR_DEVICE_REMOVED), 0x32},
		{"CKR_AEAD_DECRYPT_FAILED", uint64(CKR_AEAD_DECRYPT_FAILED), 0x42},
		{"CKR_FUNCTION_NOT_SUPPORTED", uint64(CKR_FUNCTION_NOT_SUPPORTED), 0x54},
		{"CKR_KEY_HANDLE_INVALID", uint64(CKR_KEY_HANDLE_INVALID), 0x60},
		{"CKR_KEY_FUNCTION_NOT_PERMITTED", uint64(CKR_KEY_FUNCTION_NOT_PERMITTED), 0x68},
		{"CKR_MECHANISM_INVALID", uint64(CKR_MECHANISM_INVALID), 0x70},
		{"CKR_MECHANISM_PARAM_INVALID", uint64(CKR_MECHANISM_PARAM_INVALID), 0x71},
		{"CKR_OBJECT_HANDLE_INVALID", uint64(CKR_OBJECT_HANDLE_INVALID), 0x82},
		{"CKR_OPERATION_ACTIVE", uint64(CKR_OPERATION_ACTIVE), 0x90},
		{"CKR_OPERATION_NOT_INITIALIZED", uint64(CKR_OPERATION_NOT_INITIALIZED), 0x91},
		{"CKR_PIN_INCORRECT", uint64(CKR_PIN_INCORRECT), 0xA0},
		{"CKR_PIN_LOCKED", uint64(CKR_PIN_LOCKED), 0xA4},
		{"CKR_SESSION_HANDLE_INVALID", uint64(CKR_SESSION_HANDLE_INVALID), 0xB3},
		{"CKR_SESSION_READ_ONLY", uint64(CKR_SESSION_READ_ONLY), 0xB5},
		{"CKR_SIGNATURE_INVALID", uint64(CKR_SIGNATURE_INVALID), 0xC0},
		{"CKR_SIGNATURE_LEN_RANGE", uint64(CKR_SIGNATURE_LEN_RANGE), 0xC1},
		{"CKR_TEMPLATE_INCOMPLETE", uint64(CKR_TEMPLATE_INCOMPLETE), 0xD0},
		{"CKR_TEMPLATE_INCONSISTENT", uint64(CKR_TEMPLATE_INCONSISTENT), 0xD1},
		{"CKR_TOKEN_NOT_PRESENT", uint64(CKR_TOKEN_NOT_PRESENT), 0xE0},
		{"CKR_USER_ALREADY_LOGGED_IN", uint64(CKR_USER_ALREADY_LOGGED_IN), 0x100},
		{"CKR_USER_NOT_LOGGED_IN", uint64(CKR_USER_NOT_LOGGED_IN), 0x101},
		{"CKR_USER_TYPE_INVALID", uint64(CKR_USER_TYPE_INVALID), 0x103},
		{"CKR_CURVE_NOT_SUPPORTED", uint64(CKR_CURVE_NOT_SUPPORTED), 0x140},
		{"CKR_BUFFER_TOO_SMALL", uint64(CKR_BUFFER_TOO_SMALL), 0x150},
		{"CKR_CRYPTOKI_NOT_INITIALIZED", uint64(CKR_CRYPTOKI_NOT_INITIALIZED), 0x190},
		{"CKR_CRYPTOKI_ALREADY_INITIALIZED", uint64(CKR_CRYPTOKI_ALREADY_INITIALIZED), 0x191},
		{"CKR_PIN_TOO_WEAK", uint64(CKR_PIN_TOO_WEAK), 0x1B8},
		{"CKR_PUBLIC_KEY_INVALID", uint64(CKR_PUBLIC_KEY_INVALID), 0x1B9},
		{"CKR_FUNCTION_REJECTED", uint64(CKR_FUNCTION_REJECTED), 0x200},
		{"CKR_TOKEN_RESOURCE_EXCEEDED", uint64(CKR_TOKEN_RESOURCE_EXCEEDED), 0x201},
		{"CKR_OPERATION_CANCEL_FAILED", uint64(CKR_OPERATION_CANCEL_FAILED), 0x202},
		{"CKR_VENDOR_DEFINED", uint64(CKR_VENDOR_DEFINED), 0x80000000},

		{"CKU_SO", uint64(CKU_SO), 0},
		{"CKU_USER", uint64(CKU_USER), 1},
		{"CKU_CONTEXT_SPECIFIC", uint64(CKU_CONTEXT_SPECIFIC), 2},
		{"CKS_RO_PUBLIC_SESSION", CKS_RO_PUBLIC_SESSION, 0},
		{"CKS_RW_USER_FUNCTIONS", CKS_RW_USER_FUNCTIONS, 3},
		{"CKS_RW_SO_FUNCTIONS", CKS_RW_SO_FUNCTIONS, 4},

		{"CKG_MGF1_SHA1", uint64(CKG_MGF1_SHA1), 1},
		{"CKG_MGF1_SHA256", uint64(CKG_MGF1_SHA256), 2},
		{"CKG_MGF1_SHA384", uint64(CKG_MGF1_SHA384), 3},
		{"CKG_MGF1_SHA512", uint64(CKG_MGF1_SHA512), 4},
		{"CKG_MGF1_SHA224", uint64(CKG_MGF1_SHA224), 5},
		{"CKG_MGF1_SHA3_224", uint64(CKG_MGF1_SHA3_224), 6},
		{"CKG_MGF1_SHA3_512", uint64(CKG_MGF1_SHA3_512), 9},
		{"CKZ_DATA_SPECIFIED", CKZ_DATA_SPECIFIED, 1},
		{"CKD_NULL", CKD_NULL, 1},
		{"CKD_SHA1_KDF", CKD_SHA1_KDF, 2},
		{"CKD_SHA256_KDF", CKD_SHA256_KDF, 6},
		{"CKD_SHA512_KDF", CKD_SHA512_KDF, 8},
		{"CKG_GENERATE_RANDOM", CKG_GENERATE_RANDOM, 3},

		{"CKF_TOKEN_PRESENT", CKF_TOKEN_PRESENT, 0x1},
		{"CKF_REMOVABLE_DEVICE", CKF_REMOVABLE_DEVICE, 0x2},
		{"CKF_HW_SLOT", CKF_HW_SLOT, 0x4},
		{"CKF_RNG", CKF_RNG, 0x1},
		{"CKF_LOGIN_REQUIRED", CKF_LOGIN_REQUIRED, 0x4},
		{"CKF_USER_PIN_INITIALIZED", CKF_USER_PIN_INITIALIZED, 0x8},
		{"CKF_RESTORE_KEY_NOT_NEEDED", CKF_RESTORE_KEY_NOT_NEEDED, 0x20},
		{"CKF_PROTECTED_AUTHENTICATION_PATH", CKF_PROTECTED_AUTHENTICATION_PATH, 0x100},
		{"CKF_TOKEN_INITIALIZED", CKF_TOKEN_INITIALIZED, 0x400},
		{"CKF_USER_PIN_COUNT_LOW", CKF_USER_PIN_COUNT_LOW, 0x10000},
		{"CKF_USER_PIN_LOCKED", CKF_USER_PIN_LOCKED, 0x40000},
		{"CKF_SO_PIN_TO_BE_CHANGED", CKF_SO_PIN_TO_BE_CHANGED, 0x800000},
		{"CKF_ERROR_STATE", CKF_ERROR_STATE, 0x1000000},
		{"CKF_RW_SESSION", CKF_RW_SESSION, 0x2},
		{"CKF_SERIAL_SESSION", CKF_SERIAL_SESSION, 0x4},
		{"CKF_HW", CKF_HW, 0x1},
		{"CKF_ENCRYPT", CKF_ENCRYPT, 0x100},
		{"CKF_DECRYPT", CKF_DECRYPT, 0x200},
		{"CKF_DIGEST", CKF_DIGEST, 0x400},
		{"CKF_SIGN", CKF_SIGN, 0x800},
		{"CKF_VERIFY", CKF_VERIFY, 0x2000},
		{"CKF_GENERATE_KEY_PAIR", CKF_GENERATE_KEY_PAIR, 0x10000},
		{"CKF_DERIVE", CKF_DERIVE, 0x80000},
		{"CKF_EC_F_P", CKF_EC_F_P, 0x100000},
		{"CKF_EC_OID", CKF_EC_OID, 0x800000},
		{"CKF_EC_NAMEDCURVE", CKF_EC_NAMEDCURVE, 0x800000},
		{"CKF_EC_UNCOMPRESS", CKF_EC_UNCOMPRESS, 0x1000000},
		{"CKF_EC_COMPRESS", CKF_EC_COMPRESS, 0x2000000},
		{"CKF_EXTENSION", CKF_EXTENSION, 0x80000000},
		{"CKF_LIBRARY_CANT_CREATE_OS_THREADS", CKF_LIBRARY_CANT_CREATE_OS_THREADS, 0x1},
		{"CKF_OS_LOCKING_OK", CKF_OS_LOCKING_OK, 0x2},
		{"CKF_ARRAY_ATTRIBUTE", CKF_ARRAY_ATTRIBUTE, 0x40000000},
		{"CKF_INTERFACE_FORK_SAFE", CKF_INTERFACE_FORK_SAFE, 0x1},
		{"CKF_ENCAPSULATE", CKF_ENCAPSULATE, 0x10000000},
		{"CKF_DECAPSULATE", CKF_DECAPSULATE, 0x20000000},
		{"CKP_ML_DSA_44", CKP_ML_DSA_44, 1},
		{"CKP_ML_DSA_65", CKP_ML_DSA_65, 2},
		{"CKP_ML_DSA_87", CKP_ML_DSA_87, 3},
		{"CKP_ML_KEM_512", CKP_ML_KEM_512, 1},
		{"CKP_ML_KEM_768", CKP_ML_KEM_768, 2},
		{"CKP_ML_KEM_1024", CKP_ML_KEM_1024, 3},
		{"CKH_HEDGE_PREFERRED", CKH_HEDGE_PREFERRED, 0},
		{"CKH_HEDGE_REQUIRED", CKH_HEDGE_REQUIRED, 1},
		{"CKH_DETERMINISTIC_REQUIRED", CKH_DETERMINISTIC_REQUIRED, 2},
	}
	for _, tt := range tests {
		require.Equalf(t, tt.want, tt.got, "%s = %#x, want %#x", tt.name, tt.got, tt.want)
	}
}

// TestFlagGroups checks that the flags of one structure are distinct single
// bits (aliases such as CKF_EC_NAMEDCURVE are left out).
func TestFlagGroups(t *testing.T) {
	groups := map[string][]uint64{
		"CK_SLOT_INFO": {CKF_TOKEN_PRESENT, CKF_REMOVABLE_DEVICE, CKF_HW_SLOT},
		"CK_TOKEN_INFO": {
			CKF_RNG, CKF_WRITE_PROTECTED, CKF_LOGIN_REQUIRED, CKF_USER_PIN_INITIALIZED,
			CKF_RESTORE_KEY_NOT_NEEDED, CKF_CLOCK_ON_TOKEN, CKF_PROTECTED_AUTHENTICATION_PATH,
			CKF_DUAL_CRYPTO_OPERATIONS, CKF_TOKEN_INITIALIZED, CKF_SECONDARY_AUTHENTICATION,
			CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED,
			CKF_USER_PIN_TO_BE_CHANGED, CKF_SO_PIN_COUNT_LOW, CKF_SO_PIN_FINAL_TRY,
			CKF_SO_PIN_LOCKED, CKF_SO_PIN_TO_BE_CHANGED, CKF_ERROR_STATE,
		},
		"CK_SESSION_INFO": {CKF_RW_SESSION, CKF_SERIAL_SESSION},
		"CK_MECHANISM_INFO": {
			CKF_HW, CKF_MESSAGE_ENCRYPT, CKF_MESSAGE_DECRYPT, CKF_MESSAGE_SIGN,
			CKF_MESSAGE_VERIFY, CKF_MULTI_MESSAGE, CKF_FIND_OBJECTS, CKF_ENCRYPT,
			CKF_DECRYPT, CKF_DIGEST, CKF_SIGN, CKF_SIGN_RECOVER, CKF_VERIFY,
			CKF_VERIFY_RECOVER, CKF_GENERATE, CKF_GENERATE_KEY_PAIR, CKF_WRAP,
			CKF_UNWRAP, CKF_DERIVE, CKF_EC_F_P, CKF_EC_F_2M, CKF_EC_ECPARAMETERS,
			CKF_EC_OID, CKF_EC_UNCOMPRESS, CKF_EC_COMPRESS, CKF_EC_CURVENAME,
			CKF_ENCAPSULATE, CKF_DECAPSULATE, CKF_EXTENSION,
		},
		"CK_C_INITIALIZE_ARGS": {CKF_LIBRARY_CANT_CREATE_OS_THREADS, CKF_OS_LOCKING_OK},
		"CK_OTP_PARAMS": {
			CKF_NEXT_OTP, CKF_EXCLUDE_TIME, CKF_EXCLUDE_COUNTER, CKF_EXCLUDE_CHALLENGE,
			CKF_EXCLUDE_PIN, CKF_USER_FRIENDLY_OTP,
		},
	}
	for group, flags := range groups {
		var seen uint64
		for _, f := range flags {
			require.Equalf(t, 1, bits.OnesCount64(f), "%s: flag %#x is not a single bit", group, f)
			require.Zerof(t, seen&f, "%s: flag %#x used twice", group, f)
			seen |= f
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		got  fmt.Stringer
		want string
	}{
		{CKR_OK, "CKR_OK"},
		{CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
		{CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
		{CKM_ECDSA, "CKM_ECDSA"},
		{CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN"}, // value 0
		{CKA_CLASS, "CKA_CLASS"},
		{CKA_WRAP_TEMPLATE, "CKA_WRAP_TEMPLATE"},
		{CKO_PRIVATE_KEY, "CKO_PRIVATE_KEY"},
		{CKK_EC_EDWARDS, "CKK_EC_EDWARDS"},
		{CKK_ML_DSA, "CKK_ML_DSA"},
		{CKM_ML_DSA_EXTERNAL_MU, "CKM_ML_DSA_EXTERNAL_MU"},
		{CKC_X_509, "CKC_X_509"},
		{CKU_CONTEXT_SPECIFIC, "CKU_CONTEXT_SPECIFIC"},
		{CKG_MGF1_SHA256, "CKG_MGF1_SHA256"},

		// Aliases print as the modern name.
		{CKA_ECDSA_PARAMS, "CKA_EC_PARAMS"},
		{CKM_ECDSA_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"},
		{CKK_ECDSA, "CKK_EC"},
		{CKK_CAST5, "CKK_CAST128"},
		{CKA_SUB_PRIME_BITS, "CKA_SUBPRIME_BITS"},

		// Values without a name.
		{ReturnValue(0x123), "CKR_0x00000123"},
		{MechanismType(0x7777), "CKM_0x00007777"},
		{AttributeType(CKF_ARRAY_ATTRIBUTE | 0x999), "CKA_0x40000999"},
		{ObjectClass(0x42), "CKO_0x00000042"},
		{UserType(7), "CKU_0x00000007"},
		{MGF(0x80000001), "CKG_0x80000001"}, // no vendor range for MGFs

		// Vendor ranges.
		{CKM_VENDOR_DEFINED, "CKM_VENDOR_DEFINED"},
		{CKM_VENDOR_DEFINED + 5, "CKM_VENDOR_DEFINED+0x5"},
		{CKR_VENDOR_DEFINED + 0x1A2B, "CKR_VENDOR_DEFINED+0x1A2B"},
		{CKA_VENDOR_DEFINED + 0x10, "CKA_VENDOR_DEFINED+0x10"},
		{CKK_VENDOR_DEFINED + 1, "CKK_VENDOR_DEFINED+0x1"},
		{CKO_VENDOR_DEFINED + 1, "CKO_VENDOR_DEFINED+0x1"},
		{CKC_VENDOR_DEFINED + 1, "CKC_VENDOR_DEFINED+0x1"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.got.String())
	}

	// fmt uses String, so %v prints names.
	require.Equal(t, "CKA_LABEL", fmt.Sprintf("%v", CKA_LABEL))
}

func TestErrorUsesNames(t *testing.T) {
	require.Equal(t, "CKR_PIN_INCORRECT", (&Error{RV: CKR_PIN_INCORRECT}).Error())
	require.Equal(t, "CKR_KEY_HANDLE_INVALID: no key 7",
		Errorf(CKR_KEY_HANDLE_INVALID, "no key %d", 7).Error())
}

// TestStringConcurrent exercises the lazily built maps from many goroutines
// (run with -race).
func TestStringConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_ = CKR_DATA_INVALID.String()
			_ = CKM_AES_GCM.String()
			_ = CKA_ID.String()
		})
	}
	wg.Wait()
}

// rowsOf returns a name table's rows as name -> value.
func rowsOf[T ~uint32](tab *nameTable[T]) map[string]uint64 {
	m := make(map[string]uint64, len(tab.rows))
	for _, r := range tab.rows {
		m[r.name] = uint64(r.v)
	}
	return m
}

// stringOf returns a name table's String as a function of a plain number.
func stringOf[T ~uint32](tab *nameTable[T]) func(uint64) string {
	return func(v uint64) string { return tab.name(T(v)) }
}

// TestNameTablesMatchSource type-checks this package's source and holds every
// typed constant of constants.go against the name tables of names.go:
//   - a constant given a number is a spec name: it is a row of its type's
//     table, spelled exactly as its identifier, with the same value, and no
//     other such constant of that type has the same value;
//   - a constant defined as another constant is an alias the specification
//     keeps (CKA_ECDSA_PARAMS = CKA_EC_PARAMS); it is not a row, and its
//     String() is the name it stands for;
//   - every row of a table is such a constant.
//
// A typo in a table, a forgotten row or two spec names given the same number
// by mistake all fail here.
func TestNameTablesMatchSource(t *testing.T) {
	tables := map[string]struct {
		rows   map[string]uint64
		string func(uint64) string
	}{
		"ObjectClass":     {rowsOf(objectClassNames), stringOf(objectClassNames)},
		"KeyType":         {rowsOf(keyTypeNames), stringOf(keyTypeNames)},
		"CertificateType": {rowsOf(certificateTypeNames), stringOf(certificateTypeNames)},
		"AttributeType":   {rowsOf(attributeTypeNames), stringOf(attributeTypeNames)},
		"MechanismType":   {rowsOf(mechanismTypeNames), stringOf(mechanismTypeNames)},
		"ReturnValue":     {rowsOf(returnValueNames), stringOf(returnValueNames)},
		"UserType":        {rowsOf(userTypeNames), stringOf(userTypeNames)},
		"MGF":             {rowsOf(mgfNames), stringOf(mgfNames)},
	}

	// constants.go is checked alone, with the types it uses declared in a
	// stub: it needs nothing else, and no other package is loaded.
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "constants.go", nil, parser.SkipObjectResolution)
	require.NoError(t, err)
	stubSrc := "package ck\n"
	for typ := range tables {
		stubSrc += "type " + typ + " uint32\n"
	}
	stub, err := parser.ParseFile(fset, "stub.go", stubSrc, 0)
	require.NoError(t, err)
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}}
	_, err = new(types.Config).Check("ck", fset, []*ast.File{f, stub}, info)
	require.NoError(t, err)

	type spec struct {
		typ     string
		value   uint64
		aliasOf string // the constant it is defined as, for an alias
	}
	consts := map[string]spec{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, id := range vs.Names {
				c := info.Defs[id].(*types.Const)
				named, ok := c.Type().(*types.Named)
				if !ok {
					continue // an untyped constant or a flag
				}
				if _, ok := tables[named.Obj().Name()]; !ok {
					continue
				}
				v, exact := constant.Uint64Val(c.Val())
				require.Truef(t, exact, "%s: value %s", id.Name, c.Val())
				sp := spec{typ: named.Obj().Name(), value: v}
				if ref, ok := vs.Values[i].(*ast.Ident); ok {
					sp.aliasOf = ref.Name
				}
				consts[id.Name] = sp
			}
		}
	}
	require.Greater(t, len(consts), 700, "constants.go was not read")

	for typ, tab := range tables {
		byValue := map[uint64]string{}
		for name, v := range tab.rows {
			other, dup := byValue[v]
			require.Falsef(t, dup, "%s: %s and %s both have value %#x; define one as an alias of the other if the spec does", typ, name, other, v)
			byValue[v] = name
		}
	}
	for name, sp := range consts {
		tab := tables[sp.typ]
		require.Truef(t, strings.HasPrefix(name, "CK"), "%s", name)
		if sp.aliasOf != "" {
			target, ok := consts[sp.aliasOf]
			require.Truef(t, ok, "alias %s of unknown %s", name, sp.aliasOf)
			require.Emptyf(t, target.aliasOf, "alias %s of alias %s", name, sp.aliasOf)
			require.Equalf(t, sp.typ, target.typ, "alias %s", name)
			require.NotContainsf(t, tab.rows, name, "alias %s must not be a row of the %s table", name, sp.typ)
			require.Equalf(t, sp.aliasOf, tab.string(sp.value), "String of alias %s", name)
			continue
		}
		row, ok := tab.rows[name]
		require.Truef(t, ok, "%s missing from the %s name table", name, sp.typ)
		require.Equalf(t, sp.value, row, "%s: table value", name)
		require.Equalf(t, name, tab.string(sp.value), "%s: String", name)
	}
	for typ, tab := range tables {
		for name := range tab.rows {
			sp, ok := consts[name]
			require.Truef(t, ok && sp.typ == typ && sp.aliasOf == "", "row %s of the %s table is not a %s constant", name, typ, typ)
		}
	}
}
