package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// raftALPN is the TLS application protocol of Raft's connections. They
// arrive on the node's own listener, so that a cluster needs one port per
// node: conn.serve hands a connection that negotiated it, from a peer
// certificate, to the stream layer instead of reading wire frames from it.
const raftALPN = "keyhold-raft/1"

// errStreamClosed is returned by Accept and Dial once the stream layer is
// closed, and by Dial while the node is stopped.
var errStreamClosed = errors.New("server: raft stream closed")

// raftStream is the raft.StreamLayer of a node: mutual TLS with the nodes'
// certificates (the node CA), over the node's listener for what comes in.
// It keeps every connection it gave to the transport, so that Close, and
// a stop of the node, leave none open: the transport does not close the
// connections it accepted when it shuts down.
type raftStream struct {
	addr net.Addr
	dial *tls.Config

	accepted chan net.Conn
	closed   chan struct{}
	once     sync.Once

	mu    sync.Mutex
	conns map[*streamConn]struct{}
	down  bool // the node is stopped: no connection in or out
}

func newRaftStream(addr net.Addr, dial *tls.Config) *raftStream {
	cfg := dial.Clone()
	cfg.NextProtos = []string{raftALPN}
	return &raftStream{
		addr:     addr,
		dial:     cfg,
		accepted: make(chan net.Conn),
		closed:   make(chan struct{}),
		conns:    map[*streamConn]struct{}{},
	}
}

// Accept waits for a connection that conn.serve handed over.
func (s *raftStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.accepted:
		return c, nil
	case <-s.closed:
		return nil, fmt.Errorf("%w: %w", errStreamClosed, net.ErrClosed)
	}
}

// handoff gives an accepted connection, its handshake done, to the
// transport. It reports false (and closes c) when the stream is closed or
// the node stopped. raw is the connection under c's TLS.
func (s *raftStream) handoff(c, raw net.Conn) bool {
	// raw is set before the connection is tracked: setDown may close it
	// from another goroutine as soon as it is.
	tc, ok := s.track(c, raw)
	if !ok {
		return false
	}
	select {
	case s.accepted <- tc:
		return true
	case <-s.closed:
		tc.Close()
		return false
	}
}

// Close stops accepting and closes every connection of the stream.
func (s *raftStream) Close() error {
	s.once.Do(func() { close(s.closed) })
	s.dropAll()
	return nil
}

// Addr is the node's address, which is its Raft server address.
func (s *raftStream) Addr() net.Addr { return s.addr }

// Dial connects to a peer's node and completes the TLS handshake, within
// timeout. The peer must present a node certificate and agree to speak
// Raft.
func (s *raftStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, errStreamClosed
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: s.dial}
	c, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, err
	}
	if c.(*tls.Conn).ConnectionState().NegotiatedProtocol != raftALPN {
		c.Close()
		return nil, fmt.Errorf("server: %s does not speak Raft (a node without Raft replication)", address)
	}
	tc, ok := s.track(c, nil)
	if !ok {
		return nil, errStreamClosed
	}
	return tc, nil
}

// setDown cuts the stream off while the node is stopped, as the network
// would: open connections are closed, and none is made until it is up.
func (s *raftStream) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
	if down {
		s.dropAll()
	}
}

func (s *raftStream) track(c, raw net.Conn) (*streamConn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		c.Close()
		return nil, false
	default:
	}
	if s.down {
		c.Close()
		return nil, false
	}
	tc := &streamConn{Conn: c, s: s, raw: raw}
	s.conns[tc] = struct{}{}
	return tc, true
}

func (s *raftStream) dropAll() {
	s.mu.Lock()
	conns := make([]*streamConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// streamConn is a connection of the stream, forgotten when it is closed.
type streamConn struct {
	net.Conn
	s *raftStream
	// raw is the accepted connection under the TLS one (nil for dialed
	// ones). It is closed first: closing TLS writes an alert, which a
	// connection that takes no bytes (a frozen node's) would hold forever.
	raw net.Conn
}

func (c *streamConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	if c.raw != nil {
		c.raw.Close()
	}
	return c.Conn.Close()
}
