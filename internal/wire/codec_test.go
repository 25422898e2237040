package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
)

// allSamples returns every sample message with a name for subtests.
func allSamples() map[string]any {
	m := make(map[string]any)
	for op, v := range requestSamples {
		m[op.String()+"/request"] = v
	}
	for op, v := range replySamples {
		m[op.String()+"/reply"] = v
	}
	for i, v := range otherSamples {
		m[reflect.TypeOf(v).Name()+"/"+string(rune('a'+i))] = v
	}
	return m
}

func TestSamplesCoverEveryOpAndMessage(t *testing.T) {
	for op := Op(0); op < 256; op++ {
		_, req := requestSamples[op]
		_, rep := replySamples[op]
		assert.Equal(t, op.Known(), req, "request sample for %v", op)
		assert.Equal(t, op.Known(), rep, "reply sample for %v", op)
	}

	// Every exported struct type declared in messages.go has a sample.
	covered := make(map[string]bool)
	for _, v := range allSamples() {
		covered[reflect.TypeOf(v).Name()] = true
	}
	f, err := parser.ParseFile(token.NewFileSet(), "messages.go", nil, 0)
	require.NoError(t, err)
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.TYPE {
			continue
		}
		for _, s := range g.Specs {
			ts := s.(*ast.TypeSpec)
			if _, isStruct := ts.Type.(*ast.StructType); isStruct && ts.Name.IsExported() {
				n++
				assert.True(t, covered[ts.Name.Name], "no sample of %s", ts.Name.Name)
			}
		}
	}
	assert.Greater(t, n, 20)
}

func TestMarshalRoundTrip(t *testing.T) {
	for name, v := range allSamples() {
		t.Run(name, func(t *testing.T) {
			b, err := Marshal(v)
			require.NoError(t, err)
			got := newMessage(v)
			require.NoError(t, Unmarshal(b, got))
			assert.Equal(t, v, reflect.ValueOf(got).Elem().Interface())

			// The encoding is deterministic: the same value always gives
			// the same bytes, and re-encoding a decoded value changes nothing.
			again, err := Marshal(reflect.ValueOf(got).Elem().Interface())
			require.NoError(t, err)
			assert.Equal(t, b, again)
		})
	}
}

func TestMarshalRoundTripZeroValues(t *testing.T) {
	for name, v := range allSamples() {
		t.Run(name, func(t *testing.T) {
			zero := reflect.Zero(reflect.TypeOf(v)).Interface()
			b, err := Marshal(zero)
			require.NoError(t, err)
			got := newMessage(v)
			require.NoError(t, Unmarshal(b, got))
			assert.Equal(t, zero, reflect.ValueOf(got).Elem().Interface())
		})
	}
}

// TestEncodingGolden pins the exact bytes of a few messages, as another
// implementation must produce and accept them (docs/protocol.md shows them).
func TestEncodingGolden(t *testing.T) {
	tests := []struct {
		name string
		v    any
		hex  string
	}{
		// {1: 1, 2: 1, 3: "kh"}
		{"hello", HelloRequest{MinVersion: 1, MaxVersion: 1, Client: "kh"}, "a3 01 01 02 01 03 62 6b68"},
		// {1: 1, 2: 1}: an empty omitempty field is left out
		{"hello without client", HelloRequest{MinVersion: 1, MaxVersion: 1}, "a2 01 01 02 01"},
		{"ping", PingRequest{}, "a0"},
		// {1: 1, 2: "payments"... } keys sorted, smallest encoding
		{"error", ErrorBody{Code: CodeBusy, Message: "busy"}, "a2 01 1a80000004 02 64 62757379"},
		// {1: 7, 3: 9, 4: h'00..'}: Ticket left out, OpID a 16-byte string
		{"destroy", DestroyObjectRequest{Partition: 7, Handle: 9}, "a3 01 07 03 09 04 50 00000000000000000000000000000000"},
		// {1: 1, 3: [{1: 3, 2: h'6b'}, {1: 0x108, 2: h'01'}], 4: [0x102]}
		{"find", FindObjectsRequest{Partition: 1, Template: ck.Template{ck.String(ck.CKA_LABEL, "k"), ck.Bool(ck.CKA_SIGN, true)},
			Want: []ck.AttributeType{ck.CKA_ID}},
			"a3 01 01 03 82 a2 01 03 02 41 6b a2 01 19 0108 02 41 01 04 81 19 0102"},
		// {1: 2, 2: 1, 3: h'31323334'}
		{"login", LoginRequest{Partition: 2, User: ck.CKU_USER, PIN: []byte("1234")}, "a3 01 02 02 01 03 44 31323334"},
		// a nil Template is null, not an empty array
		{"nil template", CreateObjectRequest{Partition: 1}, "a3 01 01 03 f6 04 50 00000000000000000000000000000000"},
		// the CK_ULONG attribute value is 8 bytes little-endian
		{"ulong attribute", ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)), "a2 01 00 02 48 0300000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := hex.DecodeString(strings.ReplaceAll(tt.hex, " ", ""))
			require.NoError(t, err)
			b, err := Marshal(tt.v)
			require.NoError(t, err)
			assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(b))

			got := newMessage(tt.v)
			require.NoError(t, Unmarshal(want, got))
			assert.Equal(t, tt.v, reflect.ValueOf(got).Elem().Interface())
		})
	}
}

