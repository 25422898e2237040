package hsm

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// fakeBackend answers Sign and Login from a script, one entry per call, and
// counts the calls it got. It stands for any node: the engine's retry
// decisions do not depend on what kind of node it is.
type fakeBackend struct {
	name  string
	scope string

	mu     sync.Mutex
	signs  []error // the answer to each Sign call in turn; then success
	logins int
	calls  int
	// hang makes Sign wait for the attempt's context: a frozen node.
	hang bool
}

func (f *fakeBackend) Name() string       { return f.name }
func (f *fakeBackend) LoginScope() string { return f.scope }
func (f *fakeBackend) Ping(context.Context) error {
	return nil
}
func (f *fakeBackend) Close() error { return nil }
func (f *fakeBackend) Info(context.Context, Request) (PartitionInfo, error) {
	return PartitionInfo{}, nil
}
func (f *fakeBackend) Login(_ context.Context, _ Request, _ UserType, pin []byte) (LoginResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logins++
	if string(pin) != "good" {
		return LoginResult{}, &ck.Error{RV: ck.CKR_PIN_INCORRECT}
	}
	return LoginResult{Ticket: Ticket("t-" + f.name)}, nil
}
func (f *fakeBackend) InitPIN(context.Context, Request, []byte) error { return nil }
func (f *fakeBackend) SetPIN(context.Context, Request, UserType, []byte, []byte) error {
	return nil
}
func (f *fakeBackend) FindObjects(context.Context, Request, Template, []AttributeType) ([]Object, error) {
	return nil, nil
}
func (f *fakeBackend) GetAttributes(context.Context, Request, ObjectHandle, []AttributeType) ([]AttributeResult, error) {
	return nil, nil
}
func (f *fakeBackend) SetAttributes(context.Context, Request, ObjectHandle, Template) error {
	return nil
}
func (f *fakeBackend) CreateObject(context.Context, Request, Template) (ObjectHandle, error) {
	return 1, nil
}
func (f *fakeBackend) GenerateKeyPair(context.Context, Request, Mechanism, Template, Template) (ObjectHandle, ObjectHandle, error) {
	return 1, 2, nil
}
func (f *fakeBackend) GenerateKey(context.Context, Request, Mechanism, Template) (ObjectHandle, error) {
	return 1, nil
}
func (f *fakeBackend) DestroyObject(context.Context, Request, ObjectHandle) error { return nil }
func (f *fakeBackend) InitToken(context.Context, Request, []byte, string) error   { return nil }
func (f *fakeBackend) CopyObject(context.Context, Request, ObjectHandle, Template) (ObjectHandle, error) {
	return 3, nil
}
func (f *fakeBackend) ObjectSize(context.Context, Request, ObjectHandle) (uint64, error) {
	return 1, nil
}
func (f *fakeBackend) Sign(ctx context.Context, r Request, _ ObjectHandle, _ Mechanism, _ []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls++
	hang := f.hang
	var err error
	if len(f.signs) > 0 {
		err, f.signs = f.signs[0], f.signs[1:]
	}
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	return append([]byte("sig-"+f.name+"-"), r.Ticket...), nil
}
func (f *fakeBackend) Verify(context.Context, Request, ObjectHandle, Mechanism, []byte, []byte) error {
	return nil
}
func (f *fakeBackend) Encrypt(context.Context, Request, ObjectHandle, Mechanism, []byte) ([]byte, error) {
	return nil, nil
}
func (f *fakeBackend) Decrypt(context.Context, Request, ObjectHandle, Mechanism, []byte) ([]byte, error) {
	return nil, nil
}
func (f *fakeBackend) GenerateRandom(context.Context, Request, int) ([]byte, error) {
	return nil, nil
}
func (f *fakeBackend) WrapKey(context.Context, Request, ObjectHandle, Mechanism, ObjectHandle) ([]byte, error) {
	return nil, nil
}
func (f *fakeBackend) UnwrapKey(context.Context, Request, ObjectHandle, Mechanism, []byte, Template) (ObjectHandle, error) {
	return 0, nil
}
func (f *fakeBackend) DeriveKey(context.Context, Request, ObjectHandle, Mechanism, Template) (ObjectHandle, error) {
	return 0, nil
}
func (f *fakeBackend) Agree(context.Context, Request, ObjectHandle, Mechanism) ([]byte, error) {
	return nil, nil
}
func (f *fakeBackend) Decapsulate(context.Context, Request, ObjectHandle, Mechanism, []byte) ([]byte, error) {
	return nil, nil
}
func (f *fakeBackend) DecapsulateKey(context.Context, Request, ObjectHandle, Mechanism, []byte, Template) (ObjectHandle, error) {
	return 0, nil
}
func (f *fakeBackend) EncapsulateKey(context.Context, Request, ObjectHandle, Mechanism, Template) ([]byte, ObjectHandle, error) {
	return nil, 0, nil
}

