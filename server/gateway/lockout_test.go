//go:build cgo

package gateway_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"net"
	"testing"
	"time"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/server"
	"github.com/keyhold/keyhold/signer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockoutAttempts is the --max-pin-attempts of the lockout tests.
const lockoutAttempts = 3

// partitionOn opens a client of cfg and returns its module partition, not
// logged in.
func partitionOn(t *testing.T, cfg hsm.Config) *hsm.Partition {
	t.Helper()
	c, err := hsm.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	p, err := c.Partition(modulePart)
	require.NoError(t, err)
	return p
}

// ecSigner returns a signer of p's key labelled "ec".
func ecSigner(t *testing.T, p *hsm.Partition) *signer.Signer {
	t.Helper()
	k, err := p.KeyByLabel(context.Background(), "ec")
	require.NoError(t, err)
	s, err := signer.New(k)
	require.NoError(t, err)
	return s
}

// requireLocked checks that p's User is locked out: the right PIN is
// refused, and the partition's information says so.
func requireLocked(t *testing.T, p *hsm.Partition, pin string) {
	t.Helper()
	require.ErrorIs(t, p.Login(context.Background(), pin), hsm.ErrPINLocked)
	info, err := p.Info(context.Background())
	require.NoError(t, err)
	assert.True(t, info.UserPIN().Locked)
}

// TestModuleLockoutSurvivesRestart: wrong PINs on a module partition are
// committed to the node's file, so that the lockout they lead to outlives
// the gateway; a ticket issued before the lockout stops working at once.
func TestModuleLockoutSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.NewToken(t)
	softhsmtest.Import(t, tk, mustEC(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "ec"})
	pki, err := server.NewPKI()
	require.NoError(t, err)
	opts := server.NodeOptions{
		Address: "127.0.0.1:0",
		PKI:     pki,
		Dir:     t.TempDir(),
		Partitions: []server.PartitionOptions{{
			ID: moduleID, Name: modulePart, MaxPINAttempts: lockoutAttempts,
			Module: &server.ModuleOptions{Path: tk.Module, Token: tk.Label, PIN: tk.PIN},
		}},
	}
	n, err := server.StartNode(opts)
	require.NoError(t, err)
	gp := &gatewayPair{pki: pki}
	cfg := gp.config(t, n)

	// A client logged in before the lockout, with a signer ready.
	early := openPartition(t, cfg, modulePart, tk.PIN)
	s := ecSigner(t, early)
	digest := sha256.Sum256([]byte("before the lockout"))
	_, err = s.SignContext(ctx, digest[:], crypto.SHA256)
	require.NoError(t, err)

	guesser := partitionOn(t, cfg)
	for range lockoutAttempts {
		require.ErrorIs(t, guesser.Login(ctx, "wrong-pin"), hsm.ErrPINIncorrect)
	}
	requireLocked(t, guesser, tk.PIN)
	// The early client's ticket no longer counts; its engine's own login
	// again is refused as locked.
	_, err = s.SignContext(ctx, digest[:], crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrPINLocked)

	require.NoError(t, n.Close())
	n, err = server.StartNode(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	requireLocked(t, partitionOn(t, gp.config(t, n)), tk.PIN)
}

// TestRedundantGatewaysShareRetryBudget: two gateways of one partition,
// each in front of its own token, replicate the partition's PIN record
// with Raft: wrong PINs through either count towards one budget, and the
// lockout holds on both.
func TestRedundantGatewaysShareRetryBudget(t *testing.T) {
	ctx := context.Background()
	_, tokens := softhsmtest.RedundantConfig(t, mustEC(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "shared"})
	pki, err := server.NewPKI()
	require.NoError(t, err)
	gp := &gatewayPair{pki: pki, tokens: tokens}
	var lns [2]net.Listener
	var addrs [2]string
	for i := range lns {
		lns[i], err = net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addrs[i] = lns[i].Addr().String()
	}
	for i := range gp.nodes {
		o := gp.options(i, "")
		o.Listener, o.Dir, o.Peers = lns[i], t.TempDir(), []string{addrs[1-i]}
		o.Partitions[0].MaxPINAttempts = lockoutAttempts
		n, err := server.StartNode(o)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, n.Close()) })
		gp.nodes[i] = n
	}
	require.Eventually(t, func() bool { return gp.nodes[0].Leader() != "" && gp.nodes[1].Leader() != "" },
		10*time.Second, 5*time.Millisecond)

	var parts [2]*hsm.Partition
	for i, n := range gp.nodes {
		parts[i] = partitionOn(t, gp.config(t, n))
	}
	pin := tokens[0].PIN
	// A right PIN through one gateway, wrong ones alternating: the count
	// is the partition's, not one gateway's.
	require.NoError(t, parts[1].Login(ctx, pin))
	require.NoError(t, parts[1].Logout(ctx))
	for i := range lockoutAttempts {
		require.ErrorIs(t, parts[i%2].Login(ctx, "wrong-pin"), hsm.ErrPINIncorrect, "wrong PIN %d", i+1)
	}
	for i := range parts {
		requireLocked(t, parts[i], pin)
	}

	// The SO of one gateway's token unlocks the partition on both.
	so := partitionOn(t, gp.config(t, gp.nodes[0]))
	require.NoError(t, so.LoginAs(ctx, hsm.SO, tokens[0].SOPIN))
	require.NoError(t, so.InitPIN(ctx, pin))
	require.Eventually(t, func() bool { return parts[1].Login(ctx, pin) == nil }, 10*time.Second, 5*time.Millisecond,
		"the unlock reaches the other gateway")
}

