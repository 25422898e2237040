package wire

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
)

// forEachReadMode runs test with each way a connection reads replies: its
// callers taking turns, and a reader goroutine of its own (whose callers wait
// in futexes where the system has them).
func forEachReadMode(t *testing.T, test func(t *testing.T, opts DialOptions)) {
	t.Run("callers read", func(t *testing.T) { test(t, DialOptions{}) })
	t.Run("reader goroutine", func(t *testing.T) { test(t, DialOptions{ReaderGoroutine: true}) })
}

func TestConnHello(t *testing.T) {
	got := make(chan HelloRequest, 1)
	n := startNode(t, func(n *testNode) {
		n.hello = func(n *testNode, sc *ServerConn, h Header, body []byte) bool {
			var req HelloRequest
			if err := Unmarshal(body, &req); err == nil {
				got <- req
			}
			return negotiateHello(n, sc, h, body)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, n.addr(), n.clientTLS(t), DialOptions{Hello: HelloRequest{Client: "wire-test"}})
	require.NoError(t, err)
	defer c.Close()

	// Versions left zero default to what this package speaks.
	assert.Equal(t, HelloRequest{MinVersion: MinVersion, MaxVersion: MaxVersion, Client: "wire-test"}, within(t, time.Second, got))
	assert.Equal(t, HelloReply{Version: MaxVersion, Node: "test-node", Partitions: []PartitionSummary{{ID: 1, Name: "payments"}}}, c.Hello())
	assert.NoError(t, c.Err())
	assert.Zero(t, c.InFlight())
	select {
	case <-c.Done():
		t.Fatal("Done is closed on a working connection")
	default:
	}

	var r DataReply
	require.NoError(t, c.Call(ctx, OpSign, CryptRequest{Data: []byte("ping")}, &r))
	assert.Equal(t, "ping", string(r.Data))
}

// replyOrder records the request IDs in the order a node replied to them.
type replyOrder struct {
	mu  sync.Mutex
	ids []uint64
}

func (o *replyOrder) add(id uint64) {
	o.mu.Lock()
	o.ids = append(o.ids, id)
	o.mu.Unlock()
}

// inversions counts replies sent after a reply to a later request.
func (o *replyOrder) inversions() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for i := 1; i < len(o.ids); i++ {
		if o.ids[i] < o.ids[i-1] {
			n++
		}
	}
	return n
}

type request struct {
	h    Header
	body []byte
}

// reverseBatches replies to requests in batches of up to 16, last request
// first. A batch is sent when full, or when no request came for 1ms.
func reverseBatches(order *replyOrder) func(n *testNode, sc *ServerConn) {
	return func(n *testNode, sc *ServerConn) {
		in := make(chan request, 64)
		n.goAsync(func() {
			var batch []request
			flush := func() {
				for i := len(batch) - 1; i >= 0; i-- {
					order.add(batch[i].h.ID)
					echoReply(sc, batch[i].h, batch[i].body)
				}
				batch = batch[:0]
			}
			idle := time.NewTicker(time.Millisecond)
			defer idle.Stop()
			for {
				select {
				case r, ok := <-in:
					if !ok {
						return
					}
					batch = append(batch, r)
					if len(batch) == 16 {
						flush()
					}
				case <-idle.C:
					flush()
				}
			}
		})
		requests(sc, func(h Header, body []byte) { in <- request{h, body} })
		close(in)
	}
}

// randomDelays replies to each request from its own goroutine after up to
// 2ms.
func randomDelays(order *replyOrder) func(n *testNode, sc *ServerConn) {
	return func(n *testNode, sc *ServerConn) {
		requests(sc, func(h Header, body []byte) {
			n.goAsync(func() {
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				order.add(h.ID)
				echoReply(sc, h, body)
			})
		})
	}
}

func TestConnConcurrentCallsOutOfOrder(t *testing.T) {
	forEachReadMode(t, testConnConcurrentCallsOutOfOrder)
}

func testConnConcurrentCallsOutOfOrder(t *testing.T, opts DialOptions) {
	const goroutines, calls = 64, 50
	for _, tt := range []struct {
		name  string
		serve func(*replyOrder) func(*testNode, *ServerConn)
	}{
		{"reverse batches", reverseBatches},
		{"random delays", randomDelays},
	} {
		t.Run(tt.name, func(t *testing.T) {
			order := &replyOrder{}
			n := startNode(t, func(n *testNode) { n.serve = tt.serve(order) })
			c := n.dialWith(t, opts)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			var ok atomic.Int64
			for g := range goroutines {
				wg.Go(func() {
					for i := range calls {
						want := fmt.Sprintf("goroutine %d call %d", g, i)
						var r DataReply
						if !assert.NoError(t, c.Call(ctx, OpSign, CryptRequest{Partition: uint32(g), Handle: uint64(i), Data: []byte(want)}, &r)) {
							return
						}
						if !assert.Equal(t, want, string(r.Data)) {
							return
						}
						ok.Add(1)
					}
				})
			}
			wg.Wait()
			assert.Equal(t, int64(goroutines*calls), ok.Load())
			assert.Zero(t, c.InFlight())
			assert.NoError(t, c.Err())
			assert.Positive(t, order.inversions(), "the node never replied out of order: the test proves nothing")
		})
	}
}

// holdingNode echoes requests, except that it holds a request with Handle 1
// until release is closed (or the test ends), tells held about it, and
// reports on lateSent when it has replied to it.
type holdingNode struct {
	*testNode
	held     chan Header
	release  chan struct{}
	lateSent chan struct{}
}

func startHoldingNode(t *testing.T) *holdingNode {
	hn := &holdingNode{held: make(chan Header, 16), release: make(chan struct{}), lateSent: make(chan struct{}, 16)}
	hn.testNode = startNode(t, func(n *testNode) {
		n.serve = func(n *testNode, sc *ServerConn) {
			requests(sc, func(h Header, body []byte) {
				var req CryptRequest
				if Unmarshal(body, &req) != nil || req.Handle != 1 {
					echoReply(sc, h, body)
					return
				}
				n.goAsync(func() {
					hn.held <- h
					select {
					case <-hn.release:
					case <-n.done:
						return
					}
					_ = sc.Reply(h, DataReply{Data: []byte("late")})
					hn.lateSent <- struct{}{}
				})
			})
		}
	})
	return hn
}

func TestConnCallContextCanceled(t *testing.T) { forEachReadMode(t, testConnCallContextCanceled) }

func testConnCallContextCanceled(t *testing.T, opts DialOptions) {
	n := startHoldingNode(t)
	c := n.dialWith(t, opts)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		var r DataReply
		errc <- c.Call(ctx, OpSign, CryptRequest{Handle: 1, Data: []byte("held")}, &r)
	}()
	h := within(t, 5*time.Second, n.held)
	assert.Zero(t, h.DeadlineMS, "no deadline in ctx: none on the wire")
	assert.Equal(t, 1, c.InFlight())

	cancel()
	err := within(t, 5*time.Second, errc)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, ctx.Err(), err, "Call returns ctx.Err() itself")
	assert.False(t, IsTransport(err))
	assert.Zero(t, c.InFlight(), "a canceled call forgets its request")

	// The node replies after all. The connection drops the reply and goes on.
	close(n.release)
	within(t, 5*time.Second, n.lateSent)
	var r DataReply
	require.NoError(t, c.Call(context.Background(), OpSign, CryptRequest{Handle: 2, Data: []byte("second")}, &r))
	assert.Equal(t, "second", string(r.Data), "the late reply must not reach another call")
	assert.NoError(t, c.Err())
	assert.Zero(t, c.InFlight())
}

