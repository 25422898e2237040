package testenv

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// Fault injection. Failover tests need nodes that are slow, overloaded,
// unreachable or cut off mid-stream, on demand. Every fault may be switched on
// and off while the node serves.

// SetLatency adds d before each reply the node sends (0 removes it). The
// delay holds the worker that answers, as a slow HSM would, so that with few
// workers it also fills the queue.
func (n *Node) SetLatency(d time.Duration) { n.latency.Store(int64(d)) }

// SetBusy makes the node answer every request (after the hello) with
// wire.CodeBusy, as an overloaded HSM does, without starting it.
func (n *Node) SetBusy(on bool) { n.busy.Store(on) }

// RefuseConnections makes the node close every new connection as soon as it
// is accepted, before the TLS handshake. Open connections keep working.
func (n *Node) RefuseConnections(on bool) { n.refuse.Store(on) }

// DropConnections closes every open connection now, as a network failure
// would. Requests in flight get no reply. The node keeps listening.
func (n *Node) DropConnections() {
	n.mu.Lock()
	conns := n.openLocked()
	n.mu.Unlock()
	for _, c := range conns {
		c.drop()
	}
}

// Stop makes the node unreachable: it stops listening (new connections are
// refused by the operating system) and drops every open connection. Partition
// state is kept; Restart serves it again.
func (n *Node) Stop() {
	n.mu.Lock()
	ln, done := n.ln, n.acceptDone
	n.ln = nil
	n.mu.Unlock()
	if ln != nil {
		ln.Close()
		<-done
	}
	n.DropConnections()
}

// ErrNodeClosed is returned by Restart after Close.
var ErrNodeClosed = errors.New("testenv: node is closed")

// Restart listens again on the node's address after Stop, with all partition
// state (objects, PINs, retry counters, ticket keys) as it was. It does
// nothing on a node that is listening.
func (n *Node) Restart() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrNodeClosed
	}
	if n.ln != nil {
		return nil
	}
	// The port was freed by Stop a moment ago; Go listeners set SO_REUSEADDR,
	// so connections of the previous life in TIME_WAIT don't block it.
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", n.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("testenv: restart: %w", err)
	}
	n.serveLocked(ln)
	return nil
}

// Stats are counters of a node's activity since it started.
type Stats struct {
	// ConnectionsOpen is the number of connections open now, including those
	// still in their handshake.
	ConnectionsOpen int
	// ConnectionsAccepted counts accepted TCP connections (refused ones excluded).
	ConnectionsAccepted uint64
	// HandshakeFailures counts connections closed because TLS failed: no
	// client certificate, one from another CA, not TLS at all, or too slow.
	HandshakeFailures uint64
	// ProtocolErrors counts connections closed because of what a client
	// sent: malformed, oversized or truncated frames.
	ProtocolErrors uint64
	// Requests counts requests that a worker answered, successfully or not.
	Requests uint64
	// BusyReplies counts requests answered wire.CodeBusy without being started.
	BusyReplies uint64
	// Panics counts requests whose handler panicked (answered CKR_GENERAL_ERROR).
	Panics uint64
}

type counters struct {
	accepted, handshakeFailures, protocolErrors, requests, busy, panics atomic.Uint64
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	open := len(n.open)
	n.mu.Unlock()
	return Stats{
		ConnectionsOpen:     open,
		ConnectionsAccepted: n.stats.accepted.Load(),
		HandshakeFailures:   n.stats.handshakeFailures.Load(),
		ProtocolErrors:      n.stats.protocolErrors.Load(),
		Requests:            n.stats.requests.Load(),
		BusyReplies:         n.stats.busy.Load(),
		Panics:              n.stats.panics.Load(),
	}
}
