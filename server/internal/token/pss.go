package token

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"math/big"

	"github.com/keyhold/keyhold/ck"
)

// PSS with an empty salt.
//
// PKCS#11 allows any salt length from 0, and an empty salt (deterministic
// PSS) is a legitimate choice, but Go's crypto/rsa reads SaltLength 0 as
// "as long as possible" when signing and "any length" when verifying, and has
// no raw RSA operation. So this file encodes EMSA-PSS itself (RFC 8017 9.1)
// and does the RSA operation with math/big.
//
// math/big is not constant-time. The private operation is blinded, which
// hides the message-dependent timing, but the exponentiation's timing still
// depends on the key. That is acceptable only because this is a test HSM
// (see the package documentation); every other signature goes through
// crypto/rsa.

// mgf1XOR XORs out with MGF1(seed) (RFC 8017 B.2.1) using h.
func mgf1XOR(out []byte, h hash.Hash, seed []byte) {
	var counter [4]byte
	var digest []byte
	for done := 0; done < len(out); {
		h.Reset()
		h.Write(seed)
		h.Write(counter[:])
		digest = h.Sum(digest[:0])
		done += subtle.XORBytes(out[done:], out[done:], digest)
		binary.BigEndian.PutUint32(counter[:], binary.BigEndian.Uint32(counter[:])+1)
	}
}

// pssHash computes H = Hash(0x00*8 || mHash || salt) into dst.
func pssHash(dst []byte, h hash.Hash, mHash, salt []byte) []byte {
	var prefix [8]byte
	h.Reset()
	h.Write(prefix[:])
	h.Write(mHash)
	h.Write(salt)
	return h.Sum(dst[:0])
}

// emsaPSSEncode is EMSA-PSS-ENCODE (RFC 8017 9.1.1) with an empty salt.
func emsaPSSEncode(mHash []byte, emBits int, h hash.Hash) ([]byte, bool) {
	hLen := h.Size()
	emLen := (emBits + 7) / 8
	if len(mHash) != hLen || emLen < hLen+2 {
		return nil, false
	}
	em := make([]byte, emLen)
	db, hh := em[:emLen-hLen-1], em[emLen-hLen-1:emLen-1]
	pssHash(hh, h, mHash, nil)
	db[len(db)-1] = 0x01 // DB = PS || 0x01 || salt, with an empty salt
	mgf1XOR(db, h, hh)
	db[0] &= 0xFF >> (8*emLen - emBits)
	em[emLen-1] = 0xBC
	return em, true
}

// emsaPSSVerifyEmptySalt is EMSA-PSS-VERIFY (RFC 8017 9.1.2) for sLen = 0.
func emsaPSSVerifyEmptySalt(mHash, em []byte, emBits int, h hash.Hash) bool {
	hLen := h.Size()
	emLen := (emBits + 7) / 8
	if len(mHash) != hLen || len(em) != emLen || emLen < hLen+2 || em[emLen-1] != 0xBC {
		return false
	}
	db := append([]byte(nil), em[:emLen-hLen-1]...)
	hh := em[emLen-hLen-1 : emLen-1]
	mask := byte(0xFF >> (8*emLen - emBits))
	if db[0]&^mask != 0 {
		return false
	}
	mgf1XOR(db, h, hh)
	db[0] &= mask
	for _, b := range db[:len(db)-1] {
		if b != 0 {
			return false
		}
	}
	if db[len(db)-1] != 0x01 {
		return false
	}
	want := pssHash(nil, h, mHash, nil)
	return subtle.ConstantTimeCompare(want, hh) == 1
}

// signPSSEmptySalt signs digest with RSASSA-PSS and an empty salt.
func signPSSEmptySalt(k *keyMaterial, hf crypto.Hash, digest []byte) ([]byte, error) {
	priv := k.rsa
	em, ok := emsaPSSEncode(digest, priv.N.BitLen()-1, hf.New())
	if !ok {
		return nil, ck.Errorf(ck.CKR_DATA_LEN_RANGE, "digest does not fit the key")
	}
	m := new(big.Int).SetBytes(em)
	s, err := rsaPrivateBlinded(priv, k, m)
	if err != nil {
		return nil, err
	}
	return s.FillBytes(make([]byte, priv.Size())), nil
}

// rsaPrivateBlinded computes m^d mod n with the CRT, blinded by a random r:
// s = (m·r^e)^d · r^-1. The result is checked with the public exponent
// before it is returned, so that an arithmetic fault can never release a
// signature that would leak a prime (the Bellcore attack on CRT).
func rsaPrivateBlinded(priv *rsa.PrivateKey, k *keyMaterial, m *big.Int) (*big.Int, error) {
	n := priv.N
	e := big.NewInt(int64(priv.E))
	failed := ck.Errorf(ck.CKR_FUNCTION_FAILED, "RSA operation failed")
	if m.Cmp(n) >= 0 {
		return nil, failed
	}
	var r, rInv *big.Int
	for {
		var err error
		r, err = rand.Int(rand.Reader, n)
		if err != nil {
			return nil, failed
		}
		if r.Sign() > 0 {
			if rInv = new(big.Int).ModInverse(r, n); rInv != nil {
				break
			}
		}
	}
	c := new(big.Int).Exp(r, e, n)
	c.Mul(c, m).Mod(c, n)
	p, q := priv.Primes[0], priv.Primes[1]
	m1 := new(big.Int).Exp(c, k.dp, p)
	m2 := new(big.Int).Exp(c, k.dq, q)
	h := new(big.Int).Sub(m1, m2)
	h.Mul(h, k.qinv).Mod(h, p) // Mod is Euclidean: h is non-negative
	s := h.Mul(h, q).Add(h, m2)
	s.Mul(s, rInv).Mod(s, n)
	if new(big.Int).Exp(s, e, n).Cmp(m) != 0 {
		return nil, failed
	}
	return s, nil
}

// verifyPSSEmptySalt verifies an RSASSA-PSS signature whose salt must be empty.
func verifyPSSEmptySalt(pub *rsa.PublicKey, hf crypto.Hash, digest, sig []byte) bool {
	s := new(big.Int).SetBytes(sig)
	if len(sig) != pub.Size() || s.Cmp(pub.N) >= 0 {
		return false
	}
	m := s.Exp(s, big.NewInt(int64(pub.E)), pub.N)
	emBits := pub.N.BitLen() - 1
	emLen := (emBits + 7) / 8
	full := m.FillBytes(make([]byte, pub.Size()))
	// When emBits is a multiple of 8, EM is one byte shorter than the
	// modulus and the leading byte of m must be zero.
	for _, b := range full[:len(full)-emLen] {
		if b != 0 {
			return false
		}
	}
	return emsaPSSVerifyEmptySalt(digest, full[len(full)-emLen:], emBits, hf.New())
}
