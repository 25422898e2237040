package provider

import (
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"maps"
	"slices"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/pqkey"
)

// MechanismInfo is CK_MECHANISM_INFO.
type MechanismInfo struct {
	MinKeySize, MaxKeySize uint64
	Flags                  uint64
}

// mechanism describes one mechanism the library offers: what it does, with
// which key type, which parameters it takes, and for hash-and-sign ones the
// hash computed in this process.
type mechanism struct {
	info    MechanismInfo
	keyType ck.KeyType // key type it works with; for digests, none
	params  paramKind
	hash    crypto.Hash // hash-and-sign and digest mechanisms
	macLen  int         // MACs (HMAC, CMAC): the length of the MAC, which the HSM computes over the whole message
}

type paramKind int

const (
	paramsNone paramKind = iota
	paramsPSS
	paramsOAEP
	paramsGCM
	paramsEdDSA // optional CK_EDDSA_PARAMS; only pure Ed25519 is offered
	paramsIV    // a 16-byte IV (CKM_AES_CBC, CKM_AES_CBC_PAD)
	paramsCTR   // CK_AES_CTR_PARAMS
	paramsECDH  // CK_ECDH1_DERIVE_PARAMS
	// paramsSignContext is the optional CK_SIGN_ADDITIONAL_CONTEXT of
	// CKM_ML_DSA (PKCS#11 v3.2).
	paramsSignContext
)

// Key sizes as PKCS#11 counts them: RSA and EC in bits, Edwards curves by
// field size (255 for Ed25519, PKCS#11 v3.0), AES in bytes.
const (
	rsaMinBits, rsaMaxBits = 2048, 4096 // a partition may allow 1024 (TokenInfo)
	ecMinBits, ecMaxBits   = 224, 521
	// ecdhMinBits: key agreement starts at P-256, as crypto/ecdh's curves
	// do.
	ecdhMinBits = 256
	edBits      = 255
	aesMinBytes = 16
	aesMaxBytes = 32
	// Generic secrets (HMAC keys) are counted in bits.
	genericMinBits, genericMaxBits = 8, 4096

	// CKF_HW is on every HSM mechanism: the operation runs in the device.
	// (pkcs11-tool's self-test, for one, only exercises mechanisms that say
	// so.) Digests run in this library, so they do not carry it.
	hsmSign  = ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY
	hsmCrypt = ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT
	hsmWrap  = ck.CKF_HW | ck.CKF_WRAP | ck.CKF_UNWRAP
	hsmKEM   = ck.CKF_HW | ck.CKF_ENCAPSULATE | ck.CKF_DECAPSULATE
	ecFlags  = ck.CKF_EC_F_P | ck.CKF_EC_OID | ck.CKF_EC_UNCOMPRESS
)

// Post-quantum key sizes are their public keys' in bytes (PKCS#11 v3.2):
// ML-DSA-44 to ML-DSA-87, and ML-KEM-768 and ML-KEM-1024 (Go has no
// ML-KEM-512, so the software HSM offers none).
var (
	mldsaMinBytes, mldsaMaxBytes = uint64(pqkey.MLDSA44.PublicSize), uint64(pqkey.MLDSA87.PublicSize)
	mlkemMinBytes, mlkemMaxBytes = uint64(pqkey.MLKEM768.PublicSize), uint64(pqkey.MLKEM1024.PublicSize)
)

// mldsaMechanisms are offered by a library built with Go 1.27 or later
// (mldsaOffered): the software HSM signs with crypto/mldsa, which Go 1.26
// lacks, and a node built with Go 1.26 refuses them with
// CKR_MECHANISM_INVALID. The library itself only passes them on.
var mldsaMechanisms = map[ck.MechanismType]mechanism{
	ck.CKM_ML_DSA_KEY_PAIR_GEN: {info: MechanismInfo{mldsaMinBytes, mldsaMaxBytes, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR}, keyType: ck.CKK_ML_DSA},
	ck.CKM_ML_DSA:              {info: MechanismInfo{mldsaMinBytes, mldsaMaxBytes, hsmSign}, keyType: ck.CKK_ML_DSA, params: paramsSignContext},
}

// mechanisms are the mechanisms the library offers.
var mechanisms = func() map[ck.MechanismType]mechanism {
	all := maps.Clone(baseMechanisms)
	if mldsaOffered {
		maps.Copy(all, mldsaMechanisms)
	}
	return all
}()

