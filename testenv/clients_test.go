package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// enrollTLS is the TLS of a client that has no credential yet.
func enrollTLS(t testing.TB, env *Env) *tls.Config {
	cfg := clientTLS(t, env, tls.Certificate{})
	cfg.Certificates = nil
	return cfg
}

// newCSR returns a key and a CSR for it.
func newCSR(t testing.TB, cn string) (*ecdsa.PrivateKey, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	require.NoError(t, err)
	return key, csr
}

// enrollOn enrolls name on node n with password and returns the credential.
func enrollOn(t testing.TB, env *Env, n *Node, name, password string) (tls.Certificate, error) {
	c, err := wire.Dial(ctxT(t), n.Addr(), enrollTLS(t, env), wire.DialOptions{})
	require.NoError(t, err)
	defer c.Close()
	key, csr := newCSR(t, "chosen-by-client")
	var rep wire.CertificateReply
	if err := c.Call(ctxT(t), wire.OpEnroll, wire.EnrollRequest{Name: name, Password: []byte(password), CSR: csr}, &rep); err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(rep.Certificate)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{rep.Certificate}, PrivateKey: key, Leaf: leaf}, nil
}

func TestEnrollOnlyConnection(t *testing.T) {
	env := Start(t)
	c, err := wire.Dial(ctxT(t), env.Node.Addr(), enrollTLS(t, env), wire.DialOptions{})
	require.NoError(t, err)
	defer c.Close()
	for op, req := range map[wire.Op]any{
		wire.OpPing:          wire.PingRequest{},
		wire.OpLogin:         wire.LoginRequest{Partition: env.PartitionID, User: 1, PIN: []byte(env.UserPIN)},
		wire.OpFindObjects:   wire.FindObjectsRequest{Partition: env.PartitionID},
		wire.OpRotate:        wire.RotateRequest{},
		wire.OpPartitionInfo: wire.PartitionInfoRequest{Partition: env.PartitionID},
	} {
		requireCode(t, c.Call(ctxT(t), op, req, nil), wire.CodeEnrollmentRequired)
	}

	pw, err := env.Node.CreateClient("host-1", 0)
	require.NoError(t, err)
	assert.Len(t, pw, 32, "160 bits in base32")
	_, err = env.Node.CreateClient("host-1", 0)
	require.Error(t, err, "one name, one entry")
	cert, err := enrollOn(t, env, env.Node, "host-1", pw)
	require.NoError(t, err)
	assert.Equal(t, "host-1", cert.Leaf.Subject.CommonName, "the entry names the client, not the CSR")
	_, err = cert.Leaf.Verify(x509.VerifyOptions{Roots: env.PKI.ClientCAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)

	// The credential works; the password is spent.
	require.NoError(t, dial(t, env, cert).Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
	_, err = enrollOn(t, env, env.Node, "host-1", pw)
	requireCode(t, err, wire.CodeEnrollRefused)
	info, ok := env.Node.Client("host-1")
	require.True(t, ok)
	assert.True(t, info.Enrolled)
	assert.NotEmpty(t, info.Serial)
}

// TestRevocationOnOpenConnection: a revoked credential's open connection
// stops working at its next request; other clients go on.
func TestRevocationOnOpenConnection(t *testing.T) {
	env := Start(t)
	pw, err := env.Node.CreateClient("doomed", 0)
	require.NoError(t, err)
	cert, err := enrollOn(t, env, env.Node, "doomed", pw)
	require.NoError(t, err)
	doomed := dial(t, env, cert)
	other := dial(t, env)
	require.NoError(t, doomed.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))

	require.NoError(t, env.Node.RevokeClient("doomed"))
	requireCode(t, doomed.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil), wire.CodeClientRevoked)
	require.NoError(t, other.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
	// A credential issued outside enrollment is revoked by its name.
	require.NoError(t, env.Node.RevokeClient(env.Credential.Name))
	requireCode(t, other.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil), wire.CodeClientRevoked)
}

func TestRotateAndRetire(t *testing.T) {
	env := Start(t)
	pw, err := env.Node.CreateClient("rot", 0)
	require.NoError(t, err)
	oldCert, err := enrollOn(t, env, env.Node, "rot", pw)
	require.NoError(t, err)
	oc := dial(t, env, oldCert)
	key, csr := newCSR(t, "rot")
	var rep wire.CertificateReply
	require.NoError(t, oc.Call(ctxT(t), wire.OpRotate, wire.RotateRequest{CSR: csr}, &rep))
	leaf, err := x509.ParseCertificate(rep.Certificate)
	require.NoError(t, err)
	newCert := tls.Certificate{Certificate: [][]byte{rep.Certificate}, PrivateKey: key, Leaf: leaf}
	nc := dial(t, env, newCert)

	// Both work until the old one is retired, by the new one only.
	require.NoError(t, oc.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
	requireCode(t, oc.Call(ctxT(t), wire.OpRetire, wire.RetireRequest{Fingerprint: wire.Fingerprint(oldCert.Leaf)}, nil), ck.CKR_ACTION_PROHIBITED)
	require.NoError(t, nc.Call(ctxT(t), wire.OpRetire, wire.RetireRequest{Fingerprint: wire.Fingerprint(oldCert.Leaf)}, nil))
	requireCode(t, oc.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil), wire.CodeClientRevoked)
	require.NoError(t, nc.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))

	// A credential not issued by enrollment cannot rotate.
	_, csr2 := newCSR(t, "x")
	requireCode(t, dial(t, env).Call(ctxT(t), wire.OpRotate, wire.RotateRequest{CSR: csr2}, nil), ck.CKR_ACTION_PROHIBITED)
}

// TestClientEntriesReplicate: an entry created while a node is down, and a
// wrong password counted on one node, are on every node; one enrollment is
// valid everywhere.
func TestClientEntriesReplicate(t *testing.T) {
	env := Start(t, WithNodes(3))
	a, b := env.Cluster.Nodes()[0], env.Cluster.Nodes()[1]
	b.Kill()
	pw, err := a.CreateClient("late", time.Hour)
	require.NoError(t, err)
	require.NoError(t, b.Restart())
	waitCurrent(t, b)
	info, ok := b.Client("late")
	require.True(t, ok, "caught up on restart")
	assert.WithinDuration(t, time.Now().Add(time.Hour), info.Expires, time.Minute)

	_, err = enrollOn(t, env, b, "late", "WRONGWRONGWRONGWRONGWRONGWRONGWR")
	requireCode(t, err, wire.CodeEnrollRefused)
	// Committed before the refusal left b; applied on a within moments.
	require.Eventually(t, func() bool { info, _ = a.Client("late"); return info.Failures == 1 }, 10*time.Second, 5*time.Millisecond)

	cert, err := enrollOn(t, env, b, "late", pw)
	require.NoError(t, err)
	for _, n := range []*Node{a, b} {
		c, err := wire.Dial(ctxT(t), n.Addr(), clientTLS(t, env, cert), wire.DialOptions{})
		require.NoError(t, err)
		require.NoError(t, c.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
		c.Close()
	}
	_, err = enrollOn(t, env, a, "late", pw)
	requireCode(t, err, wire.CodeEnrollRefused)
}
