//go:build cgo

package pkcs11module

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/miekg/pkcs11"
)

// token is the process's state of one token of a module, shared by every
// backend (and so every Client) that uses it: PKCS#11 login state and
// session limits belong to the token, not to one user of it.
type token struct {
	mod    *module
	key    string // tokenKey
	serial string
	label  string
	refs   int // guarded by registry

	calls runner

	reopenMu chan struct{} // one re-open at a time; waited on with a context
	mu       sync.RWMutex
	slot     uint
	modGen   uint64 // the module generation slot and sessions belong to
	pool     *pool
	broken   bool
	mechs    map[ck.MechanismType]bool // nil: the module did not say

	login   loginState
	objects objectCache
	// learning serialises learn; begun and learnt count the learns begun
	// and done, so that requests that miss handles at once cost one scan
	// of the token (see learn).
	learning sync.Mutex
	begun    atomic.Uint64
	learnt   atomic.Uint64

	// sessionsClosed counts sessions closed because they broke or their
	// call was abandoned.
	sessionsClosed atomic.Uint64
	// fault, when set, is called before every C call made with a session;
	// a non-nil result stands for what the module returned (tests make a
	// token fail as a removed device with it).
	fault atomic.Pointer[func() error]
	shut  atomic.Bool // the last user closed it

	// quirks are what this token's module needs beyond the specification.
	quirks quirks
	// storeMu orders object writes against everything else on a token
	// whose quirks ask for it.
	storeMu sync.RWMutex
	// loginMu is held shared around the C calls of every request, and
	// exclusively by CheckSO while the token's User is logged out: no
	// request meets the token logged out, or logged in as the SO. Only on
	// a token opened with Open (soChecks, set before its first request):
	// an application that never checks the SO pays nothing for it.
	loginMu  sync.RWMutex
	soChecks atomic.Bool
	// reopened, when set, is called after each re-open (tests wait on it).
	reopened atomic.Pointer[func()]
}

func newToken(m *module, key string, slot uint, ti pkcs11.TokenInfo) *token {
	t := &token{
		mod:      m,
		key:      key,
		serial:   ti.SerialNumber,
		label:    ti.Label,
		calls:    newRunner(),
		reopenMu: make(chan struct{}, 1),
		slot:     slot,
		modGen:   m.gen.Load(),
	}
	t.quirks = quirksOf(ti)
	t.login.init()
	t.objects.init()
	t.pool = newPool(t, slot, poolSize(ti))
	t.mechs = t.mechanisms(slot)
	return t
}

func (t *token) desc() string {
	if t.label != "" {
		return t.label
	}
	return t.key
}

// mechanisms lists what the token can do, so that a missing mechanism is
// refused with its name before any session is used.
func (t *token) mechanisms(slot uint) map[ck.MechanismType]bool {
	list, err := t.mod.ctx.GetMechanismList(slot)
	if err != nil || len(list) == 0 {
		return nil
	}
	out := make(map[ck.MechanismType]bool, len(list))
	for _, m := range list {
		out[ck.MechanismType(m.Mechanism)] = true
	}
	return out
}

func (t *token) hasMechanism(m ck.MechanismType) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.mechs == nil || t.mechs[m]
}

// current returns the pool to use, re-opening the token first when it
// failed or the module was re-initialised since it was opened.
func (t *token) current(ctx context.Context) (*pool, uint, error) {
	t.mu.RLock()
	p, slot, broken, gen := t.pool, t.slot, t.broken, t.modGen
	t.mu.RUnlock()
	if !broken && gen == t.mod.gen.Load() {
		return p, slot, nil
	}
	return t.reopen(ctx)
}

// markBroken makes the next call re-open the token, when p, whose session
// failed, is still the token's pool: a call that started before a re-open
// and fails after it says nothing about the new sessions.
func (t *token) markBroken(p *pool) {
	t.mu.Lock()
	if t.pool == p {
		t.broken = true
	}
	t.mu.Unlock()
}

