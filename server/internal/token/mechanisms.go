package token

import (
	"crypto"
	_ "crypto/sha1" // registers crypto.SHA1 for PSS and OAEP
	_ "crypto/sha256"
	_ "crypto/sha512"

	"github.com/keyhold/keyhold/ck"
)

// MechanismInfo is a CK_MECHANISM_INFO: the key sizes a mechanism supports
// (in bits, except for AES, where PKCS#11 counts bytes) and what it can do
// (CKF_SIGN, CKF_DECRYPT, ...).
type MechanismInfo struct {
	MinKeySize uint64
	MaxKeySize uint64
	Flags      uint64
}

// opSet is the set of operations a mechanism performs.
// The first bits follow the order of op, so that op.set names them.
type opSet uint16

const (
	opsSign opSet = 1 << iota
	opsVerify
	opsEncrypt
	opsDecrypt
	opsWrap
	opsUnwrap
	opsDerive
	opsEncapsulate
	opsDecapsulate
	opsGenerateKey
	opsGenerateKeyPair
)

func (o op) set() opSet { return 1 << o }

// params is the parameter structure a mechanism takes.
type params uint8

const (
	paramsNone params = iota
	paramsPSS
	paramsOAEP
	paramsGCM
	paramsIV   // a bare 16-byte IV (CBC)
	paramsCTR  // CK_AES_CTR_PARAMS
	paramsECDH // CK_ECDH1_DERIVE_PARAMS
	// paramsSignContext: an optional CK_SIGN_ADDITIONAL_CONTEXT (ML-DSA).
	paramsSignContext
)

// mechDef describes a supported mechanism.
type mechDef struct {
	keyType ck.KeyType // the key type it works with
	ops     opSet
	params  params
	info    MechanismInfo
}

// CKF_HW is set on every mechanism: from the application's side the
// operation runs in the device (this token), not in the PKCS#11 library.
const (
	ecFlags = ck.CKF_EC_F_P | ck.CKF_EC_OID | ck.CKF_EC_UNCOMPRESS // prime curves named by OID, uncompressed points
)

