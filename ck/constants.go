package ck

// Numeric constants of PKCS#11 v2.40, v3.0 and v3.2 (pkcs11t.h). Names are the
// specification's own, so any of them can be looked up in the standard.
//
// A few names are aliases the specification keeps for compatibility (for
// example CKA_ECDSA_PARAMS for CKA_EC_PARAMS); they are listed right after the
// name they stand for, and String() always returns the modern name.

// Special values (CK_ULONG).
const (
	CK_UNAVAILABLE_INFORMATION uint64 = ^uint64(0) // CK_ULONG field whose value is not available
	CK_EFFECTIVELY_INFINITE           = 0          // CK_TOKEN_INFO counters with no practical limit
	CK_INVALID_HANDLE                 = 0          // no session or object handle
)

// Object classes (CK_OBJECT_CLASS, CKA_CLASS).
const (
	CKO_DATA              ObjectClass = 0x00000000
	CKO_CERTIFICATE       ObjectClass = 0x00000001
	CKO_PUBLIC_KEY        ObjectClass = 0x00000002
	CKO_PRIVATE_KEY       ObjectClass = 0x00000003
	CKO_SECRET_KEY        ObjectClass = 0x00000004
	CKO_HW_FEATURE        ObjectClass = 0x00000005
	CKO_DOMAIN_PARAMETERS ObjectClass = 0x00000006
	CKO_MECHANISM         ObjectClass = 0x00000007
	CKO_OTP_KEY           ObjectClass = 0x00000008
	CKO_PROFILE           ObjectClass = 0x00000009 // v3.0
	CKO_VENDOR_DEFINED    ObjectClass = 0x80000000
)

// Hardware feature types (CK_HW_FEATURE_TYPE, CKA_HW_FEATURE_TYPE).
const (
	CKH_MONOTONIC_COUNTER = 0x00000001
	CKH_CLOCK             = 0x00000002
	CKH_USER_INTERFACE    = 0x00000003
	CKH_VENDOR_DEFINED    = 0x80000000
)

// Profile IDs (CK_PROFILE_ID, CKA_PROFILE_ID; v3.0).
const (
	CKP_INVALID_ID                = 0x00000000
	CKP_BASELINE_PROVIDER         = 0x00000001
	CKP_EXTENDED_PROVIDER         = 0x00000002
	CKP_AUTHENTICATION_TOKEN      = 0x00000003
	CKP_PUBLIC_CERTIFICATES_TOKEN = 0x00000004
	CKP_VENDOR_DEFINED            = 0x80000000
)

// ML-DSA parameter sets (CK_ML_DSA_PARAMETER_SET_TYPE, CKA_PARAMETER_SET of a
// CKK_ML_DSA key; v3.2).
const (
	CKP_ML_DSA_44 = 0x00000001
	CKP_ML_DSA_65 = 0x00000002
	CKP_ML_DSA_87 = 0x00000003
)

// ML-KEM parameter sets (CK_ML_KEM_PARAMETER_SET_TYPE, CKA_PARAMETER_SET of a
// CKK_ML_KEM key; v3.2).
const (
	CKP_ML_KEM_512  = 0x00000001
	CKP_ML_KEM_768  = 0x00000002
	CKP_ML_KEM_1024 = 0x00000003
)

// Hedging variants (CK_HEDGE_TYPE, CK_SIGN_ADDITIONAL_CONTEXT.hedgeVariant;
// v3.2): whether an ML-DSA signature mixes fresh randomness into its nonce.
const (
	CKH_HEDGE_PREFERRED        = 0x00000000 // hedged if the token can, else deterministic
	CKH_HEDGE_REQUIRED         = 0x00000001 // hedged, or the operation fails
	CKH_DETERMINISTIC_REQUIRED = 0x00000002 // deterministic: the same key and message give the same signature
)

// Key types (CK_KEY_TYPE, CKA_KEY_TYPE).
const (
	CKK_RSA            KeyType = 0x00000000
	CKK_DSA            KeyType = 0x00000001
	CKK_DH             KeyType = 0x00000002
	CKK_EC             KeyType = 0x00000003
	CKK_ECDSA          KeyType = CKK_EC // deprecated alias
	CKK_X9_42_DH       KeyType = 0x00000004
	CKK_KEA            KeyType = 0x00000005
	CKK_GENERIC_SECRET KeyType = 0x00000010
	CKK_RC2            KeyType = 0x00000011
	CKK_RC4            KeyType = 0x00000012
	CKK_DES            KeyType = 0x00000013
	CKK_DES2           KeyType = 0x00000014
	CKK_DES3           KeyType = 0x00000015
	CKK_CAST           KeyType = 0x00000016
	CKK_CAST3          KeyType = 0x00000017
	CKK_CAST128        KeyType = 0x00000018
	CKK_CAST5          KeyType = CKK_CAST128 // deprecated alias
	CKK_RC5            KeyType = 0x00000019
	CKK_IDEA           KeyType = 0x0000001A
	CKK_SKIPJACK       KeyType = 0x0000001B
	CKK_BATON          KeyType = 0x0000001C
	CKK_JUNIPER        KeyType = 0x0000001D
	CKK_CDMF           KeyType = 0x0000001E
	CKK_AES            KeyType = 0x0000001F
	CKK_BLOWFISH       KeyType = 0x00000020
	CKK_TWOFISH        KeyType = 0x00000021
	CKK_SECURID        KeyType = 0x00000022
	CKK_HOTP           KeyType = 0x00000023
	CKK_ACTI           KeyType = 0x00000024
	CKK_CAMELLIA       KeyType = 0x00000025
	CKK_ARIA           KeyType = 0x00000026
	CKK_MD5_HMAC       KeyType = 0x00000027
	CKK_SHA_1_HMAC     KeyType = 0x00000028
	CKK_RIPEMD128_HMAC KeyType = 0x00000029
	CKK_RIPEMD160_HMAC KeyType = 0x0000002A
	CKK_SHA256_HMAC    KeyType = 0x0000002B
	CKK_SHA384_HMAC    KeyType = 0x0000002C
	CKK_SHA512_HMAC    KeyType = 0x0000002D
	CKK_SHA224_HMAC    KeyType = 0x0000002E
	CKK_SEED           KeyType = 0x0000002F
	CKK_GOSTR3410      KeyType = 0x00000030
	CKK_GOSTR3411      KeyType = 0x00000031
	CKK_GOST28147      KeyType = 0x00000032
	// v3.0
	CKK_CHACHA20         KeyType = 0x00000033
	CKK_POLY1305         KeyType = 0x00000034
	CKK_AES_XTS          KeyType = 0x00000035
	CKK_SHA3_224_HMAC    KeyType = 0x00000036
	CKK_SHA3_256_HMAC    KeyType = 0x00000037
	CKK_SHA3_384_HMAC    KeyType = 0x00000038
	CKK_SHA3_512_HMAC    KeyType = 0x00000039
	CKK_BLAKE2B_160_HMAC KeyType = 0x0000003A
	CKK_BLAKE2B_256_HMAC KeyType = 0x0000003B
	CKK_BLAKE2B_384_HMAC KeyType = 0x0000003C
	CKK_BLAKE2B_512_HMAC KeyType = 0x0000003D
	CKK_SALSA20          KeyType = 0x0000003E
	CKK_X2RATCHET        KeyType = 0x0000003F
	CKK_EC_EDWARDS       KeyType = 0x00000040
	CKK_EC_MONTGOMERY    KeyType = 0x00000041
	CKK_HKDF             KeyType = 0x00000042
	CKK_SHA512_224_HMAC  KeyType = 0x00000043
	CKK_SHA512_256_HMAC  KeyType = 0x00000044
	CKK_SHA512_T_HMAC    KeyType = 0x00000045
	// v3.2
	CKK_ML_KEM         KeyType = 0x00000049
	CKK_ML_DSA         KeyType = 0x0000004A
	CKK_VENDOR_DEFINED KeyType = 0x80000000
)

// Certificate types (CK_CERTIFICATE_TYPE, CKA_CERTIFICATE_TYPE).
const (
	CKC_X_509           CertificateType = 0x00000000
	CKC_X_509_ATTR_CERT CertificateType = 0x00000001
	CKC_WTLS            CertificateType = 0x00000002
	CKC_VENDOR_DEFINED  CertificateType = 0x80000000
)

// Certificate categories (CK_CERTIFICATE_CATEGORY, CKA_CERTIFICATE_CATEGORY).
const (
	CK_CERTIFICATE_CATEGORY_UNSPECIFIED  = 0
	CK_CERTIFICATE_CATEGORY_TOKEN_USER   = 1
	CK_CERTIFICATE_CATEGORY_AUTHORITY    = 2
	CK_CERTIFICATE_CATEGORY_OTHER_ENTITY = 3
)

// Java MIDP security domains (CK_JAVA_MIDP_SECURITY_DOMAIN,
// CKA_JAVA_MIDP_SECURITY_DOMAIN).
const (
	CK_SECURITY_DOMAIN_UNSPECIFIED  = 0
	CK_SECURITY_DOMAIN_MANUFACTURER = 1
	CK_SECURITY_DOMAIN_OPERATOR     = 2
	CK_SECURITY_DOMAIN_THIRD_PARTY  = 3
)

// CKF_ARRAY_ATTRIBUTE marks an attribute whose value is an array of
// CK_ATTRIBUTE (a template), such as CKA_WRAP_TEMPLATE.
const CKF_ARRAY_ATTRIBUTE = 0x40000000

