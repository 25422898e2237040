package hsm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/keyhold/keyhold/ck"
)

// Backend is the engine's way to one node of a partition: a network HSM node
// speaking keyhold's protocol, or a token of a local PKCS#11 module (package
// hsm/pkcs11module). Everything above it (node choice, failover, retries,
// re-login, key caches, typed errors) is written once, in this package, for
// every backend.
//
// A backend answers each call in one of four ways, which the engine tells
// apart to decide what to do next:
//   - success;
//   - a refusal by the HSM: a *ck.Error with the PKCS#11 code (or one of the
//     sentinels below, such as ErrBusy or ErrLoginExpired), which says nothing
//     about the node's health;
//   - a failure of the node itself: an error that wraps a *NodeFailure (the
//     node is unreachable, its connection broke, the device reported an
//     error); the engine marks the node failed, tries another and probes it
//     back;
//   - the caller's context ended: ctx.Err().
//
// Methods must be safe for concurrent use and must return when ctx ends, even
// when the HSM does not answer.
type Backend interface {
	// Name identifies the node in errors and statistics: an address, or a
	// module path and token.
	Name() string
	// LoginScope groups backends that accept each other's login proof. The
	// nodes of a network cluster share one (a ticket is valid on every node
	// of the partition); every module token is a scope of its own, since
	// PKCS#11 login state belongs to one token.
	LoginScope() string
	// Ping checks that the node answers; the prober uses it to bring a failed
	// node back.
	Ping(ctx context.Context) error
	// Close releases the backend's connections, sessions and goroutines.
	Close() error

	// Info reports the partition's token information.
	Info(ctx context.Context, r Request) (PartitionInfo, error)
	// Login checks a PIN and returns the login proof that later requests
	// carry (Request.Ticket); a backend without tickets returns a non-nil
	// empty proof.
	Login(ctx context.Context, r Request, user UserType, pin []byte) (LoginResult, error)
	// InitPIN sets the User PIN; r carries the SO's proof.
	InitPIN(ctx context.Context, r Request, pin []byte) error
	// SetPIN changes user's PIN.
	SetPIN(ctx context.Context, r Request, user UserType, oldPIN, newPIN []byte) error
	// InitToken initializes the partition again (C_InitToken): with the SO
	// PIN as proof, it destroys every object that can be destroyed, sets the
	// token label, and leaves the User PIN uninitialized.
	InitToken(ctx context.Context, r Request, soPIN []byte, label string) error

	// FindObjects returns the objects matching tmpl with the attributes want.
	FindObjects(ctx context.Context, r Request, tmpl Template, want []AttributeType) ([]Object, error)
	// GetAttributes reads attributes of one object, one result per type.
	GetAttributes(ctx context.Context, r Request, h ObjectHandle, types []AttributeType) ([]AttributeResult, error)
	// SetAttributes changes attributes of one object, all or nothing.
	SetAttributes(ctx context.Context, r Request, h ObjectHandle, tmpl Template) error
	// CreateObject creates an object from a complete template.
	CreateObject(ctx context.Context, r Request, tmpl Template) (ObjectHandle, error)
	// GenerateKeyPair generates a key pair and returns its two handles.
	GenerateKeyPair(ctx context.Context, r Request, m Mechanism, public, private Template) (pub, priv ObjectHandle, err error)
	// GenerateKey generates a secret key.
	GenerateKey(ctx context.Context, r Request, m Mechanism, tmpl Template) (ObjectHandle, error)
	// DestroyObject destroys one object.
	DestroyObject(ctx context.Context, r Request, h ObjectHandle) error
	// CopyObject copies one object, the copy taking the attributes of tmpl
	// (C_CopyObject's rules), and returns the copy's handle.
	CopyObject(ctx context.Context, r Request, h ObjectHandle, tmpl Template) (ObjectHandle, error)
	// ObjectSize reports the bytes one object takes on the HSM
	// (C_GetObjectSize).
	ObjectSize(ctx context.Context, r Request, h ObjectHandle) (uint64, error)

	// Sign signs with a raw mechanism (see Partition.SignRaw).
	Sign(ctx context.Context, r Request, h ObjectHandle, m Mechanism, data []byte) ([]byte, error)
	// Verify checks a signature; a bad one is a CKR_SIGNATURE_INVALID refusal.
	Verify(ctx context.Context, r Request, h ObjectHandle, m Mechanism, data, sig []byte) error
	// Encrypt encrypts data in one part.
	Encrypt(ctx context.Context, r Request, h ObjectHandle, m Mechanism, data []byte) ([]byte, error)
	// Decrypt decrypts data in one part.
	Decrypt(ctx context.Context, r Request, h ObjectHandle, m Mechanism, data []byte) ([]byte, error)
	// GenerateRandom returns n random bytes.
	GenerateRandom(ctx context.Context, r Request, n int) ([]byte, error)

	// WrapKey returns the key h encrypted with the wrapping key w.
	WrapKey(ctx context.Context, r Request, w ObjectHandle, m Mechanism, h ObjectHandle) ([]byte, error)
	// UnwrapKey decrypts a wrapped key with u and stores it as a new object
	// with the attributes of tmpl.
	UnwrapKey(ctx context.Context, r Request, u ObjectHandle, m Mechanism, wrapped []byte, tmpl Template) (ObjectHandle, error)
	// DeriveKey derives a new key with the attributes of tmpl from the base
	// key (ECDH).
	DeriveKey(ctx context.Context, r Request, base ObjectHandle, m Mechanism, tmpl Template) (ObjectHandle, error)
	// Agree returns the ECDH shared secret of the EC private key h and the
	// public point in m's parameters (CKM_ECDH1_DERIVE, CKD_NULL), leaving
	// no object behind.
	Agree(ctx context.Context, r Request, h ObjectHandle, m Mechanism) ([]byte, error)

	// Decapsulate returns the shared secret that ciphertext encapsulates to
	// the ML-KEM private key h (CKM_ML_KEM), leaving no object behind.
	Decapsulate(ctx context.Context, r Request, h ObjectHandle, m Mechanism, ciphertext []byte) ([]byte, error)
	// DecapsulateKey decapsulates ciphertext with the private key h into a
	// new secret key object with the attributes of tmpl (C_DecapsulateKey).
	DecapsulateKey(ctx context.Context, r Request, h ObjectHandle, m Mechanism, ciphertext []byte, tmpl Template) (ObjectHandle, error)
	// EncapsulateKey encapsulates a fresh shared secret to the public key h,
	// stores it as a new secret key object with the attributes of tmpl, and
	// returns the ciphertext and the object (C_EncapsulateKey).
	EncapsulateKey(ctx context.Context, r Request, h ObjectHandle, m Mechanism, tmpl Template) (ciphertext []byte, key ObjectHandle, err error)
}

