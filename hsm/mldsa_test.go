//go:build go1.27

package hsm_test

import (
	"crypto/mldsa"
	"crypto/sha3"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// externalMu computes ML-DSA's message representative mu (FIPS 204,
// algorithm 2 and 7) for the pure signature of msg with context ctx.
func externalMu(pk *mldsa.PublicKey, msg, ctx []byte) []byte {
	tr := sha3.SumSHAKE256(pk.Bytes(), 64)
	h := sha3.NewSHAKE256()
	h.Write(tr)
	h.Write([]byte{0, byte(len(ctx))})
	h.Write(ctx)
	h.Write(msg)
	mu := make([]byte, 64)
	h.Read(mu)
	return mu
}

// TestMLDSASign generates ML-DSA keys of every parameter set in the
// partition and checks with crypto/mldsa what the HSM signs: pure with and
// without a context, hedged and deterministic, and from an external mu.
func TestMLDSASign(t *testing.T) {
	p, _ := loggedIn(t)
	msg := []byte("signed in the partition")
	for _, tc := range []struct {
		set    uint64
		params mldsa.Parameters
	}{{ck.CKP_ML_DSA_44, mldsa.MLDSA44()}, {ck.CKP_ML_DSA_65, mldsa.MLDSA65()}, {ck.CKP_ML_DSA_87, mldsa.MLDSA87()}} {
		t.Run(tc.params.String(), func(t *testing.T) {
			k, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyMLDSA, ParameterSet: tc.set, Label: tc.params.String()})
			require.NoError(t, err)
			assert.Equal(t, hsm.KeyMLDSA, k.Type())
			assert.Equal(t, tc.set, k.ParameterSet())
			pk, ok := k.Public().(*mldsa.PublicKey)
			require.True(t, ok, "Public() is %T", k.Public())
			assert.Equal(t, tc.params, pk.Parameters())

			sig, err := k.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ML_DSA}, msg)
			require.NoError(t, err)
			require.Len(t, sig, tc.params.SignatureSize())
			require.NoError(t, mldsa.Verify(pk, msg, sig, nil))
			require.NoError(t, k.Verify(ctx(t), hsm.Mechanism{Type: ck.CKM_ML_DSA}, msg, sig))

			withCtx := hsm.Mechanism{Type: ck.CKM_ML_DSA, SignContext: &ck.SignContextParams{Hedge: ck.CKH_HEDGE_REQUIRED, Context: []byte("keyhold")}}
			sig, err = k.Sign(ctx(t), withCtx, msg)
			require.NoError(t, err)
			require.NoError(t, mldsa.Verify(pk, msg, sig, &mldsa.Options{Context: "keyhold"}))
			require.Error(t, mldsa.Verify(pk, msg, sig, nil), "the context is bound")
			require.ErrorIs(t, k.Verify(ctx(t), hsm.Mechanism{Type: ck.CKM_ML_DSA}, msg, sig), hsm.ErrSignatureInvalid)

			det := hsm.Mechanism{Type: ck.CKM_ML_DSA, SignContext: &ck.SignContextParams{Hedge: ck.CKH_DETERMINISTIC_REQUIRED}}
			s1, err := k.Sign(ctx(t), det, msg)
			require.NoError(t, err)
			s2, err := k.Sign(ctx(t), det, msg)
			require.NoError(t, err)
			assert.Equal(t, s1, s2, "deterministic signatures repeat")
			require.NoError(t, mldsa.Verify(pk, msg, s1, nil))
			h1, err := k.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ML_DSA}, msg)
			require.NoError(t, err)
			assert.NotEqual(t, s1, h1, "hedged signatures do not")

			mu := externalMu(pk, msg, []byte("ctx"))
			sig, err = k.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ML_DSA_EXTERNAL_MU}, mu)
			require.NoError(t, err)
			require.NoError(t, mldsa.Verify(pk, msg, sig, &mldsa.Options{Context: "ctx"}))
		})
	}
}