// Attribute types (CK_ATTRIBUTE_TYPE).
const (
	CKA_CLASS                      AttributeType = 0x00000000
	CKA_TOKEN                      AttributeType = 0x00000001
	CKA_PRIVATE                    AttributeType = 0x00000002
	CKA_LABEL                      AttributeType = 0x00000003
	CKA_UNIQUE_ID                  AttributeType = 0x00000004 // v3.0
	CKA_APPLICATION                AttributeType = 0x00000010
	CKA_VALUE                      AttributeType = 0x00000011
	CKA_OBJECT_ID                  AttributeType = 0x00000012
	CKA_CERTIFICATE_TYPE           AttributeType = 0x00000080
	CKA_ISSUER                     AttributeType = 0x00000081
	CKA_SERIAL_NUMBER              AttributeType = 0x00000082
	CKA_AC_ISSUER                  AttributeType = 0x00000083
	CKA_OWNER                      AttributeType = 0x00000084
	CKA_ATTR_TYPES                 AttributeType = 0x00000085
	CKA_TRUSTED                    AttributeType = 0x00000086
	CKA_CERTIFICATE_CATEGORY       AttributeType = 0x00000087
	CKA_JAVA_MIDP_SECURITY_DOMAIN  AttributeType = 0x00000088
	CKA_URL                        AttributeType = 0x00000089
	CKA_HASH_OF_SUBJECT_PUBLIC_KEY AttributeType = 0x0000008A
	CKA_HASH_OF_ISSUER_PUBLIC_KEY  AttributeType = 0x0000008B
	CKA_NAME_HASH_ALGORITHM        AttributeType = 0x0000008C
	CKA_CHECK_VALUE                AttributeType = 0x00000090
	CKA_KEY_TYPE                   AttributeType = 0x00000100
	CKA_SUBJECT                    AttributeType = 0x00000101
	CKA_ID                         AttributeType = 0x00000102
	CKA_SENSITIVE                  AttributeType = 0x00000103
	CKA_ENCRYPT                    AttributeType = 0x00000104
	CKA_DECRYPT                    AttributeType = 0x00000105
	CKA_WRAP                       AttributeType = 0x00000106
	CKA_UNWRAP                     AttributeType = 0x00000107
	CKA_SIGN                       AttributeType = 0x00000108
	CKA_SIGN_RECOVER               AttributeType = 0x00000109
	CKA_VERIFY                     AttributeType = 0x0000010A
	CKA_VERIFY_RECOVER             AttributeType = 0x0000010B
	CKA_DERIVE                     AttributeType = 0x0000010C
	CKA_START_DATE                 AttributeType = 0x00000110
	CKA_END_DATE                   AttributeType = 0x00000111
	CKA_MODULUS                    AttributeType = 0x00000120
	CKA_MODULUS_BITS               AttributeType = 0x00000121
	CKA_PUBLIC_EXPONENT            AttributeType = 0x00000122
	CKA_PRIVATE_EXPONENT           AttributeType = 0x00000123
	CKA_PRIME_1                    AttributeType = 0x00000124
	CKA_PRIME_2                    AttributeType = 0x00000125
	CKA_EXPONENT_1                 AttributeType = 0x00000126
	CKA_EXPONENT_2                 AttributeType = 0x00000127
	CKA_COEFFICIENT                AttributeType = 0x00000128
	CKA_PUBLIC_KEY_INFO            AttributeType = 0x00000129
	CKA_PRIME                      AttributeType = 0x00000130
	CKA_SUBPRIME                   AttributeType = 0x00000131
	CKA_BASE                       AttributeType = 0x00000132
	CKA_PRIME_BITS                 AttributeType = 0x00000133
	CKA_SUBPRIME_BITS              AttributeType = 0x00000134
	CKA_SUB_PRIME_BITS             AttributeType = CKA_SUBPRIME_BITS // alias
	CKA_VALUE_BITS                 AttributeType = 0x00000160
	CKA_VALUE_LEN                  AttributeType = 0x00000161
	CKA_EXTRACTABLE                AttributeType = 0x00000162
	CKA_LOCAL                      AttributeType = 0x00000163
	CKA_NEVER_EXTRACTABLE          AttributeType = 0x00000164
	CKA_ALWAYS_SENSITIVE           AttributeType = 0x00000165
	CKA_KEY_GEN_MECHANISM          AttributeType = 0x00000166
	CKA_MODIFIABLE                 AttributeType = 0x00000170
	CKA_COPYABLE                   AttributeType = 0x00000171
	CKA_DESTROYABLE                AttributeType = 0x00000172
	CKA_EC_PARAMS                  AttributeType = 0x00000180
	CKA_ECDSA_PARAMS               AttributeType = CKA_EC_PARAMS // deprecated alias
	CKA_EC_POINT                   AttributeType = 0x00000181
	CKA_SECONDARY_AUTH             AttributeType = 0x00000200 // deprecated
	CKA_AUTH_PIN_FLAGS             AttributeType = 0x00000201 // deprecated
	CKA_ALWAYS_AUTHENTICATE        AttributeType = 0x00000202
	CKA_WRAP_WITH_TRUSTED          AttributeType = 0x00000210
	CKA_WRAP_TEMPLATE              AttributeType = CKF_ARRAY_ATTRIBUTE | 0x00000211
	CKA_UNWRAP_TEMPLATE            AttributeType = CKF_ARRAY_ATTRIBUTE | 0x00000212
	CKA_DERIVE_TEMPLATE            AttributeType = CKF_ARRAY_ATTRIBUTE | 0x00000213
	CKA_OTP_FORMAT                 AttributeType = 0x00000220
	CKA_OTP_LENGTH                 AttributeType = 0x00000221
	CKA_OTP_TIME_INTERVAL          AttributeType = 0x00000222
	CKA_OTP_USER_FRIENDLY_MODE     AttributeType = 0x00000223
	CKA_OTP_CHALLENGE_REQUIREMENT  AttributeType = 0x00000224
	CKA_OTP_TIME_REQUIREMENT       AttributeType = 0x00000225
	CKA_OTP_COUNTER_REQUIREMENT    AttributeType = 0x00000226
	CKA_OTP_PIN_REQUIREMENT        AttributeType = 0x00000227
	CKA_OTP_COUNTER                AttributeType = 0x0000022E
	CKA_OTP_TIME                   AttributeType = 0x0000022F
	CKA_OTP_USER_IDENTIFIER        AttributeType = 0x0000022A
	CKA_OTP_SERVICE_IDENTIFIER     AttributeType = 0x0000022B
	CKA_OTP_SERVICE_LOGO           AttributeType = 0x0000022C
	CKA_OTP_SERVICE_LOGO_TYPE      AttributeType = 0x0000022D
	CKA_GOSTR3410_PARAMS           AttributeType = 0x00000250
	CKA_GOSTR3411_PARAMS           AttributeType = 0x00000251
	CKA_GOST28147_PARAMS           AttributeType = 0x00000252
	CKA_HW_FEATURE_TYPE            AttributeType = 0x00000300
	CKA_RESET_ON_INIT              AttributeType = 0x00000301
	CKA_HAS_RESET                  AttributeType = 0x00000302
	CKA_PIXEL_X                    AttributeType = 0x00000400
	CKA_PIXEL_Y                    AttributeType = 0x00000401
	CKA_RESOLUTION                 AttributeType = 0x00000402
	CKA_CHAR_ROWS                  AttributeType = 0x00000403
	CKA_CHAR_COLUMNS               AttributeType = 0x00000404
	CKA_COLOR                      AttributeType = 0x00000405
	CKA_BITS_PER_PIXEL             AttributeType = 0x00000406
	CKA_CHAR_SETS                  AttributeType = 0x00000480
	CKA_ENCODING_METHODS           AttributeType = 0x00000481
	CKA_MIME_TYPES                 AttributeType = 0x00000482
	CKA_MECHANISM_TYPE             AttributeType = 0x00000500
	CKA_REQUIRED_CMS_ATTRIBUTES    AttributeType = 0x00000501
	CKA_DEFAULT_CMS_ATTRIBUTES     AttributeType = 0x00000502
	CKA_SUPPORTED_CMS_ATTRIBUTES   AttributeType = 0x00000503
	CKA_ALLOWED_MECHANISMS         AttributeType = CKF_ARRAY_ATTRIBUTE | 0x00000600
	// v3.0
	CKA_PROFILE_ID           AttributeType = 0x00000601
	CKA_X2RATCHET_BAG        AttributeType = 0x00000602
	CKA_X2RATCHET_BAGSIZE    AttributeType = 0x00000603
	CKA_X2RATCHET_BOBS1STMSG AttributeType = 0x00000604
	CKA_X2RATCHET_CKR        AttributeType = 0x00000605
	CKA_X2RATCHET_CKS        AttributeType = 0x00000606
	CKA_X2RATCHET_DHP        AttributeType = 0x00000607
	CKA_X2RATCHET_DHR        AttributeType = 0x00000608
	CKA_X2RATCHET_DHS        AttributeType = 0x00000609
	CKA_X2RATCHET_HKR        AttributeType = 0x0000060A
	CKA_X2RATCHET_HKS        AttributeType = 0x0000060B
	CKA_X2RATCHET_ISALICE    AttributeType = 0x0000060C
	CKA_X2RATCHET_NHKR       AttributeType = 0x0000060D
	CKA_X2RATCHET_NHKS       AttributeType = 0x0000060E
	CKA_X2RATCHET_NR         AttributeType = 0x0000060F
	CKA_X2RATCHET_NS         AttributeType = 0x00000610
	CKA_X2RATCHET_PNS        AttributeType = 0x00000611
	CKA_X2RATCHET_RK         AttributeType = 0x00000612
	// v3.2
	CKA_PARAMETER_SET  AttributeType = 0x0000061D // CKP_ML_DSA_* or CKP_ML_KEM_*
	CKA_ENCAPSULATE    AttributeType = 0x00000633
	CKA_DECAPSULATE    AttributeType = 0x00000634
	CKA_SEED           AttributeType = 0x00000637 // ML-DSA (32 bytes) and ML-KEM (64 bytes) private key seed
	CKA_VENDOR_DEFINED AttributeType = 0x80000000
)

