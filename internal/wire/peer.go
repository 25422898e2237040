package wire

import "github.com/keyhold/keyhold/ck"

// Peer operations are spoken only between the nodes of one cluster, to
// replicate partition state (HA cloning). They are not part of the client
// protocol: Known reports false for them, a node refuses them on a client's
// connection, and refuses client operations on a peer's. A peer
// authenticates with a certificate from the node CA that carries
// PeerCertificateURI; a client credential can never open a peer connection.
//
// Peer messages carry secrets a client never sees (key material in object
// records, PIN hashes), which is why they travel only on peer connections.
const (
	// OpPeerJoin: a node that starts or restarts asks a peer to bring it up
	// to date. The peer pushes its whole state to it with OpPeerApply and
	// answers once that is done, so that the node serves clients only after
	// it has caught up.
	OpPeerJoin Op = 64
	// OpPeerApply: merge changes (objects, destroyed handles, PIN states,
	// results of deduplicated requests) into the receiver's partitions. A
	// node sends one for every state change before it answers the client,
	// and a series of them to push its whole state to a peer that rejoins.
	OpPeerApply Op = 65
	// OpPeerClaim: before acting on a request that carries an OpID, a node
	// claims the OpID on its peers, so that a retry of the request sent to
	// another node waits for the first result instead of acting again.
	OpPeerClaim Op = 66
)

// PeerCertificateURI marks a node's peer certificate (a URI SAN), issued by
// the node CA. The node CA also issues node server certificates, which do not
// carry it; a certificate from the client CA never counts as a peer's,
// whatever it carries.
const PeerCertificateURI = "urn:keyhold:peer"

var peerOpNames = map[Op]string{
	OpPeerJoin:  "PeerJoin",
	OpPeerApply: "PeerApply",
	OpPeerClaim: "PeerClaim",
}

// Peer reports whether o is a node-to-node operation.
func (o Op) Peer() bool {
	_, ok := peerOpNames[o]
	return ok
}

// PeerJoinRequest asks a peer to push its whole state to the sender.
type PeerJoinRequest struct {
	// Address is the sender's address as its peers know it (the one in
	// their peer lists).
	Address string `cbor:"1,keyasint"`
	// Raft, to a node that replicates with Raft: add the node at Address
	// to the cluster as a voting member, or remove it (Remove). Only the
	// leader does it; the others refuse with CodeNoQuorum.
	Raft   bool `cbor:"2,keyasint,omitempty"`
	Remove bool `cbor:"3,keyasint,omitempty"`
}

// PeerJoinReply says the peer has pushed its whole state.
type PeerJoinReply struct{}

// PeerApplyRequest carries changes to merge. Every merge is idempotent and
// order-independent (see testenv/internal/token), so a message may be applied
// twice, late, or after a newer one.
type PeerApplyRequest struct {
	Partition uint32       `cbor:"1,keyasint"`
	Objects   []PeerObject `cbor:"2,keyasint,omitempty"` // created or changed
	Destroyed []uint64     `cbor:"3,keyasint,omitempty"` // handles of destroyed objects
	PINs      []PeerPIN    `cbor:"4,keyasint,omitempty"`
	Results   []PeerResult `cbor:"5,keyasint,omitempty"` // results of requests with an OpID
	Released  []PeerOpKey  `cbor:"6,keyasint,omitempty"` // claims given up without acting
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

// PeerClaimRequest claims an OpID before the sender acts on its request.
type PeerClaimRequest struct {
	Key PeerOpKey `cbor:"1,keyasint"`
}

// Claim outcomes.
const (
	// ClaimGranted: the receiver knew nothing of the request; it now waits
	// for the sender's result before acting on a retry.
	ClaimGranted uint8 = 0
	// ClaimDone: the request already ran; Result is its outcome, which the
	// sender answers with instead of acting.
	ClaimDone uint8 = 1
	// ClaimBusy: another node is acting on the request right now; the sender
	// acts on nothing and answers CodeBusy, so that the client tries again.
	ClaimBusy uint8 = 2
)

// PeerClaimReply answers a claim.
type PeerClaimReply struct {
	Status uint8       `cbor:"1,keyasint"`
	Result *PeerResult `cbor:"2,keyasint,omitempty"`
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
