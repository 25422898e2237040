package hsm_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// enrollConfig is env's configuration as a host has it before it enrolls:
// the nodes pinned, no credential.
func enrollConfig(env *testenv.Env) hsm.Config {
	cfg := env.Config
	cfg.Credential, cfg.Secrets, cfg.Client = nil, "", ""
	return cfg
}

// withCredential returns cfg presenting cred.
func withCredential(t *testing.T, cfg hsm.Config, cred hsm.Credential) hsm.Config {
	t.Helper()
	cert, err := cred.TLSCertificate()
	require.NoError(t, err)
	cfg.Credential = &cert
	return cfg
}

// freeAddress returns a loopback address where nothing listens.
func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestEnrollLifecycle: a host enrolls with a setup password, its credential
// passes PingNode and CheckNode on every node, a rotation gives it a new one,
// and retiring the old certificate with the new credential revokes it
// everywhere.
func TestEnrollLifecycle(t *testing.T) {
	env := testenv.Start(t, testenv.WithNodes(2))
	pw, err := env.Cluster.CreateClient("web-1", 0)
	require.NoError(t, err)
	cfg := enrollConfig(env)

	enr, err := hsm.Enroll(ctx(t), cfg, "web-1", []byte(pw))
	require.NoError(t, err)
	assert.Equal(t, "web-1", enr.Certificate.Subject.CommonName)
	assert.Equal(t, "web-1", enr.Credential.Name)
	assert.Contains(t, []string{env.Nodes[0].Addr(), env.Nodes[1].Addr()}, enr.Node)
	assert.NotContains(t, enr.Credential.Certificate+enr.Credential.PrivateKey, pw)
	// Committed by the cluster before the answer; applied on every node
	// within moments.
	for _, n := range env.Nodes {
		require.Eventually(t, func() bool {
			info, ok := n.Client("web-1")
			return ok && info.Enrolled
		}, 10*time.Second, 5*time.Millisecond, n.Addr())
	}

	// The credential works with the engine, and node by node.
	old := withCredential(t, cfg, enr.Credential)
	for _, n := range env.Nodes {
		require.NoError(t, hsm.PingNode(ctx(t), old, n.Addr()))
		info, err := hsm.CheckNode(ctx(t), old, n.Addr(), env.PartitionID, "")
		require.NoError(t, err)
		assert.Equal(t, env.Partition, info.Name)
		_, err = hsm.CheckNode(ctx(t), old, n.Addr(), env.PartitionID, env.UserPIN)
		require.NoError(t, err)
	}
	clientWith(t, env, *old.Credential)

	rot, err := hsm.RotateCredential(ctx(t), cfg, enr.Credential)
	require.NoError(t, err)
	assert.Equal(t, "web-1", rot.Certificate.Subject.CommonName)
	assert.NotEqual(t, enr.Certificate.SerialNumber, rot.Certificate.SerialNumber)
	assert.NotEqual(t, enr.Credential.PrivateKey, rot.Credential.PrivateKey, "a rotation makes a new key")
	cur := withCredential(t, cfg, rot.Credential)
	for _, n := range env.Nodes {
		require.NoError(t, hsm.PingNode(ctx(t), cur, n.Addr()))
		require.NoError(t, hsm.PingNode(ctx(t), old, n.Addr()), "both work until the old one is retired")
	}

	require.NoError(t, hsm.RetireCertificate(ctx(t), cur, enr.Certificate))
	for _, n := range env.Nodes {
		// The node that retired it refuses it at once; the others once
		// they applied the change, within moments.
		require.Eventually(t, func() bool {
			return errors.Is(hsm.PingNode(ctx(t), old, n.Addr()), hsm.ErrClientRevoked)
		}, 10*time.Second, 5*time.Millisecond, n.Addr())
		require.NoError(t, hsm.PingNode(ctx(t), cur, n.Addr()))
	}
	c, err := hsm.Open(ctx(t), env.Config)
	require.NoError(t, err)
	defer c.Close()
	so, err := c.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, so.LoginAs(ctx(t), hsm.SO, env.SOPIN))
	entries, err := so.Clients(ctx(t))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, [][32]byte{sha256.Sum256(enr.Certificate.Raw)}, entries[0].Retired)
	assert.Equal(t, [][32]byte{sha256.Sum256(rot.Certificate.Raw)}, entries[0].Certificates)
	// The retired credential can neither rotate nor retire.
	_, err = hsm.RotateCredential(ctx(t), cfg, enr.Credential)
	require.ErrorIs(t, err, hsm.ErrClientRevoked)
	require.ErrorIs(t, hsm.RetireCertificate(ctx(t), old, rot.Certificate), hsm.ErrClientRevoked)
}

