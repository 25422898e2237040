package testenv

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Freeze makes the node stop reading and stop answering, with every socket
// left open, as a process stopped by SIGSTOP or a host behind a black-holed
// network looks from outside: clients and peers see connections that accept
// bytes and never answer, not connections that fail. Requests already read
// still run, but their replies wait; connections accepted meanwhile complete
// no handshake. Freeze(false) resumes service on the same connections, in
// the order the requests were sent.
//
// Only the node's side of its connections freezes. A frozen node's own
// links to its peers are left alone: it sends nothing on them anyway while
// it answers nobody, since every change it pushes comes from a request.
func (n *Node) Freeze(on bool) { n.frozen.set(on) }

// freezeGate is where frozen connections wait. It costs one atomic load
// per read and write while the node is not frozen.
type freezeGate struct {
	mu sync.Mutex
	// thawed is non-nil while frozen; it is closed when the node thaws.
	thawed atomic.Pointer[chan struct{}]
}

func (g *freezeGate) set(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cur := g.thawed.Load()
	switch {
	case on && cur == nil:
		ch := make(chan struct{})
		g.thawed.Store(&ch)
	case !on && cur != nil:
		g.thawed.Store(nil)
		close(*cur)
	}
}

// wait blocks while the gate is frozen, until it thaws or stop is closed.
// It returns how long it waited, and false if stop ended the wait.
func (g *freezeGate) wait(stop <-chan struct{}) (time.Duration, bool) {
	p := g.thawed.Load()
	if p == nil {
		return 0, true
	}
	start := time.Now()
	select {
	case <-*p:
		return time.Since(start), true
	case <-stop:
		return time.Since(start), false
	}
}

// freezableConn is an accepted connection that stops moving bytes while
// its node is frozen.
type freezableConn struct {
	net.Conn
	gate   *freezeGate
	closed chan struct{}
	once   sync.Once

	// writeDeadline is the last write deadline set: a write that waited
	// for a thaw gets its deadline moved by the time it waited, so that a
	// freeze longer than the write timeout does not by itself cost the
	// connection: service resumes on it, as Freeze promises.
	mu            sync.Mutex
	writeDeadline time.Time
}

func newFreezableConn(nc net.Conn, g *freezeGate) *freezableConn {
	return &freezableConn{Conn: nc, gate: g, closed: make(chan struct{})}
}

// pause waits while the node is frozen; false once the connection is closed.
func (c *freezableConn) pause() bool {
	_, ok := c.gate.wait(c.closed)
	return ok
}

// Read holds what it read while the node is frozen, so that a request that
// arrives then is not seen before the thaw.
func (c *freezableConn) Read(p []byte) (int, error) {
	if !c.pause() {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(p)
	if !c.pause() {
		return 0, net.ErrClosed
	}
	return n, err
}

func (c *freezableConn) Write(p []byte) (int, error) {
	waited, ok := c.gate.wait(c.closed)
	if !ok {
		return 0, net.ErrClosed
	}
	if waited > 0 {
		c.mu.Lock()
		if !c.writeDeadline.IsZero() {
			c.writeDeadline = c.writeDeadline.Add(waited)
			_ = c.Conn.SetWriteDeadline(c.writeDeadline)
		}
		c.mu.Unlock()
	}
	return c.Conn.Write(p)
}

func (c *freezableConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *freezableConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *freezableConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}
