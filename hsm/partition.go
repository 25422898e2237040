package hsm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
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

// loginState is what the engine keeps after a successful Login: the ticket
// that requests carry, and the PIN, so that the engine can log in again by
// itself when a ticket expires or a node no longer accepts it. The PIN is
// kept only in memory and zeroed on Logout.
type loginState struct {
	user    ck.UserType
	pin     []byte
	ticket  []byte
	expires time.Time
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

// login asks a node for a ticket. The caller holds loginMu.
func (p *Partition) login(ctx context.Context, user ck.UserType, pin []byte) (*loginState, error) {
	var reply wire.LoginReply
	pinCopy := append([]byte(nil), pin...)
	err := p.do(ctx, "login", wire.OpLogin, false, func([]byte) any {
		return &wire.LoginRequest{Partition: p.id, User: user, PIN: pinCopy}
	}, &reply)
	if err != nil {
		clear(pinCopy)
		return nil, err
	}
	return &loginState{user: user, pin: pinCopy, ticket: reply.Ticket, expires: time.UnixMilli(reply.Expires)}, nil
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

// ticket returns the current login ticket, renewing it first when it is about
// to expire, or nil when not logged in.
func (p *Partition) ticket(ctx context.Context) ([]byte, error) {
	p.authMu.RLock()
	st := p.auth
	p.authMu.RUnlock()
	if st == nil {
		return nil, nil
	}
	if time.Until(st.expires) > ticketRenewMargin {
		return st.ticket, nil
	}
	st, err := p.relogin(ctx, st)
	if err != nil {
		return nil, err
	}
	return st.ticket, nil
}

// ticketRenewMargin: tickets are renewed this long before they expire, so
// that a request never arrives at a node with a ticket that just ran out.
const ticketRenewMargin = 30 * time.Second

// relogin replaces stale login state using the PIN the application gave.
// Concurrent callers that saw the same stale state share one login request.
func (p *Partition) relogin(ctx context.Context, stale *loginState) (*loginState, error) {
	p.loginMu.Lock()
	defer p.loginMu.Unlock()
	p.authMu.RLock()
	cur := p.auth
	p.authMu.RUnlock()
	if cur == nil {
		return nil, newError("login", p, ErrNotLoggedIn, "logged out")
	}
	if cur != stale {
		return cur, nil // someone else renewed it meanwhile
	}
	st, err := p.login(ctx, cur.user, cur.pin)
	if err != nil {
		if errors.Is(err, ErrPINIncorrect) || errors.Is(err, ErrPINLocked) {
			// The PIN changed or was locked elsewhere: the login is over.
			p.forgetLogin()
		}
		return nil, err
	}
	p.setAuth(st)
	return st, nil
}

// maxBusyWait bounds the pause between rounds when every node is busy.
const maxBusyWait = 50 * time.Millisecond

// do sends one request to a node of the partition and waits for its reply.
// build returns the request for a login ticket (nil when not logged in); it
// is called again for each attempt, so it must not consume its inputs.
//
// Failover: a transport failure marks the node failed and the request goes to
// the next node; a busy node is skipped, and when every node is busy the call
// waits a little and tries again, within its deadline. Requests that change
// state are safe to repeat because they carry an OpID that the cluster
// deduplicates. An expired or refused ticket triggers one automatic login
// with the PIN the application gave.
func (p *Partition) do(ctx context.Context, op string, wop wire.Op, auth bool, build func(ticket []byte) any, resp any) error {
	if p.client.closed() {
		return newError(op, p, ErrClosed, "")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.client.requestTimeout())
		defer cancel()
	}
	var (
		ticket   []byte
		err      error
		seen     tried
		busyWait = time.Millisecond
		relogged bool
		// inFlightLoss: some attempt failed after its request was sent.
		inFlightLoss, secondRound bool
		lastNode                  string
		lastError                 error
	)
	if auth {
		if ticket, err = p.ticket(ctx); err != nil {
			return err
		}
	}
	for {
		n := p.route.pick(seen)
		if n == nil {
			if lastError != nil && isBusy(lastError) {
				// Every node refused as busy: wait and start a new round.
				t := time.NewTimer(busyWait + time.Duration(randInt63n(int64(busyWait))))
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return p.opError(op, lastNode, lastError)
				}
				busyWait = min(2*busyWait, maxBusyWait)
				seen = seen[:0]
				continue
			}
			if inFlightLoss && !secondRound {
				// A request was lost in flight (a connection broke under it),
				// not refused: the nodes may be fine. One more round, once
				// their first backoff has run out, tells.
				secondRound = true
				t := time.NewTimer(minBackoff)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return p.opError(op, lastNode, asUnavailable(lastError))
				}
				seen = seen[:0]
				continue
			}
			if lastError == nil {
				return newError(op, p, ErrUnavailable, "no node of the partition is reachable")
			}
			return p.opError(op, lastNode, asUnavailable(lastError))
		}
		err = n.call(ctx, wop, build(ticket), resp)
		if err == nil {
			return nil
		}
		lastNode, lastError = n.addr, err
		switch {
		case ctx.Err() != nil:
			return p.opError(op, n.addr, ctx.Err())
		case errors.Is(err, ErrClosed):
			return newError(op, p, ErrClosed, "")
		case wire.IsTransport(err) || hasCode(err, wire.CodeShuttingDown):
			seen = append(seen, n)
			if !errors.Is(err, errNodeDown) {
				inFlightLoss = true
			}
		case isBusy(err):
			seen = append(seen, n)
		case hasCode(err, wire.CodeTicketInvalid) && auth && !relogged:
			relogged = true
			p.authMu.RLock()
			st := p.auth
			p.authMu.RUnlock()
			if st == nil {
				return newError(op, p, ErrNotLoggedIn, "logged out")
			}
			if st, err = p.relogin(ctx, st); err != nil {
				return err
			}
			ticket = st.ticket
		case hasCode(err, wire.CodeTicketInvalid):
			return p.opError(op, n.addr, &ck.Error{RV: ck.CKR_USER_NOT_LOGGED_IN, Msg: "the node refused the login ticket"})
		default:
			return p.opError(op, n.addr, err)
		}
	}
}

func asUnavailable(err error) error {
	if wire.IsTransport(err) {
		return err
	}
	if hasCode(err, wire.CodeShuttingDown) {
		return fmt.Errorf("%w: node shutting down", wire.ErrClosed)
	}
	return err
}

// newOpID returns a random request ID for a state-changing request.
func newOpID() wire.OpID {
	var id wire.OpID
	_, _ = rand.Read(id[:])
	return id
}
