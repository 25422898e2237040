package wire

import "github.com/keyhold/keyhold/ck"

// Peer operations are spoken only between the nodes of one cluster, which
// replicate partition state through Raft. They are not part of the client
// protocol: Known reports false for them, a node refuses them on a client's
// connection, and refuses client operations on a peer's. A peer
// authenticates with a certificate from the node CA that carries
// PeerCertificateURI; a client credential can never open a peer connection.
//
// Peer messages carry secrets a client never sees (key material in object
// records, PIN hashes), which is why they travel only on peer connections.
const (
	// OpPeerJoin: a membership change (PeerJoinRequest): add a node to
	// the cluster as a voting member, or remove one. Only the leader does
	// it.
	OpPeerJoin Op = 64
	// OpPeerApply: a follower's change (objects, destroyed handles, PIN
	// states, client entries, claims and results of deduplicated requests)
	// for the leader to append to the cluster's log. An empty one asks the
	// leader how far it has applied, for the follower to catch up.
	OpPeerApply Op = 65
	// OpPeerApplied asks a node how far it has applied the cluster's log
	// (PeerApplyReply.Index): a node that changed a client entry waits
	// until every member has it.
	OpPeerApplied Op = 67
)

// PeerCertificateURI marks a node's peer certificate (a URI SAN), issued by
// the node CA. The node CA also issues node server certificates, which do not
// carry it; a certificate from the client CA never counts as a peer's,
// whatever it carries.
const PeerCertificateURI = "urn:keyhold:peer"

var peerOpNames = map[Op]string{
	OpPeerJoin:    "PeerJoin",
	OpPeerApply:   "PeerApply",
	OpPeerApplied: "PeerApplied",
}

// Peer reports whether o is a node-to-node operation.
func (o Op) Peer() bool {
	_, ok := peerOpNames[o]
	return ok
}

// PeerJoinRequest adds the node at Address to the cluster as a voting
// member, or removes it (Remove). Only the leader does it; the others
// refuse with CodeNoQuorum.
type PeerJoinRequest struct {
	// Address is the node's listen address, which is its Raft identity.
	Address string `cbor:"1,keyasint"`
	// Raft is always true: it tells this request from the whole-state
	// pushes of the replication that Raft replaced, which are refused.
	Raft   bool `cbor:"2,keyasint,omitempty"`
	Remove bool `cbor:"3,keyasint,omitempty"`
}

// PeerAppliedRequest asks how far the receiver has applied the log; the
// reply is a PeerApplyReply with its Index.
type PeerAppliedRequest struct{}

// PeerJoinReply says the membership changed.
type PeerJoinReply struct{}

// PeerApplyRequest carries changes to merge: one entry of the cluster's
// Raft log. Every merge is idempotent and order-independent (see
// server/internal/token), so an entry may be applied twice, or after a
// newer one, with no harm.
type PeerApplyRequest struct {
	Partition uint32       `cbor:"1,keyasint"`
	Objects   []PeerObject `cbor:"2,keyasint,omitempty"` // created or changed
	Destroyed []uint64     `cbor:"3,keyasint,omitempty"` // handles of destroyed objects
	PINs      []PeerPIN    `cbor:"4,keyasint,omitempty"`
	Results   []PeerResult `cbor:"5,keyasint,omitempty"` // results of requests with an OpID
	// Claims say that a node is about to act on a request with an OpID
	// (key 6 was the replaced replication's released claims).
	Claims []PeerClaim `cbor:"8,keyasint,omitempty"`
	// Clients are client entries (enrollment). They belong to the node, not
	// to a partition: a request that carries only clients may name
	// partition 0.
	Clients []PeerClient `cbor:"7,keyasint,omitempty"`
}

// PeerApplyReply acknowledges a PeerApplyRequest: the receiver has merged it.
// A Raft leader answers a follower's change with the index of the log entry
// that holds it, for the follower to wait until it has applied it.
type PeerApplyReply struct {
	Index uint64 `cbor:"1,keyasint,omitempty"`
	// Claimants holds, for each claim of the request, the token of the
	// claim that won (the first of its request in the log).
	Claimants []uint64 `cbor:"2,keyasint,omitempty"`
}

// PeerObject is an object's full record: handle, version and every
// attribute, key material included.
type PeerObject struct {
	Handle     uint64      `cbor:"1,keyasint"`
	Version    uint64      `cbor:"2,keyasint"`
	Writer     uint64      `cbor:"3,keyasint"`
	Attributes ck.Template `cbor:"4,keyasint"`
	// Invalidated is when the object was invalidated (Unix ms; see
	// OpListInvalidated); 0 for a live object.
	Invalidated int64 `cbor:"5,keyasint,omitempty"`
}