// baseMechanisms are offered by every build.
var baseMechanisms = map[ck.MechanismType]mechanism{
	ck.CKM_RSA_PKCS_KEY_PAIR_GEN: {info: MechanismInfo{rsaMinBits, rsaMaxBits, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR}, keyType: ck.CKK_RSA},
	ck.CKM_EC_KEY_PAIR_GEN:       {info: MechanismInfo{ecMinBits, ecMaxBits, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR | ecFlags}, keyType: ck.CKK_EC},
	ck.CKM_EC_EDWARDS_KEY_PAIR_GEN: {info: MechanismInfo{edBits, edBits, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR | ck.CKF_EC_F_P | ck.CKF_EC_OID | ck.CKF_EC_CURVENAME},
		keyType: ck.CKK_EC_EDWARDS},
	ck.CKM_AES_KEY_GEN: {info: MechanismInfo{aesMinBytes, aesMaxBytes, ck.CKF_HW | ck.CKF_GENERATE}, keyType: ck.CKK_AES},

	ck.CKM_RSA_PKCS:          {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmSign | hsmCrypt}, keyType: ck.CKK_RSA},
	ck.CKM_RSA_PKCS_PSS:      {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmSign}, keyType: ck.CKK_RSA, params: paramsPSS},
	ck.CKM_RSA_PKCS_OAEP:     {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmCrypt | hsmWrap}, keyType: ck.CKK_RSA, params: paramsOAEP},
	ck.CKM_SHA1_RSA_PKCS:     {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmSign}, keyType: ck.CKK_RSA, hash: crypto.SHA1},
	ck.CKM_SHA224_RSA_PKCS:   {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmSign}, keyType: ck.CKK_RSA, hash: crypto.SHA224},
	ck.CKM_SHA256_RSA_PKCS:   {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmSign}, keyType: ck.CKK_RSA, hash: crypto.SHA256},
	ck.CKM_SHA384_RSA_PKCS:   {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmSign}, keyType: ck.CKK_RSA, hash: crypto.SHA384},
	ck.CKM_SHA512_RSA_PKCS:   {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmSign}, keyType: ck.CKK_RSA, hash: crypto.SHA512},
	ck.CKM_SHA1_RSA_PKCS_PSS: {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmSign}, keyType: ck.CKK_RSA, params: paramsPSS, hash: crypto.SHA1},
	ck.CKM_SHA224_RSA_PKCS_PSS: {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmSign}, keyType: ck.CKK_RSA, params: paramsPSS,
		hash: crypto.SHA224},
	ck.CKM_SHA256_RSA_PKCS_PSS: {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmSign}, keyType: ck.CKK_RSA, params: paramsPSS,
		hash: crypto.SHA256},
	ck.CKM_SHA384_RSA_PKCS_PSS: {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmSign}, keyType: ck.CKK_RSA, params: paramsPSS,
		hash: crypto.SHA384},
	ck.CKM_SHA512_RSA_PKCS_PSS: {info: MechanismInfo{rsaMinBits, rsaMaxBits, hsmSign}, keyType: ck.CKK_RSA, params: paramsPSS,
		hash: crypto.SHA512},

	ck.CKM_ECDSA:        {info: MechanismInfo{ecMinBits, ecMaxBits, hsmSign | ecFlags}, keyType: ck.CKK_EC},
	ck.CKM_ECDSA_SHA1:   {info: MechanismInfo{ecMinBits, ecMaxBits, hsmSign | ecFlags}, keyType: ck.CKK_EC, hash: crypto.SHA1},
	ck.CKM_ECDSA_SHA224: {info: MechanismInfo{ecMinBits, ecMaxBits, hsmSign | ecFlags}, keyType: ck.CKK_EC, hash: crypto.SHA224},
	ck.CKM_ECDSA_SHA256: {info: MechanismInfo{ecMinBits, ecMaxBits, hsmSign | ecFlags}, keyType: ck.CKK_EC, hash: crypto.SHA256},
	ck.CKM_ECDSA_SHA384: {info: MechanismInfo{ecMinBits, ecMaxBits, hsmSign | ecFlags}, keyType: ck.CKK_EC, hash: crypto.SHA384},
	ck.CKM_ECDSA_SHA512: {info: MechanismInfo{ecMinBits, ecMaxBits, hsmSign | ecFlags}, keyType: ck.CKK_EC, hash: crypto.SHA512},
	ck.CKM_EDDSA:        {info: MechanismInfo{edBits, edBits, hsmSign}, keyType: ck.CKK_EC_EDWARDS, params: paramsEdDSA},

	ck.CKM_AES_GCM:     {info: MechanismInfo{aesMinBytes, aesMaxBytes, hsmCrypt}, keyType: ck.CKK_AES, params: paramsGCM},
	ck.CKM_AES_ECB:     {info: MechanismInfo{aesMinBytes, aesMaxBytes, hsmCrypt}, keyType: ck.CKK_AES},
	ck.CKM_AES_CBC:     {info: MechanismInfo{aesMinBytes, aesMaxBytes, hsmCrypt}, keyType: ck.CKK_AES, params: paramsIV},
	ck.CKM_AES_CBC_PAD: {info: MechanismInfo{aesMinBytes, aesMaxBytes, hsmCrypt}, keyType: ck.CKK_AES, params: paramsIV},
	ck.CKM_AES_CTR:     {info: MechanismInfo{aesMinBytes, aesMaxBytes, hsmCrypt}, keyType: ck.CKK_AES, params: paramsCTR},
	ck.CKM_AES_CMAC:    {info: MechanismInfo{aesMinBytes, aesMaxBytes, hsmSign}, keyType: ck.CKK_AES, macLen: 16},
	// RFC 3394; RFC 5649 under its v2.40 name (as SoftHSM2 has it) and its
	// v3.0 name.
	ck.CKM_AES_KEY_WRAP:     {info: MechanismInfo{aesMinBytes, aesMaxBytes, hsmWrap}, keyType: ck.CKK_AES},
	ck.CKM_AES_KEY_WRAP_PAD: {info: MechanismInfo{aesMinBytes, aesMaxBytes, hsmWrap}, keyType: ck.CKK_AES},
	ck.CKM_AES_KEY_WRAP_KWP: {info: MechanismInfo{aesMinBytes, aesMaxBytes, hsmWrap}, keyType: ck.CKK_AES},

	ck.CKM_GENERIC_SECRET_KEY_GEN: {info: MechanismInfo{genericMinBits, genericMaxBits, ck.CKF_HW | ck.CKF_GENERATE}, keyType: ck.CKK_GENERIC_SECRET},
	ck.CKM_SHA_1_HMAC:             {info: MechanismInfo{genericMinBits, genericMaxBits, hsmSign}, keyType: ck.CKK_GENERIC_SECRET, macLen: 20},
	ck.CKM_SHA224_HMAC:            {info: MechanismInfo{genericMinBits, genericMaxBits, hsmSign}, keyType: ck.CKK_GENERIC_SECRET, macLen: 28},
	ck.CKM_SHA256_HMAC:            {info: MechanismInfo{genericMinBits, genericMaxBits, hsmSign}, keyType: ck.CKK_GENERIC_SECRET, macLen: 32},
	ck.CKM_SHA384_HMAC:            {info: MechanismInfo{genericMinBits, genericMaxBits, hsmSign}, keyType: ck.CKK_GENERIC_SECRET, macLen: 48},
	ck.CKM_SHA512_HMAC:            {info: MechanismInfo{genericMinBits, genericMaxBits, hsmSign}, keyType: ck.CKK_GENERIC_SECRET, macLen: 64},

	ck.CKM_ECDH1_DERIVE:          {info: MechanismInfo{ecdhMinBits, ecMaxBits, ck.CKF_HW | ck.CKF_DERIVE | ecFlags}, keyType: ck.CKK_EC, params: paramsECDH},
	ck.CKM_ECDH1_COFACTOR_DERIVE: {info: MechanismInfo{ecdhMinBits, ecMaxBits, ck.CKF_HW | ck.CKF_DERIVE | ecFlags}, keyType: ck.CKK_EC, params: paramsECDH},

	ck.CKM_ML_KEM_KEY_PAIR_GEN: {info: MechanismInfo{mlkemMinBytes, mlkemMaxBytes, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR}, keyType: ck.CKK_ML_KEM},
	ck.CKM_ML_KEM:              {info: MechanismInfo{mlkemMinBytes, mlkemMaxBytes, hsmKEM}, keyType: ck.CKK_ML_KEM},

	ck.CKM_SHA_1:  {info: MechanismInfo{0, 0, ck.CKF_DIGEST}, hash: crypto.SHA1},
	ck.CKM_SHA224: {info: MechanismInfo{0, 0, ck.CKF_DIGEST}, hash: crypto.SHA224},
	ck.CKM_SHA256: {info: MechanismInfo{0, 0, ck.CKF_DIGEST}, hash: crypto.SHA256},
	ck.CKM_SHA384: {info: MechanismInfo{0, 0, ck.CKF_DIGEST}, hash: crypto.SHA384},
	ck.CKM_SHA512: {info: MechanismInfo{0, 0, ck.CKF_DIGEST}, hash: crypto.SHA512},
}

// mechanismList is the sorted list C_GetMechanismList reports.
var mechanismList = func() []ck.MechanismType {
	out := make([]ck.MechanismType, 0, len(mechanisms))
	for m := range mechanisms {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}()

// newHash returns a hash.Hash without going through crypto.Hash.New's
// registry, so that the library does not depend on which hash packages a
// program happens to link.
func newHash(h crypto.Hash) hash.Hash {
	switch h {
	case crypto.SHA1:
		return sha1.New()
	case crypto.SHA224:
		return sha256.New224()
	case crypto.SHA256:
		return sha256.New()
	case crypto.SHA384:
		return sha512.New384()
	case crypto.SHA512:
		return sha512.New()
	}
	return nil
}

// digestMechanism returns the CKM_SHA* mechanism of h.
func digestMechanism(h crypto.Hash) ck.MechanismType {
	for m, d := range mechanisms {
		if d.hash == h && d.info.Flags == ck.CKF_DIGEST {
			return m
		}
	}
	return 0
}
