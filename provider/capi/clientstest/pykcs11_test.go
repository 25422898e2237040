package clientstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
	"github.com/keyhold/keyhold/testenv"
)

// debianPython is the interpreter that sees Debian's python3-pykcs11;
// another python3 earlier on PATH (a virtualenv, pyenv) does not.
const debianPython = "/usr/bin/python3"

// pykcs11Package is where python3-pykcs11 installs the module.
const pykcs11Package = "/usr/lib/python3/dist-packages/PyKCS11/__init__.py"

// pykcs11Result is what testdata/pykcs11_sign.py prints.
type pykcs11Result struct {
	Slots []struct {
		ID    uint64 `json:"id"`
		Label string `json:"label"`
	} `json:"slots"`
	Message hexBytes `json:"message"`
	EC      struct {
		Generated        bool     `json:"generated"`
		Point            hexBytes `json:"point"`
		Signature        hexBytes `json:"signature"`
		Verified         bool     `json:"verified"`
		TamperedVerified bool     `json:"tampered_verified"`
	} `json:"ec"`
	RSA struct {
		Modulus          hexBytes `json:"modulus"`
		Exponent         hexBytes `json:"exponent"`
		Signature        hexBytes `json:"signature"`
		Verified         bool     `json:"verified"`
		TamperedVerified bool     `json:"tampered_verified"`
	} `json:"rsa"`
}

type hexBytes []byte

func (b *hexBytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*b = v
	return err
}

func TestPyKCS11(t *testing.T) {
	libtest.NeedProgram(t, debianPython, "python3")
	libtest.NeedProgram(t, pykcs11Package, "python3-pykcs11")
	lib := libtest.Library(t)
	h := libtest.Start(t,
		testenv.WithPartition(3, "python", "python-pin", "python-so-pin"),
		testenv.WithPartition(4, "other", "other-pin", "other-so-pin"))

	script := func(t *testing.T) pykcs11Result {
		t.Helper()
		out, _ := mustRun(t, h, debianPython, []string{"testdata/pykcs11_sign.py", lib, "python"},
			withEnv(pinEnv+"=python-pin"))
		var r pykcs11Result
		require.NoError(t, json.Unmarshal([]byte(out), &r), "script output: %s", out)
		return r
	}
	first := script(t)

	t.Run("slots", func(t *testing.T) {
		got := map[uint64]string{}
		for _, s := range first.Slots {
			got[s.ID] = s.Label
		}
		assert.Equal(t, map[uint64]string{3: "python", 4: "other"}, got)
	})

	t.Run("ECDSA", func(t *testing.T) {
		r := first.EC
		assert.True(t, r.Generated, "the first run generates its key")
		assert.True(t, r.Verified, "C_Verify accepts the signature C_Sign made")
		assert.False(t, r.TamperedVerified, "C_Verify rejects a changed signature")

		// CKA_EC_POINT is the uncompressed point wrapped in a DER OCTET STRING.
		var point []byte
		rest, err := asn1.Unmarshal(r.Point, &point)
		require.NoError(t, err)
		require.Empty(t, rest)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		require.NoError(t, err)

		// CKM_ECDSA returns r‖s, each as long as the curve's order.
		require.Len(t, r.Signature, 64)
		digest := sha256.Sum256(first.Message)
		rr := new(big.Int).SetBytes(r.Signature[:32])
		ss := new(big.Int).SetBytes(r.Signature[32:])
		assert.True(t, ecdsa.Verify(pub, digest[:], rr, ss), "the standard library verifies the signature")

		k, err := sdkPartition(t, h, "python", "python-pin").KeyByLabel(testContext(t), "pykcs11-ec")
		require.NoError(t, err)
		assert.True(t, samePublic(k.Public(), pub), "CKA_EC_POINT is the key's public point")
	})

	t.Run("SHA256-RSA-PKCS", func(t *testing.T) {
		r := first.RSA
		assert.True(t, r.Verified, "C_Verify accepts the signature C_Sign made")
		assert.False(t, r.TamperedVerified, "C_Verify rejects a changed signature")
		e := new(big.Int).SetBytes(r.Exponent)
		require.True(t, e.IsInt64())
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(r.Modulus), E: int(e.Int64())}
		assert.Equal(t, 2048, pub.N.BitLen())
		digest := sha256.Sum256(first.Message)
		assert.NoError(t, rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], r.Signature))
	})

	// A second run, another process, finds the keys the first one made
	// instead of making new ones.
	t.Run("find", func(t *testing.T) {
		second := script(t)
		assert.False(t, second.EC.Generated)
		assert.Equal(t, first.EC.Point, second.EC.Point)
		assert.Equal(t, first.RSA.Modulus, second.RSA.Modulus)
		assert.True(t, second.EC.Verified)
		assert.True(t, second.RSA.Verified)
		keys, err := sdkPartition(t, h, "python", "python-pin").FindObjects(testContext(t), hsm.Template{}, nil)
		require.NoError(t, err)
		assert.Len(t, keys, 4, "one EC and one RSA key pair")
	})
}