// Mechanism types (CK_MECHANISM_TYPE).
const (
	CKM_RSA_PKCS_KEY_PAIR_GEN           MechanismType = 0x00000000
	CKM_RSA_PKCS                        MechanismType = 0x00000001
	CKM_RSA_9796                        MechanismType = 0x00000002
	CKM_RSA_X_509                       MechanismType = 0x00000003
	CKM_MD2_RSA_PKCS                    MechanismType = 0x00000004
	CKM_MD5_RSA_PKCS                    MechanismType = 0x00000005
	CKM_SHA1_RSA_PKCS                   MechanismType = 0x00000006
	CKM_RIPEMD128_RSA_PKCS              MechanismType = 0x00000007
	CKM_RIPEMD160_RSA_PKCS              MechanismType = 0x00000008
	CKM_RSA_PKCS_OAEP                   MechanismType = 0x00000009
	CKM_RSA_X9_31_KEY_PAIR_GEN          MechanismType = 0x0000000A
	CKM_RSA_X9_31                       MechanismType = 0x0000000B
	CKM_SHA1_RSA_X9_31                  MechanismType = 0x0000000C
	CKM_RSA_PKCS_PSS                    MechanismType = 0x0000000D
	CKM_SHA1_RSA_PKCS_PSS               MechanismType = 0x0000000E
	CKM_ML_KEM_KEY_PAIR_GEN             MechanismType = 0x0000000F // v3.2
	CKM_DSA_KEY_PAIR_GEN                MechanismType = 0x00000010
	CKM_DSA                             MechanismType = 0x00000011
	CKM_DSA_SHA1                        MechanismType = 0x00000012
	CKM_DSA_SHA224                      MechanismType = 0x00000013
	CKM_DSA_SHA256                      MechanismType = 0x00000014
	CKM_DSA_SHA384                      MechanismType = 0x00000015
	CKM_DSA_SHA512                      MechanismType = 0x00000016
	CKM_ML_KEM                          MechanismType = 0x00000017 // v3.2
	CKM_DSA_SHA3_224                    MechanismType = 0x00000018 // v3.0
	CKM_DSA_SHA3_256                    MechanismType = 0x00000019 // v3.0
	CKM_DSA_SHA3_384                    MechanismType = 0x0000001A // v3.0
	CKM_DSA_SHA3_512                    MechanismType = 0x0000001B // v3.0
	CKM_ML_DSA_KEY_PAIR_GEN             MechanismType = 0x0000001C // v3.2
	CKM_ML_DSA                          MechanismType = 0x0000001D // v3.2
	CKM_HASH_ML_DSA                     MechanismType = 0x0000001F // v3.2
	CKM_DH_PKCS_KEY_PAIR_GEN            MechanismType = 0x00000020
	CKM_DH_PKCS_DERIVE                  MechanismType = 0x00000021
	CKM_X9_42_DH_KEY_PAIR_GEN           MechanismType = 0x00000030
	CKM_X9_42_DH_DERIVE                 MechanismType = 0x00000031
	CKM_X9_42_DH_HYBRID_DERIVE          MechanismType = 0x00000032
	CKM_X9_42_MQV_DERIVE                MechanismType = 0x00000033
	CKM_SHA256_RSA_PKCS                 MechanismType = 0x00000040
	CKM_SHA384_RSA_PKCS                 MechanismType = 0x00000041
	CKM_SHA512_RSA_PKCS                 MechanismType = 0x00000042
	CKM_SHA256_RSA_PKCS_PSS             MechanismType = 0x00000043
	CKM_SHA384_RSA_PKCS_PSS             MechanismType = 0x00000044
	CKM_SHA512_RSA_PKCS_PSS             MechanismType = 0x00000045
	CKM_SHA224_RSA_PKCS                 MechanismType = 0x00000046
	CKM_SHA224_RSA_PKCS_PSS             MechanismType = 0x00000047
	CKM_SHA512_224                      MechanismType = 0x00000048
	CKM_SHA512_224_HMAC                 MechanismType = 0x00000049
	CKM_SHA512_224_HMAC_GENERAL         MechanismType = 0x0000004A
	CKM_SHA512_224_KEY_DERIVATION       MechanismType = 0x0000004B
	CKM_SHA512_256                      MechanismType = 0x0000004C
	CKM_SHA512_256_HMAC                 MechanismType = 0x0000004D
	CKM_SHA512_256_HMAC_GENERAL         MechanismType = 0x0000004E
	CKM_SHA512_256_KEY_DERIVATION       MechanismType = 0x0000004F
	CKM_SHA512_T                        MechanismType = 0x00000050
	CKM_SHA512_T_HMAC                   MechanismType = 0x00000051
	CKM_SHA512_T_HMAC_GENERAL           MechanismType = 0x00000052
	CKM_SHA512_T_KEY_DERIVATION         MechanismType = 0x00000053
	CKM_SHA3_256_RSA_PKCS               MechanismType = 0x00000060 // v3.0
	CKM_SHA3_384_RSA_PKCS               MechanismType = 0x00000061 // v3.0
	CKM_SHA3_512_RSA_PKCS               MechanismType = 0x00000062 // v3.0
	CKM_SHA3_256_RSA_PKCS_PSS           MechanismType = 0x00000063 // v3.0
	CKM_SHA3_384_RSA_PKCS_PSS           MechanismType = 0x00000064 // v3.0
	CKM_SHA3_512_RSA_PKCS_PSS           MechanismType = 0x00000065 // v3.0
	CKM_SHA3_224_RSA_PKCS               MechanismType = 0x00000066 // v3.0
	CKM_SHA3_224_RSA_PKCS_PSS           MechanismType = 0x00000067 // v3.0
	CKM_RC2_KEY_GEN                     MechanismType = 0x00000100
	CKM_RC2_ECB                         MechanismType = 0x00000101
	CKM_RC2_CBC                         MechanismType = 0x00000102
	CKM_RC2_MAC                         MechanismType = 0x00000103
	CKM_RC2_MAC_GENERAL                 MechanismType = 0x00000104
	CKM_RC2_CBC_PAD                     MechanismType = 0x00000105
	CKM_RC4_KEY_GEN                     MechanismType = 0x00000110
	CKM_RC4                             MechanismType = 0x00000111
	CKM_DES_KEY_GEN                     MechanismType = 0x00000120
	CKM_DES_ECB                         MechanismType = 0x00000121
	CKM_DES_CBC                         MechanismType = 0x00000122
	CKM_DES_MAC                         MechanismType = 0x00000123
	CKM_DES_MAC_GENERAL                 MechanismType = 0x00000124
	CKM_DES_CBC_PAD                     MechanismType = 0x00000125
	CKM_DES2_KEY_GEN                    MechanismType = 0x00000130
	CKM_DES3_KEY_GEN                    MechanismType = 0x00000131
	CKM_DES3_ECB                        MechanismType = 0x00000132
	CKM_DES3_CBC                        MechanismType = 0x00000133
	CKM_DES3_MAC                        MechanismType = 0x00000134
	CKM_DES3_MAC_GENERAL                MechanismType = 0x00000135
	CKM_DES3_CBC_PAD                    MechanismType = 0x00000136
	CKM_DES3_CMAC_GENERAL               MechanismType = 0x00000137
	CKM_DES3_CMAC                       MechanismType = 0x00000138
	CKM_CDMF_KEY_GEN                    MechanismType = 0x00000140
	CKM_CDMF_ECB                        MechanismType = 0x00000141
	CKM_CDMF_CBC                        MechanismType = 0x00000142
	CKM_CDMF_MAC                        MechanismType = 0x00000143
	CKM_CDMF_MAC_GENERAL                MechanismType = 0x00000144
	CKM_CDMF_CBC_PAD                    MechanismType = 0x00000145
	CKM_DES_OFB64                       MechanismType = 0x00000150
	CKM_DES_OFB8                        MechanismType = 0x00000151
	CKM_DES_CFB64                       MechanismType = 0x00000152
	CKM_DES_CFB8                        MechanismType = 0x00000153
	CKM_MD2                             MechanismType = 0x00000200
	CKM_MD2_HMAC                        MechanismType = 0x00000201
	CKM_MD2_HMAC_GENERAL                MechanismType = 0x00000202
	CKM_MD5                             MechanismType = 0x00000210
	CKM_MD5_HMAC                        MechanismType = 0x00000211
	CKM_MD5_HMAC_GENERAL                MechanismType = 0x00000212
	CKM_SHA_1                           MechanismType = 0x00000220
	CKM_SHA_1_HMAC                      MechanismType = 0x00000221
	CKM_SHA_1_HMAC_GENERAL              MechanismType = 0x00000222
	CKM_RIPEMD128                       MechanismType = 0x00000230
	CKM_RIPEMD128_HMAC                  MechanismType = 0x00000231
	CKM_RIPEMD128_HMAC_GENERAL          MechanismType = 0x00000232
	CKM_RIPEMD160                       MechanismType = 0x00000240
	CKM_RIPEMD160_HMAC                  MechanismType = 0x00000241
	CKM_RIPEMD160_HMAC_GENERAL          MechanismType = 0x00000242
	CKM_SHA256                          MechanismType = 0x00000250
	CKM_SHA256_HMAC                     MechanismType = 0x00000251
	CKM_SHA256_HMAC_GENERAL             MechanismType = 0x00000252
	CKM_SHA224                          MechanismType = 0x00000255
	CKM_SHA224_HMAC                     MechanismType = 0x00000256
	CKM_SHA224_HMAC_GENERAL             MechanismType = 0x00000257
	CKM_SHA384                          MechanismType = 0x00000260
	CKM_SHA384_HMAC                     MechanismType = 0x00000261
	CKM_SHA384_HMAC_GENERAL             MechanismType = 0x00000262
	CKM_SHA512                          MechanismType = 0x00000270
	CKM_SHA512_HMAC                     MechanismType = 0x00000271
	CKM_SHA512_HMAC_GENERAL             MechanismType = 0x00000272
	CKM_SECURID_KEY_GEN                 MechanismType = 0x00000280
	CKM_SECURID                         MechanismType = 0x00000282
	CKM_HOTP_KEY_GEN                    MechanismType = 0x00000290
	CKM_HOTP                            MechanismType = 0x00000291
	CKM_ACTI                            MechanismType = 0x000002A0
	CKM_ACTI_KEY_GEN                    MechanismType = 0x000002A1
	CKM_SHA3_256                        MechanismType = 0x000002B0 // v3.0
	CKM_SHA3_256_HMAC                   MechanismType = 0x000002B1 // v3.0
	CKM_SHA3_256_HMAC_GENERAL           MechanismType = 0x000002B2 // v3.0
	CKM_SHA3_256_KEY_GEN                MechanismType = 0x000002B3 // v3.0
	CKM_SHA3_224                        MechanismType = 0x000002B5 // v3.0
	CKM_SHA3_224_HMAC                   MechanismType = 0x000002B6 // v3.0
	CKM_SHA3_224_HMAC_GENERAL           MechanismType = 0x000002B7 // v3.0
	CKM_SHA3_224_KEY_GEN                MechanismType = 0x000002B8 // v3.0
	CKM_SHA3_384                        MechanismType = 0x000002C0 // v3.0
	CKM_SHA3_384_HMAC                   MechanismType = 0x000002C1 // v3.0
	CKM_SHA3_384_HMAC_GENERAL           MechanismType = 0x000002C2 // v3.0
	CKM_SHA3_384_KEY_GEN                MechanismType = 0x000002C3 // v3.0
	CKM_SHA3_512                        MechanismType = 0x000002D0 // v3.0
	CKM_SHA3_512_HMAC                   MechanismType = 0x000002D1 // v3.0
	CKM_SHA3_512_HMAC_GENERAL           MechanismType = 0x000002D2 // v3.0
	CKM_SHA3_512_KEY_GEN                MechanismType = 0x000002D3 // v3.0
	CKM_CAST_KEY_GEN                    MechanismType = 0x00000300
	CKM_CAST_ECB                        MechanismType = 0x00000301
	CKM_CAST_CBC                        MechanismType = 0x00000302
	CKM_CAST_MAC                        MechanismType = 0x00000303
	CKM_CAST_MAC_GENERAL                MechanismType = 0x00000304
	CKM_CAST_CBC_PAD                    MechanismType = 0x00000305
	CKM_CAST3_KEY_GEN                   MechanismType = 0x00000310
	CKM_CAST3_ECB                       MechanismType = 0x00000311
	CKM_CAST3_CBC                       MechanismType = 0x00000312
	CKM_CAST3_MAC                       MechanismType = 0x00000313
	CKM_CAST3_MAC_GENERAL               MechanismType = 0x00000314
	CKM_CAST3_CBC_PAD                   MechanismType = 0x00000315
	CKM_CAST128_KEY_GEN                 MechanismType = 0x00000320
	CKM_CAST5_KEY_GEN                   MechanismType = CKM_CAST128_KEY_GEN // alias
	CKM_CAST128_ECB                     MechanismType = 0x00000321
	CKM_CAST5_ECB                       MechanismType = CKM_CAST128_ECB // alias
	CKM_CAST128_CBC                     MechanismType = 0x00000322
	CKM_CAST5_CBC                       MechanismType = CKM_CAST128_CBC // alias
	CKM_CAST128_MAC                     MechanismType = 0x00000323
	CKM_CAST5_MAC                       MechanismType = CKM_CAST128_MAC // alias
	CKM_CAST128_MAC_GENERAL             MechanismType = 0x00000324
	CKM_CAST5_MAC_GENERAL               MechanismType = CKM_CAST128_MAC_GENERAL // alias
	CKM_CAST128_CBC_PAD                 MechanismType = 0x00000325
	CKM_CAST5_CBC_PAD                   MechanismType = CKM_CAST128_CBC_PAD // alias
	CKM_RC5_KEY_GEN                     MechanismType = 0x00000330
	CKM_RC5_ECB                         MechanismType = 0x00000331
	CKM_RC5_CBC                         MechanismType = 0x00000332
	CKM_RC5_MAC                         MechanismType = 0x00000333
	CKM_RC5_MAC_GENERAL                 MechanismType = 0x00000334
	CKM_RC5_CBC_PAD                     MechanismType = 0x00000335
	CKM_IDEA_KEY_GEN                    MechanismType = 0x00000340
	CKM_IDEA_ECB                        MechanismType = 0x00000341
	CKM_IDEA_CBC                        MechanismType = 0x00000342
	CKM_IDEA_MAC                        MechanismType = 0x00000343
	CKM_IDEA_MAC_GENERAL                MechanismType = 0x00000344
	CKM_IDEA_CBC_PAD                    MechanismType = 0x00000345
	CKM_GENERIC_SECRET_KEY_GEN          MechanismType = 0x00000350
	CKM_CONCATENATE_BASE_AND_KEY        MechanismType = 0x00000360
	CKM_CONCATENATE_BASE_AND_DATA       MechanismType = 0x00000362
	CKM_CONCATENATE_DATA_AND_BASE       MechanismType = 0x00000363
	CKM_XOR_BASE_AND_DATA               MechanismType = 0x00000364
	CKM_EXTRACT_KEY_FROM_KEY            MechanismType = 0x00000365
	CKM_SSL3_PRE_MASTER_KEY_GEN         MechanismType = 0x00000370
	CKM_SSL3_MASTER_KEY_DERIVE          MechanismType = 0x00000371
	CKM_SSL3_KEY_AND_MAC_DERIVE         MechanismType = 0x00000372
	CKM_SSL3_MASTER_KEY_DERIVE_DH       MechanismType = 0x00000373
	CKM_TLS_PRE_MASTER_KEY_GEN          MechanismType = 0x00000374
	CKM_TLS_MASTER_KEY_DERIVE           MechanismType = 0x00000375
	CKM_TLS_KEY_AND_MAC_DERIVE          MechanismType = 0x00000376
	CKM_TLS_MASTER_KEY_DERIVE_DH        MechanismType = 0x00000377
	CKM_TLS_PRF                         MechanismType = 0x00000378
	CKM_SSL3_MD5_MAC                    MechanismType = 0x00000380
	CKM_SSL3_SHA1_MAC                   MechanismType = 0x00000381
	CKM_MD5_KEY_DERIVATION              MechanismType = 0x00000390
	CKM_MD2_KEY_DERIVATION              MechanismType = 0x00000391
	CKM_SHA1_KEY_DERIVATION             MechanismType = 0x00000392
	CKM_SHA256_KEY_DERIVATION           MechanismType = 0x00000393
	CKM_SHA384_KEY_DERIVATION           MechanismType = 0x00000394
	CKM_SHA512_KEY_DERIVATION           MechanismType = 0x00000395
	CKM_SHA224_KEY_DERIVATION           MechanismType = 0x00000396
	CKM_SHA3_256_KEY_DERIVATION         MechanismType = 0x00000397                   // v3.0
	CKM_SHA3_256_KEY_DERIVE             MechanismType = CKM_SHA3_256_KEY_DERIVATION  // v3.0 alias
	CKM_SHA3_224_KEY_DERIVATION         MechanismType = 0x00000398                   // v3.0
	CKM_SHA3_224_KEY_DERIVE             MechanismType = CKM_SHA3_224_KEY_DERIVATION  // v3.0 alias
	CKM_SHA3_384_KEY_DERIVATION         MechanismType = 0x00000399                   // v3.0
	CKM_SHA3_384_KEY_DERIVE             MechanismType = CKM_SHA3_384_KEY_DERIVATION  // v3.0 alias
	CKM_SHA3_512_KEY_DERIVATION         MechanismType = 0x0000039A                   // v3.0
	CKM_SHA3_512_KEY_DERIVE             MechanismType = CKM_SHA3_512_KEY_DERIVATION  // v3.0 alias
	CKM_SHAKE_128_KEY_DERIVATION        MechanismType = 0x0000039B                   // v3.0
	CKM_SHAKE_128_KEY_DERIVE            MechanismType = CKM_SHAKE_128_KEY_DERIVATION // v3.0 alias
	CKM_SHAKE_256_KEY_DERIVATION        MechanismType = 0x0000039C                   // v3.0
	CKM_SHAKE_256_KEY_DERIVE            MechanismType = CKM_SHAKE_256_KEY_DERIVATION // v3.0 alias
	CKM_PBE_MD2_DES_CBC                 MechanismType = 0x000003A0
	CKM_PBE_MD5_DES_CBC                 MechanismType = 0x000003A1
	CKM_PBE_MD5_CAST_CBC                MechanismType = 0x000003A2
	CKM_PBE_MD5_CAST3_CBC               MechanismType = 0x000003A3
	CKM_PBE_MD5_CAST128_CBC             MechanismType = 0x000003A4
	CKM_PBE_MD5_CAST5_CBC               MechanismType = CKM_PBE_MD5_CAST128_CBC // alias
	CKM_PBE_SHA1_CAST128_CBC            MechanismType = 0x000003A5
	CKM_PBE_SHA1_CAST5_CBC              MechanismType = CKM_PBE_SHA1_CAST128_CBC // alias
	CKM_PBE_SHA1_RC4_128                MechanismType = 0x000003A6
	CKM_PBE_SHA1_RC4_40                 MechanismType = 0x000003A7
	CKM_PBE_SHA1_DES3_EDE_CBC           MechanismType = 0x000003A8
	CKM_PBE_SHA1_DES2_EDE_CBC           MechanismType = 0x000003A9
	CKM_PBE_SHA1_RC2_128_CBC            MechanismType = 0x000003AA
	CKM_PBE_SHA1_RC2_40_CBC             MechanismType = 0x000003AB
	CKM_SP800_108_COUNTER_KDF           MechanismType = 0x000003AC // v3.0
	CKM_SP800_108_FEEDBACK_KDF          MechanismType = 0x000003AD // v3.0
	CKM_SP800_108_DOUBLE_PIPELINE_KDF   MechanismType = 0x000003AE // v3.0
	CKM_PKCS5_PBKD2                     MechanismType = 0x000003B0
	CKM_PBA_SHA1_WITH_SHA1_HMAC         MechanismType = 0x000003C0
	CKM_WTLS_PRE_MASTER_KEY_GEN         MechanismType = 0x000003D0
	CKM_WTLS_MASTER_KEY_DERIVE          MechanismType = 0x000003D1
	CKM_WTLS_MASTER_KEY_DERIVE_DH_ECC   MechanismType = 0x000003D2
	CKM_WTLS_PRF                        MechanismType = 0x000003D3
	CKM_WTLS_SERVER_KEY_AND_MAC_DERIVE  MechanismType = 0x000003D4
	CKM_WTLS_CLIENT_KEY_AND_MAC_DERIVE  MechanismType = 0x000003D5
	CKM_TLS10_MAC_SERVER                MechanismType = 0x000003D6
	CKM_TLS10_MAC_CLIENT                MechanismType = 0x000003D7
	CKM_TLS12_MAC                       MechanismType = 0x000003D8
	CKM_TLS12_KDF                       MechanismType = 0x000003D9
	CKM_TLS12_MASTER_KEY_DERIVE         MechanismType = 0x000003E0
	CKM_TLS12_KEY_AND_MAC_DERIVE        MechanismType = 0x000003E1
	CKM_TLS12_MASTER_KEY_DERIVE_DH      MechanismType = 0x000003E2
	CKM_TLS12_KEY_SAFE_DERIVE           MechanismType = 0x000003E3
	CKM_TLS_MAC                         MechanismType = 0x000003E4
	CKM_TLS_KDF                         MechanismType = 0x000003E5
	CKM_KEY_WRAP_LYNKS                  MechanismType = 0x00000400
	CKM_KEY_WRAP_SET_OAEP               MechanismType = 0x00000401
	CKM_CMS_SIG                         MechanismType = 0x00000500
	CKM_KIP_DERIVE                      MechanismType = 0x00000510
	CKM_KIP_WRAP                        MechanismType = 0x00000511
	CKM_KIP_MAC                         MechanismType = 0x00000512
	CKM_CAMELLIA_KEY_GEN                MechanismType = 0x00000550
	CKM_CAMELLIA_ECB                    MechanismType = 0x00000551
	CKM_CAMELLIA_CBC                    MechanismType = 0x00000552
	CKM_CAMELLIA_MAC                    MechanismType = 0x00000553
	CKM_CAMELLIA_MAC_GENERAL            MechanismType = 0x00000554
	CKM_CAMELLIA_CBC_PAD                MechanismType = 0x00000555
	CKM_CAMELLIA_ECB_ENCRYPT_DATA       MechanismType = 0x00000556
	CKM_CAMELLIA_CBC_ENCRYPT_DATA       MechanismType = 0x00000557
	CKM_CAMELLIA_CTR                    MechanismType = 0x00000558
	CKM_ARIA_KEY_GEN                    MechanismType = 0x00000560
	CKM_ARIA_ECB                        MechanismType = 0x00000561
	CKM_ARIA_CBC                        MechanismType = 0x00000562
	CKM_ARIA_MAC                        MechanismType = 0x00000563
	CKM_ARIA_MAC_GENERAL                MechanismType = 0x00000564
	CKM_ARIA_CBC_PAD                    MechanismType = 0x00000565
	CKM_ARIA_ECB_ENCRYPT_DATA           MechanismType = 0x00000566
	CKM_ARIA_CBC_ENCRYPT_DATA           MechanismType = 0x00000567
	CKM_SEED_KEY_GEN                    MechanismType = 0x00000650
	CKM_SEED_ECB                        MechanismType = 0x00000651
	CKM_SEED_CBC                        MechanismType = 0x00000652
	CKM_SEED_MAC                        MechanismType = 0x00000653
	CKM_SEED_MAC_GENERAL                MechanismType = 0x00000654
	CKM_SEED_CBC_PAD                    MechanismType = 0x00000655
	CKM_SEED_ECB_ENCRYPT_DATA           MechanismType = 0x00000656
	CKM_SEED_CBC_ENCRYPT_DATA           MechanismType = 0x00000657
	CKM_SKIPJACK_KEY_GEN                MechanismType = 0x00001000
	CKM_SKIPJACK_ECB64                  MechanismType = 0x00001001
	CKM_SKIPJACK_CBC64                  MechanismType = 0x00001002
	CKM_SKIPJACK_OFB64                  MechanismType = 0x00001003
	CKM_SKIPJACK_CFB64                  MechanismType = 0x00001004
	CKM_SKIPJACK_CFB32                  MechanismType = 0x00001005
	CKM_SKIPJACK_CFB16                  MechanismType = 0x00001006
	CKM_SKIPJACK_CFB8                   MechanismType = 0x00001007
	CKM_SKIPJACK_WRAP                   MechanismType = 0x00001008
	CKM_SKIPJACK_PRIVATE_WRAP           MechanismType = 0x00001009
	CKM_SKIPJACK_RELAYX                 MechanismType = 0x0000100A
	CKM_KEA_KEY_PAIR_GEN                MechanismType = 0x00001010
	CKM_KEA_KEY_DERIVE                  MechanismType = 0x00001011
	CKM_KEA_DERIVE                      MechanismType = 0x00001012
	CKM_FORTEZZA_TIMESTAMP              MechanismType = 0x00001020
	CKM_BATON_KEY_GEN                   MechanismType = 0x00001030
	CKM_BATON_ECB128                    MechanismType = 0x00001031
	CKM_BATON_ECB96                     MechanismType = 0x00001032
	CKM_BATON_CBC128                    MechanismType = 0x00001033
	CKM_BATON_COUNTER                   MechanismType = 0x00001034
	CKM_BATON_SHUFFLE                   MechanismType = 0x00001035
	CKM_BATON_WRAP                      MechanismType = 0x00001036
	CKM_EC_KEY_PAIR_GEN                 MechanismType = 0x00001040
	CKM_ECDSA_KEY_PAIR_GEN              MechanismType = CKM_EC_KEY_PAIR_GEN // deprecated alias
	CKM_ECDSA                           MechanismType = 0x00001041
	CKM_ECDSA_SHA1                      MechanismType = 0x00001042
	CKM_ECDSA_SHA224                    MechanismType = 0x00001043
	CKM_ECDSA_SHA256                    MechanismType = 0x00001044
	CKM_ECDSA_SHA384                    MechanismType = 0x00001045
	CKM_ECDSA_SHA512                    MechanismType = 0x00001046
	CKM_ECDSA_SHA3_224                  MechanismType = 0x00001047 // v3.0
	CKM_ECDSA_SHA3_256                  MechanismType = 0x00001048 // v3.0
	CKM_ECDSA_SHA3_384                  MechanismType = 0x00001049 // v3.0
	CKM_ECDSA_SHA3_512                  MechanismType = 0x0000104A // v3.0
	CKM_ECDH1_DERIVE                    MechanismType = 0x00001050
	CKM_ECDH1_COFACTOR_DERIVE           MechanismType = 0x00001051
	CKM_ECMQV_DERIVE                    MechanismType = 0x00001052
	CKM_ECDH_AES_KEY_WRAP               MechanismType = 0x00001053
	CKM_RSA_AES_KEY_WRAP                MechanismType = 0x00001054
	CKM_EC_EDWARDS_KEY_PAIR_GEN         MechanismType = 0x00001055 // v3.0
	CKM_EC_MONTGOMERY_KEY_PAIR_GEN      MechanismType = 0x00001056 // v3.0
	CKM_EDDSA                           MechanismType = 0x00001057 // v3.0
	CKM_JUNIPER_KEY_GEN                 MechanismType = 0x00001060
	CKM_JUNIPER_ECB128                  MechanismType = 0x00001061
	CKM_JUNIPER_CBC128                  MechanismType = 0x00001062
	CKM_JUNIPER_COUNTER                 MechanismType = 0x00001063
	CKM_JUNIPER_SHUFFLE                 MechanismType = 0x00001064
	CKM_JUNIPER_WRAP                    MechanismType = 0x00001065
	CKM_FASTHASH                        MechanismType = 0x00001070
	CKM_AES_XTS                         MechanismType = 0x00001071 // v3.0
	CKM_AES_XTS_KEY_GEN                 MechanismType = 0x00001072 // v3.0
	CKM_AES_KEY_GEN                     MechanismType = 0x00001080
	CKM_AES_ECB                         MechanismType = 0x00001081
	CKM_AES_CBC                         MechanismType = 0x00001082
	CKM_AES_MAC                         MechanismType = 0x00001083
	CKM_AES_MAC_GENERAL                 MechanismType = 0x00001084
	CKM_AES_CBC_PAD                     MechanismType = 0x00001085
	CKM_AES_CTR                         MechanismType = 0x00001086
	CKM_AES_GCM                         MechanismType = 0x00001087
	CKM_AES_CCM                         MechanismType = 0x00001088
	CKM_AES_CTS                         MechanismType = 0x00001089
	CKM_AES_CMAC                        MechanismType = 0x0000108A
	CKM_AES_CMAC_GENERAL                MechanismType = 0x0000108B
	CKM_AES_XCBC_MAC                    MechanismType = 0x0000108C
	CKM_AES_XCBC_MAC_96                 MechanismType = 0x0000108D
	CKM_AES_GMAC                        MechanismType = 0x0000108E
	CKM_BLOWFISH_KEY_GEN                MechanismType = 0x00001090
	CKM_BLOWFISH_CBC                    MechanismType = 0x00001091
	CKM_TWOFISH_KEY_GEN                 MechanismType = 0x00001092
	CKM_TWOFISH_CBC                     MechanismType = 0x00001093
	CKM_BLOWFISH_CBC_PAD                MechanismType = 0x00001094
	CKM_TWOFISH_CBC_PAD                 MechanismType = 0x00001095
	CKM_DES_ECB_ENCRYPT_DATA            MechanismType = 0x00001100
	CKM_DES_CBC_ENCRYPT_DATA            MechanismType = 0x00001101
	CKM_DES3_ECB_ENCRYPT_DATA           MechanismType = 0x00001102
	CKM_DES3_CBC_ENCRYPT_DATA           MechanismType = 0x00001103
	CKM_AES_ECB_ENCRYPT_DATA            MechanismType = 0x00001104
	CKM_AES_CBC_ENCRYPT_DATA            MechanismType = 0x00001105
	CKM_GOSTR3410_KEY_PAIR_GEN          MechanismType = 0x00001200
	CKM_GOSTR3410                       MechanismType = 0x00001201
	CKM_GOSTR3410_WITH_GOSTR3411        MechanismType = 0x00001202
	CKM_GOSTR3410_KEY_WRAP              MechanismType = 0x00001203
	CKM_GOSTR3410_DERIVE                MechanismType = 0x00001204
	CKM_GOSTR3411                       MechanismType = 0x00001210
	CKM_GOSTR3411_HMAC                  MechanismType = 0x00001211
	CKM_GOST28147_KEY_GEN               MechanismType = 0x00001220
	CKM_GOST28147_ECB                   MechanismType = 0x00001221
	CKM_GOST28147                       MechanismType = 0x00001222
	CKM_GOST28147_MAC                   MechanismType = 0x00001223
	CKM_GOST28147_KEY_WRAP              MechanismType = 0x00001224
	CKM_CHACHA20_KEY_GEN                MechanismType = 0x00001225 // v3.0
	CKM_CHACHA20                        MechanismType = 0x00001226 // v3.0
	CKM_POLY1305_KEY_GEN                MechanismType = 0x00001227 // v3.0
	CKM_POLY1305                        MechanismType = 0x00001228 // v3.0
	CKM_EC_KEY_PAIR_GEN_W_EXTRA_BITS    MechanismType = 0x0000140B // v3.0
	CKM_DSA_PARAMETER_GEN               MechanismType = 0x00002000
	CKM_DH_PKCS_PARAMETER_GEN           MechanismType = 0x00002001
	CKM_X9_42_DH_PARAMETER_GEN          MechanismType = 0x00002002
	CKM_DSA_PROBABILISTIC_PARAMETER_GEN MechanismType = 0x00002003
	CKM_DSA_PROBABLISTIC_PARAMETER_GEN  MechanismType = CKM_DSA_PROBABILISTIC_PARAMETER_GEN // sic: the v2.40 and v3.0 spelling
	CKM_DSA_SHAWE_TAYLOR_PARAMETER_GEN  MechanismType = 0x00002004
	CKM_DSA_FIPS_G_GEN                  MechanismType = 0x00002005 // v3.0
	CKM_AES_OFB                         MechanismType = 0x00002104
	CKM_AES_CFB64                       MechanismType = 0x00002105
	CKM_AES_CFB8                        MechanismType = 0x00002106
	CKM_AES_CFB128                      MechanismType = 0x00002107
	CKM_AES_CFB1                        MechanismType = 0x00002108
	CKM_AES_KEY_WRAP                    MechanismType = 0x00002109
	CKM_AES_KEY_WRAP_PAD                MechanismType = 0x0000210A
	CKM_AES_KEY_WRAP_KWP                MechanismType = 0x0000210B // v3.0
	CKM_RSA_PKCS_TPM_1_1                MechanismType = 0x00004001
	CKM_RSA_PKCS_OAEP_TPM_1_1           MechanismType = 0x00004002
	CKM_SHA_1_KEY_GEN                   MechanismType = 0x00004003 // v3.0
	CKM_SHA224_KEY_GEN                  MechanismType = 0x00004004 // v3.0
	CKM_SHA256_KEY_GEN                  MechanismType = 0x00004005 // v3.0
	CKM_SHA384_KEY_GEN                  MechanismType = 0x00004006 // v3.0
	CKM_SHA512_KEY_GEN                  MechanismType = 0x00004007 // v3.0
	CKM_SHA512_224_KEY_GEN              MechanismType = 0x00004008 // v3.0
	CKM_SHA512_256_KEY_GEN              MechanismType = 0x00004009 // v3.0
	CKM_SHA512_T_KEY_GEN                MechanismType = 0x0000400A // v3.0
	CKM_NULL                            MechanismType = 0x0000400B // v3.0
	CKM_BLAKE2B_160                     MechanismType = 0x0000400C // v3.0
	CKM_BLAKE2B_160_HMAC                MechanismType = 0x0000400D // v3.0
	CKM_BLAKE2B_160_HMAC_GENERAL        MechanismType = 0x0000400E // v3.0
	CKM_BLAKE2B_160_KEY_DERIVE          MechanismType = 0x0000400F // v3.0
	CKM_BLAKE2B_160_KEY_GEN             MechanismType = 0x00004010 // v3.0
	CKM_BLAKE2B_256                     MechanismType = 0x00004011 // v3.0
	CKM_BLAKE2B_256_HMAC                MechanismType = 0x00004012 // v3.0
	CKM_BLAKE2B_256_HMAC_GENERAL        MechanismType = 0x00004013 // v3.0
	CKM_BLAKE2B_256_KEY_DERIVE          MechanismType = 0x00004014 // v3.0
	CKM_BLAKE2B_256_KEY_GEN             MechanismType = 0x00004015 // v3.0
	CKM_BLAKE2B_384                     MechanismType = 0x00004016 // v3.0
	CKM_BLAKE2B_384_HMAC                MechanismType = 0x00004017 // v3.0
	CKM_BLAKE2B_384_HMAC_GENERAL        MechanismType = 0x00004018 // v3.0
	CKM_BLAKE2B_384_KEY_DERIVE          MechanismType = 0x00004019 // v3.0
	CKM_BLAKE2B_384_KEY_GEN             MechanismType = 0x0000401A // v3.0
	CKM_BLAKE2B_512                     MechanismType = 0x0000401B // v3.0
	CKM_BLAKE2B_512_HMAC                MechanismType = 0x0000401C // v3.0
	CKM_BLAKE2B_512_HMAC_GENERAL        MechanismType = 0x0000401D // v3.0
	CKM_BLAKE2B_512_KEY_DERIVE          MechanismType = 0x0000401E // v3.0
	CKM_BLAKE2B_512_KEY_GEN             MechanismType = 0x0000401F // v3.0
	CKM_SALSA20                         MechanismType = 0x00004020 // v3.0
	CKM_CHACHA20_POLY1305               MechanismType = 0x00004021 // v3.0
	CKM_SALSA20_POLY1305                MechanismType = 0x00004022 // v3.0
	CKM_X3DH_INITIALIZE                 MechanismType = 0x00004023 // v3.0
	CKM_X3DH_RESPOND                    MechanismType = 0x00004024 // v3.0
	CKM_X2RATCHET_INITIALIZE            MechanismType = 0x00004025 // v3.0
	CKM_X2RATCHET_RESPOND               MechanismType = 0x00004026 // v3.0
	CKM_X2RATCHET_ENCRYPT               MechanismType = 0x00004027 // v3.0
	CKM_X2RATCHET_DECRYPT               MechanismType = 0x00004028 // v3.0
	CKM_XEDDSA                          MechanismType = 0x00004029 // v3.0
	CKM_HKDF_DERIVE                     MechanismType = 0x0000402A // v3.0
	CKM_HKDF_DATA                       MechanismType = 0x0000402B // v3.0
	CKM_HKDF_KEY_GEN                    MechanismType = 0x0000402C // v3.0
	CKM_SALSA20_KEY_GEN                 MechanismType = 0x0000402D // v3.0
	CKM_IKE2_PRF_PLUS_DERIVE            MechanismType = 0x0000402E // v3.0
	CKM_IKE_PRF_DERIVE                  MechanismType = 0x0000402F // v3.0
	CKM_IKE1_PRF_DERIVE                 MechanismType = 0x00004030 // v3.0
	CKM_IKE1_EXTENDED_DERIVE            MechanismType = 0x00004031 // v3.0
	CKM_ML_DSA_EXTERNAL_MU_GEN          MechanismType = 0x0000403B // v3.3 draft: not in v3.2; may change before v3.3 is final
	CKM_ML_DSA_EXTERNAL_MU              MechanismType = 0x0000403C // v3.3 draft: signs a caller-computed 64-byte mu (FIPS 204)
	CKM_VENDOR_DEFINED                  MechanismType = 0x80000000
)

