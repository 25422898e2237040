package hsm_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/testenv"
)

// clusterClient opens a client of env with cfg and logs in.
func clusterClient(t *testing.T, env *testenv.Env, cfg hsm.Config) (*hsm.Client, *hsm.Partition) {
	t.Helper()
	c, err := hsm.Open(ctx(t), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx(t), env.UserPIN))
	return c, p
}

func requestsPerNode(env *testenv.Env) []uint64 {
	out := make([]uint64, len(env.Nodes))
	for i, n := range env.Nodes {
		out[i] = n.Stats().Requests
	}
	return out
}

func signECDSA(key *hsm.Key, msg string) error {
	digest := sha256.Sum256([]byte(msg))
	sig, err := key.Sign(context.Background(), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
	if err != nil {
		return err
	}
	pub := key.Public().(*ecdsa.PublicKey)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return fmt.Errorf("signature over %q does not verify", msg)
	}
	return nil
}

// TestClusterSurvivesNodeLoss is the cluster's promise: 32 goroutines sign
// for 10 seconds while one node is killed, then a second, then both come
// back. No signature fails, every one verifies, and while all three nodes are
// up each serves a fair share.
func TestClusterSurvivesNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 10 seconds")
	}
	env := testenv.Start(t, testenv.WithNodes(3))
	c, p := clusterClient(t, env, env.Config)
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "cluster-signing"})
	require.NoError(t, err)
	require.Len(t, c.Partitions(), 1, "three nodes, one partition")

	var (
		stop     atomic.Bool
		signed   atomic.Int64
		failures = make(chan error, 100)
		wg       sync.WaitGroup
	)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if err := signECDSA(key, fmt.Sprintf("%d/%d", g, i)); err != nil {
					select {
					case failures <- err:
					default:
					}
					continue
				}
				signed.Add(1)
			}
		}()
	}

	// Phase 1: all up. Measure the spread of load.
	before := requestsPerNode(env)
	time.Sleep(2500 * time.Millisecond)
	after := requestsPerNode(env)
	var total uint64
	shares := make([]uint64, len(after))
	for i := range after {
		shares[i] = after[i] - before[i]
		total += shares[i]
	}
	mean := float64(total) / float64(len(shares))
	for i, s := range shares {
		assert.GreaterOrEqual(t, float64(s), mean/3, "node %d served %d of %d requests", i, s, total)
	}

	env.Nodes[0].Kill()
	time.Sleep(2500 * time.Millisecond)
	env.Nodes[1].Kill()
	time.Sleep(2500 * time.Millisecond)
	require.NoError(t, env.Nodes[0].Restart())
	require.NoError(t, env.Nodes[1].Restart())
	time.Sleep(2500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Errorf("failed signature: %v", err)
	}
	t.Logf("%d signatures, load while all up: %v", signed.Load(), shares)
	require.Positive(t, signed.Load())

	// The restarted nodes serve again.
	end := requestsPerNode(env)
	for i := 0; i < 2; i++ {
		_ = end
		require.Eventually(t, func() bool {
			_ = signECDSA(key, "after restart")
			return env.Nodes[i].Stats().Requests > end[i]
		}, 10*time.Second, 20*time.Millisecond, "node %d gets traffic again", i)
	}
}

// TestKeyUsableOnEveryNodeAtOnce: a key generated through one node is usable
// on the very next call, whichever node serves it.
func TestKeyUsableOnEveryNodeAtOnce(t *testing.T) {
	env := testenv.Start(t, testenv.WithNodes(3))
	_, p := clusterClient(t, env, env.Config)
	// One client per node, so that "whichever node" is every node.
	single := make([]*hsm.Partition, len(env.Nodes))
	for i := range env.Nodes {
		cfg := env.ConfigWithPriorities(priorityOnly(i, len(env.Nodes))...)
		_, single[i] = clusterClient(t, env, cfg)
	}
	for round := 0; round < 5; round++ {
		label := fmt.Sprintf("fresh-%d", round)
		key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: label})
		require.NoError(t, err)
		for i, sp := range single {
			k, err := sp.KeyByLabel(ctx(t), label)
			require.NoError(t, err, "node %d", i)
			assert.Equal(t, key.Handle(), k.Handle(), "one handle on every node")
			require.NoError(t, signECDSA(k, "at once"), "node %d", i)
		}
	}
}