// Request is what every backend call carries besides its own arguments.
type Request struct {
	// Partition is the partition ID.
	Partition uint32
	// Ticket is the login proof from Backend.Login, or nil when the
	// application is not logged in: a backend must then show and use public
	// objects only.
	Ticket Ticket
	// ID identifies a state-changing request across its retries: a backend
	// that can (the network protocol does) makes a repeated ID act once.
	ID RequestID
}

// Ticket is a login proof, opaque to the engine.
type Ticket []byte

// LoginResult is a successful login: the proof, and when it stops being
// accepted (zero: until the node forgets it). The engine renews a proof
// once three quarters of its lifetime have passed.
type LoginResult struct {
	Ticket  Ticket
	Expires time.Time
}

// RequestID identifies one state-changing request across retries, on every
// node of a cluster.
type RequestID [16]byte

// NodeFailure says that a node failed, not that it refused a request: the
// engine marks the node failed and, where the request may be repeated, tries
// another node. Backends wrap it around the cause.
type NodeFailure struct {
	// Sent reports that the request may have reached the node before it
	// failed (a connection broke in flight), as opposed to a node that could
	// not be reached at all.
	Sent bool
	// Err is the cause.
	Err error
}

func (f *NodeFailure) Error() string { return "node failure: " + f.Err.Error() }

