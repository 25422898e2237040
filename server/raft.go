package server

import (
	"bufio"
	"context"
	"crypto/cipher"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// Replication with hashicorp/raft: every node with peers (NodeOptions.Peers
// or Join), and a lone node with NodeOptions.Replication = ReplicationRaft.
//
// The replicated state machine is the node's state: objects, tombstones,
// PIN states with their retry counters and lockouts, client entries, and
// the results of requests with an OpID. A node that serves a change acts on
// its own copy, as without Raft, then makes what changed (the same records
// a node stores, wire.PeerApplyRequest) a log entry: the leader appends it,
// and the node answers once a majority has it and it is applied here.
// Every node applies every entry in one bbolt transaction that also
// records the entry's index (as HashiCorp Vault's raft storage does), so a
// node that restarts resumes from its file and Raft sends it only what it
// missed. A follower forwards its entries to the leader over a peer
// connection (OpPeerApply).
//
// The records merge as they always have (the highest version wins), so an
// entry applied twice, or retried after a leader change, changes nothing
// the second time.
//
// A node that knows of no leader refuses a change before acting on it
// (wire.CodeNoQuorum): the side of a split without a majority refuses
// writes, and keeps signing with the keys it has. Wrong PINs are changes
// like any other: a guess is answered only once its count is committed, so
// the retry budget is the cluster's.
//
// Raft's connections come in on the node's listener, told from clients'
// by their TLS application protocol (raftstream.go), and authenticate with
// the nodes' certificates both ways. Raft's own log says nothing: entries
// hold key material, and the node's counters are what an operator reads.

// ReplicationRaft (NodeOptions.Replication) replicates through
// hashicorp/raft even a node that starts alone: a change is committed by a
// majority of the cluster, which may grow later (AddVoter).
const ReplicationRaft = "raft"

// Raft defaults.
const (
	// DefaultReplicationTimeout bounds one Raft message to a peer,
	// connecting to it included, and how long a lagging node waits to
	// catch up with its leader.
	DefaultReplicationTimeout = 2 * time.Second
	// DefaultCommitTimeout bounds how long a change waits for a majority,
	// a leader election included, before it is refused.
	DefaultCommitTimeout = 5 * time.Second
	// raftLogFile is the Raft log and its stable store in a node's
	// directory; raftSnapshots its snapshots.
	raftLogFile   = "raft.db"
	raftSnapshots = "raft-snapshots"
	// snapshotMagic starts every snapshot this node writes.
	snapshotMagic = "keyhold-raft-snapshot-1\n"
)

// Errors of Raft replication.
var (
	// ErrNoQuorum: the node is not in contact with a majority of its
	// cluster (no leader is known, or the change was not committed in
	// time); the change was refused.
	ErrNoQuorum = errors.New("server: no quorum: the node is not in contact with a majority of its cluster")
	// ErrNotRaft: the operation needs a node that replicates with Raft.
	ErrNotRaft = errors.New("server: the node does not replicate with Raft")
	// ErrNotLeader: a membership change was asked of a node that is not the
	// leader; ask the leader (Node.Leader).
	ErrNotLeader = errors.New("server: the node is not the cluster's leader")
)

// errNoQuorum answers a client whose change was refused. The engine maps
// it to hsm.ErrNoQuorum.
var errNoQuorum = &ck.Error{RV: wire.CodeNoQuorum, Msg: "no quorum: the node is not in contact with a majority of its cluster; the change was refused"}

// raftSetup is what a node needs to start Raft, again after Kill.
type raftSetup struct {
	dir       string   // "" in memory
	bootstrap []string // the initial voters, this node included; nil to join
	timeout   time.Duration
	peerTLS   *tls.Config
	// mem keeps an in-memory node's log across Kill and Restart, as a
	// directory keeps a durable node's.
	mem *raftMem
}

type raftMem struct {
	store *raft.InmemStore
	snaps *raft.InmemSnapshotStore
}

// raftNode is a node's Raft instance.
type raftNode struct {
	n       *Node
	r       *raft.Raft
	trans   *raft.NetworkTransport
	stream  *raftStream
	bolt    *raftboltdb.BoltStore // nil in memory
	timeout time.Duration
	peerTLS *tls.Config
	// sealer seals entries and snapshot pages: the log on disk holds key
	// material, as node.db does.
	sealer cipher.AEAD
	// sawLeader is set once this Raft instance has known a leader; until
	// then a change waits up to the commit timeout for the first election
	// (see writable).
	sawLeader atomic.Bool

	// applied is the index of the last entry applied to the node's state
	// (and stored with it); notify is closed and replaced at each.
	applied atomic.Uint64
	// settledTerm is the last term in which this node, as the leader, had
	// applied every entry of its predecessors (a barrier): from then on
	// every change the cluster acknowledges is applied here before anyone
	// is told (an apply future completes once the leader applied it).
	settledTerm atomic.Uint64
	notifyMu    sync.Mutex
	notify      chan struct{}

	// fresh is set when the node started a new cluster's log: it has
	// nothing to catch up with.
	fresh bool

	// fwd is the connection to the leader that followers' changes go
	// over.
	fwdMu   sync.Mutex
	fwd     *wire.Conn
	fwdAddr string
}

// startRaft starts the node's Raft instance, from its directory's log when
// it has one, bootstrapping the cluster when the log is new.
func (n *Node) startRaft(addr net.Addr, setup *raftSetup) (*raftNode, error) {
	rn := &raftNode{n: n, timeout: setup.timeout, peerTLS: setup.peerTLS, sealer: n.pki.logKey(), notify: make(chan struct{})}
	if n.st != nil {
		idx, err := n.st.appliedIndex()
		if err != nil {
			return nil, err
		}
		rn.applied.Store(idx)
	}
	logger := hclog.NewNullLogger()
	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(n.addr)
	cfg.Logger = logger
	// A LAN cluster: a dead leader is replaced within about a second.
	cfg.HeartbeatTimeout = 500 * time.Millisecond
	cfg.ElectionTimeout = 500 * time.Millisecond
	cfg.LeaderLeaseTimeout = 250 * time.Millisecond
	// A follower learns that an entry is committed with the leader's next
	// message, which an idle leader sends after CommitTimeout: it bounds
	// how long a follower that catches up waits, at the cost of a small
	// message per follower every few milliseconds.
	cfg.CommitTimeout = 2 * time.Millisecond
	// A durable node's state is its file, which already holds every entry
	// up to its applied index: restoring a snapshot over it would only
	// redo work. An in-memory node rebuilds from the snapshot and the log.
	cfg.NoSnapshotRestoreOnStart = n.st != nil

	var logs raft.LogStore
	var stable raft.StableStore
	var snaps raft.SnapshotStore
	if setup.dir != "" {
		b, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(setup.dir, raftLogFile), BoltOptions: nil})
		if err != nil {
			return nil, fmt.Errorf("%w: raft log: %v", ErrStorage, err)
		}
		rn.bolt = b
		logs, stable = b, b
		fs, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(setup.dir, raftSnapshots), 2, logger)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("%w: raft snapshots: %v", ErrStorage, err)
		}
		snaps = fs
	} else {
		if setup.mem == nil {
			setup.mem = &raftMem{store: raft.NewInmemStore(), snaps: raft.NewInmemSnapshotStore()}
		}
		logs, stable, snaps = setup.mem.store, setup.mem.store, setup.mem.snaps
	}
	rn.stream = newRaftStream(addr, setup.peerTLS)
	rn.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: rn.stream, MaxPool: 3, Timeout: setup.timeout, Logger: logger,
	})
	fail := func(err error) (*raftNode, error) {
		rn.trans.Close()
		rn.stream.Close()
		if rn.bolt != nil {
			rn.bolt.Close()
		}
		return nil, err
	}
	existing, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return fail(fmt.Errorf("%w: raft log: %v", ErrStorage, err))
	}
	r, err := raft.NewRaft(cfg, &raftFSM{rn: rn}, logs, stable, snaps, rn.trans)
	if err != nil {
		return fail(fmt.Errorf("server: raft: %w", err))
	}
	rn.r = r
	rn.fresh = !existing && len(setup.bootstrap) > 0 && rn.applied.Load() == 0
	if !existing && len(setup.bootstrap) > 0 {
		var c raft.Configuration
		for _, a := range setup.bootstrap {
			c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(a), Address: raft.ServerAddress(a)})
		}
		// Every node of a new cluster bootstraps with the same servers;
		// a node whose log another already started refuses, harmlessly.
		if err := r.BootstrapCluster(c).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			rn.close()
			return nil, fmt.Errorf("server: raft bootstrap: %w", err)
		}
	}
	return rn, nil
}

