//go:build !cgo

package pkcs11module_test

import (
	"context"
	"testing"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module"
	"github.com/stretchr/testify/require"
)

// Without cgo the package still builds, and a module node says what it
// needs.
func TestModuleNeedsCgo(t *testing.T) {
	_, err := hsm.Open(context.Background(), hsm.Config{Partitions: []hsm.PartitionConfig{{
		ID: 1, Name: "local", Nodes: []hsm.NodeConfig{{Module: "/usr/lib/softhsm/libsofthsm2.so", Token: "local"}},
	}}})
	require.ErrorIs(t, err, pkcs11module.ErrNeedsCgo)
}
