package wire

import (
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/ck"
)

// Protocol versions this package speaks.
const (
	MinVersion uint16 = 1
	MaxVersion uint16 = 1
)

// Limits a node enforces on request contents, beyond MaxBodySize. They keep a
// single request's work bounded and are part of the protocol.
const (
	MaxAttributes     = 64        // attributes in one template or attribute list
	MaxAttributeValue = 64 << 10  // bytes in one attribute value
	MaxData           = 512 << 10 // bytes of data to sign, verify, encrypt or decrypt (pure EdDSA signs whole messages)
	MaxRandom         = 64 << 10  // bytes in one GenerateRandom request
	MaxPIN            = 256       // bytes in a PIN
	MaxFindResults    = 4096      // objects in one FindObjects reply
)

// OpID identifies one state-changing request across retries. The client
// picks it at random; a cluster that sees the same OpID again answers with the
// first result instead of acting twice, so that a retry never creates a second
// key.
type OpID [16]byte

// UnmarshalCBOR accepts only a byte string of exactly 16 bytes. The decoder
// would otherwise truncate a longer string, zero-fill a shorter one or take an
// array of integers, so that two different OpIDs could collapse into one and
// a retry be answered with another request's result.
func (id *OpID) UnmarshalCBOR(b []byte) error {
	if len(b) == 0 || b[0]>>5 != 2 { // CBOR major type 2: byte string
		return errors.New("wire: OpID is not a byte string")
	}
	var s []byte
	if err := decMode.Unmarshal(b, &s); err != nil {
		return err
	}
	if len(s) != len(id) {
		return fmt.Errorf("wire: OpID has %d bytes, want %d", len(s), len(id))
	}
	copy(id[:], s)
	return nil
}

// HelloRequest opens a connection.
type HelloRequest struct {
	MinVersion uint16 `cbor:"1,keyasint"`
	MaxVersion uint16 `cbor:"2,keyasint"`
	Client     string `cbor:"3,keyasint,omitempty"` // software name and version, for the node's logs
}

// HelloReply gives the version both sides will speak and what the node serves.
type HelloReply struct {
	Version    uint16             `cbor:"1,keyasint"`
	Node       string             `cbor:"2,keyasint,omitempty"`
	Partitions []PartitionSummary `cbor:"3,keyasint"`
}

// PartitionSummary names one partition a node serves.
type PartitionSummary struct {
	ID   uint32 `cbor:"1,keyasint"`
	Name string `cbor:"2,keyasint"`
}

// PingRequest asks a node whether it serves.
type PingRequest struct{}

// PingReply answers a PingRequest.
type PingReply struct{}

// PartitionInfoRequest asks for a partition's token information.
type PartitionInfoRequest struct {
	Partition uint32 `cbor:"1,keyasint"`
}

// PartitionInfoReply is what PKCS#11 reports in CK_TOKEN_INFO.
type PartitionInfoReply struct {
	ID           uint32 `cbor:"1,keyasint"`
	Name         string `cbor:"2,keyasint"`
	Flags        uint64 `cbor:"3,keyasint"` // CKF_* token flags
	MinPINLen    uint32 `cbor:"4,keyasint"`
	MaxPINLen    uint32 `cbor:"5,keyasint"`
	Manufacturer string `cbor:"6,keyasint"`
	Model        string `cbor:"7,keyasint"`
	Serial       string `cbor:"8,keyasint"`
	Objects      uint32 `cbor:"9,keyasint"`
	// MinRSABits is the smallest RSA key the partition generates or
	// imports (2048, or 1024 where legacy keys are allowed); 0 from a node
	// that does not say, which means 2048.
	MinRSABits uint32 `cbor:"10,keyasint,omitempty"`
}

// LoginRequest proves a PIN.
type LoginRequest struct {
	Partition uint32      `cbor:"1,keyasint"`
	User      ck.UserType `cbor:"2,keyasint"`
	PIN       []byte      `cbor:"3,keyasint"`
}