func TestConnCallDeadline(t *testing.T) { forEachReadMode(t, testConnCallDeadline) }

func testConnCallDeadline(t *testing.T, opts DialOptions) {
	n := startHoldingNode(t)
	c := n.dialWith(t, opts)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Call(ctx, OpSign, CryptRequest{Handle: 1}, &DataReply{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, ctx.Err(), err)
	assert.Less(t, time.Since(start), 5*time.Second)

	// The request carried the caller's remaining time.
	h := within(t, time.Second, n.held)
	assert.True(t, h.DeadlineMS > 0 && h.DeadlineMS <= 300, "DeadlineMS %d", h.DeadlineMS)
	assert.NoError(t, c.Err(), "a deadline is not a connection failure")
}

func TestConnServerCloseFailsPendingCalls(t *testing.T) {
	forEachReadMode(t, testConnServerCloseFailsPendingCalls)
}

func testConnServerCloseFailsPendingCalls(t *testing.T, opts DialOptions) {
	const pending = 8
	n := startNode(t, func(n *testNode) {
		n.serve = func(_ *testNode, sc *ServerConn) {
			for range pending {
				if _, _, err := sc.Read(); err != nil {
					return
				}
			}
			sc.Close() // without a reply to any of them
		}
	})
	c := n.dialWith(t, opts)

	errs := make(chan error, pending)
	for i := range pending {
		go func() { errs <- c.Call(context.Background(), OpSign, CryptRequest{Handle: uint64(i)}, &DataReply{}) }()
	}
	for range pending {
		err := within(t, 5*time.Second, errs)
		require.Error(t, err)
		assert.True(t, IsTransport(err), "%v", err)
		assert.ErrorIs(t, err, ErrClosed)
	}
	within(t, 5*time.Second, c.Done())
	assert.True(t, IsTransport(c.Err()))
	assert.Zero(t, c.InFlight())

	// Later calls fail at once, without touching the network.
	err := c.Call(context.Background(), OpPing, PingRequest{}, &PingReply{})
	assert.True(t, IsTransport(err), "%v", err)
	require.NoError(t, c.Close())
}

func TestConnCloseFailsPendingAndWaitsForReader(t *testing.T) {
	forEachReadMode(t, testConnCloseFailsPendingAndWaitsForReader)
}

func testConnCloseFailsPendingAndWaitsForReader(t *testing.T, opts DialOptions) {
	n := startHoldingNode(t)
	c := n.dialWith(t, opts)

	errc := make(chan error, 1)
	go func() { errc <- c.Call(context.Background(), OpSign, CryptRequest{Handle: 1}, &DataReply{}) }()
	within(t, 5*time.Second, n.held)

	require.NoError(t, c.Close())
	// Close returned: the reader has exited (goleak checks no goroutine is
	// left when the package's tests end).
	select {
	case <-c.Done():
	default:
		t.Fatal("Close returned before the reader exited")
	}
	err := within(t, 5*time.Second, errc)
	require.ErrorIs(t, err, ErrClosed)
	assert.True(t, IsTransport(err))
	require.ErrorIs(t, c.Err(), ErrClosed)

	require.NoError(t, c.Close(), "a second Close is harmless")
	require.ErrorIs(t, c.Call(context.Background(), OpPing, PingRequest{}, nil), ErrClosed)
}

func TestConnErrorReplies(t *testing.T) {
	n := startNode(t, func(n *testNode) {
		n.serve = func(_ *testNode, sc *ServerConn) {
			requests(sc, func(h Header, body []byte) {
				var req CryptRequest
				_ = Unmarshal(body, &req)
				switch req.Handle {
				case 1:
					_ = sc.ReplyError(h, ck.CKR_KEY_HANDLE_INVALID, "no such key")
				case 2: // an error body that does not decode
					_ = sc.w.write(Header{Kind: KindError, Op: h.Op, ID: h.ID}, []byte{0xff})
				case 3: // a reply body that does not decode as the reply
					_ = sc.w.write(Header{Kind: KindReply, Op: h.Op, ID: h.ID}, []byte{0xa1, 0x09, 0x00})
				case 4: // a reply to an ID nobody waits for
					_ = sc.Reply(Header{Op: h.Op, ID: h.ID + 1000}, DataReply{Data: []byte("stray")})
					echoReply(sc, h, body)
				default:
					echoReply(sc, h, body)
				}
			})
		}
	})
	c := n.dial(t)
	ctx := context.Background()

	var ce *ck.Error
	err := c.Call(ctx, OpSign, CryptRequest{Handle: 1}, &DataReply{})
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, &ck.Error{RV: ck.CKR_KEY_HANDLE_INVALID, Msg: "no such key"}, ce)
	assert.False(t, IsTransport(err))

	err = c.Call(ctx, Op(999), PingRequest{}, nil)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, CodeUnknownOp, ce.RV)
	assert.False(t, IsTransport(err))

	err = c.Call(ctx, OpSign, CryptRequest{Handle: 2}, &DataReply{})
	require.ErrorIs(t, err, ErrBadBody)
	assert.False(t, IsTransport(err))

	err = c.Call(ctx, OpSign, CryptRequest{Handle: 3}, &DataReply{})
	require.ErrorIs(t, err, ErrBadBody)

	var r DataReply
	require.NoError(t, c.Call(ctx, OpSign, CryptRequest{Handle: 4, Data: []byte("mine")}, &r))
	assert.Equal(t, "mine", string(r.Data))

	// A nil resp discards a successful reply.
	require.NoError(t, c.Call(ctx, OpSign, CryptRequest{Handle: 5}, nil))
	assert.NoError(t, c.Err(), "error replies leave the connection up")
}

