package hsm

import (
	"context"
	"time"

	"github.com/keyhold/keyhold/internal/wire"
)

// The SO's maintenance of a partition's HSM: backups and invalidated keys.
// They exist on keyhold's network nodes; a module token answers
// ErrNotSupported (its vendor has its own tools for both).

// BackupOptions choose what a backup holds.
type BackupOptions struct {
	// WholeNode backs up every partition of the node that serves the call,
	// not only this one.
	WholeNode bool
}

// Backup returns an encrypted, authenticated backup of the partition: one
// consistent snapshot, taken by one node of the partition and encrypted by
// it under a key derived from password (argon2id), so that key material
// never leaves the HSM in clear. `keyhold backup verify` checks such a file
// and `keyhold restore` restores it onto a fresh node. It needs the SO's
// login. The password travels to the node over the connection's TLS and is
// never kept.
func (p *Partition) Backup(ctx context.Context, password []byte, opts BackupOptions) ([]byte, error) {
	const op = "backup"
	if err := p.requireSO(op); err != nil {
		return nil, err
	}
	if len(password) == 0 || len(password) > wire.MaxBackupPassword {
		return nil, newError(op, p, ErrDataInvalid, "a backup password has 1 to %d bytes", wire.MaxBackupPassword)
	}
	var file []byte
	// The chunks of one backup come from the node that took its snapshot:
	// the whole transfer is one attempt, which may take as long as the
	// caller allows.
	err := p.do(ctx, op, opSlowWrite, true, func(ctx context.Context, b Backend, r Request) error {
		n, err := networkNode(b)
		if err != nil {
			return err
		}
		file, err = n.backup(ctx, r, password, opts.WholeNode)
		return err
	})
	if err != nil {
		return nil, err
	}
	return file, nil
}

// InvalidatedObject is a destroyed object that its partition keeps
// invalidated: invisible and unusable until the SO reactivates or purges it,
// or its retention runs out.
type InvalidatedObject struct {
	Handle      ObjectHandle
	Invalidated time.Time // when it was destroyed
	Purge       time.Time // when it will be purged
	// Attributes are its CKA_CLASS, CKA_KEY_TYPE, CKA_LABEL and CKA_ID,
	// never key material.
	Attributes Template
}

// Invalidated lists the partition's invalidated objects, oldest first. It
// needs the SO's login.
func (p *Partition) Invalidated(ctx context.Context) ([]InvalidatedObject, error) {
	const op = "list invalidated"
	if err := p.requireSO(op); err != nil {
		return nil, err
	}
	var out []InvalidatedObject
	err := p.do(ctx, op, opRead, true, func(ctx context.Context, b Backend, r Request) error {
		n, err := networkNode(b)
		if err != nil {
			return err
		}
		objs, err := n.listInvalidated(ctx, r)
		if err != nil {
			return err
		}
		out = make([]InvalidatedObject, len(objs))
		for i, o := range objs {
			out[i] = InvalidatedObject{Handle: o.Handle, Invalidated: time.UnixMilli(o.Invalidated), Purge: time.UnixMilli(o.Purge), Attributes: o.Attributes}
		}
		return nil
	})
	return out, err
}

// Reactivate brings an invalidated object back as it was (the same key,
// under the same handle). It needs the SO's login.
func (p *Partition) Reactivate(ctx context.Context, h ObjectHandle) error {
	return p.invalidatedOp(ctx, "reactivate", wire.OpReactivate, h)
}

// Purge destroys an invalidated object for good, before its retention runs
// out. It needs the SO's login.
func (p *Partition) Purge(ctx context.Context, h ObjectHandle) error {
	return p.invalidatedOp(ctx, "purge", wire.OpPurge, h)
}

func (p *Partition) invalidatedOp(ctx context.Context, op string, wop wire.Op, h ObjectHandle) error {
	if err := p.requireSO(op); err != nil {
		return err
	}
	defer p.invalidateKeys()
	return p.do(ctx, op, opWrite, true, func(ctx context.Context, b Backend, r Request) error {
		n, err := networkNode(b)
		if err != nil {
			return err
		}
		return n.call(ctx, wop, &wire.InvalidatedRequest{Partition: r.Partition, Ticket: r.Ticket, Handle: h, OpID: opID(r.ID)}, nil)
	})
}

// backup fetches a whole backup from this node, chunk by chunk.
func (n *netNode) backup(ctx context.Context, r Request, password []byte, whole bool) ([]byte, error) {
	var rep wire.BackupReply
	if err := n.call(ctx, wire.OpBackup, &wire.BackupRequest{Partition: r.Partition, Ticket: r.Ticket, Password: password, Node: whole}, &rep); err != nil {
		return nil, err
	}
	file := append([]byte(nil), rep.Data...)
	for uint64(len(file)) < rep.Size {
		if len(rep.Data) == 0 {
			return nil, &Error{Kind: ErrProtocol, Detail: "the node sent an empty backup chunk"}
		}
		if err := n.call(ctx, wire.OpBackup, &wire.BackupRequest{Partition: r.Partition, Ticket: r.Ticket, Snapshot: rep.Snapshot, Offset: uint64(len(file))}, &rep); err != nil {
			return nil, err
		}
		file = append(file, rep.Data...)
	}
	return file, nil
}

func (n *netNode) listInvalidated(ctx context.Context, r Request) ([]wire.InvalidatedObject, error) {
	var rep wire.ListInvalidatedReply
	err := n.call(ctx, wire.OpListInvalidated, &wire.ListInvalidatedRequest{Partition: r.Partition, Ticket: r.Ticket}, &rep)
	return rep.Objects, err
}
