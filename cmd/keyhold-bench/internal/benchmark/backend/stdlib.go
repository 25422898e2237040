package backend

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
)

// Stdlib signs and decrypts with the Go standard library in process, with
// keys in memory: the limit every other backend is measured against.
type Stdlib struct {
	keys map[benchmark.KeyKind]crypto.Signer
}

// NewStdlib generates the keys.
func NewStdlib() (*Stdlib, error) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Stdlib{keys: map[benchmark.KeyKind]crypto.Signer{
		benchmark.KeyECDSAP256: ec,
		benchmark.KeyRSA2048:   rk,
		benchmark.KeyEd25519:   ed,
	}}, nil
}

// Prepare implements Backend.
func (s *Stdlib) Prepare(op benchmark.Operation, concurrency int) (benchmark.Prepared, error) {
	return shared(op, s.keys[op.Key()], concurrency)
}

// Close implements Backend.
func (s *Stdlib) Close() error { return nil }
