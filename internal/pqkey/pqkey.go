// Package pqkey describes the post-quantum key types keyhold holds: the
// ML-DSA (FIPS 204) and ML-KEM (FIPS 203) parameter sets, their PKCS#11
// v3.2 numbers (CKA_PARAMETER_SET), their sizes, and the
// SubjectPublicKeyInfo that carries their public keys in CKA_PUBLIC_KEY_INFO
// and certificates (RFC 9881 for ML-DSA, the IETF LAMPS profile for
// ML-KEM: the algorithm OID without parameters, and the raw public key as
// the BIT STRING).
//
// It needs no Go 1.27 API, so that the engine and the software HSM agree on
// these facts under every toolchain the module supports.
package pqkey

import (
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/ck"
)

// Params is one parameter set.
type Params struct {
	Name         string                // "ML-DSA-65", "ML-KEM-768"
	KeyType      ck.KeyType            // CKK_ML_DSA or CKK_ML_KEM
	Set          uint64                // the CKP_* value of CKA_PARAMETER_SET
	OID          asn1.ObjectIdentifier // the SubjectPublicKeyInfo algorithm
	PublicSize   int                   // bytes of the encoded public key
	SeedSize     int                   // bytes of the private key seed (CKA_SEED)
	OutputSize   int                   // bytes of a signature (ML-DSA) or ciphertext (ML-KEM)
	SecurityBits int                   // the NIST security category's classical strength, for CK_MECHANISM_INFO
}

// ML-DSA seeds are 32 bytes (FIPS 204 xi); ML-KEM seeds 64 (FIPS 203 d||z).
const (
	MLDSASeedSize = 32
	MLKEMSeedSize = 64
	// MuSize is the size of ML-DSA's message representative mu.
	MuSize = 64
	// SharedSecretSize is the size of an ML-KEM shared secret.
	SharedSecretSize = 32
	// MaxContext is the longest ML-DSA context string (FIPS 204).
	MaxContext = 255
)

var (
	MLDSA44 = &Params{"ML-DSA-44", ck.CKK_ML_DSA, ck.CKP_ML_DSA_44, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17}, 1312, MLDSASeedSize, 2420, 128}
	MLDSA65 = &Params{"ML-DSA-65", ck.CKK_ML_DSA, ck.CKP_ML_DSA_65, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}, 1952, MLDSASeedSize, 3309, 192}
	MLDSA87 = &Params{"ML-DSA-87", ck.CKK_ML_DSA, ck.CKP_ML_DSA_87, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 19}, 2592, MLDSASeedSize, 4627, 256}

	MLKEM512  = &Params{"ML-KEM-512", ck.CKK_ML_KEM, ck.CKP_ML_KEM_512, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 1}, 800, MLKEMSeedSize, 768, 128}
	MLKEM768  = &Params{"ML-KEM-768", ck.CKK_ML_KEM, ck.CKP_ML_KEM_768, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 2}, 1184, MLKEMSeedSize, 1088, 192}
	MLKEM1024 = &Params{"ML-KEM-1024", ck.CKK_ML_KEM, ck.CKP_ML_KEM_1024, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 3}, 1568, MLKEMSeedSize, 1568, 256}
)

var all = []*Params{MLDSA44, MLDSA65, MLDSA87, MLKEM512, MLKEM768, MLKEM1024}

// ErrUnknown is returned for a key type, parameter set or algorithm that is
// not one of the above.
var ErrUnknown = errors.New("unknown post-quantum parameter set")

// Lookup returns the parameter set numbered set (CKA_PARAMETER_SET) of key
// type kt.
func Lookup(kt ck.KeyType, set uint64) (*Params, error) {
	for _, p := range all {
		if p.KeyType == kt && p.Set == set {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: %v parameter set %d", ErrUnknown, kt, set)
}

// MarshalSPKI returns the DER SubjectPublicKeyInfo of the encoded public key
// pub of parameter set p.
func (p *Params) MarshalSPKI(pub []byte) ([]byte, error) {
	if len(pub) != p.PublicSize {
		return nil, fmt.Errorf("%s public key has %d bytes, want %d", p.Name, len(pub), p.PublicSize)
	}
	return asn1.Marshal(spki{
		Algorithm: algorithm{OID: p.OID},
		PublicKey: asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)},
	})
}

// ParseSPKI parses a SubjectPublicKeyInfo of one of the parameter sets above
// and returns the set and the encoded public key. An SPKI of another
// algorithm is ErrUnknown.
func ParseSPKI(der []byte) (*Params, []byte, error) {
	var s spki
	rest, err := asn1.Unmarshal(der, &s)
	if err != nil || len(rest) != 0 {
		return nil, nil, fmt.Errorf("not a DER SubjectPublicKeyInfo")
	}
	for _, p := range all {
		if !s.Algorithm.OID.Equal(p.OID) {
			continue
		}
		if len(s.Algorithm.Params.FullBytes) != 0 {
			return nil, nil, fmt.Errorf("%s SubjectPublicKeyInfo with algorithm parameters", p.Name)
		}
		if s.PublicKey.BitLength != 8*len(s.PublicKey.Bytes) || len(s.PublicKey.Bytes) != p.PublicSize {
			return nil, nil, fmt.Errorf("%s public key of the wrong size", p.Name)
		}
		return p, s.PublicKey.Bytes, nil
	}
	return nil, nil, fmt.Errorf("%w: algorithm %v", ErrUnknown, s.Algorithm.OID)
}

type algorithm struct {
	OID    asn1.ObjectIdentifier
	Params asn1.RawValue `asn1:"optional"`
}

type spki struct {
	Algorithm algorithm
	PublicKey asn1.BitString
}
