package pkcs11test

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

// BenchmarkECDSAP256Parallel8 measures, in one run, ECDSA P-256 signing of a
// 32-byte digest (CKM_ECDSA) with one key, at 8 goroutines, two ways: through
// libkeyhold.so (C_SignInit then C_Sign, as miekg/pkcs11 makes it: a length
// query and the signature; one session per goroutine, opened before the
// timer), and through the Go SDK the library is built on (hsm.Key.Sign).
// The node runs in a process of its own, as an HSM does: in this process it
// would share the Go runtime of the benchmark's callers, whose threads sit in
// C calls, and measure that rather than the library. The two paths alternate
// in short windows, each going first in turn, so that other load on the
// machine falls on both alike. It reports the throughput of each (c-ops/s,
// sdk-ops/s) and their ratio (c/sdk; the C path aims to keep 0.8 or more of
// the SDK's). ns/op covers one signature of each path. Benchmarks report;
// they do not fail on speed.
//
//	go test ./provider/capi/pkcs11test -run '^$' -bench BenchmarkECDSAP256Parallel8 -benchtime 40000x -count 5
func BenchmarkECDSAP256Parallel8(b *testing.B) { benchmarkCAgainstSDK(b, 8, benchECDSA) }

// BenchmarkECDSAP256Parallel1 is the same with one goroutine: the latency
// the library adds to a lone caller.
//
//	go test ./provider/capi/pkcs11test -run '^$' -bench BenchmarkECDSAP256Parallel1 -benchtime 10000x -count 5
func BenchmarkECDSAP256Parallel1(b *testing.B) { benchmarkCAgainstSDK(b, 1, benchECDSA) }

// benchSign is what benchmarkCAgainstSDK signs with: a key the SDK
// generates, a mechanism and its input.
type benchSign struct {
	spec  hsm.KeySpec
	mech  uint
	input []byte
}

var benchECDSA = func() benchSign {
	digest := sha256.Sum256([]byte("benchmark"))
	return benchSign{hsm.KeySpec{Type: hsm.KeyEC, Label: "bench-p256"}, pkcs11.CKM_ECDSA, digest[:]}
}()

func benchmarkCAgainstSDK(b *testing.B, goroutines int, bs benchSign) {
	const windows = 10
	node := libtest.StartProcess(b)
	ctx := context.Background()
	client, err := hsm.Open(ctx, node.Config)
	require.NoError(b, err)
	b.Cleanup(func() { _ = client.Close() })
	part, err := client.Partition(node.Partition)
	require.NoError(b, err)
	require.NoError(b, part.Login(ctx, libtest.ProcessUserPIN))
	key, err := part.GenerateKey(ctx, bs.spec)
	require.NoError(b, err)

	b.Setenv("KEYHOLD_CONF", node.ConfigPath)
	p := module(b)
	require.NoError(b, p.Initialize())
	b.Cleanup(func() { _ = p.Finalize() })
	sessions := make([]pkcs11.SessionHandle, goroutines)
	for i := range sessions {
		sessions[i], err = p.OpenSession(uint(node.PartitionID), pkcs11.CKF_SERIAL_SESSION)
		require.NoError(b, err)
	}
	// Login is the application's: one logs every session in.
	require.NoError(b, p.Login(sessions[0], pkcs11.CKU_USER, libtest.ProcessUserPIN))
	require.NoError(b, p.FindObjectsInit(sessions[0], []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, bs.spec.Label),
	}))
	found, _, err := p.FindObjects(sessions[0], 2)
	require.NoError(b, err)
	require.NoError(b, p.FindObjectsFinal(sessions[0]))
	require.Len(b, found, 1)
	priv := found[0]

	m := mech(bs.mech, nil)
	signC := func(g int) error {
		if err := p.SignInit(sessions[g], m, priv); err != nil {
			return err
		}
		_, err := p.Sign(sessions[g], bs.input)
		return err
	}
	signSDK := func(int) error {
		_, err := key.Sign(ctx, hsm.Mechanism{Type: ck.MechanismType(bs.mech)}, bs.input)
		return err
	}
	// run makes n signatures with sign on the goroutines and returns how
	// long they took.
	run := func(n int, sign func(g int) error) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					if err := sign(g); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	// Warm both paths: connections, key lookups, the scheduler.
	run(4*goroutines, signC)
	run(4*goroutines, signSDK)

	per := max(1, (b.N+windows-1)/windows)
	var cTime, sdkTime time.Duration
	b.ResetTimer()
	for w := range windows {
		if w%2 == 0 {
			cTime += run(per, signC)
			sdkTime += run(per, signSDK)
		} else {
			sdkTime += run(per, signSDK)
			cTime += run(per, signC)
		}
	}
	b.StopTimer()
	total := float64(per * windows)
	cOps, sdkOps := total/cTime.Seconds(), total/sdkTime.Seconds()
	b.ReportMetric(cOps, "c-ops/s")
	b.ReportMetric(sdkOps, "sdk-ops/s")
	b.ReportMetric(cOps/sdkOps, "c/sdk")
}
