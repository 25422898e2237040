package hsm

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// node is the engine's view of one node of a partition, whatever its
// backend: its health, and statistics. A network node is shared by every
// partition configured on its address.
//
// A node is marked failed when its backend reports a node failure or when
// a reply is overdue (a frozen HSM looks like that: its sockets stay open and
// nothing comes back). A failed node leaves the rotation until its backoff
// runs out; the prober then pings it back, and a call may also try it when
// no healthy node is left.
type node struct {
	b Backend

	mu        sync.Mutex
	healthy   bool
	retryAt   time.Time // a failed node is not tried before this
	backoff   time.Duration
	lastError string

	// inflight and lastAnswer tell a node that stopped answering before any
	// attempt on it is overdue: see suspect.
	inflight   atomic.Int64
	lastAnswer atomic.Int64 // UnixNano of the last answer, or of the start of a busy spell

	requests  atomic.Uint64
	successes atomic.Uint64
	failures  atomic.Uint64
	busy      atomic.Uint64
	overdue   atomic.Uint64
	latencyNS atomic.Uint64 // sum over successful requests
}

// Backoff bounds for probing a failed node.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

func newNode(b Backend) *node { return &node{b: b, healthy: true} }

func (n *node) name() string { return n.b.Name() }

// usable reports whether the node may be tried now: it is healthy, or its
// backoff has run out and a call may serve as the probe.
func (n *node) usable(now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.healthy || !now.Before(n.retryAt)
}

func (n *node) isHealthy() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.healthy
}

// markFailed takes the node out of the rotation until its backoff runs out;
// the backoff doubles up to maxBackoff.
func (n *node) markFailed(err error) {
	n.failures.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.backoff == 0 {
		n.backoff = minBackoff
	} else {
		n.backoff = min(2*n.backoff, maxBackoff)
	}
	n.healthy = false
	n.retryAt = time.Now().Add(n.backoff)
	n.lastError = err.Error()
}

func (n *node) markHealthy() {
	n.mu.Lock()
	n.healthy = true
	n.backoff = 0
	n.mu.Unlock()
}

// errOverdue: the node did not answer within the attempt's deadline.
var errOverdue = errors.New("reply overdue")

// run makes one attempt on the node within attemptTimeout (0: the caller's
// deadline alone) and keeps the node's health and statistics. An attempt
// that runs out of its own time while the caller still has time is a node
// failure: the node is marked failed, and the caller may go on elsewhere.
func (n *node) run(ctx context.Context, attemptTimeout time.Duration, f func(ctx context.Context) error) error {
	actx := ctx
	if attemptTimeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
	}
	n.requests.Add(1)
	start := time.Now()
	if n.inflight.Add(1) == 1 {
		n.lastAnswer.Store(start.UnixNano())
	}
	err := f(actx)
	n.inflight.Add(-1)
	if actx.Err() == nil {
		n.lastAnswer.Store(time.Now().UnixNano())
	}
	switch {
	case err == nil:
		n.successes.Add(1)
		n.latencyNS.Add(uint64(time.Since(start)))
		if !n.isHealthy() {
			n.markHealthy()
		}
		return nil
	case ctx.Err() == nil && actx.Err() != nil:
		n.overdue.Add(1)
		f := &NodeFailure{Sent: true, Err: errOverdue}
		n.markFailed(f)
		return f
	case isNodeFailure(err):
		n.markFailed(err)
	case errors.Is(err, ErrBusy):
		n.busy.Add(1)
	default:
		// A refusal is an answer: the node is alive.
		if ctx.Err() == nil && !n.isHealthy() {
			n.markHealthy()
		}
	}
	return err
}

// suspectAfter: a node with requests in flight that has answered none of
// them for this long is suspect. New requests go to other nodes while it is,
// so that a frozen node stalls only the requests it already holds, not one in
// every few that follow until the first of them is overdue. Being suspect
// fails nothing, so the bound can be short: a node under load answers some
// request every few milliseconds, and a quiet node holds nothing.
const suspectAfter = 50 * time.Millisecond

// suspect reports whether the node holds requests and has stopped answering.
func (n *node) suspect(now time.Time) bool {
	return n.inflight.Load() > 0 && now.UnixNano()-n.lastAnswer.Load() > int64(suspectAfter)
}

// NodeStats describes one node as this client sees it.
type NodeStats struct {
	Address     string        // the node's address, or its module and token
	Healthy     bool          // in the rotation
	Requests    uint64        // attempts made on the node
	Successes   uint64        // attempts answered successfully
	Failures    uint64        // node failures: unreachable, broken, overdue
	Busy        uint64        // requests the node refused as busy
	Overdue     uint64        // attempts whose reply did not come in time
	MeanLatency time.Duration // over successful requests
	LastError   string        // the last node failure, if any
}

func (n *node) stats() NodeStats {
	n.mu.Lock()
	s := NodeStats{Address: n.name(), Healthy: n.healthy, LastError: n.lastError}
	n.mu.Unlock()
	s.Requests = n.requests.Load()
	s.Successes = n.successes.Load()
	s.Failures = n.failures.Load()
	s.Busy = n.busy.Load()
	s.Overdue = n.overdue.Load()
	if s.Successes > 0 {
		s.MeanLatency = time.Duration(n.latencyNS.Load() / s.Successes)
	}
	return s
}