// LoginReply carries the login ticket: an opaque proof, bound to the client's
// identity, the partition, the user and the PIN's generation, that any node
// of the partition's cluster accepts until it expires. Requests are stateless:
// each one that needs a login carries the ticket.
type LoginReply struct {
	Ticket  []byte `cbor:"1,keyasint"`
	Expires int64  `cbor:"2,keyasint"` // Unix milliseconds
}

// InitPINRequest sets the User PIN; the ticket must be the SO's.
type InitPINRequest struct {
	Partition uint32 `cbor:"1,keyasint"`
	Ticket    []byte `cbor:"2,keyasint"`
	PIN       []byte `cbor:"3,keyasint"`
	OpID      OpID   `cbor:"4,keyasint"`
}

// SetPINRequest changes the PIN of User; the old PIN is the proof.
type SetPINRequest struct {
	Partition uint32      `cbor:"1,keyasint"`
	User      ck.UserType `cbor:"2,keyasint"`
	OldPIN    []byte      `cbor:"3,keyasint"`
	NewPIN    []byte      `cbor:"4,keyasint"`
	OpID      OpID        `cbor:"5,keyasint"`
}

// EmptyReply answers requests that return nothing but success.
type EmptyReply struct{}

// FindObjectsRequest searches a partition. Without a valid User ticket only
// public objects match. Want lists attributes to return with each object, so
// that a lookup costs one round trip.
type FindObjectsRequest struct {
	Partition uint32             `cbor:"1,keyasint"`
	Ticket    []byte             `cbor:"2,keyasint,omitempty"`
	Template  ck.Template        `cbor:"3,keyasint"`
	Want      []ck.AttributeType `cbor:"4,keyasint,omitempty"`
	Limit     uint32             `cbor:"5,keyasint,omitempty"` // 0: MaxFindResults
}

// FindObjectsReply lists the matching objects in a stable order.
type FindObjectsReply struct {
	Objects []FoundObject `cbor:"1,keyasint"`
}

// FoundObject is one search result: its handle and the wanted attributes it
// has and may reveal (sensitive and absent ones are left out).
type FoundObject struct {
	Handle     uint64      `cbor:"1,keyasint"`
	Attributes ck.Template `cbor:"2,keyasint"`
}

// GetAttributesRequest reads attributes of one object.
type GetAttributesRequest struct {
	Partition uint32             `cbor:"1,keyasint"`
	Ticket    []byte             `cbor:"2,keyasint,omitempty"`
	Handle    uint64             `cbor:"3,keyasint"`
	Types     []ck.AttributeType `cbor:"4,keyasint"`
}

// GetAttributesReply answers each requested type in order.
type GetAttributesReply struct {
	Values []AttributeResult `cbor:"1,keyasint"`
}

// AttributeResult is one attribute's value, or why it has none:
// CKR_ATTRIBUTE_SENSITIVE or CKR_ATTRIBUTE_TYPE_INVALID (RV 0 means OK).
type AttributeResult struct {
	Type  ck.AttributeType `cbor:"1,keyasint"`
	Value []byte           `cbor:"2,keyasint,omitempty"`
	RV    ck.ReturnValue   `cbor:"3,keyasint,omitempty"`
}

// SetAttributesRequest changes attributes of one object, all or nothing.
type SetAttributesRequest struct {
	Partition uint32      `cbor:"1,keyasint"`
	Ticket    []byte      `cbor:"2,keyasint,omitempty"`
	Handle    uint64      `cbor:"3,keyasint"`
	Template  ck.Template `cbor:"4,keyasint"`
	OpID      OpID        `cbor:"5,keyasint"`
}

// CreateObjectRequest creates an object (a certificate, a public key, data)
// or imports a key.
type CreateObjectRequest struct {
	Partition uint32      `cbor:"1,keyasint"`
	Ticket    []byte      `cbor:"2,keyasint,omitempty"`
	Template  ck.Template `cbor:"3,keyasint"`
	OpID      OpID        `cbor:"4,keyasint"`
}