// TestEnrollRefusals: each refusal is a typed error that holds no password,
// and a refusal is final: it is not tried again on the other node.
func TestEnrollRefusals(t *testing.T) {
	env := testenv.Start(t, testenv.WithNodes(2))
	cfg := enrollConfig(env)
	const wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	enrolls := func() (sum uint64) {
		for _, n := range env.Nodes {
			sum += n.Stats().Enrolls
		}
		return sum
	}

	pw, err := env.Cluster.CreateClient("guessed", 0)
	require.NoError(t, err)
	before := enrolls()
	_, err = hsm.Enroll(ctx(t), cfg, "guessed", []byte(wrong))
	require.ErrorIs(t, err, hsm.ErrEnrollRefused)
	assert.NotContains(t, err.Error(), wrong)
	assert.Equal(t, before+1, enrolls(), "a refusal goes to one node only")
	info, _ := env.Node.Client("guessed")
	assert.Equal(t, 1, info.Failures)
	var he *hsm.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "enroll", he.Op)
	assert.NotEmpty(t, he.Node)

	_, err = hsm.Enroll(ctx(t), cfg, "nobody", []byte(wrong))
	require.ErrorIs(t, err, hsm.ErrEnrollRefused)

	_, err = hsm.Enroll(ctx(t), cfg, "guessed", []byte(pw))
	require.NoError(t, err)
	_, err = hsm.Enroll(ctx(t), cfg, "guessed", []byte(pw))
	require.ErrorIs(t, err, hsm.ErrEnrollRefused, "a setup password is spent once")
	assert.NotContains(t, err.Error(), pw)

	_, err = hsm.Enroll(ctx(t), cfg, "", []byte(pw))
	require.ErrorIs(t, err, hsm.ErrDataInvalid)
	_, err = hsm.Enroll(ctx(t), cfg, "guessed", nil)
	require.ErrorIs(t, err, hsm.ErrDataInvalid)
	_, err = hsm.Enroll(ctx(t), cfg, "guessed", []byte(strings.Repeat("x", 257)))
	require.ErrorIs(t, err, hsm.ErrDataInvalid)
}

// TestEnrollNeedsPinnedNodes: without a pin Enroll sends nothing; a node
// that fails the pin gets nothing, and neither does any node after it.
func TestEnrollNeedsPinnedNodes(t *testing.T) {
	env := testenv.Start(t)
	pw, err := env.Cluster.CreateClient("host", 0)
	require.NoError(t, err)
	impostor := testenv.Start(t) // its own PKI: it fails env's pin

	unpinned := enrollConfig(env)
	unpinned.RootCAs = nil
	_, err = hsm.Enroll(ctx(t), unpinned, "host", []byte(pw))
	require.ErrorIs(t, err, hsm.ErrConfig)

	cfg := enrollConfig(env)
	cfg.Partitions[0].Nodes = []hsm.NodeConfig{{Address: impostor.Node.Addr()}, {Address: env.Node.Addr()}}
	_, err = hsm.Enroll(ctx(t), cfg, "host", []byte(pw))
	require.ErrorIs(t, err, hsm.ErrNodeIdentity)
	assert.NotContains(t, err.Error(), pw)
	assert.Zero(t, impostor.Node.Stats().Enrolls, "the impostor received an Enroll")
	assert.Zero(t, env.Node.Stats().Enrolls, "enrollment went on after a node failed the pin")

	// A wrong fingerprint is refused the same way.
	fp := enrollConfig(env)
	fp.RootCAs, fp.ServerFingerprint = nil, strings.Repeat("ab", 32)
	_, err = hsm.Enroll(ctx(t), fp, "host", []byte(pw))
	require.ErrorIs(t, err, hsm.ErrNodeIdentity)
	require.ErrorIs(t, hsm.PingNode(ctx(t), withCredential(t, fp, *env.Credential), env.Node.Addr()), hsm.ErrNodeIdentity)
	assert.Zero(t, env.Node.Stats().Enrolls)
}

