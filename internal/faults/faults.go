// Package faults is the fault injection shared by the HSM node (package
// server) and its test harness (package testenv). The node consults a Set
// at the few places where a fault can strike: accepting a connection,
// reading and writing it, before dispatching a request and before
// answering it. A nil *Set injects nothing, which is what a production node
// runs with; every method is safe on it.
//
// Failover tests need nodes that are slow, overloaded, unreachable, stopped
// or cut off mid-stream, on demand, and switched back while the node
// serves. Keeping the switches here, rather than as methods of the node,
// keeps them out of the product's API.
package faults

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyhold/keyhold/internal/wire"
)

// Set is the faults injected into one node. Its zero value injects none.
type Set struct {
	latency atomic.Int64 // time.Duration added before each reply
	busy    atomic.Bool
	refuse  atomic.Bool
	drops   replyDrops
	frozen  gate

	beforeDispatch atomic.Pointer[func(wire.Header)]
	afterClaim     atomic.Pointer[func(wire.Op)]
	kill           atomic.Pointer[func()]

	mu    sync.Mutex
	conns map[*Conn]struct{}
}

// SetLatency adds d before each reply to a client (0 removes it).
func (s *Set) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// Latency returns the latency to add before each reply.
func (s *Set) Latency() time.Duration {
	if s == nil {
		return 0
	}
	return time.Duration(s.latency.Load())
}

// SetBusy makes the node answer every client request busy.
func (s *Set) SetBusy(on bool) { s.busy.Store(on) }

// Busy reports whether the node is to answer busy.
func (s *Set) Busy() bool { return s != nil && s.busy.Load() }

// RefuseConnections makes the node close new connections at once.
func (s *Set) RefuseConnections(on bool) { s.refuse.Store(on) }

// DropReplies makes the node lose the replies to the next count requests of
// op, with their connections (count 0 cancels what is left).
func (s *Set) DropReplies(op wire.Op, count int) { s.drops.set(op, count) }

// TakeDrop reports whether the reply to a request of op is to be lost.
func (s *Set) TakeDrop(op wire.Op) bool { return s != nil && s.drops.take(op) }

// Freeze makes every connection of the node stop moving bytes, with its
// socket left open, until Freeze(false); see Conn.
func (s *Set) Freeze(on bool) { s.frozen.set(on) }

// SetBeforeDispatch sets a hook run before each client request is
// dispatched (nil removes it), to inject a panic.
func (s *Set) SetBeforeDispatch(f func(wire.Header)) {
	if f == nil {
		s.beforeDispatch.Store(nil)
		return
	}
	s.beforeDispatch.Store(&f)
}

// BeforeDispatch runs the hook set by SetBeforeDispatch, if any.
func (s *Set) BeforeDispatch(h wire.Header) {
	if s == nil {
		return
	}
	if f := s.beforeDispatch.Load(); f != nil {
		(*f)(h)
	}
}

// SetAfterClaim sets a hook run when a deduplicated request has been
// claimed on the node's peers, before it acts (nil removes it).
func (s *Set) SetAfterClaim(f func(wire.Op)) {
	if f == nil {
		s.afterClaim.Store(nil)
		return
	}
	s.afterClaim.Store(&f)
}

// AfterClaim runs the hook set by SetAfterClaim, if any.
func (s *Set) AfterClaim(op wire.Op) {
	if s == nil {
		return
	}
	if f := s.afterClaim.Load(); f != nil {
		(*f)(op)
	}
}

// OnKill is called by the node with what Kill must do to it: the node
// knows how to lose its memory, the harness knows when.
func (s *Set) OnKill(f func()) {
	if s != nil {
		s.kill.Store(&f)
	}
}

// Kill runs what the node registered with OnKill.
func (s *Set) Kill() {
	if f := s.kill.Load(); f != nil {
		(*f)()
	}
}

// Accept wraps a connection the node accepted so that the faults reach it.
// It returns nil, having closed nc, when connections are refused.
func (s *Set) Accept(nc net.Conn) net.Conn {
	if s == nil {
		return nc
	}
	if s.refuse.Load() {
		nc.Close()
		return nil
	}
	c := &Conn{Conn: nc, set: s, closed: make(chan struct{})}
	s.mu.Lock()
	if s.conns == nil {
		s.conns = make(map[*Conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c
}

// DropConnections closes every connection the node accepted and still has
// open, as a network failure would.
func (s *Set) DropConnections() {
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// replyDrops counts the replies still to drop, per op.
type replyDrops struct {
	armed atomic.Bool // any count is positive: the hot path reads this only
	mu    sync.Mutex
	left  map[wire.Op]int
}

func (d *replyDrops) set(op wire.Op, count int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.left == nil {
		d.left = make(map[wire.Op]int)
	}
	if count > 0 {
		d.left[op] = count
	} else {
		delete(d.left, op)
	}
	d.armed.Store(len(d.left) > 0)
}

func (d *replyDrops) take(op wire.Op) bool {
	if !d.armed.Load() {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.left[op] <= 0 {
		return false
	}
	d.left[op]--
	if d.left[op] == 0 {
		delete(d.left, op)
	}
	d.armed.Store(len(d.left) > 0)
	return true
}