// Return values (CK_RV).
const (
	CKR_OK                               ReturnValue = 0x00000000
	CKR_CANCEL                           ReturnValue = 0x00000001
	CKR_HOST_MEMORY                      ReturnValue = 0x00000002
	CKR_SLOT_ID_INVALID                  ReturnValue = 0x00000003
	CKR_GENERAL_ERROR                    ReturnValue = 0x00000005
	CKR_FUNCTION_FAILED                  ReturnValue = 0x00000006
	CKR_ARGUMENTS_BAD                    ReturnValue = 0x00000007
	CKR_NO_EVENT                         ReturnValue = 0x00000008
	CKR_NEED_TO_CREATE_THREADS           ReturnValue = 0x00000009
	CKR_CANT_LOCK                        ReturnValue = 0x0000000A
	CKR_ATTRIBUTE_READ_ONLY              ReturnValue = 0x00000010
	CKR_ATTRIBUTE_SENSITIVE              ReturnValue = 0x00000011
	CKR_ATTRIBUTE_TYPE_INVALID           ReturnValue = 0x00000012
	CKR_ATTRIBUTE_VALUE_INVALID          ReturnValue = 0x00000013
	CKR_ACTION_PROHIBITED                ReturnValue = 0x0000001B
	CKR_DATA_INVALID                     ReturnValue = 0x00000020
	CKR_DATA_LEN_RANGE                   ReturnValue = 0x00000021
	CKR_DEVICE_ERROR                     ReturnValue = 0x00000030
	CKR_DEVICE_MEMORY                    ReturnValue = 0x00000031
	CKR_DEVICE_REMOVED                   ReturnValue = 0x00000032
	CKR_ENCRYPTED_DATA_INVALID           ReturnValue = 0x00000040
	CKR_ENCRYPTED_DATA_LEN_RANGE         ReturnValue = 0x00000041
	CKR_AEAD_DECRYPT_FAILED              ReturnValue = 0x00000042 // v3.0
	CKR_FUNCTION_CANCELED                ReturnValue = 0x00000050
	CKR_FUNCTION_NOT_PARALLEL            ReturnValue = 0x00000051
	CKR_FUNCTION_NOT_SUPPORTED           ReturnValue = 0x00000054
	CKR_KEY_HANDLE_INVALID               ReturnValue = 0x00000060
	CKR_KEY_SIZE_RANGE                   ReturnValue = 0x00000062
	CKR_KEY_TYPE_INCONSISTENT            ReturnValue = 0x00000063
	CKR_KEY_NOT_NEEDED                   ReturnValue = 0x00000064
	CKR_KEY_CHANGED                      ReturnValue = 0x00000065
	CKR_KEY_NEEDED                       ReturnValue = 0x00000066
	CKR_KEY_INDIGESTIBLE                 ReturnValue = 0x00000067
	CKR_KEY_FUNCTION_NOT_PERMITTED       ReturnValue = 0x00000068
	CKR_KEY_NOT_WRAPPABLE                ReturnValue = 0x00000069
	CKR_KEY_UNEXTRACTABLE                ReturnValue = 0x0000006A
	CKR_MECHANISM_INVALID                ReturnValue = 0x00000070
	CKR_MECHANISM_PARAM_INVALID          ReturnValue = 0x00000071
	CKR_OBJECT_HANDLE_INVALID            ReturnValue = 0x00000082
	CKR_OPERATION_ACTIVE                 ReturnValue = 0x00000090
	CKR_OPERATION_NOT_INITIALIZED        ReturnValue = 0x00000091
	CKR_PIN_INCORRECT                    ReturnValue = 0x000000A0
	CKR_PIN_INVALID                      ReturnValue = 0x000000A1
	CKR_PIN_LEN_RANGE                    ReturnValue = 0x000000A2
	CKR_PIN_EXPIRED                      ReturnValue = 0x000000A3
	CKR_PIN_LOCKED                       ReturnValue = 0x000000A4
	CKR_SESSION_CLOSED                   ReturnValue = 0x000000B0
	CKR_SESSION_COUNT                    ReturnValue = 0x000000B1
	CKR_SESSION_HANDLE_INVALID           ReturnValue = 0x000000B3
	CKR_SESSION_PARALLEL_NOT_SUPPORTED   ReturnValue = 0x000000B4
	CKR_SESSION_READ_ONLY                ReturnValue = 0x000000B5
	CKR_SESSION_EXISTS                   ReturnValue = 0x000000B6
	CKR_SESSION_READ_ONLY_EXISTS         ReturnValue = 0x000000B7
	CKR_SESSION_READ_WRITE_SO_EXISTS     ReturnValue = 0x000000B8
	CKR_SIGNATURE_INVALID                ReturnValue = 0x000000C0
	CKR_SIGNATURE_LEN_RANGE              ReturnValue = 0x000000C1
	CKR_TEMPLATE_INCOMPLETE              ReturnValue = 0x000000D0
	CKR_TEMPLATE_INCONSISTENT            ReturnValue = 0x000000D1
	CKR_TOKEN_NOT_PRESENT                ReturnValue = 0x000000E0
	CKR_TOKEN_NOT_RECOGNIZED             ReturnValue = 0x000000E1
	CKR_TOKEN_WRITE_PROTECTED            ReturnValue = 0x000000E2
	CKR_UNWRAPPING_KEY_HANDLE_INVALID    ReturnValue = 0x000000F0
	CKR_UNWRAPPING_KEY_SIZE_RANGE        ReturnValue = 0x000000F1
	CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT ReturnValue = 0x000000F2
	CKR_USER_ALREADY_LOGGED_IN           ReturnValue = 0x00000100
	CKR_USER_NOT_LOGGED_IN               ReturnValue = 0x00000101
	CKR_USER_PIN_NOT_INITIALIZED         ReturnValue = 0x00000102
	CKR_USER_TYPE_INVALID                ReturnValue = 0x00000103
	CKR_USER_ANOTHER_ALREADY_LOGGED_IN   ReturnValue = 0x00000104
	CKR_USER_TOO_MANY_TYPES              ReturnValue = 0x00000105
	CKR_WRAPPED_KEY_INVALID              ReturnValue = 0x00000110
	CKR_WRAPPED_KEY_LEN_RANGE            ReturnValue = 0x00000112
	CKR_WRAPPING_KEY_HANDLE_INVALID      ReturnValue = 0x00000113
	CKR_WRAPPING_KEY_SIZE_RANGE          ReturnValue = 0x00000114
	CKR_WRAPPING_KEY_TYPE_INCONSISTENT   ReturnValue = 0x00000115
	CKR_RANDOM_SEED_NOT_SUPPORTED        ReturnValue = 0x00000120
	CKR_RANDOM_NO_RNG                    ReturnValue = 0x00000121
	CKR_DOMAIN_PARAMS_INVALID            ReturnValue = 0x00000130
	CKR_CURVE_NOT_SUPPORTED              ReturnValue = 0x00000140
	CKR_BUFFER_TOO_SMALL                 ReturnValue = 0x00000150
	CKR_SAVED_STATE_INVALID              ReturnValue = 0x00000160
	CKR_INFORMATION_SENSITIVE            ReturnValue = 0x00000170
	CKR_STATE_UNSAVEABLE                 ReturnValue = 0x00000180
	CKR_CRYPTOKI_NOT_INITIALIZED         ReturnValue = 0x00000190
	CKR_CRYPTOKI_ALREADY_INITIALIZED     ReturnValue = 0x00000191
	CKR_MUTEX_BAD                        ReturnValue = 0x000001A0
	CKR_MUTEX_NOT_LOCKED                 ReturnValue = 0x000001A1
	CKR_NEW_PIN_MODE                     ReturnValue = 0x000001B0
	CKR_NEXT_OTP                         ReturnValue = 0x000001B1
	CKR_EXCEEDED_MAX_ITERATIONS          ReturnValue = 0x000001B5
	CKR_FIPS_SELF_TEST_FAILED            ReturnValue = 0x000001B6
	CKR_LIBRARY_LOAD_FAILED              ReturnValue = 0x000001B7
	CKR_PIN_TOO_WEAK                     ReturnValue = 0x000001B8
	CKR_PUBLIC_KEY_INVALID               ReturnValue = 0x000001B9
	CKR_FUNCTION_REJECTED                ReturnValue = 0x00000200
	CKR_TOKEN_RESOURCE_EXCEEDED          ReturnValue = 0x00000201 // v3.0
	CKR_OPERATION_CANCEL_FAILED          ReturnValue = 0x00000202 // v3.0
	CKR_VENDOR_DEFINED                   ReturnValue = 0x80000000
)

