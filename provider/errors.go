package provider

import (
	"context"
	"errors"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// sentinelCodes gives each of the engine's typed errors its one PKCS#11
// return code, for errors that carry no more precise code from the HSM.
var sentinelCodes = []struct {
	err error
	rv  ck.ReturnValue
}{
	{hsm.ErrNotFound, ck.CKR_OBJECT_HANDLE_INVALID},
	{hsm.ErrAmbiguous, ck.CKR_FUNCTION_FAILED},
	{hsm.ErrPINIncorrect, ck.CKR_PIN_INCORRECT},
	{hsm.ErrPINLocked, ck.CKR_PIN_LOCKED},
	{hsm.ErrPINInvalid, ck.CKR_PIN_INVALID},
	{hsm.ErrPINNotInitialized, ck.CKR_USER_PIN_NOT_INITIALIZED},
	{hsm.ErrNotLoggedIn, ck.CKR_USER_NOT_LOGGED_IN},
	{hsm.ErrAlreadyLoggedIn, ck.CKR_USER_ALREADY_LOGGED_IN},
	{hsm.ErrPermission, ck.CKR_KEY_FUNCTION_NOT_PERMITTED},
	{hsm.ErrAttributeSensitive, ck.CKR_ATTRIBUTE_SENSITIVE},
	{hsm.ErrAttributeReadOnly, ck.CKR_ATTRIBUTE_READ_ONLY},
	{hsm.ErrAttributeInvalid, ck.CKR_ATTRIBUTE_VALUE_INVALID},
	{hsm.ErrTemplate, ck.CKR_TEMPLATE_INCONSISTENT},
	{hsm.ErrMechanismUnsupported, ck.CKR_MECHANISM_INVALID},
	{hsm.ErrMechanismParam, ck.CKR_MECHANISM_PARAM_INVALID},
	{hsm.ErrKeyType, ck.CKR_KEY_TYPE_INCONSISTENT},
	{hsm.ErrDataInvalid, ck.CKR_DATA_INVALID},
	{hsm.ErrSignatureInvalid, ck.CKR_SIGNATURE_INVALID},
	// PKCS#11 has no code for "every node of the cluster is down"; a removed
	// device is what applications already handle by reconnecting later.
	{hsm.ErrUnavailable, ck.CKR_DEVICE_REMOVED},
	// Busy survived the engine's retries: the request failed, the device is
	// fine, and trying again later may work.
	{hsm.ErrBusy, ck.CKR_FUNCTION_FAILED},
	{hsm.ErrProtocol, ck.CKR_DEVICE_ERROR},
	// The library cannot use the token: the node does not serve the
	// configured partition, or does not accept this client's credential.
	{hsm.ErrUnknownPartition, ck.CKR_TOKEN_NOT_RECOGNIZED},
	{hsm.ErrClientRevoked, ck.CKR_TOKEN_NOT_RECOGNIZED},
	{hsm.ErrNotEnrolled, ck.CKR_TOKEN_NOT_RECOGNIZED},
	{hsm.ErrNodeIdentity, ck.CKR_TOKEN_NOT_RECOGNIZED},
	{hsm.ErrClosed, ck.CKR_CRYPTOKI_NOT_INITIALIZED},
	{hsm.ErrNotSupported, ck.CKR_FUNCTION_NOT_SUPPORTED},
	{hsm.ErrPartitionFull, ck.CKR_DEVICE_MEMORY},
	// A cluster cut off from its majority refuses changes and still signs:
	// the change failed, and may work once the cluster heals.
	{hsm.ErrNoQuorum, ck.CKR_FUNCTION_FAILED},
	{hsm.ErrEnrollRefused, ck.CKR_FUNCTION_FAILED},
	{hsm.ErrInternal, ck.CKR_DEVICE_ERROR},
	{hsm.ErrConfig, ck.CKR_GENERAL_ERROR},
}

// ReturnValue returns the CK_RV for err: CKR_OK for nil, the code of a
// *ck.Error, the HSM's own standard code when the engine's error carries
// one (it is the most precise, say CKR_KEY_SIZE_RANGE rather than the
// sentinel's CKR_KEY_TYPE_INCONSISTENT), else the sentinel's code.
func ReturnValue(err error) ck.ReturnValue {
	if err == nil {
		return ck.CKR_OK
	}
	var ce *ck.Error
	if errors.As(err, &ce) {
		return ce.RV
	}
	var he *hsm.Error
	if errors.As(err, &he) && he.Code != 0 && he.Code < ck.CKR_VENDOR_DEFINED {
		return he.Code
	}
	for _, s := range sentinelCodes {
		if errors.Is(err, s.err) {
			return s.rv
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return ck.CKR_DEVICE_REMOVED
	}
	return ck.CKR_FUNCTION_FAILED
}

func errorf(rv ck.ReturnValue, format string, args ...any) error {
	return ck.Errorf(rv, format, args...)
}
