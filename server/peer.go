package server

import (
	"fmt"
	"net"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server/internal/token"
)

// peerLoop reads a peer's requests: followers' changes for the leader to
// append, and membership changes. Each runs in its own goroutine, not on
// the worker pool: a follower forwards a change while holding one of its
// workers, and if the leader queued it behind its own clients' requests,
// whose changes wait for the log, two busy nodes could wait for each other.
// Peers are the cluster's own nodes, and each sends a bounded number of
// requests at once (one per worker).
//
// Faults injected for clients (latency, busy, dropped replies) do not apply
// to peers: a slow node must still replicate. Network faults (stop, kill,
// dropped and refused connections) do.
func (c *conn) peerLoop() {
	n := c.n
	defer c.forget()
	for {
		h, body, err := c.sc.Read()
		if err != nil {
			n.noteReadError(err)
			return
		}
		switch {
		case h.Op == wire.OpPing:
			// A link's heartbeat.
			c.reply(h, wire.PingReply{})
			continue
		case !h.Op.Peer():
			c.replyError(h, ck.Errorf(wire.CodeUnknownOp, "op %v is not a peer operation: a peer connection carries peer operations and Ping only", h.Op))
			continue
		}
		// The reader's own slot in n.wg is held, so Add cannot race Close's Wait.
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			c.servePeer(h, body)
		}()
		if c.gone.Load() {
			return
		}
	}
}

func (c *conn) servePeer(h wire.Header, body []byte) {
	n := c.n
	defer func() {
		if r := recover(); r != nil {
			n.stats.panics.Add(1)
			c.replyError(h, errInternal)
		}
	}()
	n.stats.peerRequests.Add(1)
	var reply any
	var err error = ck.Errorf(wire.CodeUnknownOp, "unknown peer op %d", uint16(h.Op))
	if hd := peerHandlers[h.Op]; hd != nil {
		reply, err = hd(n, c, body)
	}
	if err != nil {
		c.replyError(h, err)
		return
	}
	c.reply(h, reply)
}

// peerHandlers serve the peer operations, through the same decode path as
// clients' requests (see handle).
var peerHandlers = map[wire.Op]handler{
	wire.OpPeerJoin:    handle(wire.OpPeerJoin, (*Node).peerJoin),
	wire.OpPeerApply:   handle(wire.OpPeerApply, (*Node).peerApply),
	wire.OpPeerApplied: handle(wire.OpPeerApplied, (*Node).peerApplied),
}

// peerApplied answers how far this node has applied the log.
func (n *Node) peerApplied(_ *conn, _ *wire.PeerAppliedRequest) (any, error) {
	rf := n.raft()
	if rf == nil {
		return nil, errNoQuorum
	}
	return wire.PeerApplyReply{Index: rf.applied.Load()}, nil
}

// peerJoin changes the membership of the node's Raft cluster (see
// ChangeMembership). Only the leader does it.
func (n *Node) peerJoin(_ *conn, req *wire.PeerJoinRequest) (any, error) {
	if !n.raftMode || !req.Raft {
		return nil, ck.Errorf(wire.CodeUnknownOp, "a membership change is for nodes that replicate with Raft")
	}
	var err error
	if req.Remove {
		err = n.RemoveServer(req.Address)
	} else {
		err = n.AddVoter(req.Address)
	}
	if err != nil {
		return nil, &ck.Error{RV: wire.CodeNoQuorum, Msg: "membership change refused: this node is not the leader, or its cluster has no quorum"}
	}
	return wire.PeerJoinReply{}, nil
}

// peerApply serves a follower's change on the leader, which appends it to
// the cluster's log (raftNode.peerApply).
func (n *Node) peerApply(_ *conn, req *wire.PeerApplyRequest) (any, error) {
	rf := n.raft()
	if rf == nil {
		return nil, errNoQuorum
	}
	return rf.peerApply(req)
}

// merge applies replicated records: an entry of the cluster's log (restore
// false), or this node's own as it stored them (restore true), which take
// the place of the configured PIN states. A record that does not apply
// (which only a bug makes) is skipped and counted: the rest still applies,
// on every node alike. It returns the partition the records are of, nil
// for client entries alone.
func (n *Node) merge(req *wire.PeerApplyRequest, restore bool) (*partition, error) {
	for _, e := range req.Clients {
		n.clients.merge(e)
	}
	if req.Partition == 0 && len(req.Clients) > 0 {
		// Client entries belong to the node: nothing else to merge.
		return nil, nil
	}
	p, err := n.held(req.Partition)
	if err != nil {
		return nil, err
	}
	for _, o := range req.Objects {
		if _, err := p.tok.Apply(tokenRecord(o)); err != nil {
			n.stats.badRecords.Add(1)
		}
	}
	for _, h := range req.Destroyed {
		if h != 0 && h>>63 == 0 {
			p.tok.Remove(token.Handle(h))
		}
	}
	for _, pin := range req.PINs {
		rec, ok := tokenPIN(pin)
		if !ok {
			n.stats.badRecords.Add(1)
			continue
		}
		if restore {
			err = p.tok.RestorePIN(rec)
		} else {
			_, err = p.tok.MergePIN(rec)
		}
		if err != nil {
			n.stats.badRecords.Add(1)
		}
	}
	for i := range req.Results {
		res := &req.Results[i]
		if k, ok := keyOf(res.Key); ok && k.partition == p.id {
			n.dedup.resolve(k, res)
		}
	}
	for i := range req.Claims {
		c := &req.Claims[i]
		if k, ok := keyOf(c.Key); ok && k.partition == p.id {
			n.dedup.claimed(k, c)
		}
	}
	return p, nil
}

