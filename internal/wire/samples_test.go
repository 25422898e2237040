package wire

import (
	"bytes"
	"reflect"

	"github.com/keyhold/keyhold/ck"
)

// Message samples shared by the codec tests and the fuzz seeds. Each one sets
// every field, with values chosen to exercise the encoding: integers at their
// type's maximum, empty and binary byte strings, non-ASCII text.

var (
	sampleOpID   = OpID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff}
	sampleTicket = bytes.Repeat([]byte{0xa5}, 50)
	ecP256OID    = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
)

func sampleTemplate() ck.Template {
	return ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_EC)),
		ck.String(ck.CKA_LABEL, "tls-key ✓"),
		ck.Bytes(ck.CKA_ID, []byte{0, 0xff}),
		ck.Bool(ck.CKA_SIGN, true),
		ck.Bool(ck.CKA_PRIVATE, false),
		ck.Bytes(ck.CKA_EC_PARAMS, ecP256OID),
		{Type: ck.AttributeType(0xffffffff), Value: []byte{}},
	}
}

// requestSamples maps every operation to a sample of its request message.
// Its keys are also the table of which message each operation takes.
var requestSamples = map[Op]any{
	OpHello:         HelloRequest{MinVersion: 1, MaxVersion: 0xffff, Client: "keyhold-go/1.0 ✓"},
	OpPing:          PingRequest{},
	OpPartitionInfo: PartitionInfoRequest{Partition: 0xffffffff},
	OpLogin:         LoginRequest{Partition: 1, User: ck.CKU_USER, PIN: []byte("1234")},
	OpInitPIN:       InitPINRequest{Partition: 1, Ticket: sampleTicket, PIN: []byte("5678"), OpID: sampleOpID},
	OpSetPIN:        SetPINRequest{Partition: 1, User: ck.CKU_SO, OldPIN: []byte("old"), NewPIN: []byte("new"), OpID: sampleOpID},
	OpFindObjects: FindObjectsRequest{Partition: 2, Ticket: sampleTicket, Template: sampleTemplate(),
		Want: []ck.AttributeType{ck.CKA_LABEL, ck.CKA_ID, ck.CKA_EC_POINT}, Limit: MaxFindResults},
	OpGetAttributes: GetAttributesRequest{Partition: 2, Ticket: sampleTicket, Handle: 1<<64 - 1,
		Types: []ck.AttributeType{ck.CKA_VALUE, ck.CKA_MODULUS}},
	OpSetAttributes: SetAttributesRequest{Partition: 3, Ticket: sampleTicket, Handle: 7,
		Template: ck.Template{ck.String(ck.CKA_LABEL, "renamed")}, OpID: sampleOpID},
	OpCreateObject: CreateObjectRequest{Partition: 3, Ticket: sampleTicket, Template: sampleTemplate(), OpID: sampleOpID},
	OpGenerateKeyPair: GenerateKeyPairRequest{Partition: 3, Ticket: sampleTicket,
		Mechanism: ck.Mechanism{Type: ck.CKM_EC_KEY_PAIR_GEN},
		Public:    ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, ecP256OID)},
		Private:   ck.Template{ck.Bool(ck.CKA_SIGN, true), ck.String(ck.CKA_LABEL, "k")},
		OpID:      sampleOpID},
	OpGenerateKey: GenerateKeyRequest{Partition: 3, Ticket: sampleTicket, Mechanism: ck.Mechanism{Type: ck.CKM_AES_KEY_GEN},
		Template: ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 32)}, OpID: sampleOpID},
	OpDestroyObject: DestroyObjectRequest{Partition: 3, Ticket: sampleTicket, Handle: 9, OpID: sampleOpID},
	OpSign: CryptRequest{Partition: 4, Ticket: sampleTicket, Handle: 11,
		Mechanism: ck.Mechanism{Type: ck.CKM_RSA_PKCS_PSS, PSS: &ck.PSSParams{Hash: ck.CKM_SHA256, MGF: ck.CKG_MGF1_SHA256, SaltLen: 32}},
		Data:      bytes.Repeat([]byte{0x11}, 32)},
	OpVerify: VerifyRequest{Partition: 4, Ticket: sampleTicket, Handle: 12, Mechanism: ck.Mechanism{Type: ck.CKM_ECDSA},
		Data: bytes.Repeat([]byte{0x22}, 32), Signature: bytes.Repeat([]byte{0x33}, 64)},
	OpEncrypt: CryptRequest{Partition: 4, Handle: 13,
		Mechanism: ck.Mechanism{Type: ck.CKM_AES_GCM, GCM: &ck.GCMParams{IV: make([]byte, 12), AAD: []byte("aad"), TagBits: 128}},
		Data:      []byte("plaintext")},
	OpDecrypt: CryptRequest{Partition: 4, Ticket: sampleTicket, Handle: 14,
		Mechanism: ck.Mechanism{Type: ck.CKM_RSA_PKCS_OAEP, OAEP: &ck.OAEPParams{Hash: ck.CKM_SHA256, MGF: ck.CKG_MGF1_SHA256, Label: []byte("label")}},
		Data:      bytes.Repeat([]byte{0x44}, 256)},
	OpGenerateRandom:  GenerateRandomRequest{Partition: 5, Length: MaxRandom},
	OpEnroll:          EnrollRequest{Name: "web-1", Password: []byte("setup-password"), CSR: []byte{0x30, 0x82}},
	OpRotate:          RotateRequest{CSR: []byte{0x30, 0x82}},
	OpRetire:          RetireRequest{Fingerprint: bytes.Repeat([]byte{0x77}, 32)},
	OpCreateClient:    CreateClientRequest{Partition: 1, Ticket: sampleTicket, Name: "web-1", TTL: 3600000, OpID: sampleOpID},
	OpRevokeClient:    RevokeClientRequest{Partition: 1, Ticket: sampleTicket, Name: "web-1"},
	OpListClients:     ListClientsRequest{Partition: 1, Ticket: sampleTicket},
	OpBackup:          BackupRequest{Partition: 1, Ticket: sampleTicket, Snapshot: bytes.Repeat([]byte{0x55}, 16), Offset: 1 << 19},
	OpListInvalidated: ListInvalidatedRequest{Partition: 1, Ticket: sampleTicket},
	OpReactivate:      InvalidatedRequest{Partition: 1, Ticket: sampleTicket, Handle: 42, OpID: sampleOpID},
	OpPurge:           InvalidatedRequest{Partition: 1, Ticket: sampleTicket, Handle: 43, OpID: sampleOpID},
	OpCopyObject: CopyObjectRequest{Partition: 3, Ticket: sampleTicket, Handle: 1<<64 - 1,
		Template: ck.Template{ck.Bool(ck.CKA_TOKEN, true), ck.String(ck.CKA_LABEL, "copy")}, OpID: sampleOpID},
	OpObjectSize: ObjectSizeRequest{Partition: 3, Ticket: sampleTicket, Handle: 1<<64 - 1},
	OpInitToken:  InitTokenRequest{Partition: 3, SOPIN: []byte("so-pin"), Label: "relabelled ✓", OpID: sampleOpID},
	OpWrapKey: WrapKeyRequest{Partition: 1, Ticket: sampleTicket, Mechanism: ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP_PAD},
		Wrapping: 1<<64 - 1, Key: 45},
	OpUnwrapKey: UnwrapKeyRequest{Partition: 1, Ticket: sampleTicket,
		Mechanism:  ck.Mechanism{Type: ck.CKM_AES_CBC_PAD, IV: bytes.Repeat([]byte{0x12}, 16)},
		Unwrapping: 46, Wrapped: bytes.Repeat([]byte{0x34}, 40), Template: sampleTemplate(), OpID: sampleOpID},
	OpDeriveKey: DeriveKeyRequest{Partition: 1, Ticket: sampleTicket,
		Mechanism: ck.Mechanism{Type: ck.CKM_ECDH1_DERIVE, ECDH: &ck.ECDHParams{KDF: ck.CKD_NULL, SharedData: []byte{1},
			PublicData: bytes.Repeat([]byte{0x04}, 65)}},
		Base: 47, Template: ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 16)}, OpID: sampleOpID},
	OpAgree: CryptRequest{Partition: 1, Ticket: sampleTicket, Handle: 48,
		Mechanism: ck.Mechanism{Type: ck.CKM_ECDH1_DERIVE, ECDH: &ck.ECDHParams{KDF: ck.CKD_NULL, PublicData: bytes.Repeat([]byte{0x04}, 65)}}},
	OpDecapsulate: CryptRequest{Partition: 1, Ticket: sampleTicket, Handle: 50, Mechanism: ck.Mechanism{Type: ck.CKM_ML_KEM},
		Data: bytes.Repeat([]byte{0x58}, 1088)},
	OpDecapsulateKey: DecapsulateKeyRequest{Partition: 1, Ticket: sampleTicket, Mechanism: ck.Mechanism{Type: ck.CKM_ML_KEM},
		Key: 1<<64 - 1, Ciphertext: bytes.Repeat([]byte{0x59}, 1568), Template: sampleTemplate(), OpID: sampleOpID},
	OpEncapsulateKey: EncapsulateKeyRequest{Partition: 1, Ticket: sampleTicket, Mechanism: ck.Mechanism{Type: ck.CKM_ML_KEM},
		Key: 51, Template: ck.Template{ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_GENERIC_SECRET))}, OpID: sampleOpID},
}

