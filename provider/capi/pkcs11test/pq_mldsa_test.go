//go:build go1.27

package pkcs11test

import (
	"bytes"
	"crypto/elliptic"
	"crypto/mldsa"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/pqkey"
	"github.com/keyhold/keyhold/provider/capi/internal/rawp11"
)

// A build with Go 1.27 offers ML-DSA: public key sizes in bytes, ML-DSA-44
// to ML-DSA-87.
func init() {
	mechanismSpecs[ckmMLDSAKeyPairGen] = mechanismSpec{1312, 2592, pkcs11.CKF_GENERATE_KEY_PAIR}
	mechanismSpecs[ckmMLDSA] = mechanismSpec{1312, 2592, signVerify}
}

// mldsaParams is crypto/mldsa's parameter set of p.
func mldsaParams(p *pqkey.Params) mldsa.Parameters {
	switch p {
	case pqkey.MLDSA44:
		return mldsa.MLDSA44()
	case pqkey.MLDSA87:
		return mldsa.MLDSA87()
	}
	return mldsa.MLDSA65()
}

// signMLDSA signs msg with CKM_ML_DSA and the parameter sc (none when nil)
// through raw calls, asking the length first as applications do.
func signMLDSA(t *testing.T, l *rawp11.Lib, s, key uint, sc *rawp11.SignContextParams, msg []byte) []byte {
	t.Helper()
	requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Sign, s, &rawp11.Mechanism{Type: ckmMLDSA, SignCtx: sc}, key), "C_SignInit(CKM_ML_DSA)")
	rv, n, _ := l.Single(rawp11.Sign, s, rawp11.Bytes(msg), rawp11.Query())
	requireRawRV(t, pkcs11.CKR_OK, rv, "C_Sign length query")
	rv, n2, sig := l.Single(rawp11.Sign, s, rawp11.Bytes(msg), rawp11.Buffer(n))
	requireRawRV(t, pkcs11.CKR_OK, rv, "C_Sign")
	require.Equal(t, n, n2, "the length asked is the signature's")
	return sig
}

