package hsm_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

func testenvStart(t *testing.T, opts ...testenv.Option) *testenv.Env {
	return testenv.Start(t, opts...)
}

// TestManyGoroutinesOneClient: 200 goroutines sign at once through one
// Client; every signature verifies.
func TestManyGoroutinesOneClient(t *testing.T) {
	p, _ := loggedIn(t)
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "shared"})
	require.NoError(t, err)
	pub := key.Public().(*ecdsa.PublicKey)

	const goroutines, each = 200, 10
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				digest := sha256.Sum256([]byte(fmt.Sprintf("message %d/%d", g, i)))
				sig, err := key.Sign(context.Background(), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
				if err != nil {
					errs <- err
					continue
				}
				r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
				if !ecdsa.Verify(pub, digest[:], r, s) {
					errs <- fmt.Errorf("goroutine %d: signature %d does not verify", g, i)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestNodeDownFailsFastThenRecovers: with its only node stopped, calls fail
// with ErrUnavailable within their deadline instead of hanging, and work
// again once the node is back, without a new Client.
func TestNodeDownFailsFastThenRecovers(t *testing.T) {
	c, env := open(t)
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx(t), env.UserPIN))
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEd25519, Label: "survivor"})
	require.NoError(t, err)

	env.Node.Stop()
	start := time.Now()
	short, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = key.Sign(short, hsm.Mechanism{Type: ck.CKM_EDDSA}, []byte("x"))
	require.ErrorIs(t, err, hsm.ErrUnavailable)
	assert.Less(t, time.Since(start), 3*time.Second, "fails within the deadline")

	require.NoError(t, env.Node.Restart())
	require.Eventually(t, func() bool {
		_, err := key.Sign(context.Background(), hsm.Mechanism{Type: ck.CKM_EDDSA}, []byte("x"))
		return err == nil
	}, 10*time.Second, 50*time.Millisecond)
	stats := c.NodeStats()
	require.Len(t, stats, 1)
	assert.True(t, stats[0].Healthy)
	assert.NotZero(t, stats[0].Failures)
}

// TestReloginAfterTicketExpiry: the engine renews its login by itself.
func TestReloginAfterTicketExpiry(t *testing.T) {
	p, _ := loggedIn(t, testenv.WithTicketLifetime(time.Second))
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEd25519, Label: "renew"})
	require.NoError(t, err)
	time.Sleep(1500 * time.Millisecond)
	_, err = key.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_EDDSA}, []byte("after expiry"))
	require.NoError(t, err)
}

func TestClosedClient(t *testing.T) {
	env := testenvStart(t)
	c, err := hsm.Open(ctx(t), env.Config)
	require.NoError(t, err)
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx(t), env.UserPIN))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close is idempotent")
	_, err = p.GenerateRandom(ctx(t), 16)
	require.ErrorIs(t, err, hsm.ErrClosed)
}

func TestRandom(t *testing.T) {
	c, env := open(t)
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)
	a, err := p.GenerateRandom(ctx(t), 32)
	require.NoError(t, err)
	b, err := p.GenerateRandom(ctx(t), 32)
	require.NoError(t, err)
	assert.Len(t, a, 32)
	assert.NotEqual(t, a, b)
	_, err = p.GenerateRandom(ctx(t), 1<<20)
	require.ErrorIs(t, err, hsm.ErrDataInvalid)
}
