//go:build cgo

package pkcs11module

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/miekg/pkcs11"
)

// backend is one node of a partition: a token of a module, as one Client
// uses it. The token's state (sessions, login, object cache) is shared with
// every other backend of the process on the same token.
//
// Request.ID is not used: the engine repeats a state change only after a
// node failure, and a local module fails by returning, not by losing a
// reply in flight, so there is nothing a repeated request could duplicate
// that the module did not already refuse. (A call abandoned by its context
// may still complete; the engine reports the context's end, as it does for
// a network node.)
type backend struct {
	tok       *token
	name      string
	scope     string
	partition string
	closed    atomic.Bool
}

var _ hsm.Backend = (*backend)(nil)

// open is the opener registered for "module" nodes: it loads the module
// (once per process), finds the token and returns a backend on it. Loading
// and initialising a module are C calls too: when ctx ends first, open
// returns, and the token is released once they finish.
func open(ctx context.Context, nc hsm.NodeConfig, pc hsm.PartitionConfig) (hsm.Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type acquired struct {
		t   *token
		err error
	}
	ch := make(chan acquired, 1)
	go func() {
		t, err := acquire(nc)
		ch <- acquired{t, err}
	}()
	var t *token
	select {
	case a := <-ch:
		if a.err != nil {
			return nil, a.err
		}
		t = a.t
	case <-ctx.Done():
		go func() {
			if a := <-ch; a.t != nil {
				a.t.release()
			}
		}()
		return nil, ctx.Err()
	}
	sel := selector{label: nc.Token, serial: nc.Serial, slot: nc.Slot}
	return &backend{
		tok:       t,
		name:      "module:" + nc.Module + " token:" + sel.String(),
		scope:     "module:" + nc.Module + " " + t.key,
		partition: pc.Name,
	}, nil
}

// Name is "module:<path> token:<label>" (or serial=, slot=).
func (b *backend) Name() string { return b.name }

// LoginScope is the token's: PKCS#11 login belongs to one token.
func (b *backend) LoginScope() string { return b.scope }

// Close ends this backend's use of the token. The last user of the token
// waits for the token's C calls in flight to return (a C call cannot be
// interrupted, and the module must not be finalised under it), then closes
// its sessions; the last user of the module finalises and unloads it.
func (b *backend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.tok.release()
	return nil
}

// Ping checks the token (C_GetTokenInfo), re-opening it first when it
// failed: this is how the engine's prober heals a token after an HSM
// restart.
func (b *backend) Ping(ctx context.Context) error {
	_, err := b.tokenInfo(ctx)
	return err
}

func (b *backend) tokenInfo(ctx context.Context) (pkcs11.TokenInfo, error) {
	if b.closed.Load() {
		return pkcs11.TokenInfo{}, hsm.ErrClosed
	}
	t := b.tok
	p, slot, err := t.current(ctx)
	if err != nil {
		return pkcs11.TokenInfo{}, err
	}
	var ti pkcs11.TokenInfo
	err = t.calls.run(ctx, func() error {
		if f := t.fault.Load(); f != nil {
			if err := (*f)(); err != nil {
				return err
			}
		}
		var err error
		ti, err = t.mod.ctx.GetTokenInfo(slot)
		return cerr("C_GetTokenInfo", err)
	}, nil)
	// On an error ti is not read: an abandoned call may still write it.
	if err != nil {
		var ended *callEnded
		if errors.As(err, &ended) {
			return pkcs11.TokenInfo{}, err
		}
		if rv, ok := rvOf(err); ok && (isDeviceRV(rv) || isSessionRV(rv)) {
			t.markBroken(p)
			return pkcs11.TokenInfo{}, t.nodeFailure(true, err)
		}
		return pkcs11.TokenInfo{}, t.refusal(err)
	}
	return ti, nil
}

