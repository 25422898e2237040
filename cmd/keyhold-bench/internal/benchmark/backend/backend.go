// Package backend implements the backends that keyhold's benchmark compares:
// the Go standard library in process, keyhold's Go SDK, and PKCS#11 modules
// (libkeyhold.so, SoftHSM2) driven through miekg/pkcs11 directly or through
// ThalesGroup/crypto11. Each does every operation of package benchmark with
// its own key of the right kind, found by label and generated when missing.
//
// The PKCS#11 backends need cgo; built without it, their constructors return
// an error that says so.
package backend

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
)

// Backend prepares measurements of one way of signing and decrypting.
type Backend interface {
	// Prepare sets up concurrency tasks, one per goroutine, that each do op.
	// An operation the backend cannot do at all gives a
	// *benchmark.UnsupportedError.
	Prepare(op benchmark.Operation, concurrency int) (benchmark.Prepared, error)
	// Close releases the backend.
	Close() error
}

// signerTask returns the task that does op with a standard-library-shaped
// key: a crypto.Signer, and for RSA2048OAEP a crypto.Decrypter holding the
// benchmark ciphertext. The standard library, keyhold's signer package and
// crypto11 all take this shape, so they do the same work through it.
func signerTask(op benchmark.Operation, s crypto.Signer) (benchmark.Task, error) {
	switch op {
	case benchmark.ECDSAP256, benchmark.RSA2048PKCS1:
		return func() ([]byte, error) { return s.Sign(rand.Reader, benchmark.Digest, crypto.SHA256) }, nil
	case benchmark.RSA2048PSS:
		return func() ([]byte, error) { return s.Sign(rand.Reader, benchmark.Digest, benchmark.PSSOptions) }, nil
	case benchmark.Ed25519:
		return func() ([]byte, error) { return s.Sign(rand.Reader, benchmark.Message, crypto.Hash(0)) }, nil
	case benchmark.RSA2048OAEP:
		d, ok := s.(crypto.Decrypter)
		if !ok {
			return nil, &benchmark.UnsupportedError{Reason: "the key is not a crypto.Decrypter"}
		}
		pub, ok := s.Public().(*rsa.PublicKey)
		if !ok {
			return nil, &benchmark.UnsupportedError{Reason: "OAEP needs an RSA key"}
		}
		ct, err := benchmark.Ciphertext(pub)
		if err != nil {
			return nil, err
		}
		opts := &rsa.OAEPOptions{Hash: benchmark.OAEPHash}
		return func() ([]byte, error) { return d.Decrypt(rand.Reader, ct, opts) }, nil
	}
	return nil, &benchmark.UnsupportedError{Reason: "unknown operation " + string(op)}
}

// shared prepares concurrency goroutines that all call the same task, for
// backends whose keys are safe for concurrent use.
func shared(op benchmark.Operation, s crypto.Signer, concurrency int) (benchmark.Prepared, error) {
	task, err := signerTask(op, s)
	if err != nil {
		return benchmark.Prepared{}, err
	}
	tasks := make([]benchmark.Task, concurrency)
	for i := range tasks {
		tasks[i] = task
	}
	return benchmark.Prepared{Public: s.Public(), Tasks: tasks}, nil
}
