//go:build !go1.27

package token

import (
	"crypto/rand"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/pqkey"
)

// mldsaMechanisms is empty: a node built with Go 1.26 offers no ML-DSA.
var mldsaMechanisms = map[ck.MechanismType]MechanismInfo{}

// TestMLDSAHeldWithoutGo127: a node without ML-DSA refuses to make ML-DSA
// keys, but restores the record of one that a node with ML-DSA made (a
// cluster member, a backup): the key is kept as it is, listed, and refused
// for use with CKR_MECHANISM_INVALID.
func TestMLDSAHeldWithoutGo127(t *testing.T) {
	tok := newTestToken(t)
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	_, err := tok.Create(User, pqPrivTemplate(ck.CKK_ML_DSA, ck.CKP_ML_DSA_65, seed))
	requireRV(t, err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	_, _, err = tok.GenerateKeyPair(User, ck.Mechanism{Type: ck.CKM_ML_DSA_KEY_PAIR_GEN}, ck.Template{ck.ULong(ck.CKA_PARAMETER_SET, ck.CKP_ML_DSA_65)}, nil)
	requireRV(t, err, ck.CKR_MECHANISM_INVALID)

	// An ML-DSA private key's record, as a node with ML-DSA writes it: made
	// here from an ML-KEM key's record, with the ML-DSA values.
	_, priv, err := tok.GenerateKeyPair(User, mechMLKEMGen, ck.Template{ck.ULong(ck.CKA_PARAMETER_SET, ck.CKP_ML_KEM_768)}, nil)
	require.NoError(t, err)
	spki, err := pqkey.MLDSA65.MarshalSPKI(make([]byte, pqkey.MLDSA65.PublicSize))
	require.NoError(t, err)
	var rec ObjectRecord
	for _, r := range tok.Snapshot() {
		if r.Handle == priv {
			rec = r
		}
	}
	require.NotZero(t, rec.Handle)
	rec.Handle = 0x1234
	rec.Attributes = slices.DeleteFunc(slices.Clone(rec.Attributes), func(a ck.Attribute) bool { return a.Type == ck.CKA_DECAPSULATE })
	for i, a := range rec.Attributes {
		switch a.Type {
		case ck.CKA_KEY_TYPE:
			rec.Attributes[i] = ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_ML_DSA))
		case ck.CKA_PARAMETER_SET:
			rec.Attributes[i] = ck.ULong(ck.CKA_PARAMETER_SET, ck.CKP_ML_DSA_65)
		case ck.CKA_SEED:
			rec.Attributes[i] = ck.Bytes(ck.CKA_SEED, seed)
		case ck.CKA_PUBLIC_KEY_INFO:
			rec.Attributes[i] = ck.Bytes(ck.CKA_PUBLIC_KEY_INFO, spki)
		case ck.CKA_SIGN:
			rec.Attributes[i] = ck.Bool(ck.CKA_SIGN, true)
		}
	}
	require.NoError(t, tok.Restore(rec))
	vals, err := tok.GetAttributes(User, 0x1234, []ck.AttributeType{ck.CKA_KEY_TYPE, ck.CKA_PUBLIC_KEY_INFO})
	require.NoError(t, err)
	assert.Equal(t, ulongValue(uint64(ck.CKK_ML_DSA)), vals[0].Value)
	assert.Equal(t, spki, vals[1].Value)
	_, err = tok.Sign(User, 0x1234, ck.Mechanism{Type: ck.CKM_ML_DSA}, []byte("m"))
	requireRV(t, err, ck.CKR_MECHANISM_INVALID)

	// It is kept as it came: its record is the same.
	other := newTestToken(t)
	require.NoError(t, other.Restore(rec))
	assert.Contains(t, other.Snapshot(), rec)
}
