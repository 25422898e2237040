package testenv

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/wire"
)

// dialNode opens a client connection to one node of env's cluster.
func dialNode(t testing.TB, env *Env, n *Node) *wire.Conn {
	t.Helper()
	conn, err := wire.Dial(ctxT(t), n.Addr(), clientTLS(t, env, *env.Config.Credential), wire.DialOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// dialCert opens a client connection to node n with certificate cert.
func dialCert(t testing.TB, env *Env, n *Node, cert tls.Certificate) *wire.Conn {
	t.Helper()
	conn, err := wire.Dial(ctxT(t), n.Addr(), clientTLS(t, env, cert), wire.DialOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// dialAll opens a client connection to every node of env's cluster.
func dialAll(t testing.TB, env *Env) []*wire.Conn {
	t.Helper()
	cs := make([]*wire.Conn, len(env.Nodes))
	for i, n := range env.Nodes {
		cs[i] = dialNode(t, env, n)
	}
	return cs
}

// label returns CKA_LABEL of an object, or the error reading it.
func label(t testing.TB, c *wire.Conn, part uint32, ticket []byte, h uint64) (string, error) {
	t.Helper()
	var rep wire.GetAttributesReply
	err := c.Call(ctxT(t), wire.OpGetAttributes, wire.GetAttributesRequest{
		Partition: part, Ticket: ticket, Handle: h, Types: []ck.AttributeType{ck.CKA_LABEL},
	}, &rep)
	if err != nil {
		return "", err
	}
	require.Len(t, rep.Values, 1)
	return string(rep.Values[0].Value), nil
}

func TestClusterStart(t *testing.T) {
	env := Start(t, WithNodes(3))
	require.Len(t, env.Nodes, 3)
	assert.Same(t, env.Nodes[0], env.Node)
	require.NoError(t, env.Config.Validate())
	require.Len(t, env.Config.Partitions, 1)
	var addrs []string
	for i, n := range env.Config.Partitions[0].Nodes {
		assert.Equal(t, env.Nodes[i].Addr(), n.Address)
		assert.Zero(t, n.Priority)
		addrs = append(addrs, n.Address)
	}
	assert.Len(t, addrs, 3)
	for _, n := range env.Nodes {
		st := n.Stats()
		assert.True(t, st.Ready)
		assert.Equal(t, 2, st.LivePeers)
	}
	cfg := env.ConfigWithPriorities(0, 1)
	assert.Equal(t, []int{0, 1, 0}, []int{cfg.Partitions[0].Nodes[0].Priority, cfg.Partitions[0].Nodes[1].Priority, cfg.Partitions[0].Nodes[2].Priority})
	// The engine sees one partition, whatever the number of nodes.
	client, err := hsm.Open(ctxT(t), env.Config)
	require.NoError(t, err)
	defer client.Close()
	assert.Len(t, client.Partitions(), 1)
}

// TestClusterReplicatesObjects creates, generates, changes and destroys
// objects through different nodes and checks each change on every node,
// right after the call that made it returned.
func TestClusterReplicatesObjects(t *testing.T) {
	env := Start(t, WithNodes(3))
	cs := dialAll(t, env)
	p := env.PartitionID
	// One login: the ticket key is the cluster's.
	ticket := login(t, cs[0], p, ck.CKU_USER, env.UserPIN)

	// Generate through node 1; sign on node 2 at once; verify with the
	// public key read from node 3.
	kp := genP256(t, cs[0], p, ticket, "replicated")
	digest := sha256.Sum256([]byte("signed on another node"))
	sig, err := signP256(t, cs[1], p, ticket, kp.Private, digest[:])
	require.NoError(t, err)
	assert.True(t, verifyRS(ecPublicKey(t, cs[2], p, kp.Public), digest[:], sig))
	for _, c := range cs {
		assert.Equal(t, []uint64{kp.Public, kp.Private}, find(t, c, p, ticket, ck.Template{ck.String(ck.CKA_LABEL, "replicated")}))
	}

	// Create through node 2.
	var created wire.HandleReply
	require.NoError(t, cs[1].Call(ctxT(t), wire.OpCreateObject, wire.CreateObjectRequest{
		Partition: p, Ticket: ticket, OpID: newOpID(t),
		Template: ck.Template{
			ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_DATA)), ck.Bool(ck.CKA_TOKEN, true),
			ck.String(ck.CKA_LABEL, "data"), ck.Bytes(ck.CKA_VALUE, []byte("payload")),
		},
	}, &created))
	for _, c := range cs {
		l, err := label(t, c, p, ticket, created.Handle)
		require.NoError(t, err)
		assert.Equal(t, "data", l)
	}

	// Change through node 3.
	require.NoError(t, cs[2].Call(ctxT(t), wire.OpSetAttributes, wire.SetAttributesRequest{
		Partition: p, Ticket: ticket, Handle: kp.Private, OpID: newOpID(t),
		Template: ck.Template{ck.String(ck.CKA_LABEL, "renamed")},
	}, nil))
	for _, c := range cs {
		l, err := label(t, c, p, ticket, kp.Private)
		require.NoError(t, err)
		assert.Equal(t, "renamed", l)
	}

	// Generate a secret key through node 3.
	var aes wire.HandleReply
	require.NoError(t, cs[2].Call(ctxT(t), wire.OpGenerateKey, wire.GenerateKeyRequest{
		Partition: p, Ticket: ticket, OpID: newOpID(t), Mechanism: ck.Mechanism{Type: ck.CKM_AES_KEY_GEN},
		Template: ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 32), ck.Bool(ck.CKA_TOKEN, true), ck.Bool(ck.CKA_ENCRYPT, true), ck.Bool(ck.CKA_DECRYPT, true)},
	}, &aes))
	gcm := ck.Mechanism{Type: ck.CKM_AES_GCM, GCM: &ck.GCMParams{IV: make([]byte, 12), TagBits: 128}}
	var ct, pt wire.DataReply
	require.NoError(t, cs[0].Call(ctxT(t), wire.OpEncrypt, wire.CryptRequest{Partition: p, Ticket: ticket, Handle: aes.Handle, Mechanism: gcm, Data: []byte("secret")}, &ct))
	require.NoError(t, cs[1].Call(ctxT(t), wire.OpDecrypt, wire.CryptRequest{Partition: p, Ticket: ticket, Handle: aes.Handle, Mechanism: gcm, Data: ct.Data}, &pt))
	assert.Equal(t, []byte("secret"), pt.Data)

	// Destroy through node 1.
	require.NoError(t, cs[0].Call(ctxT(t), wire.OpDestroyObject, wire.DestroyObjectRequest{
		Partition: p, Ticket: ticket, Handle: created.Handle, OpID: newOpID(t),
	}, nil))
	for _, c := range cs {
		_, err := label(t, c, p, ticket, created.Handle)
		requireCode(t, err, ck.CKR_OBJECT_HANDLE_INVALID)
	}

	// Every node holds the same objects, and the requests were spread.
	var infos []wire.PartitionInfoReply
	for _, c := range cs {
		var info wire.PartitionInfoReply
		require.NoError(t, c.Call(ctxT(t), wire.OpPartitionInfo, wire.PartitionInfoRequest{Partition: p}, &info))
		infos = append(infos, info)
	}
	assert.Equal(t, uint32(3), infos[0].Objects)
	assert.Equal(t, infos[0], infos[1])
	assert.Equal(t, infos[0], infos[2])
	// Every node served changes, committed through the cluster's log:
	// the followers' went to the leader as peer requests.
	var peerRequests uint64
	for _, n := range env.Nodes {
		st := n.Stats()
		assert.Positive(t, st.Requests)
		assert.Positive(t, st.Replications)
		assert.Zero(t, st.ReplicationFailures)
		assert.Zero(t, st.BadRecords)
		peerRequests += st.PeerRequests
	}
	assert.Positive(t, peerRequests)
}

