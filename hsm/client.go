package hsm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/keyhold/keyhold/internal/wire"
)

// Client is the engine for one configuration: it owns the connections to
// every node, their health, and the login state of every partition. Open one
// per configuration and share it; all methods are safe for concurrent use.
type Client struct {
	cfg        Config
	metrics    *metrics
	nodes      map[string]*node // by Backend.Name
	partitions []*Partition
	byName     map[string]*Partition
	byID       map[uint32]*Partition

	stop     chan struct{}
	ctx      context.Context // canceled by Close: interrupts background work
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeMu  sync.Mutex
	isClosed bool
}

// Open validates cfg, loads the client credential and node pin, and returns a
// Client. It does not wait for nodes: connections are made on first use, so
// an application can start while an HSM is down, and calls fail with
// ErrUnavailable until one answers. ctx bounds reading files only.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{
		cfg:    cfg,
		nodes:  map[string]*node{},
		byName: map[string]*Partition{},
		byID:   map[uint32]*Partition{},
		stop:   make(chan struct{}),
	}
	m, err := newMetrics(cfg.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("hsm: metrics: %w", err)
	}
	c.metrics = m
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.openNodes(ctx); err != nil {
		c.closeNodes()
		return nil, err
	}
	c.wg.Add(1)
	go c.probeLoop()
	return c, nil
}

// openNodes builds every partition's nodes: network nodes, shared by address
// between partitions, and the backends that registered kinds open (module
// tokens).
func (c *Client) openNodes(ctx context.Context) error {
	var tlsCfg *tls.Config
	for _, pc := range c.cfg.Partitions {
		p := &Partition{client: c, id: pc.ID, name: pc.Name, keys: map[keyQuery]*Key{}}
		for _, nc := range pc.Nodes {
			var b Backend
			switch kind := nc.kind(); kind {
			case "network":
				if n, ok := c.nodes[nc.Address]; ok {
					p.route.add(n, nc.Priority)
					continue
				}
				if tlsCfg == nil {
					var err error
					if tlsCfg, err = c.cfg.clientTLS(); err != nil {
						return err
					}
				}
				nn := newNetNode(nc.Address, tlsCfg, c.cfg.Timeouts.ConnectTimeout())
				nn.readerGoroutine = c.cfg.ReaderGoroutines
				b = nn
			default:
				open, ok := opener(kind)
				if !ok {
					return fmt.Errorf("%w: partition %q: a %s node needs its backend: import github.com/keyhold/keyhold/hsm/pkcs11module (built with cgo)", ErrConfig, pc.Name, kind)
				}
				var err error
				if b, err = open(ctx, nc, pc); err != nil {
					return fmt.Errorf("hsm: partition %q: %w", pc.Name, err)
				}
			}
			if _, dup := c.nodes[b.Name()]; dup {
				b.Close()
				return fmt.Errorf("%w: partition %q: node %s is configured twice", ErrConfig, pc.Name, b.Name())
			}
			n := newNode(b)
			c.nodes[b.Name()] = n
			p.route.add(n, nc.Priority)
		}
		p.route.init()
		c.partitions = append(c.partitions, p)
		c.byName[p.name] = p
		c.byID[p.id] = p
	}
	return nil
}

func (c *Client) closeNodes() {
	for _, n := range c.nodes {
		n.b.Close()
	}
}

// clientTLS builds the TLS settings every node connection uses.
// loadServerCA reads the CA certificates of server_ca.
func loadServerCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: server_ca: %v", ErrConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: server_ca %s holds no PEM certificate", ErrConfig, path)
	}
	return pool, nil
}

func (cfg *Config) clientTLS() (*tls.Config, error) {
	ct := wire.ClientTLS{RootCAs: cfg.RootCAs}
	if ct.RootCAs == nil && cfg.ServerCA != "" {
		pool, err := loadServerCA(cfg.ServerCA)
		if err != nil {
			return nil, err
		}
		ct.RootCAs = pool
	}
	if cfg.ServerFingerprint != "" {
		fp, err := wire.ParseFingerprint(cfg.ServerFingerprint)
		if err != nil {
			return nil, fmt.Errorf("%w: server_fingerprint: %v", ErrConfig, err)
		}
		ct.Fingerprint = fp
	}
	var loader *credentialLoader
	if cfg.Credential != nil {
		ct.Certificate = *cfg.Credential
	} else {
		loader = &credentialLoader{path: cfg.Secrets, name: cfg.Client}
		cert, err := loader.load()
		if err != nil {
			return nil, err
		}
		ct.Certificate = cert
	}
	tc, err := ct.Config()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if loader != nil {
		// Each new connection reads the credential again when the secrets
		// file changed, so that a credential rotated by ppin is used
		// without restarting the application.
		tc.Certificates = nil
		tc.GetClientCertificate = loader.get
	}
	return tc, nil
}