// User types (CK_USER_TYPE), for C_Login.
const (
	CKU_SO               UserType = 0
	CKU_USER             UserType = 1
	CKU_CONTEXT_SPECIFIC UserType = 2
)

// Session states (CK_STATE, CK_SESSION_INFO.state).
const (
	CKS_RO_PUBLIC_SESSION = 0
	CKS_RO_USER_FUNCTIONS = 1
	CKS_RW_PUBLIC_SESSION = 2
	CKS_RW_USER_FUNCTIONS = 3
	CKS_RW_SO_FUNCTIONS   = 4
)

// Slot flags (CK_SLOT_INFO.flags).
const (
	CKF_TOKEN_PRESENT    = 0x00000001
	CKF_REMOVABLE_DEVICE = 0x00000002
	CKF_HW_SLOT          = 0x00000004
)

// Token flags (CK_TOKEN_INFO.flags).
const (
	CKF_RNG                           = 0x00000001
	CKF_WRITE_PROTECTED               = 0x00000002
	CKF_LOGIN_REQUIRED                = 0x00000004
	CKF_USER_PIN_INITIALIZED          = 0x00000008
	CKF_RESTORE_KEY_NOT_NEEDED        = 0x00000020
	CKF_CLOCK_ON_TOKEN                = 0x00000040
	CKF_PROTECTED_AUTHENTICATION_PATH = 0x00000100
	CKF_DUAL_CRYPTO_OPERATIONS        = 0x00000200
	CKF_TOKEN_INITIALIZED             = 0x00000400
	CKF_SECONDARY_AUTHENTICATION      = 0x00000800
	CKF_USER_PIN_COUNT_LOW            = 0x00010000
	CKF_USER_PIN_FINAL_TRY            = 0x00020000
	CKF_USER_PIN_LOCKED               = 0x00040000
	CKF_USER_PIN_TO_BE_CHANGED        = 0x00080000
	CKF_SO_PIN_COUNT_LOW              = 0x00100000
	CKF_SO_PIN_FINAL_TRY              = 0x00200000
	CKF_SO_PIN_LOCKED                 = 0x00400000
	CKF_SO_PIN_TO_BE_CHANGED          = 0x00800000
	CKF_ERROR_STATE                   = 0x01000000
)

