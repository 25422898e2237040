//go:build !cgo

package gateway_test

import (
	"testing"

	"github.com/keyhold/keyhold/hsm/pkcs11module"
	"github.com/keyhold/keyhold/server"
	_ "github.com/keyhold/keyhold/server/gateway"
	"github.com/stretchr/testify/require"
)

// Built without cgo, a node with a module partition refuses to start, and
// says why.
func TestModulePartitionNeedsCgo(t *testing.T) {
	_, err := server.StartNode(server.NodeOptions{Partitions: []server.PartitionOptions{
		{ID: 1, Name: "hsm", Module: &server.ModuleOptions{Path: "/usr/lib/softhsm/libsofthsm2.so", Token: "t", PIN: "p"}},
	}})
	require.ErrorIs(t, err, pkcs11module.ErrNeedsCgo)
}
