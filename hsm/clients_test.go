package hsm_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/testenv"
)

// soPartition returns a client of a new two-node cluster with the test
// partition logged in as the SO.
func soPartition(t *testing.T) (*hsm.Partition, *testenv.Env) {
	t.Helper()
	c, env := open(t, testenv.WithNodes(2))
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, p.LoginAs(ctx(t), hsm.SO, env.SOPIN))
	return p, env
}

// enrollOver enrolls name with password over the wire, as ppin does, on the
// node at addr, and returns the credential: a key generated here and the
// certificate the node issued for it.
func enrollOver(t *testing.T, env *testenv.Env, addr, name, password string) (tls.Certificate, error) {
	t.Helper()
	cfg, err := wire.ClientTLS{RootCAs: env.Config.RootCAs}.Config()
	require.NoError(t, err)
	c, err := wire.Dial(ctx(t), addr, cfg, wire.DialOptions{})
	require.NoError(t, err)
	defer c.Close()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	require.NoError(t, err)
	var rep wire.CertificateReply
	if err := c.Call(ctx(t), wire.OpEnroll, wire.EnrollRequest{Name: name, Password: []byte(password), CSR: csr}, &rep); err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(rep.Certificate)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{rep.Certificate}, PrivateKey: key, Leaf: leaf}, nil
}

// clientWith opens a client of env that authenticates with cred, logged in
// as the User.
func clientWith(t *testing.T, env *testenv.Env, cred tls.Certificate) *hsm.Partition {
	t.Helper()
	cfg := env.Config
	cfg.Credential = &cred
	c, err := hsm.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx(t), env.UserPIN))
	return p
}

// TestClientAdministration: the SO creates entries over the wire, a host
// enrolls with the setup password on another node of the cluster and
// signs; after a revocation that host's next signature fails with
// ErrClientRevoked while another enrolled host goes on.
func TestClientAdministration(t *testing.T) {
	so, env := soPartition(t)
	pwA, err := so.CreateClient(ctx(t), "host-a", time.Hour)
	require.NoError(t, err)
	pwB, err := so.CreateClient(ctx(t), "host-b", 0)
	require.NoError(t, err)
	require.NotEqual(t, pwA, pwB)
	_, err = so.CreateClient(ctx(t), "host-a", 0)
	require.ErrorIs(t, err, hsm.ErrPermission, "one name, one entry")

	// The entries are on every node before CreateClient returns.
	for _, n := range env.Cluster.Nodes() {
		for _, name := range []string{"host-a", "host-b"} {
			_, ok := n.Client(name)
			require.True(t, ok, "%s on %s", name, n.Addr())
		}
	}
	// Enroll on the second node.
	second := env.Cluster.Nodes()[1].Addr()
	credA, err := enrollOver(t, env, second, "host-a", pwA)
	require.NoError(t, err)
	credB, err := enrollOver(t, env, second, "host-b", pwB)
	require.NoError(t, err)

	list, err := so.Clients(ctx(t))
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "host-a", list[0].Name)
	assert.True(t, list[0].Enrolled)
	assert.False(t, list[0].Revoked)
	assert.Equal(t, [][32]byte{sha256.Sum256(credA.Leaf.Raw)}, list[0].Certificates)
	assert.WithinDuration(t, time.Now().Add(time.Hour), list[0].Expires, time.Minute)
	assert.WithinDuration(t, time.Now().Add(testenv.DefaultSetupTTL), list[1].Expires, time.Minute)
	for _, e := range list {
		for _, pw := range []string{pwA, pwB} {
			assert.NotContains(t, strings.ToUpper(e.Name+e.Serial), pw)
		}
	}

	// A User-side key that both hosts use.
	admin := clientWith(t, env, *env.Config.Credential)
	_, err = admin.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "shared"})
	require.NoError(t, err)
	a := clientWith(t, env, credA)
	b := clientWith(t, env, credB)
	sign := func(p *hsm.Partition) error {
		key, err := p.FindKey(ctx(t), hsm.KeyQuery{Label: "shared"})
		if err != nil {
			return err
		}
		d := sha256.Sum256([]byte("message"))
		_, err = key.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, d[:])
		return err
	}
	require.NoError(t, sign(a))
	require.NoError(t, sign(b))

	require.NoError(t, so.RevokeClient(ctx(t), "host-a"))
	require.ErrorIs(t, sign(a), hsm.ErrClientRevoked)
	require.NoError(t, sign(b), "other clients go on")
	list, err = so.Clients(ctx(t))
	require.NoError(t, err)
	assert.True(t, list[0].Revoked)
	assert.False(t, list[1].Revoked)
}