// Session flags (CK_SESSION_INFO.flags, C_OpenSession). CKF_SERIAL_SESSION
// must always be set.
const (
	CKF_RW_SESSION     = 0x00000002
	CKF_SERIAL_SESSION = 0x00000004
)

// Mechanism flags (CK_MECHANISM_INFO.flags).
const (
	CKF_HW                = 0x00000001
	CKF_MESSAGE_ENCRYPT   = 0x00000002        // v3.0
	CKF_MESSAGE_DECRYPT   = 0x00000004        // v3.0
	CKF_MESSAGE_SIGN      = 0x00000008        // v3.0
	CKF_MESSAGE_VERIFY    = 0x00000010        // v3.0
	CKF_MULTI_MESSAGE     = 0x00000020        // v3.0
	CKF_MULTI_MESSGE      = CKF_MULTI_MESSAGE // sic: alias in the v3.0 header
	CKF_FIND_OBJECTS      = 0x00000040        // v3.0
	CKF_ENCRYPT           = 0x00000100
	CKF_DECRYPT           = 0x00000200
	CKF_DIGEST            = 0x00000400
	CKF_SIGN              = 0x00000800
	CKF_SIGN_RECOVER      = 0x00001000
	CKF_VERIFY            = 0x00002000
	CKF_VERIFY_RECOVER    = 0x00004000
	CKF_GENERATE          = 0x00008000
	CKF_GENERATE_KEY_PAIR = 0x00010000
	CKF_WRAP              = 0x00020000
	CKF_UNWRAP            = 0x00040000
	CKF_DERIVE            = 0x00080000
	CKF_EC_F_P            = 0x00100000
	CKF_EC_F_2M           = 0x00200000
	CKF_EC_ECPARAMETERS   = 0x00400000
	CKF_EC_OID            = 0x00800000 // v3.0 name
	CKF_EC_NAMEDCURVE     = CKF_EC_OID // v2.40 name, deprecated in v3.0
	CKF_EC_UNCOMPRESS     = 0x01000000
	CKF_EC_COMPRESS       = 0x02000000
	CKF_EC_CURVENAME      = 0x04000000 // v3.0
	CKF_ENCAPSULATE       = 0x10000000 // v3.2
	CKF_DECAPSULATE       = 0x20000000 // v3.2
	CKF_EXTENSION         = 0x80000000
)

