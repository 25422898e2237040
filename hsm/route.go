package hsm

import (
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"time"
)

// route chooses the node that serves a partition's next request. Nodes are
// grouped by priority; the best group with a healthy node serves, starting at
// a random node and then in turn (round robin), so that load spreads evenly
// and many clients do not all start on the same node. Lower groups serve only
// while no node of a better group is healthy.
type route struct {
	groups []routeGroup
}

type routeGroup struct {
	priority int
	nodes    []*node
	next     *atomic.Uint64
}

func (r *route) add(n *node, priority int) {
	for i := range r.groups {
		if r.groups[i].priority == priority {
			r.groups[i].nodes = append(r.groups[i].nodes, n)
			return
		}
	}
	r.groups = append(r.groups, routeGroup{priority: priority, nodes: []*node{n}, next: new(atomic.Uint64)})
}

func (r *route) init() {
	sort.Slice(r.groups, func(i, j int) bool { return r.groups[i].priority < r.groups[j].priority })
	for _, g := range r.groups {
		g.next.Store(rand.Uint64N(uint64(len(g.nodes))))
	}
}

// tried is the set of nodes one call has already used.
type tried []*node

func (t tried) has(n *node) bool {
	for _, m := range t {
		if m == n {
			return true
		}
	}
	return false
}

// pick returns the next node for a call that has already used the nodes in
// t, or nil when none is left. Healthy nodes that answer come first, by
// priority; then healthy nodes that are suspect (see node.suspect); then
// failed nodes whose backoff has run out, so that a call can find a node that
// came back before the prober does.
func (r *route) pick(t tried) *node {
	now := time.Now()
	for pass := range 3 {
		wantHealthy := pass < 2
		for _, g := range r.groups {
			size := uint64(len(g.nodes))
			start := g.next.Add(1) - 1
			for i := uint64(0); i < size; i++ {
				n := g.nodes[(start+i)%size]
				if t.has(n) {
					continue
				}
				if wantHealthy && !n.isHealthy() {
					continue
				}
				if pass == 0 && n.suspect(now) {
					continue
				}
				if !wantHealthy && !n.usable(now) {
					continue
				}
				return n
			}
		}
	}
	return nil
}

// alternative reports whether a node other than n, and not in t, could serve
// a call now.
func (r *route) alternative(t tried, n *node, now time.Time) bool {
	for _, g := range r.groups {
		for _, m := range g.nodes {
			if m != n && !t.has(m) && m.usable(now) {
				return true
			}
		}
	}
	return false
}