// Info implements hsm.Backend with C_GetTokenInfo. The partition's name is
// the configuration's, as for every node of the partition.
func (b *backend) Info(ctx context.Context, r hsm.Request) (hsm.PartitionInfo, error) {
	ti, err := b.tokenInfo(ctx)
	if err != nil {
		return hsm.PartitionInfo{}, err
	}
	return hsm.PartitionInfo{
		ID:           r.Partition,
		Name:         b.partition,
		Flags:        uint64(ti.Flags),
		MinPINLen:    uint32(ti.MinPinLen),
		MaxPINLen:    uint32(min(ti.MaxPinLen, 1<<32-1)),
		Manufacturer: strings.TrimSpace(ti.ManufacturerID),
		Model:        strings.TrimSpace(ti.Model),
		Serial:       strings.TrimSpace(ti.SerialNumber),
	}, nil
}

// op runs one request: it checks the request's login proof, runs f on a
// session, and classifies the outcome. f runs on a goroutine of the token's
// set of C calls and may still be running when op returns an error (the
// context ended): callers read what f writes only after a success.
func (b *backend) op(ctx context.Context, r hsm.Request, f func(s pkcs11.SessionHandle, a auth) error) error {
	return b.run(ctx, r, false, f)
}

// opWrite is op for a request that creates, changes or destroys an object.
// On a token whose module cannot store an object while other sessions read
// its objects (see quirks), it runs alone.
func (b *backend) opWrite(ctx context.Context, r hsm.Request, f func(s pkcs11.SessionHandle, a auth) error) error {
	return b.run(ctx, r, true, f)
}

func (b *backend) run(ctx context.Context, r hsm.Request, write bool, f func(s pkcs11.SessionHandle, a auth) error) error {
	if t := b.tok; t.soChecks.Load() {
		// As storeMu below, taken on the worker: see token.loginMu.
		shared := f
		f = func(s pkcs11.SessionHandle, a auth) error {
			t.loginMu.RLock()
			defer t.loginMu.RUnlock()
			return shared(s, a)
		}
	}
	if t := b.tok; t.quirks.exclusiveWrites {
		// The lock is taken on the worker, around the C calls themselves:
		// a caller that gives up must not release it while its call runs.
		inner := f
		f = func(s pkcs11.SessionHandle, a auth) error {
			if write {
				t.storeMu.Lock()
				defer t.storeMu.Unlock()
			} else {
				t.storeMu.RLock()
				defer t.storeMu.RUnlock()
			}
			return inner(s, a)
		}
	}
	if b.closed.Load() {
		return hsm.ErrClosed
	}
	t := b.tok
	a, err := t.login.authorize(r.Ticket)
	if err != nil {
		return err
	}
	err = t.withSession(ctx, func(s pkcs11.SessionHandle, _ uint) error { return f(s, a) })
	if a.in && hasRV(err, ck.CKR_USER_NOT_LOGGED_IN) {
		// The request's login is current, yet the token is not logged in:
		// it lost its login (its last session closed, or the HSM
		// restarted). The engine logs in again and repeats the request.
		t.login.lost(a.gen)
		return fmt.Errorf("%w: token %s lost its login", hsm.ErrLoginExpired, t.desc())
	}
	return t.refusal(err)
}

// loginLost checks, when a request with a current login found no private
// object, whether the token still has its login: a token that lost it shows
// public objects only, without an error.
func (t *token) loginLost(s pkcs11.SessionHandle, a auth) error {
	if !a.in {
		return nil
	}
	si, err := t.mod.ctx.GetSessionInfo(s)
	if err != nil {
		return cerr("C_GetSessionInfo", err)
	}
	switch si.State {
	case ck.CKS_RW_USER_FUNCTIONS, ck.CKS_RO_USER_FUNCTIONS, ck.CKS_RW_SO_FUNCTIONS:
		return nil
	}
	return ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "the token is no longer logged in")
}