// C_Initialize flags (CK_C_INITIALIZE_ARGS.flags).
const (
	CKF_LIBRARY_CANT_CREATE_OS_THREADS = 0x00000001
	CKF_OS_LOCKING_OK                  = 0x00000002
)

// C_WaitForSlotEvent flags.
const CKF_DONT_BLOCK = 0x00000001

// Interface flags (CK_INTERFACE.flags, C_GetInterface; v3.0).
const CKF_INTERFACE_FORK_SAFE = 0x00000001

// Message flags (C_EncryptMessageNext and friends; v3.0).
const CKF_END_OF_MESSAGE = 0x00000001

// OTP flags (CK_OTP_PARAMS, C_Sign with an OTP key).
const (
	CKF_NEXT_OTP          = 0x00000001
	CKF_EXCLUDE_TIME      = 0x00000002
	CKF_EXCLUDE_COUNTER   = 0x00000004
	CKF_EXCLUDE_CHALLENGE = 0x00000008
	CKF_EXCLUDE_PIN       = 0x00000010
	CKF_USER_FRIENDLY_OTP = 0x00000020
)

// OTP parameter types (CK_OTP_PARAM_TYPE).
const (
	CK_OTP_VALUE         = 0
	CK_OTP_PIN           = 1
	CK_OTP_CHALLENGE     = 2
	CK_OTP_TIME          = 3
	CK_OTP_COUNTER       = 4
	CK_OTP_FLAGS         = 5
	CK_OTP_OUTPUT_LENGTH = 6
	CK_OTP_OUTPUT_FORMAT = 7
)

