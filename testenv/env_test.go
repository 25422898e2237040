package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/wire"
)

func TestStartDefaults(t *testing.T) {
	env := Start(t)
	assert.Equal(t, uint32(1), env.PartitionID)
	assert.Equal(t, "test", env.Partition)
	assert.Equal(t, "user-pin-1234", env.UserPIN)
	assert.Equal(t, "so-pin-5678", env.SOPIN)
	require.NoError(t, env.Config.Validate())
	require.Equal(t, []hsm.PartitionConfig{{ID: 1, Name: "test", Nodes: []hsm.NodeConfig{{Address: env.Node.Addr()}}}}, env.Config.Partitions)
	require.NotNil(t, env.Config.RootCAs)
	require.NotNil(t, env.Config.Credential)
	require.DirExists(t, env.Dir)

	// Lockout after 3 by default.
	c := dial(t, env)
	for range 3 {
		_ = c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 1, User: ck.CKU_USER, PIN: []byte("wrong-pin-000")}, nil)
	}
	requireCode(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 1, User: ck.CKU_USER, PIN: []byte(env.UserPIN)}, nil), ck.CKR_PIN_LOCKED)
}

func TestWithMaxPINAttempts(t *testing.T) {
	env := Start(t, WithMaxPINAttempts(1))
	c := dial(t, env)
	requireCode(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 1, User: ck.CKU_USER, PIN: []byte("wrong-pin-000")}, nil), ck.CKR_PIN_INCORRECT)
	requireCode(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 1, User: ck.CKU_USER, PIN: []byte(env.UserPIN)}, nil), ck.CKR_PIN_LOCKED)
}

func TestWriteConfig(t *testing.T) {
	env := Start(t)
	path, err := env.WriteConfig()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(env.Dir, "keyhold.yaml"), path)

	cfg, err := hsm.LoadConfig(path)
	require.NoError(t, err)
	assert.Equal(t, env.Config.Partitions, cfg.Partitions)
	assert.Nil(t, cfg.RootCAs)
	assert.Nil(t, cfg.Credential)

	st, err := os.Stat(cfg.Secrets)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	secrets, err := hsm.ReadSecrets(cfg.Secrets)
	require.NoError(t, err)
	cred, err := secrets.Credential(cfg.Client)
	require.NoError(t, err)
	cert, err := cred.TLSCertificate()
	require.NoError(t, err)

	caPEM, err := os.ReadFile(cfg.ServerCA)
	require.NoError(t, err)
	assert.Equal(t, env.PKI.NodeCAPEM(), caPEM)

	// What the files say is enough to reach the node.
	tc, err := wire.ClientTLS{Certificate: cert, RootCAs: env.PKI.NodeCAPool()}.Config()
	require.NoError(t, err)
	c, err := wire.Dial(ctxT(t), cfg.Partitions[0].Nodes[0].Address, tc, wire.DialOptions{})
	require.NoError(t, err)
	defer c.Close()
	login(t, c, cfg.Partitions[0].ID, ck.CKU_USER, env.UserPIN)
}

func TestStartNodeOptions(t *testing.T) {
	bad := []NodeOptions{
		{},
		{Partitions: []PartitionOptions{{ID: 0, Name: "zero", SOPIN: "so-pin-5678"}}},
		{Partitions: []PartitionOptions{{ID: 1, SOPIN: "so-pin-5678"}}},
		{Partitions: []PartitionOptions{{ID: 1, Name: "a", SOPIN: "so-pin-5678"}, {ID: 1, Name: "b", SOPIN: "so-pin-5678"}}},
		{Partitions: []PartitionOptions{{ID: 1, Name: "a", SOPIN: "so-pin-5678"}, {ID: 2, Name: "a", SOPIN: "so-pin-5678"}}},
		{Partitions: []PartitionOptions{{ID: 1, Name: "no-so-pin"}}},
		{Address: "256.0.0.1:1", Partitions: []PartitionOptions{{ID: 1, Name: "a", SOPIN: "so-pin-5678"}}},
	}
	for _, o := range bad {
		n, err := StartNode(o)
		if !assert.Error(t, err, "%+v", o) {
			n.Close()
		}
	}
}

