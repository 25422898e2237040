package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/subtle"
	"math/big"

	"github.com/keyhold/keyhold/ck"
)

// The AES block modes of PKCS#11 (CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD,
// CKM_AES_CTR), AES-CMAC (NIST SP 800-38B) and HMAC. Each works on one whole
// message: multi-part operations are the client's to assemble.

// blockInput checks that n bytes are whole blocks, as ECB and CBC without
// padding need; the code says which side is wrong.
func blockInput(n int, decrypt bool) error {
	if n%aes.BlockSize == 0 {
		return nil
	}
	if decrypt {
		return ck.Errorf(ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "ciphertext of %d bytes is not whole %d-byte blocks", n, aes.BlockSize)
	}
	return ck.Errorf(ck.CKR_DATA_LEN_RANGE, "data of %d bytes is not whole %d-byte blocks", n, aes.BlockSize)
}

func cbcIV(m ck.Mechanism) error {
	if len(m.IV) != aes.BlockSize {
		return ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v needs a %d-byte IV, not %d bytes", m.Type, aes.BlockSize, len(m.IV))
	}
	return nil
}

// aesCrypt runs one of the AES block modes over data.
func (k *keyMaterial) aesCrypt(m ck.Mechanism, data []byte, decrypt bool) ([]byte, error) {
	switch m.Type {
	case ck.CKM_AES_ECB:
		if err := blockInput(len(data), decrypt); err != nil {
			return nil, err
		}
		out := make([]byte, len(data))
		for i := 0; i < len(data); i += aes.BlockSize {
			if decrypt {
				k.block.Decrypt(out[i:], data[i:])
			} else {
				k.block.Encrypt(out[i:], data[i:])
			}
		}
		return out, nil
	case ck.CKM_AES_CBC, ck.CKM_AES_CBC_PAD:
		if err := cbcIV(m); err != nil {
			return nil, err
		}
		pad := m.Type == ck.CKM_AES_CBC_PAD
		if !decrypt {
			in := data
			if pad {
				// PKCS #7: one to sixteen bytes, each the pad's length.
				n := aes.BlockSize - len(data)%aes.BlockSize
				in = make([]byte, len(data)+n)
				copy(in, data)
				for i := len(data); i < len(in); i++ {
					in[i] = byte(n)
				}
			} else if err := blockInput(len(data), false); err != nil {
				return nil, err
			}
			out := make([]byte, len(in))
			cipher.NewCBCEncrypter(k.block, m.IV).CryptBlocks(out, in)
			return out, nil
		}
		if err := blockInput(len(data), true); err != nil {
			return nil, err
		}
		if pad && len(data) == 0 {
			return nil, ck.Errorf(ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "padded ciphertext has at least one block")
		}
		out := make([]byte, len(data))
		cipher.NewCBCDecrypter(k.block, m.IV).CryptBlocks(out, data)
		if !pad {
			return out, nil
		}
		return unpad(out)
	case ck.CKM_AES_CTR:
		if err := checkCTR(m.CTR, len(data)); err != nil {
			return nil, err
		}
		out := make([]byte, len(data))
		cipher.NewCTR(k.block, m.CTR.Block).XORKeyStream(out, data)
		return out, nil
	}
	return nil, ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v is not an AES mode", m.Type)
}

// unpad removes PKCS #7 padding, checking every pad byte. A bad pad is
// CKR_ENCRYPTED_DATA_INVALID, whatever is wrong with it.
func unpad(b []byte) ([]byte, error) {
	n := int(b[len(b)-1])
	good := subtle.ConstantTimeLessOrEq(1, n) & subtle.ConstantTimeLessOrEq(n, aes.BlockSize)
	for i := 1; i <= aes.BlockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, n)
		same := subtle.ConstantTimeByteEq(b[len(b)-i], byte(n))
		good &= subtle.ConstantTimeSelect(inPad, same, 1)
	}
	if good != 1 {
		clear(b)
		return nil, ck.Errorf(ck.CKR_ENCRYPTED_DATA_INVALID, "the padding is not valid")
	}
	return b[:len(b)-n], nil
}

