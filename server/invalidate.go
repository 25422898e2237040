package server

import (
	"time"

	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server/internal/token"
)

// Key invalidation (see server/internal/token/invalidate.go): the SO's view
// of destroyed objects a partition keeps, and the purge of those whose
// retention is up. Reactivating and purging are state changes like any
// other: deduplicated by OpID, stored and replicated before the answer.

// sweepInterval is how often a node purges the invalidated objects whose
// retention is up. Listing them purges those first too, so a list never
// shows an object past its time.
const sweepInterval = 30 * time.Second

func (n *Node) listInvalidated(c *conn, req *wire.ListInvalidatedRequest) (any, error) {
	p, err := n.enterSO(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	if err := n.purgeExpired(p, time.Now()); err != nil {
		return nil, err
	}
	list := p.tok.Invalidated()
	out := wire.ListInvalidatedReply{Objects: make([]wire.InvalidatedObject, len(list))}
	for i, o := range list {
		out.Objects[i] = wire.InvalidatedObject{
			Handle: uint64(o.Handle), Invalidated: o.Invalidated.UnixMilli(), Purge: o.Purge.UnixMilli(), Attributes: o.Attributes,
		}
	}
	return out, nil
}

func (n *Node) reactivate(c *conn, req *wire.InvalidatedRequest) (any, error) {
	p, err := n.enterSO(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	return n.once(c, p, wire.OpReactivate, token.SO, req.OpID, func(ch *change) (any, error) {
		if err := p.tok.Reactivate(token.Handle(req.Handle)); err != nil {
			return nil, err
		}
		ch.put(token.Handle(req.Handle))
		return wire.EmptyReply{}, nil
	})
}

func (n *Node) purge(c *conn, req *wire.InvalidatedRequest) (any, error) {
	p, err := n.enterSO(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	return n.once(c, p, wire.OpPurge, token.SO, req.OpID, func(ch *change) (any, error) {
		if err := p.tok.Purge(token.Handle(req.Handle)); err != nil {
			return nil, err
		}
		ch.destroyed = append(ch.destroyed, token.Handle(req.Handle))
		return wire.EmptyReply{}, nil
	})
}

// purgeExpired purges p's invalidated objects whose retention is up at now,
// and commits that. Every node of a cluster does it: purging twice is
// purging once.
func (n *Node) purgeExpired(p *partition, now time.Time) error {
	expired := p.tok.Expired(now)
	if len(expired) == 0 {
		return nil
	}
	n.life.RLock()
	defer n.life.RUnlock()
	var ch change
	for _, h := range expired {
		if p.tok.Purge(h) == nil {
			ch.destroyed = append(ch.destroyed, h)
		}
	}
	return n.commit(p, &ch, nil)
}

// sweep purges expired invalidated objects every sweepInterval until the
// node closes. It runs only when some partition keeps destroyed objects.
func (n *Node) sweep() {
	defer n.wg.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-n.closing:
			return
		case now := <-t.C:
			if !n.ready.Load() {
				continue // stopped or killed: it sweeps when it serves again
			}
			for _, p := range n.parts {
				if p.tok.Retention() > 0 {
					_ = n.purgeExpired(p, now) // a storage failure is counted; the next sweep tries again
				}
			}
		}
	}
}
