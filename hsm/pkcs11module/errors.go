//go:build cgo

package pkcs11module

import (
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/miekg/pkcs11"
)

// rvOf returns the PKCS#11 return code in err, from the module (a
// pkcs11.Error) or from this package (a *ck.Error).
func rvOf(err error) (ck.ReturnValue, bool) {
	var pe pkcs11.Error
	if errors.As(err, &pe) {
		return ck.ReturnValue(pe), true
	}
	var ce *ck.Error
	if errors.As(err, &ce) {
		return ce.RV, true
	}
	return 0, false
}

func hasRV(err error, rvs ...ck.ReturnValue) bool {
	rv, ok := rvOf(err)
	if !ok {
		return false
	}
	for _, r := range rvs {
		if rv == r {
			return true
		}
	}
	return false
}

// isSessionRV: the session is unusable (the module closed it, or lost it
// with the device). Such a session is closed and never put back in the pool.
// CKR_OPERATION_ACTIVE is one too: keyhold finishes every operation it
// starts, so an operation still active on a pooled session was left by a
// call that failed half-way (a device error between C_SignInit and C_Sign),
// and the session's state is not known.
func isSessionRV(rv ck.ReturnValue) bool {
	switch rv {
	case ck.CKR_OPERATION_ACTIVE,
		ck.CKR_SESSION_CLOSED, ck.CKR_SESSION_HANDLE_INVALID, ck.CKR_SESSION_COUNT,
		ck.CKR_SESSION_PARALLEL_NOT_SUPPORTED, ck.CKR_SESSION_READ_ONLY, ck.CKR_SESSION_EXISTS,
		ck.CKR_SESSION_READ_ONLY_EXISTS, ck.CKR_SESSION_READ_WRITE_SO_EXISTS:
		return true
	}
	return false
}

// isDeviceRV: the token or the module failed, not the request. The engine
// must treat the node as failed (as a dead network node) and probe it back.
// CKR_DEVICE_MEMORY is not one either: a full token is full on every node of
// its partition, and its answer is hsm.ErrPartitionFull. CKR_GENERAL_ERROR
// is not one: modules (SoftHSM2 among them) return it for
// requests they cannot do, and failing the node over a bad request would
// take a healthy token out of service for every caller.
func isDeviceRV(rv ck.ReturnValue) bool {
	switch rv {
	case ck.CKR_DEVICE_REMOVED, ck.CKR_DEVICE_ERROR, ck.CKR_TOKEN_NOT_PRESENT,
		ck.CKR_TOKEN_NOT_RECOGNIZED, ck.CKR_CRYPTOKI_NOT_INITIALIZED, ck.CKR_SLOT_ID_INVALID:
		return true
	}
	return false
}

// callError names the C function that failed; the code is the module's.
type callError struct {
	fn  string
	err error
}

func (e *callError) Error() string { return e.fn + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// cerr wraps a module error with the function's name; nil stays nil.
func cerr(fn string, err error) error {
	if err == nil {
		return nil
	}
	return &callError{fn: fn, err: err}
}

// refusal turns what the module returned into the engine's vocabulary: a
// *ck.Error with the module's code. Errors that are already classified
// (node failures, login expiry, contexts, closed) pass unchanged.
func (t *token) refusal(err error) error {
	if err == nil {
		return nil
	}
	var nf *hsm.NodeFailure
	if errors.As(err, &nf) || errors.Is(err, hsm.ErrLoginExpired) || errors.Is(err, hsm.ErrBusy) {
		return err
	}
	var ce *ck.Error
	if errors.As(err, &ce) {
		return ce
	}
	var pe pkcs11.Error
	if errors.As(err, &pe) {
		msg := t.mod.path
		var c *callError
		if errors.As(err, &c) {
			msg = c.fn + " in " + t.mod.path
		}
		return &ck.Error{RV: ck.ReturnValue(pe), Msg: msg}
	}
	return err
}

// nodeFailure wraps a device-level error for the engine.
func (t *token) nodeFailure(sent bool, err error) error {
	return &hsm.NodeFailure{Sent: sent, Err: fmt.Errorf("module %s token %s: %w", t.mod.path, t.desc(), err)}
}

// noMechanism is the refusal for a mechanism the token does not list.
func (t *token) noMechanism(m ck.MechanismType) error {
	return &ck.Error{RV: ck.CKR_MECHANISM_INVALID, Msg: fmt.Sprintf("%s has no %v", t.mod.path, m)}
}
