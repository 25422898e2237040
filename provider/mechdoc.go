package provider

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/keyhold/keyhold/ck"
)

//go:generate go test -run ^TestMechanismTableInDocs$ -update-docs

// mechanismNotes say what the flags and sizes of the mechanism table do
// not: what a mechanism's input is, which parameters it takes. They go into
// docs/pkcs11.md's generated table next to what C_GetMechanismInfo reports.
var mechanismNotes = map[ck.MechanismType]string{
	ck.CKM_RSA_PKCS_KEY_PAIR_GEN:   "public exponent 65537; 1024 bits on a partition that allows legacy keys",
	ck.CKM_EC_KEY_PAIR_GEN:         "P-224, P-256, P-384, P-521",
	ck.CKM_EC_EDWARDS_KEY_PAIR_GEN: "Ed25519",
	ck.CKM_RSA_PKCS:                "signs a DigestInfo",
	ck.CKM_RSA_PKCS_PSS:            "signs a digest",
	ck.CKM_RSA_PKCS_OAEP:           "SHA-1 to SHA-512, MGF1 of any of them, a label; wraps secret keys",
	ck.CKM_ECDSA:                   "signs a digest; signatures are r‖s",
	ck.CKM_EDDSA:                   "pure Ed25519 on a message",
	ck.CKM_AES_KEY_GEN:             "16, 24 or 32 bytes",
	ck.CKM_AES_GCM:                 "tags of 32–128 bits, IVs given by the application",
	ck.CKM_AES_ECB:                 "whole blocks",
	ck.CKM_AES_CBC:                 "whole blocks",
	ck.CKM_AES_CBC_PAD:             "PKCS #7 padding",
	ck.CKM_AES_CTR:                 "a counter of 1–128 bits, which may not wrap around",
	ck.CKM_AES_CMAC:                "16-byte MACs",
	ck.CKM_AES_KEY_WRAP:            "RFC 3394: keys of a multiple of 8 bytes",
	ck.CKM_AES_KEY_WRAP_PAD:        "RFC 5649: keys of any length (the v2.40 name, as SoftHSM2 has it)",
	ck.CKM_AES_KEY_WRAP_KWP:        "RFC 5649: keys of any length (the v3.0 name)",
	ck.CKM_GENERIC_SECRET_KEY_GEN:  "CKA_VALUE_LEN in bytes",
	ck.CKM_SHA_1_HMAC:              "full-length MACs",
	ck.CKM_SHA224_HMAC:             "full-length MACs",
	ck.CKM_SHA256_HMAC:             "full-length MACs",
	ck.CKM_SHA384_HMAC:             "full-length MACs",
	ck.CKM_SHA512_HMAC:             "full-length MACs",
	ck.CKM_ECDH1_DERIVE:            "P-256, P-384, P-521; CKD_NULL without shared data; the peer's uncompressed point, bare or in a DER OCTET STRING",
	ck.CKM_ECDH1_COFACTOR_DERIVE:   "as CKM_ECDH1_DERIVE: these curves' cofactor is 1",
	ck.CKM_ML_DSA_KEY_PAIR_GEN:     "ML-DSA-44, 65, 87 (CKA_PARAMETER_SET in the public key's template)",
	ck.CKM_ML_DSA:                  "pure ML-DSA on a message; a context of up to 255 bytes; hedged or deterministic as asked",
	ck.CKM_ML_KEM_KEY_PAIR_GEN:     "ML-KEM-768, 1024 (CKA_PARAMETER_SET in the public key's template)",
	ck.CKM_ML_KEM:                  "C_EncapsulateKey, C_DecapsulateKey: the 32-byte shared secret becomes a secret key (v3.2 interface)",
}