// reopen brings a failed token back: it closes every session of the old
// pool, finds the token again by its serial (re-initialising the module if
// it says it is not initialised), and starts a new pool. The token's login
// is taken as lost, so requests that carry an earlier login proof get
// hsm.ErrLoginExpired and the engine logs in again with its PIN; object
// handles are found again by identity on first use.
func (t *token) reopen(ctx context.Context) (*pool, uint, error) {
	select {
	case t.reopenMu <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	defer func() { <-t.reopenMu }()
	t.mu.RLock()
	old, slot, broken, gen := t.pool, t.slot, t.broken, t.modGen
	t.mu.RUnlock()
	if !broken && gen == t.mod.gen.Load() {
		return old, slot, nil // another caller re-opened it meanwhile
	}
	if t.shut.Load() {
		return nil, 0, hsm.ErrClosed
	}
	// The old sessions are closed first: a token that allows one session
	// has no room for a new one until then.
	if err := t.calls.run(ctx, func() error { old.close(); return nil }, nil); err != nil {
		return nil, 0, err
	}
	sel := selector{serial: t.serial}
	if t.serial == "" {
		s := uint64(slot)
		sel = selector{slot: &s}
	}
	var (
		info  pkcs11.TokenInfo
		mechs map[ck.MechanismType]bool
	)
	err := t.calls.run(ctx, func() error {
		if f := t.fault.Load(); f != nil {
			if err := (*f)(); err != nil {
				return err
			}
		}
		var err error
		slot, info, err = t.mod.locate(sel)
		if err == nil {
			mechs = t.mechanisms(slot)
		}
		return err
	}, nil)
	var ended *callEnded
	switch {
	case errors.As(err, &ended):
		return nil, 0, err
	case err != nil:
		return nil, 0, t.nodeFailure(false, err)
	}
	p := newPool(t, slot, poolSize(info))
	t.mu.Lock()
	t.pool, t.slot, t.broken, t.modGen, t.mechs = p, slot, false, t.mod.gen.Load(), mechs
	t.mu.Unlock()
	t.objects.reset()
	t.login.expire()
	if f := t.reopened.Load(); f != nil {
		(*f)()
	}
	return p, slot, nil
}

// shutdown closes the token's sessions after the calls in flight return.
// The caller holds registry.
func (t *token) shutdown() {
	t.shut.Store(true)
	t.mu.Lock()
	p := t.pool
	t.mu.Unlock()
	p.finish()
	t.calls.close()
	p.close()
	t.login.expire()
}

// errRetry: the pool was replaced while the caller waited; start again.
var errRetry = errors.New("pool replaced")

// dirty wraps an error after which the session may still be in an
// operation (a context-specific login failed after C_SignInit): the session
// is closed rather than put back.
type dirty struct{ err error }

func (d *dirty) Error() string { return d.err.Error() }
func (d *dirty) Unwrap() error { return d.err }

// withSession runs f on a session of the pool, as one call of the bounded
// set (see runner), and applies PKCS#11's session rules to the outcome:
//   - a CKR_SESSION_* code: the session is closed, never put back, and f
//     runs once more on a fresh session; a second one says that the device
//     lost its sessions, a node failure;
//   - a device-level code: the session is closed, the token re-opened on
//     the next call, and the engine told of a node failure;
//   - the caller's context ending first: the caller returns at once, and
//     the session is closed when the C call returns.
func (t *token) withSession(ctx context.Context, f func(s pkcs11.SessionHandle, slot uint) error) error {
	for attempt := 0; ; {
		p, slot, err := t.current(ctx)
		if err != nil {
			return err
		}
		s, err := p.get(ctx)
		if errors.Is(err, errRetry) {
			continue
		}
		if err != nil {
			return err
		}
		// A session whose call succeeded goes back to the pool on the
		// worker, before its caller is woken: a caller waiting for a
		// session gets it without waiting for this one to be scheduled.
		var released bool
		err = t.calls.runThen(ctx, func() error {
			if h := t.fault.Load(); h != nil {
				if err := (*h)(); err != nil {
					return err
				}
			}
			return f(s, slot)
		}, func(err error) {
			if err == nil {
				p.put(s)
				released = true
			}
		}, func() { p.discard(s) })
		var ended *callEnded
		if err == nil || notStarted(err) {
			if !released {
				p.put(s)
			}
			return err
		}
		if errors.As(err, &ended) {
			return err // the abandoned call closes its session
		}
		rv, isRV := rvOf(err)
		var d *dirty
		switch {
		case isRV && isSessionRV(rv):
			p.discard(s)
			if attempt == 0 {
				attempt++
				continue
			}
			t.markBroken(p)
			return t.nodeFailure(true, err)
		case isRV && isDeviceRV(rv):
			p.discard(s)
			t.markBroken(p)
			return t.nodeFailure(true, err)
		case errors.As(err, &d):
			p.discard(s)
			return d.err
		}
		p.put(s)
		return err
	}
}

// runner runs C calls on goroutines of its own, at most maxCalls at a
// time per token: a C call cannot be interrupted, so a caller whose context
// ends returns at once and leaves the call to finish on its goroutine. A
// module that hangs therefore holds a bounded number of goroutines, and
// callers beyond that wait (with their context) instead of piling up.
// Goroutines that finished a call wait for the next one rather than exit,
// so that a call costs a hand-over, not a new goroutine (whose stack would
// grow again on every call into the module).
type runner struct {
	sem  chan struct{}
	jobs chan func() // unbuffered: a send succeeds when an idle worker waits
	quit chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool // no new calls: Close is waiting for the last ones
}

func newRunner() runner {
	return runner{sem: make(chan struct{}, maxCalls), jobs: make(chan func()), quit: make(chan struct{})}
}

// exec hands job to an idle worker, or starts one; false when the set is
// closed.
func (r *runner) exec(job func()) bool {
	select {
	case r.jobs <- job:
		return true
	default:
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	go r.worker(job)
	return true
}

func (r *runner) worker(job func()) {
	defer r.wg.Done()
	for {
		job()
		select {
		case job = <-r.jobs:
		case <-r.quit:
			return
		}
	}
}

// close refuses new calls, waits for those in flight and ends the workers.
func (r *runner) close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.quit)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// spawn runs f as a call of the set without waiting for it; Close waits
// for it. Only session closes use it, and there are never more of them
// than sessions.
func (r *runner) spawn(f func()) {
	job := func() {
		r.sem <- struct{}{}
		defer func() { <-r.sem }()
		f()
	}
	if !r.exec(job) {
		f() // only Close's own clean-up runs after the set closed
	}
}

// callEnded is run's error when the call did not deliver its result: the
// caller's context ended (err is the context's error), or the set is
// closed. started says whether f began, in which case abandoned cleans up
// after it; otherwise the caller still owns what it meant f to use.
type callEnded struct {
	started bool
	err     error
}

func (e *callEnded) Error() string { return e.err.Error() }
func (e *callEnded) Unwrap() error { return e.err }

// notStarted reports whether err says that the call never began.
func notStarted(err error) bool {
	var ce *callEnded
	return errors.As(err, &ce) && !ce.started
}

// run calls f on a worker of the set and waits for it or for ctx. When ctx
// ends first, abandoned (if not nil) runs once f has returned, in place of
// delivering its result, and run returns a *callEnded.
func (r *runner) run(ctx context.Context, f func() error, abandoned func()) error {
	return r.runThen(ctx, f, nil, abandoned)
}

// runThen is run, with delivered (if not nil) called on the worker with
// f's result once it is sure to reach the caller, before the caller is
// woken: what it frees is free one wake-up earlier.
func (r *runner) runThen(ctx context.Context, f func() error, delivered func(error), abandoned func()) error {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return &callEnded{err: ctx.Err()}
	}
	var (
		mu       sync.Mutex
		finished bool
		gone     bool
	)
	done := make(chan error, 1)
	job := func() {
		defer func() { <-r.sem }()
		err := f()
		mu.Lock()
		finished = true
		left := gone
		mu.Unlock()
		if left {
			if abandoned != nil {
				abandoned()
			}
			return
		}
		if delivered != nil {
			delivered(err)
		}
		done <- err
	}
	if !r.exec(job) {
		<-r.sem
		return &callEnded{err: hsm.ErrClosed}
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		mu.Lock()
		if finished {
			mu.Unlock()
			return <-done
		}
		gone = true
		mu.Unlock()
		return &callEnded{started: true, err: ctx.Err()}
	}
}