// TestClusterPINs checks that PIN changes, retry counters and lockouts are
// the cluster's: rotating nodes gains a guesser nothing.
func TestClusterPINs(t *testing.T) {
	env := Start(t, WithNodes(3))
	cs := dialAll(t, env)
	p := env.PartitionID
	ticket := login(t, cs[0], p, ck.CKU_USER, env.UserPIN)

	// A PIN change through node 2: the new PIN works on node 3, and the
	// ticket issued before stops working on node 1.
	require.NoError(t, cs[1].Call(ctxT(t), wire.OpSetPIN, wire.SetPINRequest{
		Partition: p, User: ck.CKU_USER, OldPIN: []byte(env.UserPIN), NewPIN: []byte("new-user-pin"), OpID: newOpID(t),
	}, nil))
	requireCode(t, cs[0].Call(ctxT(t), wire.OpFindObjects, wire.FindObjectsRequest{Partition: p, Ticket: ticket}, nil), wire.CodeTicketInvalid)
	requireCode(t, cs[2].Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: p, User: ck.CKU_USER, PIN: []byte(env.UserPIN)}, nil), ck.CKR_PIN_INCORRECT)
	ticket = login(t, cs[2], p, ck.CKU_USER, "new-user-pin")

	// Three wrong PINs, one per node, lock the user out everywhere (3
	// attempts).
	wrong := wire.LoginRequest{Partition: p, User: ck.CKU_USER, PIN: []byte("wrong-pin-000")}
	var info wire.PartitionInfoReply
	for i, c := range cs {
		requireCode(t, c.Call(ctxT(t), wire.OpLogin, wrong, nil), ck.CKR_PIN_INCORRECT)
		if i == 1 {
			require.NoError(t, cs[2].Call(ctxT(t), wire.OpPartitionInfo, wire.PartitionInfoRequest{Partition: p}, &info))
			assert.NotZero(t, info.Flags&ck.CKF_USER_PIN_FINAL_TRY, "flags %#x", info.Flags)
		}
	}
	for _, c := range cs {
		requireCode(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: p, User: ck.CKU_USER, PIN: []byte("new-user-pin")}, nil), ck.CKR_PIN_LOCKED)
		requireCode(t, c.Call(ctxT(t), wire.OpFindObjects, wire.FindObjectsRequest{Partition: p, Ticket: ticket}, nil), wire.CodeTicketInvalid)
	}

	// The SO unlocks through node 3; the user logs in on node 1.
	so := login(t, cs[2], p, ck.CKU_SO, env.SOPIN)
	require.NoError(t, cs[2].Call(ctxT(t), wire.OpInitPIN, wire.InitPINRequest{Partition: p, Ticket: so, PIN: []byte("third-user-pin"), OpID: newOpID(t)}, nil))
	login(t, cs[0], p, ck.CKU_USER, "third-user-pin")
	// A good PIN resets the counter everywhere.
	requireCode(t, cs[1].Call(ctxT(t), wire.OpLogin, wrong, nil), ck.CKR_PIN_INCORRECT)
	login(t, cs[2], p, ck.CKU_USER, "third-user-pin")
	for _, c := range cs {
		require.NoError(t, c.Call(ctxT(t), wire.OpPartitionInfo, wire.PartitionInfoRequest{Partition: p}, &info))
		assert.Zero(t, info.Flags&(ck.CKF_USER_PIN_COUNT_LOW|ck.CKF_USER_PIN_LOCKED), "flags %#x", info.Flags)
	}
}

