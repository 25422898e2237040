package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/internal/wire"
)

func startBare(t *testing.T, opts NodeOptions) *Node {
	t.Helper()
	opts.Partitions = []PartitionOptions{{ID: 1, Name: "test", UserPIN: testUserPIN, SOPIN: testSOPIN}}
	n, err := StartNode(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// TestEnrollOnlyConnectionClosedWhenIdle: a connection without a client
// certificate may enroll, and is closed once it stays silent; an enrolled
// client's connection is not.
func TestEnrollOnlyConnectionClosedWhenIdle(t *testing.T) {
	n := startBare(t, NodeOptions{EnrollIdleTimeout: 100 * time.Millisecond})
	cfg, err := wire.ClientTLS{RootCAs: n.PKI().NodeCAPool()}.Config()
	require.NoError(t, err)
	cfg.Certificates = nil
	anon, err := wire.Dial(ctxT(t), n.Addr(), cfg, wire.DialOptions{})
	require.NoError(t, err)
	defer anon.Close()
	enrolled := dialNode(t, n)

	require.Eventually(t, func() bool { return n.Stats().ConnectionsOpen == 1 }, 10*time.Second, 5*time.Millisecond)
	require.ErrorIs(t, anon.Call(ctxT(t), wire.OpEnroll, wire.EnrollRequest{Name: "x"}, nil), wire.ErrClosed)
	require.NoError(t, enrolled.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
}

// TestConnectionCap: past MaxConnections, a connection is closed at once;
// once one closes, a new one is taken.
func TestConnectionCap(t *testing.T) {
	n := startBare(t, NodeOptions{MaxConnections: 2})
	first := dialNode(t, n)
	dialNode(t, n)
	_, cert, err := n.PKI().ClientCredential("third")
	require.NoError(t, err)
	cfg, err := wire.ClientTLS{Certificate: cert, RootCAs: n.PKI().NodeCAPool()}.Config()
	require.NoError(t, err)
	_, err = wire.Dial(ctxT(t), n.Addr(), cfg, wire.DialOptions{})
	require.Error(t, err)
	assert.Equal(t, uint64(1), n.Stats().ConnectionsOverCap)

	require.NoError(t, first.Close())
	require.Eventually(t, func() bool { return n.Stats().ConnectionsOpen == 1 }, 10*time.Second, 5*time.Millisecond)
	third, err := wire.Dial(ctxT(t), n.Addr(), cfg, wire.DialOptions{})
	require.NoError(t, err)
	defer third.Close()
	require.NoError(t, third.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
}
