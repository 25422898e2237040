//go:build go1.27

package tlsconfig_test

import (
	"crypto/mldsa"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// BenchmarkHandshakeMLDSA65 is BenchmarkHandshakeP256 with an ML-DSA-65
// server key (signature scheme mldsa65), in a partition and in memory
// (Go 1.27):
//
//	GOTOOLCHAIN=go1.27.3 go test -run '^$' -bench HandshakeMLDSA65 -benchtime 3s ./tlsconfig/
func BenchmarkHandshakeMLDSA65(b *testing.B) {
	memKey, err := mldsa.GenerateKey(mldsa.MLDSA65())
	require.NoError(b, err)
	benchHandshakes(b, "BenchmarkHandshakeMLDSA65", hsm.KeySpec{Type: hsm.KeyMLDSA, ParameterSet: ck.CKP_ML_DSA_65}, memKey)
}
