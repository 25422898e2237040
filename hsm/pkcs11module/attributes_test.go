//go:build cgo

package pkcs11module_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAttributesEachWithItsOwnCode(t *testing.T) {
	ctx := context.Background()
	_, p, _ := openToken(t)
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "attributes"})
	require.NoError(t, err)
	types := []hsm.AttributeType{ck.CKA_LABEL, ck.CKA_VALUE, ck.CKA_MODULUS, ck.CKA_CLASS, ck.CKA_EC_POINT, ck.CKA_SIGN}
	got, err := p.GetAttributes(ctx, k.Handle(), types)
	require.NoError(t, err)
	require.Len(t, got, len(types))
	assert.Equal(t, []byte("attributes"), got[0].Value)
	assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, got[1].RV)
	assert.Nil(t, got[1].Value)
	assert.Equal(t, ck.CKR_ATTRIBUTE_TYPE_INVALID, got[2].RV)
	// A CK_ULONG comes back in the portable encoding: 8 bytes,
	// little-endian.
	require.Len(t, got[3].Value, ck.ULongSize)
	assert.Equal(t, uint64(ck.CKO_PRIVATE_KEY), binary.LittleEndian.Uint64(got[3].Value))
	// SoftHSM2 keeps the EC point on the public key object only: it is
	// read from there.
	assert.Equal(t, ck.ReturnValue(0), got[4].RV)
	assert.NotEmpty(t, got[4].Value)
	assert.Equal(t, []byte{1}, got[5].Value)

	// CK_ULONG values are converted on the way in too.
	aes, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyAES, Bits: 128, Label: "aes"})
	require.NoError(t, err)
	got, err = p.GetAttributes(ctx, aes.Handle(), []hsm.AttributeType{ck.CKA_VALUE_LEN, ck.CKA_KEY_TYPE})
	require.NoError(t, err)
	assert.Equal(t, ck.ULong(ck.CKA_VALUE_LEN, 16).Value, got[0].Value)
	assert.Equal(t, ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_AES)).Value, got[1].Value)

	// Attribute changes keep the handle in this process.
	require.NoError(t, p.SetAttributes(ctx, k.Handle(), hsm.Template{ck.String(ck.CKA_LABEL, "renamed")}))
	got, err = p.GetAttributes(ctx, k.Handle(), []hsm.AttributeType{ck.CKA_LABEL})
	require.NoError(t, err)
	assert.Equal(t, []byte("renamed"), got[0].Value)
}

func TestPublicKeyFromACertificate(t *testing.T) {
	ctx := context.Background()
	cfg, tk := softhsmtest.Config(t)
	_, p := openConfig(t, cfg)
	require.NoError(t, p.Login(ctx, tk.PIN))
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "certified", ID: []byte("cert-id")})
	require.NoError(t, err)
	pub, err := p.FindKey(ctx, hsm.KeyQuery{Label: "certified", Class: "public"})
	require.NoError(t, err)
	require.NoError(t, pub.Destroy(ctx))

	ca, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	parent := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, PublicKey: ca.Public()}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "certified"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}, parent, k.Public(), ca)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	_, err = p.CreateObject(ctx, hsm.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_CERTIFICATE)),
		ck.ULong(ck.CKA_CERTIFICATE_TYPE, uint64(ck.CKC_X_509)),
		ck.Bool(ck.CKA_TOKEN, true), ck.Bool(ck.CKA_PRIVATE, false),
		ck.String(ck.CKA_LABEL, "certified"), ck.Bytes(ck.CKA_ID, []byte("cert-id")),
		ck.Bytes(ck.CKA_SUBJECT, cert.RawSubject), ck.Bytes(ck.CKA_VALUE, der),
	})
	require.NoError(t, err)

	// A fresh Client looks the key up: the private object has no point,
	// there is no public key object, the certificate has the key.
	_, p2 := openConfig(t, cfg)
	require.NoError(t, p2.Login(ctx, tk.PIN))
	k2, err := p2.KeyByLabel(ctx, "certified")
	require.NoError(t, err)
	assert.Equal(t, k.Public(), k2.Public())
}

