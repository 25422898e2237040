package wire

import (
	"net"
	"sync"
	"time"
)

// frameWriter sends frames from many goroutines over one connection and
// coalesces them: whoever finds the connection idle becomes the flusher and
// keeps writing until the buffer is empty, while the others only append. Under
// load many frames share one TLS record and one system call; an idle
// connection pays no extra latency, and no goroutine is needed.
type frameWriter struct {
	conn    net.Conn
	timeout time.Duration // bounds each write, so a peer that stops reading can't block callers forever

	mu       sync.Mutex
	deadline time.Time // the write deadline installed on conn
	buf      []byte
	spare    []byte
	flushing bool
	held     int // requests begun (see hold) whose replies are not all written
	err      error
}

// maxHeldBytes bounds the replies kept back while other requests of the
// connection are still running (see hold).
const maxHeldBytes = 1 << 10

// maxPendingWrite bounds the bytes waiting to be sent. A peer that reads
// slower than its requests arrive gets backpressure through the blocked
// flusher rather than unbounded buffering.
const maxPendingWrite = 8 << 20

func (w *frameWriter) write(h Header, body []byte) error {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	for w.flushing && len(w.buf) > maxPendingWrite {
		// Rare: wait for the flusher to drain, without spinning hard.
		w.mu.Unlock()
		time.Sleep(100 * time.Microsecond)
		w.mu.Lock()
		if w.err != nil {
			err := w.err
			w.mu.Unlock()
			return err
		}
	}
	w.buf = AppendFrame(w.buf, h, body)
	if w.flushing || (w.held > 0 && len(w.buf) < maxHeldBytes) {
		w.mu.Unlock()
		return nil
	}
	return w.flushLocked()
}

// hold marks a request of the connection as running: replies written while
// any is running are kept back (up to maxHeldBytes) and go out together when
// the last of them releases. Under load one system call then carries
// several replies, instead of one each; an idle connection, where a request
// runs alone, still gets its reply at once.
func (w *frameWriter) hold() {
	w.mu.Lock()
	w.held++
	w.mu.Unlock()
}

// release ends what hold began and sends what was kept back if nothing else
// is running.
func (w *frameWriter) release() error {
	w.mu.Lock()
	w.held--
	if w.err != nil || w.flushing || len(w.buf) == 0 || (w.held > 0 && len(w.buf) < maxHeldBytes) {
		err := w.err
		w.mu.Unlock()
		return err
	}
	return w.flushLocked()
}

// flushLocked writes the buffer until it is empty; w.mu is held on entry and
// released on return.
func (w *frameWriter) flushLocked() error {
	w.flushing = true
	for len(w.buf) > 0 && w.err == nil {
		out := w.buf
		w.buf = w.spare[:0]
		w.mu.Unlock()
		if w.timeout > 0 {
			// Renewing the deadline only once half of it is used keeps each
			// write bounded by at least timeout/2 without touching the
			// connection's timer on every write.
			if now := time.Now(); w.deadline.Sub(now) < w.timeout/2 {
				w.deadline = now.Add(w.timeout)
				_ = w.conn.SetWriteDeadline(w.deadline)
			}
		}
		_, err := w.conn.Write(out)
		w.mu.Lock()
		if err != nil {
			w.err = err
		}
		if cap(out) <= 1<<20 {
			w.spare = out[:0]
		} else {
			w.spare = nil
		}
	}
	w.flushing = false
	err := w.err
	w.mu.Unlock()
	return err
}

// fail makes every later write return err.
func (w *frameWriter) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}