// close shuts Raft down and closes its files and connections.
func (rn *raftNode) close() {
	_ = rn.r.Shutdown().Error()
	rn.trans.Close()
	rn.stream.Close()
	rn.closeForward()
	if rn.bolt != nil {
		rn.bolt.Close()
	}
}

// commitRaft commits the records of a change through Raft: every node,
// this one included, stores them when it applies the entry.
func (n *Node) commitRaft(r records) error {
	_, err := n.commitRaftClaims(r)
	return err
}

// commitRaftClaims is commitRaft that also returns, for each claim of r,
// the token of the claim that won (the first of its request in the log).
func (n *Node) commitRaftClaims(r records) ([]uint64, error) {
	if len(r.objects)+len(r.destroyed)+len(r.pins)+len(r.results)+len(r.clients)+len(r.claims) == 0 {
		return nil, nil
	}
	rf := n.raft()
	if rf == nil {
		return nil, errNoQuorum
	}
	req := r.request()
	n.stats.replications.Add(1)
	_, claimants, err := rf.commit(&req)
	if err != nil {
		n.stats.replicationFailures.Add(1)
	}
	return claimants, err
}

// commitEverywhere is commitRaft for a change every node must honour at
// once (client entries): it also waits until the other members that answer
// have applied it.
func (n *Node) commitEverywhere(r records) error {
	rf := n.raft()
	if rf == nil {
		return errNoQuorum
	}
	req := r.request()
	n.stats.replications.Add(1)
	idx, _, err := rf.commit(&req)
	if err != nil {
		n.stats.replicationFailures.Add(1)
		return err
	}
	rf.everywhere(idx)
	return nil
}

