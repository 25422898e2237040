package signer_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/hsmtest"
)

// BenchmarkSign compares, in one run, signing through the SDK with a key in
// a software HSM node over loopback TLS against the standard library with
// the key in process, at parallelism 1 and 32 (goroutines). Compare the
// ns/op of "keyhold" with "stdlib" for each algorithm and parallelism:
//
//	go test ./signer -run '^$' -bench BenchmarkSign -benchtime 3s
//
// The node runs in the same process, so at parallelism 32 both sides share
// the machine's cores: the ratio is the whole cost of the protocol.
func BenchmarkSign(b *testing.B) {
	algs := benchAlgorithms(b)
	for _, alg := range algs {
		for _, impl := range []struct {
			name string
			s    crypto.Signer
		}{{"stdlib", alg.std}, {"keyhold", alg.kh}} {
			for _, par := range []int{1, 32} {
				b.Run(fmt.Sprintf("%s/%s/par=%d", alg.name, impl.name, par), func(b *testing.B) {
					benchSign(b, impl.s, alg.input, alg.opts, par)
				})
			}
		}
	}
}

func benchSign(b *testing.B, s crypto.Signer, input []byte, opts crypto.SignerOpts, par int) {
	b.ReportAllocs()
	if par == 1 {
		for b.Loop() {
			if _, err := s.Sign(rand.Reader, input, opts); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	// RunParallel starts SetParallelism(p) * GOMAXPROCS goroutines.
	b.SetParallelism(max(1, par/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Sign(rand.Reader, input, opts); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSignRatio measures the same pairs as BenchmarkSign, but
// interleaved: the standard library and keyhold take turns in short windows,
// so that load from anything else on the machine falls on both alike. It
// reports keyhold's throughput as a fraction of the standard library's
// ("ratio") and the latency keyhold adds per operation at parallelism 1
// ("added-µs/op"). Run it once:
//
//	go test ./signer -run '^$' -bench BenchmarkSignRatio -benchtime 1x
func BenchmarkSignRatio(b *testing.B) {
	algs := benchAlgorithms(b)
	for _, alg := range algs {
		for _, par := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/par=%d", alg.name, par), func(b *testing.B) {
				interleaved(b, signOp(alg.std, alg.input, alg.opts), signOp(alg.kh, alg.input, alg.opts), par)
			})
		}
	}
}

// signOp is one signature with s, as an operation for interleaved.
func signOp(s crypto.Signer, input []byte, opts crypto.SignerOpts) func() error {
	return func() error {
		_, err := s.Sign(rand.Reader, input, opts)
		return err
	}
}

// interleaved runs the standard library's operation std and keyhold's kh in
// turns of 250 ms, six each, with par goroutines, and reports keyhold's
// throughput as a fraction of the standard library's ("ratio"), both
// rates, and at parallelism 1 the latency keyhold adds ("added-µs/op").
func interleaved(b *testing.B, std, kh func() error, par int) {
	var stdOps, khOps int
	var stdTime, khTime time.Duration
	for round := 0; round < 6; round++ {
		n, t := runFor(b, std, par, 250*time.Millisecond)
		stdOps, stdTime = stdOps+n, stdTime+t
		n, t = runFor(b, kh, par, 250*time.Millisecond)
		khOps, khTime = khOps+n, khTime+t
	}
	stdRate := float64(stdOps) / stdTime.Seconds()
	khRate := float64(khOps) / khTime.Seconds()
	b.ReportMetric(khRate/stdRate, "ratio")
	b.ReportMetric(stdRate, "stdlib-ops/s")
	b.ReportMetric(khRate, "keyhold-ops/s")
	if par == 1 {
		b.ReportMetric((1/khRate-1/stdRate)*1e6, "added-µs/op")
	}
}

// runFor runs op with par goroutines for about d and returns the number of
// operations and the time taken.
func runFor(b *testing.B, op func() error, par int, d time.Duration) (int, time.Duration) {
	var ops atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ops.Load()), time.Since(start)
}

// benchAlgorithm is one signature scheme with a key in process (std) and
// the same kind of key in a partition (kh).
type benchAlgorithm struct {
	name    string
	std, kh crypto.Signer
	input   []byte
	opts    crypto.SignerOpts
}

// benchAlgorithms starts a software HSM with one key of each type and
// returns the schemes the benchmarks compare: ECDSA P-256, RSA-2048 PSS and
// Ed25519.
func benchAlgorithms(b *testing.B) []benchAlgorithm {
	k := setup(b, hsmtest.Software)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("benchmark message"))
	pss := &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
	return []benchAlgorithm{
		{"ECDSA-P256", ecKey, k.p256, d[:], crypto.SHA256},
		{"RSA2048-PSS", rsaKey, k.rsa.Signer, d[:], pss},
		{"Ed25519", edKey, k.ed, []byte("benchmark message"), crypto.Hash(0)},
	}
}