// checkCTR checks CK_AES_CTR_PARAMS for n bytes of data. The counter is the
// last CounterBits bits of the block; PKCS#11 leaves a counter that would
// wrap around to the token, and this one refuses it (CKR_DATA_LEN_RANGE):
// a wrapped counter reuses key stream. Within that bound, incrementing
// only the counter bits and incrementing the whole block agree.
func checkCTR(p *ck.CTRParams, n int) error {
	if len(p.Block) != aes.BlockSize || p.CounterBits == 0 || p.CounterBits > 128 {
		return ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "CK_AES_CTR_PARAMS need a 16-byte block and 1 to 128 counter bits")
	}
	blocks := new(big.Int).SetUint64(uint64((n + aes.BlockSize - 1) / aes.BlockSize))
	ctr := new(big.Int).SetBytes(p.Block)
	space := new(big.Int).Lsh(big.NewInt(1), uint(p.CounterBits))
	ctr.Mod(ctr, space)
	if ctr.Add(ctr, blocks).Cmp(space) > 0 {
		return ck.Errorf(ck.CKR_DATA_LEN_RANGE, "%d bytes would wrap the %d-bit counter around", n, p.CounterBits)
	}
	return nil
}

// cmac computes AES-CMAC (NIST SP 800-38B) of msg.
func cmac(b cipher.Block, msg []byte) []byte {
	var k1, k2, l [aes.BlockSize]byte
	b.Encrypt(l[:], l[:])
	dbl(k1[:], l[:])
	dbl(k2[:], k1[:])
	n := (len(msg) + aes.BlockSize - 1) / aes.BlockSize
	complete := n > 0 && len(msg)%aes.BlockSize == 0
	if n == 0 {
		n = 1
	}
	var x, last [aes.BlockSize]byte
	for i := 0; i < n-1; i++ {
		subtle.XORBytes(x[:], x[:], msg[i*aes.BlockSize:(i+1)*aes.BlockSize])
		b.Encrypt(x[:], x[:])
	}
	rest := msg[(n-1)*aes.BlockSize:]
	copy(last[:], rest)
	if complete {
		subtle.XORBytes(last[:], last[:], k1[:])
	} else {
		last[len(rest)] = 0x80
		subtle.XORBytes(last[:], last[:], k2[:])
	}
	subtle.XORBytes(x[:], x[:], last[:])
	b.Encrypt(x[:], x[:])
	return x[:]
}

// dbl doubles src in GF(2^128) (SP 800-38B subkey generation).
func dbl(dst, src []byte) {
	var carry byte
	for i := len(src) - 1; i >= 0; i-- {
		dst[i] = src[i]<<1 | carry
		carry = src[i] >> 7
	}
	dst[len(dst)-1] ^= byte(subtle.ConstantTimeSelect(int(carry), 0x87, 0))
}

// mac computes the MAC of a symmetric signing mechanism: AES-CMAC with an
// AES key, HMAC with a generic secret.
func (k *keyMaterial) mac(t ck.MechanismType, data []byte) ([]byte, error) {
	if t == ck.CKM_AES_CMAC {
		return cmac(k.block, data), nil
	}
	h, ok := hmacHashes[t]
	if !ok {
		return nil, ck.Errorf(ck.CKR_MECHANISM_INVALID, "%v is not a MAC", t)
	}
	m := hmac.New(h.New, k.secret)
	m.Write(data)
	return m.Sum(nil), nil
}

// verifyMAC recomputes a MAC and compares it in constant time.
func (k *keyMaterial) verifyMAC(t ck.MechanismType, data, sig []byte) error {
	want, err := k.mac(t, data)
	if err != nil {
		return err
	}
	if len(sig) != len(want) {
		return ck.Errorf(ck.CKR_SIGNATURE_LEN_RANGE, "a %v has %d bytes", t, len(want))
	}
	if !hmac.Equal(want, sig) {
		return ck.Errorf(ck.CKR_SIGNATURE_INVALID, "the MAC does not verify")
	}
	return nil
}
