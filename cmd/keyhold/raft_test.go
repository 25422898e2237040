//go:build unix

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/wire"
)

// leaderOf returns the index of the process that last said it leads, -1
// when none did.
func leaderOf(procs []*process, addrs []string) int {
	for i, p := range procs {
		if p == nil {
			continue
		}
		ls := p.out.lines()
		for j := len(ls) - 1; j >= 1; j-- {
			if strings.HasSuffix(ls[j], "leads the cluster") && !strings.Contains(ls[j], "no longer") {
				if strings.Contains(ls[j], addrs[i]) {
					return i
				}
			}
			if strings.Contains(ls[j], "no longer leads") {
				break
			}
		}
	}
	return -1
}

// freezeSeconds is how long TestServeRaftClusterKillLeader stops a
// follower with SIGSTOP (KEYHOLD_FREEZE_SECONDS, default 3).
func freezeSeconds(t *testing.T) time.Duration {
	v := os.Getenv("KEYHOLD_FREEZE_SECONDS")
	if v == "" {
		return 3 * time.Second
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "KEYHOLD_FREEZE_SECONDS")
	return time.Duration(n) * time.Second
}

// TestServeRaftClusterKillLeader runs a 3-process cluster replicating with
// Raft, with 32 goroutines signing through the SDK and one generating keys.
// It kills the leader with SIGKILL and starts it again, then stops a
// follower with SIGSTOP for a while (KEYHOLD_FREEZE_SECONDS) and lets it go
// on with SIGCONT: no signature fails, a new leader is elected, the stopped
// node answers nothing while stopped and catches up after, and afterwards
// every key whose generation was acknowledged is on every node exactly
// once (no request acted twice), each node asked alone.
func TestServeRaftClusterKillLeader(t *testing.T) {
	const pin = "user-pin-1234"
	dir := t.TempDir()
	addrs := freePorts(t, 3)
	peers := strings.Join(addrs, ",")
	start := func(i int) *process {
		p, _ := startServe(t, []string{"KEYHOLD_USER_PIN=" + pin}, "--dir", dir, "--partitions", "pay",
			"--listen", addrs[i], "--peers", peers, "--so-pin", "so-pin-5678", "--replication", "raft")
		return p
	}
	procs := make([]*process, 3)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() { procs[i] = start(i) })
	}
	wg.Wait()
	cfg, err := hsm.LoadConfig(filepath.Join(dir, "keyhold.yaml"))
	require.NoError(t, err)
	key := signWithEngine(t, cfg, "pay", pin, "signing key")
	part := key.Partition()
	pub := key.Public().(*ecdsa.PublicKey)
	var leader int
	require.Eventually(t, func() bool { leader = leaderOf(procs, addrs); return leader >= 0 }, 20*time.Second, 10*time.Millisecond)

	var signed, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var workers sync.WaitGroup
	for g := range 32 {
		workers.Go(func() {
			digest := sha256.Sum256(fmt.Appendf(nil, "signer %d", g))
			for {
				select {
				case <-stop:
					return
				default:
				}
				sig, err := key.Sign(ctxT(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
				if err != nil || !ecdsa.VerifyASN1(pub, digest[:], rawToASN1(t, sig)) {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprint(err))
					continue
				}
				signed.Add(1)
			}
		})
	}
	var mu sync.Mutex
	var acked []string
	workers.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			label := fmt.Sprintf("generated-%d", i)
			// Key generation has no attempt deadline (a slow RSA key is
			// no failure): a call that went to the node about to stop
			// waits for its caller's deadline, and the next one goes to
			// a node that answers.
			gctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := part.GenerateKey(gctx, hsm.KeySpec{Type: hsm.KeyEC, Label: label})
			cancel()
			if err == nil {
				mu.Lock()
				acked = append(acked, label)
				mu.Unlock()
			}
		}
	})
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }

	require.Eventually(t, func() bool { return signed.Load() >= 500 && ackedCount() >= 3 }, 30*time.Second, 10*time.Millisecond)
	require.Error(t, procs[leader].stop(syscall.SIGKILL))
	killed := leader
	procs[killed] = nil
	signedAtKill, ackedAtKill := signed.Load(), ackedCount()
	require.Eventually(t, func() bool {
		l := leaderOf(procs, addrs)
		return l >= 0 && l != killed
	}, 20*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		return signed.Load() >= signedAtKill+2000 && ackedCount() >= ackedAtKill+3
	}, 60*time.Second, 10*time.Millisecond)
	t.Logf("killed %s", addrs[killed])
	procs[killed] = start(killed)

	// A follower stops, as a process under SIGSTOP or a host whose network
	// is black-holed: the two others keep a majority, and the engine's
	// attempt deadline moves its callers to them.
	var frozen int
	require.Eventually(t, func() bool {
		l := leaderOf(procs, addrs)
		frozen = (l + 1) % len(procs)
		return l >= 0
	}, 20*time.Second, 10*time.Millisecond)
	require.NoError(t, procs[frozen].cmd.Process.Signal(syscall.SIGSTOP))
	t.Logf("stopped %s", addrs[frozen])
	signedAtStop, ackedAtStop := signed.Load(), ackedCount()
	pause := time.NewTimer(freezeSeconds(t))
	<-pause.C
	require.NoError(t, procs[frozen].cmd.Process.Signal(syscall.SIGCONT))
	require.Greater(t, signed.Load(), signedAtStop, "signing went on while a follower was stopped")
	require.Greater(t, ackedCount(), ackedAtStop, "the majority committed keys while a follower was stopped")
	require.Eventually(t, func() bool {
		return ackedCount() >= ackedAtStop+6
	}, 60*time.Second, 10*time.Millisecond)
	close(stop)
	workers.Wait()
	assert.Zero(t, failed.Load(), "failed signatures; first: %v", firstErr.Load())
	t.Logf("%d signatures, %d keys acknowledged", signed.Load(), ackedCount())
	mu.Lock()
	labels := slices.Clone(acked)
	mu.Unlock()
	for _, a := range addrs {
		c := dialNode(t, cfg, a)
		ticket := login(t, c, 1, pin)
		for _, l := range labels {
			// A node started again catches up within moments.
			var count int
			ok := assert.Eventually(t, func() bool {
				var found wire.FindObjectsReply
				err := c.Call(ctxT(t), wire.OpFindObjects, wire.FindObjectsRequest{Partition: 1, Ticket: ticket, Template: ck.Template{
					ck.String(ck.CKA_LABEL, l), ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
				}}, &found)
				count = len(found.Objects)
				return err == nil && count == 1
			}, 20*time.Second, 10*time.Millisecond)
			require.True(t, ok, "key %s on node %s (killed %s, stopped %s): %d found", l, a, addrs[killed], addrs[frozen], count)
		}
	}
}