// PeerPIN is one user's PIN state: salted hash, version, retry counters.
type PeerPIN struct {
	User       ck.UserType       `cbor:"1,keyasint"`
	Set        bool              `cbor:"2,keyasint,omitempty"`
	Salt       []byte            `cbor:"3,keyasint,omitempty"`
	Hash       []byte            `cbor:"4,keyasint,omitempty"`
	Generation uint64            `cbor:"5,keyasint"`
	Writer     uint64            `cbor:"6,keyasint,omitempty"`
	Epoch      uint64            `cbor:"7,keyasint,omitempty"`
	Locked     bool              `cbor:"8,keyasint,omitempty"`
	Failures   []PeerPINFailures `cbor:"9,keyasint,omitempty"`
	// Label is the token label C_InitToken set, on the SO's record only.
	Label string `cbor:"10,keyasint,omitempty"`
}

// PeerPINFailures counts the wrong PINs one replica saw.
type PeerPINFailures struct {
	Replica uint64 `cbor:"1,keyasint"`
	Count   uint32 `cbor:"2,keyasint"`
}

// PeerOpKey names one deduplicated request: the client that sent it (the
// SHA-256 of its certificate), its OpID, partition, op, and the access level
// it was made with (a node-defined number).
type PeerOpKey struct {
	Client    []byte `cbor:"1,keyasint"`
	OpID      OpID   `cbor:"2,keyasint"`
	Partition uint32 `cbor:"3,keyasint"`
	Op        Op     `cbor:"4,keyasint"`
	Access    uint8  `cbor:"5,keyasint,omitempty"`
}

// PeerResult is the first result of a deduplicated request: the reply body
// (CBOR, as sent to the client) or an error code and message.
type PeerResult struct {
	Key     PeerOpKey      `cbor:"1,keyasint"`
	Reply   []byte         `cbor:"2,keyasint,omitempty"`
	Code    ck.ReturnValue `cbor:"3,keyasint,omitempty"` // 0: success, the reply is Reply
	Message string         `cbor:"4,keyasint,omitempty"`
	Expires int64          `cbor:"5,keyasint"` // Unix milliseconds after which it may be forgotten
}

// PeerClaim says that the node that wrote it is about to act on the request
// Key names. In the cluster's log the first claim of a request wins on every
// node: a retry of the request that reaches another node meanwhile waits for
// the winner's result (PeerApplyRequest.Results) instead of acting again.
type PeerClaim struct {
	Key PeerOpKey `cbor:"1,keyasint"`
	// Token is the claimant's random name for this attempt: it tells a
	// node whether the first claim is its own.
	Token uint64 `cbor:"2,keyasint"`
	// Expires is when the claim may be given up (Unix milliseconds): the
	// claimant is presumed dead.
	Expires int64 `cbor:"3,keyasint"`
}

// PeerClient is one client entry, as the nodes of a cluster replicate it
// (PeerApplyRequest.Clients). The record with the higher Version wins, ties
// broken by the higher Writer, so merging is idempotent and
// order-independent like every other peer merge.
type PeerClient struct {
	Name     string   `cbor:"1,keyasint"`
	Version  uint64   `cbor:"2,keyasint"`
	Writer   uint64   `cbor:"3,keyasint"`
	Salt     []byte   `cbor:"4,keyasint,omitempty"`
	Hash     []byte   `cbor:"5,keyasint,omitempty"`
	Time     uint32   `cbor:"6,keyasint,omitempty"` // argon2id passes
	Memory   uint32   `cbor:"7,keyasint,omitempty"` // argon2id memory, KiB
	Threads  uint8    `cbor:"8,keyasint,omitempty"` // argon2id lanes
	Expires  int64    `cbor:"9,keyasint"`           // Unix milliseconds
	Failures uint32   `cbor:"10,keyasint,omitempty"`
	Locked   bool     `cbor:"11,keyasint,omitempty"`
	Enrolled bool     `cbor:"12,keyasint,omitempty"`
	Revoked  bool     `cbor:"13,keyasint,omitempty"`
	Active   [][]byte `cbor:"14,keyasint,omitempty"` // SHA-256 of certificates in use
	Retired  [][]byte `cbor:"15,keyasint,omitempty"` // SHA-256 of certificates revoked
	Serial   string   `cbor:"16,keyasint,omitempty"` // of the latest certificate, hex
}
