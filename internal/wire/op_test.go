package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
)

func TestOp(t *testing.T) {
	tests := []struct {
		op         Op
		name       string
		known      bool
		idempotent bool
	}{
		{OpHello, "Hello", true, true},
		{OpPing, "Ping", true, true},
		{OpPartitionInfo, "PartitionInfo", true, true},
		{OpLogin, "Login", true, true},
		{OpInitPIN, "InitPIN", true, false},
		{OpSetPIN, "SetPIN", true, false},
		{OpFindObjects, "FindObjects", true, true},
		{OpGetAttributes, "GetAttributes", true, true},
		{OpSetAttributes, "SetAttributes", true, false},
		{OpCreateObject, "CreateObject", true, false},
		{OpGenerateKeyPair, "GenerateKeyPair", true, false},
		{OpGenerateKey, "GenerateKey", true, false},
		{OpDestroyObject, "DestroyObject", true, false},
		{OpSign, "Sign", true, true},
		{OpVerify, "Verify", true, true},
		{OpEncrypt, "Encrypt", true, true},
		{OpDecrypt, "Decrypt", true, true},
		{OpGenerateRandom, "GenerateRandom", true, true},
		{0, "Op(0)", false, true},
		{OpEnroll, "Enroll", true, false},
		{OpRotate, "Rotate", true, false},
		{OpRetire, "Retire", true, false},
		{OpCreateClient, "CreateClient", true, false},
		{OpRevokeClient, "RevokeClient", true, true},
		{OpListClients, "ListClients", true, true},
		{OpBackup, "Backup", true, true},
		{OpListInvalidated, "ListInvalidated", true, true},
		{OpReactivate, "Reactivate", true, false},
		{OpPurge, "Purge", true, false},
		{OpWrapKey, "WrapKey", true, true},
		{OpUnwrapKey, "UnwrapKey", true, false},
		{OpDeriveKey, "DeriveKey", true, false},
		{OpAgree, "Agree", true, true},
		{33, "Op(33)", false, true},
		{OpCopyObject, "CopyObject", true, false},
		{OpObjectSize, "ObjectSize", true, true},
		{OpInitToken, "InitToken", true, false},
		{OpDecapsulate, "Decapsulate", true, true},
		{OpDecapsulateKey, "DecapsulateKey", true, false},
		{OpEncapsulateKey, "EncapsulateKey", true, false},
		{46, "Op(46)", false, true},
		{48, "Op(48)", false, true},
		{0x100, "Op(256)", false, true},
		{0xffff, "Op(65535)", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.name, tt.op.String())
			assert.Equal(t, tt.known, tt.op.Known())
			assert.Equal(t, tt.idempotent, tt.op.Idempotent())
		})
	}
}

func TestOpNumbersAreFixed(t *testing.T) {
	// Op numbers are part of the protocol: a change here breaks every peer.
	want := []Op{OpHello, OpPing, OpPartitionInfo, OpLogin, OpInitPIN, OpSetPIN, OpFindObjects,
		OpGetAttributes, OpSetAttributes, OpCreateObject, OpGenerateKeyPair, OpGenerateKey,
		OpDestroyObject, OpSign, OpVerify, OpEncrypt, OpDecrypt, OpGenerateRandom,
		OpEnroll, OpRotate, OpRetire, OpCreateClient, OpRevokeClient, OpListClients, OpBackup,
		OpListInvalidated, OpReactivate, OpPurge, OpWrapKey, OpUnwrapKey, OpDeriveKey, OpAgree}
	for i, op := range want {
		assert.Equal(t, Op(i+1), op, "%v", op)
	}
	// From 40, the object operations of PKCS#11 beyond the first set.
	for i, op := range []Op{OpCopyObject, OpObjectSize, OpInitToken, OpDecapsulate, OpDecapsulateKey, OpEncapsulateKey} {
		assert.Equal(t, Op(40+i), op, "%v", op)
	}
}

// TestStateChangingRequestsCarryAnOpID keeps the retry rule: an operation
// that may not simply be sent again must let the cluster deduplicate it.
func TestStateChangingRequestsCarryAnOpID(t *testing.T) {
	opIDType := reflect.TypeFor[OpID]()
	for op, req := range requestSamples {
		if op == OpEnroll || op == OpRotate || op == OpRetire {
			// Enrollment is sent by ppin, one request at a time, and
			// never retried by the engine: see Op.Idempotent.
			continue
		}
		f, has := reflect.TypeOf(req).FieldByName("OpID")
		hasOpID := has && f.Type == opIDType
		assert.Equal(t, !op.Idempotent(), hasOpID, "%v: Idempotent()=%v, OpID field=%v", op, op.Idempotent(), hasOpID)
	}
}