// TestClusterConcurrentWrongPINs guesses on every node at once: the cluster
// counts the guesses of all nodes, so the user is locked out after about the
// limit, not after the limit times the number of nodes.
func TestClusterConcurrentWrongPINs(t *testing.T) {
	env := Start(t, WithNodes(3), WithMaxPINAttempts(3))
	cs := dialAll(t, env)
	var wg sync.WaitGroup
	var mu sync.Mutex
	incorrect := 0
	for i := range 30 {
		wg.Go(func() {
			err := cs[i%3].Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: env.PartitionID, User: ck.CKU_USER, PIN: []byte("wrong-pin-000")}, nil)
			if ce, ok := err.(*ck.Error); ok && ce.RV == ck.CKR_PIN_INCORRECT {
				mu.Lock()
				incorrect++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Each node judges a guess with all of its own earlier ones counted
	// cluster-wide; only the one guess each other node has in flight at the
	// same moment may be missing: at most 3 + 2.
	assert.GreaterOrEqual(t, incorrect, 3)
	assert.LessOrEqual(t, incorrect, 3+2)
	for _, c := range cs {
		requireCode(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: env.PartitionID, User: ck.CKU_USER, PIN: []byte(env.UserPIN)}, nil), ck.CKR_PIN_LOCKED)
	}
}