func (f *fakeBackend) signCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fakePartition builds a partition over the given backends, all of one
// priority, without the network or the prober.
func fakePartition(t *testing.T, backends ...*fakeBackend) *Partition {
	t.Helper()
	m, err := newMetrics(nil)
	require.NoError(t, err)
	c := &Client{
		cfg:     Config{Timeouts: Timeouts{Request: Duration(2 * time.Second), Attempt: Duration(100 * time.Millisecond)}},
		metrics: m,
		nodes:   map[string]*node{},
		stop:    make(chan struct{}),
	}
	p := &Partition{client: c, id: 1, name: "fake", keys: map[keyQuery]*Key{}}
	for _, b := range backends {
		n := newNode(b)
		c.nodes[b.name] = n
		p.route.add(n, 0)
	}
	p.route.init()
	return p
}

// startAtFirst makes the next call start at the first node, so that a table
// can say which node answers first.
func startAtFirst(p *Partition) { p.route.groups[0].next.Store(0) }

var (
	errDown   = &NodeFailure{Err: errors.New("connection refused")}
	errBroken = &NodeFailure{Sent: true, Err: errors.New("connection reset")}
	errBusy   = errors.Join(ErrBusy, &ck.Error{RV: ck.CKR_FUNCTION_FAILED})
	errExpire = errors.Join(ErrLoginExpired, &ck.Error{RV: ck.CKR_USER_NOT_LOGGED_IN})
	errRefuse = &ck.Error{RV: ck.CKR_KEY_FUNCTION_NOT_PERMITTED}
)

// TestRetryDecisions is the engine's retry policy as a table: what each node
// answers in turn, and what the application sees.
func TestRetryDecisions(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []error // each node's answers to its Sign calls, in turn
		// want is the sentinel the call fails with, or nil for success.
		want error
		// failedNodes is how many nodes end marked failed.
		failedNodes int
		// attempts is the number of Sign calls made, over both nodes.
		attempts int
	}{
		{name: "success", want: nil, attempts: 1},
		{name: "unreachable node is skipped", a: []error{errDown}, b: []error{errDown}, want: ErrUnavailable, failedNodes: 2, attempts: 2},
		{name: "one node down, the other serves", a: []error{errDown}, want: nil, failedNodes: 1, attempts: 2},
		{name: "broken in flight gets a second round", a: []error{errBroken, errBroken}, b: []error{errBroken, errBroken}, want: ErrUnavailable, failedNodes: 2, attempts: 4},
		{name: "refusal ends the call at once", a: []error{errRefuse}, b: []error{errRefuse}, want: ErrPermission, attempts: 1},
		{name: "busy everywhere waits and retries", a: []error{errBusy, errBusy}, b: []error{errBusy, errBusy}, want: nil, attempts: 5},
		{name: "expired login is renewed", a: []error{errExpire}, want: nil, attempts: 2},
		{name: "a login lost again is renewed again", a: []error{errExpire, errExpire}, b: []error{errExpire}, want: nil, attempts: 4},
		{name: "a login that never holds is not logged in", a: []error{errExpire, errExpire, errExpire}, b: []error{errExpire, errExpire, errExpire}, want: ErrNotLoggedIn, attempts: 1 + maxRelogins},
		{name: "a full partition is a refusal", a: []error{&ck.Error{RV: ck.CKR_DEVICE_MEMORY}}, want: ErrPartitionFull, attempts: 1},
		{name: "revoked credential is a refusal, not a node failure", a: []error{&ck.Error{RV: wire.CodeClientRevoked}}, want: ErrClientRevoked, attempts: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &fakeBackend{name: "a", scope: "s", signs: append([]error(nil), tc.a...)}
			b := &fakeBackend{name: "b", scope: "s", signs: append([]error(nil), tc.b...)}
			p := fakePartition(t, a, b)
			require.NoError(t, p.Login(context.Background(), "good"))
			startAtFirst(p)
			_, err := p.SignRaw(context.Background(), 1, Mechanism{Type: ck.CKM_ECDSA}, []byte("digest"))
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
			failed := 0
			for _, n := range p.route.groups[0].nodes {
				if !n.isHealthy() {
					failed++
				}
			}
			assert.Equal(t, tc.failedNodes, failed, "nodes marked failed")
			if tc.attempts > 0 {
				assert.Equal(t, tc.attempts, a.signCalls()+b.signCalls(), "Sign calls")
			}
		})
	}
}

// TestOverdueNodeFailsOver: a node that does not answer within the attempt's
// deadline (a frozen HSM) is marked failed and the call completes on another
// node, long before the request's own deadline.
func TestOverdueNodeFailsOver(t *testing.T) {
	frozen := &fakeBackend{name: "frozen", scope: "s", hang: true}
	ok := &fakeBackend{name: "ok", scope: "s"}
	p := fakePartition(t, frozen, ok)
	require.NoError(t, p.Login(context.Background(), "good"))
	startAtFirst(p)
	for range 4 {
		sig, err := p.SignRaw(context.Background(), 1, Mechanism{Type: ck.CKM_ECDSA}, []byte("d"))
		require.NoError(t, err)
		assert.Contains(t, string(sig), "sig-ok-", "served by the live node")
	}
	assert.False(t, p.client.nodes["frozen"].isHealthy(), "the frozen node is marked failed")
	assert.LessOrEqual(t, frozen.signCalls(), 1, "a failed node is not tried again before its backoff")
	assert.Equal(t, uint64(1), p.client.nodes["frozen"].overdue.Load())
}