// TestUnmarshalAcceptsPeerVariations: a strict decoder still accepts what a
// correct peer may send differently from this package's encoder.
func TestUnmarshalAcceptsPeerVariations(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want HelloRequest
	}{
		{"keys in any order", "a2 02 01 01 01", HelloRequest{MinVersion: 1, MaxVersion: 1}},
		{"missing keys are zero", "a1 02 05", HelloRequest{MaxVersion: 5}},
		{"empty map", "a0", HelloRequest{}},
		{"non-minimal integers", "a2 1801 190001 1a00000002 1b0000000000000002", HelloRequest{MinVersion: 1, MaxVersion: 2}},
		{"null is the zero value", "a2 01 f6 03 f6", HelloRequest{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hex.DecodeString(strings.ReplaceAll(tt.hex, " ", ""))
			require.NoError(t, err)
			var got HelloRequest
			require.NoError(t, Unmarshal(b, &got))
			assert.Equal(t, tt.want, got)
		})
	}
}

// nested returns {1: [[...[]...]]}: depth containers, a map and depth-1
// arrays nested in it.
func nested(depth int) []byte {
	b := []byte{0xa1, 0x01}
	for range depth - 2 {
		b = append(b, 0x81)
	}
	return append(b, 0x80)
}

func TestUnmarshalRefuses(t *testing.T) {
	hx := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			panic(err)
		}
		return b
	}
	manyPairs := []byte{0xb8, 65}
	for i := range 65 {
		manyPairs = append(manyPairs, 0x18, byte(100+i), 0x00)
	}
	// {4: array(MaxFindResults+1) of 1}
	longArray := append([]byte{0xa1, 0x04, 0x99, byte((MaxFindResults + 1) >> 8), byte((MaxFindResults + 1) & 0xff)},
		bytes.Repeat([]byte{0x01}, MaxFindResults+1)...)

	tests := []struct {
		name    string
		into    any
		b       []byte
		cborErr any // the decoder's error type, when one is specific to the case
	}{
		{"empty input", &HelloRequest{}, nil, nil},
		{"truncated", &HelloRequest{}, hx("a2 01 01 02"), nil},
		{"not a map", &HelloRequest{}, hx("01"), &cbor.UnmarshalTypeError{}},
		{"array for a struct", &HelloRequest{}, hx("82 01 01"), &cbor.UnmarshalTypeError{}},
		{"unknown field", &HelloRequest{}, hx("a3 01 01 02 01 04 00"), &cbor.UnknownFieldError{}},
		{"unknown field in a nested struct", &CryptRequest{}, hx("a1 04 a2 01 01 09 00"), &cbor.UnknownFieldError{}},
		{"text key", &HelloRequest{}, hx("a1 61 31 01"), &cbor.UnknownFieldError{}},
		{"negative key", &HelloRequest{}, hx("a1 20 01"), &cbor.UnknownFieldError{}},
		{"duplicate key", &HelloRequest{}, hx("a2 01 01 01 02"), &cbor.DupMapKeyError{}},
		{"duplicate key, other encoding", &HelloRequest{}, hx("a2 01 01 1801 02"), &cbor.DupMapKeyError{}},
		{"duplicate key in a nested struct", &FindObjectsRequest{}, hx("a1 03 81 a2 01 03 01 03"), &cbor.DupMapKeyError{}},
		{"indefinite map", &HelloRequest{}, hx("bf 01 01 ff"), &cbor.IndefiniteLengthError{}},
		{"indefinite byte string", &LoginRequest{}, hx("a1 03 5f 41 31 ff"), &cbor.IndefiniteLengthError{}},
		{"indefinite text string", &HelloRequest{}, hx("a1 03 7f 61 61 ff"), &cbor.IndefiniteLengthError{}},
		{"indefinite array", &GetAttributesRequest{}, hx("a1 04 9f 01 ff"), &cbor.IndefiniteLengthError{}},
		{"tag on the message", &HelloRequest{}, hx("d9d9f7 a1 01 01"), &cbor.TagsMdError{}},
		{"tag on a field", &GetAttributesRequest{}, hx("a1 03 c2 41 01"), &cbor.TagsMdError{}},
		{"trailing byte", &HelloRequest{}, hx("a1 01 01 00"), &cbor.ExtraneousDataError{}},
		{"two messages", &PingRequest{}, hx("a0 a0"), &cbor.ExtraneousDataError{}},
		{"nesting beyond the limit", &FindObjectsRequest{}, nested(9), &cbor.MaxNestedLevelError{}},
		{"array over MaxArrayElements", &GetAttributesRequest{}, longArray, &cbor.MaxArrayElementsError{}},
		{"map over MaxMapPairs", &HelloRequest{}, manyPairs, &cbor.MaxMapPairsError{}},
		{"invalid UTF-8", &HelloRequest{}, hx("a1 03 62 c328"), &cbor.SemanticError{}},
		{"invalid UTF-8 in a nested string", &HelloReply{}, hx("a1 03 81 a2 01 01 02 61 ff"), &cbor.SemanticError{}},
		{"byte string for text", &HelloRequest{}, hx("a1 03 41 61"), &cbor.UnmarshalTypeError{}},
		{"text for bytes", &LoginRequest{}, hx("a1 03 61 61"), &cbor.UnmarshalTypeError{}},
		{"negative for unsigned", &HelloRequest{}, hx("a1 01 20"), &cbor.UnmarshalTypeError{}},
		{"overflow uint16", &HelloRequest{}, hx("a1 01 1a00010000"), &cbor.UnmarshalTypeError{}},
		{"overflow uint32", &PartitionInfoRequest{}, hx("a1 01 1b0000000100000000"), &cbor.UnmarshalTypeError{}},
		{"float for integer", &HelloRequest{}, hx("a1 01 f93c00"), &cbor.UnmarshalTypeError{}},
		{"bool for integer", &HelloRequest{}, hx("a1 01 f5"), &cbor.UnmarshalTypeError{}},
		{"OpID too short", &DestroyObjectRequest{}, hx("a1 04 4f 000102030405060708090a0b0c0d0e"), nil},
		{"OpID too long", &DestroyObjectRequest{}, hx("a1 04 51 000102030405060708090a0b0c0d0e0f10"), nil},
		{"OpID empty", &DestroyObjectRequest{}, hx("a1 04 40"), nil},
		{"OpID null", &DestroyObjectRequest{}, hx("a1 04 f6"), nil},
		{"OpID as an array", &DestroyObjectRequest{}, hx("a1 04 90 00010203040506070809 0a0b0c0d0e0f"), nil},
		{"byte string longer than the input", &LoginRequest{}, hx("a1 03 5b ffffffffffffffff"), nil},
		{"array longer than the input", &GetAttributesRequest{}, hx("a1 04 9b 00000000ffffffff"), nil},
		{"reserved additional information", &HelloRequest{}, hx("a1 01 1c"), nil},
		{"break outside indefinite item", &HelloRequest{}, hx("a1 01 ff"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Unmarshal(tt.b, tt.into)
			require.ErrorIs(t, err, ErrBadBody)
			if tt.cborErr != nil {
				// Check the decoder refused for the reason the case is
				// about, not for some other defect of the input.
				cerr := decMode.Unmarshal(tt.b, newMessage(reflect.ValueOf(tt.into).Elem().Interface()))
				assert.True(t, isErrorOfType(cerr, tt.cborErr), "decoder error %T: %v", cerr, cerr)
			}
		})
	}
}

