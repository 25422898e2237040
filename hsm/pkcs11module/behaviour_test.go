//go:build cgo

package pkcs11module_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var ecdsaSHA256 = hsm.Mechanism{Type: ck.CKM_ECDSA_SHA256}

// signAndCheck signs msg with k and verifies the signature with the
// standard library.
func signAndCheck(t testing.TB, k *hsm.Key, msg []byte) {
	t.Helper()
	sig, err := k.Sign(context.Background(), ecdsaSHA256, msg)
	require.NoError(t, err)
	require.NoError(t, checkECDSASHA256(k.Public().(*ecdsa.PublicKey), msg, sig))
}

func TestWrongPINInOneClientLeavesTheOtherSigning(t *testing.T) {
	ctx := context.Background()
	cfg, tk := softhsmtest.Config(t)
	_, good := openConfig(t, cfg)
	require.NoError(t, good.Login(ctx, tk.PIN))
	k, err := good.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "two clients"})
	require.NoError(t, err)
	signAndCheck(t, k, []byte("before"))

	other, err := hsm.Open(ctx, cfg)
	require.NoError(t, err)
	bad, err := other.Partition(softhsmtest.PartitionName)
	require.NoError(t, err)
	// The token is logged in already: the module would accept any PIN.
	err = bad.Login(ctx, tk.PIN+"0")
	require.ErrorIs(t, err, hsm.ErrPINIncorrect)
	_, in := bad.LoggedIn()
	assert.False(t, in)
	_, err = bad.KeyByLabel(ctx, "two clients")
	require.ErrorIs(t, err, hsm.ErrNotLoggedIn)
	signAndCheck(t, k, []byte("after a wrong PIN elsewhere"))

	// The same Client then logs in with the right PIN, and closes: the
	// module stays initialised and the token logged in for the first.
	require.NoError(t, bad.Login(ctx, tk.PIN))
	k2, err := bad.KeyByLabel(ctx, "two clients")
	require.NoError(t, err)
	assert.Equal(t, k.Handle(), k2.Handle())
	signAndCheck(t, k2, []byte("second client"))
	require.NoError(t, other.Close())
	signAndCheck(t, k, []byte("after the other closed"))
}

func TestWrongPINOnATokenNobodyLoggedIn(t *testing.T) {
	ctx := context.Background()
	cfg, tk := softhsmtest.Config(t)
	_, p := openConfig(t, cfg)
	require.ErrorIs(t, p.Login(ctx, tk.PIN+"0"), hsm.ErrPINIncorrect)
	require.NoError(t, p.Login(ctx, tk.PIN))
}

func TestNoLoginSeesPublicObjectsOnly(t *testing.T) {
	ctx := context.Background()
	cfg, tk := softhsmtest.Config(t)
	_, in := openConfig(t, cfg)
	require.NoError(t, in.Login(ctx, tk.PIN))
	k, err := in.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "private"})
	require.NoError(t, err)

	_, out := openConfig(t, cfg)
	_, err = out.KeyByLabel(ctx, "private")
	require.ErrorIs(t, err, hsm.ErrNotLoggedIn)
	objs, err := out.FindObjects(ctx, hsm.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY))}, nil)
	require.NoError(t, err)
	assert.Empty(t, objs)
	objs, err = out.FindObjects(ctx, hsm.Template{ck.String(ck.CKA_LABEL, "private")}, nil)
	require.NoError(t, err)
	require.Len(t, objs, 1, "the public key only")
	d := sha256.Sum256([]byte("x"))
	_, err = out.SignRaw(ctx, k.Handle(), hsm.Mechanism{Type: ck.CKM_ECDSA}, d[:])
	require.ErrorIs(t, err, hsm.ErrNotLoggedIn)
	_, err = out.GetAttributes(ctx, k.Handle(), []hsm.AttributeType{ck.CKA_LABEL})
	require.ErrorIs(t, err, hsm.ErrNotLoggedIn)
	require.ErrorIs(t, out.DestroyObject(ctx, k.Handle()), hsm.ErrNotLoggedIn)
	_, err = out.CreateObject(ctx, hsm.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_AES)),
		ck.Bytes(ck.CKA_VALUE, make([]byte, 32)), ck.Bool(ck.CKA_TOKEN, true),
	})
	require.ErrorIs(t, err, hsm.ErrNotLoggedIn)
	// The public key is everybody's.
	pub, err := out.FindKey(ctx, hsm.KeyQuery{Label: "private", Class: "public"})
	require.NoError(t, err)
	assert.Equal(t, k.Public(), pub.Public())
	signAndCheck(t, k, []byte("the logged-in client still signs"))
}

