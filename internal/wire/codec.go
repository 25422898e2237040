package wire

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// The decoder is strict and bounded: a hostile body can't make a node
// allocate much more than its own size or recurse deeply, and anything not
// in the message definition is refused rather than ignored.
var (
	decMode = mustDecMode(cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   8,
		MaxArrayElements:  MaxFindResults,
		MaxMapPairs:       64,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	})
	peekMode = mustDecMode(cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxNestedLevels:  8,
		MaxArrayElements: MaxFindResults,
		MaxMapPairs:      64,
	})
	encMode = mustEncMode(cbor.EncOptions{Sort: cbor.SortCoreDeterministic})
)

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

// Marshal encodes a message body.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// Peek decodes the fields of v that a body has, ignoring the others: for a
// node that needs one field of a request before deciding where to run it.
// It is as bounded as Unmarshal, but not as strict; the request is decoded
// with Unmarshal before it is acted on.
func Peek(b []byte, v any) error { return peekMode.Unmarshal(b, v) }

// Unmarshal decodes a message body into v, refusing trailing bytes, unknown
// fields, duplicate keys, tags and indefinite lengths.
func Unmarshal(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadBody, err)
	}
	return nil
}
