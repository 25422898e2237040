package clientstest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
	"github.com/keyhold/keyhold/testenv"
)

const pkcs11Tool = "/usr/bin/pkcs11-tool"

// pkcs11ToolArgs prefixes args with the module and the token to use; the
// PIN, when a command needs one, comes from pinEnv.
func pkcs11ToolArgs(lib, token string, args ...string) []string {
	return append([]string{"--module", lib, "--token-label", token}, args...)
}

var (
	slotLine  = regexp.MustCompile(`(?m)^Slot \d+ \(0x([0-9a-f]+)\): (.*)$`)
	tokenLine = regexp.MustCompile(`(?m)^\s+token label\s*: (.*)$`)
)

func TestPKCS11ToolListSlots(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	lib := libtest.Library(t)
	h := libtest.Start(t,
		testenv.WithPartition(1, "payments", "payments-pin", "payments-so-pin"),
		testenv.WithPartition(7, "signing", "signing-pin", "signing-so-pin"))

	out, _ := mustRun(t, h, pkcs11Tool, []string{"--module", lib, "--list-slots"})

	slots := slotLine.FindAllStringSubmatch(out, -1)
	tokens := tokenLine.FindAllStringSubmatch(out, -1)
	require.Len(t, slots, 2, "one slot per partition")
	require.Len(t, tokens, 2, "every slot has a token")
	got := map[uint64][2]string{}
	for i, s := range slots {
		id, err := strconv.ParseUint(s[1], 16, 32)
		require.NoError(t, err)
		got[id] = [2]string{s[2], tokens[i][1]}
	}
	// pkcs11-tool prints the blank-padded description and label trimmed.
	assert.Equal(t, map[uint64][2]string{
		1: {"payments", "payments"},
		7: {"signing", "signing"},
	}, got, "slot ID = partition ID; description and token label = partition name")
}

func TestPKCS11ToolKeyPairGen(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)

	for _, tc := range []struct {
		keyType, label, id string
		check              func(t *testing.T, k *hsm.Key)
	}{
		{"EC:prime256v1", "tool-ec", "0a01", func(t *testing.T, k *hsm.Key) {
			require.Equal(t, hsm.KeyEC, k.Type())
			pub, ok := k.Public().(*ecdsa.PublicKey)
			require.True(t, ok, "public key is %T", k.Public())
			assert.Equal(t, elliptic.P256(), pub.Curve)
		}},
		{"rsa:2048", "tool-rsa", "0a02", func(t *testing.T, k *hsm.Key) {
			require.Equal(t, hsm.KeyRSA, k.Type())
			pub, ok := k.Public().(*rsa.PublicKey)
			require.True(t, ok, "public key is %T", k.Public())
			assert.Equal(t, 2048, pub.N.BitLen())
		}},
	} {
		t.Run(tc.keyType, func(t *testing.T) {
			mustRun(t, h, pkcs11Tool, pkcs11ToolArgs(lib, h.Partition,
				"--login", "--pin", "env:"+pinEnv,
				"--keypairgen", "--key-type", tc.keyType, "--label", tc.label, "--id", tc.id),
				withEnv(pinEnv+"="+h.UserPIN))

			id, _ := hex.DecodeString(tc.id)
			k, err := p.FindKey(testContext(t), hsm.KeyQuery{ID: id})
			require.NoError(t, err, "the key pkcs11-tool generated is in the partition")
			assert.Equal(t, tc.label, k.Label())
			assert.True(t, k.IsPrivate())
			assert.True(t, k.CanSign())
			tc.check(t, k)
		})
	}
}