// InitTokenRequest initializes a partition again (C_InitToken): the SO PIN
// is the proof, so it carries no ticket.
type InitTokenRequest struct {
	Partition uint32 `cbor:"1,keyasint"`
	SOPIN     []byte `cbor:"2,keyasint"`
	Label     string `cbor:"3,keyasint"`
	OpID      OpID   `cbor:"4,keyasint"`
}

// CopyObjectRequest copies an object (C_CopyObject). Template holds the
// attributes the copy takes instead of the original's: CKA_TOKEN,
// CKA_PRIVATE, CKA_MODIFIABLE and those SetAttributes may change.
type CopyObjectRequest struct {
	Partition uint32      `cbor:"1,keyasint"`
	Ticket    []byte      `cbor:"2,keyasint,omitempty"`
	Handle    uint64      `cbor:"3,keyasint"`
	Template  ck.Template `cbor:"4,keyasint"`
	OpID      OpID        `cbor:"5,keyasint"`
}

// ObjectSizeRequest asks for the size of one object (C_GetObjectSize).
type ObjectSizeRequest struct {
	Partition uint32 `cbor:"1,keyasint"`
	Ticket    []byte `cbor:"2,keyasint,omitempty"`
	Handle    uint64 `cbor:"3,keyasint"`
}

// ObjectSizeReply is the size of an object in bytes, as the node stores it.
type ObjectSizeReply struct {
	Size uint64 `cbor:"1,keyasint"`
}

// HandleReply returns the handle of a new object.
type HandleReply struct {
	Handle uint64 `cbor:"1,keyasint"`
}

// GenerateKeyPairRequest generates an asymmetric key pair inside the node.
type GenerateKeyPairRequest struct {
	Partition uint32       `cbor:"1,keyasint"`
	Ticket    []byte       `cbor:"2,keyasint,omitempty"`
	Mechanism ck.Mechanism `cbor:"3,keyasint"`
	Public    ck.Template  `cbor:"4,keyasint"`
	Private   ck.Template  `cbor:"5,keyasint"`
	OpID      OpID         `cbor:"6,keyasint"`
}

// GenerateKeyPairReply returns the handles of the new pair.
type GenerateKeyPairReply struct {
	Public  uint64 `cbor:"1,keyasint"`
	Private uint64 `cbor:"2,keyasint"`
}

// GenerateKeyRequest generates a secret key inside the node.
type GenerateKeyRequest struct {
	Partition uint32       `cbor:"1,keyasint"`
	Ticket    []byte       `cbor:"2,keyasint,omitempty"`
	Mechanism ck.Mechanism `cbor:"3,keyasint"`
	Template  ck.Template  `cbor:"4,keyasint"`
	OpID      OpID         `cbor:"5,keyasint"`
}

// DestroyObjectRequest destroys one object.
type DestroyObjectRequest struct {
	Partition uint32 `cbor:"1,keyasint"`
	Ticket    []byte `cbor:"2,keyasint,omitempty"`
	Handle    uint64 `cbor:"3,keyasint"`
	OpID      OpID   `cbor:"4,keyasint"`
}

// CryptRequest is the request of OpSign, OpEncrypt, OpDecrypt, OpAgree and
// OpDecapsulate (Data is the ciphertext): one mechanism applied with one key
// to Data. For hash-and-sign schemes the
// client hashes and sends the raw mechanism with the digest (CKM_ECDSA,
// CKM_RSA_PKCS on a DigestInfo, CKM_RSA_PKCS_PSS); pure EdDSA sends the
// message itself, at most MaxData bytes.
type CryptRequest struct {
	Partition uint32       `cbor:"1,keyasint"`
	Ticket    []byte       `cbor:"2,keyasint,omitempty"`
	Handle    uint64       `cbor:"3,keyasint"`
	Mechanism ck.Mechanism `cbor:"4,keyasint"`
	Data      []byte       `cbor:"5,keyasint"`
}

// DataReply carries the output of OpSign, OpEncrypt, OpDecrypt and
// OpGenerateRandom.
type DataReply struct {
	Data []byte `cbor:"1,keyasint"`
}

