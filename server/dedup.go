package server

import (
	"errors"
	"sync"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server/internal/token"
)

// Requests that change state (create, generate, destroy, set attributes,
// PINs) carry an OpID chosen by the client. When a reply is lost the client
// sends the request again with the same OpID, to this node or another one of
// the cluster; the node answers with the first result instead of acting a
// second time, so that a retry never creates a second key.
//
// In a cluster the cache is the cluster's: before acting, a node claims the
// OpID in the cluster's log (a retry that reaches another node meanwhile
// waits for the result), and the result travels to every node with the
// changes it made (see commit.go).
const (
	dedupTTL     = 10 * time.Minute // longer than any client retries one request
	dedupEntries = 100_000          // bounds memory under a flood of distinct OpIDs
	// claimWait bounds how long a repeat waits for the node acting on the
	// first request. After it the repeat is answered busy, and a claim held
	// by another node is given up, so that the next retry acts: that node
	// is presumed dead.
	claimWait = 10 * time.Second
)

// dedupKey names one operation. Beyond the OpID it holds everything that makes
// two requests different operations, so that one client can never receive the
// result of another's request, nor of the same OpID at another access level.
type dedupKey struct {
	client    [32]byte // the client's principal (conn.principal): its entry, not its certificate
	id        wire.OpID
	partition uint32
	op        wire.Op
	access    token.Access
}

// entryState is where an operation is.
type entryState uint8

const (
	entryRunning   entryState = iota // this node acts on it
	entryClaimed                     // another node claimed it and acts on it
	entryDone                        // the result is known
	entryAbandoned                   // given up without acting: a repeat may act
)

type dedupEntry struct {
	done chan struct{} // closed when the outcome is final (done or abandoned)

	// Guarded by dedupCache.mu; reply and err are also safe to read once
	// done is closed.
	state entryState
	// token names this node's claim of it (0: none); claimant is the token
	// of the first claim of it the cluster's log holds (0: none applied).
	token, claimant uint64
	reply           any
	err             error
	body            []byte // reply, encoded, for peers
	expires         time.Time
}

type dedupRecord struct {
	key   dedupKey
	entry *dedupEntry
}

// dedupCache remembers results for a bounded time and count; the oldest
// entries go first (entries are queued in insertion order).
type dedupCache struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	m     map[dedupKey]*dedupEntry
	queue []dedupRecord
	head  int
}

func newDedupCache(ttl time.Duration, max int) *dedupCache {
	return &dedupCache{ttl: ttl, max: max, m: make(map[dedupKey]*dedupEntry)}
}

var errInternal = &ck.Error{RV: ck.CKR_GENERAL_ERROR, Msg: "internal error"}

// do runs fn once per key and returns its result to every request with that
// key. A repeat that arrives while the first run is still going waits for it.
// The zero OpID means the client asked for no deduplication. It is the cache
// of a node alone; Node.once is the cluster's.
func (d *dedupCache) do(k dedupKey, fn func() (any, error)) (any, error) {
	if k.id == (wire.OpID{}) {
		return fn()
	}
	for {
		e, fresh := d.begin(k)
		if fresh {
			return d.act(k, e, fn)
		}
		if reply, err, again := d.wait(e, claimWait, nil); !again {
			return reply, err
		}
	}
}

// act runs fn for the running entry e and releases its waiters.
func (d *dedupCache) act(k dedupKey, e *dedupEntry, fn func() (any, error)) (reply any, err error) {
	finished := false
	defer func() {
		// A panic is recorded as a general error before it travels on to
		// the worker's recover: waiters must be released, and a repeat must
		// not act again on an operation that may have half happened.
		if !finished {
			d.finish(k, e, nil, errInternal)
			close(e.done)
		}
	}()
	reply, err = fn()
	d.finish(k, e, reply, err)
	finished = true
	close(e.done)
	return reply, err
}

// begin returns the entry for k, creating a running one (fresh) when there is
// none: the caller then acts, and must finish or abandon it.
func (d *dedupCache) begin(k dedupKey) (e *dedupEntry, fresh bool) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.lookupLocked(k, now); e != nil {
		return e, false
	}
	return d.addLocked(k, entryRunning, now.Add(d.ttl)), true
}

// lookupLocked returns the live entry for k, if any.
func (d *dedupCache) lookupLocked(k dedupKey, now time.Time) *dedupEntry {
	d.evictLocked(now, d.max)
	e, ok := d.m[k]
	if !ok {
		return nil
	}
	if e.state == entryDone && !now.Before(e.expires) {
		// Expired, but queued behind a longer-lived entry.
		delete(d.m, k)
		return nil
	}
	return e
}

