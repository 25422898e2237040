package server

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// raftParts are the partitions of the Raft tests, with a ticket key shared
// by every node started for them.
func raftParts(t *testing.T) []PartitionOptions {
	parts := durableParts()
	for i := range parts {
		_, err := rand.Read(parts[i].TicketKey[:])
		require.NoError(t, err)
	}
	return parts
}

// startRaftCluster starts a durable 3-node cluster that replicates with
// Raft.
func startRaftCluster(t *testing.T, dir string, parts []PartitionOptions) *Cluster {
	t.Helper()
	c, err := StartCluster(ClusterOptions{Nodes: 3, Partitions: parts, Dir: dir, Replication: ReplicationRaft})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// leaderNode returns the node that leads c.
func leaderNode(t *testing.T, nodes []*Node) *Node {
	t.Helper()
	var leader *Node
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			if n.Leader() == n.Addr() {
				leader = n
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)
	return leader
}

// dataObject is a request to create a data object labelled label.
func dataObject(t *testing.T, ticket []byte, label string) wire.CreateObjectRequest {
	return wire.CreateObjectRequest{Partition: 1, Ticket: ticket, OpID: newOpID(t), Template: ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_DATA)), ck.Bool(ck.CKA_TOKEN, true),
		ck.String(ck.CKA_LABEL, label), ck.Bytes(ck.CKA_VALUE, []byte("value of "+label)),
	}}
}

// genKey creates a data object labelled label through c.
func genKey(t *testing.T, c *wire.Conn, ticket []byte, label string) uint64 {
	t.Helper()
	var rep wire.HandleReply
	require.NoError(t, c.Call(ctxT(t), wire.OpCreateObject, dataObject(t, ticket, label), &rep))
	return rep.Handle
}

// hasLabel reports whether the node behind c has an object labelled label.
func hasLabel(t *testing.T, c *wire.Conn, ticket []byte, label string) bool {
	var rep wire.FindObjectsReply
	err := c.Call(ctxT(t), wire.OpFindObjects, wire.FindObjectsRequest{Partition: 1, Ticket: ticket, Template: ck.Template{ck.String(ck.CKA_LABEL, label)}}, &rep)
	return err == nil && len(rep.Objects) > 0
}

// TestRaftMembership adds a fourth node to a running cluster (it catches
// up with what was committed before), then removes it.
func TestRaftMembership(t *testing.T) {
	parts := raftParts(t)
	c := startRaftCluster(t, t.TempDir(), parts)
	nodes := c.Nodes()
	conn := dialNode(t, nodes[0])
	ticket := login(t, conn, 1, ck.CKU_USER, testUserPIN)
	genKey(t, conn, ticket, "before the fourth")

	fourth, err := StartNode(NodeOptions{Partitions: parts, PKI: c.PKI(), Dir: t.TempDir(), Replication: ReplicationRaft, Join: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = fourth.Close() })
	assert.Empty(t, fourth.Leader(), "a joining node waits to be added")

	leader := leaderNode(t, nodes)
	require.ErrorIs(t, notLeader(nodes, leader).AddVoter(fourth.Addr()), ErrNotLeader)
	// The leader may change meanwhile on a busy machine: ask whoever
	// leads until one does it.
	require.Eventually(t, func() bool {
		leader = leaderNode(t, nodes)
		return leader.AddVoter(fourth.Addr()) == nil
	}, 20*time.Second, 10*time.Millisecond)
	members, err := leader.Members()
	require.NoError(t, err)
	assert.Len(t, members, 4)
	c4 := dialNode(t, fourth)
	// Tickets are bound to the client's certificate: this is another.
	t4 := login(t, c4, 1, ck.CKU_USER, testUserPIN)
	require.Eventually(t, func() bool { return hasLabel(t, c4, t4, "before the fourth") }, 10*time.Second, 5*time.Millisecond)
	genKey(t, c4, t4, "through the fourth")
	assert.True(t, hasLabel(t, conn, ticket, "through the fourth"))

	leader = leaderNode(t, nodes)
	require.Eventually(t, func() bool {
		leader = leaderNode(t, nodes)
		return leader.RemoveServer(fourth.Addr()) == nil
	}, 20*time.Second, 10*time.Millisecond)
	members, err = leader.Members()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{nodes[0].Addr(), nodes[1].Addr(), nodes[2].Addr()}, members)
	// The others learn it with the next entries.
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			if m, err := n.Members(); err != nil || len(m) != 3 {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond)
}

