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

	"github.com/keyhold/keyhold/ck"
)

// Conn is the client end of one connection to a node. Many goroutines may
// call Call at once: requests are pipelined on the connection and replies are
// matched to them by request ID, in whatever order the node sends them.
//
// There is no reader goroutine. The callers take turns reading: the one
// holding readTok reads frames, hands other callers their replies, and gives
// the turn up when its own reply has come. A lone caller thus receives its
// reply directly from the socket, without waking another goroutine — on an
// idle connection that wake-up would be a large part of the latency — while
// under load replies still fan out to many waiting callers.
type Conn struct {
	nc    net.Conn
	w     frameWriter
	fr    frameReader // used only by the holder of readTok
	hello HelloReply

	nextID  atomic.Uint64
	readTok chan struct{} // capacity 1: whoever sends into it is the reader

	mu      sync.Mutex
	pending map[uint64]*call
	reader  uint64 // request ID of the call that is reading, 0 when none
	err     error  // set once, when the connection fails or closes

	done       chan struct{} // closed when the connection has failed or closed
	readerDone chan struct{} // closed when the reader goroutine ended; nil without one
}

type result struct {
	kind Kind
	body []byte
}

// call is a request waiting for its reply. Callers that take turns reading
// wait on ch. With a reader goroutine, and where the system has futexes,
// they wait on done instead, in a system call: a caller on a thread that
// foreign code has locked then sleeps and wakes as a plain thread does,
// without handing its thread's scheduler slot back and forth, which costs two
// thread switches each time.
type call struct {
	ch chan result

	done   atomic.Uint32 // callDone once reply or closed is set; callCanceled when the caller gave up
	reply  result
	closed bool
}

const (
	callWaiting uint32 = iota
	callDone
	callCanceled
)

func (cl *call) deliver(r result) {
	if cl.ch != nil {
		cl.ch <- r
		return
	}
	cl.reply = r
	cl.done.Store(callDone)
	futexWake(&cl.done)
}

func (cl *call) fail() {
	if cl.ch != nil {
		close(cl.ch)
		return
	}
	cl.closed = true
	cl.done.Store(callDone)
	futexWake(&cl.done)
}

// DialOptions tune a client connection.
type DialOptions struct {
	// Hello is sent to open the connection; its versions default to this
	// package's MinVersion and MaxVersion.
	Hello HelloRequest
	// WriteTimeout bounds each write to the socket (default 10s).
	WriteTimeout time.Duration
	// ReaderGoroutine makes the connection read replies on a goroutine of
	// its own instead of on its callers', and (on Linux) makes callers wait
	// for their replies in a futex. Callers that run on threads a foreign
	// caller has locked (the C library's) gain from it: passing the turn to
	// read between such threads, or parking one, costs thread switches.
	ReaderGoroutine bool
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
		pending: make(map[uint64]*call),
		readTok: make(chan struct{}, 1),
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
	c.w.deadline = time.Time{} // cleared with the hello's deadline
	c.fr.r = br
	if opts.ReaderGoroutine {
		// The reader holds the turn for good; callers only wait for
		// their replies. It ends when the connection fails or closes.
		c.readTok <- struct{}{}
		c.readerDone = make(chan struct{})
		go func() {
			defer close(c.readerDone)
			_, _, _ = c.readUntil(context.Background(), 0, nil)
		}()
	}
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
	if err := ctx.Err(); err != nil {
		// Not sent: a caller that has given up gets its answer at once and
		// the node is spared the work.
		return err
	}
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
	cl := &call{}
	if c.readerDone == nil || !futexWaits {
		cl.ch = make(chan result, 1)
	}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.pending[id] = cl
	var flags uint8
	if len(c.pending) > 1 {
		flags = FlagPipelined
	}
	c.mu.Unlock()

	if err := c.w.write(Header{Kind: KindRequest, Flags: flags, Op: op, ID: id, DeadlineMS: deadlineMS(ctx)}, body); err != nil {
		c.shutdown(fmt.Errorf("%w: write: %v", ErrClosed, err))
		return c.Err()
	}
	if cl.ch == nil {
		return c.await(ctx, id, cl, resp)
	}
	ch := cl.ch
	for {
		select {
		case r, ok := <-ch:
			return c.finish(r, ok, resp)
		case <-ctx.Done():
			c.forget(id)
			return ctx.Err()
		case c.readTok <- struct{}{}:
			r, ok, err := c.readUntil(ctx, id, ch)
			<-c.readTok
			if err != nil {
				return err
			}
			return c.finish(r, ok, resp)
		}
	}
}

