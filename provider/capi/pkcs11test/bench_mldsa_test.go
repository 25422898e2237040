//go:build go1.27

package pkcs11test

import (
	"testing"

	"github.com/keyhold/keyhold/hsm"
)

// BenchmarkMLDSA65Parallel8 is BenchmarkECDSAP256Parallel8 with ML-DSA-65
// (CKM_ML_DSA on a 32-byte message, hedged): through libkeyhold.so and
// through the SDK, in the same run.
//
//	GOTOOLCHAIN=go1.27.3 go test ./provider/capi/pkcs11test -run '^$' -bench BenchmarkMLDSA65Parallel8 -benchtime 4000x -count 5
func BenchmarkMLDSA65Parallel8(b *testing.B) {
	benchmarkCAgainstSDK(b, 8, benchSign{hsm.KeySpec{Type: hsm.KeyMLDSA, Label: "bench-mldsa65"}, ckmMLDSA, []byte("a 32-byte message to be signed..")})
}
