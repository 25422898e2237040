//go:build go1.27

package main

import (
	"crypto/mldsa"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/tlsconfig"
)

// TestMLDSATLS: a TLS 1.3 handshake between Go's client and a tlsconfig
// server whose ML-DSA-65 key is in a partition. Both keys of the chain are
// generated in partitions with keyhold keys generate, and the chain is made
// with keyhold cert create: an ML-DSA-87 CA, self-signed, issues the
// server's certificate, which is stored with the server's key. The client
// trusts the CA alone, so the handshake verifies the chain and the
// server's CertificateVerify, signed in the HSM.
func TestMLDSATLS(t *testing.T) {
	c, env := startCLI(t)
	r := c.ok("keys", "generate", "--partition", "payments", "--label", "pq-ca", "--type", "ml-dsa-87")
	assert.Contains(t, r.stdout, "ML-DSA-87")
	r = c.ok("keys", "generate", "--partition", "web", "--label", "pq-tls", "--type", "ml-dsa-65")
	assert.Contains(t, r.stdout, "ML-DSA-65")

	caFile := filepath.Join(c.dir, "pq-ca.pem")
	c.ok("cert", "create", "--key", "payments/pq-ca", "--self-signed", "--is-ca", "--subject", "CN=PQ CA", "--out", caFile)
	c.ok("cert", "create", "--key", "web/pq-tls", "--ca", caFile+",payments/pq-ca", "--dns", "localhost", "--ip", "127.0.0.1")
	assert.Contains(t, c.ok("keys", "list", "--partition", "web").stdout, "ML-DSA-65")

	caPEM, err := os.ReadFile(caFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(caPEM))

	client, err := hsm.Open(ctxT(t), env.Config)
	require.NoError(t, err)
	defer client.Close()
	part, err := client.Partition("web")
	require.NoError(t, err)
	require.NoError(t, part.Login(ctxT(t), cliPIN))
	id, err := tlsconfig.NewIdentity(ctxT(t), client, tlsconfig.Options{Key: "web/pq-tls"})
	require.NoError(t, err)
	defer id.Close()
	require.Len(t, id.Chain(), 2, "the leaf and the CA, from the partition")

	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsconfig.Server(id, &tls.Config{MinVersion: tls.VersionTLS13}))
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		if err := conn.(*tls.Conn).HandshakeContext(ctxT(t)); err != nil {
			served <- err
			return
		}
		_, err = io.WriteString(conn, "post-quantum hello")
		served <- err
	}()

	conn, err := tls.DialWithDialer(&net.Dialer{}, "tcp", ln.Addr().String(), &tls.Config{
		RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS13,
	})
	require.NoError(t, err)
	defer conn.Close()
	msg, err := io.ReadAll(conn)
	require.NoError(t, err)
	require.NoError(t, <-served)
	assert.Equal(t, "post-quantum hello", string(msg))

	st := conn.ConnectionState()
	assert.Equal(t, uint16(tls.VersionTLS13), st.Version)
	// Go's default key exchange is post-quantum too: the handshake is
	// ML-KEM (hybrid) for its secrets and ML-DSA for its authentication.
	assert.Equal(t, tls.X25519MLKEM768, st.CurveID)
	leaf := st.PeerCertificates[0]
	pub, ok := leaf.PublicKey.(*mldsa.PublicKey)
	require.True(t, ok, "%T", leaf.PublicKey)
	assert.Equal(t, mldsa.MLDSA65(), pub.Parameters())
	assert.True(t, id.Key().Public().(*mldsa.PublicKey).Equal(pub), "the partition's key")

	// keys public prints it as the standard library encodes it.
	pubPEM := c.ok("keys", "public", "web/pq-tls").stdout
	printed, err := x509.ParsePKIXPublicKey(parsePEM(t, pubPEM, "PUBLIC KEY"))
	require.NoError(t, err)
	assert.True(t, pub.Equal(printed))
	require.Len(t, st.VerifiedChains, 1)
	assert.Len(t, st.VerifiedChains[0], 2)
}
