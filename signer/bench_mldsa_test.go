//go:build go1.27

package signer_test

import (
	"crypto"
	"crypto/mldsa"
	"fmt"
	"testing"

	"github.com/keyhold/keyhold/ck"
)

// BenchmarkSignMLDSA compares, in one run, ML-DSA-65 signing (hedged, a
// 17-byte message) through the SDK with a key in a software HSM node over
// loopback TLS against crypto/mldsa with the key in process, at
// parallelism 1 and 32 (Go 1.27):
//
//	GOTOOLCHAIN=go1.27.3 go test ./signer -run '^$' -bench BenchmarkSignMLDSA -benchtime 3s
func BenchmarkSignMLDSA(b *testing.B) {
	kh := mldsaSigner(b, ck.CKP_ML_DSA_65)
	std, err := mldsa.GenerateKey(mldsa.MLDSA65())
	if err != nil {
		b.Fatal(err)
	}
	for _, impl := range []struct {
		name string
		s    crypto.Signer
	}{{"stdlib", std}, {"keyhold", kh}} {
		for _, par := range []int{1, 32} {
			b.Run(fmt.Sprintf("ML-DSA-65/%s/par=%d", impl.name, par), func(b *testing.B) {
				benchSign(b, impl.s, []byte("benchmark message"), crypto.Hash(0), par)
			})
		}
	}
}

// BenchmarkSignMLDSARatio measures the same pair as BenchmarkSignMLDSA,
// interleaved as BenchmarkSignRatio does (Go 1.27):
//
//	GOTOOLCHAIN=go1.27.3 go test ./signer -run '^$' -bench BenchmarkSignMLDSARatio -benchtime 1x
func BenchmarkSignMLDSARatio(b *testing.B) {
	kh := mldsaSigner(b, ck.CKP_ML_DSA_65)
	std, err := mldsa.GenerateKey(mldsa.MLDSA65())
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte("benchmark message")
	for _, par := range []int{1, 32} {
		b.Run(fmt.Sprintf("ML-DSA-65/par=%d", par), func(b *testing.B) {
			interleaved(b, signOp(std, msg, crypto.Hash(0)), signOp(kh, msg, crypto.Hash(0)), par)
		})
	}
}