func TestConnNodeSendsRequestFrame(t *testing.T) {
	n := startNode(t, func(n *testNode) {
		n.serve = func(_ *testNode, sc *ServerConn) {
			requests(sc, func(h Header, _ []byte) {
				_ = sc.w.write(Header{Kind: KindRequest, Op: h.Op, ID: h.ID}, []byte{0xa0})
			})
		}
	})
	c := n.dial(t)
	err := c.Call(context.Background(), OpPing, PingRequest{}, &PingReply{})
	require.Error(t, err)
	assert.True(t, IsTransport(err), "%v", err)
	require.ErrorIs(t, c.Err(), ErrFrameMalformed)
}

func TestConnCallRequestTooLarge(t *testing.T) {
	var seen atomic.Int64
	n := startNode(t, func(n *testNode) {
		n.serve = func(_ *testNode, sc *ServerConn) {
			requests(sc, func(h Header, body []byte) {
				seen.Add(1)
				echoReply(sc, h, body)
			})
		}
	})
	c := n.dial(t)

	// The body is over MaxBodySize by its CBOR overhead alone.
	err := c.Call(context.Background(), OpSign, CryptRequest{Data: make([]byte, MaxBodySize)}, &DataReply{})
	var ce *ck.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, ck.CKR_ARGUMENTS_BAD, ce.RV)
	assert.False(t, IsTransport(err), "an oversized request is the caller's fault, not the node's")

	var r DataReply
	require.NoError(t, c.Call(context.Background(), OpSign, CryptRequest{Data: make([]byte, MaxData)}, &r))
	assert.Len(t, r.Data, MaxData)
	assert.Equal(t, int64(1), seen.Load(), "the oversized request was never sent")
	assert.NoError(t, c.Err())
}