func TestOneSessionTokenUnderConcurrentSigners(t *testing.T) {
	ctx := context.Background()
	cfg, tk := softhsmtest.Config(t)
	pkcs11module.SetPoolSize(1)
	c, p := openConfig(t, cfg)
	pkcs11module.SetPoolSize(0)
	_ = c
	require.Equal(t, 1, pkcs11module.PoolSize(tk.Module, tk.Label))
	require.NoError(t, p.Login(ctx, tk.PIN))
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "one session"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 16*8)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				msg := binary.BigEndian.AppendUint64([]byte{byte(g)}, uint64(i))
				sig, err := k.Sign(ctx, ecdsaSHA256, msg)
				if err == nil {
					err = checkECDSASHA256(k.Public().(*ecdsa.PublicKey), msg, sig)
				}
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestBrokenSessionIsClosedAndTheNextCallSucceeds(t *testing.T) {
	ctx := context.Background()
	_, p, tk := openToken(t)
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "broken session"})
	require.NoError(t, err)
	signAndCheck(t, k, []byte("before"))
	closed := pkcs11module.SessionsClosed(tk.Module, tk.Label)
	before := closed()
	// The module drops every session (which also ends the token's login,
	// a PKCS#11 rule): the pool's session is broken.
	require.NoError(t, pkcs11module.CloseAllSessions(tk.Module, tk.Label))
	signAndCheck(t, k, []byte("after"))
	assert.Equal(t, uint64(1), closed()-before, "the broken session is closed, not put back")
	signAndCheck(t, k, []byte("and again"))
}

func TestRedundantTokensShareHandlesAndFailOver(t *testing.T) {
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	cfg, tks := softhsmtest.RedundantConfig(t, key, hsm.KeySpec{Label: "shared"})

	// The key has one handle, whichever token serves it.
	var handles []hsm.ObjectHandle
	for _, tk := range tks {
		_, p := openConfig(t, softhsmtest.ConfigFor(tk))
		require.NoError(t, p.Login(ctx, tk.PIN))
		k, err := p.KeyByLabel(ctx, "shared")
		require.NoError(t, err)
		handles = append(handles, k.Handle())
	}
	require.Equal(t, handles[0], handles[1])

	c, p := openConfig(t, cfg)
	require.NoError(t, p.Login(ctx, tks[0].PIN))
	k, err := p.KeyByLabel(ctx, "shared")
	require.NoError(t, err)
	require.Equal(t, handles[0], k.Handle())
	assert.Equal(t, &key.PublicKey, k.Public())

	sign := func(round int) {
		var wg sync.WaitGroup
		errs := make(chan error, 8*16)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 16 {
					msg := []byte{byte(round), byte(g), byte(i)}
					sig, err := k.Sign(ctx, ecdsaSHA256, msg)
					if err == nil {
						err = checkECDSASHA256(&key.PublicKey, msg, sig)
					}
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
	sign(0)
	// One token fails as a removed device: every call on it fails, the
	// engine moves to the other, and no signature fails.
	pkcs11module.SetFault(tks[0].Module, tks[0].Label, func() error { return pkcs11module.DeviceRemoved })
	sign(1)
	pkcs11module.SetFault(tks[0].Module, tks[0].Label, nil)
	sign(2)
	var failures uint64
	for _, s := range c.NodeStats() {
		failures += s.Failures
	}
	assert.NotZero(t, failures, "the failed token was noticed")
}

func TestKeysCreatedAfterStartAreSeen(t *testing.T) {
	ctx := context.Background()
	cfg, tk := softhsmtest.Config(t)
	_, early := openConfig(t, cfg)
	require.NoError(t, early.Login(ctx, tk.PIN))
	_, err := early.KeyByLabel(ctx, "later")
	require.ErrorIs(t, err, hsm.ErrNotFound)

	_, other := openConfig(t, cfg)
	require.NoError(t, other.Login(ctx, tk.PIN))
	made, err := other.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "later"})
	require.NoError(t, err)

	k, err := early.KeyByLabel(ctx, "later")
	require.NoError(t, err)
	assert.Equal(t, made.Handle(), k.Handle())
	signAndCheck(t, k, []byte("made by another client"))
}

