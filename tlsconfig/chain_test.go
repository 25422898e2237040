package tlsconfig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChainFor: among certificates stored with a key, the newest valid one
// for the key is the leaf, followed by its issuers; certificates for other
// keys and stale renewals are left out.
func TestChainFor(t *testing.T) {
	now := time.Now()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	caKey, leafKey, otherKey := newKey(), newKey(), newKey()
	serial := int64(0)
	cert := func(cn string, pub crypto.PublicKey, issuer *x509.Certificate, signer *ecdsa.PrivateKey, from, to time.Time) *x509.Certificate {
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: from, NotAfter: to, BasicConstraintsValid: true, IsCA: issuer == nil,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
		if issuer == nil {
			issuer = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, signer)
		require.NoError(t, err)
		c, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		return c
	}
	ca := cert("ca", caKey.Public(), nil, caKey, now.Add(-time.Hour), now.Add(time.Hour))
	old := cert("old", leafKey.Public(), ca, caKey, now.Add(-time.Hour), now.Add(time.Hour))
	renewed := cert("renewed", leafKey.Public(), ca, caKey, now.Add(-time.Minute), now.Add(time.Hour))
	future := cert("future", leafKey.Public(), ca, caKey, now.Add(time.Hour), now.Add(2*time.Hour))
	other := cert("other", otherKey.Public(), ca, caKey, now.Add(-time.Minute), now.Add(time.Hour))

	names := func(chain []*x509.Certificate) []string {
		var out []string
		for _, c := range chain {
			out = append(out, c.Subject.CommonName)
		}
		return out
	}
	assert.Equal(t, []string{"renewed", "ca"}, names(chainFor(leafKey.Public(), []*x509.Certificate{other, ca, old, future, renewed}, now)))
	assert.Equal(t, []string{"old", "ca"}, names(chainFor(leafKey.Public(), []*x509.Certificate{old, ca}, now)))
	assert.Equal(t, []string{"future"}, names(chainFor(leafKey.Public(), []*x509.Certificate{future}, now)), "a leaf not yet valid still beats none")
	assert.Nil(t, chainFor(leafKey.Public(), []*x509.Certificate{other, ca}, now))
}