func (d *dedupCache) addLocked(k dedupKey, s entryState, expires time.Time) *dedupEntry {
	d.evictLocked(time.Now(), d.max-1) // room for the new entry
	e := &dedupEntry{done: make(chan struct{}), state: s, expires: expires}
	d.m[k] = e
	d.queue = append(d.queue, dedupRecord{key: k, entry: e})
	return e
}

// wait waits for the outcome of an entry that another request or a peer is
// acting on, for at most limit or until stop is closed. again means the
// entry was given up without acting: the caller may act itself. After limit
// another node's claim is given up (that node is presumed dead) and the
// request is answered busy, so that the client's next retry acts.
func (d *dedupCache) wait(e *dedupEntry, limit time.Duration, stop <-chan struct{}) (reply any, err error, again bool) {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-e.done:
	case <-t.C:
		d.mu.Lock()
		claimed := e.state == entryClaimed
		d.mu.Unlock()
		if claimed {
			d.abandonEntry(e)
		}
		return nil, errBusy, false
	case <-stop:
		return nil, errShuttingDown, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e.state == entryAbandoned {
		return nil, nil, true
	}
	return e.reply, e.err, false
}

var errShuttingDown = &ck.Error{RV: wire.CodeShuttingDown, Msg: "node is stopping: request not started"}

// finish records the outcome of a running entry and returns it in the form
// peers receive. Waiters are released by closing e.done, which the caller
// does once the result is replicated.
func (d *dedupCache) finish(k dedupKey, e *dedupEntry, reply any, err error) *wire.PeerResult {
	res := &wire.PeerResult{Key: peerKey(k)}
	if err != nil {
		ce := asCKError(err)
		res.Code, res.Message = ce.RV, ce.Msg
		err = ce
	} else {
		body, merr := wire.Marshal(reply)
		if merr != nil {
			res.Code, res.Message, err = errInternal.RV, errInternal.Msg, errInternal
		}
		res.Reply = body
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e.state, e.reply, e.err, e.body = entryDone, reply, err, res.Reply
	res.Expires = e.expires.UnixMilli()
	return res
}

// abandon gives up an entry this node created without acting on it, and
// releases its waiters, who may then act.
func (d *dedupCache) abandon(k dedupKey, e *dedupEntry) {
	d.mu.Lock()
	if d.m[k] == e {
		delete(d.m, k)
	}
	e.state = entryAbandoned
	d.mu.Unlock()
	close(e.done)
}

// abandonEntry gives up another node's claim, wherever it is.
func (d *dedupCache) abandonEntry(e *dedupEntry) {
	d.mu.Lock()
	if e.state != entryClaimed {
		d.mu.Unlock()
		return
	}
	e.state = entryAbandoned
	for k, x := range d.m {
		if x == e {
			delete(d.m, k)
			break
		}
	}
	d.mu.Unlock()
	close(e.done)
}

// Outcomes of a claim, as this node sees them once it has applied it.
const (
	claimUnknown = iota // its claim is not applied here yet
	claimWon            // its claim is the first of the request
	claimLost           // another node's claim came first
)

// own records that this node claims the running entry e under tok.
func (d *dedupCache) own(e *dedupEntry, tok uint64) {
	d.mu.Lock()
	e.token = tok
	d.mu.Unlock()
}

// won tells the outcome of this node's claim of e. A lost entry becomes
// another node's claim, which the winner's result or claimWait ends.
func (d *dedupCache) won(e *dedupEntry) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch e.claimant {
	case 0:
		return claimUnknown
	case e.token:
		return claimWon
	}
	if e.state == entryRunning {
		e.state = entryClaimed
	}
	return claimLost
}

// claimantOf returns the token of the first claim of k applied here, 0 when
// none is known.
func (d *dedupCache) claimantOf(k dedupKey) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.lookupLocked(k, time.Now()); e != nil {
		return e.claimant
	}
	return 0
}

// settle records the claimant of this node's entry e as the leader applied
// it, ahead of this node's own apply, and tells the outcome (see won).
func (d *dedupCache) settle(e *dedupEntry, claimant uint64) int {
	d.mu.Lock()
	if e.claimant == 0 {
		e.claimant = claimant
	}
	d.mu.Unlock()
	return d.won(e)
}