// Login implements hsm.Backend. PKCS#11 login is the token's, for the whole
// process: a successful C_Login serves every Client, and C_Logout would end
// every Client's login, so it is never called. A login that finds the
// token already logged in must give the same PIN (see loginState).
func (b *backend) Login(ctx context.Context, r hsm.Request, user hsm.UserType, pin []byte) (hsm.LoginResult, error) {
	if user != ck.CKU_USER && user != ck.CKU_SO {
		return hsm.LoginResult{}, ck.Errorf(ck.CKR_USER_TYPE_INVALID, "user type %d", user)
	}
	t := b.tok
	var ticket hsm.Ticket
	err := b.op(ctx, hsm.Request{}, func(s pkcs11.SessionHandle, _ auth) error {
		err := t.mod.ctx.Login(s, uint(user), string(pin))
		switch {
		case err == nil:
			ticket = t.login.loggedIn(user, pin)
			return nil
		case hasRV(err, ck.CKR_USER_ALREADY_LOGGED_IN):
			var rerr error
			ticket, rerr = t.login.recheck(user, pin)
			return rerr
		}
		return cerr("C_Login", err)
	})
	if err != nil {
		return hsm.LoginResult{}, err
	}
	return hsm.LoginResult{Ticket: ticket}, nil
}

// InitPIN implements hsm.Backend: it needs the SO's login.
func (b *backend) InitPIN(ctx context.Context, r hsm.Request, pin []byte) error {
	return b.op(ctx, r, func(s pkcs11.SessionHandle, a auth) error {
		if !a.in || a.user != ck.CKU_SO {
			return ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "C_InitPIN needs the SO logged in")
		}
		return cerr("C_InitPIN", b.tok.mod.ctx.InitPIN(s, string(pin)))
	})
}

// InitToken implements hsm.Backend with C_InitToken, which needs a token on
// which no session is open: the token's pool of sessions is closed first
// (for every Client of the process that uses the token), and the next call
// opens the token again, found by its serial number, with its login taken
// as lost. A session another program keeps open on the token makes the
// module answer CKR_SESSION_EXISTS.
func (b *backend) InitToken(ctx context.Context, r hsm.Request, soPIN []byte, label string) error {
	t := b.tok
	// No re-open may start a new pool meanwhile.
	select {
	case t.reopenMu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-t.reopenMu }()
	t.mu.RLock()
	old, slot := t.pool, t.slot
	t.mu.RUnlock()
	err := t.calls.run(ctx, func() error {
		old.close()
		return cerr("C_InitToken", t.mod.ctx.InitToken(slot, string(soPIN), label))
	}, nil)
	// The pool is closed whatever C_InitToken answered.
	t.markBroken(old)
	return t.refusal(err)
}

// SetPIN implements hsm.Backend. C_SetPIN changes the PIN of whoever the
// token is logged in as (the User's when nobody is), so a change for
// another user than the token's is refused rather than made to the wrong
// PIN.
func (b *backend) SetPIN(ctx context.Context, r hsm.Request, user hsm.UserType, oldPIN, newPIN []byte) error {
	t := b.tok
	err := b.op(ctx, hsm.Request{}, func(s pkcs11.SessionHandle, _ auth) error {
		cur, in := t.login.current()
		switch {
		case in && cur != user:
			return ck.Errorf(ck.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "the token is logged in as another user")
		case !in && user == ck.CKU_SO:
			return ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "changing the SO PIN needs the SO logged in")
		}
		return cerr("C_SetPIN", t.mod.ctx.SetPIN(s, string(oldPIN), string(newPIN)))
	})
	if err == nil {
		t.login.pinChanged(user, newPIN)
	}
	return err
}

