package hsm

import (
	"crypto"
	"crypto/mlkem"
	"fmt"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/pqkey"
)

// Post-quantum keys (PKCS#11 v3.2). An ML-DSA or ML-KEM key object names
// its parameter set in CKA_PARAMETER_SET; its public key is CKA_VALUE of the
// public key object, and the token derives CKA_PUBLIC_KEY_INFO on both
// halves, from which the engine rebuilds the public key (and learns the
// parameter set) without asking for an attribute older nodes do not know.
// The private key is its FIPS seed, CKA_SEED, sensitive like every private
// key value.

// pqParams returns the parameter set spec asks for, ML-DSA-65 and ML-KEM-768
// by default.
func pqParams(spec KeySpec) (*pqkey.Params, error) {
	set := spec.ParameterSet
	kt := ck.CKK_ML_DSA
	if spec.Type == KeyMLKEM {
		kt = ck.CKK_ML_KEM
	}
	if set == 0 {
		set = ck.CKP_ML_DSA_65
		if kt == ck.CKK_ML_KEM {
			set = ck.CKP_ML_KEM_768
		}
	}
	return pqkey.Lookup(kt, set)
}

// pqPublicKey rebuilds the public key of an ML-DSA or ML-KEM key object from
// its CKA_PUBLIC_KEY_INFO.
func pqPublicKey(kind KeyType, attrs Template) (*pqkey.Params, crypto.PublicKey, error) {
	a, ok := attrs.Find(ck.CKA_PUBLIC_KEY_INFO)
	if !ok || len(a.Value) == 0 {
		return nil, nil, fmt.Errorf("no %v", ck.CKA_PUBLIC_KEY_INFO)
	}
	params, raw, err := pqkey.ParseSPKI(a.Value)
	if err != nil {
		return nil, nil, err
	}
	want := ck.CKK_ML_DSA
	if kind == KeyMLKEM {
		want = ck.CKK_ML_KEM
	}
	if params.KeyType != want {
		return nil, nil, fmt.Errorf("a %s public key on a %v key", params.Name, kind)
	}
	var pub crypto.PublicKey
	switch params {
	case pqkey.MLKEM768:
		pub, err = mlkem.NewEncapsulationKey768(raw)
	case pqkey.MLKEM1024:
		pub, err = mlkem.NewEncapsulationKey1024(raw)
	case pqkey.MLKEM512:
		// Go has no ML-KEM-512: the key is usable in the HSM only.
	default:
		pub, err = mldsaPublicKey(params, raw)
	}
	if err != nil {
		return nil, nil, err
	}
	return params, pub, nil
}

// pqPrivateKey returns the parameter set, seed and encoded public key of a
// Go ML-KEM or (with Go 1.27) ML-DSA private key, for ImportKey; ok is false
// for any other key.
func pqPrivateKey(priv crypto.PrivateKey) (params *pqkey.Params, seed, pub []byte, ok bool) {
	switch k := priv.(type) {
	case *mlkem.DecapsulationKey768:
		return pqkey.MLKEM768, k.Bytes(), k.EncapsulationKey().Bytes(), true
	case *mlkem.DecapsulationKey1024:
		return pqkey.MLKEM1024, k.Bytes(), k.EncapsulationKey().Bytes(), true
	}
	return mldsaPrivateKey(priv)
}

// pqTemplates completes the generation or import templates of an ML-DSA or
// ML-KEM key pair: the key type and parameter set on both halves, and the
// uses. ML-DSA keys sign and verify; ML-KEM keys encapsulate and
// decapsulate (CKA_DECAPSULATE unless spec.NoDecrypt) and nothing else.
func pqTemplates(spec KeySpec, params *pqkey.Params, public, private Template) (Template, Template) {
	kt := ck.ULong(ck.CKA_KEY_TYPE, uint64(params.KeyType))
	set := ck.ULong(ck.CKA_PARAMETER_SET, params.Set)
	public = append(public, kt, set)
	private = append(private, kt, set)
	if params.KeyType == ck.CKK_ML_KEM {
		public = withAttr(public, ck.Bool(ck.CKA_VERIFY, false))
		public = append(public, ck.Bool(ck.CKA_ENCAPSULATE, true))
		private = withAttr(private, ck.Bool(ck.CKA_SIGN, false))
		private = append(private, ck.Bool(ck.CKA_DECAPSULATE, !spec.NoDecrypt))
	}
	return public, private
}

// withAttr returns t with a replacing the attribute of the same type, or
// added when t has none.
func withAttr(t Template, a Attribute) Template {
	for i := range t {
		if t[i].Type == a.Type {
			t[i] = a
			return t
		}
	}
	return append(t, a)
}
