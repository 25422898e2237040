package testenv

import (
	"time"

	"github.com/keyhold/keyhold/internal/faults"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server"
)

// The node's types, under the names tests have always used.
type (
	// NodeOptions configure a node (see server.NodeOptions). Faults is
	// set by StartNode.
	NodeOptions = server.NodeOptions
	// PartitionOptions configure one partition of a node.
	PartitionOptions = server.PartitionOptions
	// ClusterOptions configure a cluster (see server.ClusterOptions).
	ClusterOptions = server.ClusterOptions
	// PKI issues the certificates of nodes, peers and clients.
	PKI = server.PKI
	// ClientEntry is a node's record of one enrolled client.
	ClientEntry = server.ClientEntry
	// ClientInfo describes a client entry.
	ClientInfo = server.ClientInfo
	// Stats are counters of a node's activity.
	Stats = server.Stats
)

// Settings of the node, as package server defines them.
const (
	DefaultSetupTTL           = server.DefaultSetupTTL
	MaxSetupFailures          = server.MaxSetupFailures
	DefaultReplicationTimeout = server.DefaultReplicationTimeout
)

// ErrNodeClosed is returned by Restart after Close.
var ErrNodeClosed = server.ErrNodeClosed

// NewPKI makes a new PKI: a node CA and a client CA.
func NewPKI() (*PKI, error) { return server.NewPKI() }

// ParsePKI reads a PKI written by PKI.MarshalPEM.
func ParsePKI(data []byte) (*PKI, error) { return server.ParsePKI(data) }

// NewClientEntry makes a client entry and its one-time setup password.
func NewClientEntry(name string, ttl time.Duration) (ClientEntry, string, error) {
	return server.NewClientEntry(name, ttl)
}

// Node is a running software HSM (a server.Node) with the fault-injection
// switches that failover tests use. Every server.Node method is available
// on it.
type Node struct {
	*server.Node
	faults *faults.Set
}

// StartNode starts a node (see server.StartNode) that faults can be
// injected into.
func StartNode(opts NodeOptions) (*Node, error) {
	fs := new(faults.Set)
	opts.Faults = fs
	n, err := server.StartNode(opts)
	if err != nil {
		return nil, err
	}
	return &Node{Node: n, faults: fs}, nil
}

// SetLatency adds d before each reply the node sends to a client (0
// removes it). The delay holds the worker that answers, as a slow HSM
// would, so that with few workers it also fills the queue. Peers are not
// delayed: a slow HSM still replicates.
func (n *Node) SetLatency(d time.Duration) { n.faults.SetLatency(d) }

// SetBusy makes the node answer every client request (after the hello)
// with wire.CodeBusy, as an overloaded HSM does, without starting it.
func (n *Node) SetBusy(on bool) { n.faults.SetBusy(on) }

// RefuseConnections makes the node close every new connection as soon as
// it is accepted, before the TLS handshake. Open connections keep working.
func (n *Node) RefuseConnections(on bool) { n.faults.RefuseConnections(on) }

// DropReplies makes the node act on the next count requests of op as
// usual, replicating what they change, and then lose their replies: each
// such request's connection is closed instead of answered, as when the
// network fails after the node acted. A client that retries a state change
// with the same OpID, on this node or another of the cluster, must get the
// first result and no second object. count 0 cancels what is left.
func (n *Node) DropReplies(op wire.Op, count int) { n.faults.DropReplies(op, count) }

// Freeze makes the node stop reading and stop answering, with every socket
// left open, as a process stopped by SIGSTOP or a host behind a black-holed
// network looks from outside: clients and peers see connections that take
// bytes and never answer, not connections that fail. Requests already read
// still run, but their replies wait; connections accepted meanwhile
// complete no handshake. Freeze(false) resumes service on the same
// connections. The node's own links to its peers are left alone: it sends
// nothing on them anyway while it answers nobody, since every change it
// pushes comes from a request.
func (n *Node) Freeze(on bool) { n.faults.Freeze(on) }

// Kill stops the node abruptly, as a crash or a power cut would: like Stop,
// and its memory is lost too. Restart brings it back with what it kept on
// disk (nothing for a node without a directory: its partitions as
// configured), and a node of a cluster then catches up from its peers
// before it serves clients.
func (n *Node) Kill() { n.faults.Kill() }