// TestMLDSABadInput: bad parameters are refused with the typed error and
// sign nothing.
func TestMLDSABadInput(t *testing.T) {
	p, _ := loggedIn(t)
	k, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyMLDSA, Label: "bad"})
	require.NoError(t, err)
	_, err = k.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ML_DSA, SignContext: &ck.SignContextParams{Context: make([]byte, 256)}}, []byte("m"))
	require.ErrorIs(t, err, hsm.ErrMechanismParam)
	_, err = k.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ML_DSA, SignContext: &ck.SignContextParams{Hedge: 7}}, []byte("m"))
	require.ErrorIs(t, err, hsm.ErrMechanismParam)
	_, err = k.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ML_DSA_EXTERNAL_MU}, make([]byte, 63))
	require.ErrorIs(t, err, hsm.ErrDataInvalid)
	_, err = k.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ML_DSA_EXTERNAL_MU, SignContext: &ck.SignContextParams{Context: []byte("c")}}, make([]byte, 64))
	require.ErrorIs(t, err, hsm.ErrMechanismParam)
	_, err = k.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_HASH_ML_DSA}, []byte("m"))
	require.ErrorIs(t, err, hsm.ErrMechanismUnsupported)
	_, err = k.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ML_DSA, PSS: &ck.PSSParams{}}, []byte("m"))
	require.ErrorIs(t, err, hsm.ErrMechanismParam)
}

// TestMLDSAImport imports a crypto/mldsa key: the partition key has the
// same public key and its signatures verify under it.
func TestMLDSAImport(t *testing.T) {
	p, _ := loggedIn(t)
	sk, err := mldsa.GenerateKey(mldsa.MLDSA87())
	require.NoError(t, err)
	k, err := p.ImportKey(ctx(t), sk, hsm.KeySpec{Label: "imported-mldsa"})
	require.NoError(t, err)
	assert.Equal(t, uint64(ck.CKP_ML_DSA_87), k.ParameterSet())
	require.True(t, sk.PublicKey().Equal(k.Public()))
	det := hsm.Mechanism{Type: ck.CKM_ML_DSA, SignContext: &ck.SignContextParams{Hedge: ck.CKH_DETERMINISTIC_REQUIRED}}
	sig, err := k.Sign(ctx(t), det, []byte("same key"))
	require.NoError(t, err)
	want, err := sk.SignDeterministic([]byte("same key"), nil)
	require.NoError(t, err)
	assert.Equal(t, want, sig)
}

// TestMLDSAKnownAnswers runs C2SP/CCTV's accumulated ML-DSA vectors (FIPS
// 204) through the software HSM's import path: 100 seeds read from
// SHAKE128 are imported as private keys by CKA_SEED alone, and the public
// key the HSM derives and its deterministic signature of the empty message
// are written to a second SHAKE128, whose first 32 bytes are the published
// value.
func TestMLDSAKnownAnswers(t *testing.T) {
	p, _ := loggedIn(t)
	det := hsm.Mechanism{Type: ck.CKM_ML_DSA, SignContext: &ck.SignContextParams{Hedge: ck.CKH_DETERMINISTIC_REQUIRED}}
	for _, tt := range []struct {
		set  uint64
		want string
	}{
		{ck.CKP_ML_DSA_44, "d51148e1f9f4fa1a723a6cf42e25f2a99eb5c1b378b3d2dbbd561b1203beeae4"},
		{ck.CKP_ML_DSA_65, "8358a1843220194417cadbc2651295cd8fc65125b5a5c1a239a16dc8b57ca199"},
		{ck.CKP_ML_DSA_87, "8c3ad714777622b8f21ce31bb35f71394f23bc0fcf3c78ace5d608990f3b061b"},
	} {
		t.Run(fmt.Sprint(tt.set), func(t *testing.T) {
			seeds, acc := sha3.NewSHAKE128(), sha3.NewSHAKE128()
			for i := range 100 {
				seed := make([]byte, 32)
				seeds.Read(seed)
				label := fmt.Sprintf("acc-%d-%d", tt.set, i)
				_, err := p.CreateObject(ctx(t), hsm.Template{
					ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
					ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_ML_DSA)),
					ck.ULong(ck.CKA_PARAMETER_SET, tt.set),
					ck.Bytes(ck.CKA_SEED, seed),
					ck.String(ck.CKA_LABEL, label),
				})
				require.NoError(t, err)
				k, err := p.FindKey(ctx(t), hsm.KeyQuery{Label: label})
				require.NoError(t, err)
				pk := k.Public().(*mldsa.PublicKey)
				sig, err := k.Sign(ctx(t), det, nil)
				require.NoError(t, err)
				require.NoError(t, mldsa.Verify(pk, nil, sig, nil))
				acc.Write(pk.Bytes())
				acc.Write(sig)
				require.NoError(t, k.Destroy(ctx(t)))
			}
			got := make([]byte, 32)
			acc.Read(got)
			assert.Equal(t, tt.want, hex.EncodeToString(got))
		})
	}
}
