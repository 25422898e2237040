package server

import (
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server/internal/token"
)

// Replication (HA cloning) between the nodes of a cluster.
//
// Every node of a cluster holds a copy of every partition. The node that
// serves a state-changing request acts on its own copy, then pushes what
// changed (object records, destroyed handles, PIN states, and the result of
// the request's OpID) to every live peer in parallel, and answers the client
// only once they all acknowledged or were declared down: a key created
// through one node is usable through any other on the very next call. A peer
// that does not acknowledge within the replication timeout is declared down,
// and brought up to date when it is reachable again.
//
// Every merge is idempotent and order-independent (see
// server/internal/token), so a node catches up by merging a peer's whole
// state, whatever else arrives meanwhile. Each node keeps one link to every
// peer; when the link (re)connects, the node marks the peer live and then
// pushes its whole state over it. Marking is a barrier (replicator.mu): a
// change either sees the peer live and pushes to it, or finished replicating
// before the mark, and so is in the state pushed after it. A node that
// (re)starts asks each peer to do this at once (OpPeerJoin), and serves
// clients only after they did.
//
// Requests with an OpID are deduplicated cluster-wide: before acting, a node
// claims the OpID on its live peers, so that a retry sent to another node
// meanwhile waits for the first result instead of acting again.
//
// Limits, as with the cloning of real HSMs: consistency is per change, not
// global. Nodes that cannot reach each other but still serve clients diverge
// until their links reconnect and merge (objects created on either side
// survive on both; of two changes to one object, the higher version wins
// everywhere). A retry that reaches a node cut off from the node that acted
// on the first attempt may act again. A change too large for one frame
// (an object of nearly wire.MaxBodySize) is not replicated.

// Replication defaults.
const (
	// DefaultReplicationTimeout bounds one push to a peer, and connecting
	// to it. A peer that takes longer is declared down.
	DefaultReplicationTimeout = 2 * time.Second
	// maxLinkBackoff bounds the wait between attempts to reach a peer that
	// is down.
	maxLinkBackoff = time.Second
	// heartbeat is how often an idle link checks that its peer is alive.
	heartbeat = time.Second
	// Pages of a whole-state push stay well under wire.MaxBodySize and the
	// decoder's array limit.
	pageBytes   = 256 << 10
	pageObjects = 512
	pageItems   = 2048
)

// replicator is a node's membership in a cluster: its links to its peers.
type replicator struct {
	n       *Node
	self    string // this node's address, as its peers list it
	timeout time.Duration
	dialTLS *tls.Config

	// mu is the membership barrier: changes hold it shared while they push
	// to the live peers; a link holds it exclusively to mark its peer live.
	mu sync.RWMutex

	links []*peerLink // one per peer, fixed for the node's life
}

func newReplicator(n *Node, self string, peers []string, timeout time.Duration, cert tls.Certificate) (*replicator, error) {
	cfg, err := wire.ClientTLS{Certificate: cert, RootCAs: n.pki.NodeCAPool()}.Config()
	if err != nil {
		return nil, err
	}
	r := &replicator{n: n, self: self, timeout: timeout, dialTLS: cfg}
	for _, addr := range peers {
		r.links = append(r.links, &peerLink{r: r, addr: addr})
	}
	return r, nil
}

// start starts every link's goroutine.
func (r *replicator) start() {
	for _, l := range r.links {
		l.start()
	}
}

// stop stops every link, closing its connection, and waits for them.
func (r *replicator) stop() {
	for _, l := range r.links {
		l.stop()
	}
}

// link returns the link to the peer at addr.
func (r *replicator) link(addr string) *peerLink {
	for _, l := range r.links {
		if l.addr == addr {
			return l
		}
	}
	return nil
}

// liveConns returns the connections of the live links. The caller holds mu.
func (r *replicator) liveConns() ([]*peerLink, []*wire.Conn) {
	var ls []*peerLink
	var cs []*wire.Conn
	for _, l := range r.links {
		if c := l.liveConn(); c != nil {
			ls = append(ls, l)
			cs = append(cs, c)
		}
	}
	return ls, cs
}