func TestServerConnReplyTooLarge(t *testing.T) {
	n := startNode(t, func(n *testNode) {
		n.serve = func(_ *testNode, sc *ServerConn) {
			requests(sc, func(h Header, body []byte) {
				if err := sc.Reply(h, DataReply{Data: make([]byte, MaxBodySize)}); err != nil {
					panic(err)
				}
			})
		}
	})
	c := n.dial(t)
	err := c.Call(context.Background(), OpGenerateRandom, GenerateRandomRequest{Length: 1}, &DataReply{})
	var ce *ck.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, ck.CKR_DEVICE_MEMORY, ce.RV)
	assert.NoError(t, c.Err(), "the connection survives")
}

func TestDialPins(t *testing.T) {
	p, other := pkis()
	n := startNode(t, nil)
	tests := []struct {
		name    string
		pin     ClientTLS
		wantErr func(t *testing.T, err error)
	}{
		{"CA", ClientTLS{RootCAs: p.pool}, nil},
		{"fingerprint", ClientTLS{Fingerprint: Fingerprint(p.serverLeaf)}, nil},
		{"CA and fingerprint", ClientTLS{RootCAs: p.pool, Fingerprint: Fingerprint(p.serverLeaf)}, nil},
		{"wrong fingerprint", ClientTLS{Fingerprint: Fingerprint(other.serverLeaf)}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrPinMismatch)
		}},
		{"CA fits, fingerprint does not", ClientTLS{RootCAs: p.pool, Fingerprint: Fingerprint(p.caCert)}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrPinMismatch)
		}},
		{"wrong CA", ClientTLS{RootCAs: other.pool}, func(t *testing.T, err error) {
			var ua x509.UnknownAuthorityError
			require.ErrorAs(t, err, &ua)
		}},
		{"wrong name", ClientTLS{RootCAs: p.pool, ServerName: "hsm-b.example.net"}, func(t *testing.T, err error) {
			var he x509.HostnameError
			require.ErrorAs(t, err, &he)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pin.Certificate = p.client
			cfg, err := tt.pin.Config()
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, n.addr(), cfg, DialOptions{})
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.NoError(t, c.Call(ctx, OpSign, CryptRequest{}, &DataReply{}))
				require.NoError(t, c.Close())
				return
			}
			require.Error(t, err)
			assert.Nil(t, c)
			tt.wantErr(t, err)
		})
	}
}

