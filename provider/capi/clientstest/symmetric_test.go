package clientstest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/hsmtest"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// ecbBlock encrypts one block with key through the Go SDK.
func ecbBlock(t *testing.T, k *hsm.Key, block []byte) []byte {
	t.Helper()
	out, err := k.Encrypt(testContext(t), hsm.Mechanism{Type: ck.CKM_AES_ECB}, block)
	require.NoError(t, err)
	return out
}

// TestPKCS11ToolAES encrypts and decrypts with pkcs11-tool: AES-CBC-PAD with
// a key of known value, whose ciphertext openssl decrypts, and a round trip
// with a key pkcs11-tool generated.
func TestPKCS11ToolAES(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	libtest.NeedProgram(t, openssl, "openssl")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)
	dir := t.TempDir()
	message := filepath.Join(dir, "message.txt")
	require.NoError(t, os.WriteFile(message, []byte("encrypted by pkcs11-tool through libkeyhold, not a whole block\n"), 0o644))
	const iv = "000102030405060708090a0b0c0d0e0f"
	value := randomBytes(t, 32)
	hsmtest.ImportSecret(t, p, ck.CKK_AES, value, ck.String(ck.CKA_LABEL, "aes-known"), ck.Bytes(ck.CKA_ID, []byte{0xa1}), ck.Bool(ck.CKA_ENCRYPT, true), ck.Bool(ck.CKA_DECRYPT, true))

	for _, tc := range []struct{ name, id string }{{"known", "a1"}, {"generated", "a2"}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "generated" {
				loggedInTool(t, h, lib, "--keygen", "--key-type", "AES:32", "--label", "aes-tool", "--id", tc.id)
			}
			enc, dec := filepath.Join(dir, tc.name+".enc"), filepath.Join(dir, tc.name+".dec")
			loggedInTool(t, h, lib, "--encrypt", "--id", tc.id, "-m", "AES-CBC-PAD", "--iv", iv, "-i", message, "-o", enc)
			loggedInTool(t, h, lib, "--decrypt", "--id", tc.id, "-m", "AES-CBC-PAD", "--iv", iv, "-i", enc, "-o", dec)
			want, err := os.ReadFile(message)
			require.NoError(t, err)
			got, err := os.ReadFile(dec)
			require.NoError(t, err)
			assert.Equal(t, want, got, "decrypted by pkcs11-tool")
			if tc.name == "known" {
				out, _ := mustRun(t, h, openssl, []string{"enc", "-d", "-aes-256-cbc", "-K", hex.EncodeToString(value), "-iv", iv, "-in", enc})
				assert.Equal(t, string(want), out, "decrypted by openssl")
			}
		})
	}
}

// TestPKCS11ToolHMAC signs with HMAC-SHA256 through pkcs11-tool, with a
// generic secret of known value, checks the MAC against the standard
// library's, and verifies it with pkcs11-tool, which also refuses an altered
// one.
func TestPKCS11ToolHMAC(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)
	pin := withEnv(pinEnv + "=" + h.UserPIN)
	dir := t.TempDir()
	msg := []byte("authenticated by pkcs11-tool\n")
	message := filepath.Join(dir, "message.txt")
	require.NoError(t, os.WriteFile(message, msg, 0o644))
	value := randomBytes(t, 32)
	hsmtest.ImportSecret(t, p, ck.CKK_GENERIC_SECRET, value, ck.String(ck.CKA_LABEL, "hmac"), ck.Bytes(ck.CKA_ID, []byte{0xb1}), ck.Bool(ck.CKA_SIGN, true), ck.Bool(ck.CKA_VERIFY, true))

	macFile := filepath.Join(dir, "message.mac")
	loggedInTool(t, h, lib, "--sign", "-m", "SHA256-HMAC", "--id", "b1", "-i", message, "-o", macFile)
	mac, err := os.ReadFile(macFile)
	require.NoError(t, err)
	std := hmac.New(sha256.New, value)
	std.Write(msg)
	assert.Equal(t, hex.EncodeToString(std.Sum(nil)), hex.EncodeToString(mac))

	out, _ := loggedInTool(t, h, lib, "--verify", "-m", "SHA256-HMAC", "--id", "b1", "-i", message, "--signature-file", macFile)
	assert.Contains(t, out, "Signature is valid")
	mac[0] ^= 1
	require.NoError(t, os.WriteFile(macFile, mac, 0o644))
	// pkcs11-tool exits 0 either way; it says which.
	out, _, _ = run(t, h, pkcs11Tool, pkcs11ToolArgs(lib, h.Partition, "--login", "--pin", "env:"+pinEnv,
		"--verify", "-m", "SHA256-HMAC", "--id", "b1", "-i", message, "--signature-file", macFile), pin)
	assert.Contains(t, out, "Invalid signature", "an altered MAC does not verify")

	// A generic secret pkcs11-tool generates MACs too.
	loggedInTool(t, h, lib, "--keygen", "--key-type", "GENERIC:32", "--label", "hmac-tool", "--id", "b2")
	loggedInTool(t, h, lib, "--sign", "-m", "SHA512-HMAC", "--id", "b2", "-i", message, "-o", macFile)
	mac, err = os.ReadFile(macFile)
	require.NoError(t, err)
	assert.Len(t, mac, 64)
}