// call sends one request to every live peer in parallel and waits for them
// all, within the replication timeout. A peer that fails (a transport error
// or the timeout) is declared down; its reply is nil. Replies that are
// errors are returned as such.
func (r *replicator) call(op wire.Op, req any, newReply func() any) []any {
	r.mu.RLock()
	defer r.mu.RUnlock()
	links, conns := r.liveConns()
	out := make([]any, len(links))
	var wg sync.WaitGroup
	for i := range links {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
			defer cancel()
			var rep any
			if newReply != nil {
				rep = newReply()
			}
			err := conns[i].Call(ctx, op, req, rep)
			switch {
			case err == nil:
				out[i] = rep
			case wire.IsTransport(err) || errors.Is(err, context.DeadlineExceeded):
				r.n.stats.replicationFailures.Add(1)
				links[i].down(conns[i])
			default:
				out[i] = err
			}
		})
	}
	wg.Wait()
	return out
}

// change lists what one request changed in a partition.
type change struct {
	puts      []token.Handle
	destroyed []token.Handle
	pins      []ck.UserType
	clients   []*clientEntry // client entries (they belong to the node; see clients.go)
}

func (ch *change) put(hs ...token.Handle) { ch.puts = append(ch.puts, hs...) }
func (ch *change) pin(u ck.UserType)      { ch.pins = append(ch.pins, u) }

// replicate pushes a change, and the result of the request that made it, to
// every live peer, and returns once they have it. The records are read from
// the token now, so a later version may travel: merging keeps the highest.
func (r *replicator) replicate(p *partition, ch *change, res *wire.PeerResult) {
	var req wire.PeerApplyRequest
	if p != nil {
		req.Partition = p.id
	}
	if ch != nil && p != nil {
		for _, h := range ch.puts {
			if rec, ok := p.tok.Record(h); ok {
				req.Objects = append(req.Objects, peerObject(rec))
			}
		}
		for _, h := range ch.destroyed {
			req.Destroyed = append(req.Destroyed, uint64(h))
		}
		for _, u := range ch.pins {
			if rec, err := p.tok.PINRecord(u); err == nil {
				req.PINs = append(req.PINs, peerPIN(rec))
			}
		}
	}
	if ch != nil {
		for _, e := range ch.clients {
			req.Clients = append(req.Clients, *e)
		}
	}
	if res != nil {
		req.Results = []wire.PeerResult{*res}
	}
	if len(req.Objects)+len(req.Destroyed)+len(req.PINs)+len(req.Results)+len(req.Clients) == 0 {
		return
	}
	r.n.stats.replications.Add(1)
	r.call(wire.OpPeerApply, req, nil)
}

// claim claims k on every live peer. It returns ClaimDone with the result
// when a peer knows it, ClaimBusy when a peer is acting on it, else
// ClaimGranted.
func (r *replicator) claim(k dedupKey) (uint8, *wire.PeerResult) {
	replies := r.call(wire.OpPeerClaim, wire.PeerClaimRequest{Key: peerKey(k)}, func() any { return new(wire.PeerClaimReply) })
	status := wire.ClaimGranted
	for _, rep := range replies {
		c, ok := rep.(*wire.PeerClaimReply)
		if !ok {
			continue // the peer is down, or failed: it is not acting
		}
		switch {
		case c.Status == wire.ClaimDone && c.Result != nil:
			return wire.ClaimDone, c.Result
		case c.Status == wire.ClaimBusy:
			status = wire.ClaimBusy
		}
	}
	return status, nil
}

// once runs a state-changing operation at most once per OpID in the whole
// cluster (see dedup.go), and replicates what it changed before returning.
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
			// result here only once this node has applied what the leader
			// has: acting without knowing could act twice.
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
	k := dedupKey{client: c.clientID, id: id, partition: p.id, op: op, access: acc}
	for {
		e, fresh := n.dedup.begin(k)
		if fresh {
			return n.lead(p, k, e, fn)
		}
		// A repeat: wait for the first request, here or on a peer.
		if reply, err, again := n.dedup.wait(e, claimWait, n.closing); !again {
			return reply, err
		}
	}
}

