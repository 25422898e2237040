package server

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/keyhold/keyhold/internal/faults"
)

// ClusterOptions configure a cluster: nodes that serve the same partitions
// and replicate every change between them, which a client configuration lists
// under each partition so that the application sees one partition. The zero
// value of each field takes the default given next to it.
type ClusterOptions struct {
	// Nodes is the number of nodes (default 1).
	Nodes int
	// Name names the nodes in their hello replies: Name-1, Name-2, ... (just
	// Name for a single node; default "keyhold").
	Name string
	// Addresses are the nodes' listen addresses, one per node (default
	// "127.0.0.1:0" each: a free port on the loopback interface).
	Addresses []string
	// Partitions are the partitions every node serves; at least one. A
	// partition without a TicketKey gets a random one, shared by the nodes.
	Partitions []PartitionOptions
	// Workers, QueueDepth, TicketLifetime and Observe are as in
	// NodeOptions, for each node.
	Workers        int
	QueueDepth     int
	TicketLifetime time.Duration
	Observe        func(op string, d time.Duration, failed bool)
	// ReplicationTimeout and Replication are as in NodeOptions. The nodes
	// bootstrap one Raft cluster (a single node too, with
	// ReplicationRaft), and StartCluster returns once every node knows its
	// leader.
	ReplicationTimeout time.Duration
	Replication        string
	// PKI issues every node's certificates and the client credential
	// (default: a new PKI).
	PKI *PKI
	// Faults, when given, has one fault set per node (see NodeOptions).
	Faults []*faults.Set
	// Dir, when set, keeps node i's state in Dir/node-<i+1> (see
	// NodeOptions.Dir): a cluster started again on it comes back with its
	// state, CAs and addresses.
	Dir string
}

// NodeDir returns the directory of node i (from 0) of a cluster whose
// ClusterOptions.Dir is dir.
func NodeDir(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("node-%d", i+1)) }

// Cluster is a running set of nodes that serve the same partitions and
// replicate between them, with a client credential.
type Cluster struct {
	nodes []*Node
	pki   *PKI
	cred  *Credential
	cert  tls.Certificate
}

// clusterStartTimeout bounds how long StartCluster waits for the nodes to
// connect to each other.
const clusterStartTimeout = 15 * time.Second

// StartCluster starts opts.Nodes nodes on their own addresses, connects each
// to every other, and returns once every node replicates to every other: a
// change made through any node from then on is on all of them before it is
// acknowledged. The caller closes the cluster.
func StartCluster(opts ClusterOptions) (*Cluster, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	if opts.Name == "" {
		opts.Name = "keyhold"
	}
	if len(opts.Addresses) != 0 && len(opts.Addresses) != opts.Nodes {
		return nil, fmt.Errorf("server: %d addresses for %d nodes", len(opts.Addresses), opts.Nodes)
	}
	if len(opts.Partitions) == 0 {
		return nil, errors.New("server: a cluster needs at least one partition")
	}
	if len(opts.Faults) != 0 && len(opts.Faults) != opts.Nodes {
		return nil, fmt.Errorf("server: %d fault sets for %d nodes", len(opts.Faults), opts.Nodes)
	}
	// A cluster started again on its directories listens where it did, with
	// the PKI it had.
	var stored []nodeMeta
	if opts.Dir != "" {
		for i := range opts.Nodes {
			m, err := readStoredMeta(NodeDir(opts.Dir, i))
			if err != nil {
				return nil, err
			}
			stored = append(stored, m)
		}
		if opts.PKI == nil && stored[0].pki != nil {
			p, err := ParsePKI(stored[0].pki)
			if err != nil {
				return nil, fmt.Errorf("%w: stored PKI: %v", ErrStoreCorrupt, err)
			}
			opts.PKI = p
		}
	}
	if opts.PKI == nil {
		p, err := NewPKI()
		if err != nil {
			return nil, err
		}
		opts.PKI = p
	}
	// Every node must accept every node's tickets: one key per partition.
	parts := append([]PartitionOptions(nil), opts.Partitions...)
	for i := range parts {
		if parts[i].TicketKey == ([32]byte{}) {
			_, _ = rand.Read(parts[i].TicketKey[:]) // never fails (crypto/rand, Go 1.24+)
		}
	}
	cred, cert, err := opts.PKI.ClientCredential("keyhold-client")
	if err != nil {
		return nil, err
	}

	// Listen first: each node must know every other's address.
	lns := make([]net.Listener, opts.Nodes)
	closeListeners := func() {
		for _, ln := range lns {
			if ln != nil {
				ln.Close()
			}
		}
	}
	for i := range lns {
		addr := "127.0.0.1:0"
		if len(opts.Addresses) > 0 {
			addr = opts.Addresses[i]
		}
		if _, port, _ := net.SplitHostPort(addr); port == "0" && stored != nil && stored[i].addr != "" {
			addr = stored[i].addr
		}
		if lns[i], err = net.Listen("tcp", addr); err != nil {
			closeListeners()
			return nil, fmt.Errorf("server: listen: %w", err)
		}
	}
	addrs := make([]string, len(lns))
	for i, ln := range lns {
		addrs[i] = ln.Addr().String()
	}
	c := &Cluster{pki: opts.PKI, cred: cred, cert: cert}
	for i, ln := range lns {
		var peers []string
		for j, other := range addrs {
			if j != i {
				peers = append(peers, other)
			}
		}
		name := opts.Name
		if opts.Nodes > 1 {
			name = fmt.Sprintf("%s-%d", opts.Name, i+1)
		}
		var dir string
		if opts.Dir != "" {
			dir = NodeDir(opts.Dir, i)
		}
		var fs *faults.Set
		if len(opts.Faults) > 0 {
			fs = opts.Faults[i]
		}
		n, err := StartNode(NodeOptions{
			Name:               name,
			Partitions:         parts,
			Workers:            opts.Workers,
			QueueDepth:         opts.QueueDepth,
			TicketLifetime:     opts.TicketLifetime,
			Observe:            opts.Observe,
			PKI:                opts.PKI,
			Peers:              peers,
			ReplicationTimeout: opts.ReplicationTimeout,
			Replication:        opts.Replication,
			Listener:           ln,
			Faults:             fs,
			Dir:                dir,
		})
		if err != nil {
			lns[i] = nil // StartNode closed it or owns it
			for _, rest := range lns[i+1:] {
				rest.Close()
			}
			_ = c.Close()
			return nil, err
		}
		lns[i] = nil
		c.nodes = append(c.nodes, n)
	}
	deadline := time.Now().Add(clusterStartTimeout)
	for !c.connected() {
		if time.Now().After(deadline) {
			_ = c.Close()
			return nil, errors.New("server: the cluster's nodes did not connect to each other in time")
		}
		time.Sleep(2 * time.Millisecond)
	}
	return c, nil
}

// connected reports whether every node replicates to every other.
func (c *Cluster) connected() bool {
	for _, n := range c.nodes {
		if n.raftMode && n.Leader() == "" {
			return false
		}
	}
	return true
}

// Nodes returns the cluster's nodes, in the order of Config's node lists.
func (c *Cluster) Nodes() []*Node { return append([]*Node(nil), c.nodes...) }

// PKI returns the PKI that issued the nodes' certificates and the client
// credential.
func (c *Cluster) PKI() *PKI { return c.pki }

// Credential returns the client credential, as a secrets file holds it.
func (c *Cluster) Credential() *Credential { return c.cred }

// Certificate returns the client credential, ready for TLS.
func (c *Cluster) Certificate() tls.Certificate { return c.cert }

// Close stops every node.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, n.Close())
	}
	return errors.Join(errs...)
}
