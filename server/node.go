package server

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/faults"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server/internal/token"
)

// Connection limits. They protect the node from clients that are slow or
// hostile, not from load: load is the worker pool's business.
const (
	// DefaultMaxConnections is the default of NodeOptions.MaxConnections.
	DefaultMaxConnections = 4096
	// DefaultEnrollIdleTimeout is the default of
	// NodeOptions.EnrollIdleTimeout: enrolling takes one request, so a
	// connection without a credential that stays silent this long is
	// closed rather than kept forever.
	DefaultEnrollIdleTimeout = 30 * time.Second
	// handshakeTimeout bounds the TLS handshake and the hello that follows,
	// so that a client that connects and says nothing holds a goroutine for
	// a few seconds only.
	handshakeTimeout = 5 * time.Second
	// writeTimeout bounds each write to a client that stops reading its
	// replies; after it the connection is dropped.
	writeTimeout = 5 * time.Second
)

// NodeOptions configure a node. The zero value of each field takes the
// default given next to it.
type NodeOptions struct {
	// Name is reported in the hello reply (default "keyhold").
	Name string
	// Address is the TCP address to listen on (default "127.0.0.1:0": a free
	// port on the loopback interface).
	Address string
	// Partitions are the partitions the node serves; at least one.
	Partitions []PartitionOptions
	// Workers is the number of goroutines that run requests (default
	// runtime.NumCPU()): cryptography runs on a pool sized to the cores.
	Workers int
	// QueueDepth is the number of requests that may wait for a worker
	// (default 256 per worker). A request that finds the queue full is
	// answered wire.CodeBusy at once.
	QueueDepth int
	// TicketLifetime is how long a login ticket stays valid (default 1h).
	TicketLifetime time.Duration
	// Observe, when set, is called once for each client request a worker
	// answers: its operation's name (wire.Op.String), how long it took from its arrival to its
	// answer, and whether the answer was an error. It runs on the worker,
	// so it must be quick (a metrics histogram's Observe is).
	Observe func(op string, d time.Duration, failed bool)
	// MaxConnections bounds the connections open at once, peers' and those
	// still in their handshake included (default DefaultMaxConnections).
	// A connection beyond it is closed as soon as it is accepted.
	MaxConnections int
	// EnrollIdleTimeout is how long a connection without a client
	// certificate, which may only enroll, is kept while it sends nothing
	// (default DefaultEnrollIdleTimeout).
	EnrollIdleTimeout time.Duration
	// PKI issues the node's certificate and defines the client CA that the
	// node trusts (default: a new PKI). The nodes of a cluster share one.
	PKI *PKI
	// Peers are the addresses of the other nodes of this node's cluster,
	// which serve the same partitions with the same ticket keys (see
	// PartitionOptions.TicketKey). With them the node replicates through
	// Raft (raft.go): Peers and this node are the cluster's first members,
	// and every change is committed by a majority of the cluster. Address
	// must then be the address the peers list for this node.
	Peers []string
	// ReplicationTimeout bounds each Raft message to a peer, connecting to
	// it included, and how long a lagging node waits to catch up with its
	// leader before it answers busy (default DefaultReplicationTimeout).
	ReplicationTimeout time.Duration

	// Replication is "" (the default: Raft when Peers or Join are given,
	// else the node serves alone) or ReplicationRaft, which also makes a
	// lone node a one-member Raft cluster that others may join later.
	Replication string
	// Join starts a node that does not bootstrap a cluster: a member adds
	// it (Node.AddVoter, `keyhold raft add`).
	Join bool

	// Listener, when set, is listened on instead of Address, and is the
	// node's to close: a cluster started at once opens every node's
	// listener first, to know all the addresses.
	Listener net.Listener
	// Faults are the faults a test harness injects (see internal/faults);
	// nil injects none.
	Faults *faults.Set
	// Dir, when set, is the node's directory: its state is stored there
	// (see store.go) and a node started again on it carries on where it
	// stopped, with its objects, PINs, retry counters and lockouts, client
	// entries, CA and address. Empty: the node keeps its state in memory
	// and loses it when it closes. A directory serves one node at a time:
	// StartNode fails with ErrDirInUse while another has it open.
	//
	// On a directory that holds a node's state, PKI may be nil (the
	// stored one is used) or must be the stored one (else
	// ErrStoreMismatch), and an Address with port 0 means the address the
	// node had.
	Dir string
}

