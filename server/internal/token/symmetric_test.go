package token

import (
	"bytes"
	"crypto/aes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
)

func rvOfErr(err error) ck.ReturnValue {
	var ce *ck.Error
	if errors.As(err, &ce) {
		return ce.RV
	}
	return ck.CKR_OK
}

// TestCTRCounterBits checks that CKM_AES_CTR refuses data that would wrap
// the counter around, counting only the counter bits of the block.
func TestCTRCounterBits(t *testing.T) {
	block := bytes.Repeat([]byte{0xff}, 16)
	block[14], block[15] = 0, 0xfe // two blocks left before an 8-bit counter wraps
	p := &ck.CTRParams{CounterBits: 8, Block: block}
	require.NoError(t, checkCTR(p, 32))
	assert.Equal(t, ck.CKR_DATA_LEN_RANGE, rvOfErr(checkCTR(p, 33)))
	for _, bits := range []uint32{16, 128} {
		p.CounterBits = bits
		require.NoError(t, checkCTR(p, 33), "%d bits", bits)
	}
	p.CounterBits, p.Block = 128, bytes.Repeat([]byte{0xff}, 16)
	require.NoError(t, checkCTR(p, 16))
	assert.Equal(t, ck.CKR_DATA_LEN_RANGE, rvOfErr(checkCTR(p, 17)), "the whole block wraps too")
	for _, bad := range []*ck.CTRParams{{CounterBits: 0, Block: block}, {CounterBits: 129, Block: block}, {CounterBits: 8, Block: block[:15]}} {
		assert.Equal(t, ck.CKR_MECHANISM_PARAM_INVALID, rvOfErr(checkCTR(bad, 16)))
	}
}

// FuzzKeyUnwrap feeds arbitrary wrapped keys to the RFC 3394 and RFC 5649
// unwrapping: no input panics, and what unwraps wraps back to the input.
func FuzzKeyUnwrap(f *testing.F) {
	f.Add([]byte{}, false)
	f.Add(bytes.Repeat([]byte{0xa6}, 24), false)
	f.Add(bytes.Repeat([]byte{0x59}, 16), true)
	f.Add(bytes.Repeat([]byte{1}, 40), true)
	b, err := aes.NewCipher(bytes.Repeat([]byte{7}, 16))
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, c []byte, pad bool) {
		if pad {
			p, ok := keyUnwrapPad(b, c)
			if ok {
				again, ok := keyWrapPad(b, p)
				require.True(t, ok)
				require.Equal(t, c, again)
			}
			return
		}
		p, ok := keyUnwrap(b, c)
		if ok {
			again, ok := keyWrap(b, p)
			require.True(t, ok)
			require.Equal(t, c, again)
		}
	})
}

// FuzzUnpad checks that PKCS #7 unpadding never panics and accepts exactly
// the valid pads.
func FuzzUnpad(f *testing.F) {
	f.Add(bytes.Repeat([]byte{16}, 16))
	f.Add(append(bytes.Repeat([]byte{0}, 15), 1))
	f.Add(bytes.Repeat([]byte{0}, 32))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 || len(in)%aes.BlockSize != 0 {
			return
		}
		n := int(in[len(in)-1])
		valid := n >= 1 && n <= aes.BlockSize && bytes.Equal(in[len(in)-n:], bytes.Repeat([]byte{byte(n)}, n))
		out, err := unpad(bytes.Clone(in))
		if !valid {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		require.Equal(t, in[:len(in)-n], out)
	})
}
