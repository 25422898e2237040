package server

import (
	"crypto/mlkem"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// pqKeys imports an ML-KEM-768 key by its seed, and with Go 1.27 an
// ML-DSA-65 key (mldsaKeys), so that the restart, backup and at-rest tests
// hold post-quantum keys like every other: their seeds must never be on
// disk in clear, and they must work after a restart or a restore.
func pqKeys(t *testing.T, c *wire.Conn, part uint32, ticket []byte) []importedKey {
	dk, err := mlkem.GenerateKey768()
	require.NoError(t, err)
	seed := dk.Bytes()
	h := create(t, c, part, ticket, ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_ML_KEM)),
		ck.ULong(ck.CKA_PARAMETER_SET, ck.CKP_ML_KEM_768), ck.Bytes(ck.CKA_SEED, seed),
		ck.Bool(ck.CKA_TOKEN, true), ck.Bool(ck.CKA_PRIVATE, true), ck.Bool(ck.CKA_SENSITIVE, true),
		ck.String(ck.CKA_LABEL, "ml-kem"),
	})
	kem := importedKey{name: "ml-kem", handle: h, secrets: [][]byte{seed}, check: func(t *testing.T, c *wire.Conn, part uint32, ticket []byte) {
		secret, ct := dk.EncapsulationKey().Encapsulate()
		var rep wire.DataReply
		require.NoError(t, c.Call(ctxT(t), wire.OpDecapsulate, wire.CryptRequest{
			Partition: part, Ticket: ticket, Handle: h, Mechanism: ck.Mechanism{Type: ck.CKM_ML_KEM}, Data: ct,
		}, &rep))
		require.Equal(t, secret, rep.Data)
	}}
	return append([]importedKey{kem}, mldsaKeys(t, c, part, ticket)...)
}
