//go:build !go1.27

package signer

import (
	"context"
	"crypto"
	"fmt"

	"github.com/keyhold/keyhold/hsm"
)

// signMLDSA is unreachable with Go 1.26, which has no ML-DSA public key
// type: New refuses an ML-DSA key, whose Public is nil.
func (s *Signer) signMLDSA(context.Context, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, fmt.Errorf("signer: %w: ML-DSA needs Go 1.27", hsm.ErrMechanismUnsupported)
}
