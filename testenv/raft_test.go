package testenv

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server"
)

// startRaft starts a 3-node cluster that replicates with Raft.
func startRaft(t *testing.T, opts ...Option) *Env {
	t.Helper()
	return Start(t, append([]Option{WithNodes(3), WithReplication(server.ReplicationRaft)}, opts...)...)
}

// sameApplied waits until every running node has applied the same Raft
// entries, at least min of them.
func sameApplied(t *testing.T, nodes []*Node, atLeast uint64) uint64 {
	t.Helper()
	var idx uint64
	require.Eventually(t, func() bool {
		idx = nodes[0].Stats().AppliedIndex
		for _, n := range nodes[1:] {
			if n.Stats().AppliedIndex != idx {
				return false
			}
		}
		return idx >= atLeast
	}, 10*time.Second, 5*time.Millisecond)
	return idx
}

// TestRaftCommitsEverywhere generates a key through each node in turn and
// signs with it on every node at once: a change acknowledged by any node
// is committed by the cluster and served by all of them.
func TestRaftCommitsEverywhere(t *testing.T) {
	env := startRaft(t)
	cs := dialAll(t, env)
	p := env.PartitionID
	ticket := login(t, cs[0], p, ck.CKU_USER, env.UserPIN)
	for i := range cs {
		kp := genP256(t, cs[i], p, ticket, fmt.Sprintf("raft-%d", i))
		digest := sha256.Sum256(fmt.Appendf(nil, "signed after a write through node %d", i))
		for j := range cs {
			sig, err := signP256(t, cs[j], p, ticket, kp.Private, digest[:])
			require.NoError(t, err, "node %d signing with a key generated through node %d", j, i)
			assert.True(t, verifyRS(ecPublicKey(t, cs[(j+1)%len(cs)], p, kp.Public), digest[:], sig))
		}
	}
	sameApplied(t, env.Nodes, 3)
	leader := env.Nodes[0].Leader()
	require.NotEmpty(t, leader)
	for _, n := range env.Nodes {
		st := n.Stats()
		assert.Equal(t, leader, st.Leader)
		assert.Zero(t, st.BadRecords)
		assert.Zero(t, st.StorageFailures)
	}
	members, err := env.Nodes[1].Members()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{env.Nodes[0].Addr(), env.Nodes[1].Addr(), env.Nodes[2].Addr()}, members)
}

