package server

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// BenchmarkTicketCheck is the per-request cost of a login ticket on a
// connection that presented it before (the usual case) and on a new one.
func BenchmarkTicketCheck(b *testing.B) {
	n, c := startTestNode(b, NodeOptions{})
	var rep wire.LoginReply
	require.NoError(b, c.Call(ctxT(b), wire.OpLogin, wire.LoginRequest{Partition: 1, User: ck.CKU_USER, PIN: []byte("user-pin-1234")}, &rep))
	ticket := rep.Ticket
	var node *conn
	n.mu.Lock()
	for k := range n.open {
		node = k
	}
	n.mu.Unlock()
	p := n.parts[1]
	b.Run("remembered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := n.access(node, p, ticket); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("MAC", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := p.keys.open(ticket, &node.clientID); !ok {
				b.Fatal("ticket refused")
			}
		}
	})
}
