package hsm

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"github.com/keyhold/keyhold/ck"
)

// Partition is one partition as the application sees it, however many nodes
// serve it. Login state belongs to the partition (and so to the whole
// application), not to a goroutine or a PKCS#11 session.
type Partition struct {
	client *Client
	id     uint32
	name   string
	route  route

	loginMu sync.Mutex // serializes logins, so that concurrent re-logins make one request
	authMu  sync.RWMutex
	auth    *loginState

	keysMu sync.Mutex
	keys   map[keyQuery]*Key
}

// loginState is what the engine keeps after a successful Login: the PIN, so
// that the engine can log in again by itself when a proof expires, a node no
// longer accepts it, or a node of another login scope (another module token)
// serves the next request; and the proofs obtained so far, one per login
// scope. The PIN is kept only in memory and zeroed on Logout. Guarded by
// Partition.authMu.
type loginState struct {
	user    ck.UserType
	pin     []byte
	tickets map[string]scopedTicket
}

// scopedTicket is a login proof and when to renew it.
type scopedTicket struct {
	ticket  Ticket
	renewAt time.Time // zero: never
}

// newScopedTicket renews a proof once three quarters of its lifetime have
// passed, whatever that lifetime is: a fixed margin would make every request
// log in again when the node hands out short-lived tickets.
func newScopedTicket(res LoginResult, issued time.Time) scopedTicket {
	t := scopedTicket{ticket: res.Ticket}
	if !res.Expires.IsZero() {
		life := res.Expires.Sub(issued)
		t.renewAt = issued.Add(life * 3 / 4)
	}
	return t
}

// ID returns the partition ID.
func (p *Partition) ID() uint32 { return p.id }

// Client returns the client the partition belongs to.
func (p *Partition) Client() *Client { return p.client }

// Name returns the partition name.
func (p *Partition) Name() string { return p.name }

// UserType says who logs in: the partition's user, or its security officer.
type UserType = ck.UserType

// The two users of a partition.
const (
	User = ck.CKU_USER
	SO   = ck.CKU_SO
)

// Login logs the application in to the partition as its User with the
// partition PIN, making private keys usable. The PIN is checked by the HSM;
// a wrong one counts toward the lockout.
func (p *Partition) Login(ctx context.Context, pin string) error {
	return p.LoginAs(ctx, User, pin)
}

// LoginAs logs in as user (User or SO). Logging in as another user while
// logged in fails with ErrAlreadyLoggedIn, as in PKCS#11; logging in again
// as the same user checks the PIN again and renews the login.
func (p *Partition) LoginAs(ctx context.Context, user UserType, pin string) error {
	if user != User && user != SO {
		return newError("login", p, ErrNotLoggedIn, "unknown user type %d", user)
	}
	p.authMu.RLock()
	cur := p.auth
	p.authMu.RUnlock()
	if cur != nil && cur.user != user {
		return newError("login", p, ErrAlreadyLoggedIn, "logged in as %s; log out first", userName(cur.user))
	}
	p.loginMu.Lock()
	defer p.loginMu.Unlock()
	st, err := p.login(ctx, user, []byte(pin))
	if err != nil {
		return err
	}
	p.setAuth(st)
	return nil
}

func userName(u ck.UserType) string {
	if u == SO {
		return "SO"
	}
	return "User"
}

// login checks the PIN on one node of the partition and returns the new
// login state. The caller holds loginMu.
func (p *Partition) login(ctx context.Context, user ck.UserType, pin []byte) (*loginState, error) {
	pinCopy := append([]byte(nil), pin...)
	var (
		res   LoginResult
		scope string
		at    time.Time
	)
	err := p.do(ctx, "login", opRead, false, func(ctx context.Context, b Backend, r Request) error {
		var err error
		at = time.Now()
		res, err = b.Login(ctx, r, user, pinCopy)
		scope = b.LoginScope()
		return err
	})
	if err != nil {
		clear(pinCopy)
		return nil, err
	}
	return &loginState{user: user, pin: pinCopy, tickets: map[string]scopedTicket{scope: newScopedTicket(res, at)}}, nil
}

func (p *Partition) setAuth(st *loginState) {
	p.authMu.Lock()
	old := p.auth
	p.auth = st
	p.authMu.Unlock()
	if old != nil && old != st {
		clear(old.pin)
	}
}

// Logout ends the login. Keys already found stay valid objects, but private
// ones can't be used until the next Login. It does not need the network: a
// ticket is a bearer proof that the engine simply forgets.
func (p *Partition) Logout(ctx context.Context) error {
	p.authMu.RLock()
	cur := p.auth
	p.authMu.RUnlock()
	if cur == nil {
		return newError("logout", p, ErrNotLoggedIn, "not logged in")
	}
	p.forgetLogin()
	return nil
}

func (p *Partition) forgetLogin() { p.setAuth(nil) }