func TestHandlesSurviveAModuleRestart(t *testing.T) {
	ctx := context.Background()
	cfg, tk := softhsmtest.Config(t)
	c, err := hsm.Open(ctx, cfg)
	require.NoError(t, err)
	p, err := c.Partition(softhsmtest.PartitionName)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx, tk.PIN))
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "restart"})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.False(t, pkcs11module.Loaded(tk.Module), "the last user finalises the module")

	_, p2 := openConfig(t, cfg)
	require.NoError(t, p2.Login(ctx, tk.PIN))
	k2, err := p2.KeyByLabel(ctx, "restart")
	require.NoError(t, err)
	assert.Equal(t, k.Handle(), k2.Handle())
	signAndCheck(t, k2, []byte("after"))
}

func TestModuleReinitialisedHeals(t *testing.T) {
	ctx := context.Background()
	_, p, tk := openToken(t)
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "heal"})
	require.NoError(t, err)
	signAndCheck(t, k, []byte("before"))
	reopened := make(chan struct{}, 1)
	pkcs11module.OnReopen(tk.Module, tk.Label, func() {
		select {
		case reopened <- struct{}{}:
		default:
		}
	})
	// The HSM's library restarts: every session and the login are gone,
	// and the module says it is not initialised.
	require.NoError(t, pkcs11module.FinalizeModule(tk.Module))
	_, err = k.Sign(ctx, ecdsaSHA256, []byte("during"))
	if err != nil {
		require.ErrorIs(t, err, hsm.ErrUnavailable)
		<-reopened // the prober re-opened the token
	}
	signAndCheck(t, k, []byte("after"))
}

func TestCallerReturnsWhenTheModuleHangs(t *testing.T) {
	ctx := context.Background()
	c, p, tk := openToken(t)
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "hang"})
	require.NoError(t, err)
	closed := pkcs11module.SessionsClosed(tk.Module, tk.Label)
	before := closed()
	entered, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	pkcs11module.SetFault(tk.Module, tk.Label, func() error {
		if first.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return nil
	})
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		<-entered
		cancel()
	}()
	_, err = k.Sign(cctx, ecdsaSHA256, []byte("hangs"))
	require.ErrorIs(t, err, context.Canceled)
	// Other calls go on, on other sessions.
	signAndCheck(t, k, []byte("meanwhile"))
	close(release)
	pkcs11module.SetFault(tk.Module, tk.Label, nil)
	signAndCheck(t, k, []byte("after"))
	// The hung call's session is closed when the call returns; Close
	// waits for that (and goleak checks that nothing is left).
	require.NoError(t, c.Close())
	assert.Equal(t, uint64(1), closed()-before)
}

func TestTokenSelection(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.NewToken(t)
	// The slot, found by label, by a Client that closes before the
	// subtests: each of them is then the token's only user.
	slot := func() *uint64 {
		c, err := hsm.Open(ctx, softhsmtest.ConfigFor(tk))
		require.NoError(t, err)
		defer c.Close()
		s := pkcs11module.SlotOf(tk.Module, tk.Label)
		return &s
	}()
	for name, node := range map[string]hsm.NodeConfig{
		"label":  {Module: tk.Module, Token: tk.Label},
		"serial": {Module: tk.Module, Serial: tk.Serial},
		"slot":   {Module: tk.Module, Slot: slot},
	} {
		t.Run(name, func(t *testing.T) {
			_, p := openConfig(t, hsm.Config{Partitions: []hsm.PartitionConfig{{ID: 1, Name: softhsmtest.PartitionName, Nodes: []hsm.NodeConfig{node}}}})
			info, err := p.Info(ctx)
			require.NoError(t, err)
			assert.Equal(t, tk.Serial, info.Serial)
			require.NoError(t, p.Login(ctx, tk.PIN))
		})
	}
}

