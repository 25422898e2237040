package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		body []byte
	}{
		{"empty request", Header{Kind: KindRequest, Op: OpPing, ID: 1}, nil},
		{"request with deadline", Header{Kind: KindRequest, Op: OpSign, ID: 1<<64 - 1, DeadlineMS: 1 << 31}, []byte{0xa1, 0x01, 0x02}},
		{"reply", Header{Kind: KindReply, Op: OpFindObjects, ID: 42}, bytes.Repeat([]byte{0x5a}, 1000)},
		{"error", Header{Kind: KindError, Op: Op(0xffff), ID: 7}, []byte{0xa1, 0x01, 0x00}},
		{"largest body", Header{Kind: KindReply, Op: OpGenerateRandom, ID: 9}, make([]byte, MaxBodySize)},
	}
	var stream []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := AppendFrame(nil, tt.h, tt.body)
			require.Len(t, f, HeaderSize+len(tt.body))
			assert.Equal(t, uint32(HeaderSize-4+len(tt.body)), binary.BigEndian.Uint32(f))
			assert.Zero(t, f[5], "flags")

			h, n, err := ParseHeader(f[:HeaderSize])
			require.NoError(t, err)
			assert.Equal(t, tt.h, h)
			assert.Equal(t, len(tt.body), n)

			h, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(f)))
			require.NoError(t, err)
			assert.Equal(t, tt.h, h)
			assert.Equal(t, len(tt.body), len(body))
			assert.True(t, bytes.Equal(tt.body, body))
		})
		stream = AppendFrame(stream, tt.h, tt.body)
	}

	// Frames follow each other on a stream; the end of the stream between
	// two frames is a clean io.EOF.
	r := bufio.NewReader(bytes.NewReader(stream))
	for _, tt := range tests {
		h, body, err := ReadFrame(r)
		require.NoError(t, err)
		assert.Equal(t, tt.h, h)
		assert.Equal(t, len(tt.body), len(body))
	}
	_, _, err := ReadFrame(r)
	assert.Same(t, io.EOF, err)
}

func TestAppendFrameAppends(t *testing.T) {
	prefix := []byte("prefix")
	f := AppendFrame(append([]byte{}, prefix...), Header{Kind: KindRequest, Op: OpPing, ID: 3}, []byte{0xa0})
	assert.Equal(t, prefix, f[:len(prefix)])
	h, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(f[len(prefix):])))
	require.NoError(t, err)
	assert.Equal(t, Header{Kind: KindRequest, Op: OpPing, ID: 3}, h)
	assert.Equal(t, []byte{0xa0}, body)
}

// rawHeader builds a header byte by byte, so that tests can write what
// AppendFrame never would.
func rawHeader(length uint32, kind, flags byte, op uint16, id uint64, deadline uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, length)
	b = append(b, kind, flags)
	b = binary.BigEndian.AppendUint16(b, op)
	b = binary.BigEndian.AppendUint64(b, id)
	return binary.BigEndian.AppendUint32(b, deadline)
}

func TestParseHeaderErrors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrFrameMalformed},
		{"short", rawHeader(16, 1, 0, 2, 1, 0)[:HeaderSize-1], ErrFrameMalformed},
		{"length zero", rawHeader(0, 1, 0, 2, 1, 0), ErrFrameMalformed},
		{"length below header", rawHeader(HeaderSize-5, 1, 0, 2, 1, 0), ErrFrameMalformed},
		{"body one over limit", rawHeader(HeaderSize-4+MaxBodySize+1, 1, 0, 2, 1, 0), ErrFrameTooLarge},
		{"length max uint32", rawHeader(1<<32-1, 1, 0, 2, 1, 0), ErrFrameTooLarge},
		{"kind zero", rawHeader(16, 0, 0, 2, 1, 0), ErrFrameMalformed},
		{"kind four", rawHeader(16, 4, 0, 2, 1, 0), ErrFrameMalformed},
		{"kind 255", rawHeader(16, 255, 0, 2, 1, 0), ErrFrameMalformed},
		{"flags 2 (reserved)", rawHeader(16, 1, 2, 2, 1, 0), ErrFrameMalformed},
		{"pipelined plus reserved", rawHeader(16, 1, FlagPipelined|4, 2, 1, 0), ErrFrameMalformed},
		{"flags 0x80", rawHeader(16, 2, 0x80, 2, 1, 0), ErrFrameMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := ParseHeader(tt.b)
			require.ErrorIs(t, err, tt.want)
			assert.Zero(t, h)
			assert.Zero(t, n)
		})
	}
}

func TestFlagPipelinedRoundTrips(t *testing.T) {
	want := Header{Kind: KindRequest, Flags: FlagPipelined, Op: OpSign, ID: 7, DeadlineMS: 100}
	h, n, err := ParseHeader(AppendFrame(nil, want, nil))
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, want, h)
}