// TestClusterDedupAfterLostReply: a generate whose reply is lost and is
// retried on another node creates exactly one key.
func TestClusterDedupAfterLostReply(t *testing.T) {
	env := Start(t, WithNodes(3))
	cs := dialAll(t, env)
	p := env.PartitionID
	ticket := login(t, cs[1], p, ck.CKU_USER, env.UserPIN)

	env.Nodes[0].DropReplies(wire.OpGenerateKeyPair, 1)
	req := genP256Request(t, p, ticket, "once", newOpID(t))
	err := cs[0].Call(ctxT(t), wire.OpGenerateKeyPair, req, nil)
	require.True(t, wire.IsTransport(err), "want a lost reply, got %v", err)
	assert.Equal(t, uint64(1), env.Nodes[0].Stats().DroppedReplies)

	// The retry goes to another node, as the engine's failover does.
	var first, again wire.GenerateKeyPairReply
	require.NoError(t, cs[1].Call(ctxT(t), wire.OpGenerateKeyPair, req, &first))
	require.NoError(t, cs[2].Call(ctxT(t), wire.OpGenerateKeyPair, req, &again))
	assert.Equal(t, first, again)
	for _, c := range append(cs[1:], dialNode(t, env, env.Nodes[0])) {
		assert.Equal(t, []uint64{first.Public, first.Private}, find(t, c, p, ticket, ck.Template{ck.String(ck.CKA_LABEL, "once")}))
	}
	// The same OpID from another client is another request.
	_, other, err := env.PKI.ClientCredential("other")
	require.NoError(t, err)
	c2 := dial(t, env, other)
	ticket2 := login(t, c2, p, ck.CKU_USER, env.UserPIN)
	req.Ticket = ticket2
	var second wire.GenerateKeyPairReply
	require.NoError(t, c2.Call(ctxT(t), wire.OpGenerateKeyPair, req, &second))
	assert.NotEqual(t, first, second)
}

// TestClusterDedupFollowsTheClientEntry: a retry sent with another
// certificate of the same client entry (as after ppin rotate), to another
// node, gets the first result: deduplication is keyed by the entry.
func TestClusterDedupFollowsTheClientEntry(t *testing.T) {
	env := Start(t, WithNodes(3))
	cs := dialAll(t, env)
	p := env.PartitionID
	ticket := login(t, cs[0], p, ck.CKU_USER, env.UserPIN)
	env.Nodes[0].DropReplies(wire.OpGenerateKeyPair, 1)
	req := genP256Request(t, p, ticket, "rotated", newOpID(t))
	err := cs[0].Call(ctxT(t), wire.OpGenerateKeyPair, req, nil)
	require.True(t, wire.IsTransport(err), "want a lost reply, got %v", err)

	_, rotated, err := env.PKI.ClientCredential(env.Credential.Name)
	require.NoError(t, err)
	c := dialCert(t, env, env.Nodes[1], rotated)
	req.Ticket = login(t, c, p, ck.CKU_USER, env.UserPIN) // tickets are bound to the certificate
	var again wire.GenerateKeyPairReply
	require.NoError(t, c.Call(ctxT(t), wire.OpGenerateKeyPair, req, &again))
	assert.Equal(t, []uint64{again.Public, again.Private}, find(t, cs[2], p, ticket, ck.Template{ck.String(ck.CKA_LABEL, "rotated")}))
}

// TestClusterDedupRetryWhileRunning: a retry that reaches another node while
// the first node is still acting waits for the first result.
func TestClusterDedupRetryWhileRunning(t *testing.T) {
	env := Start(t, WithNodes(2))
	cs := dialAll(t, env)
	p := env.PartitionID
	ticket := login(t, cs[0], p, ck.CKU_USER, env.UserPIN)

	claimed, release := make(chan struct{}), make(chan struct{})
	hook := func(op wire.Op) {
		if op == wire.OpGenerateKeyPair {
			close(claimed)
			<-release
		}
	}
	env.Nodes[0].faults.SetAfterClaim(hook)
	req := genP256Request(t, p, ticket, "raced", newOpID(t))
	var first, retry wire.GenerateKeyPairReply
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, cs[0].Call(ctxT(t), wire.OpGenerateKeyPair, req, &first)) })
	<-claimed
	wg.Go(func() { assert.NoError(t, cs[1].Call(ctxT(t), wire.OpGenerateKeyPair, req, &retry)) })
	require.Eventually(t, func() bool { return env.Nodes[1].Stats().DedupWaits > 0 }, 10*time.Second, time.Millisecond, "the retry waits on node 2")
	close(release)
	wg.Wait()
	env.Nodes[0].faults.SetAfterClaim(nil)
	assert.Equal(t, first, retry)
	assert.Len(t, find(t, cs[1], p, ticket, ck.Template{ck.String(ck.CKA_LABEL, "raced")}), 2)
}