// leader returns the address of the leader this node knows of, "" when
// none.
func (rn *raftNode) leader() string {
	addr, _ := rn.r.LeaderWithID()
	return string(addr)
}

// hasLeader reports whether this node leads or knows a leader, and
// remembers that it has known one.
func (rn *raftNode) hasLeader() bool {
	if rn.r.State() == raft.Leader || rn.leader() != "" {
		rn.sawLeader.Store(true)
		return true
	}
	return false
}

// leaderWait is how long a change waits for a leader before it is refused:
// about two elections, so that a change sent while the cluster replaces a
// dead leader waits for the new one, and a node cut off from
// the majority refuses soon.
const leaderWait = time.Second

// writable reports whether a change may be tried: this node leads, or
// knows a leader, or one is elected within leaderWait. A node cut off from
// the majority loses its leader within an election timeout and then
// refuses changes before acting.
func (rn *raftNode) writable() bool {
	if rn.hasLeader() {
		return true
	}
	// A node that has not known a leader yet is starting: its cluster's
	// first election (a lone member's included) waits out a randomized
	// heartbeat timeout and may need a second round, so it gets the commit
	// timeout. Later, losing the leader for leaderWait means being cut off.
	wait := leaderWait
	if !rn.sawLeader.Load() {
		wait = DefaultCommitTimeout
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if rn.hasLeader() {
				return true
			}
		case <-deadline.C:
			return false
		case <-rn.n.closing:
			return false
		}
	}
}

