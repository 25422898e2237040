package clientstest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

// TestModuleBackendHealsAfterHSMRestart runs the engine over a PKCS#11
// module whose HSM can really stop: libkeyhold.so in front of a `keyhold
// serve` process. 32 goroutines sign while the process is killed and started
// again: while it is down every call fails fast with hsm.ErrUnavailable,
// afterwards they succeed again with no restart of the application, and the
// sessions that broke were closed.
func TestModuleBackendHealsAfterHSMRestart(t *testing.T) {
	lib := libtest.Library(t)
	node := startServeNode(t)
	// libkeyhold.so reads its configuration when it is initialised.
	t.Setenv("KEYHOLD_CONF", filepath.Join(node.dir, "keyhold.yaml"))

	ctx := context.Background()
	cfg := hsm.Config{Partitions: []hsm.PartitionConfig{{
		ID: 1, Name: "pay", Nodes: []hsm.NodeConfig{{Module: lib, Token: "pay"}},
	}}}
	client, err := hsm.Open(ctx, cfg)
	require.NoError(t, err)
	defer client.Close()
	p, err := client.Partition("pay")
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx, freezeUserPIN))
	key, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "heal"})
	require.NoError(t, err)
	pub := key.Public().(*ecdsa.PublicKey)
	closedBefore := sessionsClosed(lib, "pay")

	const enough = 200 // calls of each phase before the next begins
	var (
		phase    atomic.Int32 // 0: up, 1: down, 2: back up
		counts   [3]atomic.Int64
		reached  [3]chan struct{}
		once     [3]sync.Once
		slowest  atomic.Int64 // the longest failing call while down, in ns
		healed   atomic.Bool  // a call succeeded after the restart
		waiting  atomic.Int64 // calls that failed after the restart, before the node was found back
		problems = make(chan error, 32)
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for i := range reached {
		reached[i] = make(chan struct{})
	}
	count := func(ph int32) {
		if counts[ph].Add(1) == enough {
			once[ph].Do(func() { close(reached[ph]) })
		}
	}
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ph := phase.Load()
				// Whether a call of phase 2 had succeeded before this one
				// began: a call that began before that may still fail fast.
				wasHealed := healed.Load()
				msg := []byte(fmt.Sprintf("g%d-%d", g, i))
				digest := sha256.Sum256(msg)
				start := time.Now()
				sig, err := key.Sign(ctx, hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
				elapsed := time.Since(start)
				now := phase.Load()
				switch {
				case err == nil:
					if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
						problems <- errors.New("a signature does not verify")
						return
					}
					if ph == now && ph != 1 {
						count(ph)
					}
					if ph == 2 {
						healed.Store(true)
					}
				case errors.Is(err, hsm.ErrUnavailable) && ph == 1 && now == 1:
					count(1)
					for {
						old := slowest.Load()
						if int64(elapsed) <= old || slowest.CompareAndSwap(old, int64(elapsed)) {
							break
						}
					}
				case errors.Is(err, hsm.ErrUnavailable) && ph != now:
					// Started on one side of a kill or a restart.
				case errors.Is(err, hsm.ErrUnavailable) && ph == 2 && !wasHealed:
					// The HSM is back, and the prober has not found it yet:
					// calls still fail fast until it does.
					waiting.Add(1)
				default:
					problems <- fmt.Errorf("phase %d: %w", ph, err)
					return
				}
			}
		}()
	}
	wait := func(ph int) {
		t.Helper()
		select {
		case <-reached[ph]:
		case err := <-problems:
			t.Fatalf("a signer failed: %v", err)
		case <-time.After(2 * time.Minute):
			t.Fatalf("phase %d never had %d calls", ph, enough)
		}
	}
	wait(0)
	// The phase turns before the kill: a call that fails once the process
	// is gone must never count as a failure while up. (A call that still
	// succeeds in phase 1, before the kill lands, is allowed.)
	phase.Store(1)
	node.kill()
	wait(1)
	node.start()
	phase.Store(2)
	wait(2)
	close(stop)
	wg.Wait()
	select {
	case err := <-problems:
		t.Fatalf("a signer failed: %v", err)
	default:
	}
	t.Logf("up: %d signatures; down: %d calls failed with ErrUnavailable, the slowest in %v; back: %d calls failed before the node was found back, then %d signatures",
		counts[0].Load(), counts[1].Load(), time.Duration(slowest.Load()).Round(time.Microsecond), waiting.Load(), counts[2].Load())
	assert.Greater(t, sessionsClosed(lib, "pay"), closedBefore, "the sessions the HSM's death broke were closed")
	for _, s := range client.NodeStats() {
		assert.True(t, s.Healthy, "node %s is back in the rotation", s.Address)
	}
}

