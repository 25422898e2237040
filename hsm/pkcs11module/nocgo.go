//go:build !cgo

package pkcs11module

import (
	"context"
	"fmt"

	"github.com/keyhold/keyhold/hsm"
)

// open refuses every module node: without cgo no PKCS#11 library can be
// loaded. The rest of keyhold builds and runs without cgo.
func open(ctx context.Context, nc hsm.NodeConfig, pc hsm.PartitionConfig) (hsm.Backend, error) {
	return nil, fmt.Errorf("%w: module %s of partition %q", ErrNeedsCgo, nc.Module, pc.Name)
}

// Stats returns nothing: without cgo no module is loaded.
func Stats() []TokenStats { return nil }

// CheckSO refuses: without cgo no module is loaded.
func CheckSO(ctx context.Context, b hsm.Backend, pin []byte) error { return ErrNeedsCgo }

func enableSOChecks(hsm.Backend) {}