// TestPKCS11ToolDerive derives an ECDH secret with pkcs11-tool from a key
// pair it generated and a standard-library peer key, and checks it against
// the standard library's side of the agreement.
func TestPKCS11ToolDerive(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)
	dir := t.TempDir()
	loggedInTool(t, h, lib, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "dh", "--id", "c1", "--usage-derive")
	k, err := p.FindKey(testContext(t), hsm.KeyQuery{ID: []byte{0xc1}})
	require.NoError(t, err)
	tokenPub, err := k.Public().(*ecdsa.PublicKey).ECDH()
	require.NoError(t, err)

	peer, err := ecdh.P256().GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(peer.PublicKey())
	require.NoError(t, err)
	peerFile, secretFile := filepath.Join(dir, "peer.der"), filepath.Join(dir, "secret.bin")
	require.NoError(t, os.WriteFile(peerFile, der, 0o644))
	loggedInTool(t, h, lib, "--derive", "-m", "ECDH1-DERIVE", "--id", "c1", "-i", peerFile, "-o", secretFile)
	got, err := os.ReadFile(secretFile)
	require.NoError(t, err)
	want, err := peer.ECDH(tokenPub)
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
}

// TestPKCS11ToolWrap wraps a key with pkcs11-tool under an AES key-wrapping
// key (RFC 3394), checks the result against openssl's AES key wrap, and
// unwraps it into a new key that encrypts as the original does.
func TestPKCS11ToolWrap(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	libtest.NeedProgram(t, openssl, "openssl")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)
	dir := t.TempDir()
	kekValue, keyValue := randomBytes(t, 16), randomBytes(t, 16)
	hsmtest.ImportSecret(t, p, ck.CKK_AES, kekValue, ck.String(ck.CKA_LABEL, "kek"), ck.Bytes(ck.CKA_ID, []byte{0xd1}), ck.Bool(ck.CKA_WRAP, true), ck.Bool(ck.CKA_UNWRAP, true))
	hsmtest.ImportSecret(t, p, ck.CKK_AES, keyValue, ck.String(ck.CKA_LABEL, "movable"), ck.Bytes(ck.CKA_ID, []byte{0xd2}), ck.Bool(ck.CKA_EXTRACTABLE, true))

	wrappedFile := filepath.Join(dir, "wrapped.key")
	loggedInTool(t, h, lib, "--wrap", "--id", "d1", "--application-id", "d2", "-m", "AES-KEY-WRAP", "-o", wrappedFile)
	wrapped, err := os.ReadFile(wrappedFile)
	require.NoError(t, err)
	keyFile := filepath.Join(dir, "key.bin")
	require.NoError(t, os.WriteFile(keyFile, keyValue, 0o600))
	want, _ := mustRun(t, h, openssl, []string{"enc", "-id-aes128-wrap", "-K", hex.EncodeToString(kekValue),
		"-iv", "A6A6A6A6A6A6A6A6", "-in", keyFile})
	assert.Equal(t, hex.EncodeToString([]byte(want)), hex.EncodeToString(wrapped), "RFC 3394 as openssl computes it")

	loggedInTool(t, h, lib, "--unwrap", "--id", "d1", "-m", "AES-KEY-WRAP", "-i", wrappedFile, "--key-type", "AES:16",
		"--application-id", "d3", "--application-label", "unwrapped")
	objs, err := p.FindObjects(testContext(t), hsm.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)), ck.Bytes(ck.CKA_ID, []byte{0xd3})}, nil)
	require.NoError(t, err)
	require.Len(t, objs, 1, "the unwrapped key")
	moved, err := p.KeyByHandle(testContext(t), objs[0].Handle)
	require.NoError(t, err)
	assert.Equal(t, "unwrapped", moved.Label())
	block := []byte("one block of 16!")
	b, err := aes.NewCipher(keyValue)
	require.NoError(t, err)
	exp := make([]byte, 16)
	b.Encrypt(exp, block)
	assert.Equal(t, exp, ecbBlock(t, moved, block), "the unwrapped key is the wrapped one")
}