// TestPKCS11ToolSign signs with keys pkcs11-tool generated, reads their
// public halves back with pkcs11-tool, and has openssl verify each
// signature, so that neither side checks only itself.
func TestPKCS11ToolSign(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	libtest.NeedProgram(t, openssl, "openssl")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)
	pin := withEnv(pinEnv + "=" + h.UserPIN)

	const text = "signed by pkcs11-tool through libkeyhold\n"
	dir := t.TempDir()
	message := filepath.Join(dir, "message.txt")
	require.NoError(t, os.WriteFile(message, []byte(text), 0o644))
	sum := sha256.Sum256([]byte(text))
	digest := filepath.Join(dir, "message.sha256")
	require.NoError(t, os.WriteFile(digest, sum[:], 0o644))

	const ecID, rsaID, edID = "0b01", "0b02", "0b03"
	for _, k := range []struct{ keyType, label, id string }{
		{"EC:prime256v1", "sign-ec", ecID},
		{"rsa:2048", "sign-rsa", rsaID},
		// pkcs11-tool names the curve in CKA_EC_PARAMS as the
		// PrintableString "edwards25519", not as an OID.
		{"EC:edwards25519", "sign-ed25519", edID},
	} {
		mustRun(t, h, pkcs11Tool, pkcs11ToolArgs(lib, h.Partition,
			"--login", "--pin", "env:"+pinEnv,
			"--keypairgen", "--key-type", k.keyType, "--label", k.label, "--id", k.id), pin)
	}

	// publicKey exports a public key with pkcs11-tool, as DER
	// SubjectPublicKeyInfo, checks it against the SDK's view of the key,
	// and converts it to PEM for openssl.
	publicKey := func(t *testing.T, id string) string {
		der := filepath.Join(t.TempDir(), "public.der")
		mustRun(t, h, pkcs11Tool, pkcs11ToolArgs(lib, h.Partition,
			"--read-object", "--type", "pubkey", "--id", id, "--output-file", der))
		data, err := os.ReadFile(der)
		require.NoError(t, err)
		pub, err := x509.ParsePKIXPublicKey(data)
		require.NoError(t, err, "pkcs11-tool wrote a SubjectPublicKeyInfo")
		rawID, _ := hex.DecodeString(id)
		k, err := p.FindKey(testContext(t), hsm.KeyQuery{ID: rawID})
		require.NoError(t, err)
		require.True(t, samePublic(k.Public(), pub), "exported public key is the key's")
		return writePublicPEM(t, pub)
	}

	for _, tc := range []struct {
		name, id, mechanism string
		input               string   // what pkcs11-tool signs
		format              []string // extra pkcs11-tool flags
		verify              []string // extra openssl dgst flags
	}{
		// ECDSA-SHA256 hashes in the library; ECDSA signs a digest the
		// caller made, as OpenSSL and GnuTLS call it.
		{"ECDSA-SHA256", ecID, "ECDSA-SHA256", message, []string{"--signature-format", "openssl"}, nil},
		{"ECDSA", ecID, "ECDSA", digest, []string{"--signature-format", "openssl"}, nil},
		// pkcs11-tool asks for MGF1-SHA256 and a salt as long as the digest;
		// openssl holds the signature to that salt length.
		{"SHA256-RSA-PKCS-PSS", rsaID, "SHA256-RSA-PKCS-PSS", message, nil,
			[]string{"-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"}},
		{"SHA256-RSA-PKCS", rsaID, "SHA256-RSA-PKCS", message, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pubPEM := publicKey(t, tc.id)
			sig := filepath.Join(t.TempDir(), "signature")
			args := pkcs11ToolArgs(lib, h.Partition,
				"--login", "--pin", "env:"+pinEnv,
				"--sign", "--id", tc.id, "--mechanism", tc.mechanism,
				"--input-file", tc.input, "--output-file", sig)
			mustRun(t, h, pkcs11Tool, append(args, tc.format...), pin)

			args = append([]string{"dgst", "-sha256", "-verify", pubPEM, "-signature", sig}, tc.verify...)
			out, _ := mustRun(t, h, openssl, append(args, message))
			assert.Contains(t, out, "Verified OK")
		})
	}

	// pkcs11-tool 0.23 cannot write an Ed25519 public key as a
	// SubjectPublicKeyInfo, so the public key comes from the Go SDK here.
	t.Run("EDDSA", func(t *testing.T) {
		rawID, _ := hex.DecodeString(edID)
		k, err := p.FindKey(testContext(t), hsm.KeyQuery{ID: rawID})
		require.NoError(t, err)
		pub, ok := k.Public().(ed25519.PublicKey)
		require.True(t, ok, "public key is %T", k.Public())

		sig := filepath.Join(t.TempDir(), "signature")
		mustRun(t, h, pkcs11Tool, pkcs11ToolArgs(lib, h.Partition,
			"--login", "--pin", "env:"+pinEnv,
			"--sign", "--id", edID, "--mechanism", "EDDSA",
			"--input-file", message, "--output-file", sig), pin)

		out, _ := mustRun(t, h, openssl, []string{"pkeyutl", "-verify", "-pubin", "-inkey", writePublicPEM(t, pub),
			"-rawin", "-in", message, "-sigfile", sig})
		assert.Contains(t, out, "Signature Verified Successfully")
		data, err := os.ReadFile(sig)
		require.NoError(t, err)
		assert.True(t, ed25519.Verify(pub, []byte(text), data), "the standard library verifies the signature")
	})
}