// claimed applies a claim from the cluster's log: the first claim of a
// request is its claimant on every node.
func (d *dedupCache) claimed(k dedupKey, c *wire.PeerClaim) {
	now := time.Now()
	expires := time.UnixMilli(c.Expires)
	if !now.Before(expires) {
		return // its claimant is presumed dead already
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.lookupLocked(k, now)
	if e == nil {
		e = d.addLocked(k, entryClaimed, now.Add(d.ttl))
	}
	if e.claimant == 0 {
		e.claimant = c.Token
	}
}

// resolve records a result from the cluster's log. The first result of an
// operation wins: one this node already has is kept.
func (d *dedupCache) resolve(k dedupKey, res *wire.PeerResult) {
	now := time.Now()
	expires := time.UnixMilli(res.Expires)
	if limit := now.Add(d.ttl); expires.After(limit) {
		expires = limit
	}
	if !now.Before(expires) {
		return
	}
	var reply any
	var err error
	if res.Code != ck.CKR_OK {
		err = &ck.Error{RV: res.Code, Msg: res.Message}
	} else {
		reply = rawBody(res.Reply)
	}
	d.mu.Lock()
	e := d.lookupLocked(k, now)
	switch {
	case e == nil:
		e = d.addLocked(k, entryDone, expires)
		close(e.done)
	case e.state == entryClaimed, e.state == entryRunning && e.claimant != 0 && e.claimant != e.token:
		// Another node's claim came first (this node may still be
		// committing its own, which lost): its result is the answer.
		defer close(e.done)
	default:
		// Running here (two nodes acted at once after a lost claim) or
		// done: the first result stays.
		d.mu.Unlock()
		return
	}
	e.state, e.reply, e.err, e.body, e.expires = entryDone, reply, err, res.Reply, expires
	d.mu.Unlock()
}

// results returns the known results of one partition's operations, for a
// snapshot.
func (d *dedupCache) results(partition uint32) []wire.PeerResult {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []wire.PeerResult
	for k, e := range d.m {
		if k.partition == partition && e.state == entryDone && now.Before(e.expires) {
			out = append(out, *resultOf(k, e))
		}
	}
	return out
}

func resultOf(k dedupKey, e *dedupEntry) *wire.PeerResult {
	res := &wire.PeerResult{Key: peerKey(k), Reply: e.body, Expires: e.expires.UnixMilli()}
	if e.err != nil {
		ce := asCKError(e.err)
		res.Code, res.Message = ce.RV, ce.Msg
	}
	return res
}

// reset forgets everything, as a node that lost its memory does. Waiters on
// other nodes' claims are released to act themselves; operations this node
// is running finish on their own.
func (d *dedupCache) reset() {
	d.mu.Lock()
	var claimed []*dedupEntry
	for _, e := range d.m {
		if e.state == entryClaimed {
			e.state = entryAbandoned
			claimed = append(claimed, e)
		}
	}
	d.m = make(map[dedupKey]*dedupEntry)
	clear(d.queue)
	d.queue, d.head = d.queue[:0], 0
	d.mu.Unlock()
	for _, e := range claimed {
		close(e.done)
	}
}

// evictLocked drops expired entries, and the oldest ones beyond keep. An
// entry still in progress that goes keeps its waiters: they hold it.
func (d *dedupCache) evictLocked(now time.Time, keep int) {
	for d.head < len(d.queue) {
		r := &d.queue[d.head]
		if len(d.queue)-d.head <= keep && now.Before(r.entry.expires) {
			break
		}
		if d.m[r.key] == r.entry {
			delete(d.m, r.key)
		}
		*r = dedupRecord{}
		d.head++
	}
	// Compact once the dead prefix dominates, so the queue's memory follows
	// the live entries rather than growing forever.
	if d.head == len(d.queue) {
		d.queue, d.head = d.queue[:0], 0
	} else if d.head > 1024 && d.head*2 > len(d.queue) {
		n := copy(d.queue, d.queue[d.head:])
		clear(d.queue[n:])
		d.queue = d.queue[:n]
		d.head = 0
	}
}

// len returns the number of remembered operations.
func (d *dedupCache) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}

// peerKey and keyOf convert a dedupKey to and from its wire form.
func peerKey(k dedupKey) wire.PeerOpKey {
	return wire.PeerOpKey{Client: k.client[:], OpID: k.id, Partition: k.partition, Op: k.op, Access: uint8(k.access)}
}

func keyOf(pk wire.PeerOpKey) (dedupKey, bool) {
	k := dedupKey{id: pk.OpID, partition: pk.Partition, op: pk.Op, access: token.Access(pk.Access)}
	if len(pk.Client) != len(k.client) || k.id == (wire.OpID{}) {
		return dedupKey{}, false
	}
	copy(k.client[:], pk.Client)
	return k, true
}

// rawBody is a reply body encoded already: a replicated result, sent to a
// client as it is.
type rawBody []byte

// MarshalCBOR returns the body unchanged.
func (b rawBody) MarshalCBOR() ([]byte, error) { return b, nil }

// asCKError returns err as the *ck.Error a client receives: anything else
// becomes a general error without details, which may be internal.
func asCKError(err error) *ck.Error {
	var ce *ck.Error
	if errors.As(err, &ce) {
		return ce
	}
	return errInternal
}