// VerifyRequest checks a signature; success is an EmptyReply, a bad signature
// the error CKR_SIGNATURE_INVALID.
type VerifyRequest struct {
	Partition uint32       `cbor:"1,keyasint"`
	Ticket    []byte       `cbor:"2,keyasint,omitempty"`
	Handle    uint64       `cbor:"3,keyasint"`
	Mechanism ck.Mechanism `cbor:"4,keyasint"`
	Data      []byte       `cbor:"5,keyasint"`
	Signature []byte       `cbor:"6,keyasint"`
}

// WrapKeyRequest wraps the key Key with the wrapping key Wrapping; the
// reply is a DataReply with the wrapped key.
type WrapKeyRequest struct {
	Partition uint32       `cbor:"1,keyasint"`
	Ticket    []byte       `cbor:"2,keyasint,omitempty"`
	Mechanism ck.Mechanism `cbor:"3,keyasint"`
	Wrapping  uint64       `cbor:"4,keyasint"`
	Key       uint64       `cbor:"5,keyasint"`
}

// UnwrapKeyRequest unwraps Wrapped with the key Unwrapping into a new object
// with the attributes of Template; the reply is a HandleReply.
type UnwrapKeyRequest struct {
	Partition  uint32       `cbor:"1,keyasint"`
	Ticket     []byte       `cbor:"2,keyasint,omitempty"`
	Mechanism  ck.Mechanism `cbor:"3,keyasint"`
	Unwrapping uint64       `cbor:"4,keyasint"`
	Wrapped    []byte       `cbor:"5,keyasint"`
	Template   ck.Template  `cbor:"6,keyasint"`
	OpID       OpID         `cbor:"7,keyasint"`
}

// DecapsulateKeyRequest decapsulates Ciphertext with the private key Key
// (CKM_ML_KEM) into a new secret key with the attributes of Template; the
// reply is a HandleReply.
type DecapsulateKeyRequest struct {
	Partition  uint32       `cbor:"1,keyasint"`
	Ticket     []byte       `cbor:"2,keyasint,omitempty"`
	Mechanism  ck.Mechanism `cbor:"3,keyasint"`
	Key        uint64       `cbor:"4,keyasint"`
	Ciphertext []byte       `cbor:"5,keyasint"`
	Template   ck.Template  `cbor:"6,keyasint"`
	OpID       OpID         `cbor:"7,keyasint"`
}

// EncapsulateKeyRequest encapsulates a fresh shared secret to the public key
// Key (CKM_ML_KEM) and stores the secret as a new secret key with the
// attributes of Template; the reply is an EncapsulateKeyReply.
type EncapsulateKeyRequest struct {
	Partition uint32       `cbor:"1,keyasint"`
	Ticket    []byte       `cbor:"2,keyasint,omitempty"`
	Mechanism ck.Mechanism `cbor:"3,keyasint"`
	Key       uint64       `cbor:"4,keyasint"`
	Template  ck.Template  `cbor:"5,keyasint"`
	OpID      OpID         `cbor:"6,keyasint"`
}

// EncapsulateKeyReply is the ciphertext for the holder of the private key,
// and the handle of the new secret key holding the shared secret.
type EncapsulateKeyReply struct {
	Handle     uint64 `cbor:"1,keyasint"`
	Ciphertext []byte `cbor:"2,keyasint"`
}

// DeriveKeyRequest derives a new key with the attributes of Template from
// the base key Base; the reply is a HandleReply.
type DeriveKeyRequest struct {
	Partition uint32       `cbor:"1,keyasint"`
	Ticket    []byte       `cbor:"2,keyasint,omitempty"`
	Mechanism ck.Mechanism `cbor:"3,keyasint"`
	Base      uint64       `cbor:"4,keyasint"`
	Template  ck.Template  `cbor:"5,keyasint"`
	OpID      OpID         `cbor:"6,keyasint"`
}

// GenerateRandomRequest asks for Length random bytes (at most MaxRandom).
type GenerateRandomRequest struct {
	Partition uint32 `cbor:"1,keyasint"`
	Length    uint32 `cbor:"2,keyasint"`
}