// mechanismTable renders the mechanisms the library offers as the Markdown
// table of docs/pkcs11.md, from the same table C_GetMechanismList and
// C_GetMechanismInfo answer from, so that the document cannot say other
// than the library.
//
// The ML-DSA mechanisms are in the table whatever the Go version of the
// build, marked as Go 1.27's, so that the document is the same from every
// toolchain.
func mechanismTable() string {
	var b strings.Builder
	b.WriteString("| mechanism | key | sizes | operations | parameters | runs in | notes |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	all := maps.Clone(baseMechanisms)
	maps.Copy(all, mldsaMechanisms)
	for _, m := range slices.Sorted(maps.Keys(all)) {
		d := all[m]
		key := keyTypeName(d.keyType)
		if d.info.Flags&ck.CKF_DIGEST != 0 {
			key = "" // (CKK_RSA is 0: a digest's zero key type is no key)
		}
		runs := "library"
		if d.info.Flags&ck.CKF_HW != 0 {
			runs = "HSM"
		}
		note := mechanismNotes[m]
		if _, ok := mldsaMechanisms[m]; ok {
			note += "; in builds with Go 1.27 or later"
		}
		if d.hash != 0 && d.info.Flags&ck.CKF_DIGEST == 0 {
			note = strings.TrimPrefix(strings.Join([]string{note, "hashes " + d.hash.String() + " in the library, signs in the HSM"}, "; "), "; ")
		}
		fmt.Fprintf(&b, "| `%v` | %s | %s | %s | %s | %s | %s |\n", m, key, sizeRange(d), operations(d.info.Flags), paramsName(d.params), runs, note)
	}
	return b.String()
}

// paramsName names the parameter structure a mechanism takes.
func paramsName(p paramKind) string {
	switch p {
	case paramsPSS:
		return "`CK_RSA_PKCS_PSS_PARAMS`"
	case paramsOAEP:
		return "`CK_RSA_PKCS_OAEP_PARAMS`"
	case paramsGCM:
		return "`CK_GCM_PARAMS`"
	case paramsEdDSA:
		return "`CK_EDDSA_PARAMS` (optional)"
	case paramsIV:
		return "a 16-byte IV"
	case paramsCTR:
		return "`CK_AES_CTR_PARAMS`"
	case paramsECDH:
		return "`CK_ECDH1_DERIVE_PARAMS`"
	case paramsSignContext:
		return "`CK_SIGN_ADDITIONAL_CONTEXT` (optional)"
	}
	return ""
}

func keyTypeName(k ck.KeyType) string {
	switch k {
	case ck.CKK_RSA:
		return "RSA"
	case ck.CKK_EC:
		return "EC"
	case ck.CKK_EC_EDWARDS:
		return "EdDSA"
	case ck.CKK_AES:
		return "AES"
	case ck.CKK_ML_DSA:
		return "ML-DSA"
	case ck.CKK_ML_KEM:
		return "ML-KEM"
	}
	return strings.TrimPrefix(k.String(), "CKK_")
}

// sizeRange is CK_MECHANISM_INFO's key sizes with PKCS#11's unit for the key
// type: bytes for AES and for ML-DSA and ML-KEM (their public keys', v3.2),
// bits for the rest, generic secrets included (PKCS#11 2.40 counts those in
// bits, as the library does).
func sizeRange(d mechanism) string {
	lo, hi := d.info.MinKeySize, d.info.MaxKeySize
	if lo == 0 && hi == 0 {
		return ""
	}
	unit := "bits"
	switch d.keyType {
	case ck.CKK_AES, ck.CKK_ML_DSA, ck.CKK_ML_KEM:
		unit = "bytes"
	}
	if lo == hi {
		return fmt.Sprintf("%d %s", lo, unit)
	}
	return fmt.Sprintf("%d–%d %s", lo, hi, unit)
}

// operations names the CKF_* capability flags set in f, in a fixed order.
func operations(f uint64) string {
	var out []string
	for _, op := range []struct {
		flag uint64
		name string
	}{
		{ck.CKF_GENERATE_KEY_PAIR, "generate key pair"}, {ck.CKF_GENERATE, "generate"},
		{ck.CKF_SIGN, "sign"}, {ck.CKF_VERIFY, "verify"}, {ck.CKF_ENCRYPT, "encrypt"},
		{ck.CKF_DECRYPT, "decrypt"}, {ck.CKF_DIGEST, "digest"}, {ck.CKF_WRAP, "wrap"},
		{ck.CKF_UNWRAP, "unwrap"}, {ck.CKF_DERIVE, "derive"},
		{ck.CKF_ENCAPSULATE, "encapsulate"}, {ck.CKF_DECAPSULATE, "decapsulate"},
	} {
		if f&op.flag != 0 {
			out = append(out, op.name)
		}
	}
	return strings.Join(slices.Clip(out), ", ")
}
