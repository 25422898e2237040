package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"maps"

	"github.com/keyhold/keyhold/ck"
)

// Replication (HA cloning). The nodes of a cluster each hold a copy of the
// partition and send each other what changed: object records (Apply),
// destroyed handles (Remove) and PIN states (MergePIN). Every one of these
// merges is idempotent, commutative and associative, so that the copies
// converge whatever order changes arrive in, however often, and a node that
// was away catches up by merging a peer's whole state:
//
//   - An object is kept at its highest version (Version, then Writer).
//   - A destroyed handle is remembered (a tombstone), so that a late record of
//     the object does not bring it back. Handles are random and never reused.
//   - A PIN is kept at its highest version (generation, then writer); within
//     one version the counter resets (epoch) and the wrong PINs seen by each
//     replica are merged by taking the maximum, so that no guess is lost.

// maxTombstones bounds the destroyed handles a token remembers. A tombstone
// only has to outlive the replication messages in flight about its object,
// which take seconds; the oldest are forgotten first.
const maxTombstones = 1 << 16

// tombstones is a bounded set of destroyed handles, oldest first out.
type tombstones struct {
	set   map[Handle]struct{}
	queue []Handle
}

func (ts *tombstones) has(h Handle) bool {
	_, ok := ts.set[h]
	return ok
}

func (ts *tombstones) add(h Handle) {
	if ts.set == nil {
		ts.set = make(map[Handle]struct{})
	}
	if ts.has(h) {
		return
	}
	if len(ts.queue) >= maxTombstones {
		delete(ts.set, ts.queue[0])
		ts.queue = append(ts.queue[:0], ts.queue[1:]...)
	}
	ts.set[h] = struct{}{}
	ts.queue = append(ts.queue, h)
}

func (ts *tombstones) forget(h Handle) {
	if !ts.has(h) {
		return
	}
	delete(ts.set, h)
	for i, x := range ts.queue {
		if x == h {
			ts.queue = append(ts.queue[:i], ts.queue[i+1:]...)
			break
		}
	}
}

// removeLocked destroys the object h and remembers that it did. The caller
// holds t.mu for writing.
func (t *Token) removeLocked(h Handle) {
	delete(t.objects, h)
	t.tombs.add(h)
}

// newReplica returns the configured replica number, or a random nonzero one.
// Zero is kept for what every replica derives alike (configured PINs,
// lockouts).
func (t *Token) newReplica() uint64 {
	if t.fixedReplica != 0 {
		return t.fixedReplica
	}
	for {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
		if r := binary.LittleEndian.Uint64(b[:]); r != 0 {
			return r
		}
	}
}

// Replica returns the number that stamps the versions this token makes.
func (t *Token) Replica() uint64 { return t.replica.Load() }

// Record returns the snapshot record of the object h, whatever its
// visibility, or false if there is none. Like every record it holds key
// material in the clear: it is for replication only.
func (t *Token) Record(h Handle) (ObjectRecord, bool) {
	t.mu.RLock()
	o, ok := t.objects[h]
	t.mu.RUnlock()
	if !ok {
		return ObjectRecord{}, false
	}
	return o.record(h), true
}

// olderThan reports whether version (v, w) is above the object's.
func (o *object) olderThan(v, w uint64) bool {
	return v > o.version || (v == o.version && w > o.writer)
}

// Apply merges a record replicated from another node: the object is stored
// under the record's handle unless the token holds the same or a newer
// version of it, or the object was destroyed. It reports whether anything
// changed. The record is validated and its key rebuilt as by Restore; a bad
// record changes nothing. Like Restore, it applies no access rules.
func (t *Token) Apply(rec ObjectRecord) (bool, error) {
	t.mu.RLock()
	stale := t.tombs.has(rec.Handle)
	if o, ok := t.objects[rec.Handle]; ok && !o.olderThan(rec.Version, rec.Writer) {
		stale = true
	}
	t.mu.RUnlock()
	if stale {
		// The common case when a full state is merged: nothing to build.
		return false, nil
	}
	o, err := buildRestored(rec)
	if err != nil {
		return false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tombs.has(rec.Handle) {
		return false, nil
	}
	if old, ok := t.objects[rec.Handle]; ok {
		if !old.olderThan(rec.Version, rec.Writer) {
			return false, nil
		}
		o.seq = old.seq
	} else {
		if len(t.objects) >= maxObjects {
			return false, errPartitionFull(len(t.objects))
		}
		t.seq++
		o.seq = t.seq
	}
	t.objects[rec.Handle] = o
	return true, nil
}

// Remove merges the destruction of object h on another node: the object is
// gone, whatever version of it this token holds, and stays gone. It reports
// whether the token held it.
func (t *Token) Remove(h Handle) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.objects[h]
	t.removeLocked(h)
	return ok
}

// Tombstones returns the handles of destroyed objects the token remembers,
// oldest first, for a peer that catches up.
func (t *Token) Tombstones() []Handle {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return append([]Handle(nil), t.tombs.queue...)
}

