//go:build !go1.27

package server

import (
	"testing"

	"github.com/keyhold/keyhold/internal/wire"
)

// mldsaKeys imports nothing: a node built with Go 1.26 has no ML-DSA.
func mldsaKeys(*testing.T, *wire.Conn, uint32, []byte) []importedKey { return nil }
