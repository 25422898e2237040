package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSnapshotRestore fills a token with every kind of object, restores its
// snapshot into another token (another node of the cluster), and checks that
// the second token holds the same objects under the same handles and that
// its keys work.
func TestSnapshotRestore(t *testing.T) {
	a := newTestToken(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, der := selfSigned(t, ecKey)

	rsaPriv := mustCreate(t, a, User, rsaPrivTemplate(testRSA(t), ck.String(ck.CKA_LABEL, "rsa")))
	ecPub, ecPriv, err := a.GenerateKeyPair(User, mechECGen, ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, curveOID(elliptic.P256()))}, nil)
	require.NoError(t, err)
	edPriv := mustCreate(t, a, User, edPrivTemplate(edKey))
	aes, err := a.GenerateKey(User, mechAESGen, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 32)})
	require.NoError(t, err)
	mustCreate(t, a, SO, certTemplate(der, ck.Bool(ck.CKA_TRUSTED, true)))
	mustCreate(t, a, Public, dataTemplate(ck.Bool(ck.CKA_TOKEN, false)))
	mustCreate(t, a, User, ecPrivTemplate(ecKey, ck.Bytes(ck.CKA_ALLOWED_MECHANISMS, ulongValue(uint64(ck.CKM_ECDSA)))))
	require.NoError(t, a.SetAttributes(User, rsaPriv, ck.Template{ck.String(ck.CKA_LABEL, "renamed")}))

	snap := a.Snapshot()
	require.Len(t, snap, 8)
	b := newTestToken(t)
	for _, rec := range snap {
		require.NoError(t, b.Restore(rec))
	}
	assert.Equal(t, snap, b.Snapshot(), "the restored token has the same objects, in the same order")
	hs, err := b.Find(User, nil)
	require.NoError(t, err)
	ha, err := a.Find(User, nil)
	require.NoError(t, err)
	assert.Equal(t, ha, hs)

	// Keys work across: sign on b, verify on a, and the other way.
	d := digest(crypto.SHA256, "m")
	sig, err := b.Sign(User, ecPriv, ckECDSA, d)
	require.NoError(t, err)
	require.NoError(t, a.Verify(User, ecPub, ckECDSA, d, sig))
	sig, err = b.Sign(User, rsaPriv, pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 0), d)
	require.NoError(t, err)
	require.NoError(t, rsa.VerifyPSS(&testRSA(t).PublicKey, crypto.SHA256, d, sig, nil))
	sig, err = b.Sign(User, edPriv, ckEdDSA, d)
	require.NoError(t, err)
	require.NoError(t, a.Verify(User, edPriv, ckEdDSA, d, sig))
	ct, err := a.Encrypt(User, aes, gcm(make([]byte, 12), nil, 128), d)
	require.NoError(t, err)
	pt, err := b.Decrypt(User, aes, gcm(make([]byte, 12), nil, 128), ct)
	require.NoError(t, err)
	assert.Equal(t, d, pt)
	// Sensitivity survives.
	res, err := b.GetAttributes(User, aes, []ck.AttributeType{ck.CKA_VALUE, ck.CKA_LOCAL})
	require.NoError(t, err)
	assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, res[0].RV)
	assert.Equal(t, []byte{1}, res[1].Value)

	// Restoring an updated record replaces the object under its handle.
	require.NoError(t, a.SetAttributes(User, rsaPriv, ck.Template{ck.Bool(ck.CKA_SIGN, false)}))
	for _, rec := range a.Snapshot() {
		if rec.Handle == rsaPriv {
			require.NoError(t, b.Restore(rec))
		}
	}
	assert.Equal(t, a.Snapshot(), b.Snapshot())
	_, err = b.Sign(User, rsaPriv, ckRSAPKCS, d)
	requireRV(t, err, ck.CKR_KEY_FUNCTION_NOT_PERMITTED)

	// Records are copies.
	snap[0].Attributes[0].Value[0] ^= 0xFF
	assert.NotEqual(t, snap[0], a.Snapshot()[0])
}

func TestRestoreRejectsBadRecords(t *testing.T) {
	a := newTestToken(t)
	h := mustCreate(t, a, User, ecPrivTemplate(mustEC(t)))
	rec := a.Snapshot()[0]
	replace := func(typ ck.AttributeType, v []byte) ObjectRecord {
		out := ObjectRecord{Handle: rec.Handle}
		for _, at := range rec.Attributes {
			if at.Type == typ {
				at.Value = v
			}
			out.Attributes = append(out.Attributes, at)
		}
		return out
	}
	drop := func(typ ck.AttributeType) ObjectRecord {
		out := ObjectRecord{Handle: rec.Handle}
		for _, at := range rec.Attributes {
			if at.Type != typ {
				out.Attributes = append(out.Attributes, at)
			}
		}
		return out
	}
	tests := []struct {
		name string
		rec  ObjectRecord
		rv   ck.ReturnValue
	}{
		{"handle zero", ObjectRecord{Handle: 0, Attributes: rec.Attributes}, ck.CKR_ARGUMENTS_BAD},
		{"handle of 64 bits", ObjectRecord{Handle: 1 << 63, Attributes: rec.Attributes}, ck.CKR_ARGUMENTS_BAD},
		{"no class", drop(ck.CKA_CLASS), ck.CKR_TEMPLATE_INCOMPLETE},
		{"no key value", drop(ck.CKA_VALUE), ck.CKR_TEMPLATE_INCOMPLETE},
		{"point of another key", replace(ck.CKA_EC_POINT, derOctetString(mustBytes(mustEC(t).PublicKey.Bytes()))), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"bad scalar", replace(ck.CKA_VALUE, make([]byte, 32)), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"bad bool", replace(ck.CKA_SIGN, []byte{7}), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"foreign attribute", ObjectRecord{Handle: rec.Handle, Attributes: append(append([]ck.Attribute{}, rec.Attributes...), ck.Bytes(ck.CKA_MODULUS, []byte{1}))}, ck.CKR_TEMPLATE_INCONSISTENT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestToken(t)
			requireRV(t, b.Restore(tc.rec), tc.rv)
			assert.Zero(t, b.Info().ObjectCount)
			// Nor does a bad record replace a good object.
			requireRV(t, a.Restore(tc.rec), tc.rv)
			assert.Equal(t, rec, a.Snapshot()[0])
		})
	}
	// A record missing attributes with defaults gets the defaults.
	b := newTestToken(t)
	require.NoError(t, b.Restore(drop(ck.CKA_LABEL)))
	assert.Equal(t, []byte{}, attr(t, b, User, h, ck.CKA_LABEL))
}

func mustEC(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}