// TestPKCS11ToolSelfTest runs pkcs11-tool's own test of a token: digests,
// random numbers, and signatures and decryption with every key present, on
// a partition that holds RSA, EC, AES and generic secret keys.
func TestPKCS11ToolSelfTest(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)
	// Keys for the signature and decryption tests to use; an empty token
	// would leave most of --test unexercised. The RSA key comes first:
	// the signature test takes the first signing key it finds and tries
	// RSA mechanisms with it.
	generate(t, p, hsm.KeySpec{Type: hsm.KeyRSA, Bits: 2048, Label: "selftest-rsa"})
	generate(t, p, hsm.KeySpec{Type: hsm.KeyEC, Label: "selftest-ec"})
	generate(t, p, hsm.KeySpec{Type: hsm.KeyAES, Label: "selftest-aes", Wrap: true})
	generate(t, p, hsm.KeySpec{Type: hsm.KeyGenericSecret, Label: "selftest-hmac"})

	out, _ := mustRun(t, h, pkcs11Tool, pkcs11ToolArgs(lib, h.Partition,
		"--test", "--login", "--pin", "env:"+pinEnv), withEnv(pinEnv+"="+h.UserPIN))

	// pkcs11-tool tests signatures only with mechanisms flagged CKF_HW,
	// which every keyhold mechanism is.
	assert.NotContains(t, out, "Signatures: not implemented")
	assert.Contains(t, out, "No errors")
}

// TestPKCS11ToolInitPIN logs in as the Security Officer (CKU_SO, with the
// partition's SO PIN) and sets a new User PIN, which the Go SDK must then
// need.
func TestPKCS11ToolInitPIN(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	const newPIN = "a-new-user-pin-42"

	out, _ := mustRun(t, h, pkcs11Tool, pkcs11ToolArgs(lib, h.Partition,
		"--login", "--login-type", "so", "--so-pin", "env:KEYHOLD_TEST_SO_PIN",
		"--init-pin", "--new-pin", "env:KEYHOLD_TEST_NEW_PIN"),
		withEnv("KEYHOLD_TEST_SO_PIN="+h.SOPIN, "KEYHOLD_TEST_NEW_PIN="+newPIN))
	assert.Contains(t, out, "User PIN successfully initialized")

	ctx := testContext(t)
	c, err := hsm.Open(ctx, h.Env.Config)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	p, err := c.Partition(h.Partition)
	require.NoError(t, err)
	assert.ErrorIs(t, p.Login(ctx, h.UserPIN), hsm.ErrPINIncorrect, "the old User PIN no longer works")
	assert.NoError(t, p.Login(ctx, newPIN))
}