// PartitionOptions configure one partition of a node.
type PartitionOptions struct {
	// ID is the partition's number: not 0, unique on the node.
	ID uint32
	// Name is the partition's name (the PKCS#11 token label): unique on the node.
	Name string
	// UserPIN and SOPIN are the initial PINs.
	UserPIN, SOPIN string
	// MaxPINAttempts is the number of consecutive wrong PINs after which a
	// user is locked out (0: the token's default).
	MaxPINAttempts int
	// InvalidationRetention, when positive, keeps a destroyed object
	// invalidated for this long before it is purged: invisible and unusable
	// to applications, listed, reactivated or purged early by the SO
	// (OpListInvalidated, OpReactivate, OpPurge). Zero (the default)
	// destroys at once.
	InvalidationRetention time.Duration
	// AllowRSA1024 lets the partition generate and import legacy RSA keys
	// of 1024 bits; by default RSA keys have at least 2048 (see
	// token.Config.AllowRSA1024). Nodes of one cluster should agree: a node
	// that does not allow them still stores and uses the keys it receives
	// from one that does.
	AllowRSA1024 bool
	// Module, when set, makes the partition a token of a local PKCS#11
	// module, which the node serves as a gateway (see gateway.go): the
	// partition holds and does what the token does, and UserPIN, SOPIN,
	// InvalidationRetention and AllowRSA1024 do not apply. MaxPINAttempts
	// counts the wrong PINs clients give the node. Needs a program that
	// imports package server/gateway, else StartNode fails with
	// ErrNoModules.
	Module *ModuleOptions
	// TicketKey is the key that authenticates login tickets. Nodes that serve
	// the same partition as a cluster share it, so that a ticket issued by
	// one is accepted by all. All zero: a random key of this node alone.
	TicketKey [32]byte
}

// Node is a software HSM: it serves partitions over TLS with the keyhold wire
// protocol, from a listener on a local address. It is for development and
// tests only, not a hardware security boundary.
type Node struct {
	name  string
	parts map[uint32]*partition
	// gateways are the partitions served by a module's token (gateway.go);
	// the rest of the node's state (storage, replication, backups) knows
	// only parts.
	gateways       map[uint32]*gatewayPartition
	summaries      []wire.PartitionSummary
	pki            *PKI
	tlsConf        *tls.Config
	ticketLifetime time.Duration
	observe        func(op string, d time.Duration, failed bool)
	dedup          *dedupCache
	// clients are the client entries (enrollment, revocation); see clients.go.
	clients *clientRegistry

	// The worker pool: jobs is bounded, and no goroutine is started per
	// request (DESIGN.md performance rules).
	jobs    chan job
	workers sync.WaitGroup
	// running counts requests being executed, by workers or inline by a
	// connection's reader (see readLoop), to keep inline ones within the
	// pool's size.
	running atomic.Int32

	// closing is closed by Close; wg counts the accept loop and the
	// connection goroutines.
	closing chan struct{}
	wg      sync.WaitGroup

	mu         sync.Mutex
	addr       string
	ln         net.Listener  // nil while stopped
	acceptDone chan struct{} // closed when ln's accept loop has exited
	open       map[*conn]struct{}
	closed     bool
	killed     bool // its memory was lost (kill): Restart reloads what it stored

	// faults are the faults injected by a test harness; nil in production.
	faults *faults.Set
	// st is the node's storage; nil for a node that keeps its state in
	// memory only.
	st *store
	// backups are the backup files being fetched (OpBackup).
	backups backups
	// maxConns and enrollIdle are NodeOptions.MaxConnections and
	// EnrollIdleTimeout.
	maxConns   int
	enrollIdle time.Duration
	stats      counters

	// raftMode is set for a node that replicates with Raft; rf is its Raft
	// instance, nil while it is killed (see raft()), and raftSetup starts
	// it again.
	raftMode  bool
	rf        atomic.Pointer[raftNode]
	raftSetup *raftSetup
	// caughtUp is set once the node, replicating with Raft, has caught up
	// with its leader since it (re)started (see current).
	caughtUp atomic.Bool
	// ready is false while a cluster node that (re)starts catches up from
	// its peers, and while it is stopped: clients are turned away at hello,
	// so that no client sees state older than what it saw elsewhere.
	ready atomic.Bool
	// life is held shared by every state change and exclusively by Kill,
	// so that no change lands on a token after it was wiped.
	life sync.RWMutex
	// lifecycle serializes Stop, Kill, Restart and Close.
	lifecycle sync.Mutex
}

