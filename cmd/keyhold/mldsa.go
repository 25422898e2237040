//go:build go1.27

package main

import (
	"crypto"
	"crypto/mldsa"
)

// isMLDSA reports whether pub is an ML-DSA public key, which sign and
// verify handle as pure ML-DSA with an empty context.
func isMLDSA(pub crypto.PublicKey) bool {
	_, ok := pub.(*mldsa.PublicKey)
	return ok
}

// verifyMLDSA checks a pure ML-DSA signature (empty context) of msg.
func verifyMLDSA(pub crypto.PublicKey, msg, sig []byte) bool {
	k, ok := pub.(*mldsa.PublicKey)
	return ok && mldsa.Verify(k, msg, sig, nil) == nil
}