// OTP formats (CKA_OTP_FORMAT).
const (
	CK_OTP_FORMAT_DECIMAL      = 0
	CK_OTP_FORMAT_HEXADECIMAL  = 1
	CK_OTP_FORMAT_ALPHANUMERIC = 2
	CK_OTP_FORMAT_BINARY       = 3
)

// OTP requirements (CKA_OTP_*_REQUIREMENT).
const (
	CK_OTP_PARAM_IGNORED   = 0
	CK_OTP_PARAM_OPTIONAL  = 1
	CK_OTP_PARAM_MANDATORY = 2
)

// Notifications (CK_NOTIFICATION), passed to a session's Notify callback.
const (
	CKN_SURRENDER   = 0
	CKN_OTP_CHANGED = 1
)

// Mask generation functions (CK_RSA_PKCS_MGF_TYPE), for RSA OAEP and PSS.
const (
	CKG_MGF1_SHA1     MGF = 0x00000001
	CKG_MGF1_SHA256   MGF = 0x00000002
	CKG_MGF1_SHA384   MGF = 0x00000003
	CKG_MGF1_SHA512   MGF = 0x00000004
	CKG_MGF1_SHA224   MGF = 0x00000005
	CKG_MGF1_SHA3_224 MGF = 0x00000006 // v3.0
	CKG_MGF1_SHA3_256 MGF = 0x00000007 // v3.0
	CKG_MGF1_SHA3_384 MGF = 0x00000008 // v3.0
	CKG_MGF1_SHA3_512 MGF = 0x00000009 // v3.0
)

// OAEP encoding parameter sources (CK_RSA_PKCS_OAEP_SOURCE_TYPE).
const CKZ_DATA_SPECIFIED = 0x00000001

// IV generator functions (CK_GENERATOR_FUNCTION, for the v3.0 message-based
// AEAD functions).
const (
	CKG_NO_GENERATE      = 0x00000000
	CKG_GENERATE         = 0x00000001
	CKG_GENERATE_COUNTER = 0x00000002
	CKG_GENERATE_RANDOM  = 0x00000003
)

// Key derivation functions (CK_EC_KDF_TYPE, CK_X9_42_DH_KDF_TYPE), for
// ECDH and X9.42 DH.
const (
	CKD_NULL                 = 0x00000001
	CKD_SHA1_KDF             = 0x00000002
	CKD_SHA1_KDF_ASN1        = 0x00000003 // X9.42 only
	CKD_SHA1_KDF_CONCATENATE = 0x00000004 // X9.42 only
	CKD_SHA224_KDF           = 0x00000005
	CKD_SHA256_KDF           = 0x00000006
	CKD_SHA384_KDF           = 0x00000007
	CKD_SHA512_KDF           = 0x00000008
	CKD_CPDIVERSIFY_KDF      = 0x00000009
	CKD_SHA3_224_KDF         = 0x0000000A // v3.0
	CKD_SHA3_256_KDF         = 0x0000000B // v3.0
	CKD_SHA3_384_KDF         = 0x0000000C // v3.0
	CKD_SHA3_512_KDF         = 0x0000000D // v3.0
	CKD_SHA1_KDF_SP800       = 0x0000000E // v3.0
	CKD_SHA224_KDF_SP800     = 0x0000000F // v3.0
	CKD_SHA256_KDF_SP800     = 0x00000010 // v3.0
	CKD_SHA384_KDF_SP800     = 0x00000011 // v3.0
	CKD_SHA512_KDF_SP800     = 0x00000012 // v3.0
	CKD_SHA3_224_KDF_SP800   = 0x00000013 // v3.0
	CKD_SHA3_256_KDF_SP800   = 0x00000014 // v3.0
	CKD_SHA3_384_KDF_SP800   = 0x00000015 // v3.0
	CKD_SHA3_512_KDF_SP800   = 0x00000016 // v3.0
	CKD_BLAKE2B_160_KDF      = 0x00000017 // v3.0
	CKD_BLAKE2B_256_KDF      = 0x00000018 // v3.0
	CKD_BLAKE2B_384_KDF      = 0x00000019 // v3.0
	CKD_BLAKE2B_512_KDF      = 0x0000001A // v3.0
)