// storeApplied stores the state that merging req left, and index as the
// last Raft entry applied when it is not 0.
func (n *Node) storeApplied(p *partition, req *wire.PeerApplyRequest, index uint64) error {
	if n.st == nil {
		return nil
	}
	ch := change{pins: make([]ck.UserType, 0, len(req.PINs))}
	for _, o := range req.Objects {
		ch.puts = append(ch.puts, token.Handle(o.Handle))
	}
	for _, h := range req.Destroyed {
		ch.destroyed = append(ch.destroyed, token.Handle(h))
	}
	for _, pin := range req.PINs {
		ch.pins = append(ch.pins, pin.User)
	}
	for i := range req.Clients {
		ch.clients = append(ch.clients, &req.Clients[i])
	}
	err := n.st.commitAt(index, func() records {
		r := n.recordsOf(p, &ch, nil)
		if p != nil {
			r.results = append(r.results, req.Results...)
		}
		return r
	})
	if err != nil {
		n.stats.storageFailures.Add(1)
		return errStorage
	}
	return nil
}

// loadStored merges what the node stored, after its partitions were set up
// as configured. A partition whose PIN states were never stored (a new
// directory, or a partition added to the configuration) has its configured
// ones stored now, so that from then on the directory, not the
// configuration, holds its PINs.
func (n *Node) loadStored() error {
	if n.st == nil {
		return nil
	}
	reqs, err := n.st.load()
	if err != nil {
		return err
	}
	havePINs := map[uint32]bool{}
	for i := range reqs {
		if _, err := n.merge(&reqs[i], true); err != nil {
			// A partition no longer configured: its records stay on disk.
			continue
		}
		if len(reqs[i].PINs) > 0 {
			havePINs[reqs[i].Partition] = true
		}
	}
	for _, p := range n.allHeld() {
		if havePINs[p.id] {
			continue
		}
		if err := n.st.commit(func() records {
			return n.recordsOf(p, &change{pins: []ck.UserType{ck.CKU_SO, ck.CKU_USER}}, nil)
		}); err != nil {
			return err
		}
	}
	return nil
}

// adoptStoredMeta completes opts from what a node stored in its directory:
// its PKI and its address.
func adoptStoredMeta(st *store, opts *NodeOptions) error {
	meta, err := st.readMeta()
	if err != nil {
		return err
	}
	if meta.pki != nil {
		stored, err := ParsePKI(meta.pki)
		if err != nil {
			return fmt.Errorf("%w: stored PKI: %v", ErrStoreCorrupt, err)
		}
		switch {
		case opts.PKI == nil:
			opts.PKI = stored
		case !opts.PKI.same(stored):
			return ErrStoreMismatch
		}
	}
	if meta.addr != "" && opts.Listener == nil {
		if _, port, err := net.SplitHostPort(opts.Address); err == nil && port == "0" {
			opts.Address = meta.addr
		}
	}
	return nil
}

// Conversions between the token's records and their wire form.

func peerObject(rec token.ObjectRecord) wire.PeerObject {
	return wire.PeerObject{Handle: uint64(rec.Handle), Version: rec.Version, Writer: rec.Writer, Attributes: rec.Attributes, Invalidated: rec.Invalidated}
}

func tokenRecord(o wire.PeerObject) token.ObjectRecord {
	return token.ObjectRecord{Handle: token.Handle(o.Handle), Version: o.Version, Writer: o.Writer, Attributes: o.Attributes, Invalidated: o.Invalidated}
}

func peerPIN(rec token.PINRecord) wire.PeerPIN {
	p := wire.PeerPIN{
		User: rec.User, Set: rec.Set, Salt: rec.Salt[:], Hash: rec.Hash[:],
		Generation: rec.Generation, Writer: rec.Writer, Epoch: rec.Epoch, Locked: rec.Locked,
		Label: rec.Label,
	}
	for r, c := range rec.Failures {
		p.Failures = append(p.Failures, wire.PeerPINFailures{Replica: r, Count: c})
	}
	return p
}

func tokenPIN(p wire.PeerPIN) (token.PINRecord, bool) {
	rec := token.PINRecord{
		User: p.User, Set: p.Set,
		Generation: p.Generation, Writer: p.Writer, Epoch: p.Epoch, Locked: p.Locked,
		Label: p.Label,
	}
	if len(p.Salt) != len(rec.Salt) || len(p.Hash) != len(rec.Hash) || len(p.Label) > 32 {
		return token.PINRecord{}, false
	}
	copy(rec.Salt[:], p.Salt)
	copy(rec.Hash[:], p.Hash)
	if len(p.Failures) > 0 {
		rec.Failures = make(map[uint64]uint32, len(p.Failures))
		for _, f := range p.Failures {
			rec.Failures[f.Replica] = max(rec.Failures[f.Replica], f.Count)
		}
	}
	return rec, true
}
