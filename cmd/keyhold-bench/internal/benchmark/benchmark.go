// Package benchmark measures what a signing or decryption backend delivers to
// its callers: operations per second and the latency of each operation, at a
// given number of goroutines, with every backend doing the same work on the
// same input so that their numbers compare.
//
// A backend (package benchmark/backend) prepares one task per goroutine;
// Check proves that each task does the real operation (the standard library
// verifies its signature, or its plaintext is the one encrypted), and Measure
// runs the tasks for a fixed window and summarises their latencies.
package benchmark

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Operation is one measured operation: an algorithm, key size and scheme.
type Operation string

// The operations measured, each on its own key.
const (
	// ECDSAP256 signs a SHA-256 digest with an ECDSA P-256 key.
	ECDSAP256 Operation = "ECDSA P-256"
	// RSA2048PKCS1 signs a SHA-256 digest with RSA-2048, PKCS #1 v1.5.
	RSA2048PKCS1 Operation = "RSA-2048 PKCS#1 v1.5"
	// RSA2048PSS signs a SHA-256 digest with RSA-2048 PSS, MGF1-SHA-256 and
	// a 32-byte salt.
	RSA2048PSS Operation = "RSA-2048 PSS"
	// Ed25519 signs a 32-byte message with pure Ed25519.
	Ed25519 Operation = "Ed25519"
	// RSA2048OAEP decrypts a 32-byte secret with RSA-2048 OAEP, SHA-1 and
	// MGF1-SHA-1 without a label: the one OAEP variant every backend measured
	// here supports (SoftHSM2 has no other), and as costly as any other,
	// since the private-key operation dominates.
	RSA2048OAEP Operation = "RSA-2048 OAEP decrypt"
)

// Operations lists every operation, in the order reports show them.
var Operations = []Operation{ECDSAP256, RSA2048PKCS1, RSA2048PSS, Ed25519, RSA2048OAEP}

// KeyKind is the kind of key an operation needs.
type KeyKind int

// The key kinds. RSA signing and decryption share one key, as TLS servers'
// keys do.
const (
	KeyECDSAP256 KeyKind = iota + 1
	KeyRSA2048
	KeyEd25519
)

// Key returns the kind of key op needs.
func (op Operation) Key() KeyKind {
	switch op {
	case ECDSAP256:
		return KeyECDSAP256
	case Ed25519:
		return KeyEd25519
	default:
		return KeyRSA2048
	}
}

// Label is the CKA_LABEL under which backends that keep keys in a token or
// partition find the key, and create it when it is missing.
func (k KeyKind) Label() string {
	switch k {
	case KeyECDSAP256:
		return "bench-ecdsa-p256"
	case KeyRSA2048:
		return "bench-rsa-2048"
	case KeyEd25519:
		return "bench-ed25519"
	}
	return "bench-unknown"
}

// Message is what every signing operation signs: Ed25519 the message itself,
// the others its SHA-256 digest, as TLS and code signing do.
var Message = []byte("keyhold benchmark: the same input for every backend")

// Digest is the SHA-256 digest of Message.
var Digest = func() []byte { d := sha256.Sum256(Message); return d[:] }()

// Secret is the plaintext that OAEP ciphertexts carry: a 32-byte key, the
// usual payload of RSA decryption.
var Secret = bytes.Repeat([]byte{0x5a}, 32)

// PSSOptions are the PSS parameters of RSA2048PSS.
var PSSOptions = &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}

// OAEPHash is the OAEP and MGF1 hash of RSA2048OAEP.
const OAEPHash = crypto.SHA1

// Ciphertext encrypts Secret to pub for RSA2048OAEP.
func Ciphertext(pub *rsa.PublicKey) ([]byte, error) {
	return rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, Secret, nil)
}

// ErrWrongOutput reports that a backend's output failed Check.
var ErrWrongOutput = errors.New("benchmark: wrong output")

// Check reports whether out is a correct result of op with the key whose public
// half is pub: a signature the standard library verifies, or Secret.
func Check(op Operation, pub crypto.PublicKey, out []byte) error {
	var ok bool
	switch op {
	case ECDSAP256:
		k, isEC := pub.(*ecdsa.PublicKey)
		ok = isEC && ecdsa.VerifyASN1(k, Digest, out)
	case RSA2048PKCS1:
		k, isRSA := pub.(*rsa.PublicKey)
		ok = isRSA && rsa.VerifyPKCS1v15(k, crypto.SHA256, Digest, out) == nil
	case RSA2048PSS:
		k, isRSA := pub.(*rsa.PublicKey)
		ok = isRSA && rsa.VerifyPSS(k, crypto.SHA256, Digest, out, PSSOptions) == nil
	case Ed25519:
		k, isEd := pub.(ed25519.PublicKey)
		ok = isEd && ed25519.Verify(k, Message, out)
	case RSA2048OAEP:
		ok = bytes.Equal(out, Secret)
	default:
		return fmt.Errorf("benchmark: unknown operation %q", op)
	}
	if !ok {
		return fmt.Errorf("%w of %s", ErrWrongOutput, op)
	}
	return nil
}

// UnsupportedError reports that a backend cannot do an operation at all, as
// opposed to failing at it: reports show "unsupported" with its reason.
type UnsupportedError struct {
	// Reason says what is missing, for the report's footnote.
	Reason string
}

func (e *UnsupportedError) Error() string { return "unsupported: " + e.Reason }