// TestClientAdministrationNeedsSO: without a login, or with the User's,
// the engine refuses locally; a forged User request is refused by the node.
func TestClientAdministrationNeedsSO(t *testing.T) {
	c, env := open(t)
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)
	_, err = p.CreateClient(ctx(t), "x", 0)
	require.ErrorIs(t, err, hsm.ErrNotLoggedIn)
	require.NoError(t, p.Login(ctx(t), env.UserPIN))
	_, err = p.CreateClient(ctx(t), "x", 0)
	require.ErrorIs(t, err, hsm.ErrNotLoggedIn)
	require.ErrorIs(t, p.RevokeClient(ctx(t), "x"), hsm.ErrNotLoggedIn)
	_, err = p.Clients(ctx(t))
	require.ErrorIs(t, err, hsm.ErrNotLoggedIn)
	_, ok := env.Node.Client("x")
	assert.False(t, ok)

	// The node checks too: a User ticket sent by hand is refused.
	cfg, err := wire.ClientTLS{Certificate: *env.Config.Credential, RootCAs: env.Config.RootCAs}.Config()
	require.NoError(t, err)
	conn, err := wire.Dial(ctx(t), env.Node.Addr(), cfg, wire.DialOptions{})
	require.NoError(t, err)
	defer conn.Close()
	var login wire.LoginReply
	require.NoError(t, conn.Call(ctx(t), wire.OpLogin, wire.LoginRequest{Partition: env.PartitionID, User: hsm.User, PIN: []byte(env.UserPIN)}, &login))
	for op, req := range map[wire.Op]any{
		wire.OpCreateClient: wire.CreateClientRequest{Partition: env.PartitionID, Ticket: login.Ticket, Name: "x"},
		wire.OpRevokeClient: wire.RevokeClientRequest{Partition: env.PartitionID, Ticket: login.Ticket, Name: "x"},
		wire.OpListClients:  wire.ListClientsRequest{Partition: env.PartitionID},
	} {
		err := conn.Call(ctx(t), op, req, nil)
		require.Error(t, err, "%v", op)
		assert.Contains(t, err.Error(), "USER_NOT_LOGGED_IN", "%v", op)
	}
	_, ok = env.Node.Client("x")
	assert.False(t, ok)
}

// TestCreateClientRetry: a retry with the same request ID gets the same password
// and creates one entry; a new request ID for the same name is refused.
func TestCreateClientRetry(t *testing.T) {
	so, env := soPartition(t)
	var id hsm.RequestID
	_, _ = rand.Read(id[:])
	pw1, err := hsm.CreateClientWithOpID(so, ctx(t), "retried", 0, id)
	require.NoError(t, err)
	pw2, err := hsm.CreateClientWithOpID(so, ctx(t), "retried", 0, id)
	require.NoError(t, err)
	assert.Equal(t, pw1, pw2, "a retry is answered with the first result")
	list, err := so.Clients(ctx(t))
	require.NoError(t, err)
	require.Len(t, list, 1)
	_, err = so.CreateClient(ctx(t), "retried", 0)
	require.ErrorIs(t, err, hsm.ErrPermission)
	// The password is the one the entry holds: it enrolls.
	_, err = enrollOver(t, env, env.Node.Addr(), "retried", pw1)
	require.NoError(t, err)
}

// TestRevokedUnderConcurrency: a credential revoked while many goroutines
// sign through it fails every one of them with ErrClientRevoked, and no node
// is marked failed: a refusal says nothing about a node's health.
func TestRevokedUnderConcurrency(t *testing.T) {
	so, env := soPartition(t)
	pw, err := so.CreateClient(ctx(t), "host-a", time.Hour)
	require.NoError(t, err)
	cred, err := enrollOver(t, env, env.Cluster.Nodes()[0].Addr(), "host-a", pw)
	require.NoError(t, err)
	admin := clientWith(t, env, *env.Config.Credential)
	_, err = admin.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "shared"})
	require.NoError(t, err)
	a := clientWith(t, env, cred)
	key, err := a.FindKey(ctx(t), hsm.KeyQuery{Label: "shared"})
	require.NoError(t, err)

	const callers = 16
	started := make(chan struct{}, callers)
	errs := make(chan error, callers)
	for range callers {
		go func() {
			d := sha256.Sum256([]byte("message"))
			for i := 0; ; i++ {
				_, err := key.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, d[:])
				if i == 0 {
					started <- struct{}{}
				}
				if err != nil || i == 100000 {
					errs <- err
					return
				}
			}
		}()
	}
	for range callers {
		<-started
	}
	require.NoError(t, so.RevokeClient(ctx(t), "host-a"))
	for range callers {
		err := <-errs
		require.ErrorIs(t, err, hsm.ErrClientRevoked)
	}
	for _, s := range a.Client().NodeStats() {
		assert.True(t, s.Healthy, "node %s marked failed by a refusal", s.Address)
		assert.Zero(t, s.Failures, "node %s", s.Address)
	}
}
