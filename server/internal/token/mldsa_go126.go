//go:build !go1.27

package token

import (
	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/pqkey"
)

// A node built with Go 1.26 has no crypto/mldsa: CKK_ML_DSA is not a
// supported key type and the ML-DSA mechanisms are not in mechDefs, so
// every ML-DSA request is refused before it reaches these.

func errNoMLDSA() error {
	return ck.Errorf(ck.CKR_MECHANISM_INVALID, "ML-DSA needs a node built with Go 1.27 or later")
}

func mldsaFromSeed(*pqkey.Params, []byte) (mldsaKey, []byte, error) { return nil, nil, errNoMLDSA() }

func mldsaPublic(*pqkey.Params, []byte) (mldsaKey, error) { return nil, errNoMLDSA() }

func mldsaPublicBytes(mldsaKey) []byte { return nil }