// finish turns a delivered reply into Call's result.
func (c *Conn) finish(r result, ok bool, resp any) error {
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
}

// await waits for the reply to cl in a futex wait, or for ctx.
func (c *Conn) await(ctx context.Context, id uint64, cl *call, resp any) error {
	stop := context.AfterFunc(ctx, func() {
		if cl.done.CompareAndSwap(callWaiting, callCanceled) {
			futexWake(&cl.done)
		}
	})
	defer stop()
	for {
		switch cl.done.Load() {
		case callDone:
			return c.finish(cl.reply, !cl.closed, resp)
		case callCanceled:
			c.forget(id)
			return ctx.Err()
		}
		futexWait(&cl.done, callWaiting)
	}
}

func (c *Conn) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// readUntil reads frames for every waiting caller until the reply to id
// arrives, or ctx ends, or the connection fails. The caller holds readTok.
func (c *Conn) readUntil(ctx context.Context, id uint64, ch chan result) (result, bool, error) {
	// The reply may have been delivered while we waited for the turn.
	select {
	case r, ok := <-ch:
		return r, ok, nil
	default:
	}
	// When ctx ends, a read deadline in the past interrupts the read. Reads
	// resume cleanly after that (frameReader keeps a partial frame, and TLS
	// keeps a partial record), so the next reader goes on where this one
	// stopped. The check of c.reader keeps a late interrupt from hitting the
	// next reader.
	c.mu.Lock()
	c.reader = id
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		if c.reader == id {
			_ = c.nc.SetReadDeadline(time.Unix(1, 0))
		}
		c.mu.Unlock()
	})
	defer func() {
		interrupted := !stop()
		c.mu.Lock()
		c.reader = 0
		c.mu.Unlock()
		if interrupted {
			_ = c.nc.SetReadDeadline(time.Time{})
		}
	}()
	for {
		h, body, err := c.fr.next()
		if err != nil {
			var ne net.Error
			if ctx.Err() != nil && errors.As(err, &ne) && ne.Timeout() {
				c.forget(id)
				return result{}, false, ctx.Err()
			}
			c.shutdown(fmt.Errorf("%w: read: %v", ErrClosed, err))
			return result{}, false, c.Err()
		}
		if h.Kind == KindRequest {
			c.shutdown(fmt.Errorf("%w: node sent a request frame", ErrFrameMalformed))
			return result{}, false, c.Err()
		}
		c.mu.Lock()
		dst, ok := c.pending[h.ID]
		delete(c.pending, h.ID)
		c.mu.Unlock()
		if h.ID == id {
			return result{kind: h.Kind, body: body}, true, nil
		}
		if ok { // a reply to a request whose caller gave up is dropped
			dst.deliver(result{kind: h.Kind, body: body})
		}
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

// shutdown fails the connection once: it records why, closes the socket so
// that a reading caller returns, and wakes every waiting caller.
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
	close(c.done)
	c.w.fail(why)
	c.nc.Close()
	for _, cl := range pending {
		cl.fail()
	}
}

// Err returns why the connection is unusable, or nil while it works.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done is closed when the connection has failed or closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// InFlight returns the number of requests waiting for a reply.
func (c *Conn) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// Close closes the connection and fails the requests in flight. Nothing of
// the connection outlives Close: it waits for its reader goroutine, if it has
// one.
func (c *Conn) Close() error {
	c.shutdown(ErrClosed)
	if c.readerDone != nil {
		<-c.readerDone
	}
	return nil
}

// IsTransport reports whether err means the connection failed (rather than
// the node answering with an error).
func IsTransport(err error) bool {
	return errors.Is(err, ErrClosed) || errors.Is(err, ErrFrameMalformed) || errors.Is(err, ErrFrameTooLarge)
}