// lead acts on a request that no node of the cluster has seen: it claims the
// OpID on the peers, acts, and replicates the change with the result.
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
	n.life.RLock()
	defer n.life.RUnlock()
	if n.cl != nil {
		switch status, res := n.cl.claim(k); status {
		case wire.ClaimDone:
			// A peer ran it: its result is the answer, here and on the
			// peers that granted the claim.
			reply, err = resultReply(res)
			cerr := n.commit(p, nil, n.dedup.finish(k, e, reply, err))
			if cerr != nil {
				n.dedup.finish(k, e, nil, cerr)
			}
			finished = true
			close(e.done)
			if cerr != nil {
				return nil, cerr
			}
			return reply, err
		case wire.ClaimBusy:
			// Another node is acting on it right now (a retry raced the
			// first attempt). Acting too could create a second key; the
			// client retries instead, and then gets the first result.
			finished = true
			n.dedup.abandon(k, e)
			n.cl.call(wire.OpPeerApply, wire.PeerApplyRequest{Partition: p.id, Released: []wire.PeerOpKey{peerKey(k)}}, nil)
			return nil, errBusy
		}
	}
	n.faults.AfterClaim(k.op)
	var ch change
	reply, err = fn(&ch)
	// The result is recorded before it is replicated, so that a peer that
	// joins meanwhile receives it in this node's whole state.
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

// resultReply turns a replicated result into what the client receives.
func resultReply(res *wire.PeerResult) (any, error) {
	if res.Code != ck.CKR_OK {
		return nil, &ck.Error{RV: res.Code, Msg: res.Message}
	}
	return rawBody(res.Reply), nil
}

// commitPIN stores the state of user u's PIN and pushes it to the peers: a
// wrong PIN counted, a counter reset, a lockout.
func (n *Node) commitPIN(p *partition, u ck.UserType) error {
	return n.commit(p, &change{pins: []ck.UserType{u}}, nil)
}

// commit makes a change durable, then replicates it: it is called before
// the request that made the change is answered, so that what a client was
// told is done survives a crash of this node and of any one node of its
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
	if n.cl != nil {
		n.cl.replicate(p, ch, res)
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

// pushAll sends this node's whole state to the peer on conn, in pages.
func (r *replicator) pushAll(conn *wire.Conn) error {
	ids := make([]uint32, 0, len(r.n.parts))
	for id := range r.n.parts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// Client entries first: a peer that comes back must refuse a revoked
	// credential before it serves anything.
	clients := r.n.clients.all()
	for len(clients) > 0 {
		k := min(len(clients), pageItems/8)
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		err := conn.Call(ctx, wire.OpPeerApply, wire.PeerApplyRequest{Clients: clients[:k]}, nil)
		cancel()
		var ce *ck.Error
		if err != nil && !errors.As(err, &ce) {
			return err
		}
		clients = clients[k:]
	}
	for _, id := range ids {
		for _, page := range r.n.parts[id].pages(r.n.dedup) {
			ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
			err := conn.Call(ctx, wire.OpPeerApply, page, nil)
			cancel()
			var ce *ck.Error
			switch {
			case errors.As(err, &ce):
				// Refused, not lost (a page over the frame limit): trying
				// again would fail the same way, so the rest goes on.
				r.n.stats.badRecords.Add(1)
			case err != nil:
				return err
			}
		}
	}
	return nil
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

// catchUp asks every peer to push its whole state to this node, in parallel,
// and returns when they all did or failed. A peer that can't be reached is
// down: it will push its state when it comes back, as every node does to a
// peer it reconnects to.
func (r *replicator) catchUp() {
	var wg sync.WaitGroup
	for _, l := range r.links {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), r.joinTimeout()+r.timeout)
			defer cancel()
			conn, err := wire.Dial(ctx, l.addr, r.dialTLS, wire.DialOptions{Hello: r.hello()})
			if err != nil {
				return
			}
			defer conn.Close()
			if conn.Call(ctx, wire.OpPeerJoin, wire.PeerJoinRequest{Address: r.self}, nil) == nil {
				r.n.stats.catchUps.Add(1)
			}
		})
	}
	wg.Wait()
}

// joinTimeout bounds how long a peer works on a join: reconnecting, and
// pushing its whole state.
func (r *replicator) joinTimeout() time.Duration { return 5 * r.timeout }

func (r *replicator) hello() wire.HelloRequest {
	return wire.HelloRequest{MinVersion: wire.MinVersion, MaxVersion: wire.MaxVersion, Client: "keyhold-peer " + r.n.name}
}