// replySamples maps every operation to a sample of its reply message.
var replySamples = map[Op]any{
	OpHello: HelloReply{Version: 1, Node: "hsm-a", Partitions: []PartitionSummary{
		{ID: 1, Name: "payments"}, {ID: 0xffffffff, Name: "ünïcode"}}},
	OpPing: PingReply{},
	OpPartitionInfo: PartitionInfoReply{ID: 1, Name: "payments", Flags: 0x0000040d, MinPINLen: 4, MaxPINLen: MaxPIN,
		Manufacturer: "keyhold", Model: "testenv", Serial: "0001", Objects: 12, MinRSABits: 1024},
	OpLogin:           LoginReply{Ticket: sampleTicket, Expires: 1767225600000},
	OpInitPIN:         EmptyReply{},
	OpSetPIN:          EmptyReply{},
	OpFindObjects:     FindObjectsReply{Objects: []FoundObject{{Handle: 1, Attributes: sampleTemplate()}, {Handle: 2, Attributes: ck.Template{}}}},
	OpGetAttributes:   GetAttributesReply{Values: []AttributeResult{{Type: ck.CKA_LABEL, Value: []byte("x")}, {Type: ck.CKA_VALUE, RV: ck.CKR_ATTRIBUTE_SENSITIVE}}},
	OpSetAttributes:   EmptyReply{},
	OpCreateObject:    HandleReply{Handle: 1<<64 - 1},
	OpGenerateKeyPair: GenerateKeyPairReply{Public: 21, Private: 22},
	OpGenerateKey:     HandleReply{Handle: 23},
	OpDestroyObject:   EmptyReply{},
	OpSign:            DataReply{Data: bytes.Repeat([]byte{0x55}, 64)},
	OpVerify:          EmptyReply{},
	OpEncrypt:         DataReply{Data: []byte{}},
	OpDecrypt:         DataReply{Data: []byte("plaintext")},
	OpGenerateRandom:  DataReply{Data: bytes.Repeat([]byte{0x66}, 16)},
	OpEnroll:          CertificateReply{Certificate: []byte{0x30, 0x82, 1}, NodeCAs: [][]byte{{0x30, 0x82, 2}}},
	OpRotate:          CertificateReply{Certificate: []byte{0x30, 0x82, 3}},
	OpRetire:          EmptyReply{},
	OpCreateClient:    CreateClientReply{Password: "ABCDEFGH", Expires: 1767225600000},
	OpRevokeClient:    EmptyReply{},
	OpListClients: ListClientsReply{Clients: []ClientStatus{{Name: "web-1", Expires: 1767225600000, Enrolled: true,
		Active: [][]byte{bytes.Repeat([]byte{0x77}, 32)}, Serial: "01ab"}, {Name: "web-2", Failures: 5, Locked: true}}},
	OpBackup: BackupReply{Snapshot: bytes.Repeat([]byte{0x55}, 16), Size: 1 << 20, Data: []byte{1, 2, 3}},
	OpListInvalidated: ListInvalidatedReply{Objects: []InvalidatedObject{{Handle: 42, Invalidated: 1767225600000, Purge: 1767312000000,
		Attributes: ck.Template{ck.String(ck.CKA_LABEL, "old")}}}},
	OpReactivate: EmptyReply{},
	OpPurge:      EmptyReply{},
	OpCopyObject: HandleReply{Handle: 24},
	OpObjectSize: ObjectSizeReply{Size: 1<<64 - 1},
	OpInitToken:  EmptyReply{},
	OpWrapKey:    DataReply{Data: bytes.Repeat([]byte{0x56}, 40)},
	OpUnwrapKey:  HandleReply{Handle: 48},
	OpDeriveKey:  HandleReply{Handle: 49},
	OpAgree:      DataReply{Data: bytes.Repeat([]byte{0x57}, 32)},

	OpDecapsulate:    DataReply{Data: bytes.Repeat([]byte{0x5a}, 32)},
	OpDecapsulateKey: HandleReply{Handle: 52},
	OpEncapsulateKey: EncapsulateKeyReply{Handle: 1<<64 - 1, Ciphertext: bytes.Repeat([]byte{0x5b}, 1088)},
}

