package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parsePEM decodes the one PEM block of s.
func parsePEM(t *testing.T, s, typ string) []byte {
	t.Helper()
	b, rest := pem.Decode([]byte(s))
	require.NotNil(t, b, s)
	require.Equal(t, typ, b.Type)
	require.Empty(t, rest)
	return b.Bytes
}

// TestCertCreateAndCSR: a CA made with cert create --self-signed --is-ca
// issues a server certificate for another partition's key with --ca; both
// are stored with their keys, the standard library (and OpenSSL, when
// present) verifies the chain, and csr makes a request the standard library
// checks.
func TestCertCreateAndCSR(t *testing.T) {
	c, env := startCLI(t)
	c.ok("keys", "generate", "--partition", "web", "--label", "ca", "--type", "ec")
	c.ok("keys", "generate", "--partition", "payments", "--label", "tls", "--type", "rsa")

	caFile := filepath.Join(c.dir, "ca.pem")
	r := c.ok("cert", "create", "--key", "web/ca", "--self-signed", "--is-ca", "--subject", "CN=Test CA,O=keyhold", "--days", "30", "--out", caFile)
	assert.Empty(t, r.stdout, "written to --out")
	caPEM, err := os.ReadFile(caFile)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(parsePEM(t, string(caPEM), "CERTIFICATE"))
	require.NoError(t, err)
	assert.True(t, ca.IsCA)
	assert.Equal(t, "Test CA", ca.Subject.CommonName)
	assert.True(t, ca.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(engineKey(t, env, "web", "ca").Public()))

	r = c.ok("cert", "create", "--key", "pkcs11:token=payments;object=tls", "--ca", caFile+",web/ca", "--dns", "localhost,web.example", "--ip", "127.0.0.1")
	leafPEM := r.stdout
	leaf, err := x509.ParseCertificate(parsePEM(t, leafPEM, "CERTIFICATE"))
	require.NoError(t, err)
	assert.Equal(t, "localhost", leaf.Subject.CommonName)
	assert.Equal(t, []string{"localhost", "web.example"}, leaf.DNSNames)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "web.example"})
	require.NoError(t, err)

	// Stored with the key, CA after it.
	var exported certOutput
	c.json(&exported, "cert", "export", "payments/tls")
	require.Len(t, exported.Certificates, 2)
	assert.Equal(t, "CN=localhost", exported.Certificates[0].Subject)
	assert.Equal(t, "CN=Test CA,O=keyhold", exported.Certificates[1].Subject)

	if openssl, err := exec.LookPath("openssl"); err == nil {
		leafFile := c.file("leaf.pem", []byte(leafPEM))
		out, err := exec.Command(openssl, "verify", "-CAfile", caFile, leafFile).CombinedOutput()
		require.NoError(t, err, string(out))
	} else if os.Getenv("KEYHOLD_REQUIRE_CLIENTS") == "1" {
		t.Fatal("openssl is required (KEYHOLD_REQUIRE_CLIENTS=1)")
	}

	r = c.ok("csr", "--key", "payments/tls", "--subject", "CN=web.example,O=Example,C=DE", "--dns", "web.example", "--dns", "www.example")
	req, err := x509.ParseCertificateRequest(parsePEM(t, r.stdout, "CERTIFICATE REQUEST"))
	require.NoError(t, err)
	require.NoError(t, req.CheckSignature())
	assert.Equal(t, "CN=web.example,O=Example,C=DE", req.Subject.String())
	assert.Equal(t, []string{"web.example", "www.example"}, req.DNSNames)

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"neither self-signed nor ca", []string{"cert", "create", "--key", "web/ca", "--subject", "CN=x"}, exitUsage},
		{"both", []string{"cert", "create", "--key", "web/ca", "--self-signed", "--ca", caFile + ",web/ca", "--subject", "CN=x"}, exitUsage},
		{"bad subject", []string{"cert", "create", "--key", "web/ca", "--self-signed", "--subject", "XX=y"}, exitUsage},
		{"no name", []string{"csr", "--key", "web/ca"}, exitUsage},
		{"CA key not the CA's", []string{"cert", "create", "--key", "web/ca", "--ca", caFile + ",payments/tls", "--dns", "x"}, exitFailed},
		{"issuer not a CA", []string{"cert", "create", "--key", "web/ca", "--ca", c.file("leaf2.pem", []byte(leafPEM)) + ",payments/tls", "--dns", "x"}, exitFailed},
		{"no such key", []string{"csr", "--key", "web/none", "--dns", "x"}, exitNotFound},
	} {
		got := c.run(nil, tc.args...)
		assert.Equal(t, tc.code, got.code, "%s: %s", tc.name, got)
	}
}
