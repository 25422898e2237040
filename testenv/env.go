package testenv

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/atomicfile"
)

// Defaults of Start.
const (
	DefaultPartitionID    uint32 = 1
	DefaultPartitionName         = "test"
	DefaultUserPIN               = "user-pin-1234"
	DefaultSOPIN                 = "so-pin-5678"
	DefaultMaxPINAttempts        = 3
)

// Env is a running test HSM and everything a test needs to use it.
type Env struct {
	// Node is the running node: the first of Nodes.
	Node *Node
	// Nodes are the nodes of the cluster (WithNodes); one by default.
	Nodes []*Node
	// Cluster is the cluster the nodes form.
	Cluster *Cluster
	// PKI issued the nodes' certificates and the client credential; more
	// client credentials can be issued from it.
	PKI *PKI
	// Config is a ready client configuration: every partition, with every
	// node at priority 0 (see ConfigWithPriorities), the node CA as RootCAs,
	// and the client credential as Credential, all in code (no files).
	// Tests may change it.
	Config hsm.Config
	// Credential is the client credential of Config, as a secrets file holds it.
	Credential *hsm.Credential
	// Partition, PartitionID, UserPIN and SOPIN describe the first partition.
	Partition      string
	PartitionID    uint32
	UserPIN, SOPIN string
	// Dir is a temporary directory, removed when the test ends, where
	// WriteConfig writes its files.
	Dir string
}

// Option changes what Start sets up.
type Option func(*envSettings)

type envSettings struct {
	partitions         []PartitionOptions
	maxPINAttempts     int
	retention          time.Duration
	workers            int
	queueDepth         int
	ticketLifetime     time.Duration
	nodes              int
	replicationTimeout time.Duration
	replication        string
	allowRSA1024       bool
}

// WithNodes starts a cluster of n nodes instead of one: each serves every
// partition on its own address, and every change is replicated to all of
// them before it is acknowledged. Env.Config lists every node.
func WithNodes(n int) Option {
	return func(s *envSettings) { s.nodes = n }
}

// WithReplicationTimeout bounds each Raft message to a peer, and how long
// a lagging node waits to catch up (default
// server.DefaultReplicationTimeout).
func WithReplicationTimeout(d time.Duration) Option {
	return func(s *envSettings) { s.replicationTimeout = d }
}

// WithReplication sets NodeOptions.Replication: server.ReplicationRaft
// makes even a single node a Raft cluster (a cluster of several nodes
// always is one).
func WithReplication(mode string) Option {
	return func(s *envSettings) { s.replication = mode }
}

// WithPartition adds a partition to the node. The first use replaces the
// default partition (ID 1, "test"); the first partition given is the one Env
// describes.
func WithPartition(id uint32, name, userPIN, soPIN string) Option {
	return func(s *envSettings) {
		s.partitions = append(s.partitions, PartitionOptions{ID: id, Name: name, UserPIN: userPIN, SOPIN: soPIN})
	}
}

// WithMaxPINAttempts sets the number of wrong PINs after which a user of any
// partition is locked out (default 3).
func WithMaxPINAttempts(n int) Option {
	return func(s *envSettings) { s.maxPINAttempts = n }
}

// WithInvalidationRetention makes every partition keep destroyed objects
// invalidated for d (see server.PartitionOptions.InvalidationRetention).
func WithInvalidationRetention(d time.Duration) Option {
	return func(s *envSettings) { s.retention = d }
}

// WithRSA1024 lets every partition generate and import legacy 1024-bit RSA
// keys (see server.PartitionOptions.AllowRSA1024).
func WithRSA1024() Option {
	return func(s *envSettings) { s.allowRSA1024 = true }
}

// WithWorkers sets the node's number of workers (default: the number of CPUs).
func WithWorkers(n int) Option {
	return func(s *envSettings) { s.workers = n }
}

// WithQueueDepth sets how many requests may wait for a worker (default 256
// per worker).
func WithQueueDepth(n int) Option {
	return func(s *envSettings) { s.queueDepth = n }
}

