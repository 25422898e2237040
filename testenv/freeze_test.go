package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// shortCtx bounds a call that is expected to get no answer.
func shortCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

func TestFreeze(t *testing.T) {
	env := Start(t)
	c := dial(t, env)
	require.NoError(t, c.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))

	env.Node.Freeze(true)
	env.Node.Freeze(true) // freezing twice is freezing
	// A request sent now is not answered: the caller gives up at its own
	// deadline, and the connection is neither closed nor failed.
	err := c.Call(shortCtx(t), wire.OpPing, wire.PingRequest{}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, c.Err())
	// A new connection completes no handshake, and is not refused either.
	_, err = wire.Dial(shortCtx(t), env.Node.Addr(), clientTLS(t, env, *env.Config.Credential), wire.DialOptions{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Positive(t, env.Node.Stats().ConnectionsOpen)

	// Thawed, the node answers on the same connection, and takes new ones.
	env.Node.Freeze(false)
	require.NoError(t, c.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
	require.NoError(t, dial(t, env).Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
	env.Node.Freeze(false) // thawing twice is thawing
	require.NoError(t, c.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
}

// TestFreezeCloses checks that a frozen node still closes, and that its
// connections' goroutines exit (goleak checks it in TestMain).
func TestFreezeCloses(t *testing.T) {
	env := Start(t)
	c := dial(t, env)
	env.Node.Freeze(true)
	require.ErrorIs(t, c.Call(shortCtx(t), wire.OpPing, wire.PingRequest{}, nil), context.DeadlineExceeded)
	require.NoError(t, env.Node.Close())
}

// TestFreezePeers checks that a frozen node does not answer its peers
// either: the others commit without it, and once it thaws it catches up
// before it answers a search.
func TestFreezePeers(t *testing.T) {
	env := Start(t, WithNodes(3), WithReplicationTimeout(200*time.Millisecond))
	cs := dialAll(t, env)
	p := env.PartitionID
	ticket := login(t, cs[0], p, ck.CKU_USER, env.UserPIN)

	frozen := env.Nodes[2]
	if frozen.Leader() == frozen.Addr() {
		// Keep the leader running: a frozen leader costs an election,
		// which TestRaftMinorityRefusesWrites covers.
		frozen = env.Nodes[1]
		cs[1], cs[2] = cs[2], cs[1]
	}
	frozen.Freeze(true)
	kp := genP256(t, cs[0], p, ticket, "made while frozen")
	require.ErrorIs(t, cs[2].Call(shortCtx(t), wire.OpPing, wire.PingRequest{}, nil), context.DeadlineExceeded)

	frozen.Freeze(false)
	got := find(t, cs[2], p, ticket, ck.Template{ck.String(ck.CKA_LABEL, "made while frozen")})
	assert.Equal(t, []uint64{kp.Public, kp.Private}, got)
	assert.Zero(t, env.Nodes[0].Stats().ReplicationFailures)
}