// credentialLoader reads the client credential from the secrets file, again
// whenever the file changes. ppin replaces the file atomically (rename), so
// a change shows as a new modification time, size or inode.
type credentialLoader struct {
	path, name string

	mu   sync.Mutex
	stat os.FileInfo
	cert *tls.Certificate
}

func (l *credentialLoader) load() (tls.Certificate, error) {
	st, err := os.Stat(l.path)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("hsm: secrets: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cert != nil && os.SameFile(st, l.stat) && st.ModTime().Equal(l.stat.ModTime()) && st.Size() == l.stat.Size() {
		return *l.cert, nil
	}
	s, err := ReadSecrets(l.path)
	if err != nil {
		return tls.Certificate{}, err
	}
	cred, err := s.Credential(l.name)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := cred.TLSCertificate()
	if err != nil {
		return tls.Certificate{}, err
	}
	l.stat, l.cert = st, &cert
	return cert, nil
}

// get is the TLS client's GetClientCertificate. A secrets file that became
// unreadable or unsafe after Open does not take the client down: the last
// good credential is used, and the node decides whether it is still valid.
func (l *credentialLoader) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	cert, err := l.load()
	if err != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.cert == nil {
			return nil, err
		}
		return l.cert, nil
	}
	return &cert, nil
}

// Partitions returns the configured partitions, in configuration order.
func (c *Client) Partitions() []*Partition { return append([]*Partition(nil), c.partitions...) }

// Partition returns the partition called name.
func (c *Client) Partition(name string) (*Partition, error) {
	if p, ok := c.byName[name]; ok {
		return p, nil
	}
	return nil, &Error{Op: "partition", Kind: ErrUnknownPartition, Detail: fmt.Sprintf("no partition named %q in the configuration", name)}
}

// PartitionByID returns the partition with the given ID.
func (c *Client) PartitionByID(id uint32) (*Partition, error) {
	if p, ok := c.byID[id]; ok {
		return p, nil
	}
	return nil, &Error{Op: "partition", Kind: ErrUnknownPartition, Detail: fmt.Sprintf("no partition with id %d in the configuration", id)}
}

// NodeStats returns per-node statistics, sorted by address.
func (c *Client) NodeStats() []NodeStats {
	out := make([]NodeStats, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, n.stats())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// requestTimeout is the deadline a call gets when its context has none.
func (c *Client) requestTimeout() time.Duration { return c.cfg.Timeouts.RequestTimeout() }

// attemptTimeout is how long one attempt of a call of that kind may take on
// one node before the node counts as failed and the call moves on.
func (c *Client) attemptTimeout(kind opKind) time.Duration {
	if kind == opSlowWrite {
		return 0
	}
	return c.cfg.Timeouts.AttemptTimeout()
}

// probeInterval is how often failed nodes are checked for their return.
const probeInterval = 100 * time.Millisecond

// probeLoop actively brings failed nodes back: when a node's backoff has run
// out it is pinged, and it rejoins the rotation as soon as it answers, so
// that traffic returns to it without waiting for an application call to risk
// it. Each probe runs on its own goroutine, bounded by the attempt timeout,
// so that a node that hangs (a frozen HSM) delays no other node's probe.
func (c *Client) probeLoop() {
	defer c.wg.Done()
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	probing := map[*node]bool{}
	done := make(chan *node)
	for {
		select {
		case <-c.stop:
			for len(probing) > 0 {
				delete(probing, <-done)
			}
			return
		case n := <-done:
			delete(probing, n)
		case now := <-t.C:
			for _, n := range c.nodes {
				if probing[n] || n.isHealthy() || !n.usable(now) {
					continue
				}
				probing[n] = true
				go func() {
					n.run(c.ctx, c.cfg.Timeouts.AttemptTimeout(), n.b.Ping)
					done <- n
				}()
			}
		}
	}
}

// Close ends every connection and background goroutine of the client. Calls
// in flight fail; calls after Close return ErrClosed.
func (c *Client) Close() error {
	c.closeMu.Lock()
	if c.isClosed {
		c.closeMu.Unlock()
		return nil
	}
	c.isClosed = true
	close(c.stop)
	c.cancel()
	c.closeMu.Unlock()
	c.wg.Wait()
	for _, p := range c.partitions {
		p.forgetLogin()
	}
	c.closeNodes()
	return nil
}

func (c *Client) closed() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}