// isErrorOfType reports whether err's chain holds an error of example's type.
func isErrorOfType(err error, example any) bool {
	return errors.As(err, reflect.New(reflect.TypeOf(example)).Interface())
}

func TestUnmarshalAllowsNestingAtTheLimit(t *testing.T) {
	// The deepest legal message: FindObjectsReply > Objects > FoundObject >
	// Attributes > Attribute > Value is 5 containers and a leaf; the limit
	// leaves room for it.
	b, err := Marshal(replySamples[OpFindObjects])
	require.NoError(t, err)
	require.NoError(t, Unmarshal(b, &FindObjectsReply{}))

	// Eight levels of containers are accepted by the decoder (and then
	// refused by the type, which has no such field shape).
	err = decMode.Unmarshal(nested(8), &FindObjectsRequest{})
	require.Error(t, err)
	assert.False(t, isErrorOfType(err, &cbor.MaxNestedLevelError{}), "%v", err)
}

// TestUnmarshalRefusesUnknownFieldsAndDuplicatesEverywhere adds a field to,
// and repeats a field of, the encoding of every sample message.
func TestUnmarshalRefusesUnknownFieldsAndDuplicatesEverywhere(t *testing.T) {
	lenient, err := cbor.DecOptions{}.DecMode()
	require.NoError(t, err)
	for name, v := range allSamples() {
		t.Run(name, func(t *testing.T) {
			b, err := Marshal(v)
			require.NoError(t, err)
			var pairs map[uint64]cbor.RawMessage
			require.NoError(t, lenient.Unmarshal(b, &pairs))
			require.Less(t, len(pairs), 23, "the test builds one-byte map headers")

			build := func(extra ...[]byte) []byte {
				out := []byte{0xa0 + byte(len(pairs)+len(extra)/2)}
				for _, k := range sortedKeys(pairs) {
					key, err := Marshal(k)
					require.NoError(t, err)
					out = append(append(out, key...), pairs[k]...)
				}
				for _, e := range extra {
					out = append(out, e...)
				}
				return out
			}
			require.NoError(t, Unmarshal(build(), newMessage(v)), "rebuilt encoding must decode")

			err = Unmarshal(build([]byte{0x18, 0x63}, []byte{0x00}), newMessage(v)) // 99: 0
			require.ErrorIs(t, err, ErrBadBody, "unknown field")
			assert.Contains(t, err.Error(), "unknown field")

			if len(pairs) > 0 {
				k := sortedKeys(pairs)[0]
				key, _ := Marshal(k)
				err = Unmarshal(build(key, pairs[k]), newMessage(v))
				require.ErrorIs(t, err, ErrBadBody, "duplicate key %d", k)
				assert.Contains(t, err.Error(), "duplicate map key")
			}
			err = Unmarshal(append(b, 0xf6), newMessage(v))
			require.ErrorIs(t, err, ErrBadBody, "trailing byte")
		})
	}
}