// ErrorBody is the body of a KindError reply.
type ErrorBody struct {
	Code    ck.ReturnValue `cbor:"1,keyasint"`
	Message string         `cbor:"2,keyasint,omitempty"`
}

// Enrollment (OpEnroll, OpRotate, OpRetire). A client is enrolled once: an
// administrator creates a client entry on the nodes with a one-time setup
// password, and ppin trades the password and a certificate signing request
// for a certificate from the client CA. The private key is generated on the
// client and never travels.

// Limits on enrollment requests.
const (
	MaxClientName    = 128      // bytes in a client entry's name
	MaxSetupPassword = 256      // bytes in a setup password
	MaxCSR           = 16 << 10 // bytes in a DER certificate signing request
)

// EnrollRequest is the only request, besides Hello, that a node accepts on a
// connection without a client certificate.
type EnrollRequest struct {
	// Name is the client entry's name; it becomes the certificate's CN.
	Name string `cbor:"1,keyasint"`
	// Password is the one-time setup password.
	Password []byte `cbor:"2,keyasint"`
	// CSR is a PKCS#10 request (DER), signed with the new private key: the
	// proof that the client holds it.
	CSR []byte `cbor:"3,keyasint"`
}

// CertificateReply carries a certificate issued by the client CA for
// OpEnroll and OpRotate.
type CertificateReply struct {
	// Certificate is the new client certificate (DER), CN = the entry's name.
	Certificate []byte `cbor:"1,keyasint"`
	// NodeCAs are the node CA certificates (DER), which the client may pin.
	NodeCAs [][]byte `cbor:"2,keyasint,omitempty"`
}

// RotateRequest asks for a certificate for a new key, for the client entry
// that the connection's certificate belongs to. The current certificate
// stays valid until the client retires it (OpRetire), so that the client
// can check that the new one works first.
type RotateRequest struct {
	CSR []byte `cbor:"1,keyasint"`
}

// RetireRequest revokes an older certificate of the same client entry as the
// connection's certificate, named by its SHA-256 fingerprint.
type RetireRequest struct {
	Fingerprint []byte `cbor:"1,keyasint"`
}

// Client administration (OpCreateClient, OpRevokeClient, OpListClients).
// Client entries belong to the node and replicate to its whole cluster; the
// requests name a partition only to carry a login ticket for it, which must
// be the SO's: the security officer of any partition the node serves
// administers the node's clients. A User ticket, or none, is refused with
// CKR_USER_NOT_LOGGED_IN.

// CreateClientRequest creates a client entry called Name with a one-time
// setup password valid for TTL milliseconds (the node's default, 72 hours,
// when 0). A retry with the same OpID from the same client identity gets the
// same password back instead of a second entry; the node keeps that reply
// in its deduplication cache for a few minutes, bound to the requesting
// client's certificate, so that no other client can obtain it.
type CreateClientRequest struct {
	Partition uint32 `cbor:"1,keyasint"`
	Ticket    []byte `cbor:"2,keyasint"`
	Name      string `cbor:"3,keyasint"`
	TTL       int64  `cbor:"4,keyasint,omitempty"` // milliseconds
	OpID      OpID   `cbor:"5,keyasint"`
}

// CreateClientReply carries the setup password: the only time it exists in
// the clear outside the administrator's hands. Expires is when it stops
// being valid (Unix milliseconds).
type CreateClientReply struct {
	Password string `cbor:"1,keyasint"`
	Expires  int64  `cbor:"2,keyasint"`
}

// RevokeClientRequest revokes the client entry called Name: every
// certificate issued to it, and any client certificate with that CN, is
// refused from the next request on, on open connections too. A name without
// an entry gets a revoked one, so that a credential issued outside
// enrollment can be revoked as well. Revoking twice is revoking once.
type RevokeClientRequest struct {
	Partition uint32 `cbor:"1,keyasint"`
	Ticket    []byte `cbor:"2,keyasint"`
	Name      string `cbor:"3,keyasint"`
}