// mechDefs lists every mechanism the token implements. The client hashes for
// hash-and-sign mechanisms (DESIGN.md), so only the raw ones are here.
var mechDefs = map[ck.MechanismType]mechDef{
	ck.CKM_RSA_PKCS_KEY_PAIR_GEN: {ck.CKK_RSA, opsGenerateKeyPair, paramsNone,
		MechanismInfo{rsaMinBits, rsaMaxBits, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR}},
	ck.CKM_RSA_PKCS: {ck.CKK_RSA, opsSign | opsVerify | opsEncrypt | opsDecrypt, paramsNone,
		MechanismInfo{rsaMinBits, rsaMaxBits, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY | ck.CKF_ENCRYPT | ck.CKF_DECRYPT}},
	ck.CKM_RSA_PKCS_PSS: {ck.CKK_RSA, opsSign | opsVerify, paramsPSS,
		MechanismInfo{rsaMinBits, rsaMaxBits, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY}},
	ck.CKM_RSA_PKCS_OAEP: {ck.CKK_RSA, opsEncrypt | opsDecrypt | opsWrap | opsUnwrap, paramsOAEP,
		MechanismInfo{rsaMinBits, rsaMaxBits, ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP}},
	ck.CKM_EC_KEY_PAIR_GEN: {ck.CKK_EC, opsGenerateKeyPair, paramsNone,
		MechanismInfo{224, 521, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR | ecFlags}},
	ck.CKM_ECDSA: {ck.CKK_EC, opsSign | opsVerify, paramsNone,
		MechanismInfo{224, 521, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY | ecFlags}},
	// Edwards sizes are field sizes in bits (PKCS#11 v3.0): 255 for Ed25519.
	ck.CKM_EC_EDWARDS_KEY_PAIR_GEN: {ck.CKK_EC_EDWARDS, opsGenerateKeyPair, paramsNone,
		MechanismInfo{255, 255, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR | ck.CKF_EC_F_P | ck.CKF_EC_OID | ck.CKF_EC_CURVENAME}},
	ck.CKM_EDDSA: {ck.CKK_EC_EDWARDS, opsSign | opsVerify, paramsNone,
		MechanismInfo{255, 255, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY}},
	ck.CKM_AES_KEY_GEN: {ck.CKK_AES, opsGenerateKey, paramsNone,
		MechanismInfo{16, 32, ck.CKF_HW | ck.CKF_GENERATE}},
	ck.CKM_AES_GCM: {ck.CKK_AES, opsEncrypt | opsDecrypt, paramsGCM,
		MechanismInfo{16, 32, ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT}},
	ck.CKM_AES_ECB: {ck.CKK_AES, opsEncrypt | opsDecrypt, paramsNone,
		MechanismInfo{16, 32, ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT}},
	ck.CKM_AES_CBC: {ck.CKK_AES, opsEncrypt | opsDecrypt, paramsIV,
		MechanismInfo{16, 32, ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT}},
	ck.CKM_AES_CBC_PAD: {ck.CKK_AES, opsEncrypt | opsDecrypt, paramsIV,
		MechanismInfo{16, 32, ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT}},
	ck.CKM_AES_CTR: {ck.CKK_AES, opsEncrypt | opsDecrypt, paramsCTR,
		MechanismInfo{16, 32, ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT}},
	ck.CKM_AES_CMAC: {ck.CKK_AES, opsSign | opsVerify, paramsNone,
		MechanismInfo{16, 32, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY}},
	// RFC 3394, and RFC 5649 under both of the names PKCS#11 has given it
	// (CKM_AES_KEY_WRAP_PAD is RFC 5649 in SoftHSM2 and v2.40 modules).
	ck.CKM_AES_KEY_WRAP: {ck.CKK_AES, opsWrap | opsUnwrap, paramsNone,
		MechanismInfo{16, 32, ck.CKF_HW | ck.CKF_WRAP | ck.CKF_UNWRAP}},
	ck.CKM_AES_KEY_WRAP_PAD: {ck.CKK_AES, opsWrap | opsUnwrap, paramsNone,
		MechanismInfo{16, 32, ck.CKF_HW | ck.CKF_WRAP | ck.CKF_UNWRAP}},
	ck.CKM_AES_KEY_WRAP_KWP: {ck.CKK_AES, opsWrap | opsUnwrap, paramsNone,
		MechanismInfo{16, 32, ck.CKF_HW | ck.CKF_WRAP | ck.CKF_UNWRAP}},

	// Generic secrets: sizes in bits, as PKCS#11 counts them for these.
	ck.CKM_GENERIC_SECRET_KEY_GEN: {ck.CKK_GENERIC_SECRET, opsGenerateKey, paramsNone,
		MechanismInfo{8 * genericMinBytes, 8 * genericMaxBytes, ck.CKF_HW | ck.CKF_GENERATE}},
	ck.CKM_SHA_1_HMAC:  hmacDef,
	ck.CKM_SHA224_HMAC: hmacDef,
	ck.CKM_SHA256_HMAC: hmacDef,
	ck.CKM_SHA384_HMAC: hmacDef,
	ck.CKM_SHA512_HMAC: hmacDef,

	// ECDH on prime curves, whose cofactor is 1: both variants agree.
	ck.CKM_ECDH1_DERIVE: {ck.CKK_EC, opsDerive, paramsECDH,
		MechanismInfo{256, 521, ck.CKF_HW | ck.CKF_DERIVE | ecFlags}},
	ck.CKM_ECDH1_COFACTOR_DERIVE: {ck.CKK_EC, opsDerive, paramsECDH,
		MechanismInfo{256, 521, ck.CKF_HW | ck.CKF_DERIVE | ecFlags}},

	// ML-KEM (PKCS#11 v3.2): the key sizes are the parameter sets
	// (CKP_ML_KEM_*) the token supports. Go has no ML-KEM-512.
	ck.CKM_ML_KEM_KEY_PAIR_GEN: {ck.CKK_ML_KEM, opsGenerateKeyPair, paramsNone,
		MechanismInfo{ck.CKP_ML_KEM_768, ck.CKP_ML_KEM_1024, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR}},
	ck.CKM_ML_KEM: {ck.CKK_ML_KEM, opsEncapsulate | opsDecapsulate, paramsNone,
		MechanismInfo{ck.CKP_ML_KEM_768, ck.CKP_ML_KEM_1024, ck.CKF_HW | ck.CKF_ENCAPSULATE | ck.CKF_DECAPSULATE}},
}