func sortedKeys(m map[uint64]cbor.RawMessage) []uint64 { return slices.Sorted(maps.Keys(m)) }

func TestMarshalError(t *testing.T) {
	_, err := Marshal(make(chan int))
	require.Error(t, err)
}

func TestDecodeLimitsMatchProtocol(t *testing.T) {
	// The decoder must accept the largest legal message of each kind.
	objs := make([]FoundObject, MaxFindResults)
	for i := range objs {
		objs[i].Handle = uint64(i)
	}
	b, err := Marshal(FindObjectsReply{Objects: objs})
	require.NoError(t, err)
	require.LessOrEqual(t, len(b), MaxBodySize)
	var fr FindObjectsReply
	require.NoError(t, Unmarshal(b, &fr))
	assert.Len(t, fr.Objects, MaxFindResults)

	tmpl := make(ck.Template, MaxAttributes)
	for i := range tmpl {
		tmpl[i] = ck.Attribute{Type: ck.AttributeType(i), Value: make([]byte, MaxAttributeValue/MaxAttributes)}
	}
	b, err = Marshal(CreateObjectRequest{Template: tmpl, OpID: sampleOpID})
	require.NoError(t, err)
	var cr CreateObjectRequest
	require.NoError(t, Unmarshal(b, &cr))
	assert.Len(t, cr.Template, MaxAttributes)

	b, err = Marshal(CryptRequest{Data: make([]byte, MaxData)})
	require.NoError(t, err)
	require.LessOrEqual(t, len(b), MaxBodySize)
	require.NoError(t, Unmarshal(b, &CryptRequest{}))
}
