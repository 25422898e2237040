package hsm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/keyhold/keyhold/internal/wire"
)

// ConfigProblems returns every problem of cfg, each explained in one line,
// or nil when there is none. Validate reports the same problems as one error.
func ConfigProblems(cfg *Config) []string {
	err := cfg.Validate()
	if err == nil {
		return nil
	}
	var ce *configError
	if errors.As(err, &ce) {
		return ce.problems
	}
	return []string{err.Error()}
}

// configError lists the problems Validate found.
type configError struct{ problems []string }

func (e *configError) Error() string {
	s := ErrConfig.Error() + ": "
	for i, p := range e.problems {
		if i > 0 {
			s += "; "
		}
		s += p
	}
	return s
}

func (e *configError) Unwrap() error { return ErrConfig }

// Problems lists the problems, one line each.
func (e *configError) Problems() []string { return append([]string(nil), e.problems...) }

// NodeProbe is what Probe learned about one node of one partition.
type NodeProbe struct {
	Partition string
	ID        uint32
	Address   string
	Priority  int
	// Problem is empty when the node answered and serves the partition
	// under the configured ID and name.
	Problem string
}

// Probe connects to every configured node, completes the handshake and the
// hello, and checks that the node serves each partition it is listed under,
// with the same ID and name. It reports one NodeProbe per partition and
// node, in configuration order. It needs the client credential and the
// node pin, as Open does; each connection is bounded by the connect timeout.
func Probe(ctx context.Context, cfg Config) ([]NodeProbe, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var tlsCfg *tls.Config
	if cfg.hasNetworkNodes() {
		var err error
		if tlsCfg, err = cfg.clientTLS(); err != nil {
			return nil, err
		}
	}
	type served struct {
		parts map[uint32]string
		err   error
	}
	addrs := map[string]*served{}
	for _, p := range cfg.Partitions {
		for _, n := range p.Nodes {
			if n.kind() == "network" {
				addrs[n.Address] = nil
			}
		}
	}
	list := make([]string, 0, len(addrs))
	for addr := range addrs {
		list = append(list, addr)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, addr := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd := newNetNode(addr, tlsCfg, cfg.Timeouts.ConnectTimeout())
			dctx, cancel := context.WithTimeout(ctx, nd.connect)
			defer cancel()
			c, err := wire.Dial(dctx, addr, nd.tlsCfg, wire.DialOptions{})
			s := &served{err: err, parts: map[uint32]string{}}
			if err == nil {
				for _, ps := range c.Hello().Partitions {
					s.parts[ps.ID] = ps.Name
				}
				c.Close()
			}
			mu.Lock()
			addrs[addr] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	var out []NodeProbe
	for _, p := range cfg.Partitions {
		for _, n := range p.Nodes {
			if n.kind() != "network" {
				out = append(out, probeBackend(ctx, cfg, p, n))
				continue
			}
			r := NodeProbe{Partition: p.Name, ID: p.ID, Address: n.Address, Priority: n.Priority}
			s := addrs[n.Address]
			switch name, ok := s.parts[p.ID]; {
			case s.err != nil:
				r.Problem = "unreachable: " + s.err.Error()
			case !ok:
				r.Problem = fmt.Sprintf("does not serve partition id %d (it serves %s)", p.ID, describeServed(s.parts))
			case name != p.Name:
				r.Problem = fmt.Sprintf("serves partition id %d as %q, not %q", p.ID, name, p.Name)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func describeServed(parts map[uint32]string) string {
	if len(parts) == 0 {
		return "none"
	}
	ids := make([]uint32, 0, len(parts))
	for id := range parts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d %q", id, parts[id])
	}
	return s
}

// probeBackend opens a node that is not a network node and asks for its
// token information.
func probeBackend(ctx context.Context, cfg Config, p PartitionConfig, n NodeConfig) NodeProbe {
	r := NodeProbe{Partition: p.Name, ID: p.ID, Address: n.Module, Priority: n.Priority}
	open, ok := opener(n.kind())
	if !ok {
		r.Problem = fmt.Sprintf("a %s node needs a program built with its backend (hsm/pkcs11module, cgo)", n.kind())
		return r
	}
	b, err := open(ctx, n, p)
	if err != nil {
		r.Problem = "cannot open: " + err.Error()
		return r
	}
	defer b.Close()
	r.Address = b.Name()
	ictx, cancel := context.WithTimeout(ctx, cfg.Timeouts.AttemptTimeout())
	defer cancel()
	if _, err := b.Info(ictx, Request{Partition: p.ID}); err != nil {
		r.Problem = "does not answer: " + err.Error()
	}
	return r
}
