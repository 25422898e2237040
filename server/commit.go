package server

import (
	"crypto/rand"
	"encoding/binary"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server/internal/token"
)

// Snapshot pages stay well under wire.MaxBodySize and the decoder's array
// limit.
const (
	pageBytes   = 256 << 10
	pageObjects = 512
	pageItems   = 2048
)

// Committing changes.
//
// The node that serves a state-changing request acts on its own copy of the
// partition, then commits what changed (the records of the objects, PIN
// states and client entries it touched, and the request's result) before it
// answers: to its file on a node that serves alone, and through the
// cluster's Raft log otherwise (raft.go), where a majority stores it and
// every node applies it. What a client was told is done survives the crash
// of this node, and of any minority of its cluster.
//
// A request with an OpID acts at most once in the whole cluster. Before
// acting, the node claims the OpID in the log (wire.PeerClaim); the first
// claim of a request wins on every node, and a retry that reaches another
// node meanwhile waits for the winner's result, which travels in the log
// with the change it made. A claimant that dies before committing its
// result is given up after claimWait: the next retry acts.

// change lists what one request changed in a partition.
type change struct {
	puts      []token.Handle
	destroyed []token.Handle
	pins      []ck.UserType
	clients   []*clientEntry // client entries (they belong to the node; see clients.go)
}

func (ch *change) put(hs ...token.Handle) { ch.puts = append(ch.puts, hs...) }
func (ch *change) pin(u ck.UserType)      { ch.pins = append(ch.pins, u) }

// once runs a state-changing operation at most once per OpID in the whole
// cluster (see dedup.go), and commits what it changed before returning.
// It is called after the partition and the ticket have been checked, so that
// a request refused for a stale ticket is not remembered: the client logs in
// again and repeats it with the same OpID, and then it runs.
func (n *Node) once(c *conn, p *partition, op wire.Op, acc token.Access, id wire.OpID, fn func(*change) (any, error)) (any, error) {
	if n.raftMode {
		// A node cut off from its cluster's majority refuses a change
		// before acting on it (raft.go).
		rf := n.raft()
		if rf == nil || !rf.writable() {
			return nil, errNoQuorum
		}
		if id != (wire.OpID{}) && !rf.catchUpToWrite() {
			// A retry of a request another node acted on (its reply lost
			// with that node, a leader that died) finds the committed
			// result or claim here only once this node has applied what
			// the leader has: acting without knowing could act twice.
			return nil, errNoQuorum
		}
	}
	if id == (wire.OpID{}) {
		// The client asked for no deduplication; the change is still the
		// cluster's.
		n.life.RLock()
		defer n.life.RUnlock()
		var ch change
		reply, err := fn(&ch)
		if cerr := n.commit(p, &ch, nil); cerr != nil {
			return nil, cerr
		}
		return reply, err
	}
	k := dedupKey{client: c.principal, id: id, partition: p.id, op: op, access: acc}
	for {
		e, fresh := n.dedup.begin(k)
		if fresh {
			return n.lead(p, k, e, fn)
		}
		// A repeat: wait for the first request, here or on another node.
		n.stats.dedupWaits.Add(1)
		if reply, err, again := n.dedup.wait(e, claimWait, n.closing); !again {
			return reply, err
		}
	}
}

// lead acts on a request that this node has not seen: it claims the OpID in
// the cluster's log, acts if its claim came first, and commits the change
// with the result.
func (n *Node) lead(p *partition, k dedupKey, e *dedupEntry, fn func(*change) (any, error)) (reply any, err error) {
	finished := false
	defer func() {
		// A panic is recorded as a general error before it travels on to
		// the worker's recover: waiters must be released, and a repeat must
		// not act again on an operation that may have half happened.
		if !finished {
			n.dedup.finish(k, e, nil, errInternal)
			close(e.done)
		}
	}()
	if n.raftMode {
		won, err := n.claim(p, k, e)
		if err != nil {
			finished = true
			n.dedup.abandon(k, e)
			return nil, err
		}
		if !won {
			// Another node claimed it first: its result, which reaches
			// this node with its change, is the answer.
			finished = true
			n.stats.dedupWaits.Add(1)
			reply, err, again := n.dedup.wait(e, claimWait, n.closing)
			if again {
				return nil, errBusy
			}
			return reply, err
		}
	}
	n.faults.AfterClaim(k.op)
	n.life.RLock()
	defer n.life.RUnlock()
	var ch change
	reply, err = fn(&ch)
	// The result is committed with the change: a retry anywhere in the
	// cluster finds it once it has applied the entry.
	res := n.dedup.finish(k, e, reply, err)
	cerr := n.commit(p, &ch, res)
	if cerr != nil {
		// Not stored, so not acknowledged: a retry with this OpID must not
		// be told it was done.
		n.dedup.finish(k, e, nil, cerr)
	}
	finished = true
	close(e.done)
	if cerr != nil {
		return nil, cerr
	}
	return reply, err
}

