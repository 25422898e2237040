//go:build go1.27

package server

import (
	"crypto/mldsa"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// mldsaKeys imports an ML-DSA-65 key by its seed.
func mldsaKeys(t *testing.T, c *wire.Conn, part uint32, ticket []byte) []importedKey {
	sk, err := mldsa.GenerateKey(mldsa.MLDSA65())
	require.NoError(t, err)
	seed := sk.Bytes()
	h := create(t, c, part, ticket, append(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_ML_DSA)),
		ck.ULong(ck.CKA_PARAMETER_SET, ck.CKP_ML_DSA_65), ck.Bytes(ck.CKA_SEED, seed),
		ck.String(ck.CKA_LABEL, "ml-dsa"),
	}, privateAttrs...))
	msg := []byte("signed before and after a restart")
	return []importedKey{{name: "ml-dsa", handle: h, secrets: [][]byte{seed}, check: func(t *testing.T, c *wire.Conn, part uint32, ticket []byte) {
		sig := sign(t, c, part, ticket, h, ck.CKM_ML_DSA, msg)
		require.NoError(t, mldsa.Verify(sk.PublicKey(), msg, sig, nil))
	}}}
}