// commit makes a change an entry of the cluster's log and returns once a
// majority has it and the leader has applied it, with the winning token of
// each of its claims. It does not wait for this node to apply it: the node
// acted on its own copy already, and a node that is asked for what it has
// not applied catches up first (see readsState). While the cluster elects a
// leader it tries again, within the commit timeout; an entry sent twice
// merges to the same state.
func (rn *raftNode) commit(req *wire.PeerApplyRequest) (uint64, []uint64, error) {
	deadline := time.Now().Add(DefaultCommitTimeout)
	backoff := 10 * time.Millisecond
	for {
		idx, claimants, err := rn.submit(req, deadline)
		if err == nil {
			return idx, claimants, nil
		}
		if errors.Is(err, errStorage) || rn.r.State() == raft.Shutdown || time.Now().Add(backoff).After(deadline) {
			return 0, nil, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-rn.n.closing:
			t.Stop()
			return 0, nil, errShuttingDown
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// everywhere waits, up to the replication timeout, until every other
// member of the cluster that answers has applied the entry at idx: a client
// entry revoked, retired or rotated is then refused or honoured by every
// node at once, not only by those that applied it. A member that does not
// answer in time (down, or cut off) is not waited for.
func (rn *raftNode) everywhere(idx uint64) {
	members, err := rn.n.Members()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), rn.timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, addr := range members {
		if addr == rn.n.addr {
			continue
		}
		wg.Go(func() { rn.waitMember(ctx, addr, idx) })
	}
	wg.Wait()
}

// waitMember polls the member at addr until it has applied idx, or ctx
// ends.
func (rn *raftNode) waitMember(ctx context.Context, addr string, idx uint64) {
	c, err := wire.Dial(ctx, addr, rn.peerTLS, wire.DialOptions{Hello: wire.HelloRequest{
		MinVersion: wire.MinVersion, MaxVersion: wire.MaxVersion, Client: "keyhold-peer " + rn.n.name,
	}})
	if err != nil {
		return
	}
	defer c.Close()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		var rep wire.PeerApplyReply
		if err := c.Call(ctx, wire.OpPeerApplied, wire.PeerAppliedRequest{}, &rep); err != nil || rep.Index >= idx {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		case <-rn.n.closing:
			return
		}
	}
}

// submit appends req through the leader: directly on the leader, else
// forwarded to it. It returns the winning token of each claim of req.
func (rn *raftNode) submit(req *wire.PeerApplyRequest, deadline time.Time) (uint64, []uint64, error) {
	if rn.r.State() == raft.Leader {
		return rn.leaderApply(req, time.Until(deadline))
	}
	addr := rn.leader()
	if addr == "" {
		return 0, nil, errNoQuorum
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	c, err := rn.forwardConn(ctx, addr)
	if err != nil {
		return 0, nil, errNoQuorum
	}
	var rep wire.PeerApplyReply
	if err := c.Call(ctx, wire.OpPeerApply, req, &rep); err != nil {
		var ce *ck.Error
		if !errors.As(err, &ce) {
			rn.dropForward(c)
		}
		if errors.As(err, &ce) && ce.RV == errStorage.RV {
			return 0, nil, errStorage
		}
		return 0, nil, errNoQuorum
	}
	return rep.Index, rep.Claimants, nil
}

// leaderApply appends req to the log on the leader. It returns once the
// entry is committed and applied here, with its index and the winning
// token of each of its claims.
func (rn *raftNode) leaderApply(req *wire.PeerApplyRequest, timeout time.Duration) (uint64, []uint64, error) {
	data, err := wire.Marshal(req)
	if err != nil {
		return 0, nil, errInternal
	}
	data = seal(rn.sealer, data, adEntry)
	f := rn.r.Apply(data, max(timeout, time.Millisecond))
	if err := f.Error(); err != nil {
		return 0, nil, errNoQuorum
	}
	switch r := f.Response().(type) {
	case error:
		return 0, nil, r
	case applied:
		return f.Index(), r.claimants, nil
	}
	return f.Index(), nil, nil
}

// applied is what the state machine answers for an entry it applied: the
// winning token of each of the entry's claims.
type applied struct{ claimants []uint64 }

// forwardConn returns a connection to the leader at addr.
func (rn *raftNode) forwardConn(ctx context.Context, addr string) (*wire.Conn, error) {
	rn.fwdMu.Lock()
	defer rn.fwdMu.Unlock()
	if rn.fwd != nil && rn.fwdAddr == addr {
		select {
		case <-rn.fwd.Done():
		default:
			return rn.fwd, nil
		}
	}
	if rn.fwd != nil {
		rn.fwd.Close()
		rn.fwd = nil
	}
	c, err := wire.Dial(ctx, addr, rn.peerTLS, wire.DialOptions{Hello: wire.HelloRequest{
		MinVersion: wire.MinVersion, MaxVersion: wire.MaxVersion, Client: "keyhold-peer " + rn.n.name,
	}})
	if err != nil {
		return nil, err
	}
	rn.fwd, rn.fwdAddr = c, addr
	return c, nil
}

func (rn *raftNode) dropForward(c *wire.Conn) {
	rn.fwdMu.Lock()
	if rn.fwd == c {
		rn.fwd = nil
	}
	rn.fwdMu.Unlock()
	c.Close()
}

func (rn *raftNode) closeForward() {
	rn.fwdMu.Lock()
	c := rn.fwd
	rn.fwd = nil
	rn.fwdMu.Unlock()
	if c != nil {
		c.Close()
	}
}

// waitApplied waits until this node has applied the entry at idx, or the
// deadline passes: the entry is committed either way, and the wait only
// makes the node that answered serve the change on the next request.
func (rn *raftNode) waitApplied(idx uint64, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		rn.notifyMu.Lock()
		ch := rn.notify
		rn.notifyMu.Unlock()
		if rn.applied.Load() >= idx {
			return true
		}
		select {
		case <-ch:
		case <-t.C:
			return false
		case <-rn.n.closing:
			return false
		}
	}
}

func (rn *raftNode) setApplied(idx uint64) {
	rn.applied.Store(idx)
	rn.notifyMu.Lock()
	close(rn.notify)
	rn.notify = make(chan struct{})
	rn.notifyMu.Unlock()
}

// catchUp waits, briefly, until this node has applied every entry the
// leader had applied when asked: a request that found no object here may
// be for one the cluster created a moment ago. It reports whether the
// node caught up. On a leader it costs nothing once its term is settled;
// on a follower, one round trip to the leader.
func (rn *raftNode) catchUp() bool {
	if rn.r.State() == raft.Leader {
		return rn.settle()
	}
	deadline := time.Now().Add(rn.timeout)
	addr := rn.leader()
	if addr == "" {
		return false
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	c, err := rn.forwardConn(ctx, addr)
	if err != nil {
		return false
	}
	var rep wire.PeerApplyReply
	// An empty apply changes nothing: the leader answers with its applied
	// index.
	if err := c.Call(ctx, wire.OpPeerApply, wire.PeerApplyRequest{}, &rep); err != nil {
		var ce *ck.Error
		if !errors.As(err, &ce) {
			rn.dropForward(c)
		}
		return false
	}
	rn.n.stats.catchUps.Add(1)
	return rn.waitApplied(rep.Index, deadline)
}

// settle makes sure that this leader has applied every entry its
// predecessors committed, once per term: a barrier entry, committed and
// applied after them.
func (rn *raftNode) settle() bool {
	term := rn.r.CurrentTerm()
	if rn.settledTerm.Load() == term {
		return true
	}
	if rn.r.Barrier(rn.timeout).Error() != nil {
		return false
	}
	rn.settledTerm.Store(term)
	return true
}

// catchUpToWrite is catchUp for a change with an OpID: while the cluster
// elects a new leader it tries again, within the commit timeout.
func (rn *raftNode) catchUpToWrite() bool {
	deadline := time.Now().Add(DefaultCommitTimeout)
	backoff := 10 * time.Millisecond
	for {
		if rn.catchUp() {
			return true
		}
		if rn.r.State() == raft.Shutdown || time.Now().Add(backoff).After(deadline) {
			return false
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-rn.n.closing:
			t.Stop()
			return false
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// peerApply serves a follower's change on the leader.
func (rn *raftNode) peerApply(req *wire.PeerApplyRequest) (any, error) {
	if rn.r.State() != raft.Leader {
		return nil, errNoQuorum
	}
	if req.Partition == 0 && len(req.Clients) == 0 {
		// A follower asking how far to catch up: to the last change this
		// leader applied, once it applied all it has. (Indexes are those of
		// changes: Raft's own entries, such as a new leader's, do not reach
		// the state machine.)
		if !rn.settle() {
			return nil, errNoQuorum
		}
		return wire.PeerApplyReply{Index: rn.applied.Load()}, nil
	}
	idx, claimants, err := rn.leaderApply(req, DefaultCommitTimeout)
	if err != nil {
		return nil, err
	}
	return wire.PeerApplyReply{Index: idx, Claimants: claimants}, nil
}

// raftFSM applies the cluster's log to the node's state.
type raftFSM struct{ rn *raftNode }

// Apply merges one entry and stores what it left, with the entry's index,
// in one transaction. An entry the file already holds (a restart replays
// the log since the last snapshot) is skipped.
func (f *raftFSM) Apply(l *raft.Log) any {
	rn, n := f.rn, f.rn.n
	if l.Index <= rn.applied.Load() {
		return nil
	}
	if l.Type != raft.LogCommand {
		rn.setApplied(l.Index)
		return nil
	}
	req, err := openEntry(rn.sealer, l.Data, adEntry)
	if err != nil {
		// Only a bug, or a node of another cluster, writes an entry that
		// does not open; every node skips it alike.
		n.stats.badRecords.Add(1)
		return f.done(l.Index)
	}
	n.life.RLock()
	defer n.life.RUnlock()
	p, err := n.merge(&req, false)
	if err != nil {
		// A partition this node does not serve.
		n.stats.badRecords.Add(1)
		return f.done(l.Index)
	}
	if err := n.storeApplied(p, &req, l.Index); err != nil {
		return err
	}
	rn.setApplied(l.Index)
	if len(req.Claims) == 0 {
		return nil
	}
	out := applied{claimants: make([]uint64, len(req.Claims))}
	for i := range req.Claims {
		if k, ok := keyOf(req.Claims[i].Key); ok {
			out.claimants[i] = n.dedup.claimantOf(k)
		}
	}
	return out
}

// done records that the entry at idx is applied, with nothing to store.
func (f *raftFSM) done(idx uint64) any {
	if st := f.rn.n.st; st != nil {
		if err := st.commitAt(idx, func() records { return records{} }); err != nil {
			f.rn.n.stats.storageFailures.Add(1)
			return errStorage
		}
	}
	f.rn.setApplied(idx)
	return nil
}

// Snapshot reads the node's whole state at the applied index: Raft calls
// it between two applies. A durable node reads its file, in one read
// transaction, which holds exactly what was applied; an in-memory node
// reads its memory, as a whole-state push does.
func (f *raftFSM) Snapshot() (raft.FSMSnapshot, error) {
	n := f.rn.n
	s := &raftSnapshot{index: f.rn.applied.Load(), sealer: f.rn.sealer}
	if n.st != nil {
		pages, err := n.st.load()
		if err != nil {
			return nil, err
		}
		s.pages = pages
		return s, nil
	}
	n.life.RLock()
	defer n.life.RUnlock()
	clients := n.clients.all()
	for len(clients) > 0 {
		k := min(len(clients), pageItems/8)
		s.pages = append(s.pages, wire.PeerApplyRequest{Clients: clients[:k]})
		clients = clients[k:]
	}
	for _, p := range n.allHeld() {
		s.pages = append(s.pages, p.pages(n.dedup)...)
	}
	return s, nil
}

// Restore merges a snapshot a leader sent (this node was too far behind
// for the log), stores it, and then its index.
func (f *raftFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	rn, n := f.rn, f.rn.n
	r := bufio.NewReader(rc)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapshotMagic {
		return fmt.Errorf("%w: not a keyhold snapshot", ErrStoreCorrupt)
	}
	var idx uint64
	if err := binary.Read(r, binary.BigEndian, &idx); err != nil {
		return fmt.Errorf("%w: snapshot: %v", ErrStoreCorrupt, err)
	}
	n.life.RLock()
	defer n.life.RUnlock()
	for {
		var size uint32
		err := binary.Read(r, binary.BigEndian, &size)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || size > wire.MaxBodySize {
			return fmt.Errorf("%w: snapshot page", ErrStoreCorrupt)
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("%w: snapshot page: %v", ErrStoreCorrupt, err)
		}
		req, err := openEntry(rn.sealer, b, adSnapshot)
		if err != nil {
			return fmt.Errorf("%w: snapshot page: %v", ErrStoreCorrupt, err)
		}
		p, err := n.merge(&req, false)
		if err != nil {
			continue // a partition this node does not serve
		}
		// The index is stored last, once every page is: a crash in
		// between leaves the older index, and Raft sends the snapshot
		// again.
		if err := n.storeApplied(p, &req, 0); err != nil {
			return err
		}
	}
	if v, ok := f.done(idx).(error); ok {
		return v
	}
	rn.setApplied(idx)
	return nil
}

// raftSnapshot is the node's state at one index, as pages of records.
type raftSnapshot struct {
	index  uint64
	pages  []wire.PeerApplyRequest
	sealer cipher.AEAD
}

// Associated data of sealed entries and snapshot pages: one never passes
// for the other.
var (
	adEntry    = []byte("keyhold raft entry")
	adSnapshot = []byte("keyhold raft snapshot page")
)

// openEntry opens and decodes a sealed entry or snapshot page.
func openEntry(g cipher.AEAD, sealed, ad []byte) (wire.PeerApplyRequest, error) {
	var req wire.PeerApplyRequest
	b, err := open(g, sealed, ad)
	if err != nil {
		return req, err
	}
	err = wire.Unmarshal(b, &req)
	return req, err
}

// Persist writes the snapshot: a magic line, the index, then each page,
// length first.
func (s *raftSnapshot) Persist(sink raft.SnapshotSink) error {
	err := func() error {
		w := bufio.NewWriter(sink)
		if _, err := w.WriteString(snapshotMagic); err != nil {
			return err
		}
		if err := binary.Write(w, binary.BigEndian, s.index); err != nil {
			return err
		}
		for i := range s.pages {
			b, err := wire.Marshal(&s.pages[i])
			if err != nil {
				return err
			}
			b = seal(s.sealer, b, adSnapshot)
			if err := binary.Write(w, binary.BigEndian, uint32(len(b))); err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return w.Flush()
	}()
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release frees nothing: the pages are garbage once written.
func (s *raftSnapshot) Release() {}

// Leader returns the address of the leader of the node's Raft cluster as
// this node knows it, "" when it knows of none or does not use Raft.
func (n *Node) Leader() string {
	rf := n.raft()
	if rf == nil {
		return ""
	}
	return rf.leader()
}

// raft returns the node's Raft instance; nil when it does not replicate
// with Raft, or is killed.
func (n *Node) raft() *raftNode { return n.rf.Load() }

// AddVoter adds the node at addr (its listen address, which is its Raft
// identity) to the cluster as a voting member. It is asked of the leader
// (else ErrNotLeader); the new node was started with NodeOptions.Join and
// the same PKI, and catches up from the log or a snapshot.
func (n *Node) AddVoter(addr string) error {
	rf := n.raft()
	if rf == nil {
		return ErrNotRaft
	}
	err := rf.r.AddVoter(raft.ServerID(addr), raft.ServerAddress(addr), 0, DefaultCommitTimeout).Error()
	return membershipErr(err)
}

// RemoveServer removes the node at addr from the cluster. It is asked of
// the leader (else ErrNotLeader).
func (n *Node) RemoveServer(addr string) error {
	rf := n.raft()
	if rf == nil {
		return ErrNotRaft
	}
	err := rf.r.RemoveServer(raft.ServerID(addr), 0, DefaultCommitTimeout).Error()
	return membershipErr(err)
}

// Members returns the addresses of the voting members of the node's
// cluster, as its latest configuration lists them.
func (n *Node) Members() ([]string, error) {
	rf := n.raft()
	if rf == nil {
		return nil, ErrNotRaft
	}
	f := rf.r.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("server: raft configuration: %w", err)
	}
	var out []string
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			out = append(out, string(s.Address))
		}
	}
	return out, nil
}

func membershipErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	default:
		return fmt.Errorf("%w: %v", ErrNoQuorum, err)
	}
}

// RecoverCluster rewrites the Raft log in a stopped node's directory so that
// its cluster is made of members alone: after a quorum was lost for good,
// every surviving node is recovered with the same members, then started
// (with NodeOptions.Peers listing the other members) and elects a leader
// among them. Changes that only the lost nodes had are lost with them. It
// is never done automatically: only an operator knows that the lost nodes
// will not come back.
func RecoverCluster(dir string, members []string) error {
	if len(members) == 0 {
		return errors.New("server: recovery needs at least one member")
	}
	if _, err := os.Stat(filepath.Join(dir, raftLogFile)); err != nil {
		return fmt.Errorf("%w: no raft log in %s: %v", ErrStorage, dir, err)
	}
	st, err := openStore(dir)
	if err != nil {
		return err
	}
	defer st.close()
	b, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, raftLogFile)})
	if err != nil {
		return fmt.Errorf("%w: raft log: %v", ErrStorage, err)
	}
	defer b.Close()
	logger := hclog.NewNullLogger()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(dir, raftSnapshots), 2, logger)
	if err != nil {
		return fmt.Errorf("%w: raft snapshots: %v", ErrStorage, err)
	}
	var c raft.Configuration
	for _, a := range members {
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(a), Address: raft.ServerAddress(a)})
	}
	applied, err := st.appliedIndex()
	if err != nil {
		return err
	}
	meta, err := st.readMeta()
	if err != nil {
		return err
	}
	pki, err := ParsePKI(meta.pki)
	if err != nil {
		return fmt.Errorf("%w: stored PKI: %v", ErrStoreCorrupt, err)
	}
	cfg := raft.DefaultConfig()
	cfg.Logger = logger
	cfg.LocalID = raft.ServerID(members[0])
	cfg.NoSnapshotRestoreOnStart = true
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	if err := raft.RecoverCluster(cfg, &recoveryFSM{st: st, applied: applied, sealer: pki.logKey()}, b, b, snaps, trans, c); err != nil {
		return fmt.Errorf("server: raft recovery: %w", err)
	}
	return nil
}

