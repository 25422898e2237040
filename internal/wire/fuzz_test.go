package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The seeds below run in every `go test`; `go test -fuzz` starts from them.
// Inputs the fuzzer found interesting are kept in testdata/fuzz/<target>.

// frameSeeds returns valid frame streams built by the code, and hostile ones.
func frameSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	var stream []byte
	for _, op := range requestOps {
		body, err := Marshal(requestSamples[op])
		require.NoError(tb, err)
		f := AppendFrame(nil, Header{Kind: KindRequest, Op: op, ID: uint64(op), DeadlineMS: 1000}, body)
		seeds = append(seeds, f)
		stream = append(stream, f...)

		body, err = Marshal(replySamples[op])
		require.NoError(tb, err)
		stream = AppendFrame(stream, Header{Kind: KindReply, Op: op, ID: uint64(op)}, body)
	}
	eb, err := Marshal(ErrorBody{Code: CodeBusy, Message: "busy"})
	require.NoError(tb, err)
	seeds = append(seeds,
		stream,
		AppendFrame(nil, Header{Kind: KindError, Op: OpSign, ID: 1<<64 - 1}, eb),
		AppendFrame(nil, Header{Kind: KindRequest, Op: 0xffff, ID: 0}, nil),
		nil,
		[]byte{0},
		rawHeader(HeaderSize-4, 1, 0, 1, 1, 0), // empty body
		rawHeader(HeaderSize-4+10, 1, 0, 1, 1, 0),                 // truncated body
		rawHeader(HeaderSize-4+MaxBodySize+1, 1, 0, 1, 1, 0),      // too large
		rawHeader(0xffffffff, 2, 0, 1, 1, 0),                      // far too large
		rawHeader(3, 1, 0, 1, 1, 0),                               // shorter than a header
		rawHeader(HeaderSize-4, 0, 0, 1, 1, 0),                    // kind 0
		rawHeader(HeaderSize-4, 4, 0, 1, 1, 0),                    // kind 4
		rawHeader(HeaderSize-4, 1, 0xff, 1, 1, 0),                 // flags
		append(rawHeader(HeaderSize-4+1, 1, 0, 1, 1, 0), 0xa0, 0), // trailing byte after the frame
	)
	return seeds
}

func FuzzReadFrame(f *testing.F) {
	for _, s := range frameSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		off := 0
		for {
			h, body, err := ReadFrame(r)
			if err != nil {
				switch {
				case errors.Is(err, io.EOF):
					require.Equal(t, len(data), off, "io.EOF only between frames")
				case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ErrFrameMalformed), errors.Is(err, ErrFrameTooLarge):
				default:
					t.Fatalf("unexpected error %v", err)
				}
				require.Zero(t, h)
				require.Nil(t, body)
				return
			}
			// A frame that parses is exactly what AppendFrame writes for it.
			require.LessOrEqual(t, len(body), MaxBodySize)
			re := AppendFrame(nil, h, body)
			require.LessOrEqual(t, off+len(re), len(data))
			require.Equal(t, data[off:off+len(re)], re)
			off += len(re)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	for _, s := range frameSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, n, err := ParseHeader(data)
		if err != nil {
			require.True(t, errors.Is(err, ErrFrameMalformed) || errors.Is(err, ErrFrameTooLarge), "%v", err)
			require.Zero(t, h)
			require.Zero(t, n)
			return
		}
		require.GreaterOrEqual(t, len(data), HeaderSize)
		require.True(t, n >= 0 && n <= MaxBodySize, "body length %d", n)
		require.True(t, h.Kind >= KindRequest && h.Kind <= KindError, "kind %d", h.Kind)
		// The header is exactly what AppendFrame writes for it.
		require.Equal(t, data[:HeaderSize], AppendFrame(nil, h, make([]byte, n))[:HeaderSize])
	})
}

// FuzzUnmarshalRequest decodes arbitrary bytes as a request. The first byte
// picks the request type (of requestOps), the rest is the body.
func FuzzUnmarshalRequest(f *testing.F) {
	for i, op := range requestOps {
		body, err := Marshal(requestSamples[op])
		require.NoError(f, err)
		f.Add(append([]byte{byte(i)}, body...))
		zero, err := Marshal(reflect.Zero(reflect.TypeOf(requestSamples[op])).Interface())
		require.NoError(f, err)
		f.Add(append([]byte{byte(i)}, zero...))
	}
	for _, hostile := range [][]byte{
		nested(9),                // nesting beyond the limit
		{0xbf, 0x01, 0x01, 0xff}, // indefinite map
		{0xa1, 0x03, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},       // a huge byte string announced
		{0xa1, 0x03, 0x9b, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff},       // a huge array announced
		{0xa1, 0x04, 0x90, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, // OpID as an array
		{0xd9, 0xd9, 0xf7, 0xa0},       // tag
		{0xa2, 0x01, 0x01, 0x01, 0x01}, // duplicate key
		{0xa1, 0x03, 0x62, 0xc3, 0x28}, // invalid UTF-8
		{0xa0, 0x00},                   // trailing byte
	} {
		for i := range requestOps {
			f.Add(append([]byte{byte(i)}, hostile...))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		sample := requestSamples[requestOps[int(data[0])%len(requestOps)]]
		checkDecodeRoundTrip(t, sample, data[1:])
	})
}

// FuzzUnmarshalReply is FuzzUnmarshalRequest for the messages a client
// decodes from a node: replies and error bodies.
func FuzzUnmarshalReply(f *testing.F) {
	types := replyTypes()
	for i, v := range types {
		body, err := Marshal(v)
		require.NoError(f, err)
		f.Add(append([]byte{byte(i)}, body...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		checkDecodeRoundTrip(t, types[int(data[0])%len(types)], data[1:])
	})
}

// replyTypes returns one sample of each reply type, in a fixed order.
func replyTypes() []any {
	var types []any
	seen := make(map[reflect.Type]bool)
	for _, op := range requestOps {
		v := replySamples[op]
		if !seen[reflect.TypeOf(v)] {
			seen[reflect.TypeOf(v)] = true
			types = append(types, v)
		}
	}
	return append(types, ErrorBody{Code: CodeBusy, Message: "busy"})
}

// checkDecodeRoundTrip decodes body as sample's type. A body that decodes
// must encode again, and that encoding must decode to an equal value and be
// a fixed point of decoding and encoding. A body that doesn't decode must
// fail with ErrBadBody.
func checkDecodeRoundTrip(t *testing.T, sample any, body []byte) {
	v := newMessage(sample)
	if err := Unmarshal(body, v); err != nil {
		require.ErrorIs(t, err, ErrBadBody)
		return
	}
	enc, err := Marshal(reflect.ValueOf(v).Elem().Interface())
	require.NoError(t, err)

	v2 := newMessage(sample)
	require.NoError(t, Unmarshal(enc, v2), "re-encoded %x", enc)
	enc2, err := Marshal(reflect.ValueOf(v2).Elem().Interface())
	require.NoError(t, err)
	assert.Equal(t, enc, enc2)

	// Empty and nil byte strings and lists encode alike where a field is
	// omitempty, so values are compared with empty ones cleared.
	clearEmpty(reflect.ValueOf(v))
	clearEmpty(reflect.ValueOf(v2))
	require.Equal(t, v, v2)
}