func TestAlwaysAuthenticateKey(t *testing.T) {
	ctx := context.Background()
	_, p, _ := openToken(t)
	params, err := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	require.NoError(t, err)
	common := func(class ck.ObjectClass) hsm.Template {
		return hsm.Template{
			ck.ULong(ck.CKA_CLASS, uint64(class)), ck.Bool(ck.CKA_TOKEN, true),
			ck.String(ck.CKA_LABEL, "always"), ck.Bytes(ck.CKA_ID, []byte("always")),
		}
	}
	_, priv, err := p.GenerateKeyPairObjects(ctx, hsm.Mechanism{Type: ck.CKM_EC_KEY_PAIR_GEN},
		append(common(ck.CKO_PUBLIC_KEY), ck.Bytes(ck.CKA_EC_PARAMS, params), ck.Bool(ck.CKA_VERIFY, true)),
		append(common(ck.CKO_PRIVATE_KEY), ck.Bool(ck.CKA_PRIVATE, true), ck.Bool(ck.CKA_SENSITIVE, true),
			ck.Bool(ck.CKA_SIGN, true), ck.Bool(ck.CKA_ALWAYS_AUTHENTICATE, true)))
	require.NoError(t, err)
	k, err := p.KeyByLabel(ctx, "always")
	require.NoError(t, err)
	require.Equal(t, priv, k.Handle())
	for i := range 3 {
		d := sha256.Sum256([]byte{byte(i)})
		sig, err := p.SignRaw(ctx, priv, hsm.Mechanism{Type: ck.CKM_ECDSA}, d[:])
		require.NoError(t, err)
		assert.True(t, ecdsa.Verify(k.Public().(*ecdsa.PublicKey), d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])))
	}
}

func TestHostileRequestsRefusedBeforeAnyCall(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.NewToken(t)
	pc := hsm.PartitionConfig{ID: 1, Name: "hostile", Nodes: []hsm.NodeConfig{tk.Node()}}
	b, err := pkcs11module.Open(ctx, tk.Node(), pc)
	require.NoError(t, err)
	defer b.Close()
	assert.Equal(t, "module:"+tk.Module+" token:"+tk.Label, b.Name())
	assert.True(t, strings.HasPrefix(b.LoginScope(), "module:"+tk.Module+" "))
	assert.True(t, strings.HasSuffix(b.LoginScope(), tk.Serial))

	var calls atomic.Int64
	pkcs11module.SetFault(tk.Module, tk.Label, func() error { calls.Add(1); return nil })
	defer pkcs11module.SetFault(tk.Module, tk.Label, nil)
	code := func(err error) ck.ReturnValue {
		t.Helper()
		var ce *ck.Error
		require.ErrorAs(t, err, &ce)
		return ce.RV
	}
	many := make(hsm.Template, hsm.MaxAttributes+1)
	for i := range many {
		many[i] = ck.Bool(ck.CKA_TOKEN, true)
	}
	_, err = b.CreateObject(ctx, hsm.Request{}, many)
	assert.Equal(t, ck.CKR_TEMPLATE_INCONSISTENT, code(err))
	_, err = b.FindObjects(ctx, hsm.Request{}, hsm.Template{ck.Bytes(ck.CKA_LABEL, make([]byte, hsm.MaxAttributeValue+1))}, nil)
	assert.Equal(t, ck.CKR_ATTRIBUTE_VALUE_INVALID, code(err))
	_, err = b.FindObjects(ctx, hsm.Request{}, hsm.Template{{Type: ck.CKA_CLASS, Value: []byte{3}}}, nil)
	assert.Equal(t, ck.CKR_ATTRIBUTE_VALUE_INVALID, code(err))
	_, err = b.GetAttributes(ctx, hsm.Request{}, 1, make([]hsm.AttributeType, hsm.MaxAttributes+1))
	assert.Equal(t, ck.CKR_ARGUMENTS_BAD, code(err))
	_, err = b.Sign(ctx, hsm.Request{}, 1, hsm.Mechanism{Type: ck.CKM_ECDSA}, make([]byte, hsm.MaxData+1))
	assert.Equal(t, ck.CKR_DATA_LEN_RANGE, code(err))
	_, err = b.Encrypt(ctx, hsm.Request{}, 1, hsm.Mechanism{Type: ck.CKM_AES_GCM, GCM: &hsm.GCMParams{IV: make([]byte, hsm.MaxAttributeValue+1), TagBits: 128}}, nil)
	assert.Equal(t, ck.CKR_MECHANISM_PARAM_INVALID, code(err))
	_, err = b.GenerateRandom(ctx, hsm.Request{}, hsm.MaxRandom+1)
	assert.Equal(t, ck.CKR_ARGUMENTS_BAD, code(err))
	_, err = b.Login(ctx, hsm.Request{}, ck.CKU_CONTEXT_SPECIFIC, []byte(tk.PIN))
	assert.Equal(t, ck.CKR_USER_TYPE_INVALID, code(err))
	_, err = b.Sign(ctx, hsm.Request{Ticket: hsm.Ticket("forged")}, 1, hsm.Mechanism{Type: ck.CKM_ECDSA}, nil)
	assert.ErrorIs(t, err, hsm.ErrLoginExpired)
	assert.Zero(t, calls.Load())

	// A handle nobody handed out names nothing.
	_, err = b.GetAttributes(ctx, hsm.Request{}, 12345, []hsm.AttributeType{ck.CKA_LABEL})
	assert.Equal(t, ck.CKR_OBJECT_HANDLE_INVALID, code(err))
	rnd, err := b.GenerateRandom(ctx, hsm.Request{}, 32)
	require.NoError(t, err)
	assert.Len(t, rnd, 32)
}