// TestServeRaftMembershipAndRecovery adds a fourth process to a running
// 3-process cluster with keyhold raft add, removes it with keyhold raft
// remove, then loses two nodes for good: the survivor refuses changes
// until keyhold raft recover makes it a cluster of its own.
func TestServeRaftMembershipAndRecovery(t *testing.T) {
	const pin = "user-pin-1234"
	dir := t.TempDir()
	addrs := freePorts(t, 4)
	peers := strings.Join(addrs, ",")
	start := func(i int, extra ...string) *process {
		p, _ := startServe(t, []string{"KEYHOLD_USER_PIN=" + pin}, append([]string{"--dir", dir, "--partitions", "pay",
			"--listen", addrs[i], "--peers", strings.Join(addrs[:3], ","), "--so-pin", "so-pin-5678", "--replication", "raft"}, extra...)...)
		return p
	}
	procs := make([]*process, 3)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() { procs[i] = start(i) })
	}
	wg.Wait()
	cfg, err := hsm.LoadConfig(filepath.Join(dir, "keyhold.yaml"))
	require.NoError(t, err)
	signWithEngine(t, cfg, "pay", pin, "before the fourth")

	p4, _ := startServe(t, []string{"KEYHOLD_USER_PIN=" + pin}, "--dir", dir, "--partitions", "pay",
		"--listen", addrs[3], "--peers", peers, "--so-pin", "so-pin-5678", "--replication", "raft", "--join")
	out, err := runBinary(t, "raft", "add", "--dir", dir, addrs[3])
	require.NoError(t, err, out)
	c4 := dialNode(t, cfg, addrs[3])
	ticket := login(t, c4, 1, pin)
	require.Eventually(t, func() bool {
		return len(findLabel(t, c4, 1, ticket, "before the fourth")) > 0
	}, 20*time.Second, 10*time.Millisecond)
	out, err = runBinary(t, "raft", "remove", "--dir", dir, addrs[3])
	require.NoError(t, err, out)
	require.NoError(t, p4.stop(syscall.SIGTERM))

	// Two nodes lost for good; the third refuses changes.
	require.Error(t, procs[1].stop(syscall.SIGKILL))
	require.Error(t, procs[2].stop(syscall.SIGKILL))
	c0 := dialNode(t, cfg, addrs[0])
	ticket = login(t, c0, 1, pin)
	err = c0.Call(ctxT(t), wire.OpGenerateKey, wire.GenerateKeyRequest{Partition: 1, Ticket: ticket, OpID: wire.OpID{7},
		Mechanism: ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}, Template: ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 32), ck.Bool(ck.CKA_TOKEN, true)}}, nil)
	requireRV(t, err, wire.CodeNoQuorum)
	require.NoError(t, procs[0].stop(syscall.SIGTERM))

	// Recovery needs the node stopped; it refuses a directory in use, and a
	// directory that is not a node's.
	nodeDir := filepath.Join(dir, "node-"+strings.ReplaceAll(addrs[0], ":", "-"))
	out, err = runBinary(t, "raft", "recover", "--node-dir", t.TempDir(), "--members", addrs[0])
	require.Error(t, err, out)
	out, err = runBinary(t, "raft", "recover", "--node-dir", nodeDir, "--members", addrs[0])
	require.NoError(t, err, out)
	start(0)
	c0 = dialNode(t, cfg, addrs[0])
	ticket = login(t, c0, 1, pin)
	generateAES(t, c0, 1, ticket, "after the recovery")
	assert.NotEmpty(t, findLabel(t, c0, 1, ticket, "before the fourth"))
}