func TestLimits(t *testing.T) {
	env := Start(t)
	c := dial(t, env)
	p := env.PartitionID
	ctx := ctxT(t)
	ticket := login(t, c, p, ck.CKU_USER, env.UserPIN)
	kp := genP256(t, c, p, ticket, "limits")

	var rnd wire.DataReply
	require.NoError(t, c.Call(ctx, wire.OpGenerateRandom, wire.GenerateRandomRequest{Partition: 0, Length: 32}, &rnd))
	assert.Len(t, rnd.Data, 32)
	require.NoError(t, c.Call(ctx, wire.OpGenerateRandom, wire.GenerateRandomRequest{Partition: p, Length: wire.MaxRandom}, &rnd))
	assert.Len(t, rnd.Data, wire.MaxRandom)

	many := make(ck.Template, wire.MaxAttributes+1)
	for i := range many {
		many[i] = ck.String(ck.CKA_LABEL, "x")
	}
	types := make([]ck.AttributeType, wire.MaxAttributes+1)
	tests := []struct {
		name string
		op   wire.Op
		req  any
		want ck.ReturnValue
	}{
		{"random too long", wire.OpGenerateRandom, wire.GenerateRandomRequest{Length: wire.MaxRandom + 1}, ck.CKR_ARGUMENTS_BAD},
		{"random unknown partition", wire.OpGenerateRandom, wire.GenerateRandomRequest{Partition: 5, Length: 1}, wire.CodeUnknownPartition},
		{"sign data too long", wire.OpSign, wire.CryptRequest{Partition: p, Ticket: ticket, Handle: kp.Private, Mechanism: ck.Mechanism{Type: ck.CKM_ECDSA}, Data: make([]byte, wire.MaxData+1)}, ck.CKR_DATA_LEN_RANGE},
		{"verify signature too long", wire.OpVerify, wire.VerifyRequest{Partition: p, Handle: kp.Public, Mechanism: ck.Mechanism{Type: ck.CKM_ECDSA}, Data: make([]byte, 32), Signature: make([]byte, wire.MaxData+1)}, ck.CKR_SIGNATURE_LEN_RANGE},
		{"find template too long", wire.OpFindObjects, wire.FindObjectsRequest{Partition: p, Template: many}, ck.CKR_ARGUMENTS_BAD},
		{"find wants too many", wire.OpFindObjects, wire.FindObjectsRequest{Partition: p, Want: types}, ck.CKR_ARGUMENTS_BAD},
		{"get too many", wire.OpGetAttributes, wire.GetAttributesRequest{Partition: p, Handle: kp.Public, Types: types}, ck.CKR_ARGUMENTS_BAD},
		{"create template too long", wire.OpCreateObject, wire.CreateObjectRequest{Partition: p, Template: many}, ck.CKR_ARGUMENTS_BAD},
		{"attribute value too long", wire.OpCreateObject, wire.CreateObjectRequest{Partition: p, Template: ck.Template{ck.Bytes(ck.CKA_VALUE, make([]byte, wire.MaxAttributeValue+1))}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"GCM parameters too long", wire.OpEncrypt, wire.CryptRequest{Partition: p, Mechanism: ck.Mechanism{Type: ck.CKM_AES_GCM, GCM: &ck.GCMParams{IV: make([]byte, wire.MaxAttributeValue+1)}}}, ck.CKR_MECHANISM_PARAM_INVALID},
		{"sign unknown partition", wire.OpSign, wire.CryptRequest{Partition: 3, Handle: kp.Private}, wire.CodeUnknownPartition},
		{"duplicate attribute", wire.OpCreateObject, wire.CreateObjectRequest{Partition: p, Ticket: ticket, Template: ck.Template{
			ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_DATA)), ck.String(ck.CKA_LABEL, "a"), ck.String(ck.CKA_LABEL, "b"),
		}}, ck.CKR_TEMPLATE_INCONSISTENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireCode(t, c.Call(ctx, tt.op, tt.req, nil), tt.want)
		})
	}

	// Limit bounds a search.
	for i := range 3 {
		var rep wire.HandleReply
		require.NoError(t, c.Call(ctx, wire.OpCreateObject, wire.CreateObjectRequest{Partition: p, Ticket: ticket, OpID: newOpID(t), Template: ck.Template{
			ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_DATA)), ck.String(ck.CKA_LABEL, "data"), ck.Bytes(ck.CKA_VALUE, []byte{byte(i)}),
			ck.Bool(ck.CKA_TOKEN, true), ck.Bool(ck.CKA_PRIVATE, false),
		}}, &rep))
	}
	var fr wire.FindObjectsReply
	require.NoError(t, c.Call(ctx, wire.OpFindObjects, wire.FindObjectsRequest{Partition: p, Template: ck.Template{ck.String(ck.CKA_LABEL, "data")}, Limit: 2}, &fr))
	assert.Len(t, fr.Objects, 2)
	require.NoError(t, c.Call(ctx, wire.OpFindObjects, wire.FindObjectsRequest{Partition: p, Template: ck.Template{ck.String(ck.CKA_LABEL, "data")}}, &fr))
	assert.Len(t, fr.Objects, 3)
}
