//go:build !go1.27

package main

import "crypto"

// isMLDSA reports false: a keyhold built with Go 1.26 has no ML-DSA public
// key type (an ML-DSA key's public key is nil there).
func isMLDSA(crypto.PublicKey) bool { return false }

// verifyMLDSA reports false, for the same reason.
func verifyMLDSA(crypto.PublicKey, []byte, []byte) bool { return false }