func TestErrorCodesAreFixed(t *testing.T) {
	// The vendor codes are part of the protocol (docs/protocol.md).
	tests := []struct {
		code ck.ReturnValue
		want uint32
	}{
		{CodeBadRequest, 0x80000001},
		{CodeUnknownOp, 0x80000002},
		{CodeVersion, 0x80000003},
		{CodeBusy, 0x80000004},
		{CodeTicketInvalid, 0x80000005},
		{CodeDeadline, 0x80000006},
		{CodeUnknownPartition, 0x80000007},
		{CodeHelloRequired, 0x80000008},
		{CodeShuttingDown, 0x80000009},
		{CodeEnrollmentRequired, 0x8000000a},
		{CodeEnrollRefused, 0x8000000b},
		{CodeClientRevoked, 0x8000000c},
		{CodeNoQuorum, 0x8000000d},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, uint32(tt.code))
		assert.GreaterOrEqual(t, uint32(tt.code), uint32(ck.CKR_VENDOR_DEFINED))
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		code ck.ReturnValue
		want bool
	}{
		{CodeBusy, true},
		{CodeShuttingDown, true},
		{CodeBadRequest, false},
		{CodeUnknownOp, false},
		{CodeVersion, false},
		{CodeTicketInvalid, false}, // log in again first: not unchanged
		{CodeDeadline, false},
		{CodeUnknownPartition, false},
		{CodeHelloRequired, false},
		{ck.CKR_OK, false},
		{ck.CKR_PIN_INCORRECT, false},
		{ck.CKR_DEVICE_ERROR, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Retryable(tt.code), "%#x", uint32(tt.code))
	}
}

func TestRemoteError(t *testing.T) {
	err := RemoteError(ErrorBody{Code: ck.CKR_PIN_INCORRECT, Message: "wrong"})
	assert.Equal(t, &ck.Error{RV: ck.CKR_PIN_INCORRECT, Msg: "wrong"}, err)

	var ce *ck.Error
	require.ErrorAs(t, fmt.Errorf("call: %w", RemoteError(ErrorBody{Code: CodeBusy})), &ce)
	assert.Equal(t, CodeBusy, ce.RV)
	assert.False(t, IsTransport(ce))
}

func TestIsTransport(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"closed", ErrClosed, true},
		{"wrapped closed", fmt.Errorf("%w: read: EOF", ErrClosed), true},
		{"malformed frame", fmt.Errorf("x: %w", ErrFrameMalformed), true},
		{"frame too large", ErrFrameTooLarge, true},
		{"nil", nil, false},
		{"bad body", ErrBadBody, false},
		{"node's reply", RemoteError(ErrorBody{Code: CodeShuttingDown}), false},
		{"context", context.Canceled, false},
		{"EOF alone", io.EOF, false},
		{"other", errors.New("x"), false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, IsTransport(tt.err), tt.name)
	}
}

func TestNegotiateVersion(t *testing.T) {
	tests := []struct {
		name     string
		min, max uint16
		want     uint16
		ok       bool
	}{
		{"exact", MinVersion, MaxVersion, MaxVersion, true},
		{"wider client", 0, 0xffff, MaxVersion, true},
		{"client up to ours", 0, MaxVersion, MaxVersion, true},
		{"client from ours", MaxVersion, MaxVersion + 5, MaxVersion, true},
		{"client only newer", MaxVersion + 1, MaxVersion + 3, 0, false},
		{"client only older", 0, MinVersion - 1, 0, false},
		{"zero hello", 0, 0, 0, false},
		{"inverted range", MaxVersion + 1, MinVersion, 0, false},
		{"inverted range around ours", 5, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := NegotiateVersion(HelloRequest{MinVersion: tt.min, MaxVersion: tt.max})
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, v)
			if ok {
				assert.True(t, v >= tt.min && v <= tt.max && v >= MinVersion && v <= MaxVersion)
			}
		})
	}
}

func TestDeadlineMS(t *testing.T) {
	assert.Zero(t, deadlineMS(context.Background()), "no deadline")

	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Hour))
	defer cancel()
	assert.Equal(t, uint32(1), deadlineMS(past), "a passed deadline is still a deadline")

	soon, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	ms := deadlineMS(soon)
	assert.True(t, ms > 1000 && ms <= 1500, "%d", ms)

	far, cancel := context.WithTimeout(context.Background(), 100*24*time.Hour)
	defer cancel()
	assert.Equal(t, uint32(1<<31), deadlineMS(far), "capped")
}