// PINRecord is the replicated form of one user's PIN state. It carries the
// PIN's salted hash, never the PIN, but that is still a secret: it travels
// only between the nodes of one cluster.
type PINRecord struct {
	User       ck.UserType
	Set        bool
	Salt       [16]byte
	Hash       [sha256.Size]byte
	Generation uint64
	Writer     uint64
	Epoch      uint64
	Locked     bool
	// Failures counts the wrong PINs since the last reset, per replica.
	Failures map[uint64]uint32
	// Label is the token label C_InitToken set (SO record only; empty: the
	// configured name).
	Label string
}

// PINRecord returns the state of user u's PIN.
func (t *Token) PINRecord(u ck.UserType) (PINRecord, error) {
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	p, err := t.pinFor(u)
	if err != nil {
		return PINRecord{}, err
	}
	return PINRecord{
		User: u, Set: p.set, Salt: p.salt, Hash: p.hash,
		Generation: p.generation, Writer: p.writer, Epoch: p.epoch,
		Locked: p.locked, Failures: maps.Clone(p.failures), Label: p.label,
	}, nil
}

// MergePIN merges the state of a user's PIN replicated from another node,
// and reports whether the token's state changed. The higher version
// (generation, then writer) wins whole; within one version the higher epoch
// wins, and within one epoch each replica's count of wrong PINs is the
// larger of the two. If the merged count reaches the limit the PIN locks,
// exactly as a wrong PIN would have locked it on this node.
func (t *Token) MergePIN(rec PINRecord) (bool, error) {
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	p, err := t.pinFor(rec.User)
	if err != nil {
		return false, err
	}
	for _, n := range rec.Failures {
		if int(n) > t.maxPINAttempts {
			return false, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "a PIN record counts more failures than the limit")
		}
	}
	before := p.clone()
	switch {
	case rec.Generation > p.generation || (rec.Generation == p.generation && rec.Writer > p.writer):
		*p = pinState{
			set: rec.Set, salt: rec.Salt, hash: rec.Hash,
			generation: rec.Generation, writer: rec.Writer, epoch: rec.Epoch,
			locked: rec.Locked, failures: maps.Clone(rec.Failures), label: rec.Label,
		}
	case rec.Generation == p.generation && rec.Writer == p.writer:
		// The same version: the same PIN (for the configured version, the
		// same PIN under another salt) and the same lock state.
		switch {
		case rec.Epoch > p.epoch:
			p.epoch, p.failures = rec.Epoch, maps.Clone(rec.Failures)
		case rec.Epoch == p.epoch:
			for r, n := range rec.Failures {
				if n > p.failures[r] {
					if p.failures == nil {
						p.failures = make(map[uint64]uint32, len(rec.Failures))
					}
					p.failures[r] = n
				}
			}
		}
	default:
		return false, nil
	}
	if len(p.failures) == 0 {
		p.failures = nil
	}
	if !p.locked && p.failureCount() >= t.maxPINAttempts {
		p.lock()
	}
	return !before.equal(p), nil
}

func (p *pinState) equal(q *pinState) bool {
	return p.set == q.set && p.salt == q.salt && p.hash == q.hash &&
		p.generation == q.generation && p.writer == q.writer && p.epoch == q.epoch &&
		p.locked == q.locked && maps.Equal(p.failures, q.failures) && p.label == q.label
}

// Reset returns the token to the state New made it in, as a node that
// crashed and lost its memory would come back: no objects, no tombstones, the
// configured PINs with their counters cleared, and (unless configured) a new
// replica number. A cluster node then catches up from its peers.
func (t *Token) Reset() {
	t.mu.Lock()
	t.objects = make(map[Handle]*object)
	t.seq = 0
	t.tombs = tombstones{}
	t.mu.Unlock()
	t.pinMu.Lock()
	t.user, t.so = t.initUser.clone(), t.initSO.clone()
	t.pinMu.Unlock()
	t.replica.Store(t.newReplica())
}

// RestorePIN replaces user rec.User's PIN state with rec, whatever its
// version: a node that starts from its own storage takes the PIN state it
// stored over the one it was configured with, so that a PIN changed, a
// counter and a lockout outlive a restart even when the configuration
// still names the first PIN.
func (t *Token) RestorePIN(rec PINRecord) error {
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	p, err := t.pinFor(rec.User)
	if err != nil {
		return err
	}
	for _, n := range rec.Failures {
		if int(n) > t.maxPINAttempts {
			return ck.Errorf(ck.CKR_ARGUMENTS_BAD, "a PIN record counts more failures than the limit")
		}
	}
	*p = pinState{
		set: rec.Set, salt: rec.Salt, hash: rec.Hash,
		generation: rec.Generation, writer: rec.Writer, epoch: rec.Epoch,
		locked: rec.Locked, failures: maps.Clone(rec.Failures), label: rec.Label,
	}
	if len(p.failures) == 0 {
		p.failures = nil
	}
	return nil
}

// Destroyed reports whether the token remembers object h as destroyed.
func (t *Token) Destroyed(h Handle) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.tombs.has(h)
}