// recoveryFSM is the state machine RecoverCluster replays the log into: the
// node's file. Entries the file holds are skipped; the others are stored as
// they are, in the log's order, which is the order the node would have
// merged them in. Its snapshot is the file.
type recoveryFSM struct {
	st      *store
	applied uint64
	sealer  cipher.AEAD
}

func (f *recoveryFSM) Apply(l *raft.Log) any {
	if l.Index <= f.applied {
		return nil
	}
	var r records
	if l.Type == raft.LogCommand {
		if req, err := openEntry(f.sealer, l.Data, adEntry); err == nil {
			r = recordsOfRequest(&req)
		}
	}
	if err := f.st.commitAt(l.Index, func() records { return r }); err != nil {
		return err
	}
	f.applied = l.Index
	return nil
}

func (f *recoveryFSM) Snapshot() (raft.FSMSnapshot, error) {
	pages, err := f.st.load()
	if err != nil {
		return nil, err
	}
	return &raftSnapshot{index: f.applied, pages: pages, sealer: f.sealer}, nil
}

func (f *recoveryFSM) Restore(rc io.ReadCloser) error { return rc.Close() }

// recordsOfRequest is what storing an entry as it is writes.
func recordsOfRequest(req *wire.PeerApplyRequest) records {
	return records{
		partition: req.Partition, objects: req.Objects, destroyed: req.Destroyed,
		pins: req.PINs, results: req.Results, clients: req.Clients,
	}
}

