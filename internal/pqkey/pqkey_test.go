package pqkey

import (
	"bytes"
	"crypto/mlkem"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
)

func TestLookup(t *testing.T) {
	p, err := Lookup(ck.CKK_ML_DSA, ck.CKP_ML_DSA_65)
	require.NoError(t, err)
	assert.Equal(t, MLDSA65, p)
	p, err = Lookup(ck.CKK_ML_KEM, ck.CKP_ML_KEM_1024)
	require.NoError(t, err)
	assert.Equal(t, MLKEM1024, p)
	_, err = Lookup(ck.CKK_ML_KEM, 4)
	require.ErrorIs(t, err, ErrUnknown)
	_, err = Lookup(ck.CKK_EC, ck.CKP_ML_DSA_44)
	require.ErrorIs(t, err, ErrUnknown)
}

// TestSPKIRoundTrip: an ML-KEM-768 public key in a SubjectPublicKeyInfo
// (id-alg-ml-kem-768, 2.16.840.1.101.3.4.4.2) parses back to itself.
func TestSPKIRoundTrip(t *testing.T) {
	dk, err := mlkem.GenerateKey768()
	require.NoError(t, err)
	pub := dk.EncapsulationKey().Bytes()
	der, err := MLKEM768.MarshalSPKI(pub)
	require.NoError(t, err)
	// SEQUENCE { SEQUENCE { OID 2.16.840.1.101.3.4.4.2 } BIT STRING }
	assert.True(t, bytes.HasPrefix(der, []byte{0x30, 0x82, 0x04, 0xb2, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x02, 0x03, 0x82, 0x04, 0xa1, 0x00}), "%x", der[:24])
	p, raw, err := ParseSPKI(der)
	require.NoError(t, err)
	assert.Equal(t, MLKEM768, p)
	assert.Equal(t, pub, raw)

	_, err = MLKEM1024.MarshalSPKI(pub)
	require.Error(t, err, "wrong size for the set")
	_, _, err = ParseSPKI(append(der, 0))
	require.Error(t, err, "trailing data")
}

// FuzzParseSPKI: any input either parses to a known parameter set with a
// public key of its size, which marshals back to the same DER, or fails.
func FuzzParseSPKI(f *testing.F) {
	for _, p := range all {
		der, err := p.MarshalSPKI(make([]byte, p.PublicSize))
		require.NoError(f, err)
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x03, 0x30, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		p, raw, err := ParseSPKI(der)
		if err != nil {
			if !errors.Is(err, ErrUnknown) {
				assert.Nil(t, p)
			}
			return
		}
		require.Len(t, raw, p.PublicSize)
		again, err := p.MarshalSPKI(raw)
		require.NoError(t, err)
		// DER has one encoding per value, but Go's parser accepts some BER
		// length forms; the parsed value must still be what it re-encodes.
		p2, raw2, err := ParseSPKI(again)
		require.NoError(t, err)
		assert.Equal(t, p, p2)
		assert.Equal(t, raw, raw2)
	})
}