// LoggedIn reports whether the application is logged in, and as whom.
func (p *Partition) LoggedIn() (UserType, bool) {
	p.authMu.RLock()
	defer p.authMu.RUnlock()
	if p.auth == nil {
		return 0, false
	}
	return p.auth.user, true
}

// ticketFor returns the login proof that a request to n carries: nil when
// the application is not logged in; else the proof of n's login scope,
// obtained first (or renewed) with the PIN the application gave when there
// is none yet or it is due for renewal.
func (p *Partition) ticketFor(ctx context.Context, n *node) (Ticket, error) {
	scope := n.b.LoginScope()
	p.authMu.RLock()
	st := p.auth
	var t scopedTicket
	var ok bool
	if st != nil {
		t, ok = st.tickets[scope]
	}
	p.authMu.RUnlock()
	if st == nil {
		return nil, nil
	}
	if ok && (t.renewAt.IsZero() || time.Now().Before(t.renewAt)) {
		return t.ticket, nil
	}
	return p.loginAt(ctx, n, scope)
}

// loginAt logs in on node n with the login state's PIN. Concurrent callers
// that need the same scope share one login request.
func (p *Partition) loginAt(ctx context.Context, n *node, scope string) (Ticket, error) {
	p.loginMu.Lock()
	defer p.loginMu.Unlock()
	p.authMu.RLock()
	st := p.auth
	var t scopedTicket
	var ok bool
	if st != nil {
		t, ok = st.tickets[scope]
	}
	p.authMu.RUnlock()
	switch {
	case st == nil:
		return nil, newError("login", p, ErrNotLoggedIn, "logged out")
	case ok && (t.renewAt.IsZero() || time.Now().Before(t.renewAt)):
		return t.ticket, nil // someone else renewed it meanwhile
	}
	var res LoginResult
	at := time.Now()
	var attempt time.Duration
	if p.route.alternative(nil, n, at) {
		attempt = p.client.attemptTimeout(opRead)
	}
	err := n.run(ctx, attempt, func(ctx context.Context) error {
		var err error
		res, err = n.b.Login(ctx, Request{Partition: p.id}, st.user, st.pin)
		return err
	})
	if err != nil {
		if hasCode(err, ck.CKR_PIN_INCORRECT) || hasCode(err, ck.CKR_PIN_LOCKED) ||
			errors.Is(err, ErrPINIncorrect) || errors.Is(err, ErrPINLocked) {
			// The PIN changed or was locked elsewhere: the login is over.
			p.forgetLogin()
		}
		return nil, err
	}
	p.authMu.Lock()
	if p.auth == st {
		st.tickets[scope] = newScopedTicket(res, at)
	}
	p.authMu.Unlock()
	p.client.metrics.login(ctx, p.name, n.name())
	return res.Ticket, nil
}

// dropTicket forgets the proof of n's scope, which n no longer accepts, so
// that the next attempt logs in again.
func (p *Partition) dropTicket(n *node) {
	p.authMu.Lock()
	if p.auth != nil {
		delete(p.auth.tickets, n.b.LoginScope())
	}
	p.authMu.Unlock()
}

// maxBusyWait bounds the pause between rounds when every node is busy.
const maxBusyWait = 50 * time.Millisecond

// opKind says how a call may be repeated and how long one attempt may take.
type opKind int

const (
	// opRead: reads, crypto and login may be repeated on any node at once.
	opRead opKind = iota
	// opWrite: state changes carry a RequestID that the cluster
	// deduplicates, so they too may be repeated, on any node.
	opWrite
	// opSlowWrite: key generation, whose duration depends on the key
	// (RSA-4096 takes seconds), so an attempt gets the whole deadline.
	opSlowWrite
)

// nodeCall is one attempt of an engine call on one node.
type nodeCall func(ctx context.Context, b Backend, r Request) error

// do runs an engine call on the partition's nodes until one answers. auth
// says that the call carries the application's login proof.
//
// It is a loop of small steps: pick a node, call it within the attempt's
// deadline, classify the outcome, and back off when every node is busy or a
// request was lost in flight. The decisions are in nextStep.
func (p *Partition) do(ctx context.Context, op string, kind opKind, auth bool, call nodeCall) error {
	var id RequestID
	if kind != opRead {
		// One ID for every attempt: a retry after a lost reply must not act
		// twice (the cluster deduplicates by ID).
		id = newRequestID()
	}
	return p.doWithID(ctx, op, kind, id, auth, call)
}

