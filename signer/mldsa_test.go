//go:build go1.27

package signer_test

import (
	"bytes"
	"crypto"
	"crypto/mldsa"
	"crypto/rand"
	"crypto/sha3"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
)

// mldsaSigner generates an ML-DSA key of parameter set set and returns it
// as a crypto.Signer.
func mldsaSigner(t testing.TB, set uint64) *signer.Signer {
	t.Helper()
	s, err := signer.New(softwareKey(t, hsm.KeySpec{Type: hsm.KeyMLDSA, ParameterSet: set, Label: "mldsa"}))
	require.NoError(t, err)
	return s
}

// TestSignerMLDSA: an ML-DSA partition key is a crypto.Signer and
// crypto.MessageSigner as *mldsa.PrivateKey is, and crypto/mldsa verifies
// what it signs: messages with and without a context, a caller's mu, and
// a message too large for one request (reduced to mu in process).
func TestSignerMLDSA(t *testing.T) {
	s := mldsaSigner(t, ck.CKP_ML_DSA_65)
	var _ crypto.MessageSigner = s
	pk, ok := s.Public().(*mldsa.PublicKey)
	require.True(t, ok, "%T", s.Public())
	assert.Equal(t, mldsa.MLDSA65(), pk.Parameters())
	msg := []byte("an ML-DSA signature from a partition")

	sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
	require.NoError(t, err)
	require.NoError(t, mldsa.Verify(pk, msg, sig, nil))

	sig, err = s.Sign(nil, msg, &mldsa.Options{Context: "purpose"})
	require.NoError(t, err)
	require.NoError(t, mldsa.Verify(pk, msg, sig, &mldsa.Options{Context: "purpose"}))
	require.Error(t, mldsa.Verify(pk, msg, sig, nil))

	sig, err = s.SignMessage(nil, msg, nil)
	require.NoError(t, err)
	require.NoError(t, mldsa.Verify(pk, msg, sig, nil))

	big := bytes.Repeat([]byte("x"), hsm.MaxData+1)
	sig, err = s.Sign(nil, big, &mldsa.Options{Context: "large"})
	require.NoError(t, err)
	require.NoError(t, mldsa.Verify(pk, big, sig, &mldsa.Options{Context: "large"}))

	// A caller that computes mu itself, as crypto/mldsa accepts it.
	mu := externalMu(pk, msg, "")
	sig, err = s.Sign(nil, mu, crypto.MLDSAMu)
	require.NoError(t, err)
	require.NoError(t, mldsa.Verify(pk, msg, sig, nil))

	_, err = s.Sign(nil, msg, crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrMechanismParam)
}

// externalMu computes mu as FIPS 204 defines it (algorithms 2 and 7),
// independently of the signer: SHAKE256(tr || 0 || len(ctx) || ctx || msg)
// with tr = SHAKE256(pk).
func externalMu(pk *mldsa.PublicKey, msg []byte, ctx string) []byte {
	h := sha3.NewSHAKE256()
	h.Write(sha3.SumSHAKE256(pk.Bytes(), 64))
	h.Write(append([]byte{0, byte(len(ctx))}, ctx...))
	h.Write(msg)
	mu := make([]byte, 64)
	h.Read(mu)
	return mu
}

// TestSignerMLDSACertificate: x509.CreateCertificate signs with the
// partition key, and the certificate verifies under its own ML-DSA key.
func TestSignerMLDSACertificate(t *testing.T) {
	for _, set := range []uint64{ck.CKP_ML_DSA_44, ck.CKP_ML_DSA_65, ck.CKP_ML_DSA_87} {
		s := mldsaSigner(t, set)
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "ml-dsa partition key"},
			NotBefore:             time.Now().Add(-time.Minute),
			NotAfter:              time.Now().Add(time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Public(), s)
		require.NoError(t, err)
		cert, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		require.True(t, s.Public().(*mldsa.PublicKey).Equal(cert.PublicKey))
		require.NoError(t, cert.CheckSignatureFrom(cert))
	}
}
