//go:build cgo

package gateway_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/server"
	"github.com/keyhold/keyhold/signer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatewayPair is two gateways in front of two tokens that hold the same
// key, which clients see as one partition: the nodes share a PKI (clients
// trust both, and both trust the clients) and a ticket key (a login
// through one is valid on the other).
type gatewayPair struct {
	pki       *server.PKI
	ticketKey [32]byte
	tokens    [2]softhsmtest.Token
	nodes     [2]*server.Node
}

func (gp *gatewayPair) options(i int, addr string) server.NodeOptions {
	tk := gp.tokens[i]
	return server.NodeOptions{
		Address: addr,
		PKI:     gp.pki,
		Partitions: []server.PartitionOptions{{
			ID: moduleID, Name: modulePart, TicketKey: gp.ticketKey,
			Module: &server.ModuleOptions{Path: tk.Module, Token: tk.Label, PIN: tk.PIN},
		}},
	}
}

// start starts gateway i, on addr ("" for a new port).
func (gp *gatewayPair) start(t *testing.T, i int, addr string) {
	t.Helper()
	n, err := server.StartNode(gp.options(i, addr))
	require.NoError(t, err)
	gp.nodes[i] = n
}

// config is a client configuration listing the gateways given.
func (gp *gatewayPair) config(t *testing.T, nodes ...*server.Node) hsm.Config {
	t.Helper()
	_, cert, err := gp.pki.ClientCredential("app")
	require.NoError(t, err)
	pc := hsm.PartitionConfig{ID: moduleID, Name: modulePart}
	for _, n := range nodes {
		pc.Nodes = append(pc.Nodes, hsm.NodeConfig{Address: n.Addr()})
	}
	return hsm.Config{RootCAs: gp.pki.NodeCAPool(), Credential: &cert, Partitions: []hsm.PartitionConfig{pc}}
}

func startPair(t *testing.T) (*gatewayPair, *ecdsa.PrivateKey) {
	t.Helper()
	key := mustEC(t)
	_, tokens := softhsmtest.RedundantConfig(t, key, hsm.KeySpec{Type: hsm.KeyEC, Label: "shared"})
	pki, err := server.NewPKI()
	require.NoError(t, err)
	gp := &gatewayPair{pki: pki, tokens: tokens}
	_, _ = rand.Read(gp.ticketKey[:])
	gp.start(t, 0, "")
	gp.start(t, 1, "")
	t.Cleanup(func() {
		for _, n := range gp.nodes {
			require.NoError(t, n.Close())
		}
	})
	return gp, key
}

// TestRedundantGatewaysSurviveRestart: two gateways in front of two
// SoftHSM2 tokens holding the same key are one partition; 32 goroutines
// sign while one gateway is stopped and started again, and not one
// signature fails. The key has the same handle through both gateways, and
// through the restarted one.
func TestRedundantGatewaysSurviveRestart(t *testing.T) {
	ctx := context.Background()
	gp, key := startPair(t)
	pin := gp.tokens[0].PIN

	// The same key, the same handle, through either gateway alone.
	var handles [2]hsm.ObjectHandle
	for i, n := range gp.nodes {
		p := openPartition(t, gp.config(t, n), modulePart, pin)
		k, err := p.KeyByLabel(ctx, "shared")
		require.NoError(t, err)
		handles[i] = k.Handle()
	}
	require.Equal(t, handles[0], handles[1], "a key has one handle on every gateway of the partition")

	p := openPartition(t, gp.config(t, gp.nodes[0], gp.nodes[1]), modulePart, pin)
	k, err := p.KeyByLabel(ctx, "shared")
	require.NoError(t, err)
	s, err := signer.New(k)
	require.NoError(t, err)
	digest := sha256.Sum256([]byte("signed while a gateway restarts"))

	var signed, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sig, err := s.SignContext(ctx, digest[:], crypto.SHA256)
				if err == nil && !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
					err = assert.AnError
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				signed.Add(1)
			}
		}()
	}
	waitSigned := func(n int64) {
		t.Helper()
		target := signed.Load() + n
		require.Eventually(t, func() bool { return signed.Load() >= target }, 30*time.Second, time.Millisecond)
	}

	waitSigned(200)
	addr := gp.nodes[0].Addr()
	served := gp.nodes[0].Stats().Requests
	require.NoError(t, gp.nodes[0].Close())
	waitSigned(200) // through the other gateway alone
	gp.start(t, 0, addr)
	// The restarted gateway takes its share again.
	require.Eventually(t, func() bool { return gp.nodes[0].Stats().Requests > 100 }, 30*time.Second, time.Millisecond)
	waitSigned(200)
	close(stop)
	wg.Wait()

	assert.Zero(t, failed.Load(), "failed signatures; the first: %v", firstErr.Load())
	t.Logf("%d signatures, %d requests served by the gateway before its restart", signed.Load(), served)

	// The restarted gateway serves the key under the same handle.
	alone := openPartition(t, gp.config(t, gp.nodes[0]), modulePart, pin)
	again, err := alone.KeyByLabel(ctx, "shared")
	require.NoError(t, err)
	assert.Equal(t, k.Handle(), again.Handle())
}