// claim commits a claim of k and reports whether it was the first claim of
// k in the cluster's log, as the leader applied it (the same claim wins on
// every node). A claim whose fate this node could not learn counts as lost:
// the client is answered busy, and retries.
func (n *Node) claim(p *partition, k dedupKey, e *dedupEntry) (bool, error) {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	tok := binary.LittleEndian.Uint64(b[:]) | 1
	n.dedup.own(e, tok)
	claim := wire.PeerClaim{Key: peerKey(k), Token: tok, Expires: time.Now().Add(claimWait).UnixMilli()}
	claimants, err := n.commitRaftClaims(records{partition: p.id, claims: []wire.PeerClaim{claim}})
	if err != nil {
		return false, err
	}
	var winner uint64
	if len(claimants) == 1 {
		winner = claimants[0]
	}
	switch n.dedup.settle(e, winner) {
	case claimWon:
		return true, nil
	case claimLost:
		return false, nil
	default:
		return false, errBusy
	}
}

// commitPIN commits the state of user u's PIN: a wrong PIN counted, a
// counter reset, a lockout.
func (n *Node) commitPIN(p *partition, u ck.UserType) error {
	return n.commit(p, &change{pins: []ck.UserType{u}}, nil)
}

// commit makes a change durable, and the cluster's: it is called before
// the request that made the change is answered, so that what a client was
// told is done survives a crash of this node and of any minority of its
// cluster. p is nil for a change to client entries alone. A change that
// cannot be stored fails the request with errStorage: the node's memory
// holds it, but the client is not told it is done.
func (n *Node) commit(p *partition, ch *change, res *wire.PeerResult) error {
	if n.raftMode {
		return n.commitRaft(n.recordsOf(p, ch, res))
	}
	if n.st != nil {
		if err := n.st.commit(func() records { return n.recordsOf(p, ch, res) }); err != nil {
			n.stats.storageFailures.Add(1)
			return errStorage
		}
	}
	return nil
}

// errStorage answers a request whose change could not be stored.
var errStorage = &ck.Error{RV: ck.CKR_DEVICE_ERROR, Msg: "the node could not store the change; it is not acknowledged"}

// recordsOf reads the current state of what a change touched, to store.
func (n *Node) recordsOf(p *partition, ch *change, res *wire.PeerResult) records {
	var r records
	if p != nil {
		r.partition = p.id
	}
	if res != nil {
		r.results = append(r.results, *res)
	}
	if ch == nil {
		return r
	}
	for _, e := range ch.clients {
		if cur, ok := n.clients.entry(e.Name); ok {
			r.clients = append(r.clients, cur)
		}
	}
	if p == nil {
		return r
	}
	for _, h := range ch.puts {
		if rec, ok := p.tok.Record(h); ok {
			r.objects = append(r.objects, peerObject(rec))
		} else if p.tok.Destroyed(h) {
			r.destroyed = append(r.destroyed, uint64(h))
		}
	}
	for _, h := range ch.destroyed {
		r.destroyed = append(r.destroyed, uint64(h))
	}
	for _, u := range ch.pins {
		if rec, err := p.tok.PINRecord(u); err == nil {
			r.pins = append(r.pins, peerPIN(rec))
		}
	}
	return r
}

// pages returns the partition's whole state as apply requests: PINs and
// tombstones, then objects, then results of deduplicated requests.
func (p *partition) pages(d *dedupCache) []wire.PeerApplyRequest {
	var out []wire.PeerApplyRequest
	first := wire.PeerApplyRequest{Partition: p.id}
	for _, u := range []ck.UserType{ck.CKU_SO, ck.CKU_USER} {
		if rec, err := p.tok.PINRecord(u); err == nil {
			first.PINs = append(first.PINs, peerPIN(rec))
		}
	}
	tombs := p.tok.Tombstones()
	for len(tombs) > pageItems {
		out = append(out, wire.PeerApplyRequest{Partition: p.id, Destroyed: handles(tombs[:pageItems])})
		tombs = tombs[pageItems:]
	}
	first.Destroyed = handles(tombs)
	out = append(out, first)

	page := wire.PeerApplyRequest{Partition: p.id}
	size := 0
	for _, rec := range p.tok.Snapshot() {
		o := peerObject(rec)
		n := 32
		for _, a := range o.Attributes {
			n += len(a.Value) + 16
		}
		if len(page.Objects) > 0 && (size+n > pageBytes || len(page.Objects) >= pageObjects) {
			out = append(out, page)
			page, size = wire.PeerApplyRequest{Partition: p.id}, 0
		}
		page.Objects = append(page.Objects, o)
		size += n
	}
	if len(page.Objects) > 0 {
		out = append(out, page)
	}
	results := d.results(p.id)
	for len(results) > 0 {
		k := min(len(results), pageItems/2)
		out = append(out, wire.PeerApplyRequest{Partition: p.id, Results: results[:k]})
		results = results[k:]
	}
	return out
}

func handles(hs []token.Handle) []uint64 {
	out := make([]uint64, len(hs))
	for i, h := range hs {
		out[i] = uint64(h)
	}
	return out
}
