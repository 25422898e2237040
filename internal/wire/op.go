package wire

import "strconv"

// Op identifies an operation. Numbers are part of the protocol: never reuse
// or renumber one.
type Op uint16

// Operations. The request and reply message of each are named after it
// (OpSign: SignRequest, SignReply).
const (
	OpHello           Op = 1  // version negotiation; must be the first request on a connection
	OpPing            Op = 2  // health probe
	OpPartitionInfo   Op = 3  // token information of one partition
	OpLogin           Op = 4  // verify a PIN, get a login ticket
	OpInitPIN         Op = 5  // SO sets the User PIN
	OpSetPIN          Op = 6  // a user changes its own PIN
	OpFindObjects     Op = 7  // search by attribute template
	OpGetAttributes   Op = 8  // read attributes of one object
	OpSetAttributes   Op = 9  // change attributes of one object
	OpCreateObject    Op = 10 // create or import an object
	OpGenerateKeyPair Op = 11 // generate an asymmetric key pair
	OpGenerateKey     Op = 12 // generate a secret key
	OpDestroyObject   Op = 13 // destroy one object
	OpSign            Op = 14 // sign with a raw mechanism
	OpVerify          Op = 15 // verify with a raw mechanism
	OpEncrypt         Op = 16 // single-part encryption
	OpDecrypt         Op = 17 // single-part decryption
	OpGenerateRandom  Op = 18 // random bytes from the node
	OpEnroll          Op = 19 // trade a one-time setup password and a CSR for a client certificate
	OpRotate          Op = 20 // an enrolled client gets a new certificate for a new key
	OpRetire          Op = 21 // an enrolled client revokes one of its own older certificates
	OpCreateClient    Op = 22 // SO creates a client entry; the reply is its one-time setup password
	OpRevokeClient    Op = 23 // SO revokes a client entry and every certificate issued to it
	OpListClients     Op = 24 // SO lists the client entries (never hashes or passwords)
	OpBackup          Op = 25 // SO takes an encrypted backup of a partition or of the node, in chunks
	OpListInvalidated Op = 26 // SO lists the destroyed objects a partition keeps invalidated
	OpReactivate      Op = 27 // SO makes an invalidated object live again
	OpPurge           Op = 28 // SO destroys an invalidated object for good
	OpWrapKey         Op = 29 // export a key encrypted under a wrapping key
	OpUnwrapKey       Op = 30 // import a wrapped key as a new object
	OpDeriveKey       Op = 31 // derive a new secret key from a base key (ECDH)
	OpAgree           Op = 32 // compute an ECDH shared secret and return it, storing nothing

	OpCopyObject Op = 40 // copy an object, changing attributes a copy may change
	OpObjectSize Op = 41 // the size of one object (C_GetObjectSize)
	OpInitToken  Op = 42 // the SO initializes a partition again: objects wiped, label set (C_InitToken)

	// From 43, the key encapsulation mechanisms of PKCS#11 v3.2 (ML-KEM).
	OpDecapsulate    Op = 43 // decapsulate a ciphertext and return the shared secret, storing nothing
	OpDecapsulateKey Op = 44 // decapsulate a ciphertext into a new secret key object (C_DecapsulateKey)
	OpEncapsulateKey Op = 45 // encapsulate to a public key: a ciphertext and a new secret key object (C_EncapsulateKey)
)

var opNames = [...]string{
	OpHello: "Hello", OpPing: "Ping", OpPartitionInfo: "PartitionInfo", OpLogin: "Login",
	OpInitPIN: "InitPIN", OpSetPIN: "SetPIN", OpFindObjects: "FindObjects",
	OpGetAttributes: "GetAttributes", OpSetAttributes: "SetAttributes",
	OpCreateObject: "CreateObject", OpGenerateKeyPair: "GenerateKeyPair",
	OpGenerateKey: "GenerateKey", OpDestroyObject: "DestroyObject", OpSign: "Sign",
	OpVerify: "Verify", OpEncrypt: "Encrypt", OpDecrypt: "Decrypt",
	OpGenerateRandom: "GenerateRandom", OpEnroll: "Enroll", OpRotate: "Rotate", OpRetire: "Retire",
	OpCreateClient: "CreateClient", OpRevokeClient: "RevokeClient", OpListClients: "ListClients",
	OpBackup: "Backup", OpListInvalidated: "ListInvalidated", OpReactivate: "Reactivate", OpPurge: "Purge",
	OpCopyObject: "CopyObject", OpObjectSize: "ObjectSize", OpInitToken: "InitToken",
	OpWrapKey: "WrapKey", OpUnwrapKey: "UnwrapKey", OpDeriveKey: "DeriveKey", OpAgree: "Agree",
	OpDecapsulate: "Decapsulate", OpDecapsulateKey: "DecapsulateKey", OpEncapsulateKey: "EncapsulateKey",
}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	if name, ok := peerOpNames[o]; ok {
		return name
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Known reports whether o is a client operation of this protocol version.
// Peer operations (see Peer) are not: clients never send them.
func (o Op) Known() bool { return int(o) < len(opNames) && opNames[o] != "" }

// Idempotent reports whether a request may be sent again, to the same or
// another node of a cluster, after its reply was lost. Operations that change
// state are not: they carry an OpID that the cluster deduplicates instead.
func (o Op) Idempotent() bool {
	switch o {
	case OpInitPIN, OpSetPIN, OpSetAttributes, OpCreateObject, OpGenerateKeyPair, OpGenerateKey, OpDestroyObject,
		OpReactivate, OpPurge, OpCopyObject, OpInitToken, OpUnwrapKey, OpDeriveKey,
		OpDecapsulateKey, OpEncapsulateKey:
		return false
	case OpEnroll, OpRotate, OpRetire:
		// Enroll spends a one-time password, Rotate issues a certificate
		// and Retire revokes one: none may be repeated blindly. They carry
		// no OpID because only ppin sends them, one at a time, and a
		// person reruns it.
		return false
	case OpCreateClient:
		// Each run mints a new setup password: a retry must get the first
		// one back, so it carries an OpID. Revoking twice revokes once, and
		// listing changes nothing, so both may simply be sent again.
		return false
	case OpLogin:
		// A login counts failures, but repeating a login with a good PIN
		// changes nothing, and a bad PIN fails the same way twice.
		return true
	}
	return true
}
