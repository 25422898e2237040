package wire

import (
	"errors"

	"github.com/keyhold/keyhold/ck"
)

// Error codes. A KindError reply carries a PKCS#11 return value (CKR_*) for
// every failure that PKCS#11 has a name for, and one of the codes below, in
// the vendor-defined range, for failures of the protocol itself.
const (
	// CodeBadRequest: the body does not decode as the op's request.
	CodeBadRequest = ck.ReturnValue(0x80000000 + 1 + iota)
	// CodeUnknownOp: the op is not part of the negotiated version.
	CodeUnknownOp
	// CodeVersion: no protocol version in common; the node closes the connection.
	CodeVersion
	// CodeBusy: the node's queue is full; the request was not started and may be
	// sent again, to this node later or to another node now.
	CodeBusy
	// CodeTicketInvalid: the login ticket is expired, forged, or predates a PIN
	// change. The client logs in again and repeats the request.
	CodeTicketInvalid
	// CodeDeadline: the request's deadline passed before the node could start it.
	CodeDeadline
	// CodeUnknownPartition: the node serves no partition with that ID.
	CodeUnknownPartition
	// CodeHelloRequired: the first request on a connection must be OpHello.
	CodeHelloRequired
	// CodeShuttingDown: the node is stopping; the request was not started.
	CodeShuttingDown
	// CodeEnrollmentRequired: the connection presented no client certificate,
	// so it may only enroll (OpEnroll); every other op is refused.
	CodeEnrollmentRequired
	// CodeEnrollRefused: the node refused an Enroll: unknown entry, wrong,
	// expired or already used setup password, or a locked entry. The message
	// says which, never the password.
	CodeEnrollRefused
	// CodeClientRevoked: the client certificate of the connection was
	// revoked by an administrator (or retired by a rotation). The request was
	// not started; the client must enroll again, or reconnect with its newer
	// credential.
	CodeClientRevoked
	// CodeNoQuorum: the node replicates with Raft and is not in contact with
	// a majority of its cluster, so it refused a change (it still serves
	// signatures and reads). Another node, on the majority's side, may
	// accept it.
	CodeNoQuorum
)

// Errors of this package that are not replies from the peer.
var (
	// ErrBadBody: a message body failed to decode.
	ErrBadBody = errors.New("wire: malformed message body")
	// ErrClosed: the connection is closed, or broke while the request was in flight.
	ErrClosed = errors.New("wire: connection closed")
)

// RemoteError returns a reply error as an *ck.Error.
func RemoteError(b ErrorBody) *ck.Error { return &ck.Error{RV: b.Code, Msg: b.Message} }

// Retryable reports whether a request that failed with code may be sent
// again unchanged because the node did not start it.
func Retryable(code ck.ReturnValue) bool {
	switch code {
	case CodeBusy, CodeShuttingDown:
		return true
	}
	return false
}
