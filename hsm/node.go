package hsm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyhold/keyhold/internal/wire"
)

// node is the engine's view of one HSM node: a lazily dialed, pipelined
// connection and the node's health. A node is shared by every partition
// configured on its address.
type node struct {
	addr    string
	tlsCfg  *tls.Config
	connect time.Duration
	// readerGoroutine: see Config.ReaderGoroutines.
	readerGoroutine bool

	mu        sync.Mutex
	conn      *wire.Conn
	dialing   chan struct{} // non-nil while one caller dials; closed when it is done
	healthy   bool
	retryAt   time.Time // a failed node is not tried before this
	backoff   time.Duration
	lastError string
	closed    bool

	requests  atomic.Uint64
	successes atomic.Uint64
	failures  atomic.Uint64
	busy      atomic.Uint64
	latencyNS atomic.Uint64 // sum over successful requests
}

// errNodeDown marks transport errors that happened before a request was
// sent: the node could not be reached at all.
var errNodeDown = errors.New("node unreachable")

// Backoff bounds for probing a failed node.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

func newNode(addr string, tlsCfg *tls.Config, connect time.Duration) *node {
	cfg := tlsCfg.Clone()
	if cfg.ServerName == "" {
		host := addr
		if i := lastColon(addr); i >= 0 {
			host = addr[:i]
		}
		host = trimBrackets(host)
		cfg.ServerName = host
	}
	return &node{addr: addr, tlsCfg: cfg, connect: connect, healthy: true}
}

func lastColon(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return i
		}
	}
	return -1
}

func trimBrackets(h string) string {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// usable reports whether the node may be tried now: it is healthy, or its
// backoff has run out and a call may serve as the probe.
func (n *node) usable(now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.closed && (n.healthy || !now.Before(n.retryAt))
}

func (n *node) isHealthy() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.healthy
}

// getConn returns the live connection, dialing it if needed. Only one caller
// dials at a time; the others wait for it (or for their own context).
func (n *node) getConn(ctx context.Context) (c *wire.Conn, dialed bool, err error) {
	for {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return nil, false, ErrClosed
		}
		if n.conn != nil && n.conn.Err() == nil {
			c := n.conn
			n.mu.Unlock()
			return c, false, nil
		}
		if n.dialing != nil {
			wait := n.dialing
			n.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
		}
		if !n.healthy && time.Now().Before(n.retryAt) {
			msg := n.lastError
			n.mu.Unlock()
			return nil, false, fmt.Errorf("%w: %w: node %s is down (%s)", errNodeDown, wire.ErrClosed, n.addr, msg)
		}
		old := n.conn
		n.conn = nil
		done := make(chan struct{})
		n.dialing = done
		n.mu.Unlock()
		if old != nil {
			old.Close()
		}

		dctx, cancel := context.WithTimeout(ctx, n.connect)
		c, err := wire.Dial(dctx, n.addr, n.tlsCfg, wire.DialOptions{
			Hello:           wire.HelloRequest{MinVersion: wire.MinVersion, MaxVersion: wire.MaxVersion, Client: "keyhold-go"},
			ReaderGoroutine: n.readerGoroutine,
		})
		cancel()

		n.mu.Lock()
		n.dialing = nil
		close(done)
		if err == nil && n.closed {
			n.mu.Unlock()
			c.Close()
			return nil, false, ErrClosed
		}
		if err != nil {
			n.mu.Unlock()
			if ctx.Err() != nil {
				// The caller gave up; that says nothing about the node.
				return nil, false, ctx.Err()
			}
			n.markFailed(err)
			return nil, false, fmt.Errorf("%w: %w: %v", errNodeDown, wire.ErrClosed, err)
		}
		n.conn = c
		n.healthy = true
		n.backoff = 0
		n.mu.Unlock()
		return c, true, nil
	}
}

// markFailed records a transport failure: the node leaves the rotation until
// its backoff runs out, and the backoff doubles up to maxBackoff.
func (n *node) markFailed(err error) {
	n.failures.Add(1)
	n.mu.Lock()
	if n.backoff == 0 {
		n.backoff = minBackoff
	} else {
		n.backoff = min(2*n.backoff, maxBackoff)
	}
	n.healthy = false
	n.retryAt = time.Now().Add(n.backoff)
	n.lastError = err.Error()
	var stale *wire.Conn
	if n.conn != nil && n.conn.Err() != nil {
		stale, n.conn = n.conn, nil
	}
	n.mu.Unlock()
	if stale != nil {
		stale.Close() // already failed: this only waits for its reader to exit
	}
}

func (n *node) call(ctx context.Context, op wire.Op, req, resp any) error {
	for attempt := 0; ; attempt++ {
		c, dialed, err := n.getConn(ctx)
		if err != nil {
			return err
		}
		n.requests.Add(1)
		start := time.Now()
		err = c.Call(ctx, op, req, resp)
		switch {
		case err == nil:
			n.successes.Add(1)
			n.latencyNS.Add(uint64(time.Since(start)))
		case wire.IsTransport(err) && !dialed && attempt == 0 && ctx.Err() == nil:
			// A connection that sat idle may have died unnoticed (the node
			// restarted, a middlebox dropped it): nothing reads an idle
			// connection. That says little about the node, so try once more
			// on a new connection; if the node is really down, the dial
			// fails and marks it. Repeating is safe: reads are idempotent
			// and state changes carry an OpID.
			n.dropConn(c)
			continue
		case wire.IsTransport(err):
			n.markFailed(err)
		case hasCode(err, wire.CodeClientRevoked) && attempt == 0:
			// The node refused this connection's credential before
			// starting the request. After a rotation (ppin rotate) the
			// secrets file holds a newer credential, which a new
			// connection picks up (see credentialLoader): try once more
			// on one. If the credential is really revoked, the node
			// refuses it again and the caller gets ErrClientRevoked.
			n.dropConn(c)
			continue
		case isBusy(err):
			n.busy.Add(1)
		}
		return err
	}
}

// dropConn forgets c if it is still the node's connection.
func (n *node) dropConn(c *wire.Conn) {
	n.mu.Lock()
	if n.conn == c {
		n.conn = nil
	}
	n.mu.Unlock()
	c.Close()
}

func (n *node) close() {
	n.mu.Lock()
	n.closed = true
	c := n.conn
	n.conn = nil
	wait := n.dialing
	n.mu.Unlock()
	if wait != nil {
		<-wait
	}
	if c != nil {
		c.Close()
	}
	// A dial that finished after closed was set closes its own connection.
}

// NodeStats describes one node as this client sees it.
type NodeStats struct {
	Address     string
	Healthy     bool
	Requests    uint64        // requests sent
	Successes   uint64        // requests answered successfully
	Failures    uint64        // transport failures: connects and requests
	Busy        uint64        // requests the node refused as busy
	MeanLatency time.Duration // over successful requests
	LastError   string        // the last transport failure, if any
}

func (n *node) stats() NodeStats {
	n.mu.Lock()
	s := NodeStats{Address: n.addr, Healthy: n.healthy, LastError: n.lastError}
	n.mu.Unlock()
	s.Requests = n.requests.Load()
	s.Successes = n.successes.Load()
	s.Failures = n.failures.Load()
	s.Busy = n.busy.Load()
	if s.Successes > 0 {
		s.MeanLatency = time.Duration(n.latencyNS.Load() / s.Successes)
	}
	return s
}