// priorityOnly gives node i priority 0 and the others a lower priority, so
// that a client uses node i alone while it is up.
func priorityOnly(i, n int) []int {
	prio := make([]int, n)
	for j := range prio {
		if j != i {
			prio[j] = 1
		}
	}
	return prio
}

// TestLostGenerateReplyCreatesOneKey: the node generates, replicates, and
// the reply is lost; the engine retries with the same OpID and the cluster
// answers with the first result.
func TestLostGenerateReplyCreatesOneKey(t *testing.T) {
	env := testenv.Start(t, testenv.WithNodes(3))
	_, p := clusterClient(t, env, env.Config)
	for _, n := range env.Nodes {
		n.DropReplies(wire.OpGenerateKeyPair, 1)
	}
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEd25519, Label: "exactly-once"})
	require.NoError(t, err)
	var dropped uint64
	for _, n := range env.Nodes {
		dropped += n.Stats().DroppedReplies
		n.DropReplies(wire.OpGenerateKeyPair, 0)
	}
	// Each node loses its first reply, so the engine may have needed several
	// attempts, on several nodes, all with the same OpID.
	require.Positive(t, dropped, "a reply was lost")
	t.Logf("%d replies lost before one arrived", dropped)

	for _, class := range []uint64{uint64(ck.CKO_PRIVATE_KEY), uint64(ck.CKO_PUBLIC_KEY)} {
		objs, err := p.FindObjects(ctx(t), hsm.Template{
			hsm.NewULongAttribute(ck.CKA_CLASS, class),
			hsm.NewBytesAttribute(ck.CKA_LABEL, []byte("exactly-once")),
		}, nil)
		require.NoError(t, err)
		require.Len(t, objs, 1, "exactly one object of class %d", class)
		if class == uint64(ck.CKO_PRIVATE_KEY) {
			assert.Equal(t, key.Handle(), objs[0].Handle)
		}
	}
}

// TestAllNodesDown: with every node dead, calls fail within their deadline
// with ErrUnavailable; when a node returns, calls succeed again with the
// same client.
func TestAllNodesDown(t *testing.T) {
	env := testenv.Start(t, testenv.WithNodes(3))
	c, p := clusterClient(t, env, env.Config)
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "outage"})
	require.NoError(t, err)
	for _, n := range env.Nodes {
		n.Kill()
	}
	for i := 0; i < 3; i++ {
		short, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		digest := sha256.Sum256([]byte("down"))
		_, err := key.Sign(short, hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
		cancel()
		require.ErrorIs(t, err, hsm.ErrUnavailable)
		assert.Less(t, time.Since(start), 2*time.Second, "fails within the deadline")
	}
	for _, s := range c.NodeStats() {
		assert.False(t, s.Healthy, "%s", s.Address)
	}

	// Killed nodes lost their memory, not their cluster's log: once a
	// majority is back, they elect a leader, catch up, and serve the key
	// made before the outage. The engine logs in again by itself.
	require.NoError(t, env.Nodes[2].Restart())
	require.NoError(t, env.Nodes[1].Restart())
	require.Eventually(t, func() bool {
		_, err := p.GenerateRandom(context.Background(), 8)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, signECDSA(key, "survived"))
	k2, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "after-outage"})
	require.NoError(t, err, "the engine logs in again by itself")
	require.NoError(t, signECDSA(k2, "back"))
}