// sessionsClosed returns how many sessions of a module's token this process
// closed because they broke.
func sessionsClosed(module, label string) uint64 {
	for _, s := range pkcs11module.Stats() {
		if s.Module == module && s.Label == label {
			return s.SessionsClosed
		}
	}
	return 0
}

// TestRedundantModulePartitionSurvivesAnHSM: two HSMs holding the same
// keys (a keyhold serve node and its clone, as a vendor clones an HSM), each
// a slot of libkeyhold.so, are the two module nodes of one partition of the
// engine. 32 goroutines sign while one HSM is killed and later started
// again: no signature fails.
func TestRedundantModulePartitionSurvivesAnHSM(t *testing.T) {
	lib := libtest.Library(t)
	ctx := context.Background()

	// HSM A serves partitions a and b; the same key goes into both. Its
	// directory, copied while it is stopped, is HSM B: the same PKI, the
	// same keys, another address.
	a := startServeNodeWith(t, "a,b")
	cfgA, err := hsm.LoadConfig(filepath.Join(a.dir, "keyhold.yaml"))
	require.NoError(t, err)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	func() {
		c, err := hsm.Open(ctx, cfgA)
		require.NoError(t, err)
		defer c.Close()
		for _, name := range []string{"a", "b"} {
			p, err := c.Partition(name)
			require.NoError(t, err)
			require.NoError(t, p.Login(ctx, freezeUserPIN))
			_, err = p.ImportKey(ctx, priv, hsm.KeySpec{Label: "shared", ID: []byte{0x5a}})
			require.NoError(t, err)
		}
	}()
	a.stop()
	b := &serveNode{t: t, bin: a.bin, dir: t.TempDir(), addr: freeAddr(t), parts: a.parts}
	require.NoError(t, exec.Command("cp", "-a", a.dir+"/.", b.dir).Run())
	a.start()
	b.start()
	t.Cleanup(func() { b.kill() })

	// libkeyhold.so: slot a is HSM A's partition a, slot b is HSM B's
	// partition b.
	lcfg := cfgA
	lcfg.Partitions = []hsm.PartitionConfig{
		{ID: 1, Name: "a", Nodes: []hsm.NodeConfig{{Address: a.addr}}},
		{ID: 2, Name: "b", Nodes: []hsm.NodeConfig{{Address: b.addr}}},
	}
	data, err := yaml.Marshal(lcfg)
	require.NoError(t, err)
	conf := filepath.Join(t.TempDir(), "keyhold.yaml")
	require.NoError(t, os.WriteFile(conf, data, 0o600))
	t.Setenv("KEYHOLD_CONF", conf)

	client, err := hsm.Open(ctx, hsm.Config{Partitions: []hsm.PartitionConfig{{
		ID: 1, Name: "pay", Nodes: []hsm.NodeConfig{{Module: lib, Token: "a"}, {Module: lib, Token: "b"}},
	}}})
	require.NoError(t, err)
	defer client.Close()
	p, err := client.Partition("pay")
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx, freezeUserPIN))
	key, err := p.KeyByLabel(ctx, "shared")
	require.NoError(t, err)

	var (
		signed   atomic.Int64
		failures = make(chan error, 64)
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				digest := sha256.Sum256([]byte(fmt.Sprintf("g%d-%d", g, i)))
				sig, err := key.Sign(ctx, hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
				if err == nil && !ecdsa.Verify(&priv.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
					err = errors.New("a signature does not verify")
				}
				if err != nil {
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
	waitFor := func(n int64) {
		t.Helper()
		target := signed.Load() + n
		require.Eventually(t, func() bool { return signed.Load() >= target }, time.Minute, time.Millisecond)
	}
	waitFor(500)
	a.kill() // HSM A dies: slot a answers CKR_DEVICE_REMOVED
	waitFor(2000)
	a.start()
	waitFor(2000)
	close(stop)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Errorf("signature failed: %v", err)
	}
	t.Logf("%d signatures, none failed", signed.Load())
	var failed uint64
	for _, s := range client.NodeStats() {
		failed += s.Failures
	}
	assert.Positive(t, failed, "the dead HSM's slot was taken out of the rotation")
}
