package server

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// DropConnections closes every open connection now, as a network failure
// or an operator cutting clients off would. Requests in flight get no
// reply. The node keeps listening.
func (n *Node) DropConnections() {
	n.mu.Lock()
	conns := n.openLocked()
	n.mu.Unlock()
	for _, c := range conns {
		c.drop()
	}
}

// dropReply loses a reply with its connection (faults.Set.DropReplies).
func (n *Node) dropReply(c *conn) {
	n.stats.droppedReplies.Add(1)
	c.drop()
}

// Stop makes the node unreachable: it stops listening (new connections are
// refused by the operating system) and drops every open connection, its
// peers' included; it stops replicating too. Partition state is kept;
// Restart serves it again, after catching up with the cluster.
func (n *Node) Stop() {
	n.lifecycle.Lock()
	defer n.lifecycle.Unlock()
	n.stop()
}

func (n *Node) stop() {
	n.ready.Store(false)
	n.mu.Lock()
	ln, done := n.ln, n.acceptDone
	n.ln = nil
	n.mu.Unlock()
	if ln != nil {
		ln.Close()
		<-done
	}
	if rf := n.raft(); rf != nil {
		// Raft's connections go with the others, and none is made until
		// Restart.
		rf.stream.setDown(true)
		rf.closeForward()
	}
	n.DropConnections()
}

// kill stops the node abruptly, as a crash or a power cut would: like Stop,
// and its memory is lost too. Restart brings it back with its partitions as
// configured (no objects, the configured PINs, no retry counts), and a node
// of a cluster then catches up from its peers before it serves clients.
// The test harness triggers it through faults.Set.Kill.
func (n *Node) kill() {
	n.lifecycle.Lock()
	defer n.lifecycle.Unlock()
	n.stop()
	if rf := n.rf.Swap(nil); rf != nil {
		// A crash loses Raft's memory too: Restart starts it again from
		// the log it stored.
		rf.close()
	}
	// No state change is in progress once life is held: none can land on a
	// wiped token.
	n.life.Lock()
	for _, p := range n.allHeld() {
		p.tok.Reset()
	}
	n.dedup.reset()
	n.clients.reset()
	n.life.Unlock()
	n.mu.Lock()
	n.killed = true
	n.mu.Unlock()
}

// ErrNodeClosed is returned by Restart after Close.
var ErrNodeClosed = errors.New("server: node is closed")

// Restart listens again on the node's address after Stop or Kill, with the
// partition state it kept (objects, PINs, retry counters, ticket keys). A
// node of a cluster first catches up: it asks every peer to push its whole
// state, and Restart returns (and clients are served) once the reachable
// ones did. It does nothing on a node that is listening.
func (n *Node) Restart() error {
	n.lifecycle.Lock()
	defer n.lifecycle.Unlock()
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrNodeClosed
	}
	if n.ln != nil {
		n.mu.Unlock()
		return nil
	}
	// The port was freed by Stop a moment ago; Go listeners set SO_REUSEADDR,
	// so connections of the previous life in TIME_WAIT don't block it.
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", n.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		n.mu.Unlock()
		return fmt.Errorf("server: restart: %w", err)
	}
	if n.killed {
		// Its memory was lost: it comes back with what it stored, then
		// catches up with its peers.
		if err := n.loadStored(); err != nil {
			ln.Close()
			n.mu.Unlock()
			return err
		}
		n.killed = false
	}
	if n.raftMode {
		if rf := n.raft(); rf != nil {
			rf.stream.setDown(false)
		} else {
			rf, err := n.startRaft(ln.Addr(), n.raftSetup)
			if err != nil {
				ln.Close()
				n.mu.Unlock()
				return err
			}
			n.rf.Store(rf)
		}
	}
	// What it has may be older than what the cluster acknowledged while it
	// was away: it serves again once it has caught up (see current).
	n.caughtUp.Store(false)
	n.serveLocked(ln)
	n.mu.Unlock()
	n.ready.Store(true)
	return nil
}

