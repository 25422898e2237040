package testenv

import (
	"crypto/tls"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/faults"
	"github.com/keyhold/keyhold/server"
)

// Cluster is a running set of nodes (a server.Cluster) with a client
// credential and a ready configuration that lists every node.
type Cluster struct {
	*server.Cluster
	nodes []*Node
	cred  *hsm.Credential
}

// StartCluster starts a cluster (see server.StartCluster) whose nodes
// faults can be injected into. The caller closes it.
func StartCluster(opts ClusterOptions) (*Cluster, error) {
	n := max(opts.Nodes, 1)
	opts.Faults = make([]*faults.Set, n)
	for i := range opts.Faults {
		opts.Faults[i] = new(faults.Set)
	}
	sc, err := server.StartCluster(opts)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Cluster: sc, cred: (*hsm.Credential)(sc.Credential())}
	for i, sn := range sc.Nodes() {
		c.nodes = append(c.nodes, &Node{Node: sn, faults: opts.Faults[i]})
	}
	return c, nil
}

// Nodes returns the cluster's nodes, in the order of Config's node lists.
func (c *Cluster) Nodes() []*Node { return append([]*Node(nil), c.nodes...) }

// Credential returns the client credential of Config, as a secrets file
// holds it.
func (c *Cluster) Credential() *hsm.Credential { return c.cred }

// Certificate returns the client credential, ready for TLS.
func (c *Cluster) Certificate() tls.Certificate { return c.Cluster.Certificate() }

// Config returns a ready client configuration: every partition, with every
// node at priority 0, the node CA as RootCAs and the client credential as
// Credential, all in code (no files).
func (c *Cluster) Config() hsm.Config { return c.ConfigWithPriorities() }

// ConfigWithPriorities is Config with node i at priority priorities[i]
// (nodes beyond the list at 0), for tests of failover between priorities.
func (c *Cluster) ConfigWithPriorities(priorities ...int) hsm.Config {
	cert := c.Certificate()
	cfg := hsm.Config{RootCAs: c.PKI().NodeCAPool(), Credential: &cert}
	if len(c.nodes) == 0 {
		return cfg
	}
	for _, p := range c.nodes[0].Partitions() {
		pc := hsm.PartitionConfig{ID: p.ID, Name: p.Name}
		for i, n := range c.nodes {
			nc := hsm.NodeConfig{Address: n.Addr()}
			if i < len(priorities) {
				nc.Priority = priorities[i]
			}
			pc.Nodes = append(pc.Nodes, nc)
		}
		cfg.Partitions = append(cfg.Partitions, pc)
	}
	return cfg
}

// WriteConfig writes Config into dir as files, as Embedded.WriteConfig does,
// and returns the path of keyhold.yaml.
func (c *Cluster) WriteConfig(dir string) (path string, err error) {
	return writeConfig(dir, c.Config(), c.PKI().NodeCAPEM(), c.cred)
}