// Unwrap returns the cause.
func (f *NodeFailure) Unwrap() error { return f.Err }

// ErrLoginExpired is returned by a backend whose node no longer accepts the
// login proof (an expired ticket, a token that lost its login when the HSM
// restarted). The engine logs in again with the PIN the application gave and
// repeats the request once.
var ErrLoginExpired = errors.New("login no longer accepted")

// isNodeFailure reports whether err says the node failed.
func isNodeFailure(err error) bool {
	var f *NodeFailure
	return errors.As(err, &f)
}

// failureSent reports whether a node failure may have happened after the
// request reached the node.
func failureSent(err error) bool {
	var f *NodeFailure
	return errors.As(err, &f) && f.Sent
}

// BackendOpener builds the backend for a node of the configuration that is
// not a network address; see RegisterBackend.
type BackendOpener func(ctx context.Context, nc NodeConfig, pc PartitionConfig) (Backend, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]BackendOpener{}
)

// RegisterBackend makes a kind of node configurable. Package
// hsm/pkcs11module registers "module" when a program imports it, so that the
// core of keyhold never needs cgo: a program that uses local PKCS#11 modules
// opts in with
//
//	import _ "github.com/keyhold/keyhold/hsm/pkcs11module"
func RegisterBackend(kind string, open BackendOpener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, dup := openers[kind]; dup {
		panic(fmt.Sprintf("hsm: backend %q registered twice", kind))
	}
	openers[kind] = open
}

// RegisteredBackends lists the kinds of node this program can open besides
// network nodes.
func RegisteredBackends() []string {
	openersMu.RLock()
	defer openersMu.RUnlock()
	out := make([]string, 0, len(openers))
	for k := range openers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func opener(kind string) (BackendOpener, bool) {
	openersMu.RLock()
	defer openersMu.RUnlock()
	o, ok := openers[kind]
	return o, ok
}

// PartitionInfo is what a partition's token reports about itself, as
// PKCS#11's C_GetTokenInfo needs it.
type PartitionInfo struct {
	ID           uint32
	Name         string
	Flags        uint64 // CKF_* token flags
	MinPINLen    uint32
	MaxPINLen    uint32
	Manufacturer string
	Model        string
	Serial       string
	Objects      uint32
	// MinRSABits is the smallest RSA key the partition generates or
	// imports; 0 when the HSM does not say (the default, 2048).
	MinRSABits uint32
}

// PINCounter is what a partition's retry counter says of one PIN, from
// PKCS#11's token flags: CountLow after a wrong PIN since the last good one,
// FinalTry when the next wrong one locks it, Locked once it is locked (for
// the User, until the SO sets a new PIN).
type PINCounter struct {
	CountLow, FinalTry, Locked bool
}

// UserPIN reads the User PIN's counter from the flags.
func (i PartitionInfo) UserPIN() PINCounter {
	return pinCounter(i.Flags, ck.CKF_USER_PIN_COUNT_LOW, ck.CKF_USER_PIN_FINAL_TRY, ck.CKF_USER_PIN_LOCKED)
}

// SOPIN reads the SO PIN's counter from the flags.
func (i PartitionInfo) SOPIN() PINCounter {
	return pinCounter(i.Flags, ck.CKF_SO_PIN_COUNT_LOW, ck.CKF_SO_PIN_FINAL_TRY, ck.CKF_SO_PIN_LOCKED)
}

func pinCounter(flags, low, final, locked uint64) PINCounter {
	return PINCounter{CountLow: flags&low != 0, FinalTry: flags&final != 0, Locked: flags&locked != 0}
}

// AttributeResult is one attribute read by GetAttributes: a value, or the
// PKCS#11 code that says why there is none (CKR_ATTRIBUTE_SENSITIVE,
// CKR_ATTRIBUTE_TYPE_INVALID).
type AttributeResult struct {
	Type  AttributeType
	Value []byte
	RV    ck.ReturnValue
}