// Stats are counters of a node's activity since it started.
type Stats struct {
	// ConnectionsOpen is the number of connections open now, including those
	// still in their handshake.
	ConnectionsOpen int
	// ConnectionsAccepted counts accepted TCP connections (refused ones
	// and those over the cap excluded).
	ConnectionsAccepted uint64
	// ConnectionsOverCap counts connections closed at once because
	// MaxConnections were open.
	ConnectionsOverCap uint64
	// HandshakeFailures counts connections closed because TLS failed: no
	// client certificate, one from another CA, not TLS at all, or too slow.
	HandshakeFailures uint64
	// ProtocolErrors counts connections closed because of what a client
	// sent: malformed, oversized or truncated frames.
	ProtocolErrors uint64
	// Requests counts requests that a worker answered, successfully or not.
	Requests uint64
	// BusyReplies counts requests answered wire.CodeBusy without being started.
	BusyReplies uint64
	// Panics counts requests whose handler panicked (answered CKR_GENERAL_ERROR).
	Panics uint64
	// DroppedReplies counts replies lost on purpose (DropReplies).
	DroppedReplies uint64

	// Leader is the address of the Raft leader as the node knows it (""
	// when it knows of none, or does not replicate with Raft).
	Leader string
	// AppliedIndex is the index of the last Raft log entry the node
	// applied (and stored).
	AppliedIndex uint64

	// Ready reports whether the node serves clients: it is listening and,
	// in a cluster, has caught up with its leader since it started.
	Ready bool
	// LivePeers is the number of the other members of its Raft cluster
	// while it knows a leader, 0 while it knows none (it is cut off from
	// the majority, or the cluster elects one).
	LivePeers int
	// PeerRequests counts requests its peers sent it.
	PeerRequests uint64
	// Replications counts changes it committed through its cluster's log.
	Replications uint64
	// StorageFailures counts changes that could not be stored, and so were
	// not acknowledged.
	StorageFailures uint64
	// ReplicationFailures counts changes its cluster did not commit in
	// time (no quorum): they were refused.
	ReplicationFailures uint64
	// CatchUps counts the times it caught up with its leader before
	// serving a request (a login, a change, an object not found here).
	CatchUps uint64
	// BadRecords counts replicated records it could not apply (a bug, or
	// an entry of another cluster).
	BadRecords uint64
	// DedupWaits counts requests that waited for the result of an earlier
	// attempt with the same OpID, on this node or another, instead of
	// acting.
	DedupWaits uint64
	// Enrolls counts Enroll requests received, whatever their outcome.
	Enrolls uint64
}

type counters struct {
	accepted, handshakeFailures, protocolErrors, requests, busy, panics atomic.Uint64
	droppedReplies, peerRequests, replications, replicationFailures     atomic.Uint64
	catchUps, badRecords, dedupWaits                                    atomic.Uint64
	enrolls, storageFailures, overCap                                   atomic.Uint64
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	open := len(n.open)
	n.mu.Unlock()
	live := 0
	var leader string
	var applied uint64
	if rf := n.raft(); rf != nil {
		leader, applied = rf.leader(), rf.applied.Load()
		if leader != "" {
			if m, err := n.Members(); err == nil {
				live = max(0, len(m)-1)
			}
		}
	}
	return Stats{
		Leader:              leader,
		AppliedIndex:        applied,
		ConnectionsOpen:     open,
		ConnectionsAccepted: n.stats.accepted.Load(),
		ConnectionsOverCap:  n.stats.overCap.Load(),
		HandshakeFailures:   n.stats.handshakeFailures.Load(),
		ProtocolErrors:      n.stats.protocolErrors.Load(),
		Requests:            n.stats.requests.Load(),
		BusyReplies:         n.stats.busy.Load(),
		Panics:              n.stats.panics.Load(),
		DroppedReplies:      n.stats.droppedReplies.Load(),
		Ready:               n.ready.Load() && (!n.raftMode || n.caughtUp.Load()),
		LivePeers:           live,
		PeerRequests:        n.stats.peerRequests.Load(),
		Replications:        n.stats.replications.Load(),
		ReplicationFailures: n.stats.replicationFailures.Load(),
		StorageFailures:     n.stats.storageFailures.Load(),
		CatchUps:            n.stats.catchUps.Load(),
		Enrolls:             n.stats.enrolls.Load(),
		BadRecords:          n.stats.badRecords.Load(),
		DedupWaits:          n.stats.dedupWaits.Load(),
	}
}
