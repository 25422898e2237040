//go:build go1.27

package token

import (
	"crypto"
	"crypto/mldsa"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/pqkey"
)

// A node built with Go 1.27 holds ML-DSA keys: crypto/mldsa signs.
func init() {
	supportedKeyTypes[ck.CKK_ML_DSA] = true
	// Key sizes are the parameter sets (CKP_ML_DSA_*), as PKCS#11 v3.2
	// counts them for ML-DSA.
	info := func(flags uint64) MechanismInfo {
		return MechanismInfo{ck.CKP_ML_DSA_44, ck.CKP_ML_DSA_87, ck.CKF_HW | flags}
	}
	mechDefs[ck.CKM_ML_DSA_KEY_PAIR_GEN] = mechDef{ck.CKK_ML_DSA, opsGenerateKeyPair, paramsNone, info(ck.CKF_GENERATE_KEY_PAIR)}
	mechDefs[ck.CKM_ML_DSA] = mechDef{ck.CKK_ML_DSA, opsSign | opsVerify, paramsSignContext, info(ck.CKF_SIGN | ck.CKF_VERIFY)}
	// Go verifies only a message, never a bare mu: external mu signs.
	mechDefs[ck.CKM_ML_DSA_EXTERNAL_MU] = mechDef{ck.CKK_ML_DSA, opsSign, paramsSignContext, info(ck.CKF_SIGN)}
}

func mldsaParameters(p *pqkey.Params) mldsa.Parameters {
	switch p {
	case pqkey.MLDSA44:
		return mldsa.MLDSA44()
	case pqkey.MLDSA87:
		return mldsa.MLDSA87()
	}
	return mldsa.MLDSA65()
}

// mldsaPrivate is an ML-DSA private key; it verifies with its public half.
type mldsaPrivate struct{ sk *mldsa.PrivateKey }

// mldsaPublicKey is an ML-DSA public key, which only verifies.
type mldsaPublicKey struct{ pk *mldsa.PublicKey }

func (k mldsaPrivate) sign(msg []byte, mu bool, ctx []byte, deterministic bool) ([]byte, error) {
	var opts crypto.SignerOpts = &mldsa.Options{Context: string(ctx)}
	if mu {
		opts = crypto.MLDSAMu
	}
	if deterministic {
		return k.sk.SignDeterministic(msg, opts)
	}
	return k.sk.Sign(nil, msg, opts)
}

func (k mldsaPrivate) verify(msg, sig, ctx []byte) bool {
	return mldsa.Verify(k.sk.PublicKey(), msg, sig, &mldsa.Options{Context: string(ctx)}) == nil
}

func (k mldsaPublicKey) sign([]byte, bool, []byte, bool) ([]byte, error) {
	return nil, ck.Errorf(ck.CKR_KEY_TYPE_INCONSISTENT, "a public key does not sign")
}

func (k mldsaPublicKey) verify(msg, sig, ctx []byte) bool {
	return mldsa.Verify(k.pk, msg, sig, &mldsa.Options{Context: string(ctx)}) == nil
}

// mldsaFromSeed builds the ML-DSA private key of a seed and returns it
// with its encoded public key.
func mldsaFromSeed(p *pqkey.Params, seed []byte) (mldsaKey, []byte, error) {
	sk, err := mldsa.NewPrivateKey(mldsaParameters(p), seed)
	if err != nil {
		return nil, nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not an %s seed", ck.CKA_SEED, p.Name)
	}
	return mldsaPrivate{sk}, sk.PublicKey().Bytes(), nil
}

// mldsaPublic parses an encoded ML-DSA public key.
func mldsaPublic(p *pqkey.Params, raw []byte) (mldsaKey, error) {
	pk, err := mldsa.NewPublicKey(mldsaParameters(p), raw)
	if err != nil {
		return nil, err
	}
	return mldsaPublicKey{pk}, nil
}

// mldsaPublicBytes returns the encoded public key of k.
func mldsaPublicBytes(k mldsaKey) []byte {
	switch k := k.(type) {
	case mldsaPrivate:
		return k.sk.PublicKey().Bytes()
	case mldsaPublicKey:
		return k.pk.Bytes()
	}
	return nil
}
