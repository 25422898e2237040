package signer

import (
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestECDSAASN1MatchesEncodingASN1 checks the direct DER writer against
// encoding/asn1 on the edge cases: leading zero bytes, top bit set, and the
// largest values.
func TestECDSAASN1MatchesEncodingASN1(t *testing.T) {
	values := [][]byte{
		{0x01}, {0x7f}, {0x80}, {0xff}, {0x00, 0x80}, {0x00, 0x00, 0x01}, {0x00, 0x7f, 0xff},
	}
	for _, r := range values {
		for _, s := range values {
			size := 3
			raw := make([]byte, 2*size)
			copy(raw[size-len(r):size], r)
			copy(raw[2*size-len(s):], s)
			got, err := ecdsaASN1(raw, size)
			require.NoError(t, err)
			want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
			require.NoError(t, err)
			require.Equal(t, want, got, "r=%x s=%x", r, s)
		}
	}
	_, err := ecdsaASN1(make([]byte, 6), 3)
	require.Error(t, err, "a zero component is not a signature")
	_, err = ecdsaASN1(make([]byte, 5), 3)
	require.Error(t, err)
}
