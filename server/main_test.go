package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/keyhold/keyhold/internal/wire"
)

// No goroutine of a node may outlive its Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startTestNode starts a node with one partition (ID 1, "test") and returns
// it with a client connection to it.
func startTestNode(t testing.TB, opts NodeOptions) (*Node, *wire.Conn) {
	t.Helper()
	if len(opts.Partitions) == 0 {
		opts.Partitions = []PartitionOptions{{ID: 1, Name: "test", UserPIN: "user-pin-1234", SOPIN: "so-pin-5678"}}
	}
	if opts.PKI == nil {
		p, err := NewPKI()
		require.NoError(t, err)
		opts.PKI = p
	}
	n, err := StartNode(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	_, cert, err := opts.PKI.ClientCredential("client")
	require.NoError(t, err)
	cfg, err := wire.ClientTLS{Certificate: cert, RootCAs: opts.PKI.NodeCAPool()}.Config()
	require.NoError(t, err)
	c, err := wire.Dial(ctxT(t), n.Addr(), cfg, wire.DialOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return n, c
}
