package token

import (
	"cmp"
	"slices"
	"time"

	"github.com/keyhold/keyhold/ck"
)

// Key invalidation, as the HSM guide describes it: a partition may keep
// destroyed objects for a retention period instead of removing them at
// once, so that a key destroyed by mistake (or by an attacker with the
// User's PIN) can be brought back by the SO before it is gone for good.
// While invalidated, an object is invisible and unusable to everyone; the
// SO lists it (Invalidated), reactivates it (Reactivate) or purges it
// (Purge); once the retention is up it is purged (Expired tells which).
// Each of these is a new version of the object, replicated and stored like
// any change.

// InvalidatedObject describes an invalidated object to the SO, without its
// key material.
type InvalidatedObject struct {
	Handle      Handle
	Invalidated time.Time
	// Purge is when the object is purged unless reactivated first.
	Purge time.Time
	// Attributes are the object's CKA_CLASS, CKA_KEY_TYPE, CKA_LABEL and
	// CKA_ID, those it has.
	Attributes []ck.Attribute
}

// invalidateLocked replaces o by an invalidated version of it. The caller
// holds t.mu for writing.
func (t *Token) invalidateLocked(h Handle, o *object, now time.Time) {
	n := o.with(nil)
	n.invalidated = max(now.UnixMilli(), 1)
	n.version, n.writer = o.version+1, t.replica.Load()
	t.objects[h] = n
}

// Retention returns how long destroyed objects are kept invalidated.
func (t *Token) Retention() time.Duration { return t.retention }

// Invalidated lists the invalidated objects, oldest first.
func (t *Token) Invalidated() []InvalidatedObject {
	t.mu.RLock()
	var out []InvalidatedObject
	for h, o := range t.objects {
		if o.invalidated == 0 {
			continue
		}
		at := time.UnixMilli(o.invalidated)
		io := InvalidatedObject{Handle: h, Invalidated: at, Purge: at.Add(t.retention)}
		for _, ty := range []ck.AttributeType{ck.CKA_CLASS, ck.CKA_KEY_TYPE, ck.CKA_LABEL, ck.CKA_ID} {
			if v, ok := o.attrs[ty]; ok {
				io.Attributes = append(io.Attributes, ck.Attribute{Type: ty, Value: append([]byte{}, v...)})
			}
		}
		out = append(out, io)
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b InvalidatedObject) int {
		return cmp.Or(a.Invalidated.Compare(b.Invalidated), cmp.Compare(a.Handle, b.Handle))
	})
	return out
}

// invalidatedLocked returns the invalidated object h. The caller holds t.mu.
func (t *Token) invalidatedLocked(h Handle) (*object, error) {
	o, ok := t.objects[h]
	if !ok || o.invalidated == 0 {
		return nil, ck.Errorf(ck.CKR_OBJECT_HANDLE_INVALID, "no invalidated object with handle %#x", uint64(h))
	}
	return o, nil
}

// Reactivate makes an invalidated object live again, as it was.
func (t *Token) Reactivate(h Handle) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, err := t.invalidatedLocked(h)
	if err != nil {
		return err
	}
	n := o.with(nil)
	n.invalidated = 0
	n.version, n.writer = o.version+1, t.replica.Load()
	t.objects[h] = n
	return nil
}

// Purge destroys an invalidated object for good.
func (t *Token) Purge(h Handle) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := t.invalidatedLocked(h); err != nil {
		return err
	}
	t.removeLocked(h)
	return nil
}

// Expired returns the invalidated objects whose retention is up at now.
func (t *Token) Expired(now time.Time) []Handle {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []Handle
	for h, o := range t.objects {
		if o.invalidated != 0 && !now.Before(time.UnixMilli(o.invalidated).Add(t.retention)) {
			out = append(out, h)
		}
	}
	return out
}
