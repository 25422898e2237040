package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"sync/atomic"
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// The node's hot path: ECDSA P-256 signatures over real TLS, pipelined from
// parallel callers on a few connections. Compare with
// BenchmarkStdlibSignP256, the same work in process:
//
//	go test -run '^$' -bench 'SignP256' -benchmem ./testenv/
func BenchmarkNodeSignP256(b *testing.B) {
	env := Start(b)
	conns := []*wire.Conn{dial(b, env), dial(b, env)}
	p := env.PartitionID
	ticket := login(b, conns[0], p, ck.CKU_USER, env.UserPIN)
	kp := genP256(b, conns[0], p, ticket, "bench")
	digest := sha256.Sum256([]byte("benchmark"))
	var next atomic.Uint32
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := conns[next.Add(1)%uint32(len(conns))]
		ctx := ctxT(b)
		req := wire.CryptRequest{Partition: p, Ticket: ticket, Handle: kp.Private, Mechanism: ck.Mechanism{Type: ck.CKM_ECDSA}, Data: digest[:]}
		var rep wire.DataReply
		for pb.Next() {
			if err := c.Call(ctx, wire.OpSign, req, &rep); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkStdlibSignP256(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("benchmark"))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := ecdsa.Sign(rand.Reader, key, digest[:]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