// otherSamples lists the messages that belong to no single operation.
var otherSamples = []any{
	ErrorBody{Code: ck.CKR_PIN_INCORRECT, Message: "PIN incorrect"},
	ErrorBody{Code: CodeTicketInvalid},
	PartitionSummary{ID: 3, Name: "p"},
	FoundObject{Handle: 3},
	AttributeResult{Type: ck.CKA_ID},
	ClientStatus{Name: "web-3", Revoked: true, Retired: [][]byte{bytes.Repeat([]byte{0x78}, 32)}},
	InvalidatedObject{Handle: 44, Invalidated: 1767225600000, Purge: 1767225600001},
	ck.Mechanism{Type: ck.CKM_ML_DSA, SignContext: &ck.SignContextParams{Hedge: ck.CKH_DETERMINISTIC_REQUIRED, Context: []byte("ctx ✓")}},
}

// requestOps lists the operations in a fixed order, so that a fuzz input's
// first byte always selects the same request type.
var requestOps = func() []Op {
	var ops []Op
	for op := Op(0); op < 64; op++ {
		if _, ok := requestSamples[op]; ok {
			ops = append(ops, op)
		}
	}
	return ops
}()

// newMessage returns a pointer to a new zero value of v's type.
func newMessage(v any) any { return reflect.New(reflect.TypeOf(v)).Interface() }

// clearEmpty sets every empty slice reachable from v to nil. The encoding
// does not tell them apart where a field is omitempty (both are left out),
// so values are compared after it.
func clearEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			clearEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			clearEmpty(v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			if v.CanSet() && !v.IsNil() {
				v.SetZero()
			}
			return
		}
		for i := range v.Len() {
			clearEmpty(v.Index(i))
		}
	}
}