// TestClusterCatchUp kills a node, changes the cluster while it is down, and
// checks that the node has every change before it serves again. A node that
// was stopped (state kept) catches up the same way.
func TestClusterCatchUp(t *testing.T) {
	env := Start(t, WithNodes(3))
	cs := dialAll(t, env)
	p := env.PartitionID
	ticket := login(t, cs[0], p, ck.CKU_USER, env.UserPIN)
	before := genP256(t, cs[0], p, ticket, "before")
	doomed := genP256(t, cs[0], p, ticket, "doomed")

	for _, fault := range []string{"kill", "stop"} {
		t.Run(fault, func(t *testing.T) {
			down := env.Nodes[2]
			if fault == "kill" {
				down.Kill()
			} else {
				down.Stop()
			}
			assert.False(t, down.Stats().Ready)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := wire.Dial(ctx, down.Addr(), clientTLS(t, env, *env.Config.Credential), wire.DialOptions{})
			cancel()
			require.Error(t, err)

			// The cluster keeps serving and changing without it.
			kp := genP256(t, cs[1], p, ticket, "while-"+fault)
			require.NoError(t, cs[0].Call(ctxT(t), wire.OpSetAttributes, wire.SetAttributesRequest{
				Partition: p, Ticket: ticket, Handle: before.Private, OpID: newOpID(t),
				Template: ck.Template{ck.String(ck.CKA_LABEL, "before-"+fault)},
			}, nil))
			if fault == "kill" {
				require.NoError(t, cs[1].Call(ctxT(t), wire.OpDestroyObject, wire.DestroyObjectRequest{
					Partition: p, Ticket: ticket, Handle: doomed.Public, OpID: newOpID(t),
				}, nil))
			}
			// A wrong PIN counts while it is down too.
			requireCode(t, cs[1].Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: p, User: ck.CKU_USER, PIN: []byte("wrong-pin-000")}, nil), ck.CKR_PIN_INCORRECT)

			require.NoError(t, down.Restart())
			// Its first client sees everything at once: until it has
			// caught up with the leader, the node answers busy.
			c := dialNode(t, env, down)
			waitCurrent(t, down)
			assert.True(t, down.Stats().Ready)
			assert.Positive(t, down.Stats().CatchUps)
			assert.Equal(t, []uint64{kp.Public, kp.Private}, find(t, c, p, ticket, ck.Template{ck.String(ck.CKA_LABEL, "while-"+fault)}))
			l, err := label(t, c, p, ticket, before.Private)
			require.NoError(t, err)
			assert.Equal(t, "before-"+fault, l)
			_, err = label(t, c, p, ticket, doomed.Public)
			requireCode(t, err, ck.CKR_OBJECT_HANDLE_INVALID)
			assert.Equal(t, []uint64{doomed.Private}, find(t, c, p, ticket, ck.Template{ck.String(ck.CKA_LABEL, "doomed")}))
			var info wire.PartitionInfoReply
			require.NoError(t, c.Call(ctxT(t), wire.OpPartitionInfo, wire.PartitionInfoRequest{Partition: p}, &info))
			assert.NotZero(t, info.Flags&ck.CKF_USER_PIN_COUNT_LOW)
			// The ticket, from the cluster's key, works on it, and the good
			// login resets the counter cluster-wide.
			login(t, c, p, ck.CKU_USER, env.UserPIN)
			digest := sha256.Sum256([]byte(fault))
			sig, err := signP256(t, c, p, ticket, kp.Private, digest[:])
			require.NoError(t, err)
			assert.True(t, verifyRS(ecPublicKey(t, cs[0], p, kp.Public), digest[:], sig))

			// And it replicates again: a change made through it reaches the others.
			made := genP256(t, c, p, ticket, "after-"+fault)
			for _, other := range cs[:2] {
				assert.Equal(t, []uint64{made.Public, made.Private}, find(t, other, p, ticket, ck.Template{ck.String(ck.CKA_LABEL, "after-"+fault)}))
			}
			cs[2] = c
		})
	}
}

// TestClusterPeerReconnect drops a node's connections, its peers' included:
// Raft connects again and replication goes on.
func TestClusterPeerReconnect(t *testing.T) {
	env := Start(t, WithNodes(2))
	env.Nodes[1].DropConnections()
	require.Eventually(t, func() bool {
		return env.Nodes[0].Stats().LivePeers == 1 && env.Nodes[1].Stats().LivePeers == 1
	}, 10*time.Second, 5*time.Millisecond)
	cs := dialAll(t, env)
	ticket := login(t, cs[0], env.PartitionID, ck.CKU_USER, env.UserPIN)
	kp := genP256(t, cs[1], env.PartitionID, ticket, "reconnected")
	assert.Equal(t, []uint64{kp.Public, kp.Private}, find(t, cs[0], env.PartitionID, ticket, ck.Template{ck.String(ck.CKA_LABEL, "reconnected")}))
}