// TestRaftMinorityRefusesWrites cuts one node off from the two others: it
// refuses changes with CodeNoQuorum (hsm.ErrNoQuorum through the engine)
// and keeps signing; once they are back it accepts changes again.
func TestRaftMinorityRefusesWrites(t *testing.T) {
	env := startRaft(t)
	cs := dialAll(t, env)
	p := env.PartitionID
	ticket := login(t, cs[2], p, ck.CKU_USER, env.UserPIN)
	kp := genP256(t, cs[0], p, ticket, "before the split")
	sameApplied(t, env.Nodes, 1)

	// The engine, configured with the third node alone, logged in before
	// the split.
	cfg := env.Config
	cfg.Partitions = append([]hsm.PartitionConfig(nil), cfg.Partitions...)
	cfg.Partitions[0].Nodes = cfg.Partitions[0].Nodes[2:]
	client, err := hsm.Open(ctxT(t), cfg)
	require.NoError(t, err)
	defer client.Close()
	part, err := client.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, part.Login(ctxT(t), env.UserPIN))
	key, err := part.KeyByLabel(ctxT(t), "before the split")
	require.NoError(t, err)

	env.Nodes[0].Stop()
	env.Nodes[1].Stop()
	require.Eventually(t, func() bool { return env.Nodes[2].Leader() == "" }, 10*time.Second, 5*time.Millisecond)

	err = cs[2].Call(ctxT(t), wire.OpGenerateKeyPair, genP256Request(t, p, ticket, "during the split", newOpID(t)), nil)
	requireCode(t, err, wire.CodeNoQuorum)
	_, err = part.GenerateKey(ctxT(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "engine during the split"})
	require.True(t, errors.Is(err, hsm.ErrNoQuorum), "got %v", err)

	digest := sha256.Sum256([]byte("signed by a minority"))
	sig, err := signP256(t, cs[2], p, ticket, kp.Private, digest[:])
	require.NoError(t, err)
	assert.True(t, verifyRS(ecPublicKey(t, cs[2], p, kp.Public), digest[:], sig))
	_, err = key.Sign(ctxT(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
	require.NoError(t, err)

	require.NoError(t, env.Nodes[0].Restart())
	require.NoError(t, env.Nodes[1].Restart())
	require.Eventually(t, func() bool { return env.Nodes[2].Leader() != "" }, 10*time.Second, 5*time.Millisecond)
	after := genP256(t, cs[2], p, ticket, "after the split")
	c0 := dialNode(t, env, env.Nodes[0])
	sig, err = signP256(t, c0, p, ticket, after.Private, digest[:])
	require.NoError(t, err)
	assert.True(t, verifyRS(ecPublicKey(t, c0, p, after.Public), digest[:], sig))
	assert.Empty(t, find(t, c0, p, ticket, ck.Template{ck.String(ck.CKA_LABEL, "during the split")}))
}

// TestRaftRestartResumesFromFile kills a node (its memory is lost), makes
// changes without it, and starts it again: it comes back with what its
// file holds, at the index it had applied, and Raft sends it the rest.
func TestRaftRestartResumesFromFile(t *testing.T) {
	env := startRaft(t)
	cs := dialAll(t, env)
	p := env.PartitionID
	ticket := login(t, cs[0], p, ck.CKU_USER, env.UserPIN)
	before := genP256(t, cs[0], p, ticket, "before the kill")
	applied := sameApplied(t, env.Nodes, 1)

	env.Nodes[2].Kill()
	assert.Zero(t, env.Nodes[2].Stats().AppliedIndex)
	during := genP256(t, cs[1], p, ticket, "while it was down")

	require.NoError(t, env.Nodes[2].Restart())
	// Resumed from its file: the entries it had stored are applied at once.
	assert.GreaterOrEqual(t, env.Nodes[2].Stats().AppliedIndex, applied)
	sameApplied(t, env.Nodes, applied+1)
	c2 := dialNode(t, env, env.Nodes[2])
	digest := sha256.Sum256([]byte("after a restart"))
	for _, kp := range []wire.GenerateKeyPairReply{before, during} {
		sig, err := signP256(t, c2, p, ticket, kp.Private, digest[:])
		require.NoError(t, err)
		assert.True(t, verifyRS(ecPublicKey(t, c2, p, kp.Public), digest[:], sig))
	}
	assert.Zero(t, env.Nodes[2].Stats().BadRecords)
}

// TestRaftWrongPINsAreTheClusters spends the retry budget one wrong PIN per
// node: the user is locked out on every node, and stays so after a node is
// killed and started again.
func TestRaftWrongPINsAreTheClusters(t *testing.T) {
	env := startRaft(t, WithMaxPINAttempts(3))
	cs := dialAll(t, env)
	p := env.PartitionID
	wrong := wire.LoginRequest{Partition: p, User: ck.CKU_USER, PIN: []byte("wrong-pin-000")}
	for _, c := range cs {
		requireCode(t, c.Call(ctxT(t), wire.OpLogin, wrong, nil), ck.CKR_PIN_INCORRECT)
	}
	right := wire.LoginRequest{Partition: p, User: ck.CKU_USER, PIN: []byte(env.UserPIN)}
	for _, c := range cs {
		requireCode(t, c.Call(ctxT(t), wire.OpLogin, right, nil), ck.CKR_PIN_LOCKED)
	}
	env.Nodes[1].Kill()
	require.NoError(t, env.Nodes[1].Restart())
	waitCurrent(t, env.Nodes[1])
	c1 := dialNode(t, env, env.Nodes[1])
	requireCode(t, c1.Call(ctxT(t), wire.OpLogin, right, nil), ck.CKR_PIN_LOCKED)

	// The SO unlocks through one node; the user logs in on another.
	so := login(t, cs[2], p, ck.CKU_SO, env.SOPIN)
	require.NoError(t, cs[2].Call(ctxT(t), wire.OpInitPIN, wire.InitPINRequest{Partition: p, Ticket: so, PIN: []byte("new-user-pin"), OpID: newOpID(t)}, nil))
	login(t, cs[0], p, ck.CKU_USER, "new-user-pin")
}
