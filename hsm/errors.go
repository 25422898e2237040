package hsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// Typed errors. Every error the engine returns wraps exactly one of them, so
// that callers branch with errors.Is, never on messages:
//
//	if errors.Is(err, hsm.ErrPINIncorrect) { ... }
//
// An *Error carries the details (operation, partition, node, PKCS#11 code).
var (
	ErrNotFound             = errors.New("object not found")
	ErrAmbiguous            = errors.New("more than one object matches")
	ErrPINIncorrect         = errors.New("PIN incorrect")
	ErrPINLocked            = errors.New("PIN locked")
	ErrPINInvalid           = errors.New("PIN has an invalid length or characters")
	ErrPINNotInitialized    = errors.New("user PIN not initialized")
	ErrNotLoggedIn          = errors.New("not logged in")
	ErrAlreadyLoggedIn      = errors.New("already logged in")
	ErrPermission           = errors.New("the object's attributes forbid this operation")
	ErrAttributeSensitive   = errors.New("attribute is sensitive")
	ErrAttributeReadOnly    = errors.New("attribute is read-only")
	ErrAttributeInvalid     = errors.New("invalid attribute type or value")
	ErrTemplate             = errors.New("incomplete or inconsistent template")
	ErrMechanismUnsupported = errors.New("mechanism not supported")
	ErrMechanismParam       = errors.New("invalid mechanism parameters")
	ErrKeyType              = errors.New("key type, size or curve not suitable")
	ErrDataInvalid          = errors.New("invalid input data")
	ErrSignatureInvalid     = errors.New("signature invalid")
	ErrUnavailable          = errors.New("HSM unavailable")
	ErrBusy                 = errors.New("HSM busy")
	ErrProtocol             = errors.New("protocol error")
	ErrUnknownPartition     = errors.New("unknown partition")
	ErrClosed               = errors.New("client closed")
	ErrInternal             = errors.New("HSM internal error")
	// ErrNotSupported: the node cannot do this at all, such as client
	// administration on a PKCS#11 module token, which has no enrolled
	// clients.
	ErrNotSupported = errors.New("operation not supported by this node")
	// ErrPartitionFull: the partition holds as many objects as its HSM
	// allows; destroy some (or purge invalidated ones) to make room.
	ErrPartitionFull = errors.New("partition full")
	// ErrClientRevoked: the node revoked this client's credential. The
	// engine has already retried once on a new connection, which reads the
	// secrets file again (a rotation may have written a newer credential);
	// the host must be enrolled again.
	ErrClientRevoked = errors.New("client credential revoked")
	// ErrNotEnrolled: the connection presented no client credential, so the
	// node allows only enrollment (ppin enroll).
	ErrNotEnrolled = errors.New("client not enrolled")
	// ErrNoQuorum: the node replicates with Raft and is cut off from the
	// majority of its cluster, so it refused a change; it still signs.
	ErrNoQuorum = errors.New("HSM cluster has no quorum")
)

// Error describes a failed engine call. It wraps one of the sentinel errors
// above (see errors.Is) and never carries PINs, secrets or key bytes.
type Error struct {
	Op        string         // the engine operation, such as "sign" or "login"
	Partition string         // partition name, when one was involved
	Node      string         // node address, when one answered
	Code      ck.ReturnValue // the PKCS#11 return value the node gave, or 0
	Kind      error          // the sentinel
	Detail    string         // the node's or engine's explanation
}

func (e *Error) Error() string {
	s := "hsm: " + e.Op
	if e.Partition != "" {
		s += " on partition " + e.Partition
	}
	if e.Node != "" {
		s += " (node " + e.Node + ")"
	}
	s += ": " + e.Kind.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Kind }

// codeKinds maps a node's reply code to a sentinel.
var codeKinds = map[ck.ReturnValue]error{}