// doWithID is do with a given request ID.
func (p *Partition) doWithID(ctx context.Context, op string, kind opKind, id RequestID, auth bool, call nodeCall) (err error) {
	start := time.Now()
	defer func() { p.client.metrics.call(ctx, p.name, op, start, err) }()
	if p.client.closed() {
		return newError(op, p, ErrClosed, "")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.client.requestTimeout())
		defer cancel()
	}
	r := Request{Partition: p.id, ID: id}
	var st callState
	for {
		n := p.route.pick(st.seen)
		if n == nil {
			wait, err := st.exhausted(op, p)
			if err != nil {
				return err
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return p.opError(op, st.lastNode, st.final())
			}
			st.seen = st.seen[:0]
			continue
		}
		var err error
		r.Ticket = nil
		if auth {
			if r.Ticket, err = p.ticketFor(ctx, n); err != nil {
				if st.next(ctx, n, err) == stepFail {
					return p.opError(op, n.name(), err)
				}
				continue
			}
		}
		// An attempt's own deadline only matters when another node could
		// take over: the last node standing gets the caller's whole time.
		var attempt time.Duration
		if p.route.alternative(st.seen, n, time.Now()) {
			attempt = p.client.attemptTimeout(kind)
		}
		began := time.Now()
		err = n.run(ctx, attempt, func(actx context.Context) error {
			return call(actx, n.b, r)
		})
		p.client.metrics.attempt(ctx, p.name, n.name(), op, time.Since(began), err)
		switch st.next(ctx, n, err) {
		case stepDone:
			return nil
		case stepFail:
			if errors.Is(err, ErrClosed) {
				return newError(op, p, ErrClosed, "")
			}
			return p.opError(op, n.name(), err)
		case stepRelogin:
			p.dropTicket(n)
		case stepNext:
			p.client.metrics.failover(ctx, p.name, n.name())
		}
	}
}

// step is what do does after an attempt.
type step int

const (
	stepDone    step = iota // the call succeeded
	stepFail                // the call failed for good: return the error
	stepNext                // try another node
	stepRelogin             // log in again on this node and repeat (up to maxRelogins times)
)

// maxRelogins bounds how often one call logs in again. More than once,
// because a login can be lost again between the new login and the repeat:
// a PKCS#11 token forgets its login when its last session closes, which
// healing does while other calls of the application re-open the token. A PIN
// refused ends the call at the login itself, so the bound only caps a node
// that keeps forgetting.
const maxRelogins = 3

// callState is what one engine call remembers across its attempts.
type callState struct {
	seen      tried
	lastNode  string
	lastError error
	busyWait  time.Duration
	relogins  int
	// inFlightLoss: some attempt failed after its request was sent.
	inFlightLoss, secondRound bool
}

// next classifies an attempt's outcome. It is the engine's retry policy:
//   - a node failure (unreachable, broken in flight, overdue) moves on to
//     another node, for every kind of call, since writes carry a
//     deduplicated request ID;
//   - a busy node is skipped, and when every node is busy the call waits a
//     little and starts a new round;
//   - a login proof that the node no longer accepts is renewed (up to maxRelogins times);
//   - any other answer is the HSM's and ends the call, as does the caller's
//     context.
func (st *callState) next(ctx context.Context, n *node, err error) step {
	if err == nil {
		return stepDone
	}
	st.lastNode, st.lastError = n.name(), err
	switch {
	case ctx.Err() != nil, errors.Is(err, ErrClosed):
		return stepFail
	case isNodeFailure(err):
		st.seen = append(st.seen, n)
		if failureSent(err) {
			st.inFlightLoss = true
		}
		return stepNext
	case errors.Is(err, ErrBusy):
		st.seen = append(st.seen, n)
		return stepNext
	case errors.Is(err, ErrLoginExpired) && st.relogins < maxRelogins:
		st.relogins++
		return stepRelogin
	}
	return stepFail
}

// exhausted is called when every node has been tried: it returns how long to
// wait before another round, or the call's final error.
func (st *callState) exhausted(op string, p *Partition) (time.Duration, error) {
	switch {
	case st.lastError != nil && errors.Is(st.lastError, ErrBusy):
		// Every node refused as busy: wait, with jitter, and start a new
		// round.
		if st.busyWait == 0 {
			st.busyWait = time.Millisecond
		}
		w := st.busyWait + time.Duration(randInt63n(int64(st.busyWait)))
		st.busyWait = min(2*st.busyWait, maxBusyWait)
		return w, nil
	case st.inFlightLoss && !st.secondRound:
		// A request was lost in flight (a connection broke under it), not
		// refused: the nodes may be fine. One more round, once their first
		// backoff has run out, tells.
		st.secondRound = true
		return minBackoff, nil
	case st.lastError == nil:
		return 0, newError(op, p, ErrUnavailable, "no node of the partition is reachable")
	}
	return 0, p.opError(op, st.lastNode, st.final())
}

// final is the error a call that found no node reports.
func (st *callState) final() error {
	if isNodeFailure(st.lastError) {
		return &Error{Kind: ErrUnavailable, Detail: st.lastError.Error()}
	}
	return st.lastError
}

// newRequestID returns a random ID for a state-changing request.
func newRequestID() RequestID {
	var id RequestID
	_, _ = rand.Read(id[:])
	return id
}