// FindObjects implements hsm.Backend. Without a login only public objects
// are returned, whatever the token's login state.
func (b *backend) FindObjects(ctx context.Context, r hsm.Request, tmpl hsm.Template, want []hsm.AttributeType) ([]hsm.Object, error) {
	native, err := toNative(tmpl)
	if err != nil {
		return nil, err
	}
	if len(want) > hsm.MaxAttributes {
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "%d attributes wanted, limit %d", len(want), hsm.MaxAttributes)
	}
	t := b.tok
	var out []hsm.Object
	err = b.op(ctx, r, func(s pkcs11.SessionHandle, a auth) error {
		var err error
		out, err = b.findObjects(s, a, native, want)
		if err != nil || len(out) > 0 || !a.in || !searchesPrivate(tmpl) {
			return err
		}
		// Nothing found by a request with a login: see recheck.
		return t.recheck(s, a, func() (bool, error) {
			var err error
			out, err = b.findObjects(s, a, native, want)
			return len(out) > 0, err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// findObjects runs one search and reads the attributes wanted from what it
// finds. Without a login private objects are left out, whatever the token's
// login state.
func (b *backend) findObjects(s pkcs11.SessionHandle, a auth, native []*pkcs11.Attribute, want []hsm.AttributeType) ([]hsm.Object, error) {
	t := b.tok
	found, err := t.find(s, native)
	if err != nil {
		return nil, err
	}
	var out []hsm.Object
	for _, n := range found {
		e, err := t.entryOf(s, n)
		if err != nil {
			if hasRV(err, ck.CKR_OBJECT_HANDLE_INVALID) {
				continue // destroyed meanwhile
			}
			return nil, err
		}
		if e.private && !a.in {
			continue
		}
		v, err := t.readAttrs(s, n, want)
		if err != nil {
			return nil, err
		}
		if err := t.fillPublicHalf(s, e, v); err != nil {
			return nil, err
		}
		o := hsm.Object{Handle: e.handle}
		for _, ty := range want {
			if r := v[ty]; r.rv == 0 {
				o.Attributes = append(o.Attributes, ck.Attribute{Type: ty, Value: r.value})
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// searchesPrivate reports whether a search may be for private objects,
// which a token that lost its login hides without an error.
func searchesPrivate(tmpl hsm.Template) bool {
	if a, ok := tmpl.Find(ck.CKA_PRIVATE); ok {
		v, _ := a.AsBool()
		return v
	}
	if a, ok := tmpl.Find(ck.CKA_CLASS); ok {
		v, _ := a.AsULong()
		return ck.ObjectClass(v) == ck.CKO_PRIVATE_KEY || ck.ObjectClass(v) == ck.CKO_SECRET_KEY
	}
	return true
}

// GetAttributes implements hsm.Backend: one result per type, each with its
// own code. A private key's public half that the module keeps only on the
// public key object is read from there.
func (b *backend) GetAttributes(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, types []hsm.AttributeType) ([]hsm.AttributeResult, error) {
	if len(types) > hsm.MaxAttributes {
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "%d attributes asked, limit %d", len(types), hsm.MaxAttributes)
	}
	t := b.tok
	var out []hsm.AttributeResult
	err := b.op(ctx, r, func(s pkcs11.SessionHandle, a auth) error {
		return t.withObject(s, h, a, func(e *entry) error {
			v, err := t.readAttrs(s, e.native, types)
			if err != nil {
				return err
			}
			if err := t.fillPublicHalf(s, e, v); err != nil {
				return err
			}
			out = make([]hsm.AttributeResult, len(types))
			for i, ty := range types {
				out[i] = hsm.AttributeResult{Type: ty, Value: v[ty].value, RV: v[ty].rv}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetAttributes implements hsm.Backend. An object whose label or ID
// changes keeps, in this process, the handle the engine has.
func (b *backend) SetAttributes(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, tmpl hsm.Template) error {
	native, err := toNative(tmpl)
	if err != nil {
		return err
	}
	t := b.tok
	return b.opWrite(ctx, r, func(s pkcs11.SessionHandle, a auth) error {
		return t.withObject(s, h, a, func(e *entry) error {
			if err := t.mod.ctx.SetAttributeValue(s, e.native, native); err != nil {
				return cerr("C_SetAttributeValue", err)
			}
			t.objects.forget(h)
			ne, err := t.entryOf(s, e.native)
			if err != nil {
				return err
			}
			t.objects.alias(h, ne)
			return nil
		})
	})
}

// mayCreate refuses, without a login, what would make a private object:
// another Client's login must not let this one create keys.
func mayCreate(a auth, tmpl hsm.Template) error {
	if a.in {
		return nil
	}
	if p, ok := tmpl.Find(ck.CKA_PRIVATE); ok {
		if v, err := p.AsBool(); err == nil && !v {
			return nil
		}
	}
	return ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "creating a private object needs a login")
}

// CreateObject implements hsm.Backend.
func (b *backend) CreateObject(ctx context.Context, r hsm.Request, tmpl hsm.Template) (hsm.ObjectHandle, error) {
	native, err := toNative(tmpl)
	if err != nil {
		return 0, err
	}
	hs, err := b.makeObjects(ctx, r, nil, func(a auth) error { return mayCreate(a, tmpl) },
		func(s pkcs11.SessionHandle, _ []*pkcs11.Mechanism) ([]pkcs11.ObjectHandle, error) {
			n, err := b.tok.mod.ctx.CreateObject(s, native)
			return []pkcs11.ObjectHandle{n}, cerr("C_CreateObject", err)
		})
	if err != nil {
		return 0, err
	}
	return hs[0], nil
}

// CopyObject implements hsm.Backend with C_CopyObject. Without a login the
// copy must stay public, as with CreateObject.
func (b *backend) CopyObject(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, tmpl hsm.Template) (hsm.ObjectHandle, error) {
	native, err := toNative(tmpl)
	if err != nil {
		return 0, err
	}
	t := b.tok
	var out hsm.ObjectHandle
	err = b.opWrite(ctx, r, func(s pkcs11.SessionHandle, a auth) error {
		return t.withObject(s, h, a, func(e *entry) error {
			if p, ok := tmpl.Find(ck.CKA_PRIVATE); !a.in && ok {
				if v, err := p.AsBool(); err == nil && v {
					return ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "a private copy needs a login")
				}
			}
			n, err := t.mod.ctx.CopyObject(s, e.native, native)
			if err != nil {
				return cerr("C_CopyObject", err)
			}
			ne, err := t.entryOf(s, n)
			if err != nil {
				return err
			}
			out = ne.handle
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	return out, nil
}

// ObjectSize implements hsm.Backend with C_GetObjectSize.
func (b *backend) ObjectSize(ctx context.Context, r hsm.Request, h hsm.ObjectHandle) (uint64, error) {
	t := b.tok
	var out uint64
	err := b.op(ctx, r, func(s pkcs11.SessionHandle, a auth) error {
		return t.withObject(s, h, a, func(e *entry) error {
			n, err := t.mod.ctx.GetObjectSize(s, e.native)
			if err != nil {
				return cerr("C_GetObjectSize", err)
			}
			out = uint64(n)
			return nil
		})
	})
	return out, err
}

// GenerateKeyPair implements hsm.Backend.
func (b *backend) GenerateKeyPair(ctx context.Context, r hsm.Request, m hsm.Mechanism, public, private hsm.Template) (hsm.ObjectHandle, hsm.ObjectHandle, error) {
	pubN, err := toNative(public)
	if err != nil {
		return 0, 0, err
	}
	privN, err := toNative(private)
	if err != nil {
		return 0, 0, err
	}
	hs, err := b.makeObjects(ctx, r, &m, needLogin, func(s pkcs11.SessionHandle, mech []*pkcs11.Mechanism) ([]pkcs11.ObjectHandle, error) {
		pn, sn, err := b.tok.mod.ctx.GenerateKeyPair(s, mech, pubN, privN)
		return []pkcs11.ObjectHandle{pn, sn}, cerr("C_GenerateKeyPair", err)
	})
	if err != nil {
		return 0, 0, err
	}
	return hs[0], hs[1], nil
}

// GenerateKey implements hsm.Backend.
func (b *backend) GenerateKey(ctx context.Context, r hsm.Request, m hsm.Mechanism, tmpl hsm.Template) (hsm.ObjectHandle, error) {
	native, err := toNative(tmpl)
	if err != nil {
		return 0, err
	}
	hs, err := b.makeObjects(ctx, r, &m, needLogin, func(s pkcs11.SessionHandle, mech []*pkcs11.Mechanism) ([]pkcs11.ObjectHandle, error) {
		n, err := b.tok.mod.ctx.GenerateKey(s, mech, native)
		return []pkcs11.ObjectHandle{n}, cerr("C_GenerateKey", err)
	})
	if err != nil {
		return 0, err
	}
	return hs[0], nil
}

// needLogin refuses a key generation without a login.
func needLogin(a auth) error {
	if !a.in {
		return ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "generating a key needs a login")
	}
	return nil
}

// makeObjects runs a request that makes objects (create, or generate with
// m): may checks the request's login, make calls the module, and the new
// objects get their engine handles, in the order make returned them.
func (b *backend) makeObjects(ctx context.Context, r hsm.Request, m *hsm.Mechanism, may func(auth) error,
	make func(s pkcs11.SessionHandle, mech []*pkcs11.Mechanism) ([]pkcs11.ObjectHandle, error)) ([]hsm.ObjectHandle, error) {
	t := b.tok
	if m != nil && !t.hasMechanism(m.Type) {
		return nil, t.noMechanism(m.Type)
	}
	var out []hsm.ObjectHandle
	err := b.opWrite(ctx, r, func(s pkcs11.SessionHandle, a auth) error {
		if err := may(a); err != nil {
			return err
		}
		var mech []*pkcs11.Mechanism
		if m != nil {
			var free func()
			var err error
			if mech, free, err = nativeMechanism(*m); err != nil {
				return err
			}
			defer free()
		}
		natives, err := make(s, mech)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, n := range natives {
			e, err := t.entryOf(s, n)
			if err != nil {
				return err
			}
			out = append(out, e.handle)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DestroyObject implements hsm.Backend.
func (b *backend) DestroyObject(ctx context.Context, r hsm.Request, h hsm.ObjectHandle) error {
	t := b.tok
	return b.opWrite(ctx, r, func(s pkcs11.SessionHandle, a auth) error {
		return t.withObject(s, h, a, func(e *entry) error {
			if err := t.mod.ctx.DestroyObject(s, e.native); err != nil {
				return cerr("C_DestroyObject", err)
			}
			t.objects.forget(h)
			return nil
		})
	})
}

// crypt runs one single-part operation: init with the object, then the
// operation. A key with CKA_ALWAYS_AUTHENTICATE needs a context-specific
// login between the two, every time.
func (b *backend) crypt(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, m hsm.Mechanism, data []byte,
	initFn func(s pkcs11.SessionHandle, mech []*pkcs11.Mechanism, o pkcs11.ObjectHandle) error,
	opFn func(s pkcs11.SessionHandle) error, name string, public bool) error {
	if len(data) > hsm.MaxData {
		return ck.Errorf(ck.CKR_DATA_LEN_RANGE, "%d bytes, limit %d", len(data), hsm.MaxData)
	}
	t := b.tok
	if !t.hasMechanism(m.Type) {
		return t.noMechanism(m.Type)
	}
	if err := checkMechanism(m); err != nil {
		return err
	}
	err := b.op(ctx, r, func(s pkcs11.SessionHandle, a auth) error {
		return t.withObject(s, h, a, func(e *entry) error {
			mech, free, err := nativeMechanism(m)
			if err != nil {
				return err
			}
			defer free()
			o := e.native
			if public && e.id.class == ck.CKO_PRIVATE_KEY {
				// PKCS#11 verifies and encrypts with public key objects;
				// the engine names the key pair by its private half.
				if o, err = t.publicObject(s, e); err != nil {
					return err
				}
			}
			if err := initFn(s, mech, o); err != nil {
				if hasRV(err, ck.CKR_ARGUMENTS_BAD) && (m.PSS != nil || m.OAEP != nil || m.GCM != nil) {
					// Every argument of an Init is valid here but the
					// mechanism's parameters; some modules (SoftHSM2, for
					// OAEP hashes other than SHA-1) say ARGUMENTS_BAD for
					// parameters they do not support. The specification's
					// name for that is MECHANISM_PARAM_INVALID.
					return ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%sInit in %s: the module refuses these %v parameters", name, t.mod.path, m.Type)
				}
				return cerr(name+"Init", err)
			}
			if e.alwaysAuth && o == e.native {
				if err := t.contextLogin(s); err != nil {
					// The operation is still active on the session.
					return &dirty{err}
				}
			}
			return cerr(name, opFn(s))
		})
	})
	if hasRV(err, ck.CKR_MECHANISM_INVALID) {
		return t.noMechanism(m.Type)
	}
	return err
}

// contextLogin is the CKU_CONTEXT_SPECIFIC login that a key with
// CKA_ALWAYS_AUTHENTICATE needs after each C_SignInit or C_DecryptInit.
func (t *token) contextLogin(s pkcs11.SessionHandle) error {
	pin := t.login.pinCopy()
	defer clear(pin)
	if len(pin) == 0 {
		return ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "the key needs a context-specific login and no PIN is known")
	}
	return cerr("C_Login", t.mod.ctx.Login(s, uint(ck.CKU_CONTEXT_SPECIFIC), string(pin)))
}

// Sign implements hsm.Backend.
func (b *backend) Sign(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, m hsm.Mechanism, data []byte) ([]byte, error) {
	var out []byte
	c := b.tok.mod.ctx
	err := b.crypt(ctx, r, h, m, data, c.SignInit, func(s pkcs11.SessionHandle) error {
		var err error
		out, err = c.Sign(s, data)
		return err
	}, "C_Sign", false)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Verify implements hsm.Backend.
func (b *backend) Verify(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, m hsm.Mechanism, data, sig []byte) error {
	if len(sig) > hsm.MaxData {
		return ck.Errorf(ck.CKR_SIGNATURE_LEN_RANGE, "%d bytes, limit %d", len(sig), hsm.MaxData)
	}
	c := b.tok.mod.ctx
	return b.crypt(ctx, r, h, m, data, c.VerifyInit, func(s pkcs11.SessionHandle) error {
		return c.Verify(s, data, sig)
	}, "C_Verify", true)
}

// Encrypt implements hsm.Backend.
func (b *backend) Encrypt(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, m hsm.Mechanism, data []byte) ([]byte, error) {
	var out []byte
	c := b.tok.mod.ctx
	err := b.crypt(ctx, r, h, m, data, c.EncryptInit, func(s pkcs11.SessionHandle) error {
		var err error
		out, err = c.Encrypt(s, data)
		return err
	}, "C_Encrypt", true)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Decrypt implements hsm.Backend.
func (b *backend) Decrypt(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, m hsm.Mechanism, data []byte) ([]byte, error) {
	var out []byte
	c := b.tok.mod.ctx
	err := b.crypt(ctx, r, h, m, data, c.DecryptInit, func(s pkcs11.SessionHandle) error {
		var err error
		out, err = c.Decrypt(s, data)
		return err
	}, "C_Decrypt", false)
	if err != nil {
		return nil, b.tok.quirks.specificRefusal(err, m.Type, false)
	}
	return out, nil
}

// GenerateRandom implements hsm.Backend.
func (b *backend) GenerateRandom(ctx context.Context, r hsm.Request, n int) ([]byte, error) {
	if n < 0 || n > hsm.MaxRandom {
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "%d bytes asked, limit %d", n, hsm.MaxRandom)
	}
	if n == 0 {
		return []byte{}, nil
	}
	var out []byte
	t := b.tok
	err := b.op(ctx, hsm.Request{}, func(s pkcs11.SessionHandle, _ auth) error {
		var err error
		out, err = t.mod.ctx.GenerateRandom(s, n)
		return cerr("C_GenerateRandom", err)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Sessions reports how many sessions the token's pool holds at most: how
// many calls the token runs at once for this process. A gateway runs as
// many requests of the partition at a time, and answers busy beyond them.
func (b *backend) Sessions() int {
	t := b.tok
	t.mu.RLock()
	defer t.mu.RUnlock()
	return cap(t.pool.slots)
}