// pool is a token's set of open sessions, at most its size: sessions are
// opened when needed and kept, since opening one costs a module call and
// closing the last one would end the token's login (a PKCS#11 rule).
type pool struct {
	t     *token
	slot  uint
	idle  chan pkcs11.SessionHandle
	slots chan struct{} // one per open session
	done  chan struct{} // closed when the pool is replaced or shut down

	mu     sync.Mutex
	closed bool
	ended  bool
}

func newPool(t *token, slot uint, size int) *pool {
	return &pool{
		t:     t,
		slot:  slot,
		idle:  make(chan pkcs11.SessionHandle, size),
		slots: make(chan struct{}, size),
		done:  make(chan struct{}),
	}
}

// get returns an idle session, or opens one when the pool has room, or
// waits for one with ctx.
func (p *pool) get(ctx context.Context) (pkcs11.SessionHandle, error) {
	select {
	case s := <-p.idle:
		return s, nil
	default:
	}
	select {
	case s := <-p.idle:
		return s, nil
	case p.slots <- struct{}{}:
		return p.open(ctx)
	case <-p.done:
		return 0, errRetry
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// open opens a read-write session in a slot the caller reserved. Every
// session is read-write: creating token objects needs one, and an SO login
// is refused while a read-only session exists.
func (p *pool) open(ctx context.Context) (pkcs11.SessionHandle, error) {
	var s pkcs11.SessionHandle
	err := p.t.calls.run(ctx, func() error {
		if h := p.t.fault.Load(); h != nil {
			if err := (*h)(); err != nil {
				return err
			}
		}
		var err error
		s, err = p.t.mod.ctx.OpenSession(p.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		return cerr("C_OpenSession", err)
	}, func() {
		if s != 0 {
			p.discard(s)
		} else {
			<-p.slots
		}
	})
	var ended *callEnded
	switch {
	case err == nil:
		return s, nil
	case notStarted(err):
		<-p.slots
		return 0, err
	case errors.As(err, &ended):
		return 0, err // the abandoned call frees the room
	}
	<-p.slots
	rv, isRV := rvOf(err)
	switch {
	case isRV && rv == ck.CKR_SESSION_COUNT:
		// Sessions of other programs (or of abandoned calls) use up the
		// token's limit: a busy node, not a failed one.
		return 0, errors.Join(hsm.ErrBusy, p.t.refusal(err))
	case isRV && (isDeviceRV(rv) || isSessionRV(rv)):
		p.t.markBroken(p)
		return 0, p.t.nodeFailure(false, err)
	}
	return 0, p.t.refusal(err)
}

// put returns a working session to the pool; a closed pool closes it.
func (p *pool) put(s pkcs11.SessionHandle) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		p.t.calls.spawn(func() { p.drop(s) })
		return
	}
	select {
	case p.idle <- s:
	default:
		p.t.calls.spawn(func() { p.drop(s) })
	}
}

// discard closes a session that must not be used again (it broke, or its
// call was abandoned) and then frees its room. The close is a C call like
// any other, so the caller does not wait for it.
func (p *pool) discard(s pkcs11.SessionHandle) {
	p.t.sessionsClosed.Add(1)
	p.t.calls.spawn(func() { p.drop(s) })
}

// drop closes a session and frees its room.
func (p *pool) drop(s pkcs11.SessionHandle) {
	_ = p.t.mod.ctx.CloseSession(s)
	<-p.slots
}

// finish wakes the pool's waiters: the pool is going away.
func (p *pool) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ended {
		p.ended = true
		close(p.done)
	}
}

// close closes the idle sessions and makes the pool close the others when
// they come back.
func (p *pool) close() {
	p.finish()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for {
		select {
		case s := <-p.idle:
			p.drop(s)
		default:
			return
		}
	}
}