// synced reports whether every link is live and has pushed this node's
// state at least once.
func (r *replicator) synced() bool {
	for _, l := range r.links {
		l.mu.Lock()
		ok := l.live && l.syncs > 0
		l.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// livePeers counts the peers changes are pushed to now.
func (r *replicator) livePeers() int {
	n := 0
	for _, l := range r.links {
		if l.liveConn() != nil {
			n++
		}
	}
	return n
}

// peerLink is a node's connection to one peer, kept up by its goroutine.
type peerLink struct {
	r    *replicator
	addr string

	mu      sync.Mutex
	conn    *wire.Conn      // nil while not connected
	live    bool            // changes are pushed to the peer over conn
	syncs   int             // whole-state pushes completed
	waiters []chan struct{} // closed by the next whole-state push that completes
	kick    chan struct{}   // wakes the goroutine from its backoff
	quit    chan struct{}   // closed by stop
	exited  chan struct{}   // closed when the goroutine has exited
}

func (l *peerLink) start() {
	l.mu.Lock()
	l.kick = make(chan struct{}, 1)
	l.quit = make(chan struct{})
	l.exited = make(chan struct{})
	l.mu.Unlock()
	go l.run(l.kick, l.quit, l.exited)
}

func (l *peerLink) stop() {
	l.mu.Lock()
	quit, exited := l.quit, l.exited
	l.quit = nil
	conn := l.conn
	l.conn, l.live = nil, false
	l.mu.Unlock()
	if quit == nil {
		return
	}
	close(quit)
	if conn != nil {
		conn.Close()
	}
	<-exited
}

// run keeps the link up: it connects, marks the peer live and pushes the
// whole state, then waits for the connection to fail (or to be closed by a
// failed push or a join) and starts again, backing off while the peer is
// unreachable.
func (l *peerLink) run(kick, quit, exited chan struct{}) {
	defer close(exited)
	var backoff time.Duration
	for {
		if backoff > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-kick:
				t.Stop()
			case <-quit:
				t.Stop()
				return
			}
		}
		select {
		case <-quit:
			return
		default:
		}
		conn, err := l.dial(quit)
		if err != nil {
			backoff = min(max(2*backoff, 20*time.Millisecond), maxLinkBackoff)
			continue
		}
		if err := l.sync(conn); err != nil {
			l.down(conn)
			backoff = min(max(2*backoff, 20*time.Millisecond), maxLinkBackoff)
			continue
		}
		backoff = 0
		l.watch(conn, quit)
		l.down(conn)
	}
}

// watch returns when conn fails or quit is closed. An idle link pings its
// peer now and then, so that a peer that died is noticed before the next
// change has to wait for it.
func (l *peerLink) watch(conn *wire.Conn, quit chan struct{}) {
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-conn.Done():
			return
		case <-quit:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.r.timeout)
			err := conn.Call(ctx, wire.OpPing, wire.PingRequest{}, nil)
			cancel()
			if err != nil {
				return
			}
		}
	}
}

func (l *peerLink) dial(quit chan struct{}) (*wire.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.r.timeout)
	defer cancel()
	// Stop must not wait for a dial to a peer that does not answer.
	go func() {
		select {
		case <-quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	return wire.Dial(ctx, l.addr, l.r.dialTLS, wire.DialOptions{Hello: l.r.hello()})
}

// sync marks the peer live behind the barrier, then pushes the whole state.
func (l *peerLink) sync(conn *wire.Conn) error {
	l.mu.Lock()
	waiters := l.waiters
	l.waiters = nil
	l.conn = conn
	l.mu.Unlock()

	l.r.mu.Lock()
	l.mu.Lock()
	l.live = l.conn == conn
	l.mu.Unlock()
	l.r.mu.Unlock()

	if err := l.r.pushAll(conn); err != nil {
		l.mu.Lock()
		l.waiters = append(waiters, l.waiters...)
		l.mu.Unlock()
		return err
	}
	l.mu.Lock()
	l.syncs++
	l.mu.Unlock()
	l.r.n.stats.syncs.Add(1)
	for _, w := range waiters {
		close(w)
	}
	return nil
}

// liveConn returns the connection changes go over, or nil when the peer is
// down.
func (l *peerLink) liveConn() *wire.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.live {
		return l.conn
	}
	return nil
}

// down declares the peer down if conn is still the link's connection, and
// closes conn: the link's goroutine reconnects and pushes the whole state.
func (l *peerLink) down(conn *wire.Conn) {
	l.mu.Lock()
	if l.conn == conn {
		l.conn, l.live = nil, false
	}
	l.mu.Unlock()
	conn.Close()
}

// resync makes the link reconnect now and push the whole state again, and
// returns a channel closed once that is done.
func (l *peerLink) resync() <-chan struct{} {
	ch := make(chan struct{})
	l.mu.Lock()
	l.waiters = append(l.waiters, ch)
	conn, kick := l.conn, l.kick
	l.conn, l.live = nil, false
	l.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	if kick != nil {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	return ch
}