// partition is one partition's state: its token (objects, PINs, retry
// counters) and its ticket key.
type partition struct {
	id   uint32
	name string
	tok  *token.Token
	keys *ticketKeyring
	// pinChecks serializes the PIN checks of each user (SO, User) on this
	// node, each with the replication of its outcome, so that a guess is
	// judged with every earlier guess made here already counted on the
	// peers: guessing on all nodes at once gains at most one guess per
	// other node.
	pinChecks [2]sync.Mutex
}

// pinCheck returns the lock serializing user u's PIN checks.
func (p *partition) pinCheck(u ck.UserType) *sync.Mutex {
	if u == ck.CKU_SO {
		return &p.pinChecks[0]
	}
	return &p.pinChecks[1]
}

// job is one request waiting for a worker. It is passed by value: queueing a
// request allocates nothing.
type job struct {
	c    *conn
	h    wire.Header
	body []byte
	at   time.Time         // when it was read: its deadline counts from here
	gw   *gatewayPartition // a request to a module partition, run by its workers
}

// StartNode starts a node listening on opts.Address and serving until Close.
func StartNode(opts NodeOptions) (n *Node, err error) {
	if opts.Listener != nil {
		// A listener handed over is the node's to close, also on failure.
		defer func() {
			if err != nil {
				opts.Listener.Close()
			}
		}()
	}
	if len(opts.Partitions) == 0 {
		return nil, errors.New("server: a node needs at least one partition")
	}
	if opts.Name == "" {
		opts.Name = "keyhold"
	}
	if opts.Address == "" {
		opts.Address = "127.0.0.1:0"
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.QueueDepth <= 0 {
		opts.QueueDepth = 256 * opts.Workers
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.EnrollIdleTimeout <= 0 {
		opts.EnrollIdleTimeout = DefaultEnrollIdleTimeout
	}
	if opts.TicketLifetime <= 0 {
		opts.TicketLifetime = time.Hour
	}
	var useRaft bool
	switch opts.Replication {
	case "":
		useRaft = len(opts.Peers) > 0 || opts.Join
	case ReplicationRaft:
		useRaft = true
	default:
		return nil, fmt.Errorf("server: unknown replication %q (want %q)", opts.Replication, ReplicationRaft)
	}
	var st *store
	if opts.Dir != "" {
		if st, err = openStore(opts.Dir); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				st.close()
			}
		}()
		if err = adoptStoredMeta(st, &opts); err != nil {
			return nil, err
		}
	}
	if opts.PKI == nil {
		p, err := NewPKI()
		if err != nil {
			return nil, err
		}
		opts.PKI = p
	}
	n = &Node{
		name:           opts.Name,
		parts:          make(map[uint32]*partition, len(opts.Partitions)),
		gateways:       map[uint32]*gatewayPartition{},
		pki:            opts.PKI,
		ticketLifetime: opts.TicketLifetime,
		observe:        opts.Observe,
		dedup:          newDedupCache(dedupTTL, dedupEntries),
		clients:        newClientRegistry(),
		jobs:           make(chan job, opts.QueueDepth),
		closing:        make(chan struct{}),
		open:           make(map[*conn]struct{}),
		faults:         opts.Faults,
		st:             st,
		maxConns:       opts.MaxConnections,
		enrollIdle:     opts.EnrollIdleTimeout,
	}
	opts.Faults.OnKill(n.kill)
	node := n
	defer func() {
		if err != nil {
			node.closeModules() // the tokens opened before the failure
		}
	}()
	names := make(map[string]bool, len(opts.Partitions))
	for _, po := range opts.Partitions {
		switch {
		case po.ID == 0:
			return nil, fmt.Errorf("server: partition %q: ID 0 is reserved (requests that name no partition)", po.Name)
		case po.Name == "":
			return nil, fmt.Errorf("server: partition %d has no name", po.ID)
		case n.parts[po.ID] != nil || n.gateways[po.ID] != nil:
			return nil, fmt.Errorf("server: partition ID %d given twice", po.ID)
		case names[po.Name]:
			return nil, fmt.Errorf("server: partition name %q given twice", po.Name)
		}
		names[po.Name] = true
		if po.Module != nil {
			g, err := openGateway(po)
			if err != nil {
				return nil, err
			}
			n.gateways[po.ID] = g
			n.summaries = append(n.summaries, wire.PartitionSummary{ID: po.ID, Name: po.Name})
			continue
		}
		tok, err := token.New(token.Config{
			Name: po.Name, ID: po.ID,
			UserPIN: po.UserPIN, SOPIN: po.SOPIN,
			MaxPINAttempts:        po.MaxPINAttempts,
			InvalidationRetention: po.InvalidationRetention,
			AllowRSA1024:          po.AllowRSA1024,
		})
		if err != nil {
			return nil, fmt.Errorf("server: partition %d (%s): %w", po.ID, po.Name, err)
		}
		keys, err := newTicketKeyring(po.ID, po.TicketKey)
		if err != nil {
			return nil, err
		}
		n.parts[po.ID] = &partition{id: po.ID, name: po.Name, tok: tok, keys: keys}
		n.summaries = append(n.summaries, wire.PartitionSummary{ID: po.ID, Name: po.Name})
	}
	if err := n.loadStored(); err != nil {
		return nil, err
	}
	cert, err := opts.PKI.NodeCertificate()
	if err != nil {
		return nil, err
	}
	n.tlsConf = wire.ServerTLS(cert, opts.PKI.ClientCAPool())
	var peerCert tls.Certificate
	if len(opts.Peers) > 0 || useRaft {
		if peerCert, err = opts.PKI.PeerCertificate(opts.Name); err != nil {
			return nil, err
		}
		// Peers present node-CA certificates; conn.serve tells them from
		// clients by roleOf.
		n.tlsConf = wire.ServerTLS(cert, opts.PKI.clientAndPeerCAPool())
	}
	if useRaft {
		// Raft's connections share the listener (raftstream.go).
		n.tlsConf.NextProtos = []string{raftALPN}
	}
	// A client that is not enrolled yet has no certificate: it may connect
	// without one, and then only enroll (see conn.readLoop). A certificate
	// it does present must still chain to a trusted CA.
	n.tlsConf.ClientAuth = tls.VerifyClientCertIfGiven

	ln := opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", opts.Address); err != nil {
			return nil, fmt.Errorf("server: listen: %w", err)
		}
	}
	// Restart listens again on this exact address, so a node given port 0
	// keeps the port it was assigned; so does a node started again on its
	// directory.
	n.addr = ln.Addr().String()
	if st != nil {
		pem, err := opts.PKI.MarshalPEM()
		if err == nil {
			err = st.writeMeta(nodeMeta{pki: pem, addr: n.addr})
		}
		if err != nil {
			if ln != opts.Listener {
				ln.Close()
			}
			return nil, err
		}
	}
	if opts.ReplicationTimeout <= 0 {
		opts.ReplicationTimeout = DefaultReplicationTimeout
	}
	if useRaft {
		dialTLS, err := wire.ClientTLS{Certificate: peerCert, RootCAs: n.pki.NodeCAPool()}.Config()
		if err == nil {
			n.raftSetup = &raftSetup{dir: opts.Dir, timeout: opts.ReplicationTimeout, peerTLS: dialTLS}
			if !opts.Join {
				n.raftSetup.bootstrap = append([]string{n.addr}, opts.Peers...)
			}
			var rn *raftNode
			if rn, err = n.startRaft(ln.Addr(), n.raftSetup); err == nil {
				n.raftMode = true
				n.rf.Store(rn)
				// The first members of a new cluster start together and
				// empty: none has anything to catch up with.
				n.caughtUp.Store(rn.fresh)
			}
		}
		if err != nil {
			if ln != opts.Listener {
				ln.Close()
			}
			return nil, err
		}
	}
	n.workers.Add(opts.Workers)
	for range opts.Workers {
		go n.worker()
	}
	n.startGateways()
	for _, p := range n.parts {
		if p.tok.Retention() > 0 {
			n.wg.Add(1)
			go n.sweep()
			break
		}
	}
	n.mu.Lock()
	n.serveLocked(ln)
	n.mu.Unlock()
	n.ready.Store(true)
	return n, nil
}