func TestUnknownToken(t *testing.T) {
	ctx := context.Background()
	module := softhsmtest.ModulePath(t)
	_, err := hsm.Open(ctx, hsm.Config{Partitions: []hsm.PartitionConfig{{ID: 1, Name: "none", Nodes: []hsm.NodeConfig{{Module: module, Token: "no such token"}}}}})
	require.ErrorIs(t, err, pkcs11module.ErrTokenNotFound)
	assert.False(t, pkcs11module.Loaded(module), "a failed open leaves no module loaded")

	_, err = hsm.Open(ctx, hsm.Config{Partitions: []hsm.PartitionConfig{{ID: 1, Name: "none", Nodes: []hsm.NodeConfig{{Module: "/nonexistent/libvendor.so", Token: "x"}}}}})
	require.ErrorIs(t, err, pkcs11module.ErrModule)
}

func TestPINChanges(t *testing.T) {
	ctx := context.Background()
	cfg, tk := softhsmtest.Config(t)
	so, err := hsm.Open(ctx, cfg)
	require.NoError(t, err)
	sp, err := so.Partition(softhsmtest.PartitionName)
	require.NoError(t, err)
	require.NoError(t, sp.LoginAs(ctx, hsm.SO, tk.SOPIN))
	require.NoError(t, sp.InitPIN(ctx, "init-pin-1"))
	// The SO's login is the token's while any session is open; closing
	// the only Client ends it.
	require.NoError(t, so.Close())

	_, p := openConfig(t, cfg)
	require.ErrorIs(t, p.Login(ctx, tk.PIN), hsm.ErrPINIncorrect)
	require.NoError(t, p.Login(ctx, "init-pin-1"))
	require.NoError(t, p.SetPIN(ctx, "init-pin-1", "set-pin-2"))

	// Another Client on the logged-in token must give the new PIN.
	_, p2 := openConfig(t, cfg)
	require.ErrorIs(t, p2.Login(ctx, "init-pin-1"), hsm.ErrPINIncorrect)
	require.NoError(t, p2.Login(ctx, "set-pin-2"))
	k, err := p2.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "after PIN change"})
	require.NoError(t, err)
	signAndCheck(t, k, []byte("new PIN"))
}

// TestHealsUnderLoad: 32 goroutines sign while the HSM goes down (every
// call fails as a removed device) and comes back restarted (the module
// finalised under its users): while it is down calls fail at once with
// hsm.ErrUnavailable, and afterwards they succeed again, with no new
// Client, every broken session closed, and no goroutine left after Close.
func TestHealsUnderLoad(t *testing.T) {
	ctx := context.Background()
	_, p, tk := openToken(t)
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "load"})
	require.NoError(t, err)
	closed := pkcs11module.SessionsClosed(tk.Module, tk.Label)
	before := closed()

	const phaseOps = 200
	var (
		phase     atomic.Int32 // 0: up, 1: down, 2: back
		counts    [3]atomic.Int64
		reached   [3]chan struct{}
		reachOnce [3]sync.Once
		stop      = make(chan struct{})
		bad       = make(chan error, 1)
		wg        sync.WaitGroup
	)
	for i := range reached {
		reached[i] = make(chan struct{})
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
				msg := []byte{byte(g), byte(i), byte(i >> 8)}
				sig, err := k.Sign(ctx, ecdsaSHA256, msg)
				switch {
				case err == nil:
					if err = checkECDSASHA256(k.Public().(*ecdsa.PublicKey), msg, sig); err == nil && ph != 1 {
						if counts[ph].Add(1) == phaseOps {
							reachOnce[ph].Do(func() { close(reached[ph]) })
						}
						continue
					}
				case errors.Is(err, hsm.ErrUnavailable) && ph == 1:
					if counts[1].Add(1) == phaseOps {
						reachOnce[1].Do(func() { close(reached[1]) })
					}
					continue
				case errors.Is(err, hsm.ErrUnavailable) && phase.Load() != 0:
					continue // a call that started before the HSM came back
				}
				if ph == 1 && err == nil {
					continue // a call that finished before the HSM went down
				}
				select {
				case bad <- err:
				default:
				}
				return
			}
		}()
	}
	wait := func(ch chan struct{}) {
		select {
		case <-ch:
		case err := <-bad:
			t.Fatalf("a signer failed: %v", err)
		}
	}
	wait(reached[0])
	pkcs11module.SetFault(tk.Module, tk.Label, func() error { return pkcs11module.DeviceRemoved })
	phase.Store(1)
	wait(reached[1])
	// The HSM restarts: its library forgot every session and the login.
	require.NoError(t, pkcs11module.FinalizeModule(tk.Module))
	phase.Store(2)
	pkcs11module.SetFault(tk.Module, tk.Label, nil)
	wait(reached[2])
	close(stop)
	wg.Wait()
	select {
	case err := <-bad:
		t.Fatalf("a signer failed: %v", err)
	default:
	}
	assert.NotZero(t, closed()-before, "broken sessions are closed")
}

