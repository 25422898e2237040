package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame layout (all integers big-endian):
//
//	offset  size  field
//	0       4     length: the number of bytes that follow this field (HeaderSize-4+len(body))
//	4       1     kind: KindRequest, KindReply or KindError
//	5       1     flags: FlagPipelined, or 0; other bits are reserved and must be 0
//	6       2     op: the operation (Op); a reply repeats its request's op
//	8       8     request ID: chosen by the requester, unique among its requests in flight
//	16      4     deadline: for requests, milliseconds the requester will wait (0: none given);
//	              0 in replies
//	20      ...   body: CBOR (a request or reply message, or an ErrorBody)
const (
	// HeaderSize is the size of a frame header, the length field included.
	HeaderSize = 20
	// MaxBodySize bounds a frame body. A peer that announces more is
	// protocol-broken: the connection is closed without reading the body.
	MaxBodySize = 1 << 20
)

// Kind says what a frame carries.
type Kind uint8

// Frame kinds.
const (
	KindRequest Kind = 1 // a request; the body is the op's request message
	KindReply   Kind = 2 // a successful reply; the body is the op's reply message
	KindError   Kind = 3 // a failed reply; the body is an ErrorBody
)

// FlagPipelined marks a request whose sender has other requests in flight
// on the same connection. It is a scheduling hint: a node may run a request
// without it on the goroutine that read it (nothing else from that client
// waits to be read meanwhile), and must hand one with it to its pool.
const FlagPipelined uint8 = 0x01

// knownFlags are the flag bits of this protocol version.
const knownFlags = FlagPipelined

// Header is a decoded frame header.
type Header struct {
	Kind       Kind
	Flags      uint8
	Op         Op
	ID         uint64
	DeadlineMS uint32
}

// Frame errors. They are connection-level: after any of them the stream can
// no longer be trusted and the connection is closed.
var (
	ErrFrameTooLarge  = errors.New("wire: frame exceeds the maximum size")
	ErrFrameMalformed = errors.New("wire: malformed frame")
)

// AppendFrame appends one encoded frame to dst.
func AppendFrame(dst []byte, h Header, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(HeaderSize-4+len(body)))
	dst = append(dst, byte(h.Kind), h.Flags)
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.Op))
	dst = binary.BigEndian.AppendUint64(dst, h.ID)
	dst = binary.BigEndian.AppendUint32(dst, h.DeadlineMS)
	return append(dst, body...)
}

// ParseHeader decodes a frame header and returns it with the body length.
// It checks everything that can be checked before the body is read.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < HeaderSize {
		return Header{}, 0, fmt.Errorf("%w: header has %d bytes, want %d", ErrFrameMalformed, len(b), HeaderSize)
	}
	n := binary.BigEndian.Uint32(b[0:4])
	if n < HeaderSize-4 {
		return Header{}, 0, fmt.Errorf("%w: length %d is shorter than a header", ErrFrameMalformed, n)
	}
	// Compared as uint32, before any conversion to int: on 32-bit platforms
	// int(n) of a length of 2 GiB or more is negative, would pass the limit,
	// and make ReadFrame panic.
	if n-(HeaderSize-4) > MaxBodySize {
		return Header{}, 0, fmt.Errorf("%w: body of %d bytes, limit %d", ErrFrameTooLarge, n-(HeaderSize-4), MaxBodySize)
	}
	bodyLen := int(n - (HeaderSize - 4))
	h := Header{
		Kind:       Kind(b[4]),
		Flags:      b[5],
		Op:         Op(binary.BigEndian.Uint16(b[6:8])),
		ID:         binary.BigEndian.Uint64(b[8:16]),
		DeadlineMS: binary.BigEndian.Uint32(b[16:20]),
	}
	if h.Kind < KindRequest || h.Kind > KindError {
		return Header{}, 0, fmt.Errorf("%w: unknown kind %d", ErrFrameMalformed, b[4])
	}
	if b[5]&^knownFlags != 0 {
		return Header{}, 0, fmt.Errorf("%w: reserved flags %#x", ErrFrameMalformed, b[5])
	}
	return h, bodyLen, nil
}

// ReadFrame reads one frame. The body is a fresh slice the caller owns.
// An io.EOF before the first byte of a frame is returned as is; an EOF inside
// a frame is io.ErrUnexpectedEOF.
func ReadFrame(r *bufio.Reader) (Header, []byte, error) {
	var hb [HeaderSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return Header{}, nil, err
	}
	h, n, err := ParseHeader(hb[:])
	if err != nil {
		return Header{}, nil, err
	}
	// The buffer grows with the bytes that arrive, not with the length the
	// header claims: a peer that sends headers of large frames and nothing
	// else costs the reader what it sent, not MaxBodySize a connection.
	body := make([]byte, min(n, firstBodyChunk))
	read := 0
	for {
		k, err := io.ReadFull(r, body[read:])
		read += k
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Header{}, nil, err
		}
		if read == n {
			return h, body, nil
		}
		body = append(body, make([]byte, min(n, 2*len(body))-len(body))...)
	}
}

// firstBodyChunk is the most ReadFrame allocates for a body before its
// bytes arrive.
const firstBodyChunk = 64 << 10

// frameReader reads frames like ReadFrame, but can be interrupted (by a read
// deadline) and resumed: a frame read in part is kept and completed by the
// next call, so the stream never loses its place.
type frameReader struct {
	r       *bufio.Reader
	hdr     [HeaderSize]byte
	hdrN    int
	h       Header
	body    []byte
	bodyN   int
	haveHdr bool
}

func (f *frameReader) next() (Header, []byte, error) {
	for !f.haveHdr {
		n, err := f.r.Read(f.hdr[f.hdrN:])
		f.hdrN += n
		if f.hdrN == HeaderSize {
			h, size, perr := ParseHeader(f.hdr[:])
			if perr != nil {
				return Header{}, nil, perr
			}
			f.h, f.body, f.bodyN, f.haveHdr = h, make([]byte, size), 0, true
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) && f.hdrN > 0 {
				err = io.ErrUnexpectedEOF
			}
			return Header{}, nil, err
		}
	}
	for f.bodyN < len(f.body) {
		n, err := f.r.Read(f.body[f.bodyN:])
		f.bodyN += n
		if err != nil && f.bodyN < len(f.body) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Header{}, nil, err
		}
	}
	h, body := f.h, f.body
	f.hdrN, f.body, f.bodyN, f.haveHdr = 0, nil, 0, false
	return h, body, nil
}
