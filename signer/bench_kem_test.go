package signer_test

import (
	"crypto"
	"crypto/mlkem"
	"fmt"
	"runtime"
	"testing"

	"github.com/keyhold/keyhold/ck"
)

// BenchmarkDecapsulate compares, in one run, ML-KEM-768 decapsulation
// through the SDK with a key in a software HSM node over loopback TLS
// against crypto/mlkem with the key in process, at parallelism 1 and 32:
//
//	go test ./signer -run '^$' -bench BenchmarkDecapsulate -benchtime 3s
func BenchmarkDecapsulate(b *testing.B) {
	kh := mlkemDecapsulator(b, ck.CKP_ML_KEM_768)
	std, err := mlkem.GenerateKey768()
	if err != nil {
		b.Fatal(err)
	}
	for _, impl := range []struct {
		name string
		d    crypto.Decapsulator
	}{{"stdlib", std}, {"keyhold", kh}} {
		_, ct := impl.d.Encapsulator().Encapsulate()
		for _, par := range []int{1, 32} {
			b.Run(fmt.Sprintf("ML-KEM-768/%s/par=%d", impl.name, par), func(b *testing.B) {
				benchDecapsulate(b, impl.d, ct, par)
			})
		}
	}
}

func benchDecapsulate(b *testing.B, d crypto.Decapsulator, ct []byte, par int) {
	b.ReportAllocs()
	if par == 1 {
		for b.Loop() {
			if _, err := d.Decapsulate(ct); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(max(1, par/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Decapsulate(ct); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDecapsulateRatio measures the same pair as BenchmarkDecapsulate,
// interleaved as BenchmarkSignRatio does, so that load from anything else
// on the machine falls on both alike:
//
//	go test ./signer -run '^$' -bench BenchmarkDecapsulateRatio -benchtime 1x
func BenchmarkDecapsulateRatio(b *testing.B) {
	kh := mlkemDecapsulator(b, ck.CKP_ML_KEM_768)
	std, err := mlkem.GenerateKey768()
	if err != nil {
		b.Fatal(err)
	}
	decap := func(d crypto.Decapsulator) func() error {
		_, ct := d.Encapsulator().Encapsulate()
		return func() error {
			_, err := d.Decapsulate(ct)
			return err
		}
	}
	for _, par := range []int{1, 32} {
		b.Run(fmt.Sprintf("ML-KEM-768/par=%d", par), func(b *testing.B) {
			interleaved(b, decap(std), decap(kh), par)
		})
	}
}
