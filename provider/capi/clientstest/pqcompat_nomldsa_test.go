//go:build !go1.27

package clientstest

import "github.com/keyhold/keyhold/hsm"

// pqKeySpecs are the post-quantum keys this toolchain's software HSM makes:
// ML-KEM only, before Go 1.27.
func pqKeySpecs(label string) []hsm.KeySpec {
	return []hsm.KeySpec{{Type: hsm.KeyMLKEM, Label: label + "-kem"}}
}
