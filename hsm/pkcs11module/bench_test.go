//go:build cgo

package pkcs11module_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/stretchr/testify/require"
)

// BenchmarkSign measures a signature through the engine and the module
// backend, from many goroutines: the session pool, the bounded set of C
// calls and the handle cache are on this path; SoftHSM2's own signing
// dominates it.
//
//	go test -run - -bench Sign ./hsm/pkcs11module/
func BenchmarkSign(b *testing.B) {
	for _, tc := range []struct {
		name string
		spec hsm.KeySpec
		mech hsm.Mechanism
	}{
		{"ECDSA-P256", hsm.KeySpec{Type: hsm.KeyEC}, hsm.Mechanism{Type: ck.CKM_ECDSA}},
		{"RSA-2048", hsm.KeySpec{Type: hsm.KeyRSA}, hsm.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			k, _ := benchKey(b, tc.spec)
			d := sha256.Sum256([]byte("benchmark"))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := k.Sign(ctx, tc.mech, d[:]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSignSerial measures one caller signing with ECDSA P-256 on
// SoftHSM2, along three paths: the module's C calls made on the caller's
// goroutine ("module", what a library without a bound on hung calls
// does), the same calls through the token's bounded set of C calls and
// session pool ("runner"), and the whole engine ("engine"). The
// differences are what the hand-over to a worker and the engine cost per
// signature.
//
//	go test -run - -bench SignSerial -count 6 ./hsm/pkcs11module/
func BenchmarkSignSerial(b *testing.B) {
	ctx := context.Background()
	k, tk := benchKey(b, hsm.KeySpec{Type: hsm.KeyEC})
	d := sha256.Sum256([]byte("benchmark"))
	mech := hsm.Mechanism{Type: ck.CKM_ECDSA}
	// The first signature puts the key in the token's handle cache.
	_, err := k.Sign(ctx, mech, d[:])
	require.NoError(b, err)
	paths := []struct {
		name string
		sign func(context.Context, []byte) ([]byte, error)
	}{
		{"module", pkcs11module.SignPath(tk.Module, tk.Label, k.Handle(), "module")},
		{"runner", pkcs11module.SignPath(tk.Module, tk.Label, k.Handle(), "runner")},
		{"engine", func(ctx context.Context, d []byte) ([]byte, error) { return k.Sign(ctx, mech, d) }},
	}
	for _, path := range paths {
		b.Run(path.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := path.sign(ctx, d[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignCallers measures ECDSA P-256 signatures through the engine
// from 1, 32 and 128 goroutines, the cells keyhold-bench compares with
// crypto11: the session pool's size and the hand-overs between callers,
// the pool and the workers decide the throughput at the higher counts.
//
//	go test -run - -bench SignCallers -count 6 ./hsm/pkcs11module/
func BenchmarkSignCallers(b *testing.B) {
	ctx := context.Background()
	k, _ := benchKey(b, hsm.KeySpec{Type: hsm.KeyEC})
	d := sha256.Sum256([]byte("benchmark"))
	mech := hsm.Mechanism{Type: ck.CKM_ECDSA}
	for _, callers := range []int{1, 32, 128} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range callers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := k.Sign(ctx, mech, d[:]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// benchKey opens an engine on a new SoftHSM2 token, logs in and generates
// a key of spec labelled "bench"; the engine closes with the benchmark.
func benchKey(b *testing.B, spec hsm.KeySpec) (*hsm.Key, softhsmtest.Token) {
	b.Helper()
	ctx := context.Background()
	cfg, tk := softhsmtest.Config(b)
	c, err := hsm.Open(ctx, cfg)
	require.NoError(b, err)
	b.Cleanup(func() { c.Close() })
	p, err := c.Partition(softhsmtest.PartitionName)
	require.NoError(b, err)
	require.NoError(b, p.Login(ctx, tk.PIN))
	spec.Label = "bench"
	k, err := p.GenerateKey(ctx, spec)
	require.NoError(b, err)
	return k, tk
}