// Addr returns the address the node listens on, host:port.
func (n *Node) Addr() string { return n.addr }

// Name returns the node's name, as its hello reply gives it.
func (n *Node) Name() string { return n.name }

// PKI returns the PKI that issued the node's certificate and whose client CA
// the node trusts.
func (n *Node) PKI() *PKI { return n.pki }

// Partitions lists the partitions the node serves.
func (n *Node) Partitions() []wire.PartitionSummary {
	return append([]wire.PartitionSummary(nil), n.summaries...)
}

// serveLocked starts an accept loop on ln. n.mu is held.
func (n *Node) serveLocked(ln net.Listener) {
	done := make(chan struct{})
	n.ln, n.acceptDone = ln, done
	n.wg.Add(1)
	go n.acceptLoop(ln, done)
}

func (n *Node) acceptLoop(ln net.Listener, done chan struct{}) {
	defer n.wg.Done()
	defer close(done)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait rather than spin.
			select {
			case <-time.After(10 * time.Millisecond):
				continue
			case <-n.closing:
				return
			}
		}
		if nc = n.faults.Accept(nc); nc == nil {
			continue // refused
		}
		c := &conn{n: n, raw: nc}
		n.mu.Lock()
		if n.closed || n.ln != ln {
			n.mu.Unlock()
			nc.Close()
			continue
		}
		if len(n.open) >= n.maxConns {
			// Each connection holds a goroutine and buffers: past the cap a
			// flood of connections costs the node nothing more.
			n.mu.Unlock()
			n.stats.overCap.Add(1)
			nc.Close()
			continue
		}
		n.open[c] = struct{}{}
		n.wg.Add(1) // under mu, with closed false: Close has not started waiting
		n.mu.Unlock()
		n.stats.accepted.Add(1)
		go c.serve()
	}
}