// TestEnrollSkipsUnreachableNodes: a node that does not answer passes the
// enrollment on to the next; with none, the error is ErrUnavailable.
func TestEnrollSkipsUnreachableNodes(t *testing.T) {
	env := testenv.Start(t)
	pw, err := env.Cluster.CreateClient("host", 0)
	require.NoError(t, err)
	down := freeAddress(t)

	cfg := enrollConfig(env)
	cfg.Partitions[0].Nodes = []hsm.NodeConfig{{Address: down}}
	_, err = hsm.Enroll(ctx(t), cfg, "host", []byte(pw))
	require.ErrorIs(t, err, hsm.ErrUnavailable)
	assert.NotContains(t, err.Error(), pw)
	require.ErrorIs(t, hsm.PingNode(ctx(t), env.Config, down), hsm.ErrUnavailable)
	_, _, err = hsm.FetchNodeFingerprint(ctx(t), cfg)
	require.ErrorIs(t, err, hsm.ErrUnavailable)

	cfg.Partitions[0].Nodes = []hsm.NodeConfig{{Address: down}, {Address: env.Node.Addr()}}
	enr, err := hsm.Enroll(ctx(t), cfg, "host", []byte(pw))
	require.NoError(t, err)
	assert.Equal(t, env.Node.Addr(), enr.Node)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = hsm.Enroll(canceled, cfg, "host", []byte(pw))
	require.ErrorIs(t, err, context.Canceled)
}

// TestFetchNodeFingerprint: trust on first use yields the node's
// fingerprint, which pins it for Enroll.
func TestFetchNodeFingerprint(t *testing.T) {
	env := testenv.Start(t)
	pw, err := env.Cluster.CreateClient("tofu", 0)
	require.NoError(t, err)
	cfg := enrollConfig(env)
	cfg.RootCAs = nil
	addr, fp, err := hsm.FetchNodeFingerprint(ctx(t), cfg)
	require.NoError(t, err)
	assert.Equal(t, env.Node.Addr(), addr)
	assert.Zero(t, env.Node.Stats().Enrolls)

	cfg.ServerFingerprint = fp
	enr, err := hsm.Enroll(ctx(t), cfg, "tofu", []byte(pw))
	require.NoError(t, err)
	require.NoError(t, hsm.PingNode(ctx(t), withCredential(t, cfg, enr.Credential), addr))
}

// TestCheckNodeErrors: each step's failure is typed, and a PIN is in no
// error.
func TestCheckNodeErrors(t *testing.T) {
	env := testenv.Start(t)
	addr := env.Node.Addr()
	const wrongPIN = "wrong-pin-98765"
	_, err := hsm.CheckNode(ctx(t), env.Config, addr, env.PartitionID, wrongPIN)
	require.ErrorIs(t, err, hsm.ErrPINIncorrect)
	assert.NotContains(t, err.Error(), wrongPIN)
	var he *hsm.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "login", he.Op)
	assert.Equal(t, env.Partition, he.Partition)

	_, err = hsm.CheckNode(ctx(t), env.Config, addr, env.PartitionID+100, "")
	require.ErrorIs(t, err, hsm.ErrUnknownPartition)

	require.NoError(t, env.Cluster.RevokeClient(env.Credential.Name))
	_, err = hsm.CheckNode(ctx(t), env.Config, addr, env.PartitionID, "")
	require.ErrorIs(t, err, hsm.ErrClientRevoked)
	require.ErrorIs(t, hsm.PingNode(ctx(t), env.Config, addr), hsm.ErrClientRevoked)
}

// TestEnrollWithoutNetworkNodes: a configuration of module tokens only has
// no node to enroll with.
func TestEnrollWithoutNetworkNodes(t *testing.T) {
	cfg := hsm.Config{Partitions: []hsm.PartitionConfig{{ID: 1, Name: "local", Nodes: []hsm.NodeConfig{{Module: "/nonexistent/libmodule.so", Token: "t"}}}}}
	_, err := hsm.Enroll(ctx(t), cfg, "host", []byte("password"))
	require.ErrorIs(t, err, hsm.ErrConfig)
	_, _, err = hsm.FetchNodeFingerprint(ctx(t), cfg)
	require.ErrorIs(t, err, hsm.ErrConfig)
}
