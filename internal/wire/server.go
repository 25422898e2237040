package wire

import (
	"bufio"
	"fmt"
	"net"
	"time"

	"github.com/keyhold/keyhold/ck"
)

// ServerConn is the node end of one connection. One goroutine reads requests
// with Read; any number of goroutines may reply at once, in any order.
type ServerConn struct {
	nc net.Conn
	r  *bufio.Reader
	w  frameWriter
}

// NewServerConn wraps an accepted, handshaken connection.
// writeTimeout bounds each write to a client that stops reading.
func NewServerConn(nc net.Conn, writeTimeout time.Duration) *ServerConn {
	return &ServerConn{
		nc: nc,
		r:  bufio.NewReaderSize(nc, 64<<10),
		w:  frameWriter{conn: nc, timeout: writeTimeout},
	}
}

// Read returns the next request frame. Any error is fatal to the connection.
func (s *ServerConn) Read() (Header, []byte, error) {
	h, body, err := ReadFrame(s.r)
	if err != nil {
		return h, nil, err
	}
	if h.Kind != KindRequest {
		return h, nil, ErrFrameMalformed
	}
	return h, body, nil
}

// Buffered reports whether more request bytes have already arrived, that is,
// whether the client has pipelined requests behind the one just read.
func (s *ServerConn) Buffered() bool { return s.r.Buffered() > 0 }

// Begin marks a request as running until its End. Replies written meanwhile
// may be held back briefly so that several share one write: call End after
// the request's reply, always.
func (s *ServerConn) Begin() { s.w.hold() }

// End follows Begin, once the request's reply is written.
func (s *ServerConn) End() { _ = s.w.release() }

// Reply sends a successful reply to the request with header req. A reply
// whose body would exceed MaxBodySize is not sent, since the client would
// have to close the connection on it: the request is answered with the
// error CKR_DEVICE_MEMORY instead.
func (s *ServerConn) Reply(req Header, v any) error {
	body, err := Marshal(v)
	if err != nil {
		return err
	}
	if len(body) > MaxBodySize {
		return s.ReplyError(req, ck.CKR_DEVICE_MEMORY, fmt.Sprintf("reply of %d bytes exceeds the %d-byte frame limit; ask for less", len(body), MaxBodySize))
	}
	return s.w.write(Header{Kind: KindReply, Op: req.Op, ID: req.ID}, body)
}

// ReplyError sends a failed reply to the request with header req.
func (s *ServerConn) ReplyError(req Header, code ck.ReturnValue, msg string) error {
	body, err := Marshal(ErrorBody{Code: code, Message: msg})
	if err != nil {
		return err
	}
	return s.w.write(Header{Kind: KindError, Op: req.Op, ID: req.ID}, body)
}

// Close closes the connection.
func (s *ServerConn) Close() error { return s.nc.Close() }

// NegotiateVersion picks the highest version both a client's hello and this
// package support.
func NegotiateVersion(h HelloRequest) (uint16, bool) {
	hi := min(h.MaxVersion, MaxVersion)
	lo := max(h.MinVersion, MinVersion)
	if h.MinVersion > h.MaxVersion || lo > hi {
		return 0, false
	}
	return hi, true
}