// Close stops the node: it stops listening, closes every connection, and
// returns once every goroutine the node started has exited. Partition state
// is lost.
func (n *Node) Close() error {
	// Not while a Restart starts the node's links again.
	n.lifecycle.Lock()
	defer n.lifecycle.Unlock()
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	close(n.closing)
	ln := n.ln
	n.ln = nil
	conns := n.openLocked()
	n.mu.Unlock()
	n.ready.Store(false)

	if ln != nil {
		ln.Close()
	}
	if rf := n.rf.Swap(nil); rf != nil {
		// Before the store closes: Raft applies to it until it has shut
		// down.
		rf.close()
	}
	for _, c := range conns {
		c.drop()
	}
	n.wg.Wait()
	// Every reader has exited, so nothing sends on jobs any more.
	close(n.jobs)
	n.stopGateways()
	n.workers.Wait()
	n.closeModules()
	if n.st != nil {
		// Every change was committed before it was answered: there is
		// nothing to flush, only the lock to release.
		return n.st.close()
	}
	return nil
}

func (n *Node) openLocked() []*conn {
	conns := make([]*conn, 0, len(n.open))
	for c := range n.open {
		conns = append(conns, c)
	}
	return conns
}

func (n *Node) worker() {
	defer n.workers.Done()
	for j := range n.jobs {
		n.running.Add(1)
		n.run(j)
		n.running.Add(-1)
	}
}

