//go:build cgo

package pkcs11module

import (
	"context"

	"github.com/keyhold/keyhold/ck"
	"github.com/miekg/pkcs11"
)

// tokenFor returns the process's state of a module's token, by label.
func tokenFor(module, label string) *token {
	registry.Lock()
	defer registry.Unlock()
	m := registry.mods[module]
	if m == nil {
		return nil
	}
	for _, t := range m.tokens {
		if t.label == label {
			return t
		}
	}
	return nil
}

// SessionsClosed returns a counter of the sessions of a token closed
// because they broke or their call was abandoned.
func SessionsClosed(module, label string) func() uint64 {
	t := tokenFor(module, label)
	return t.sessionsClosed.Load
}

// SlotOf returns the slot ID of a token.
func SlotOf(module, label string) uint64 {
	t := tokenFor(module, label)
	t.mu.RLock()
	defer t.mu.RUnlock()
	return uint64(t.slot)
}

// SetFault makes every C call on a token's sessions return what f returns
// (nil: the module's own answer). nil f removes it.
func SetFault(module, label string, f func() error) {
	t := tokenFor(module, label)
	if f == nil {
		t.fault.Store(nil)
		return
	}
	t.fault.Store(&f)
}

// OnReopen calls f after every re-open of a token.
func OnReopen(module, label string, f func()) {
	tokenFor(module, label).reopened.Store(&f)
}

// CloseAllSessions closes every session of a token behind the pool's back,
// as an HSM that dropped them would.
func CloseAllSessions(module, label string) error {
	t := tokenFor(module, label)
	t.mu.RLock()
	slot := t.slot
	t.mu.RUnlock()
	return t.mod.ctx.CloseAllSessions(slot)
}

// FinalizeModule finalises a loaded module behind its users' backs, as a
// restarted HSM library looks to them. It does so between calls: a module
// may crash when finalised while another thread is inside it (SoftHSM2
// does), so every token's set of C calls is held full meanwhile.
func FinalizeModule(module string) error {
	registry.Lock()
	m := registry.mods[module]
	var toks []*token
	for _, t := range m.tokens {
		toks = append(toks, t)
	}
	registry.Unlock()
	for _, t := range toks {
		for range cap(t.calls.sem) {
			t.calls.sem <- struct{}{}
		}
	}
	defer func() {
		for _, t := range toks {
			for range cap(t.calls.sem) {
				<-t.calls.sem
			}
		}
	}()
	return m.ctx.Finalize()
}

// Loaded reports whether a module is loaded in this process.
func Loaded(module string) bool {
	registry.Lock()
	defer registry.Unlock()
	_, ok := registry.mods[module]
	return ok
}

// SetPoolSize makes tokens opened from now on use n sessions (0: their own
// limit).
func SetPoolSize(n int) { poolSizeOverride.Store(int64(n)) }

// PoolSize returns the size of a token's session pool.
func PoolSize(module, label string) int {
	t := tokenFor(module, label)
	t.mu.RLock()
	defer t.mu.RUnlock()
	return cap(t.pool.slots)
}

// DeviceRemoved is the module's CKR_DEVICE_REMOVED.
var DeviceRemoved error = pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED)

// DestroyBehindCache destroys the object an engine handle names directly
// in the module, leaving the token's handle cache as it was: as another
// program would.
func DestroyBehindCache(module, label string, h uint64) error {
	t := tokenFor(module, label)
	e := t.objects.get(h)
	p, _, err := t.current(context.Background())
	if err != nil {
		return err
	}
	s, err := p.get(context.Background())
	if err != nil {
		return err
	}
	defer p.put(s)
	return t.mod.ctx.DestroyObject(s, e.native)
}

// CreateBehindCache creates an object directly in the module, leaving the
// token's handle cache as it was: as another program would.
func CreateBehindCache(module, label string, tmpl ck.Template) error {
	t := tokenFor(module, label)
	native, err := toNative(tmpl)
	if err != nil {
		return err
	}
	p, _, err := t.current(context.Background())
	if err != nil {
		return err
	}
	s, err := p.get(context.Background())
	if err != nil {
		return err
	}
	defer p.put(s)
	_, err = t.mod.ctx.CreateObject(s, native)
	return err
}

// SignPath signs digest with the ECDSA key h the way a request does, minus a
// part of the path, so that benchmarks can tell where the time goes:
// "module" makes the C calls on the caller's goroutine (the floor that no
// backend can beat), "runner" makes them through the token's set of C
// calls and its session pool.
func SignPath(module, label string, h uint64, via string) func(ctx context.Context, digest []byte) ([]byte, error) {
	t := tokenFor(module, label)
	e := t.objects.get(h)
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}
	c := t.mod.ctx
	sign := func(s pkcs11.SessionHandle, digest []byte) ([]byte, error) {
		if err := c.SignInit(s, mech, e.native); err != nil {
			return nil, err
		}
		return c.Sign(s, digest)
	}
	if via == "module" {
		return func(ctx context.Context, digest []byte) ([]byte, error) {
			p, _, err := t.current(ctx)
			if err != nil {
				return nil, err
			}
			s, err := p.get(ctx)
			if err != nil {
				return nil, err
			}
			defer p.put(s)
			return sign(s, digest)
		}
	}
	return func(ctx context.Context, digest []byte) ([]byte, error) {
		var out []byte
		err := t.withSession(ctx, func(s pkcs11.SessionHandle, _ uint) error {
			var err error
			out, err = sign(s, digest)
			return err
		})
		return out, err
	}
}

// ForgetHandles makes this process forget every handle it handed out and
// every object it cached, as a process that starts anew.
func ForgetHandles() {
	identities.Lock()
	clear(identities.m)
	identities.Unlock()
	registry.Lock()
	defer registry.Unlock()
	for _, m := range registry.mods {
		for _, t := range m.tokens {
			t.objects.reset()
		}
	}
}