func init() {
	for kind, codes := range map[error][]ck.ReturnValue{
		ErrNotFound:          {ck.CKR_OBJECT_HANDLE_INVALID, ck.CKR_KEY_HANDLE_INVALID},
		ErrPINIncorrect:      {ck.CKR_PIN_INCORRECT},
		ErrPINLocked:         {ck.CKR_PIN_LOCKED},
		ErrPINInvalid:        {ck.CKR_PIN_INVALID, ck.CKR_PIN_LEN_RANGE},
		ErrPINNotInitialized: {ck.CKR_USER_PIN_NOT_INITIALIZED},
		ErrNotLoggedIn:       {ck.CKR_USER_NOT_LOGGED_IN},
		ErrAlreadyLoggedIn:   {ck.CKR_USER_ALREADY_LOGGED_IN, ck.CKR_USER_ANOTHER_ALREADY_LOGGED_IN},
		ErrPermission: {ck.CKR_KEY_FUNCTION_NOT_PERMITTED, ck.CKR_ACTION_PROHIBITED, ck.CKR_KEY_UNEXTRACTABLE,
			ck.CKR_KEY_NOT_WRAPPABLE},
		ErrAttributeSensitive:   {ck.CKR_ATTRIBUTE_SENSITIVE},
		ErrAttributeReadOnly:    {ck.CKR_ATTRIBUTE_READ_ONLY},
		ErrAttributeInvalid:     {ck.CKR_ATTRIBUTE_TYPE_INVALID, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		ErrTemplate:             {ck.CKR_TEMPLATE_INCOMPLETE, ck.CKR_TEMPLATE_INCONSISTENT},
		ErrMechanismUnsupported: {ck.CKR_MECHANISM_INVALID},
		ErrMechanismParam:       {ck.CKR_MECHANISM_PARAM_INVALID},
		ErrKeyType:              {ck.CKR_KEY_TYPE_INCONSISTENT, ck.CKR_KEY_SIZE_RANGE, ck.CKR_CURVE_NOT_SUPPORTED},
		ErrDataInvalid: {ck.CKR_DATA_INVALID, ck.CKR_DATA_LEN_RANGE, ck.CKR_ENCRYPTED_DATA_INVALID,
			ck.CKR_ENCRYPTED_DATA_LEN_RANGE, ck.CKR_ARGUMENTS_BAD, ck.CKR_WRAPPED_KEY_INVALID, ck.CKR_WRAPPED_KEY_LEN_RANGE},
		ErrSignatureInvalid: {ck.CKR_SIGNATURE_INVALID, ck.CKR_SIGNATURE_LEN_RANGE},
		ErrUnavailable:      {wire.CodeShuttingDown, ck.CKR_DEVICE_REMOVED, ck.CKR_TOKEN_NOT_PRESENT},
		ErrBusy:             {wire.CodeBusy},
		ErrProtocol:         {wire.CodeBadRequest, wire.CodeUnknownOp, wire.CodeVersion, wire.CodeHelloRequired},
		ErrUnknownPartition: {wire.CodeUnknownPartition},
		ErrClientRevoked:    {wire.CodeClientRevoked},
		ErrNotEnrolled:      {wire.CodeEnrollmentRequired},
		ErrNoQuorum:         {wire.CodeNoQuorum},
		ErrNotSupported:     {ck.CKR_FUNCTION_NOT_SUPPORTED},
		ErrPartitionFull:    {ck.CKR_DEVICE_MEMORY},
	} {
		for _, c := range codes {
			codeKinds[c] = kind
		}
	}
}

// opError builds the engine's error for a failed call. err is what the
// transport returned: a node's reply (*ck.Error), a transport failure, or the
// caller's context ending.
func (p *Partition) opError(op string, node string, err error) error {
	if err == nil {
		return nil
	}
	var he *Error
	if errors.As(err, &he) {
		if he.Op == "" {
			// An error the engine made without context (final): name the
			// call.
			c := *he
			c.Op, c.Node = op, node
			if p != nil {
				c.Partition = p.name
			}
			return &c
		}
		return err
	}
	e := &Error{Op: op, Node: node, Kind: ErrInternal}
	if p != nil {
		e.Partition = p.name
	}
	var ce *ck.Error
	switch {
	case errors.Is(err, ErrLoginExpired):
		// Still refused after logging in again once.
		e.Kind = ErrNotLoggedIn
		e.Code = ck.CKR_USER_NOT_LOGGED_IN
		e.Detail = err.Error()
	case errors.As(err, &ce):
		e.Code = ce.RV
		e.Detail = ce.Msg
		if k, ok := codeKinds[ce.RV]; ok {
			e.Kind = k
		} else {
			e.Detail = ce.Error()
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// Keep the context's error in the chain: callers test for it.
		return fmt.Errorf("hsm: %s on partition %s: %w", op, e.Partition, err)
	case isNodeFailure(err), wire.IsTransport(err):
		e.Kind = ErrUnavailable
		e.Detail = err.Error()
	case errors.Is(err, ErrBusy):
		e.Kind = ErrBusy
		e.Detail = err.Error()
	case errors.Is(err, ErrClosed):
		e.Kind = ErrClosed
	default:
		e.Detail = err.Error()
	}
	return e
}

func newError(op string, p *Partition, kind error, format string, args ...any) *Error {
	e := &Error{Op: op, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	if p != nil {
		e.Partition = p.name
	}
	return e
}
