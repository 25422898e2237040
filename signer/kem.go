package signer

import (
	"context"
	"crypto"
	"fmt"

	"github.com/keyhold/keyhold/hsm"
)

// Decapsulator is an ML-KEM private key in a partition, as
// crypto.Decapsulator: the standard library's interface for "an ML-KEM key
// kept in a hardware module", which crypto/hpke takes
// (hpke.NewMLKEMPrivateKey). Each decapsulation is one request; the shared
// secret comes back to the caller, the private key never does. It is safe
// for concurrent use.
type Decapsulator struct {
	key *hsm.Key
}

var _ crypto.Decapsulator = (*Decapsulator)(nil)

// NewDecapsulator returns an ML-KEM-768 or ML-KEM-1024 private key as a
// Decapsulator.
func NewDecapsulator(key *hsm.Key) (*Decapsulator, error) {
	if key == nil || !key.IsPrivate() || key.Type() != hsm.KeyMLKEM || key.Encapsulator() == nil {
		return nil, fmt.Errorf("signer: %w: not an ML-KEM-768 or ML-KEM-1024 private key", hsm.ErrKeyType)
	}
	return &Decapsulator{key: key}, nil
}

// Key returns the partition key behind the decapsulator.
func (d *Decapsulator) Key() *hsm.Key { return d.key }

// Encapsulator returns the public key, *mlkem.EncapsulationKey768 or
// *mlkem.EncapsulationKey1024, which encapsulates in process.
func (d *Decapsulator) Encapsulator() crypto.Encapsulator { return d.key.Encapsulator() }

// Decapsulate returns the shared secret of ciphertext, computed in the
// HSM, within the client's request timeout; see DecapsulateContext.
func (d *Decapsulator) Decapsulate(ciphertext []byte) ([]byte, error) {
	return d.DecapsulateContext(context.Background(), ciphertext)
}

// DecapsulateContext is Decapsulate bounded by ctx.
func (d *Decapsulator) DecapsulateContext(ctx context.Context, ciphertext []byte) ([]byte, error) {
	return d.key.Decapsulate(ctx, ciphertext)
}
