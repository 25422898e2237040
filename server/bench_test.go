package server

import (
	"crypto/sha256"
	"encoding/asn1"
	"slices"
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
