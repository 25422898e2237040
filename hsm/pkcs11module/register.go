package pkcs11module

import (
	"context"
	"errors"

	"github.com/keyhold/keyhold/hsm"
)

func init() { hsm.RegisterBackend("module", open) }

// ErrNeedsCgo is returned for every module node by a program built without
// cgo: loading a PKCS#11 library needs it.
var ErrNeedsCgo = errors.New("pkcs11module: the PKCS#11 module backend needs a program built with cgo (CGO_ENABLED=1)")

// ErrTokenNotFound is returned when opening a node whose token, slot or
// serial matches no token of the module.
var ErrTokenNotFound = errors.New("pkcs11module: no token of the module matches")

// ErrModule is returned when a module cannot be loaded or initialised.
var ErrModule = errors.New("pkcs11module: cannot use the PKCS#11 module")

// Open opens a token of a local module as one node of partition pc, as the
// engine does for a "module" node of its configuration: the same sessions,
// login rules, stable handles and failure handling. keyhold's gateway
// (package server/gateway) serves a token to the network through it. The
// caller owns the backend and closes it. The token may then have its SO
// PIN checked with CheckSO.
func Open(ctx context.Context, nc hsm.NodeConfig, pc hsm.PartitionConfig) (hsm.Backend, error) {
	b, err := open(ctx, nc, pc)
	if err == nil {
		enableSOChecks(b)
	}
	return b, err
}
