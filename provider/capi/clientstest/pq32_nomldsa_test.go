//go:build !go1.27

package clientstest

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/keyhold/keyhold/ck"
)

// checkPQ32MLDSA checks the ML-DSA half of testdata/pq32.c's run where Go
// has no ML-DSA (before Go 1.27): key generation is refused as a mechanism
// the token does not offer, and nothing else is attempted.
func checkPQ32MLDSA(t *testing.T, res pq32Result) {
	t.Helper()
	assert.Equal(t, ck.CKR_MECHANISM_INVALID, res.rv(t, "mldsa-keygen"))
	assert.NotContains(t, res, "mldsa-pub")
}