// run answers one request. Nothing a request does may take the node down:
// a panic is answered CKR_GENERAL_ERROR and the worker goes on.
func (n *Node) run(j job) {
	defer j.c.inflight.Add(-1)
	if j.gw == nil {
		// Replies written while requests run may share one write. Not
		// while a module call runs: a module that blocks must not hold
		// back the connection's other replies.
		j.c.sc.Begin()
		defer j.c.sc.End()
	}
	if j.c.gone.Load() {
		// The connection was dropped while the request waited: nobody can
		// receive the reply, and a client that retries a state change does
		// so with the same OpID, so skipping it is safe.
		return
	}
	defer func() {
		if r := recover(); r != nil {
			n.stats.panics.Add(1)
			j.c.replyError(j.h, errInternal)
		}
	}()
	n.stats.requests.Add(1)
	if j.h.DeadlineMS != 0 && time.Since(j.at) >= time.Duration(j.h.DeadlineMS)*time.Millisecond {
		n.delay()
		j.c.replyError(j.h, errDeadline)
		return
	}
	n.faults.BeforeDispatch(j.h)
	var reply any
	var err error
	if j.gw != nil {
		reply, err = j.gw.serve(n, j)
	} else {
		reply, err = n.dispatch(j.c, j.h, j.body)
	}
	n.delay()
	if n.faults.TakeDrop(j.h.Op) {
		n.dropReply(j.c)
		return
	}
	if n.observe != nil {
		n.observe(j.h.Op.String(), time.Since(j.at), err != nil)
	}
	if err != nil {
		j.c.replyError(j.h, err)
		return
	}
	j.c.reply(j.h, reply)
}

var errDeadline = &ck.Error{RV: wire.CodeDeadline, Msg: "the request's deadline passed before a worker was free"}

// delay waits for the injected latency, if any, or until the node closes.
func (n *Node) delay() {
	d := n.faults.Latency()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-n.closing:
	}
}

// conn is one client connection.
type conn struct {
	n        *Node
	raw      net.Conn
	sc       *wire.ServerConn
	gone     atomic.Bool
	inflight atomic.Int32 // requests read and not yet answered
	clientID [32]byte     // SHA-256 of the client's certificate: tickets bind to it
	// principal names the client entry the certificate was issued to (its
	// CN): a retry after the client rotated its certificate is still the
	// same client's, for deduplication.
	principal [32]byte
	peer      bool // another node of the cluster, not a client (see peerLoop)
	// enrollOnly: the client presented no certificate; it may send Enroll
	// only (after Hello).
	enrollOnly bool
	cn         string // the client certificate's CN: its entry's name
	// revGen and revoked cache the revocation check of the certificate:
	// it is done again only when the node's revocations change. Only the
	// connection's reader (one goroutine at a time) uses them.
	revGen  uint64
	revoked bool
	tickets [4]atomic.Pointer[ticketMemo]
}

// principalOf names the client entry cn in deduplication keys.
func principalOf(cn string) [32]byte {
	return sha256.Sum256([]byte("keyhold client entry\x00" + cn))
}

func (c *conn) serve() {
	n := c.n
	defer n.wg.Done()
	reading := false
	defer func() {
		// A bug in reading one client's frames costs that connection only,
		// never the node.
		if r := recover(); r != nil {
			n.stats.panics.Add(1)
		}
		if !reading {
			c.forget()
		}
	}()

	// A frozen node completes no handshake (see faults.Conn).
	if fc, ok := c.raw.(*faults.Conn); ok && !fc.Pause() {
		return
	}
	// The handshake and the hello share one deadline: a client that opens a
	// connection and stalls costs the node this long at most.
	_ = c.raw.SetDeadline(time.Now().Add(handshakeTimeout))
	tc := tls.Server(c.raw, n.tlsConf)
	if err := tc.Handshake(); err != nil {
		n.stats.handshakeFailures.Add(1)
		return
	}
	// A certificate, when given, chains to the client CA (or, on a cluster
	// node, to the node CA); the leaf is the client's identity.
	state := tc.ConnectionState()
	switch {
	case len(state.PeerCertificates) == 0:
		// No credential yet: an enrolling client (see clients.go).
		c.enrollOnly = true
	case n.pki.roleOf(state.VerifiedChains) == roleClient:
		c.cn = state.PeerCertificates[0].Subject.CommonName
	case n.pki.roleOf(state.VerifiedChains) == rolePeer && state.NegotiatedProtocol == raftALPN:
		// A peer's Raft connection: the transport reads it from here.
		if rf := n.raft(); rf != nil {
			_ = c.raw.SetDeadline(time.Time{})
			n.mu.Lock()
			delete(n.open, c)
			n.mu.Unlock()
			if rf.stream.handoff(tc, c.raw) {
				reading = true // the stream owns it now
			}
			return
		}
		n.stats.handshakeFailures.Add(1)
		return
	case n.pki.roleOf(state.VerifiedChains) == rolePeer:
		c.peer = n.raftMode
		if !c.peer {
			n.stats.handshakeFailures.Add(1)
			return
		}
	default:
		n.stats.handshakeFailures.Add(1)
		return
	}
	if !c.enrollOnly {
		c.clientID = sha256.Sum256(state.PeerCertificates[0].Raw)
		c.principal = principalOf(c.cn)
	}
	c.sc = wire.NewServerConn(tc, writeTimeout)
	if !c.hello() {
		return
	}
	_ = c.raw.SetDeadline(time.Time{})
	reading = true
	if c.peer {
		c.peerLoop()
		return
	}
	c.readLoop()
}