// TestMLDSA checks ML-DSA through the library: key pairs of the three
// parameter sets whose public CKA_VALUE crypto/mldsa takes, signatures with
// and without a context that crypto/mldsa verifies, signature lengths
// answered from the parameter set, hedged and deterministic signing as
// asked, and verification through C_Verify and C_VerifySignature.
func TestMLDSA(t *testing.T) {
	f := setup(t)
	l := raw(t)
	i := v32(t)
	sh := f.userSession()
	s := uint(sh)
	msg := []byte("a message signed in the partition")
	ctx := []byte("keyhold test context")

	info, err := f.p.GetMechanismInfo(f.slot, mech(ckmMLDSA, nil))
	require.NoError(t, err)
	assert.Equal(t, uint(pkcs11.CKF_HW|pkcs11.CKF_SIGN|pkcs11.CKF_VERIFY), info.Flags)
	assert.Equal(t, []uint{1312, 2592}, []uint{info.MinKeySize, info.MaxKeySize}, "public key bytes of ML-DSA-44 and ML-DSA-87")

	for _, p := range []*pqkey.Params{pqkey.MLDSA44, pqkey.MLDSA65, pqkey.MLDSA87} {
		t.Run(p.Name, func(t *testing.T) {
			k := f.genPQ(sh, p, "sign "+p.Name)
			assert.Equal(t, uint(p.Set), f.ulongAttr(sh, k.pub, ckaParameterSet))
			pub, err := mldsa.NewPublicKey(mldsaParams(p), f.attr(sh, k.pub, pkcs11.CKA_VALUE))
			require.NoError(t, err, "CKA_VALUE is the FIPS 204 encoding of the public key")

			// No parameter: an empty context.
			sig := signMLDSA(t, l, s, uint(k.priv), nil, msg)
			require.Len(t, sig, p.OutputSize)
			require.NoError(t, mldsa.Verify(pub, msg, sig, nil))

			// A context, hedged as required.
			hedged := &rawp11.SignContextParams{Hedge: uint(ck.CKH_HEDGE_REQUIRED), Context: rawp11.Bytes(ctx)}
			sig = signMLDSA(t, l, s, uint(k.priv), hedged, msg)
			require.NoError(t, mldsa.Verify(pub, msg, sig, &mldsa.Options{Context: string(ctx)}))
			assert.Error(t, mldsa.Verify(pub, msg, sig, nil), "the context is bound to the signature")
			again := signMLDSA(t, l, s, uint(k.priv), hedged, msg)
			assert.False(t, bytes.Equal(sig, again), "hedged signatures differ")

			// Deterministic, as required: the same signature twice.
			det := &rawp11.SignContextParams{Hedge: uint(ck.CKH_DETERMINISTIC_REQUIRED), Context: rawp11.Bytes(ctx)}
			d1 := signMLDSA(t, l, s, uint(k.priv), det, msg)
			d2 := signMLDSA(t, l, s, uint(k.priv), det, msg)
			assert.Equal(t, d1, d2, "deterministic signatures are equal")
			require.NoError(t, mldsa.Verify(pub, msg, d1, &mldsa.Options{Context: string(ctx)}))

			// Multi-part signing: the parts are the message.
			requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Sign, s, &rawp11.Mechanism{Type: ckmMLDSA, SignCtx: det}, uint(k.priv)))
			for _, part := range [][]byte{msg[:5], msg[5:]} {
				rv, _, _ := l.Update(rawp11.Sign, s, rawp11.Bytes(part), rawp11.Out{})
				requireRawRV(t, pkcs11.CKR_OK, rv, "C_SignUpdate")
			}
			rv, _, multi := l.Final(rawp11.Sign, s, rawp11.Buffer(uint(p.OutputSize)))
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_SignFinal")
			assert.Equal(t, d1, multi, "C_SignUpdate/C_SignFinal sign the same message")

			// Verification in the HSM: C_Verify, and C_VerifySignature.
			verify := &rawp11.Mechanism{Type: ckmMLDSA, SignCtx: &rawp11.SignContextParams{Context: rawp11.Bytes(ctx)}}
			requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.VerifyOp, s, verify, uint(k.pub)))
			requireRawRV(t, pkcs11.CKR_OK, l.Verify(s, rawp11.Bytes(msg), rawp11.Bytes(sig)), "C_Verify")
			// The hedge variant is ignored on verification, whatever it is.
			ignored := &rawp11.Mechanism{Type: ckmMLDSA, SignCtx: &rawp11.SignContextParams{Hedge: 7, Context: rawp11.Bytes(ctx)}}
			requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.VerifyOp, s, ignored, uint(k.pub)))
			requireRawRV(t, pkcs11.CKR_OK, l.Verify(s, rawp11.Bytes(msg), rawp11.Bytes(sig)), "C_Verify with hedge variant 7")
			requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.VerifyOp, s, &rawp11.Mechanism{Type: ckmMLDSA}, uint(k.pub)))
			requireRawRV(t, pkcs11.CKR_SIGNATURE_INVALID, l.Verify(s, rawp11.Bytes(msg), rawp11.Bytes(sig)), "C_Verify without the context")
			requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.VerifyOp, s, verify, uint(k.pub)))
			requireRawRV(t, pkcs11.CKR_SIGNATURE_LEN_RANGE, l.Verify(s, rawp11.Bytes(msg), rawp11.Bytes(sig[1:])), "C_Verify with a short signature")
			rv, err = i.VerifySignatureInit(s, verify, uint(k.pub), rawp11.Bytes(sig))
			require.NoError(t, err)
			requireRawRV(t, pkcs11.CKR_OK, rv)
			for _, part := range [][]byte{msg[:9], msg[9:]} {
				rv, _ = i.VerifySignatureUpdate(s, rawp11.Bytes(part))
				requireRawRV(t, pkcs11.CKR_OK, rv)
			}
			rv, _ = i.VerifySignatureFinal(s)
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_VerifySignatureUpdate/C_VerifySignatureFinal")
		})
	}
}

