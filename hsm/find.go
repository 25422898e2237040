package hsm

import (
	"context"
	"fmt"

	"github.com/keyhold/keyhold/ck"
)

// KeyQuery selects one key. Empty fields match anything, but a query must
// give a Label or an ID.
type KeyQuery struct {
	Label string
	ID    []byte
	// Class is "private" (the default), "public" or "secret-key", as in a
	// pkcs11: URI's type attribute.
	Class string
}

// keyQuery is a KeyQuery usable as a map key.
type keyQuery struct {
	label, id, class string
	haveLabel        bool
}

// FindKey returns the one key that q selects. Found keys are cached: finding
// the same key again costs no request, and using it never costs a lookup.
// A query that matches no key is ErrNotFound — or ErrNotLoggedIn when it asks
// for private keys before Login, since those are invisible until then; one
// that matches several is ErrAmbiguous.
func (p *Partition) FindKey(ctx context.Context, q KeyQuery) (*Key, error) {
	class, err := classOf(q.Class)
	if err != nil {
		return nil, newError("find key", p, ErrTemplate, "%v", err)
	}
	if q.Label == "" && len(q.ID) == 0 {
		return nil, newError("find key", p, ErrTemplate, "a key query needs a label or an ID")
	}
	cacheKey := keyQuery{label: q.Label, id: string(q.ID), class: q.Class, haveLabel: q.Label != ""}
	p.keysMu.Lock()
	k, ok := p.keys[cacheKey]
	p.keysMu.Unlock()
	if ok {
		return k, nil
	}

	tmpl := Template{ck.ULong(ck.CKA_CLASS, uint64(class))}
	if q.Label != "" {
		tmpl = append(tmpl, ck.String(ck.CKA_LABEL, q.Label))
	}
	if len(q.ID) > 0 {
		tmpl = append(tmpl, ck.Bytes(ck.CKA_ID, q.ID))
	}
	objs, err := p.FindObjects(ctx, tmpl, keyAttributes)
	if err != nil {
		return nil, err
	}
	switch {
	case len(objs) == 0:
		what := describeQuery(q)
		if _, in := p.LoggedIn(); class != ck.CKO_PUBLIC_KEY && !in && p.classIsPrivate(class) {
			return nil, newError("find key", p, ErrNotLoggedIn, "no %s visible; private keys are visible only after Login", what)
		}
		return nil, newError("find key", p, ErrNotFound, "no %s", what)
	case len(objs) > 1:
		return nil, newError("find key", p, ErrAmbiguous, "%d keys match %s; select by ID", len(objs), describeQuery(q))
	}
	k, err = p.keyFromObject(objs[0])
	if err != nil {
		return nil, err
	}
	p.keysMu.Lock()
	p.keys[cacheKey] = k
	p.keysMu.Unlock()
	return k, nil
}

func (p *Partition) classIsPrivate(c ck.ObjectClass) bool {
	return c == ck.CKO_PRIVATE_KEY || c == ck.CKO_SECRET_KEY
}

func describeQuery(q KeyQuery) string {
	class := q.Class
	if class == "" {
		class = "private"
	}
	s := class + " key"
	if q.Label != "" {
		s += fmt.Sprintf(" labelled %q", q.Label)
	}
	if len(q.ID) > 0 {
		s += fmt.Sprintf(" with ID %x", q.ID)
	}
	return s
}

func classOf(s string) (ck.ObjectClass, error) {
	switch s {
	case "", "private":
		return ck.CKO_PRIVATE_KEY, nil
	case "public":
		return ck.CKO_PUBLIC_KEY, nil
	case "secret-key":
		return ck.CKO_SECRET_KEY, nil
	}
	return 0, fmt.Errorf("key class %q: want private, public or secret-key", s)
}

// KeyByLabel returns the private key with CKA_LABEL label.
func (p *Partition) KeyByLabel(ctx context.Context, label string) (*Key, error) {
	return p.FindKey(ctx, KeyQuery{Label: label})
}

// KeyByID returns the private key with CKA_ID id.
func (p *Partition) KeyByID(ctx context.Context, id []byte) (*Key, error) {
	return p.FindKey(ctx, KeyQuery{ID: id})
}

// KeyByURI returns the key a pkcs11: URI (RFC 7512) names, such as
// "pkcs11:token=payments;object=tls-key;type=private". The token attribute
// (or slot-id) selects the partition; object and id select the key. A
// pin-value in the URI is ignored: log in with Partition.Login.
func (c *Client) KeyByURI(ctx context.Context, uri string) (*Key, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return nil, fmt.Errorf("hsm: find key: %w", err)
	}
	p, err := c.PartitionForURI(u)
	if err != nil {
		return nil, err
	}
	switch u.Type {
	case "", "private", "public", "secret-key":
	default:
		return nil, newError("find key", p, ErrTemplate, "URI type %q does not name a key", u.Type)
	}
	return p.FindKey(ctx, KeyQuery{Label: u.Object, ID: u.ID, Class: u.Type})
}

// PartitionForURI returns the partition a pkcs11: URI names: by its token
// label, else its slot-id (the partition ID); with one partition
// configured, a URI may leave both out.
func (c *Client) PartitionForURI(u *URI) (*Partition, error) {
	switch {
	case u.Token != "":
		p, err := c.Partition(u.Token)
		if err != nil {
			return nil, err
		}
		if u.SlotID != nil && uint64(p.id) != *u.SlotID {
			return nil, &Error{Op: "find key", Kind: ErrUnknownPartition, Detail: fmt.Sprintf("token %q is not slot %d", u.Token, *u.SlotID)}
		}
		return p, nil
	case u.SlotID != nil:
		if *u.SlotID > 1<<32-1 {
			return nil, &Error{Op: "find key", Kind: ErrUnknownPartition, Detail: "slot-id out of range"}
		}
		return c.PartitionByID(uint32(*u.SlotID))
	case len(c.partitions) == 1:
		return c.partitions[0], nil
	}
	return nil, &Error{Op: "find key", Kind: ErrUnknownPartition, Detail: "the URI names no token and several partitions are configured"}
}

// invalidateKeys empties the lookup cache after this client changed objects,
// so that a label that now names another key is looked up again.
func (p *Partition) invalidateKeys() {
	p.keysMu.Lock()
	clear(p.keys)
	p.keysMu.Unlock()
}

// forgetKey drops every cached lookup that found k.
func (p *Partition) forgetKey(k *Key) {
	p.keysMu.Lock()
	for q, cached := range p.keys {
		if cached == k {
			delete(p.keys, q)
		}
	}
	p.keysMu.Unlock()
}

// KeyByHandle reads the key object h from the partition now, bypassing the
// lookup cache. Programs that must notice keys replaced by other clients
// (certificate and key rotation) use it after FindObjects.
func (p *Partition) KeyByHandle(ctx context.Context, h ObjectHandle) (*Key, error) {
	return p.keyByHandle(ctx, "find key", h)
}