// TestPriorities: priority-1 nodes get no traffic while a priority-0 node is
// healthy, take it all when those die, and give it back when they return.
func TestPriorities(t *testing.T) {
	env := testenv.Start(t, testenv.WithNodes(3))
	_, p := clusterClient(t, env, env.ConfigWithPriorities(0, 0, 1))
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "prio"})
	require.NoError(t, err)
	signMany := func(n int) {
		for i := 0; i < n; i++ {
			require.NoError(t, signECDSA(key, fmt.Sprint(i)))
		}
	}

	backup := env.Nodes[2]
	before := backup.Stats().Requests
	signMany(60)
	assert.Equal(t, before, backup.Stats().Requests, "priority 1 idle while priority 0 serves")

	env.Nodes[0].Kill()
	env.Nodes[1].Kill()
	before = backup.Stats().Requests
	signMany(30)
	assert.GreaterOrEqual(t, backup.Stats().Requests-before, uint64(30), "priority 1 takes over")

	require.NoError(t, env.Nodes[0].Restart())
	require.NoError(t, env.Nodes[1].Restart())
	require.Eventually(t, func() bool {
		b := backup.Stats().Requests
		signMany(10)
		return backup.Stats().Requests == b
	}, 10*time.Second, 50*time.Millisecond, "traffic moves back to priority 0")
}

// TestBusyIsNotFailure: a node answering busy is skipped, not marked failed.
func TestBusyIsNotFailure(t *testing.T) {
	env := testenv.Start(t, testenv.WithNodes(2))
	c, p := clusterClient(t, env, env.Config)
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "busy"})
	require.NoError(t, err)
	env.Nodes[0].SetBusy(true)
	for i := 0; i < 20; i++ {
		require.NoError(t, signECDSA(key, fmt.Sprint(i)))
	}
	for _, s := range c.NodeStats() {
		assert.True(t, s.Healthy, "%s: busy is not a failure", s.Address)
	}
	var busy uint64
	for _, s := range c.NodeStats() {
		busy += s.Busy
	}
	assert.Positive(t, busy)

	// Every node busy: the call waits and tries again, and ends with
	// ErrBusy at its deadline.
	env.Nodes[1].SetBusy(true)
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	digest := sha256.Sum256([]byte("x"))
	_, err = key.Sign(short, hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
	require.Error(t, err)
	assert.True(t, errors.Is(err, hsm.ErrBusy) || errors.Is(err, context.DeadlineExceeded), "%v", err)
	env.Nodes[0].SetBusy(false)
	env.Nodes[1].SetBusy(false)
	require.NoError(t, signECDSA(key, "free again"))
}

// TestFrozenNodeFailsOver: a node that stops answering with its sockets
// open (testenv's Freeze, as a SIGSTOPed HSM looks) is marked failed after
// one attempt deadline, and 16 goroutines signing meanwhile see no failure;
// once it thaws, the prober brings it back.
func TestFrozenNodeFailsOver(t *testing.T) {
	env := testenv.Start(t, testenv.WithNodes(3))
	cfg := env.Config
	cfg.Timeouts.Attempt = hsm.Duration(300 * time.Millisecond)
	c, p := clusterClient(t, env, cfg)
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "frozen"})
	require.NoError(t, err)

	frozen := env.Nodes[1]
	frozenStats := func() hsm.NodeStats {
		for _, s := range c.NodeStats() {
			if s.Address == frozen.Addr() {
				return s
			}
		}
		t.Fatalf("no statistics for %s", frozen.Addr())
		return hsm.NodeStats{}
	}
	var (
		stop     atomic.Bool
		signed   atomic.Int64
		failures = make(chan error, 100)
		wg       sync.WaitGroup
	)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if err := signECDSA(key, fmt.Sprintf("g%d-%d", g, i)); err != nil {
					select {
					case failures <- err:
					default:
					}
				}
				signed.Add(1)
			}
		}()
	}
	// Every node serves before the freeze.
	require.Eventually(t, func() bool { return frozenStats().Successes > 0 }, 10*time.Second, time.Millisecond)
	frozen.Freeze(true)
	require.Eventually(t, func() bool { return !frozenStats().Healthy }, 10*time.Second, time.Millisecond, "the frozen node is marked failed")
	during := signed.Load()
	require.Eventually(t, func() bool { return signed.Load() > during+1000 }, 20*time.Second, time.Millisecond, "the others go on signing")
	frozen.Freeze(false)
	require.Eventually(t, func() bool { return frozenStats().Healthy }, 10*time.Second, time.Millisecond, "the thawed node comes back")
	stop.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Errorf("signature failed: %v", err)
	}
	assert.Positive(t, frozenStats().Overdue)
}
