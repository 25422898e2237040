package wire

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyhold/keyhold/internal/ck"
)

// Conn is the client end of one connection to a node. Many goroutines may
// call Call at once: requests are pipelined on the connection and replies are
// matched to them by request ID, in whatever order the node sends them.
type Conn struct {
	nc    net.Conn
	w     frameWriter
	hello HelloReply

	nextID atomic.Uint64

	mu      sync.Mutex
	pending map[uint64]chan result
	err     error // set once, when the connection fails or closes

	done chan struct{} // closed when the reader goroutine has exited
}

type result struct {
	kind Kind
	body []byte
}

// DialOptions tune a client connection.
type DialOptions struct {
	// Hello is sent to open the connection; its versions default to this
	// package's MinVersion and MaxVersion.
	Hello HelloRequest
	// WriteTimeout bounds each write to the socket (default 10s).
	WriteTimeout time.Duration
}

// Dial connects to a node, completes the TLS handshake and the hello
// exchange, all bounded by ctx, and starts reading replies.
func Dial(ctx context.Context, addr string, cfg *tls.Config, opts DialOptions) (*Conn, error) {
	d := tls.Dialer{Config: cfg}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return newConn(ctx, nc, opts)
}

func newConn(ctx context.Context, nc net.Conn, opts DialOptions) (*Conn, error) {
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	hello := opts.Hello
	if hello.MinVersion == 0 && hello.MaxVersion == 0 {
		hello.MinVersion, hello.MaxVersion = MinVersion, MaxVersion
	}
	c := &Conn{
		nc:      nc,
		w:       frameWriter{conn: nc, timeout: opts.WriteTimeout},
		pending: make(map[uint64]chan result),
		done:    make(chan struct{}),
	}
	// The hello is sent and read synchronously, before the reader starts,
	// so that a node speaking another version never sees a second request.
	// It is bounded by ctx, canceled or past its deadline: a node that
	// completes the handshake and then stays silent must not hang Dial. When
	// ctx ends, a deadline in the past interrupts the read and the caller
	// gets ctx's error.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*Conn, error) {
		stop()
		nc.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("hello: %w", ctxErr)
		}
		return nil, err
	}
	body, err := Marshal(hello)
	if err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	id := c.nextID.Add(1)
	if err := c.w.write(Header{Kind: KindRequest, Op: OpHello, ID: id, DeadlineMS: deadlineMS(ctx)}, body); err != nil {
		return fail(fmt.Errorf("hello: %w", err))
	}
	h, rb, err := ReadFrame(br)
	if err != nil {
		return fail(fmt.Errorf("hello: %w", err))
	}
	if h.Kind == KindRequest || h.ID != id || h.Op != OpHello {
		return fail(fmt.Errorf("hello: %w: kind %d for op %v id %d", ErrFrameMalformed, h.Kind, h.Op, h.ID))
	}
	if h.Kind == KindError {
		var eb ErrorBody
		if err := Unmarshal(rb, &eb); err != nil {
			return fail(fmt.Errorf("hello: %w", err))
		}
		return fail(fmt.Errorf("hello: %w", RemoteError(eb)))
	}
	if err := Unmarshal(rb, &c.hello); err != nil {
		return fail(fmt.Errorf("hello: %w", err))
	}
	if c.hello.Version < hello.MinVersion || c.hello.Version > hello.MaxVersion {
		return fail(fmt.Errorf("hello: node chose version %d outside %d..%d", c.hello.Version, hello.MinVersion, hello.MaxVersion))
	}
	if !stop() {
		// ctx ended while the hello succeeded: the deadline may already be
		// in the past, and the caller has given up anyway.
		return fail(ctx.Err())
	}
	_ = nc.SetDeadline(time.Time{})
	go c.readLoop(br)
	return c, nil
}

// Hello returns what the node said when the connection opened.
func (c *Conn) Hello() HelloReply { return c.hello }

// Call sends one request and waits for its reply, or for ctx. A reply error
// is returned as *ck.Error; a broken connection as an error wrapping
// ErrClosed. When ctx ends first the request may still run on the node.
// A request whose body exceeds MaxBodySize is not sent: it fails with a
// *ck.Error of code CKR_ARGUMENTS_BAD and the connection stays usable.
func (c *Conn) Call(ctx context.Context, op Op, req, resp any) error {
	body, err := Marshal(req)
	if err != nil {
		return err
	}
	if len(body) > MaxBodySize {
		// The node would close the connection on such a frame, failing
		// every other request in flight on it: refuse this one alone.
		return ck.Errorf(ck.CKR_ARGUMENTS_BAD, "%v request body has %d bytes, limit %d; not sent", op, len(body), MaxBodySize)
	}
	id := c.nextID.Add(1)
	ch := make(chan result, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.pending[id] = ch
	c.mu.Unlock()

	if err := c.w.write(Header{Kind: KindRequest, Op: op, ID: id, DeadlineMS: deadlineMS(ctx)}, body); err != nil {
		c.shutdown(fmt.Errorf("%w: write: %v", ErrClosed, err))
		return c.Err()
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return c.Err()
		}
		if r.kind == KindError {
			var eb ErrorBody
			if err := Unmarshal(r.body, &eb); err != nil {
				return err
			}
			return RemoteError(eb)
		}
		if resp == nil {
			return nil
		}
		return Unmarshal(r.body, resp)
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return ctx.Err()
	}
}

func deadlineMS(ctx context.Context) uint32 {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	ms := time.Until(dl).Milliseconds()
	switch {
	case ms < 1:
		return 1
	case ms > 1<<31:
		return 1 << 31
	}
	return uint32(ms)
}

func (c *Conn) readLoop(br *bufio.Reader) {
	defer close(c.done)
	for {
		h, body, err := ReadFrame(br)
		if err != nil {
			c.shutdown(fmt.Errorf("%w: read: %v", ErrClosed, err))
			return
		}
		if h.Kind == KindRequest {
			c.shutdown(fmt.Errorf("%w: node sent a request frame", ErrFrameMalformed))
			return
		}
		c.mu.Lock()
		ch, ok := c.pending[h.ID]
		delete(c.pending, h.ID)
		c.mu.Unlock()
		if ok { // a reply to a request whose caller gave up is dropped
			ch <- result{kind: h.Kind, body: body}
		}
	}
}

// shutdown fails the connection once: it records why, closes the socket so
// that the reader exits, and wakes every waiting caller.
func (c *Conn) shutdown(why error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = why
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	c.w.fail(why)
	c.nc.Close()
	for _, ch := range pending {
		close(ch)
	}
}

// Err returns why the connection is unusable, or nil while it works.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done is closed when the connection has failed or closed and its reader has
// exited.
func (c *Conn) Done() <-chan struct{} { return c.done }

// InFlight returns the number of requests waiting for a reply.
func (c *Conn) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// Close closes the connection, fails the requests in flight, and returns
// once its goroutine has exited.
func (c *Conn) Close() error {
	c.shutdown(ErrClosed)
	<-c.done
	return nil
}

// IsTransport reports whether err means the connection failed (rather than
// the node answering with an error).
func IsTransport(err error) bool {
	return errors.Is(err, ErrClosed) || errors.Is(err, ErrFrameMalformed) || errors.Is(err, ErrFrameTooLarge)
}