// ListClientsRequest asks for every client entry of the node.
type ListClientsRequest struct {
	Partition uint32 `cbor:"1,keyasint"`
	Ticket    []byte `cbor:"2,keyasint"`
}

// BackupRequest asks for a backup, an SO operation. The first request
// (Snapshot empty) makes the node take a consistent snapshot of the
// partition (or, with Node, of the whole node: every partition, the client
// entries and the node's CAs), encrypt it under a key derived from Password
// with argon2id, keep it for a short while, and answer its first chunk;
// the next requests name the Snapshot and the Offset of the chunk they
// want, and need no password. The node never sends the snapshot
// unencrypted: the password, like a PIN, travels to it instead.
type BackupRequest struct {
	Partition uint32 `cbor:"1,keyasint"`
	Ticket    []byte `cbor:"2,keyasint"`
	Password  []byte `cbor:"3,keyasint,omitempty"`
	Node      bool   `cbor:"4,keyasint,omitempty"`
	Snapshot  []byte `cbor:"5,keyasint,omitempty"`
	Offset    uint64 `cbor:"6,keyasint,omitempty"`
}

// BackupReply is one chunk of an encrypted backup file: Data is its bytes
// from the request's Offset; Size is the whole file's size.
type BackupReply struct {
	Snapshot []byte `cbor:"1,keyasint"`
	Size     uint64 `cbor:"2,keyasint"`
	Data     []byte `cbor:"3,keyasint"`
}

// ListInvalidatedRequest asks the SO's partition for the destroyed objects
// it keeps invalidated (a partition with an invalidation retention keeps a
// destroyed object for that long: invisible and unusable, until the SO
// reactivates or purges it, or the retention is up).
type ListInvalidatedRequest struct {
	Partition uint32 `cbor:"1,keyasint"`
	Ticket    []byte `cbor:"2,keyasint"`
}

// ListInvalidatedReply lists invalidated objects, oldest first.
type ListInvalidatedReply struct {
	Objects []InvalidatedObject `cbor:"1,keyasint"`
}

// InvalidatedObject describes one invalidated object: its handle, when it
// was invalidated and when it will be purged (Unix ms), and its CKA_CLASS,
// CKA_KEY_TYPE, CKA_LABEL and CKA_ID (never key material).
type InvalidatedObject struct {
	Handle      uint64      `cbor:"1,keyasint"`
	Invalidated int64       `cbor:"2,keyasint"`
	Purge       int64       `cbor:"3,keyasint"`
	Attributes  ck.Template `cbor:"4,keyasint,omitempty"`
}

// InvalidatedRequest names one invalidated object, to reactivate
// (OpReactivate) or purge (OpPurge). Both change state: OpID makes a retry
// act once.
type InvalidatedRequest struct {
	Partition uint32 `cbor:"1,keyasint"`
	Ticket    []byte `cbor:"2,keyasint"`
	Handle    uint64 `cbor:"3,keyasint"`
	OpID      OpID   `cbor:"4,keyasint"`
}

// MaxBackupPassword bounds a backup password.
const MaxBackupPassword = 1024

// ListClientsReply lists the client entries, sorted by name.
type ListClientsReply struct {
	Clients []ClientStatus `cbor:"1,keyasint"`
}

// ClientStatus describes one client entry. It never carries the setup
// password or its hash.
type ClientStatus struct {
	Name     string `cbor:"1,keyasint"`
	Expires  int64  `cbor:"2,keyasint"` // of the setup password, Unix milliseconds
	Failures uint32 `cbor:"3,keyasint,omitempty"`
	Locked   bool   `cbor:"4,keyasint,omitempty"`
	Enrolled bool   `cbor:"5,keyasint,omitempty"`
	Revoked  bool   `cbor:"6,keyasint,omitempty"`
	// Active are the SHA-256 fingerprints of the certificates in use;
	// Retired those a rotation retired.
	Active  [][]byte `cbor:"7,keyasint,omitempty"`
	Retired [][]byte `cbor:"8,keyasint,omitempty"`
	Serial  string   `cbor:"9,keyasint,omitempty"` // of the latest certificate, hex
}
