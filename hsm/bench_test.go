package hsm_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// BenchmarkClusterSign compares, in one run, ECDSA P-256 signing through a
// single node and through a 3-node cluster, at 32 goroutines:
//
//	go test ./hsm -run '^$' -bench BenchmarkClusterSign -benchtime 3s
//
// All nodes run on this machine, so the cluster cannot add cores: the
// comparison shows what balancing and replication bookkeeping cost.
func BenchmarkClusterSign(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			_, key := benchKey(b, nodes)
			digest := sha256.Sum256([]byte("benchmark"))
			m := hsm.Mechanism{Type: ck.CKM_ECDSA}
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := key.Sign(context.Background(), m, digest[:]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkFailover measures, under load (8 goroutines signing through a
// 3-node cluster), how long after a node's death the requests that were in
// flight at that moment completed successfully elsewhere: the time from the
// death to the first successful retry. Each iteration kills one node and
// brings it back. It reports p50 and p99 over all such requests, and fails if
// any request fails.
//
//	go test ./hsm -run '^$' -bench BenchmarkFailover -benchtime 20x
func BenchmarkFailover(b *testing.B) {
	env, key := benchKey(b, 3)
	digest := sha256.Sum256([]byte("failover"))
	m := hsm.Mechanism{Type: ck.CKM_ECDSA}

	type call struct{ start, end time.Time }
	var (
		mu       sync.Mutex
		calls    []call
		stop     atomic.Bool
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				start := time.Now()
				if _, err := key.Sign(context.Background(), m, digest[:]); err != nil {
					failures.Add(1)
					continue
				}
				end := time.Now()
				mu.Lock()
				calls = append(calls, call{start, end})
				mu.Unlock()
			}
		}()
	}
	var kills []time.Time
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		time.Sleep(100 * time.Millisecond)
		n := env.Nodes[i%len(env.Nodes)]
		kills = append(kills, time.Now())
		n.Kill()
		time.Sleep(200 * time.Millisecond)
		if err := n.Restart(); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	b.StopTimer()
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d requests failed", f)
	}
	var recovery []time.Duration
	for _, k := range kills {
		for _, cl := range calls {
			if cl.start.Before(k) && cl.end.After(k) {
				recovery = append(recovery, cl.end.Sub(k))
			}
		}
	}
	if len(recovery) == 0 {
		b.Fatal("no request was in flight at a node's death")
	}
	sort.Slice(recovery, func(i, j int) bool { return recovery[i] < recovery[j] })
	pct := func(q float64) time.Duration { return recovery[int(q*float64(len(recovery)-1))] }
	b.ReportMetric(float64(pct(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(pct(0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(recovery)), "in-flight-at-death")
}

// benchKey starts a cluster of n nodes and returns it with a logged-in
// client's ECDSA P-256 key.
func benchKey(b *testing.B, nodes int) (*testenv.Env, *hsm.Key) {
	b.Helper()
	env := testenv.Start(b, testenv.WithNodes(nodes))
	c, err := hsm.Open(context.Background(), env.Config)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	p, err := c.Partition(env.Partition)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Login(context.Background(), env.UserPIN); err != nil {
		b.Fatal(err)
	}
	key, err := p.GenerateKey(context.Background(), hsm.KeySpec{Type: hsm.KeyEC, Label: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return env, key
}
