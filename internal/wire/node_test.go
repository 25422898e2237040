package wire

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testNode is a minimal node on 127.0.0.1: real TCP, real TLS 1.3 with client
// certificates (ServerTLS), and ServerConn for the frames. What it does with
// the hello and the requests after it is up to each test.
type testNode struct {
	pki *testPKI
	ln  net.Listener

	// hello answers the first request of a connection and reports whether
	// the connection goes on. Default: negotiate like a node does.
	hello func(n *testNode, sc *ServerConn, h Header, body []byte) bool
	// serve handles the connection after the hello. Default: echo.
	serve func(n *testNode, sc *ServerConn)

	done  chan struct{} // closed when the test ends
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

// startNode starts a node; configure may set its hello and serve functions.
// The node stops, and waits for every goroutine it started, when the test
// ends.
func startNode(t *testing.T, configure func(n *testNode)) *testNode {
	t.Helper()
	p, _ := pkis()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	n := &testNode{pki: p, ln: ln, hello: negotiateHello, serve: echo, done: make(chan struct{})}
	if configure != nil {
		configure(n)
	}
	n.wg.Add(1)
	go n.accept()
	t.Cleanup(n.stop)
	return n
}

func (n *testNode) addr() string { return n.ln.Addr().String() }

func (n *testNode) stop() {
	close(n.done)
	n.ln.Close()
	n.mu.Lock()
	for _, c := range n.conns {
		c.Close()
	}
	n.mu.Unlock()
	n.wg.Wait()
}

// goAsync runs f on a goroutine that stop waits for.
func (n *testNode) goAsync(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

func (n *testNode) accept() {
	defer n.wg.Done()
	for {
		raw, err := n.ln.Accept()
		if err != nil {
			return
		}
		n.mu.Lock()
		n.conns = append(n.conns, raw)
		n.mu.Unlock()
		n.goAsync(func() { n.handle(raw) })
	}
}

func (n *testNode) handle(raw net.Conn) {
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Server(raw, ServerTLS(n.pki.server, n.pki.pool))
	if err := tc.Handshake(); err != nil {
		return
	}
	sc := NewServerConn(tc, 5*time.Second)
	h, body, err := sc.Read()
	if err != nil {
		return
	}
	_ = raw.SetDeadline(time.Time{})
	if !n.hello(n, sc, h, body) {
		return
	}
	n.serve(n, sc)
}

// negotiateHello answers a hello as a node does.
func negotiateHello(_ *testNode, sc *ServerConn, h Header, body []byte) bool {
	if h.Op != OpHello {
		_ = sc.ReplyError(h, CodeHelloRequired, "the first request on a connection must be Hello")
		return false
	}
	var req HelloRequest
	if err := Unmarshal(body, &req); err != nil {
		_ = sc.ReplyError(h, CodeBadRequest, "malformed Hello request")
		return false
	}
	v, ok := NegotiateVersion(req)
	if !ok {
		_ = sc.ReplyError(h, CodeVersion, "no common protocol version")
		return false
	}
	return sc.Reply(h, HelloReply{Version: v, Node: "test-node", Partitions: []PartitionSummary{{ID: 1, Name: "payments"}}}) == nil
}

// requests calls handle for each request after the hello until the
// connection fails. Unknown ops are answered CodeUnknownOp, as a node does.
func requests(sc *ServerConn, handle func(h Header, body []byte)) {
	for {
		h, body, err := sc.Read()
		if err != nil {
			return
		}
		if !h.Op.Known() {
			_ = sc.ReplyError(h, CodeUnknownOp, "unknown op")
			continue
		}
		handle(h, body)
	}
}

// echo answers each request, read as a CryptRequest, with its Data.
func echo(_ *testNode, sc *ServerConn) {
	requests(sc, func(h Header, body []byte) { echoReply(sc, h, body) })
}

func echoReply(sc *ServerConn, h Header, body []byte) {
	var req CryptRequest
	if err := Unmarshal(body, &req); err != nil {
		_ = sc.ReplyError(h, CodeBadRequest, "malformed request")
		return
	}
	_ = sc.Reply(h, DataReply{Data: req.Data})
}

// clientTLS returns the TLS configuration of an enrolled client that pins
// the node by CA.
func (n *testNode) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	cfg, err := ClientTLS{Certificate: n.pki.client, RootCAs: n.pki.pool}.Config()
	require.NoError(t, err)
	return cfg
}

// dial opens a connection to the node that is closed when the test ends.
func (n *testNode) dial(t *testing.T) *Conn {
	t.Helper()
	return n.dialWith(t, DialOptions{})
}

// dialWith is dial with options.
func (n *testNode) dialWith(t *testing.T, opts DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, n.addr(), n.clientTLS(t), opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// within fails the test if ch yields nothing within d.
func within[T any](t *testing.T, d time.Duration, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		require.FailNow(t, "timed out", "nothing after %v", d)
		panic("unreachable")
	}
}
