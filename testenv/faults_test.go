package testenv

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

func TestBusy(t *testing.T) {
	env := Start(t, WithWorkers(1), WithQueueDepth(1))
	c := dial(t, env)
	ctx := ctxT(t)

	// One worker held 50ms per request and one queue slot: of a burst of
	// twelve, the node can take two at once and must refuse the rest now
	// rather than let them wait.
	env.Node.SetLatency(50 * time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[ck.ReturnValue]int{}
	for range 12 {
		wg.Go(func() {
			err := c.Call(ctx, wire.OpPing, wire.PingRequest{}, nil)
			var rv ck.ReturnValue
			if err != nil {
				var ce *ck.Error
				if !errors.As(err, &ce) {
					t.Errorf("ping: %v", err)
					return
				}
				rv = ce.RV
			}
			mu.Lock()
			codes[rv]++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Positive(t, codes[wire.CodeBusy], "codes: %v", codes)
	assert.Positive(t, codes[ck.CKR_OK], "codes: %v", codes)
	assert.Equal(t, 12, codes[wire.CodeBusy]+codes[ck.CKR_OK], "codes: %v", codes)
	assert.Equal(t, uint64(codes[wire.CodeBusy]), env.Node.Stats().BusyReplies)
	assert.True(t, wire.Retryable(wire.CodeBusy))

	// Once the load is gone the node serves again.
	env.Node.SetLatency(0)
	require.NoError(t, c.Call(ctx, wire.OpPing, wire.PingRequest{}, nil))

	// SetBusy refuses everything, and connections still open.
	env.Node.SetBusy(true)
	requireCode(t, c.Call(ctx, wire.OpPing, wire.PingRequest{}, nil), wire.CodeBusy)
	requireCode(t, dial(t, env).Call(ctx, wire.OpPing, wire.PingRequest{}, nil), wire.CodeBusy)
	env.Node.SetBusy(false)
	require.NoError(t, c.Call(ctx, wire.OpPing, wire.PingRequest{}, nil))
}

func TestDeadline(t *testing.T) {
	env := Start(t, WithWorkers(1))
	r := dialRaw(t, env)
	r.hello()
	ping, err := wire.Marshal(wire.PingRequest{})
	require.NoError(t, err)

	// The first ping holds the only worker for 100ms; the second, allowed
	// 10ms, has expired when the worker gets to it. Both go in one write: a
	// lone request on an idle node may run on its reader instead of a
	// worker, pipelined ones never do.
	env.Node.SetLatency(100 * time.Millisecond)
	frames := wire.AppendFrame(nil, wire.Header{Kind: wire.KindRequest, Op: wire.OpPing, ID: 2}, ping)
	frames = wire.AppendFrame(frames, wire.Header{Kind: wire.KindRequest, Op: wire.OpPing, ID: 3, DeadlineMS: 10}, ping)
	_, err = r.tc.Write(frames)
	require.NoError(t, err)
	var rep wire.PingReply
	r.expectReply(2, &rep)
	r.expectError(3, wire.CodeDeadline)
	env.Node.SetLatency(0)
	r.send(wire.Header{Kind: wire.KindRequest, Op: wire.OpPing, ID: 4, DeadlineMS: 5000}, ping)
	r.expectReply(4, &rep)
}

func TestPanicIsContained(t *testing.T) {
	env := Start(t)
	c := dial(t, env)
	hook := func(h wire.Header) {
		if h.Op == wire.OpGenerateRandom {
			panic("injected")
		}
	}
	env.Node.faults.SetBeforeDispatch(hook)
	err := c.Call(ctxT(t), wire.OpGenerateRandom, wire.GenerateRandomRequest{Length: 8}, nil)
	requireCode(t, err, ck.CKR_GENERAL_ERROR)
	assert.NotContains(t, err.Error(), "injected")
	assert.Equal(t, uint64(1), env.Node.Stats().Panics)
	require.NoError(t, c.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
	env.Node.faults.SetBeforeDispatch(nil)
	require.NoError(t, c.Call(ctxT(t), wire.OpGenerateRandom, wire.GenerateRandomRequest{Length: 8}, nil))
}

func TestStopRestartKeepsState(t *testing.T) {
	env := Start(t)
	c := dial(t, env)
	p := env.PartitionID
	ticket := login(t, c, p, ck.CKU_USER, env.UserPIN)
	kp := genP256(t, c, p, ticket, "survivor")
	addr := env.Node.Addr()

	env.Node.Stop()
	// The connection was dropped: the next call on it finds out.
	require.True(t, wire.IsTransport(c.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil)))
	<-c.Done()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := wire.Dial(ctx, addr, clientTLS(t, env, *env.Config.Credential), wire.DialOptions{})
	require.Error(t, err)

	require.NoError(t, env.Node.Restart())
	require.NoError(t, env.Node.Restart()) // no-op while listening
	assert.Equal(t, addr, env.Node.Addr())
	c = dial(t, env)
	// Keys, PINs and ticket keys survived: the old ticket still works.
	digest := sha256.Sum256([]byte("after restart"))
	sig, err := signP256(t, c, p, ticket, kp.Private, digest[:])
	require.NoError(t, err)
	require.True(t, verifyRS(ecPublicKey(t, c, p, kp.Public), digest[:], sig))
}

func TestDropAndRefuseConnections(t *testing.T) {
	env := Start(t)
	a, b := dial(t, env), dial(t, env)
	require.Eventually(t, func() bool { return env.Node.Stats().ConnectionsOpen == 2 }, 5*time.Second, 5*time.Millisecond)

	env.Node.DropConnections()
	for _, c := range []*wire.Conn{a, b} {
		require.True(t, wire.IsTransport(c.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil)))
		<-c.Done()
	}
	require.Eventually(t, func() bool { return env.Node.Stats().ConnectionsOpen == 0 }, 5*time.Second, 5*time.Millisecond)

	// Still listening.
	c := dial(t, env)
	env.Node.RefuseConnections(true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := wire.Dial(ctx, env.Node.Addr(), clientTLS(t, env, *env.Config.Credential), wire.DialOptions{})
	require.Error(t, err)
	// Open connections keep working.
	require.NoError(t, c.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
	env.Node.RefuseConnections(false)
	dial(t, env)
}

// Close returns promptly with requests in flight and slow latency injected,
// and leaves no goroutine behind (TestMain checks).
func TestCloseWithRequestsInFlight(t *testing.T) {
	e, err := StartEmbedded(NodeOptions{
		Workers:    2,
		QueueDepth: 8,
		Partitions: []PartitionOptions{{ID: 1, Name: "p", UserPIN: "user-pin-1234", SOPIN: "so-pin-5678"}},
	})
	require.NoError(t, err)
	cfg, err := wire.ClientTLS{Certificate: e.Certificate, RootCAs: e.PKI.NodeCAPool()}.Config()
	require.NoError(t, err)
	c, err := wire.Dial(ctxT(t), e.Node.Addr(), cfg, wire.DialOptions{})
	require.NoError(t, err)
	defer c.Close()
	e.Node.SetLatency(time.Hour)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _ = c.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil) })
	}
	require.Eventually(t, func() bool { return c.InFlight() == 8 }, 5*time.Second, time.Millisecond)
	start := time.Now()
	require.NoError(t, e.Close())
	require.NoError(t, e.Close()) // idempotent
	assert.Less(t, time.Since(start), 2*time.Second)
	wg.Wait()
	require.ErrorIs(t, e.Node.Restart(), ErrNodeClosed)
}