// TestLastNodeGetsTheWholeDeadline: with no other node to go to, a slow
// answer is waited for; the attempt deadline is not a request deadline.
func TestLastNodeGetsTheWholeDeadline(t *testing.T) {
	slow := &fakeBackend{name: "slow", scope: "s", hang: true}
	p := fakePartition(t, slow)
	require.NoError(t, p.Login(context.Background(), "good"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := p.SignRaw(ctx, 1, Mechanism{Type: ck.CKM_ECDSA}, []byte("d"))
	require.ErrorIs(t, err, context.DeadlineExceeded, "the caller's deadline, not the attempt's, ended the call")
	assert.True(t, p.client.nodes["slow"].isHealthy(), "the caller giving up says nothing about the node")
}

// TestLoginPerScope: nodes of different login scopes (two module tokens)
// each get their own login with the application's PIN; nodes of one scope
// (a network cluster) share one.
func TestLoginPerScope(t *testing.T) {
	a := &fakeBackend{name: "a", scope: "token-a"}
	b := &fakeBackend{name: "b", scope: "token-b"}
	c := &fakeBackend{name: "c", scope: "token-b"}
	p := fakePartition(t, a, b, c)
	require.NoError(t, p.Login(context.Background(), "good"))
	for range 12 {
		_, err := p.SignRaw(context.Background(), 1, Mechanism{Type: ck.CKM_ECDSA}, []byte("d"))
		require.NoError(t, err)
	}
	require.Positive(t, a.signCalls())
	require.Positive(t, b.signCalls()+c.signCalls())
	total := a.logins + b.logins + c.logins
	assert.Equal(t, 2, total, "one login per scope")
}

// TestWrongPINEndsLoginOnRelogin: a node that refuses the PIN when the
// engine logs in again by itself (the PIN was changed elsewhere) ends the
// application's login.
func TestWrongPINEndsLoginOnRelogin(t *testing.T) {
	a := &fakeBackend{name: "a", scope: "s", signs: []error{errExpire}}
	p := fakePartition(t, a)
	require.NoError(t, p.Login(context.Background(), "good"))
	p.authMu.Lock()
	p.auth.pin = []byte("changed-elsewhere")
	p.authMu.Unlock()
	_, err := p.SignRaw(context.Background(), 1, Mechanism{Type: ck.CKM_ECDSA}, []byte("d"))
	require.ErrorIs(t, err, ErrPINIncorrect)
	_, in := p.LoggedIn()
	assert.False(t, in)
}

// TestTicketRenewedAtAFractionOfItsLifetime: a short-lived ticket is renewed
// after three quarters of its lifetime, not by a fixed margin that would
// renew a 30-second ticket on every request.
func TestTicketRenewedAtAFractionOfItsLifetime(t *testing.T) {
	issued := time.Unix(1000, 0)
	st := newScopedTicket(LoginResult{Ticket: Ticket("x"), Expires: issued.Add(20 * time.Second)}, issued)
	assert.Equal(t, issued.Add(15*time.Second), st.renewAt)
	never := newScopedTicket(LoginResult{Ticket: Ticket("x")}, issued)
	assert.True(t, never.renewAt.IsZero())
}

// TestSuspectNodeGetsNoNewRequests: a node that holds a request and has not
// answered for a while gets no new requests while another node answers,
// before the held request is overdue.
func TestSuspectNodeGetsNoNewRequests(t *testing.T) {
	frozen := &fakeBackend{name: "frozen", scope: "s", hang: true}
	ok := &fakeBackend{name: "ok", scope: "s"}
	p := fakePartition(t, frozen, ok)
	p.client.cfg.Timeouts.Attempt = Duration(time.Minute)
	require.NoError(t, p.Login(context.Background(), "good"))
	startAtFirst(p)
	held := make(chan error, 1)
	heldCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		_, err := p.SignRaw(heldCtx, 1, Mechanism{Type: ck.CKM_ECDSA}, []byte("d"))
		held <- err
	}()
	n := p.client.nodes["frozen"]
	require.Eventually(t, func() bool { return n.suspect(time.Now()) }, 10*time.Second, time.Millisecond)
	for range 10 {
		_, err := p.SignRaw(context.Background(), 1, Mechanism{Type: ck.CKM_ECDSA}, []byte("d"))
		require.NoError(t, err)
	}
	assert.Equal(t, 1, frozen.signCalls(), "only the held request went to the suspect node")
	assert.True(t, n.isHealthy(), "being suspect fails nothing")
	cancel()
	require.ErrorIs(t, <-held, context.Canceled)
}
