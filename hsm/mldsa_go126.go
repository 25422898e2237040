//go:build !go1.27

package hsm

import (
	"crypto"

	"github.com/keyhold/keyhold/internal/pqkey"
)

// mldsaPublicKey returns nil: Go 1.26 has no ML-DSA public key type. The key
// is still found, listed and destroyed; signing with it needs Go 1.27.
func mldsaPublicKey(*pqkey.Params, []byte) (crypto.PublicKey, error) { return nil, nil }

// mldsaPrivateKey reports that no Go 1.26 key is an ML-DSA key.
func mldsaPrivateKey(crypto.PrivateKey) (*pqkey.Params, []byte, []byte, bool) {
	return nil, nil, nil, false
}