var hmacDef = mechDef{ck.CKK_GENERIC_SECRET, opsSign | opsVerify, paramsNone,
	MechanismInfo{8 * genericMinBytes, 8 * genericMaxBytes, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY}}

// hmacHashes maps the HMAC mechanisms to their hash.
var hmacHashes = map[ck.MechanismType]crypto.Hash{
	ck.CKM_SHA_1_HMAC:  crypto.SHA1,
	ck.CKM_SHA224_HMAC: crypto.SHA224,
	ck.CKM_SHA256_HMAC: crypto.SHA256,
	ck.CKM_SHA384_HMAC: crypto.SHA384,
	ck.CKM_SHA512_HMAC: crypto.SHA512,
}

// Mechanisms returns the mechanisms the token supports, with their true
// limits and capabilities, as C_GetMechanismList and C_GetMechanismInfo
// report them. The map is the caller's to keep or change.
func Mechanisms() map[ck.MechanismType]MechanismInfo {
	out := make(map[ck.MechanismType]MechanismInfo, len(mechDefs))
	for m, d := range mechDefs {
		out[m] = d.info
	}
	return out
}

// checkNoParams refuses parameters for a mechanism that takes none.
func checkNoParams(m ck.Mechanism) error {
	return checkParamsShape(m, paramsNone)
}

// checkParamsShape checks that m carries exactly the parameter structure its
// mechanism takes; the values are checked where they are used.
func checkParamsShape(m ck.Mechanism, want params) error {
	n, got := 0, paramsNone
	if m.PSS != nil {
		n, got = n+1, paramsPSS
	}
	if m.OAEP != nil {
		n, got = n+1, paramsOAEP
	}
	if m.GCM != nil {
		n, got = n+1, paramsGCM
	}
	if m.IV != nil {
		n, got = n+1, paramsIV
	}
	if m.CTR != nil {
		n, got = n+1, paramsCTR
	}
	if m.ECDH != nil {
		n, got = n+1, paramsECDH
	}
	if m.SignContext != nil {
		n, got = n+1, paramsSignContext
	}
	switch {
	case n == 0 && want == paramsSignContext:
		return nil // optional: an empty context, hedging preferred
	case n > 1 || (n == 1 && got != want):
		return ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v does not take these parameters", m.Type)
	case n == 0 && want != paramsNone:
		return ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v requires parameters", m.Type)
	}
	return nil
}

// hashes maps the PKCS#11 digest mechanisms a PSS or OAEP parameter may name
// to Go hashes, with the MGF1 variant that uses the same hash.
var hashes = map[ck.MechanismType]struct {
	h   crypto.Hash
	mgf ck.MGF
}{
	ck.CKM_SHA_1:  {crypto.SHA1, ck.CKG_MGF1_SHA1},
	ck.CKM_SHA224: {crypto.SHA224, ck.CKG_MGF1_SHA224},
	ck.CKM_SHA256: {crypto.SHA256, ck.CKG_MGF1_SHA256},
	ck.CKM_SHA384: {crypto.SHA384, ck.CKG_MGF1_SHA384},
	ck.CKM_SHA512: {crypto.SHA512, ck.CKG_MGF1_SHA512},
}

// mgfHashes maps the supported MGF1 variants to Go hashes.
var mgfHashes = map[ck.MGF]crypto.Hash{
	ck.CKG_MGF1_SHA1:   crypto.SHA1,
	ck.CKG_MGF1_SHA224: crypto.SHA224,
	ck.CKG_MGF1_SHA256: crypto.SHA256,
	ck.CKG_MGF1_SHA384: crypto.SHA384,
	ck.CKG_MGF1_SHA512: crypto.SHA512,
}
