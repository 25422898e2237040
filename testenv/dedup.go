package testenv

import (
	"sync"
	"time"

	"github.com/keyhold/keyhold/internal/ck"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/testenv/internal/token"
)

// Requests that change state (create, generate, destroy, set attributes,
// PINs) carry an OpID chosen by the client. When a reply is lost the client
// sends the request again with the same OpID, to this node or another one of
// the cluster; the node answers with the first result instead of acting a
// second time, so that a retry never creates a second key.
const (
	dedupTTL     = 10 * time.Minute // longer than any client retries one request
	dedupEntries = 100_000          // bounds memory under a flood of distinct OpIDs
)

// dedupKey names one operation. Beyond the OpID it holds everything that makes
// two requests different operations, so that one client can never receive the
// result of another's request, nor of the same OpID at another access level.
type dedupKey struct {
	client    [32]byte // SHA-256 of the client certificate
	id        wire.OpID
	partition uint32
	op        wire.Op
	access    token.Access
}

type dedupEntry struct {
	done  chan struct{} // closed once reply and err are set
	reply any
	err   error
}

type dedupRecord struct {
	key     dedupKey
	entry   *dedupEntry
	expires time.Time
}

// dedupCache remembers results for a bounded time and count; the oldest
// entries go first (entries are queued in insertion order, which is also
// expiry order).
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
// The zero OpID means the client asked for no deduplication.
func (d *dedupCache) do(k dedupKey, fn func() (any, error)) (any, error) {
	if k.id == (wire.OpID{}) {
		return fn()
	}
	now := time.Now()
	d.mu.Lock()
	d.evictLocked(now, d.max)
	if e, ok := d.m[k]; ok {
		d.mu.Unlock()
		<-e.done
		return e.reply, e.err
	}
	d.evictLocked(now, d.max-1) // room for the new entry
	e := &dedupEntry{done: make(chan struct{})}
	d.m[k] = e
	d.queue = append(d.queue, dedupRecord{key: k, entry: e, expires: now.Add(d.ttl)})
	d.mu.Unlock()

	finished := false
	defer func() {
		// A panic is recorded as a general error before it travels on to the
		// worker's recover: waiters must be released, and a repeat must not
		// act again on an operation that may have half happened.
		if !finished {
			e.reply, e.err = nil, errInternal
		}
		close(e.done)
	}()
	e.reply, e.err = fn()
	finished = true
	return e.reply, e.err
}

// evictLocked drops expired entries, and the oldest ones beyond keep.
func (d *dedupCache) evictLocked(now time.Time, keep int) {
	for d.head < len(d.queue) {
		r := &d.queue[d.head]
		if len(d.queue)-d.head <= keep && now.Before(r.expires) {
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

// len returns the number of remembered results.
func (d *dedupCache) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}