// WithTicketLifetime sets how long login tickets stay valid (default 1h).
func WithTicketLifetime(d time.Duration) Option {
	return func(s *envSettings) { s.ticketLifetime = d }
}

// Start starts a node (or a cluster: WithNodes) for the test, stops it when
// the test ends, and returns the environment. By default the node serves one
// partition, ID 1 named "test", with User PIN "user-pin-1234", SO PIN
// "so-pin-5678" and lockout after 3 wrong PINs. Each node stores its state
// in a directory of tb.TempDir(), as a deployed node does: Kill loses its
// memory, not what it stored.
func Start(tb testing.TB, opts ...Option) *Env {
	tb.Helper()
	s := envSettings{maxPINAttempts: DefaultMaxPINAttempts}
	for _, o := range opts {
		o(&s)
	}
	if len(s.partitions) == 0 {
		s.partitions = []PartitionOptions{{
			ID: DefaultPartitionID, Name: DefaultPartitionName,
			UserPIN: DefaultUserPIN, SOPIN: DefaultSOPIN,
		}}
	}
	for i := range s.partitions {
		s.partitions[i].MaxPINAttempts = s.maxPINAttempts
		s.partitions[i].InvalidationRetention = s.retention
		s.partitions[i].AllowRSA1024 = s.allowRSA1024
	}
	c, err := StartCluster(ClusterOptions{
		Nodes:              s.nodes,
		Name:               "testenv-" + tb.Name(),
		Partitions:         s.partitions,
		Workers:            s.workers,
		QueueDepth:         s.queueDepth,
		TicketLifetime:     s.ticketLifetime,
		ReplicationTimeout: s.replicationTimeout,
		Replication:        s.replication,
		// Durable, as the nodes a deployment runs: every change a test
		// makes goes through the store, and Kill loses memory only.
		Dir: tb.TempDir(),
	})
	if err != nil {
		tb.Fatalf("testenv: start node: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	first := s.partitions[0]
	return &Env{
		Node:        c.nodes[0],
		Nodes:       c.Nodes(),
		Cluster:     c,
		PKI:         c.PKI(),
		Config:      c.Config(),
		Credential:  c.cred,
		Partition:   first.Name,
		PartitionID: first.ID,
		UserPIN:     first.UserPIN,
		SOPIN:       first.SOPIN,
		Dir:         tb.TempDir(),
	}
}

// WriteConfig writes the environment as files into Dir, as an installation
// would have them: keyhold.yaml (partitions, server_ca, secrets), the node
// CA as PEM, and the secrets file with the client credential (mode 0600). It
// returns the path of keyhold.yaml, for KEYHOLD_CONF or hsm.LoadConfig.
func (e *Env) WriteConfig() (path string, err error) {
	return writeConfig(e.Dir, e.Config, e.PKI.NodeCAPEM(), e.Credential)
}

// ConfigWithPriorities returns Config with node i at priority priorities[i]
// (see Cluster.ConfigWithPriorities).
func (e *Env) ConfigWithPriorities(priorities ...int) hsm.Config {
	return e.Cluster.ConfigWithPriorities(priorities...)
}

// Embedded is a node started by a program rather than a test, with a client
// credential and a ready configuration.
type Embedded struct {
	// Node is the running node.
	Node *Node
	// PKI issued the node's certificate and the client credential.
	PKI *PKI
	// Credential is the client credential, as a secrets file holds it.
	Credential *hsm.Credential
	// Certificate is the same credential, ready for TLS.
	Certificate tls.Certificate
	// Config is a ready client configuration with RootCAs and Credential set
	// in code, listing the node under each of its partitions.
	Config hsm.Config
}

// StartEmbedded starts a node (a new PKI when opts.PKI is nil), issues a client
// credential, and returns them with a configuration that uses them. The
// caller closes it.
func StartEmbedded(opts NodeOptions) (*Embedded, error) {
	if opts.PKI == nil {
		p, err := NewPKI()
		if err != nil {
			return nil, err
		}
		opts.PKI = p
	}
	cred, cert, err := opts.PKI.ClientCredential("keyhold-client")
	if err != nil {
		return nil, err
	}
	node, err := StartNode(opts)
	if err != nil {
		return nil, err
	}
	cfg := hsm.Config{
		RootCAs:    opts.PKI.NodeCAPool(),
		Credential: &cert,
	}
	for _, p := range node.Partitions() {
		cfg.Partitions = append(cfg.Partitions, hsm.PartitionConfig{
			ID:    p.ID,
			Name:  p.Name,
			Nodes: []hsm.NodeConfig{{Address: node.Addr()}},
		})
	}
	return &Embedded{Node: node, PKI: opts.PKI, Credential: (*hsm.Credential)(cred), Certificate: cert, Config: cfg}, nil
}

// WriteConfig writes keyhold.yaml, the node CA and the secrets file into dir,
// as Env.WriteConfig does, and returns the path of keyhold.yaml.
func (e *Embedded) WriteConfig(dir string) (path string, err error) {
	return writeConfig(dir, e.Config, e.PKI.NodeCAPEM(), e.Credential)
}

// Close stops the node.
func (e *Embedded) Close() error { return e.Node.Close() }

// WriteConfig writes cfg into dir as an installation would have it:
// keyhold.yaml, the node CA of p as PEM (node-ca.pem), and the secrets file
// with cred (keyhold.secrets, mode 0600), with absolute file names so that
// the configuration works from any working directory (the C library's). Code-only
// fields of cfg (RootCAs, Credential) are replaced by those files. Each file
// is replaced atomically: processes of one cluster may write the same
// directory at once. It returns the path of keyhold.yaml, for KEYHOLD_CONF
// or hsm.LoadConfig.
func WriteConfig(dir string, cfg hsm.Config, p *PKI, cred *hsm.Credential) (path string, err error) {
	return writeConfig(dir, cfg, p.NodeCAPEM(), cred)
}

// WriteEnrollConfig writes keyhold.yaml and the node CA into dir as
// WriteConfig does, but no credential: the configuration names
// dir/keyhold.secrets and selects client, for `ppin enroll` to create.
func WriteEnrollConfig(dir string, cfg hsm.Config, p *PKI, client string) (path string, err error) {
	return writeConfigFiles(dir, cfg, p.NodeCAPEM(), nil, client)
}

// WriteEnrollConfig writes the cluster's configuration without a credential
// (see the function WriteEnrollConfig), selecting client.
func (c *Cluster) WriteEnrollConfig(dir, client string) (path string, err error) {
	return writeConfigFiles(dir, c.Config(), c.PKI().NodeCAPEM(), nil, client)
}

func writeConfig(dir string, cfg hsm.Config, caPEM []byte, cred *hsm.Credential) (string, error) {
	return writeConfigFiles(dir, cfg, caPEM, cred, cred.Name)
}

func writeConfigFiles(dir string, cfg hsm.Config, caPEM []byte, cred *hsm.Credential, client string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("testenv: write config: %w", err)
	}
	cfg.RootCAs, cfg.Credential = nil, nil
	cfg.ServerCA = filepath.Join(dir, "node-ca.pem")
	cfg.Secrets = filepath.Join(dir, "keyhold.secrets")
	cfg.Client = client
	if err := atomicfile.Write(cfg.ServerCA, caPEM, 0o644); err != nil {
		return "", fmt.Errorf("testenv: write config: %w", err)
	}
	// The secrets file holds a private key: owner-only, as hsm.ReadSecrets
	// demands.
	if cred != nil {
		if err := hsm.WriteSecretsFile(cfg.Secrets, &hsm.Secrets{Credentials: []hsm.Credential{*cred}}); err != nil {
			return "", fmt.Errorf("testenv: write secrets file: %w", err)
		}
	}
	data, err := yaml.Marshal(&cfg)
	if err != nil {
		return "", fmt.Errorf("testenv: write config: %w", err)
	}
	path := filepath.Join(dir, "keyhold.yaml")
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return "", fmt.Errorf("testenv: write config: %w", err)
	}
	return path, nil
}
