package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
)

// AES key wrap (RFC 3394) and AES key wrap with padding (RFC 5649), in the
// index-based form of RFC 3394 section 2.2.

// kwIV is RFC 3394's default initial value; kwpPrefix the first half of RFC
// 5649's alternative initial value, whose second half is the length.
var (
	kwIV      = [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}
	kwpPrefix = [4]byte{0xA6, 0x59, 0x59, 0xA6}
)

// wrapBlocks runs the wrapping process W of RFC 3394 over the 64-bit
// blocks of p with initial value iv.
func wrapBlocks(b cipher.Block, iv [8]byte, p []byte) []byte {
	n := len(p) / 8
	out := make([]byte, 8+len(p))
	copy(out[8:], p)
	a := iv
	var buf [aes.BlockSize]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(buf[:8], a[:])
			copy(buf[8:], out[8*i:8*i+8])
			b.Encrypt(buf[:], buf[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(buf[:8])^t)
			copy(out[8*i:], buf[8:])
		}
	}
	copy(out[:8], a[:])
	return out
}

// unwrapBlocks runs the unwrapping process W⁻¹ of RFC 3394 and returns the
// recovered initial value and plaintext blocks.
func unwrapBlocks(b cipher.Block, c []byte) ([8]byte, []byte) {
	n := len(c)/8 - 1
	var a [8]byte
	copy(a[:], c[:8])
	out := make([]byte, 8*n)
	copy(out, c[8:])
	var buf [aes.BlockSize]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(buf[:8], binary.BigEndian.Uint64(a[:])^t)
			copy(buf[8:], out[8*(i-1):8*i])
			b.Decrypt(buf[:], buf[:])
			copy(a[:], buf[:8])
			copy(out[8*(i-1):], buf[8:])
		}
	}
	return a, out
}

// keyWrap wraps p (RFC 3394): at least 16 bytes, whole 8-byte blocks.
func keyWrap(b cipher.Block, p []byte) ([]byte, bool) {
	if len(p) < 16 || len(p)%8 != 0 {
		return nil, false
	}
	return wrapBlocks(b, kwIV, p), true
}

// keyUnwrap undoes keyWrap; ok is false when the integrity check fails.
func keyUnwrap(b cipher.Block, c []byte) ([]byte, bool) {
	if len(c) < 24 || len(c)%8 != 0 {
		return nil, false
	}
	a, p := unwrapBlocks(b, c)
	if subtle.ConstantTimeCompare(a[:], kwIV[:]) != 1 {
		clear(p)
		return nil, false
	}
	return p, true
}

// keyWrapPad wraps p of any length from one byte (RFC 5649).
func keyWrapPad(b cipher.Block, p []byte) ([]byte, bool) {
	if len(p) == 0 || uint64(len(p)) > 1<<32-1 {
		return nil, false
	}
	var aiv [8]byte
	copy(aiv[:4], kwpPrefix[:])
	binary.BigEndian.PutUint32(aiv[4:], uint32(len(p)))
	padded := make([]byte, (len(p)+7)/8*8)
	copy(padded, p)
	if len(padded) == 8 {
		// One block: a single AES encryption of AIV || P.
		out := make([]byte, aes.BlockSize)
		copy(out, aiv[:])
		copy(out[8:], padded)
		b.Encrypt(out, out)
		return out, true
	}
	return wrapBlocks(b, aiv, padded), true
}

// keyUnwrapPad undoes keyWrapPad, checking the initial value, the length
// it records and the zero padding.
func keyUnwrapPad(b cipher.Block, c []byte) ([]byte, bool) {
	if len(c) < 16 || len(c)%8 != 0 {
		return nil, false
	}
	var a [8]byte
	var p []byte
	if len(c) == 16 {
		buf := make([]byte, aes.BlockSize)
		b.Decrypt(buf, c)
		copy(a[:], buf[:8])
		p = buf[8:]
	} else {
		a, p = unwrapBlocks(b, c)
	}
	n := int(binary.BigEndian.Uint32(a[4:]))
	ok := subtle.ConstantTimeCompare(a[:4], kwpPrefix[:]) == 1 &&
		n > len(p)-8 && n <= len(p)
	if ok {
		var pad byte
		for _, v := range p[n:] {
			pad |= v
		}
		ok = pad == 0
	}
	if !ok {
		clear(p)
		return nil, false
	}
	return p[:n], true
}