func TestDialClientNotEnrolled(t *testing.T) {
	p, other := pkis()
	n := startNode(t, nil)
	cfg, err := ClientTLS{Certificate: other.client, RootCAs: p.pool}.Config()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// TLS 1.3 lets the client finish its handshake before the node has
	// checked its certificate: the refusal arrives at the hello.
	_, err = Dial(ctx, n.addr(), cfg, DialOptions{})
	require.Error(t, err)
}

func TestDialHelloFailures(t *testing.T) {
	replyWith := func(f func(sc *ServerConn, h Header)) func(*testNode, *ServerConn, Header, []byte) bool {
		return func(_ *testNode, sc *ServerConn, h Header, _ []byte) bool {
			f(sc, h)
			return false
		}
	}
	tests := []struct {
		name    string
		hello   func(*testNode, *ServerConn, Header, []byte) bool
		opts    DialOptions
		wantErr func(t *testing.T, err error)
	}{
		{"no common version", negotiateHello, DialOptions{Hello: HelloRequest{MinVersion: MaxVersion + 1, MaxVersion: MaxVersion + 3}},
			func(t *testing.T, err error) {
				var ce *ck.Error
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, CodeVersion, ce.RV)
				assert.False(t, IsTransport(err))
			}},
		{"node speaks another version only", replyWith(func(sc *ServerConn, h Header) {
			_ = sc.ReplyError(h, CodeVersion, "this node speaks version 7")
		}), DialOptions{}, func(t *testing.T, err error) {
			var ce *ck.Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, &ck.Error{RV: CodeVersion, Msg: "this node speaks version 7"}, ce)
		}},
		{"node picks a version the client did not offer", replyWith(func(sc *ServerConn, h Header) {
			_ = sc.Reply(h, HelloReply{Version: MaxVersion + 1})
		}), DialOptions{}, func(t *testing.T, err error) {
			assert.Contains(t, err.Error(), "outside")
		}},
		{"reply to another ID", replyWith(func(sc *ServerConn, h Header) {
			_ = sc.Reply(Header{Op: OpHello, ID: h.ID + 1}, HelloReply{Version: 1})
		}), DialOptions{}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrFrameMalformed)
		}},
		{"reply for another op", replyWith(func(sc *ServerConn, h Header) {
			_ = sc.Reply(Header{Op: OpPing, ID: h.ID}, HelloReply{Version: 1})
		}), DialOptions{}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrFrameMalformed)
		}},
		{"request frame instead of a reply", replyWith(func(sc *ServerConn, h Header) {
			_ = sc.w.write(Header{Kind: KindRequest, Op: OpHello, ID: h.ID}, []byte{0xa1, 0x01, 0x01})
		}), DialOptions{}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrFrameMalformed)
		}},
		{"malformed hello reply", replyWith(func(sc *ServerConn, h Header) {
			_ = sc.w.write(Header{Kind: KindReply, Op: OpHello, ID: h.ID}, []byte{0xa1, 0x07, 0x01})
		}), DialOptions{}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrBadBody)
		}},
		{"malformed error body", replyWith(func(sc *ServerConn, h Header) {
			_ = sc.w.write(Header{Kind: KindError, Op: OpHello, ID: h.ID}, []byte{0x01})
		}), DialOptions{}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrBadBody)
		}},
		{"connection closed", replyWith(func(*ServerConn, Header) {}), DialOptions{}, func(t *testing.T, err error) {
			require.Error(t, err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startNode(t, func(n *testNode) { n.hello = tt.hello })
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, n.addr(), n.clientTLS(t), tt.opts)
			require.Error(t, err)
			assert.Nil(t, c)
			tt.wantErr(t, err)
		})
	}
}

