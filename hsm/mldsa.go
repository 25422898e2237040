//go:build go1.27

package hsm

import (
	"crypto"
	"crypto/mldsa"
	"fmt"

	"github.com/keyhold/keyhold/internal/pqkey"
)

// mldsaParameters returns the crypto/mldsa parameters of p.
func mldsaParameters(p *pqkey.Params) (mldsa.Parameters, bool) {
	switch p {
	case pqkey.MLDSA44:
		return mldsa.MLDSA44(), true
	case pqkey.MLDSA65:
		return mldsa.MLDSA65(), true
	case pqkey.MLDSA87:
		return mldsa.MLDSA87(), true
	}
	return mldsa.Parameters{}, false
}

// mldsaPublicKey returns the *mldsa.PublicKey encoded as raw.
func mldsaPublicKey(p *pqkey.Params, raw []byte) (crypto.PublicKey, error) {
	params, ok := mldsaParameters(p)
	if !ok {
		return nil, fmt.Errorf("%s is not an ML-DSA parameter set", p.Name)
	}
	return mldsa.NewPublicKey(params, raw)
}

// mldsaPrivateKey returns the parameter set, seed and public key of an
// *mldsa.PrivateKey.
func mldsaPrivateKey(priv crypto.PrivateKey) (*pqkey.Params, []byte, []byte, bool) {
	k, ok := priv.(*mldsa.PrivateKey)
	if !ok {
		return nil, nil, nil, false
	}
	pub := k.PublicKey()
	for _, p := range []*pqkey.Params{pqkey.MLDSA44, pqkey.MLDSA65, pqkey.MLDSA87} {
		if params, _ := mldsaParameters(p); params == pub.Parameters() {
			return p, k.Bytes(), pub.Bytes(), true
		}
	}
	return nil, nil, nil, false
}
