//go:build go1.27

package certs_test

import (
	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// With Go 1.27, ML-DSA keys of every parameter set make and verify the same
// certificates and requests as the classical keys.
func init() {
	for _, set := range []uint64{ck.CKP_ML_DSA_44, ck.CKP_ML_DSA_65, ck.CKP_ML_DSA_87} {
		specs = append(specs, hsm.KeySpec{Type: hsm.KeyMLDSA, ParameterSet: set})
	}
}