// pykcs11Symmetric is what testdata/pykcs11_symmetric.py prints.
type pykcs11Symmetric struct {
	Message hexBytes `json:"message"`
	AES     struct {
		Key, IV, Ciphertext, Decrypted hexBytes
		GeneratedRoundTrip             hexBytes `json:"generated_round_trip"`
	} `json:"aes"`
	HMAC struct {
		Key, MAC         hexBytes
		Verified         bool `json:"verified"`
		TamperedVerified bool `json:"tampered_verified"`
	} `json:"hmac"`
}

// TestPyKCS11Symmetric runs AES-CBC-PAD and HMAC-SHA256 through PyKCS11 and
// checks every result with the standard library.
func TestPyKCS11Symmetric(t *testing.T) {
	libtest.NeedProgram(t, debianPython, "python3")
	libtest.NeedProgram(t, pykcs11Package, "python3-pykcs11")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	out, _ := mustRun(t, h, debianPython, []string{"testdata/pykcs11_symmetric.py", lib, h.Partition},
		withEnv(pinEnv+"="+h.UserPIN))
	var r pykcs11Symmetric
	require.NoError(t, json.Unmarshal([]byte(out), &r), "script output: %s", out)

	block, err := aes.NewCipher(r.AES.Key)
	require.NoError(t, err)
	n := len(r.Message)/aes.BlockSize*aes.BlockSize + aes.BlockSize
	padded := make([]byte, n)
	copy(padded, r.Message)
	for i := len(r.Message); i < n; i++ {
		padded[i] = byte(n - len(r.Message))
	}
	want := make([]byte, n)
	cipher.NewCBCEncrypter(block, r.AES.IV).CryptBlocks(want, padded)
	assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(r.AES.Ciphertext), "AES-CBC with PKCS #7 padding")
	assert.Equal(t, []byte(r.Message), []byte(r.AES.Decrypted))
	assert.Equal(t, []byte(r.Message), []byte(r.AES.GeneratedRoundTrip))

	mac := hmac.New(sha256.New, r.HMAC.Key)
	mac.Write(r.Message)
	assert.Equal(t, hex.EncodeToString(mac.Sum(nil)), hex.EncodeToString(r.HMAC.MAC))
	assert.True(t, r.HMAC.Verified)
	assert.False(t, r.HMAC.TamperedVerified)
}

// loggedInTool runs pkcs11-tool logged in as the User, with the PIN from
// the environment, and fails the test unless it exits 0.
func loggedInTool(t *testing.T, h *libtest.HSM, lib string, args ...string) (stdout, stderr string) {
	t.Helper()
	return mustRun(t, h, pkcs11Tool, pkcs11ToolArgs(lib, h.Partition, append([]string{"--login", "--pin", "env:" + pinEnv}, args...)...),
		withEnv(pinEnv+"="+h.UserPIN))
}