// request is the entry that replicates what a commit of r stores.
func (r records) request() wire.PeerApplyRequest {
	return wire.PeerApplyRequest{
		Partition: r.partition, Objects: r.objects, Destroyed: r.destroyed,
		PINs: r.pins, Results: r.results, Clients: r.clients, Claims: r.claims,
	}
}

// ChangeMembership adds the node at addr to a running Raft cluster as a
// voting member, or removes it (remove), by asking the cluster's nodes (at
// the addresses in nodes) in turn until the leader does it. It
// authenticates with a peer certificate of pki, the cluster's: only who
// holds the cluster's CA keys changes its membership. A node added was
// started with NodeOptions.Join (`keyhold serve --join`). While no node
// does it (the cluster may be electing a leader) it asks again, until ctx
// ends (30 s when ctx has no deadline), and then returns ErrNoQuorum.
func ChangeMembership(ctx context.Context, pki *PKI, nodes []string, addr string, remove bool) error {
	cert, err := pki.PeerCertificate("keyhold membership")
	if err != nil {
		return err
	}
	cfg, err := wire.ClientTLS{Certificate: cert, RootCAs: pki.NodeCAPool()}.Config()
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		// Long enough for the cluster to elect a leader a few times over.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, membershipWait)
		defer cancel()
	}
	for {
		var errs []error
		for _, a := range nodes {
			err := func() error {
				c, err := wire.Dial(ctx, a, cfg, wire.DialOptions{Hello: wire.HelloRequest{
					MinVersion: wire.MinVersion, MaxVersion: wire.MaxVersion, Client: "keyhold membership",
				}})
				if err != nil {
					return err
				}
				defer c.Close()
				return c.Call(ctx, wire.OpPeerJoin, wire.PeerJoinRequest{Address: addr, Raft: true, Remove: remove}, nil)
			}()
			if err == nil {
				return nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
		}
		// No node did it: the cluster may be electing a leader (a busy
		// machine makes elections slower). Ask again until the deadline.
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: no node changed the membership: %w", ErrNoQuorum, errors.Join(errs...))
		case <-t.C:
		}
	}
}

// membershipWait bounds ChangeMembership when its context has no deadline.
const membershipWait = 30 * time.Second