func TestDialHelloBoundedByContext(t *testing.T) {
	// A node that completes the handshake and never answers the hello.
	silent := func(n *testNode, _ *ServerConn, _ Header, _ []byte) bool {
		<-n.done
		return false
	}
	t.Run("canceled", func(t *testing.T) {
		n := startNode(t, func(n *testNode) { n.hello = silent })
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := Dial(ctx, n.addr(), n.clientTLS(t), DialOptions{})
		require.ErrorIs(t, err, context.Canceled)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("deadline", func(t *testing.T) {
		n := startNode(t, func(n *testNode) { n.hello = silent })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := Dial(ctx, n.addr(), n.clientTLS(t), DialOptions{})
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestDialUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	p, _ := pkis()
	cfg, err := ClientTLS{Certificate: p.client, RootCAs: p.pool}.Config()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Dial(ctx, addr, cfg, DialOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), addr)
}

// pipeNode answers the hello on the far end of a net.Pipe and then runs
// after. It returns the client end, and a function that waits for the node.
func pipeNode(t *testing.T, after func(sc *ServerConn)) (net.Conn, func()) {
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer server.Close()
		sc := NewServerConn(server, time.Second)
		h, body, err := sc.Read()
		if err != nil || !negotiateHello(nil, sc, h, body) {
			return
		}
		after(sc)
	}()
	return client, func() { <-done }
}

func TestConnWriteTimeout(t *testing.T) {
	// The node stops reading after the hello. net.Pipe has no buffer, so
	// the next request blocks in Write until the write timeout fails the
	// connection.
	stop := make(chan struct{})
	nc, wait := pipeNode(t, func(*ServerConn) { <-stop })
	defer wait()
	defer close(stop)

	c, err := newConn(context.Background(), nc, DialOptions{WriteTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()

	start := time.Now()
	err = c.Call(context.Background(), OpPing, PingRequest{}, &PingReply{})
	require.Error(t, err)
	assert.True(t, IsTransport(err), "%v", err)
	assert.Less(t, time.Since(start), 5*time.Second)
	within(t, 5*time.Second, c.Done())
}

func TestServerConnReadRefusesReplies(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go func() {
		_, _ = client.Write(AppendFrame(nil, Header{Kind: KindReply, Op: OpPing, ID: 1}, []byte{0xa0}))
	}()
	_, _, err := NewServerConn(server, time.Second).Read()
	require.ErrorIs(t, err, ErrFrameMalformed)
}

func TestServerConnReplyHeaders(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	sc := NewServerConn(server, time.Second)
	req := Header{Kind: KindRequest, Op: OpSign, ID: 77, DeadlineMS: 900}
	go func() {
		_ = sc.Reply(req, DataReply{Data: []byte{1}})
		_ = sc.ReplyError(req, ck.CKR_PIN_INCORRECT, "no")
		_ = sc.Close()
	}()
	r := NewServerConn(client, time.Second).r // a plain frame reader

	h, body, err := ReadFrame(r)
	require.NoError(t, err)
	assert.Equal(t, Header{Kind: KindReply, Op: OpSign, ID: 77}, h, "a reply repeats op and ID, and has no deadline")
	var dr DataReply
	require.NoError(t, Unmarshal(body, &dr))
	assert.Equal(t, []byte{1}, dr.Data)

	h, body, err = ReadFrame(r)
	require.NoError(t, err)
	assert.Equal(t, Header{Kind: KindError, Op: OpSign, ID: 77}, h)
	var eb ErrorBody
	require.NoError(t, Unmarshal(body, &eb))
	assert.Equal(t, ErrorBody{Code: ck.CKR_PIN_INCORRECT, Message: "no"}, eb)

	_, _, err = ReadFrame(r)
	assert.ErrorIs(t, err, io.EOF)
}

func TestFrameWriterFailsAfterError(t *testing.T) {
	client, server := net.Pipe()
	server.Close()
	w := frameWriter{conn: client, timeout: time.Second}
	err := w.write(Header{Kind: KindRequest, Op: OpPing, ID: 1}, nil)
	require.Error(t, err)
	// Later writes return the first error without touching the connection.
	assert.Equal(t, err, w.write(Header{Kind: KindRequest, Op: OpPing, ID: 2}, nil))

	w2 := frameWriter{conn: client}
	w2.fail(ErrClosed)
	assert.Same(t, ErrClosed, w2.write(Header{Kind: KindRequest, Op: OpPing, ID: 3}, nil))
	client.Close()
}
