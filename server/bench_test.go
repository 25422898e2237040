package server

import (
	"context"
	"crypto/sha256"
	"encoding/asn1"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// Storage costs a commit (an fsync) per change and nothing per signature.
// These benchmarks show both, on a node in memory and on a durable one:
//
//	go test ./server -run '^$' -bench 'GenerateP256|SignP256' -benchtime 200x

func genP256(b *testing.B, c *wire.Conn, ticket []byte) wire.GenerateKeyPairReply {
	params, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	var rep wire.GenerateKeyPairReply
	err := c.Call(ctxT(b), wire.OpGenerateKeyPair, wire.GenerateKeyPairRequest{
		Partition: 1, Ticket: ticket, OpID: newOpID(b), Mechanism: ck.Mechanism{Type: ck.CKM_EC_KEY_PAIR_GEN},
		Public:  ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, params), ck.Bool(ck.CKA_TOKEN, true), ck.Bool(ck.CKA_VERIFY, true)},
		Private: ck.Template{ck.Bool(ck.CKA_TOKEN, true), ck.Bool(ck.CKA_PRIVATE, true), ck.Bool(ck.CKA_SIGN, true)},
	}, &rep)
	if err != nil {
		b.Fatal(err)
	}
	return rep
}

func storageModes(b *testing.B, run func(b *testing.B, opts NodeOptions)) {
	b.Run("memory", func(b *testing.B) { run(b, NodeOptions{}) })
	b.Run("durable", func(b *testing.B) { run(b, NodeOptions{Dir: b.TempDir()}) })
}

// reportLatency adds the p50 and p99 of lat to the benchmark's results.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkGenerateP256 is key generation as a client sees it, one request
// at a time: on a durable node each key is committed (fsynced) before the
// reply.
func BenchmarkGenerateP256(b *testing.B) {
	storageModes(b, func(b *testing.B, opts NodeOptions) {
		_, c := startTestNode(b, opts)
		ticket := login(b, c, 1, ck.CKU_USER, "user-pin-1234")
		var lat []time.Duration
		for b.Loop() {
			start := time.Now()
			genP256(b, c, ticket)
			lat = append(lat, time.Since(start))
		}
		reportLatency(b, lat)
	})
}

// BenchmarkSignP256 is an ECDSA P-256 signature, one request at a time:
// storage must cost it nothing.
func BenchmarkSignP256(b *testing.B) {
	storageModes(b, func(b *testing.B, opts NodeOptions) {
		_, c := startTestNode(b, opts)
		ticket := login(b, c, 1, ck.CKU_USER, "user-pin-1234")
		kp := genP256(b, c, ticket)
		digest := sha256.Sum256([]byte("benchmark"))
		var lat []time.Duration
		for b.Loop() {
			start := time.Now()
			sign(b, c, 1, ticket, kp.Private, ck.CKM_ECDSA, digest[:])
			lat = append(lat, time.Since(start))
		}
		reportLatency(b, lat)
	})
}

// clusterModes runs a benchmark on a 3-node Raft cluster in memory, and on
// a durable one (each node's file and Raft log fsynced), with a client
// connection to each node.
func clusterModes(b *testing.B, run func(b *testing.B, conns []*wire.Conn)) {
	for _, durable := range []bool{false, true} {
		name := "memory"
		if durable {
			name = "durable"
		}
		b.Run(name, func(b *testing.B) {
			opts := ClusterOptions{Nodes: 3, Partitions: []PartitionOptions{{ID: 1, Name: "test", UserPIN: "user-pin-1234", SOPIN: "so-pin-5678"}}}
			if durable {
				opts.Dir = b.TempDir()
			}
			cl, err := StartCluster(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			conns := make([]*wire.Conn, 3)
			for i, n := range cl.Nodes() {
				cfg, err := wire.ClientTLS{Certificate: cl.Certificate(), RootCAs: cl.PKI().NodeCAPool()}.Config()
				if err != nil {
					b.Fatal(err)
				}
				if conns[i], err = wire.Dial(ctxT(b), n.Addr(), cfg, wire.DialOptions{}); err != nil {
					b.Fatal(err)
				}
				defer conns[i].Close()
			}
			run(b, conns)
		})
	}
}

// BenchmarkClusterGenerateP256 is key generation on a 3-node Raft cluster,
// one request at a time, through each node in turn: a key is committed by
// a majority (and, durable, fsynced by each of them) before the reply.
//
//	go test ./server -run '^$' -bench ClusterGenerateP256 -benchtime 300x
func BenchmarkClusterGenerateP256(b *testing.B) {
	clusterModes(b, func(b *testing.B, conns []*wire.Conn) {
		ticket := login(b, conns[0], 1, ck.CKU_USER, "user-pin-1234")
		var lat []time.Duration
		i := 0
		for b.Loop() {
			start := time.Now()
			genP256(b, conns[i%len(conns)], ticket)
			lat = append(lat, time.Since(start))
			i++
		}
		reportLatency(b, lat)
	})
}

// BenchmarkClusterSignP256 is ECDSA P-256 signing on a 3-node cluster, 32
// callers spread over the nodes, in memory and durable: storage must not
// slow signing down.
//
//	go test ./server -run '^$' -bench ClusterSignP256 -benchtime 3s
func BenchmarkClusterSignP256(b *testing.B) {
	clusterModes(b, func(b *testing.B, conns []*wire.Conn) {
		{
			ticket := login(b, conns[0], 1, ck.CKU_USER, "user-pin-1234")
			kp := genP256(b, conns[0], ticket)
			digest := sha256.Sum256([]byte("benchmark"))
			var next atomic.Int32
			b.SetParallelism(16) // 32 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := conns[int(next.Add(1))%len(conns)]
				for pb.Next() {
					var rep wire.DataReply
					if err := c.Call(context.Background(), wire.OpSign, wire.CryptRequest{
						Partition: 1, Ticket: ticket, Handle: kp.Private, Mechanism: ck.Mechanism{Type: ck.CKM_ECDSA}, Data: digest[:],
					}, &rep); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
	})
}