// hello handles the first request, which must be OpHello: the connection
// speaks nothing before the version is agreed.
func (c *conn) hello() bool {
	n := c.n
	h, body, err := c.sc.Read()
	if err != nil {
		n.noteReadError(err)
		return false
	}
	if h.Op != wire.OpHello {
		c.replyError(h, &ck.Error{RV: wire.CodeHelloRequired, Msg: "the first request on a connection must be Hello"})
		return false
	}
	var req wire.HelloRequest
	if err := wire.Unmarshal(body, &req); err != nil {
		c.replyError(h, &ck.Error{RV: wire.CodeBadRequest, Msg: "malformed Hello request"})
		return false
	}
	v, ok := wire.NegotiateVersion(req)
	if !ok {
		c.replyError(h, ck.Errorf(wire.CodeVersion, "no common protocol version: client speaks %d..%d, node %d..%d",
			req.MinVersion, req.MaxVersion, wire.MinVersion, wire.MaxVersion))
		return false
	}
	if !c.peer {
		if !n.ready.Load() {
			c.replyError(h, errNotReady)
			return false
		}
		n.delay()
	}
	return c.sc.Reply(h, wire.HelloReply{Version: v, Node: n.name, Partitions: n.summaries}) == nil
}

// readLoop reads requests and queues them for the workers. It never blocks
// on the queue: a full queue is answered CodeBusy at once, so that a client
// can go to another node instead of waiting behind an overloaded one.
func (c *conn) readLoop() {
	n := c.n
	defer func() {
		if r := recover(); r != nil {
			n.stats.panics.Add(1)
		}
		c.forget()
	}()
	for {
		if c.enrollOnly {
			_ = c.raw.SetReadDeadline(time.Now().Add(n.enrollIdle))
		}
		h, body, err := c.sc.Read()
		if err != nil {
			n.noteReadError(err)
			return
		}
		switch {
		case !h.Op.Known():
			// A newer client may try an op this node does not have; the
			// connection stays usable.
			c.replyError(h, ck.Errorf(wire.CodeUnknownOp, "unknown op %d", uint16(h.Op)))
		case h.Op == wire.OpHello:
			c.replyError(h, &ck.Error{RV: wire.CodeBadRequest, Msg: "Hello was already done on this connection"})
		case c.enrollOnly && h.Op != wire.OpEnroll:
			// Without a credential a connection can prove nothing but a
			// setup password: everything else needs the enrolled identity.
			c.replyError(h, errEnrollmentRequired)
		case !c.enrollOnly && c.isRevoked():
			// Checked on every request, not at the handshake only, so that
			// a connection opened before the revocation stops working too.
			c.replyError(h, errClientRevoked)
		case n.faults.Busy():
			n.stats.busy.Add(1)
			c.replyError(h, errBusy)
		default:
			if g := n.gatewayOf(h.Op, body); g != nil {
				// A module partition's requests run on its own workers.
				g.queue(n, job{c: c, h: h, body: body, at: time.Now()})
				break
			}
			alone := c.inflight.Add(1) == 1 && h.Flags&wire.FlagPipelined == 0
			if alone && !c.sc.Buffered() && quick(h.Op, body) && n.claimInline() {
				// The client has this one request in flight (it says so, and
				// nothing else of it is here) and the node is idle: run the
				// request on this goroutine. It starts at once instead of
				// waiting for a worker to wake up, which on an idle node is
				// most of the latency, and nothing from this client waits to
				// be read meanwhile. Pipelined requests go through the pool,
				// so that reading never waits for cryptography.
				n.run(job{c: c, h: h, body: body, at: time.Now()})
				n.running.Add(-1)
				continue
			}
			select {
			case n.jobs <- job{c: c, h: h, body: body, at: time.Now()}:
			default:
				c.inflight.Add(-1)
				n.stats.busy.Add(1)
				c.replyError(h, errBusy)
			}
		}
		if c.gone.Load() {
			return
		}
	}
}

