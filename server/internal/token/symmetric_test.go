package token

import (
	"bytes"
	"crypto/aes"
	"crypto/ecdh"
	"crypto/elliptic"
	"crypto/rand"
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

// TestSymmetricKeysRestore checks that a generic secret, an unwrapped key
// and a derived key come back from their snapshot records the same: a
// replica or a restored backup MACs, decrypts and reports attributes as
// the original does.
func TestSymmetricKeysRestore(t *testing.T) {
	a := newTestToken(t)
	secret := func(kt ck.KeyType, value []byte, usage ...ck.Attribute) Handle {
		return mustCreate(t, a, User, append(ck.Template{
			ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)),
			ck.ULong(ck.CKA_KEY_TYPE, uint64(kt)),
			ck.Bytes(ck.CKA_VALUE, value),
		}, usage...))
	}
	hmacKey := secret(ck.CKK_GENERIC_SECRET, bytes.Repeat([]byte{0x0b}, 20))
	kek := secret(ck.CKK_AES, bytes.Repeat([]byte{1}, 16), ck.Bool(ck.CKA_WRAP, true), ck.Bool(ck.CKA_UNWRAP, true))
	moving := secret(ck.CKK_AES, bytes.Repeat([]byte{2}, 32), ck.Bool(ck.CKA_EXTRACTABLE, true))
	kw := ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP_KWP}
	wrapped, err := a.WrapKey(User, kek, kw, moving)
	require.NoError(t, err)
	unwrapped, err := a.UnwrapKey(User, kek, kw, wrapped, ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_AES))})
	require.NoError(t, err)
	base, err := newECDHBase(a)
	require.NoError(t, err)
	derived, err := a.DeriveKey(User, base.h, ck.Mechanism{Type: ck.CKM_ECDH1_DERIVE, ECDH: &ck.ECDHParams{KDF: ck.CKD_NULL, PublicData: base.peer}},
		ck.Template{ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_GENERIC_SECRET)), ck.Bool(ck.CKA_SIGN, true)})
	require.NoError(t, err)

	b := newTestToken(t)
	for _, rec := range a.Snapshot() {
		require.NoError(t, b.Restore(rec))
	}
	assert.Equal(t, a.Snapshot(), b.Snapshot())
	msg := []byte("Hi There")
	for _, h := range []Handle{hmacKey, derived} {
		want, err := a.Sign(User, h, ck.Mechanism{Type: ck.CKM_SHA256_HMAC}, msg)
		require.NoError(t, err)
		got, err := b.Sign(User, h, ck.Mechanism{Type: ck.CKM_SHA256_HMAC}, msg)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	ecb := ck.Mechanism{Type: ck.CKM_AES_ECB}
	want, err := a.Encrypt(User, moving, ecb, make([]byte, 16))
	require.NoError(t, err)
	got, err := b.Encrypt(User, unwrapped, ecb, make([]byte, 16))
	require.NoError(t, err)
	assert.Equal(t, want, got, "the unwrapped key, restored, is the wrapped one")
}

type ecdhBase struct {
	h    Handle
	peer []byte // an uncompressed point on the base key's curve
}

// newECDHBase generates a P-256 key pair that may derive, and a peer point.
func newECDHBase(tok *Token) (ecdhBase, error) {
	_, priv, err := tok.GenerateKeyPair(User, mechECGen, ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, curveOID(elliptic.P256()))},
		ck.Template{ck.Bool(ck.CKA_DERIVE, true)})
	if err != nil {
		return ecdhBase{}, err
	}
	peer, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return ecdhBase{}, err
	}
	return ecdhBase{h: priv, peer: peer.PublicKey().Bytes()}, nil
}

// TestAgree checks ECDH agreement without a key object: the standard
// library's secret, for a key that may derive and a logged-in user only.
func TestAgree(t *testing.T) {
	tok := newTestToken(t)
	base, err := newECDHBase(tok)
	require.NoError(t, err)
	m := ck.Mechanism{Type: ck.CKM_ECDH1_DERIVE, ECDH: &ck.ECDHParams{KDF: ck.CKD_NULL, PublicData: base.peer}}
	z, err := tok.Agree(User, base.h, m, nil)
	require.NoError(t, err)
	require.Len(t, z, 32)

	_, err = tok.Agree(Public, base.h, m, nil)
	assert.Equal(t, ck.CKR_OBJECT_HANDLE_INVALID, rvOfErr(err), "a private key is invisible without a login")
	_, err = tok.Agree(User, base.h, m, []byte{1})
	assert.Equal(t, ck.CKR_ARGUMENTS_BAD, rvOfErr(err))
	bad := ck.Mechanism{Type: ck.CKM_ECDH1_DERIVE, ECDH: &ck.ECDHParams{KDF: ck.CKD_SHA256_KDF, PublicData: base.peer}}
	_, err = tok.Agree(User, base.h, bad, nil)
	assert.Equal(t, ck.CKR_MECHANISM_PARAM_INVALID, rvOfErr(err))
	notOnCurve := ck.Mechanism{Type: ck.CKM_ECDH1_DERIVE, ECDH: &ck.ECDHParams{KDF: ck.CKD_NULL, PublicData: append([]byte{4}, make([]byte, 64)...)}}
	_, err = tok.Agree(User, base.h, notOnCurve, nil)
	assert.Equal(t, ck.CKR_MECHANISM_PARAM_INVALID, rvOfErr(err))

	_, plain, err := tok.GenerateKeyPair(User, mechECGen, ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, curveOID(elliptic.P256()))}, nil)
	require.NoError(t, err)
	_, err = tok.Agree(User, plain, m, nil)
	assert.Equal(t, ck.CKR_KEY_FUNCTION_NOT_PERMITTED, rvOfErr(err), "CKA_DERIVE is false by default")
}