// TestPeerOperationsNeedAPeerCertificate: a client credential never reaches
// a peer operation, a peer certificate never reaches a client operation, and
// a node's server certificate is no peer's credential.
func TestPeerOperationsNeedAPeerCertificate(t *testing.T) {
	env := Start(t, WithNodes(2))
	p := env.PartitionID

	// A client sending peer operations.
	c := dial(t, env)
	apply := wire.PeerApplyRequest{Partition: p, Destroyed: []uint64{1}}
	requireCode(t, c.Call(ctxT(t), wire.OpPeerApply, apply, nil), wire.CodeUnknownOp)
	requireCode(t, c.Call(ctxT(t), wire.OpPeerJoin, wire.PeerJoinRequest{Address: env.Nodes[1].Addr()}, nil), wire.CodeUnknownOp)

	// A peer certificate sending client operations, to the leader, which
	// takes peer operations (a follower answers PeerApply CodeNoQuorum).
	peer, err := env.PKI.PeerCertificate("intruder")
	require.NoError(t, err)
	leader := env.Nodes[0]
	if l := leader.Leader(); l != leader.Addr() {
		leader = env.Nodes[1]
	}
	require.Equal(t, leader.Addr(), leader.Leader())
	pc := dialCert(t, env, leader, peer)
	requireCode(t, pc.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: p, User: ck.CKU_USER, PIN: []byte(env.UserPIN)}, nil), wire.CodeUnknownOp)
	requireCode(t, pc.Call(ctxT(t), wire.OpFindObjects, wire.FindObjectsRequest{Partition: p}, nil), wire.CodeUnknownOp)
	require.NoError(t, pc.Call(ctxT(t), wire.OpPeerApply, apply, nil))

	// A node server certificate (no peer marker, server use only) is refused.
	server, err := env.PKI.NodeCertificate()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// (The TLS client does not even send it: the connection has no
	// identity and may only enroll.)
	if sc, err := wire.Dial(ctx, env.Node.Addr(), clientTLS(t, env, server), wire.DialOptions{}); err == nil {
		requireCode(t, sc.Call(ctx, wire.OpPing, wire.PingRequest{}, nil), wire.CodeEnrollmentRequired)
		sc.Close()
	}

	// A node that serves alone accepts no peer at all.
	solo := Start(t)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	soloPeer, err := solo.PKI.PeerCertificate("x")
	require.NoError(t, err)
	for _, cert := range []tls.Certificate{peer, soloPeer} {
		// Refused, or not even sent (a certificate from a CA the node
		// does not name): then the connection may only enroll.
		sc, err := wire.Dial(ctx2, solo.Node.Addr(), clientTLS(t, solo, cert), wire.DialOptions{})
		if err == nil {
			requireCode(t, sc.Call(ctx2, wire.OpPing, wire.PingRequest{}, nil), wire.CodeEnrollmentRequired)
			requireCode(t, sc.Call(ctx2, wire.OpPeerApply, apply, nil), wire.CodeUnknownOp)
			sc.Close()
		}
	}
}

// TestClusterThroughEngine runs the engine over a cluster: a key generated
// through it is used at once, whichever node serves, and the load spreads.
func TestClusterThroughEngine(t *testing.T) {
	env := Start(t, WithNodes(3))
	client, err := hsm.Open(ctxT(t), env.Config)
	require.NoError(t, err)
	defer client.Close()
	part, err := client.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, part.Login(ctxT(t), env.UserPIN))
	before := make([]uint64, 3)
	for i, n := range env.Nodes {
		before[i] = n.Stats().Requests
	}
	for i := range 3 {
		key, err := part.GenerateKey(ctxT(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "engine-" + string(rune('a'+i))})
		require.NoError(t, err)
		digest := sha256.Sum256([]byte("m"))
		for range 10 {
			_, err := key.Sign(ctxT(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
			require.NoError(t, err)
		}
	}
	for i, n := range env.Nodes {
		assert.Greater(t, n.Stats().Requests, before[i], "node %d served nothing", i)
	}
}