// quick reports whether a request is short enough to be worth running on
// the reader goroutine: everything but key generation and RSA private key
// operations. Those take a millisecond or more, so the hand-off saved is
// small beside them, and running them inline measured slower (an RSA-2048
// signature at parallelism 1 gained 190 µs of latency inline, where ECDSA
// P-256 lost 40 µs).
func quick(op wire.Op, body []byte) bool {
	switch op {
	case wire.OpGenerateKeyPair, wire.OpGenerateKey:
		return false
	case wire.OpSign, wire.OpDecrypt, wire.OpEncrypt, wire.OpVerify:
		var peek struct {
			Mechanism struct {
				Type ck.MechanismType `cbor:"1,keyasint"`
			} `cbor:"4,keyasint"`
		}
		if wire.Peek(body, &peek) != nil {
			return false // the worker will report what is wrong with it
		}
		switch peek.Mechanism.Type {
		case ck.CKM_RSA_PKCS, ck.CKM_RSA_PKCS_PSS, ck.CKM_RSA_PKCS_OAEP, ck.CKM_RSA_X_509:
			return false
		}
	}
	return true
}

// claimInline reserves the right to run a request on its reader's
// goroutine. Only an idle node does that: nothing running, nothing queued.
// Under load, running requests inline would make readers the workers and
// the pool's bound meaningless, and measured slower.
func (n *Node) claimInline() bool {
	return len(n.jobs) == 0 && n.running.CompareAndSwap(0, 1)
}

var errBusy = &ck.Error{RV: wire.CodeBusy, Msg: "node busy: request not started"}

var (
	errEnrollmentRequired = &ck.Error{RV: wire.CodeEnrollmentRequired, Msg: "this connection presented no client certificate: only Enroll is allowed; enroll this host with ppin first"}
	errClientRevoked      = &ck.Error{RV: wire.CodeClientRevoked, Msg: "this client certificate has been revoked; enroll again or use the newer credential"}
)

// isRevoked reports whether the connection's certificate is revoked,
// checking again only after the node's revocations changed.
func (c *conn) isRevoked() bool {
	if g := c.n.clients.gen.Load(); g != c.revGen {
		c.revoked = c.n.clients.isRevoked(c.clientID, c.cn)
		c.revGen = g
	}
	return c.revoked
}

// errNotReady turns clients away while the node catches up with its cluster.
var errNotReady = &ck.Error{RV: wire.CodeBusy, Msg: "node is catching up with its cluster; use another node"}

// noteReadError counts reads that failed for another reason than the peer or
// the node closing the connection: malformed, oversized or truncated frames,
// TLS errors, a stalled hello.
func (n *Node) noteReadError(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	n.stats.protocolErrors.Add(1)
}

// reply sends a successful reply. A connection that can't take it (the
// client stopped reading, or left) is dropped.
func (c *conn) reply(h wire.Header, v any) {
	if err := c.sc.Reply(h, v); err != nil {
		c.drop()
	}
}

// replyError sends err as an error reply: a *ck.Error with its code and
// message, anything else as CKR_GENERAL_ERROR without details, which may be
// internal.
func (c *conn) replyError(h wire.Header, err error) {
	var ce *ck.Error
	if !errors.As(err, &ce) {
		ce = errInternal
	}
	if err := c.sc.ReplyError(h, ce.RV, ce.Msg); err != nil {
		c.drop()
	}
}

// drop closes the connection; its reader exits and forgets it.
func (c *conn) drop() {
	c.gone.Store(true)
	c.raw.Close()
}

func (c *conn) forget() {
	c.drop()
	c.n.mu.Lock()
	delete(c.n.open, c)
	c.n.mu.Unlock()
}
