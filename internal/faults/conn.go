package faults

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// gate is where frozen connections wait. It costs one atomic load per
// read and write while the node is not frozen.
type gate struct {
	mu sync.Mutex
	// thawed is non-nil while frozen; it is closed when the node thaws.
	thawed atomic.Pointer[chan struct{}]
}

func (g *gate) set(on bool) {
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
func (g *gate) wait(stop <-chan struct{}) (time.Duration, bool) {
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

// Conn is a connection the node accepted, as the faults of its Set reach
// it. While the node is frozen it stops moving bytes with its socket left
// open, as a process stopped by SIGSTOP or a host behind a black-holed
// network looks from outside: clients and peers see a connection that
// takes bytes and never answers, not one that fails. Requests already read
// still run, but their replies wait; thawed, service resumes on the same
// connection, in the order the requests were sent.
type Conn struct {
	net.Conn
	set    *Set
	closed chan struct{}
	once   sync.Once

	// writeDeadline is the last write deadline set: a write that waited
	// for a thaw gets its deadline moved by the time it waited, so that a
	// freeze longer than the write timeout does not by itself cost the
	// connection: service resumes on it, as Set.Freeze promises.
	mu            sync.Mutex
	writeDeadline time.Time
}

// Pause waits while the node is frozen; false once the connection is
// closed. The node calls it before the TLS handshake, so that a frozen
// node completes none and the handshake's clock starts once it thaws, as a
// stopped process accepts a connection only once it runs again.
func (c *Conn) Pause() bool {
	_, ok := c.set.frozen.wait(c.closed)
	return ok
}

// Read holds what it read while the node is frozen, so that a request that
// arrives then is not seen before the thaw.
func (c *Conn) Read(p []byte) (int, error) {
	if !c.Pause() {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(p)
	if !c.Pause() {
		return 0, net.ErrClosed
	}
	return n, err
}

// Write waits while the node is frozen.
func (c *Conn) Write(p []byte) (int, error) {
	waited, ok := c.set.frozen.wait(c.closed)
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

// SetDeadline notes the write deadline (see writeDeadline).
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// SetWriteDeadline notes the write deadline (see writeDeadline).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

// Close closes the connection and forgets it.
func (c *Conn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.set.mu.Lock()
		delete(c.set.conns, c)
		c.set.mu.Unlock()
	})
	return c.Conn.Close()
}