// TestWaitingForASessionTakesTheContext: on a token with one session, held
// by a call the module does not answer, another caller waits for the
// session only as long as its context lets it.
func TestWaitingForASessionTakesTheContext(t *testing.T) {
	ctx := context.Background()
	cfg, tk := softhsmtest.Config(t)
	pkcs11module.SetPoolSize(1)
	_, p := openConfig(t, cfg)
	pkcs11module.SetPoolSize(0)
	require.NoError(t, p.Login(ctx, tk.PIN))
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "one session"})
	require.NoError(t, err)

	entered, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	pkcs11module.SetFault(tk.Module, tk.Label, func() error {
		if first.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return nil
	})
	hung := make(chan error, 1)
	go func() {
		_, err := k.Sign(ctx, ecdsaSHA256, []byte("hangs"))
		hung <- err
	}()
	<-entered
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = k.Sign(wctx, ecdsaSHA256, []byte("waits"))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	close(release)
	require.NoError(t, <-hung, "the held call completes once the module answers")
	pkcs11module.SetFault(tk.Module, tk.Label, nil)
	signAndCheck(t, k, []byte("after"))
}

// TestStaleNativeHandleIsFoundAgain: another program replaces a key with
// one of the same identity (label, ID, type); the module's handle that the
// token cached is now invalid, and the next use finds the key again by
// identity, under the same engine handle.
func TestStaleNativeHandleIsFoundAgain(t *testing.T) {
	ctx := context.Background()
	_, p, tk := openToken(t)
	old, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	k, err := p.ImportKey(ctx, old, hsm.KeySpec{Label: "rotated", ID: []byte("rotated-id")})
	require.NoError(t, err)
	signAndCheck(t, k, []byte("old key"))

	require.NoError(t, pkcs11module.DestroyBehindCache(tk.Module, tk.Label, k.Handle()))
	replacement, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	params, err := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	require.NoError(t, err)
	scalar, err := replacement.Bytes()
	require.NoError(t, err)
	require.NoError(t, pkcs11module.CreateBehindCache(tk.Module, tk.Label, hsm.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_EC)),
		ck.Bool(ck.CKA_TOKEN, true), ck.String(ck.CKA_LABEL, "rotated"), ck.Bytes(ck.CKA_ID, []byte("rotated-id")),
		ck.Bool(ck.CKA_PRIVATE, true), ck.Bool(ck.CKA_SENSITIVE, true), ck.Bool(ck.CKA_SIGN, true),
		ck.Bytes(ck.CKA_EC_PARAMS, params), ck.Bytes(ck.CKA_VALUE, scalar),
	}))

	msg := []byte("new key, old handle")
	sig, err := k.Sign(ctx, ecdsaSHA256, msg)
	require.NoError(t, err)
	d := sha256.Sum256(msg)
	assert.True(t, ecdsa.Verify(&replacement.PublicKey, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])))
}

// checkECDSASHA256 verifies a raw (r‖s) ECDSA signature over SHA-256(msg)
// with the standard library.
func checkECDSASHA256(pub *ecdsa.PublicKey, msg, sig []byte) error {
	d := sha256.Sum256(msg)
	n := len(sig) / 2
	if !ecdsa.Verify(pub, d[:], new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])) {
		return errors.New("bad signature")
	}
	return nil
}
