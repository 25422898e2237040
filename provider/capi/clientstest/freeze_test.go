package clientstest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

// A frozen node is the failure that used to stop a whole client: a process
// stopped by SIGSTOP (or a host behind a black-holed network) keeps its
// sockets open and never answers. These tests freeze one process of a
// three-process `keyhold serve` cluster while 32 callers sign, through the Go
// SDK and through libkeyhold.so from a C program, and require that no
// signature fails. How long the freeze lasts is KEYHOLD_FREEZE_SECONDS
// (default 5); the published numbers come from a 30-second freeze:
//
//	KEYHOLD_FREEZE_SECONDS=30 go test ./provider/capi/clientstest -run Freeze -v

const (
	freezeUserPIN = "freeze-user-pin"
	freezeSOPIN   = "freeze-so-pin"
	freezeCallers = 32
	freezePhase   = 2 * time.Second // before and after the freeze
)

func freezeDuration(t *testing.T) time.Duration {
	s := os.Getenv("KEYHOLD_FREEZE_SECONDS")
	if s == "" {
		return 5 * time.Second
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err, "KEYHOLD_FREEZE_SECONDS")
	return time.Duration(n) * time.Second
}

// phaseStats collects the outcomes of one phase of a load run.
type phaseStats struct {
	mu        sync.Mutex
	latencies []time.Duration
	failures  []error
	start     time.Time
	end       time.Time
}

func (s *phaseStats) add(d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failures = append(s.failures, err)
		return
	}
	s.latencies = append(s.latencies, d)
}

func (s *phaseStats) summary() (ok int, rate float64, p50, p99, max time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := slices.Clone(s.latencies)
	slices.Sort(l)
	if len(l) == 0 {
		return 0, 0, 0, 0, 0
	}
	secs := s.end.Sub(s.start).Seconds()
	return len(l), float64(len(l)) / secs, l[len(l)/2], l[len(l)*99/100], l[len(l)-1]
}

// TestFreezeSDK: 32 goroutines sign through the Go SDK while one node of a
// three-process cluster is frozen: none fails, and the frozen node is marked
// failed and comes back after it thaws.
func TestFreezeSDK(t *testing.T) {
	c := startServeCluster(t, 3)
	cfg, err := hsm.LoadConfig(c.config)
	require.NoError(t, err)
	ctx := context.Background()
	client, err := hsm.Open(ctx, cfg)
	require.NoError(t, err)
	defer client.Close()
	p, err := client.Partition("pay")
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx, freezeUserPIN))
	key, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "freeze"})
	require.NoError(t, err)
	digest := sha256.Sum256([]byte("frozen"))
	sig, err := key.Sign(ctx, hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
	require.NoError(t, err)
	require.True(t, ecdsa.Verify(key.Public().(*ecdsa.PublicKey), digest[:],
		new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])))

	phases := []*phaseStats{{}, {}, {}}
	var current sync.Mutex
	cur := 0
	var stop sync.WaitGroup
	done := make(chan struct{})
	for range freezeCallers {
		stop.Add(1)
		go func() {
			defer stop.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				current.Lock()
				ph := phases[cur]
				current.Unlock()
				start := time.Now()
				_, err := key.Sign(ctx, hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
				ph.add(time.Since(start), err)
			}
		}()
	}
	setPhase := func(i int) {
		current.Lock()
		now := time.Now()
		if i > 0 {
			phases[i-1].end = now
		}
		if i < len(phases) {
			phases[i].start = now
			cur = i
		}
		current.Unlock()
	}
	setPhase(0)
	time.Sleep(freezePhase) // the experiment's "before" lasts this long
	thaw := c.freeze(t, 1)
	setPhase(1)
	time.Sleep(freezeDuration(t)) // the freeze lasts this long
	thaw()
	setPhase(2)
	time.Sleep(freezePhase)
	close(done)
	stop.Wait()
	setPhase(3)

	for i, name := range []string{"before", "frozen", "after"} {
		ok, rate, p50, p99, max := phases[i].summary()
		t.Logf("SDK %s: %d signatures, %.0f/s, p50 %v, p99 %v, max %v, %d failed",
			name, ok, rate, p50, p99, max, len(phases[i].failures))
		assert.Empty(t, phases[i].failures, "failed signatures %s the freeze", name)
		assert.Positive(t, ok, "signatures %s the freeze", name)
	}
	var frozen hsm.NodeStats
	for _, s := range client.NodeStats() {
		t.Logf("node %s: %+v", s.Address, s)
		if s.Address == c.addrs[1] {
			frozen = s
		}
	}
	require.Equal(t, c.addrs[1], frozen.Address)
	assert.Positive(t, frozen.Overdue+frozen.Failures, "the frozen node was taken out of the rotation")
	require.Eventually(t, func() bool {
		for _, s := range client.NodeStats() {
			if s.Address == frozen.Address {
				return s.Healthy
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond, "the thawed node rejoins")
}

// TestFreezeLibraryCCaller: the same freeze, with 32 threads of a C program
// signing through libkeyhold.so: no C_Sign fails.
func TestFreezeLibraryCCaller(t *testing.T) {
	prog := libtest.CompileC(t, filepath.Join("testdata", "signload.c"), "-ldl", "-lpthread")
	lib := libtest.Library(t)

	c := startServeCluster(t, 3)
	cfg, err := hsm.LoadConfig(c.config)
	require.NoError(t, err)
	ctx := context.Background()
	client, err := hsm.Open(ctx, cfg)
	require.NoError(t, err)
	p, err := client.Partition("pay")
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx, freezeUserPIN))
	_, err = p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "freeze"})
	require.NoError(t, err)
	require.NoError(t, client.Close())

	total := 2*freezePhase + freezeDuration(t)
	seconds := int(total/time.Second) + 1
	run := exec.Command(prog, lib, "pay", "freeze", strconv.Itoa(freezeCallers), strconv.Itoa(seconds))
	run.Env = append(os.Environ(), "KEYHOLD_CONF="+c.config, "KEYHOLD_PIN="+freezeUserPIN)
	run.Stderr = os.Stderr
	stdout, err := run.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, run.Start())
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	time.Sleep(freezePhase) // "before" lasts this long
	thaw := c.freeze(t, 1)
	require.NoError(t, run.Process.Signal(syscall.SIGUSR1))
	time.Sleep(freezeDuration(t)) // the freeze lasts this long
	thaw()
	require.NoError(t, run.Process.Signal(syscall.SIGUSR1))
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, run.Wait())

	report := string(rest)
	t.Logf("libkeyhold.so, %d C threads:\n%s", freezeCallers, report)
	phases := 0
	for _, l := range strings.Split(strings.TrimSpace(report), "\n") {
		var ph, ok, failed, p50, p99, max int
		if _, err := fmt.Sscanf(l, "phase %d ok=%d failed=%d p50_us=%d p99_us=%d max_us=%d", &ph, &ok, &failed, &p50, &p99, &max); err != nil {
			continue
		}
		phases++
		assert.Zero(t, failed, "failed C_Sign calls in phase %d", ph)
		assert.Positive(t, ok, "signatures in phase %d", ph)
	}
	assert.Equal(t, 3, phases, "before, frozen and after were all measured")
	assert.NotContains(t, report, "first_failure")
}