func TestParseHeaderLimits(t *testing.T) {
	// The smallest and the largest legal lengths.
	h, n, err := ParseHeader(rawHeader(HeaderSize-4, 3, 0, 0, 0, 0))
	require.NoError(t, err)
	assert.Equal(t, Header{Kind: KindError}, h)
	assert.Zero(t, n)

	_, n, err = ParseHeader(rawHeader(HeaderSize-4+MaxBodySize, 1, 0, 1, 1, 0))
	require.NoError(t, err)
	assert.Equal(t, MaxBodySize, n)

	// ParseHeader reads the first HeaderSize bytes and ignores the rest.
	h, n, err = ParseHeader(append(rawHeader(HeaderSize-4+2, 2, 0, 14, 5, 0), 0xff, 0xff, 0xff))
	require.NoError(t, err)
	assert.Equal(t, Header{Kind: KindReply, Op: OpSign, ID: 5}, h)
	assert.Equal(t, 2, n)

	// Unknown ops are not a framing error: the node answers them with
	// CodeUnknownOp and the connection stays up.
	h, _, err = ParseHeader(rawHeader(HeaderSize-4, 1, 0, 0xbeef, 1, 0))
	require.NoError(t, err)
	assert.False(t, h.Op.Known())
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadFrameErrors(t *testing.T) {
	valid := AppendFrame(nil, Header{Kind: KindRequest, Op: OpSign, ID: 77, DeadlineMS: 500}, []byte("0123456789"))
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"nothing", nil, io.EOF},
		{"one byte of header", valid[:1], io.ErrUnexpectedEOF},
		{"truncated header", valid[:HeaderSize-1], io.ErrUnexpectedEOF},
		{"header only", valid[:HeaderSize], io.ErrUnexpectedEOF},
		{"truncated body", valid[:len(valid)-1], io.ErrUnexpectedEOF},
		{"length below header", rawHeader(3, 1, 0, 1, 1, 0), ErrFrameMalformed},
		{"unknown kind", append(rawHeader(16, 9, 0, 1, 1, 0), 0), ErrFrameMalformed},
		{"reserved flags", rawHeader(16, 1, 4, 1, 1, 0), ErrFrameMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(tt.b)))
			require.ErrorIs(t, err, tt.want)
			assert.Zero(t, h)
			assert.Nil(t, body)
		})
	}
}

func TestReadFrameTooLargeReadsNoBody(t *testing.T) {
	// The header announces one byte more than MaxBodySize and a body follows.
	// ReadFrame must refuse it from the header alone: a reader that started
	// to consume (or allocate for) the body would hand a hostile peer memory.
	hdr := rawHeader(HeaderSize-4+MaxBodySize+1, 1, 0, 14, 1, 0)
	cr := &countingReader{r: io.MultiReader(bytes.NewReader(hdr), strings.NewReader(strings.Repeat("x", MaxBodySize+1)))}
	// A 16-byte bufio buffer is the smallest bufio allows; a read of the
	// header can then pull in at most HeaderSize bytes.
	r := bufio.NewReaderSize(cr, 16)
	_, body, err := ReadFrame(r)
	require.ErrorIs(t, err, ErrFrameTooLarge)
	assert.Nil(t, body)
	assert.LessOrEqual(t, cr.n, HeaderSize+16, "bytes read from the connection")
}

// errReader fails every read with err after its data.
type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestReadFramePassesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	valid := AppendFrame(nil, Header{Kind: KindReply, Op: OpPing, ID: 1}, []byte{0xa0, 0xa0})
	for _, cut := range []int{0, 5, HeaderSize, HeaderSize + 1} {
		_, _, err := ReadFrame(bufio.NewReader(&errReader{data: valid[:cut], err: boom}))
		assert.ErrorIs(t, err, boom, "cut at %d", cut)
	}
}

func TestReadFrameBodyIsFresh(t *testing.T) {
	stream := AppendFrame(nil, Header{Kind: KindReply, Op: OpPing, ID: 1}, []byte("first"))
	stream = AppendFrame(stream, Header{Kind: KindReply, Op: OpPing, ID: 2}, []byte("secnd"))
	r := bufio.NewReader(bytes.NewReader(stream))
	_, first, err := ReadFrame(r)
	require.NoError(t, err)
	_, second, err := ReadFrame(r)
	require.NoError(t, err)
	assert.Equal(t, "first", string(first), "the body must not share the reader's buffer")
	assert.Equal(t, "secnd", string(second))
}

// TestFrameGolden pins whole frames as docs/protocol.md shows them.
func TestFrameGolden(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		body any
		hex  string
	}{
		{"hello request", Header{Kind: KindRequest, Op: OpHello, ID: 1, DeadlineMS: 2000},
			HelloRequest{MinVersion: 1, MaxVersion: 1, Client: "kh"},
			"00000019 01 00 0001 0000000000000001 000007d0 a3010102010362 6b68"},
		{"busy error reply", Header{Kind: KindError, Op: OpSign, ID: 7},
			ErrorBody{Code: CodeBusy, Message: "busy"},
			"0000001d 03 00 000e 0000000000000007 00000000 a2011a80000004026462757379"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Marshal(tt.body)
			require.NoError(t, err)
			got := AppendFrame(nil, tt.h, body)
			assert.Equal(t, strings.ReplaceAll(tt.hex, " ", ""), hex.EncodeToString(got))
		})
	}
}

// TestReadFrameAllocatesWhatArrives: a header that announces a full-size
// body, followed by a few bytes, costs the reader a small buffer, not
// MaxBodySize; a full-size body that does arrive is read whole.
func TestReadFrameAllocatesWhatArrives(t *testing.T) {
	hdr := rawHeader(HeaderSize-4+MaxBodySize, 1, 0, 14, 1, 0)
	const reads = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range reads {
		_, _, err := ReadFrame(bufio.NewReader(io.MultiReader(bytes.NewReader(hdr), strings.NewReader("0123456789"))))
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	}
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(reads*(firstBodyChunk+8<<10)),
		"bytes allocated for %d truncated frames", reads)

	full := bytes.Repeat([]byte{0xa7}, MaxBodySize)
	_, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(AppendFrame(nil, Header{Kind: KindRequest, Op: OpSign, ID: 1}, full))))
	require.NoError(t, err)
	assert.Equal(t, full, body)
}
