//go:build !go1.27

package token

import "github.com/keyhold/keyhold/internal/pqkey"

// A node built with Go 1.26 has no crypto/mldsa: CKK_ML_DSA is not a
// supported key type and the ML-DSA mechanisms are not in mechDefs, so
// every ML-DSA request is refused (CKR_MECHANISM_INVALID, or
// CKR_ATTRIBUTE_VALUE_INVALID for a new object) before it could reach a
// key. Keys replicated or restored from a node with ML-DSA are held as
// they are (heldKind): these build them without key material.

func mldsaFromSeed(*pqkey.Params, []byte) (mldsaKey, []byte, error) { return nil, nil, nil }

func mldsaPublic(*pqkey.Params, []byte) (mldsaKey, error) { return nil, nil }

func mldsaPublicBytes(mldsaKey) []byte { return nil }