// TestMLDSABadInput checks that C_SignInit refuses wrong ML-DSA parameters
// and keys with the exact code, and starts no operation.
func TestMLDSABadInput(t *testing.T) {
	f := setup(t)
	l := raw(t)
	sh := f.userSession()
	s := uint(sh)
	k := f.genPQ(sh, pqkey.MLDSA65, "mldsa-bad")
	ec := f.genEC(sh, elliptic.P256(), "mldsa-bad-ec")
	kem := f.genPQ(sh, pqkey.MLKEM768, "mldsa-bad-kem")
	ctx := func(n int) rawp11.In { return rawp11.Bytes(bytes.Repeat([]byte{'c'}, n)) }
	before := f.objectCount(t, sh)

	cases := []struct {
		name string
		mech *rawp11.Mechanism
		key  uint
		want uint
	}{
		{"a context of 256 bytes", &rawp11.Mechanism{Type: ckmMLDSA, SignCtx: &rawp11.SignContextParams{Context: ctx(256)}}, uint(k.priv), pkcs11.CKR_MECHANISM_PARAM_INVALID},
		{"hedge variant 3", &rawp11.Mechanism{Type: ckmMLDSA, SignCtx: &rawp11.SignContextParams{Hedge: 3}}, uint(k.priv), pkcs11.CKR_MECHANISM_PARAM_INVALID},
		{"a parameter one byte short", &rawp11.Mechanism{Type: ckmMLDSA, SignCtx: &rawp11.SignContextParams{}, SetLen: true, ParamLen: rawp11.SizeofSignContext - 1},
			uint(k.priv), pkcs11.CKR_MECHANISM_PARAM_INVALID},
		{"a NULL context with a length", &rawp11.Mechanism{Type: ckmMLDSA, SignCtx: &rawp11.SignContextParams{Context: rawp11.NullIn(8)}}, uint(k.priv),
			pkcs11.CKR_MECHANISM_PARAM_INVALID},
		{"a NULL parameter with a length", &rawp11.Mechanism{Type: ckmMLDSA, NullParam: true, ParamLen: rawp11.SizeofSignContext}, uint(k.priv),
			pkcs11.CKR_MECHANISM_PARAM_INVALID},
		{"an EC key", &rawp11.Mechanism{Type: ckmMLDSA}, uint(ec.priv), pkcs11.CKR_KEY_TYPE_INCONSISTENT},
		{"an ML-KEM key", &rawp11.Mechanism{Type: ckmMLDSA}, uint(kem.priv), pkcs11.CKR_KEY_TYPE_INCONSISTENT},
		{"the public key", &rawp11.Mechanism{Type: ckmMLDSA}, uint(k.pub), pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED},
	}
	for _, c := range cases {
		requireRawRV(t, c.want, l.Init(rawp11.Sign, s, c.mech, c.key), "C_SignInit(CKM_ML_DSA) with %s", c.name)
		rv, _, _ := l.Single(rawp11.Sign, s, rawp11.Bytes([]byte("m")), rawp11.Query())
		requireRawRV(t, pkcs11.CKR_OPERATION_NOT_INITIALIZED, rv, "a refused C_SignInit with %s starts nothing", c.name)
	}
	// 255 bytes is the longest context FIPS 204 allows.
	sig := signMLDSA(t, l, s, uint(k.priv), &rawp11.SignContextParams{Context: ctx(255)}, []byte("m"))
	assert.Len(t, sig, pqkey.MLDSA65.OutputSize)

	// An EC mechanism with an ML-DSA key.
	requireRawRV(t, pkcs11.CKR_KEY_TYPE_INCONSISTENT, l.Init(rawp11.Sign, s, &rawp11.Mechanism{Type: pkcs11.CKM_ECDSA}, uint(k.priv)))
	// Key generation with a parameter set ML-DSA does not have.
	pubT, privT := pqTemplates(pqkey.MLDSA65, "mldsa-bad-set")
	pubT = override(pubT, []*pkcs11.Attribute{pkcs11.NewAttribute(ckaParameterSet, 9)})
	_, _, err := f.p.GenerateKeyPair(sh, mech(ckmMLDSAKeyPairGen, nil), pubT, privT)
	requireRV(t, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID, err, "CKA_PARAMETER_SET 9")
	assert.Equal(t, before, f.objectCount(t, sh), "no refused call made an object")
}

// TestMLDSALengthQueryLocal: an ML-DSA signature's length follows from the
// key's parameter set, which the library learnt at the key's first use: a
// C_Sign length query is answered with the HSM down.
func TestMLDSALengthQueryLocal(t *testing.T) {
	f := setup(t)
	l := raw(t)
	sh := f.userSession()
	s := uint(sh)
	k := f.genPQ(sh, pqkey.MLDSA87, "mldsa-local")
	signMLDSA(t, l, s, uint(k.priv), nil, []byte("m"))
	requireRawRV(t, pkcs11.CKR_OK, l.Init(rawp11.Sign, s, &rawp11.Mechanism{Type: ckmMLDSA}, uint(k.priv)))

	f.hsm.Node.Stop()
	rv, n, _ := l.Single(rawp11.Sign, s, rawp11.Bytes([]byte("m")), rawp11.Query())
	requireRawRV(t, pkcs11.CKR_OK, rv, "length query with the HSM down")
	assert.Equal(t, uint(pqkey.MLDSA87.OutputSize), n)
	rv, _, _ = l.Single(rawp11.Sign, s, rawp11.Bytes([]byte("m")), rawp11.Buffer(n))
	requireRawRV(t, pkcs11.CKR_DEVICE_REMOVED, rv, "the signature itself needs the HSM")
	require.NoError(t, f.hsm.Node.Restart())
}

// TestMLDSAImported: an ML-DSA key of crypto/mldsa imported by its seed
// (CKA_SEED) signs in the HSM exactly as crypto/mldsa signs: deterministic
// signatures, with a context, are equal byte for byte.
func TestMLDSAImported(t *testing.T) {
	f := setup(t)
	l := raw(t)
	sh := f.userSession()
	msg, ctx := []byte("imported"), "a context"
	for _, p := range []*pqkey.Params{pqkey.MLDSA44, pqkey.MLDSA65, pqkey.MLDSA87} {
		t.Run(p.Name, func(t *testing.T) {
			sk, err := mldsa.GenerateKey(mldsaParams(p))
			require.NoError(t, err)
			priv := f.importPQPrivate(sh, p, sk.Bytes())
			det := &rawp11.SignContextParams{Hedge: uint(ck.CKH_DETERMINISTIC_REQUIRED), Context: rawp11.Bytes([]byte(ctx))}
			got := signMLDSA(t, l, uint(sh), uint(priv), det, msg)
			want, err := sk.SignDeterministic(msg, &mldsa.Options{Context: ctx})
			require.NoError(t, err)
			assert.Equal(t, want, got, "the HSM's deterministic signature is crypto/mldsa's")
		})
	}
}
