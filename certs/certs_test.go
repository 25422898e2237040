package certs_test

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/certs"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// partition starts a software HSM and returns its partition, logged in.
func partition(t *testing.T) *hsm.Partition {
	env := testenv.Start(t)
	client, err := hsm.Open(context.Background(), env.Config)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	p, err := client.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, p.Login(context.Background(), env.UserPIN))
	return p
}

var specs = []hsm.KeySpec{
	{Type: hsm.KeyEC, Curve: elliptic.P256()},
	{Type: hsm.KeyEC, Curve: elliptic.P384()},
	{Type: hsm.KeyRSA, Bits: 2048},
	{Type: hsm.KeyEd25519},
}

// TestSelfSignedIssueRequest makes, for each key type, a self-signed CA, a
// server certificate it issues for another key, and a request; the standard
// library verifies each.
func TestSelfSignedIssueRequest(t *testing.T) {
	ctx := context.Background()
	p := partition(t)
	for _, spec := range specs {
		name := fmt.Sprint(spec.Type)
		if spec.Curve != nil {
			name += spec.Curve.Params().Name
		}
		if spec.ParameterSet != 0 {
			name += fmt.Sprint(spec.ParameterSet)
		}
		t.Run(name, func(t *testing.T) {
			caSpec, leafSpec := spec, spec
			caSpec.Label, leafSpec.Label = name+"-ca", name+"-leaf"
			caKey, err := p.GenerateKey(ctx, caSpec)
			require.NoError(t, err)
			leafKey, err := p.GenerateKey(ctx, leafSpec)
			require.NoError(t, err)

			ca, err := certs.SelfSigned(ctx, caKey, certs.Template{Subject: pkix.Name{CommonName: "Test CA", Organization: []string{"keyhold"}}, IsCA: true, Validity: 48 * time.Hour})
			require.NoError(t, err)
			assert.True(t, ca.IsCA)
			require.NoError(t, ca.CheckSignatureFrom(ca))
			assert.True(t, ca.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(caKey.Public()))

			leaf, err := certs.Issue(ctx, leafKey.Public(), certs.Template{DNSNames: []string{"web.example"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Validity: 1000 * time.Hour}, ca, caKey)
			require.NoError(t, err)
			assert.Equal(t, "web.example", leaf.Subject.CommonName, "the first DNS name is the default common name")
			assert.False(t, leaf.NotAfter.After(ca.NotAfter), "a leaf ends no later than its CA")
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "web.example"})
			require.NoError(t, err)

			csr, err := certs.Request(ctx, leafKey, certs.Template{Subject: pkix.Name{CommonName: "web.example"}, DNSNames: []string{"web.example"}})
			require.NoError(t, err)
			require.NoError(t, csr.CheckSignature())
			assert.Equal(t, []string{"web.example"}, csr.DNSNames)
			assert.True(t, csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(leafKey.Public()))
		})
	}
}

func TestIssueRefusals(t *testing.T) {
	ctx := context.Background()
	p := partition(t)
	caKey, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "ca"})
	require.NoError(t, err)
	other, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "other"})
	require.NoError(t, err)
	ca, err := certs.SelfSigned(ctx, caKey, certs.Template{Subject: pkix.Name{CommonName: "CA"}, IsCA: true})
	require.NoError(t, err)
	leaf, err := certs.SelfSigned(ctx, other, certs.Template{DNSNames: []string{"leaf"}})
	require.NoError(t, err)

	_, err = certs.Issue(ctx, other.Public(), certs.Template{DNSNames: []string{"x"}}, ca, other)
	require.ErrorIs(t, err, certs.ErrCAKeyMismatch)
	_, err = certs.Issue(ctx, caKey.Public(), certs.Template{DNSNames: []string{"x"}}, leaf, other)
	require.ErrorIs(t, err, certs.ErrNotCA)
	_, err = certs.SelfSigned(ctx, caKey, certs.Template{})
	require.ErrorIs(t, err, certs.ErrNoSubject)
}