// TestModuleUnlock: the SO of a module partition, whose PIN the token
// itself checks, unlocks a locked-out User (keyhold pin unlock) by giving
// the token's User PIN; the User's login that the node holds survives the
// SO's check, and a wrong SO PIN is refused and counted by the token.
func TestModuleUnlock(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.NewToken(t)
	key := mustEC(t)
	softhsmtest.Import(t, tk, key, hsm.KeySpec{Type: hsm.KeyEC, Label: "ec"})
	e := startGateway(t, tk, func(o *server.NodeOptions) { o.Partitions[0].MaxPINAttempts = lockoutAttempts })
	user := partitionOn(t, e.Config)
	for range lockoutAttempts {
		require.ErrorIs(t, user.Login(ctx, "wrong-pin"), hsm.ErrPINIncorrect)
	}
	requireLocked(t, user, tk.PIN)

	so := partitionOn(t, e.Config)
	// Only the SO unlocks.
	require.ErrorIs(t, so.InitPIN(ctx, tk.PIN), hsm.ErrNotLoggedIn)
	// A wrong SO PIN is the token's to judge and to count: SoftHSM2 marks
	// the count low and locks nothing.
	require.ErrorIs(t, so.LoginAs(ctx, hsm.SO, "wrong-so-pin"), hsm.ErrPINIncorrect)
	info, err := so.Info(ctx)
	require.NoError(t, err)
	assert.True(t, info.SOPIN().CountLow)
	require.NoError(t, so.LoginAs(ctx, hsm.SO, tk.SOPIN))
	info, err = so.Info(ctx)
	require.NoError(t, err)
	assert.False(t, info.SOPIN().CountLow)

	// The User PIN is the token's: the SO cannot set another through the
	// node, and the User stays locked out.
	require.ErrorIs(t, so.InitPIN(ctx, "another-user-pin"), hsm.ErrNotSupported)
	requireLocked(t, user, tk.PIN)
	require.NoError(t, so.InitPIN(ctx, tk.PIN))
	info, err = user.Info(ctx)
	require.NoError(t, err)
	assert.False(t, info.UserPIN().Locked)
	assert.False(t, info.UserPIN().CountLow)

	require.NoError(t, user.Login(ctx, tk.PIN))
	s := ecSigner(t, user)
	digest := sha256.Sum256([]byte("after the unlock"))
	sign := func() {
		t.Helper()
		sig, err := s.SignContext(ctx, digest[:], crypto.SHA256)
		require.NoError(t, err)
		require.True(t, ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig))
	}
	sign()
	// Another SO check logs the token's User out and in again: the User's
	// ticket, and the node's login, carry on.
	require.NoError(t, so.Logout(ctx))
	require.NoError(t, so.LoginAs(ctx, hsm.SO, tk.SOPIN))
	sign()
}

// TestSOCheckWhileSigning: the SO's checks log the token's User out and in
// again while clients sign; no signature fails, as the requests wait for
// each check rather than meet the token logged out.
func TestSOCheckWhileSigning(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.NewToken(t)
	key := mustEC(t)
	softhsmtest.Import(t, tk, key, hsm.KeySpec{Type: hsm.KeyEC, Label: "ec"})
	e := startGateway(t, tk)
	p := openPartition(t, e.Config, modulePart, tk.PIN)
	s := ecSigner(t, p)
	digest := sha256.Sum256([]byte("signed while the SO logs in"))

	stop := make(chan struct{})
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				sig, err := s.SignContext(ctx, digest[:], crypto.SHA256)
				if err == nil && !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
					err = assert.AnError
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	so := partitionOn(t, e.Config)
	for range 10 {
		require.NoError(t, so.LoginAs(ctx, hsm.SO, tk.SOPIN))
		require.NoError(t, so.Logout(ctx))
	}
	close(stop)
	for range cap(errs) {
		require.NoError(t, <-errs)
	}
}
