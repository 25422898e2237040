package hsm

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/keyhold/keyhold/internal/wire"
)

// TestLimitsAreTheProtocols: hsm's limits are written out so that users
// read plain numbers, and must stay the protocol's.
func TestLimitsAreTheProtocols(t *testing.T) {
	assert.Equal(t, wire.MaxAttributes, MaxAttributes)
	assert.Equal(t, wire.MaxAttributeValue, MaxAttributeValue)
	assert.Equal(t, wire.MaxData, MaxData)
	assert.Equal(t, wire.MaxRandom, MaxRandom)
}