func notLeader(nodes []*Node, leader *Node) *Node {
	for _, n := range nodes {
		if n != leader {
			return n
		}
	}
	return nil
}

// TestRaftRecoverAfterLostQuorum loses two nodes of three for good: the
// survivor refuses changes until it is recovered as a cluster of its own,
// and then serves them with everything it had.
func TestRaftRecoverAfterLostQuorum(t *testing.T) {
	parts := raftParts(t)
	dir := t.TempDir()
	c := startRaftCluster(t, dir, parts)
	nodes := c.Nodes()
	conn := dialNode(t, nodes[0])
	ticket := login(t, conn, 1, ck.CKU_USER, testUserPIN)
	kept := genKey(t, conn, ticket, "kept")
	addr := nodes[0].Addr()

	require.NoError(t, nodes[1].Close())
	require.NoError(t, nodes[2].Close())
	err := conn.Call(ctxT(t), wire.OpCreateObject, dataObject(t, ticket, "refused"), nil)
	requireCode(t, err, wire.CodeNoQuorum)
	require.NoError(t, nodes[0].Close())

	// Recovery is of a stopped node only.
	require.True(t, errors.Is(RecoverCluster(t.TempDir(), []string{addr}), ErrStorage))
	require.NoError(t, RecoverCluster(NodeDir(dir, 0), []string{addr}))
	n, err := StartNode(NodeOptions{Partitions: parts, PKI: c.PKI(), Dir: NodeDir(dir, 0), Replication: ReplicationRaft})
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	assert.Equal(t, addr, n.Addr(), "the address it had")
	require.Eventually(t, func() bool { return n.Leader() == addr }, 10*time.Second, 5*time.Millisecond)
	members, err := n.Members()
	require.NoError(t, err)
	assert.Equal(t, []string{addr}, members)

	conn = dialNode(t, n)
	ticket = login(t, conn, 1, ck.CKU_USER, testUserPIN)
	genKey(t, conn, ticket, "after the recovery")
	var attrs wire.GetAttributesReply
	require.NoError(t, conn.Call(ctxT(t), wire.OpGetAttributes, wire.GetAttributesRequest{
		Partition: 1, Ticket: ticket, Handle: kept, Types: []ck.AttributeType{ck.CKA_LABEL},
	}, &attrs))
	require.Len(t, attrs.Values, 1)
	assert.Equal(t, "kept", string(attrs.Values[0].Value))
	assert.False(t, hasLabel(t, conn, ticket, "refused"))
}

// TestRaftAPIErrors: membership calls on a node without Raft, a
// membership change no node makes, an unknown replication.
func TestRaftAPIErrors(t *testing.T) {
	n, _ := startTestNode(t, NodeOptions{})
	require.ErrorIs(t, n.AddVoter("127.0.0.1:1"), ErrNotRaft)
	require.ErrorIs(t, n.RemoveServer("127.0.0.1:1"), ErrNotRaft)
	_, err := n.Members()
	require.ErrorIs(t, err, ErrNotRaft)
	assert.Empty(t, n.Leader())

	// A node without Raft refuses the request; so does an address where
	// nothing listens. The request is asked again until its deadline.
	short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = ChangeMembership(short, n.PKI(), []string{n.Addr(), "127.0.0.1:1"}, "127.0.0.1:2", false)
	require.ErrorIs(t, err, ErrNoQuorum)

	_, err = StartNode(NodeOptions{Partitions: durableParts(), Replication: "paxos"})
	require.Error(t, err)
}
