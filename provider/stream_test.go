package provider

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
)

// TestBlockStreamCounter checks the CTR counter a multi-part operation
// carries between its requests: only the counter bits advance, and once
// they have gone round no more data is taken.
func TestBlockStreamCounter(t *testing.T) {
	start := bytes.Repeat([]byte{0xaa}, 16)
	start[15] = 0xfd
	m := ck.Mechanism{Type: ck.CKM_AES_CTR, CTR: &ck.CTRParams{CounterBits: 8, Block: start}}
	b := newBlockStream(m)
	b.advance(m, make([]byte, 32), make([]byte, 32), false)
	assert.Equal(t, append(bytes.Repeat([]byte{0xaa}, 15), 0xff), b.iv, "two blocks on")
	assert.False(t, b.spent)
	b.advance(m, make([]byte, 16), make([]byte, 16), false)
	assert.Equal(t, append(bytes.Repeat([]byte{0xaa}, 15), 0x00), b.iv, "the counter bits wrap, the rest stays")
	assert.True(t, b.spent)
	_, err := b.ready(m.Type, 16, false)
	assert.Equal(t, ck.CKR_DATA_LEN_RANGE, ReturnValue(err))
	n, err := b.ready(m.Type, 0, false)
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestBlockStreamCBCPad checks what a CBC-PAD decryption holds back: the
// last whole block, whose padding only Final removes.
func TestBlockStreamCBCPad(t *testing.T) {
	b := newBlockStream(ck.Mechanism{Type: ck.CKM_AES_CBC_PAD, IV: make([]byte, 16)})
	for _, c := range []struct{ n, enc, dec int }{{0, 0, 0}, {15, 0, 0}, {16, 16, 0}, {17, 16, 16}, {32, 32, 16}} {
		enc, err := b.ready(ck.CKM_AES_CBC_PAD, c.n, false)
		require.NoError(t, err)
		dec, err := b.ready(ck.CKM_AES_CBC_PAD, c.n, true)
		require.NoError(t, err)
		assert.Equal(t, [2]int{c.enc, c.dec}, [2]int{enc, dec}, "%d bytes", c.n)
	}
}
