package token

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/keyhold/keyhold/ck"
)

// ObjectRecord is the snapshot form of one object: its handle and every
// attribute, including the ones the token set and, for keys, the key
// material itself. A key object is rebuilt from its attributes alone.
//
// A record is how the nodes of a cluster replicate an object (HA cloning):
// they apply the same record under the same handle. It holds secret key
// material in the clear, so it must travel only between the nodes of one
// cluster, over their authenticated channel, and never reach a client.
type ObjectRecord struct {
	Handle     Handle         `cbor:"1,keyasint"`
	Attributes []ck.Attribute `cbor:"2,keyasint"` // sorted by type
	// Version and Writer order the versions of the object (see Apply).
	Version uint64 `cbor:"3,keyasint,omitempty"`
	Writer  uint64 `cbor:"4,keyasint,omitempty"`
	// Invalidated is when the object was invalidated (Unix ms); 0 for a
	// live object.
	Invalidated int64 `cbor:"5,keyasint,omitempty"`
}

// Snapshot returns a record of every object, in creation order.
func (t *Token) Snapshot() []ObjectRecord {
	t.mu.RLock()
	type entry struct {
		h Handle
		o *object
	}
	all := make([]entry, 0, len(t.objects))
	for h, o := range t.objects {
		all = append(all, entry{h, o})
	}
	t.mu.RUnlock()
	// Objects are immutable: encoding them needs no lock.
	slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.o.seq, b.o.seq) })
	out := make([]ObjectRecord, len(all))
	for i, e := range all {
		out[i] = e.o.record(e.h)
	}
	return out
}

// record returns o's snapshot form under handle h.
func (o *object) record(h Handle) ObjectRecord {
	as := make([]ck.Attribute, 0, len(o.attrs))
	for t, v := range o.attrs {
		as = append(as, ck.Attribute{Type: t, Value: bytes.Clone(v)})
	}
	slices.SortFunc(as, func(a, b ck.Attribute) int { return cmp.Compare(a.Type, b.Type) })
	return ObjectRecord{Handle: h, Attributes: as, Version: o.version, Writer: o.writer, Invalidated: o.invalidated}
}

// Restore stores the object a record describes under the record's handle,
// replacing the object already there, if any (so that a cluster can
// replicate attribute changes by sending the updated record). The record is
// validated like a template and the key rebuilt and checked against its
// derived attributes; a bad record changes nothing.
//
// Restore is for replication between trusted nodes: it applies no access
// rules. It ignores versions and tombstones; a cluster merging changes uses
// Apply.
func (t *Token) Restore(rec ObjectRecord) error {
	o, err := buildRestored(rec)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tombs.forget(rec.Handle)
	if old, ok := t.objects[rec.Handle]; ok {
		o.seq = old.seq
	} else {
		if len(t.objects) >= maxObjects {
			return errPartitionFull(len(t.objects))
		}
		t.seq++
		o.seq = t.seq
	}
	t.objects[rec.Handle] = o
	return nil
}

// buildRestored rebuilds an object from its record, with the record's
// version.
func buildRestored(rec ObjectRecord) (*object, error) {
	if rec.Handle == 0 || rec.Handle>>63 != 0 {
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "record handle %#x is not a nonzero 63-bit handle", uint64(rec.Handle))
	}
	vals, err := parseTemplate(rec.Attributes, maxRecordAttrs)
	if err != nil {
		return nil, err
	}
	k, err := kindOf(vals)
	if err != nil {
		var ok bool
		if k, ok = heldKind(vals); !ok {
			return nil, err
		}
	}
	// SO access: a record may carry CKA_TRUSTED=true, which the SO set.
	if err := checkTemplate(k, vals, originRestore, SO); err != nil {
		return nil, err
	}
	if err := checkRequired(k, vals, rReqCreate); err != nil {
		return nil, err
	}
	b := newBuilder(k, vals)
	key, err := b.buildKey()
	if err != nil {
		return nil, err
	}
	o := b.finish(key, originRestore, 0)
	o.version, o.writer = rec.Version, rec.Writer
	o.invalidated = rec.Invalidated
	return o, nil
}
