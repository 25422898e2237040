package clientstest

import (
	"bufio"
	"context"
	"crypto/mlkem"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

// pq32Result is what testdata/pq32.c printed: its "name value" lines.
type pq32Result map[string]string

// bytes returns the hex value of name, failing the test when it is not one.
func (r pq32Result) bytes(t *testing.T, name string) []byte {
	t.Helper()
	v, ok := r[name]
	require.True(t, ok, "pq32 printed no %s", name)
	b, err := hex.DecodeString(v)
	require.NoError(t, err, "%s %s", name, v)
	return b
}

// rv returns the return code the program printed for step name.
func (r pq32Result) rv(t *testing.T, name string) ck.ReturnValue {
	t.Helper()
	v, ok := r[name]
	require.True(t, ok, "pq32 printed no %s", name)
	var code uint64
	_, err := fmt.Sscanf(v, "rv=0x%x", &code)
	require.NoError(t, err, "%s %s", name, v)
	return ck.ReturnValue(code)
}

// paramSet decodes a CK_ULONG attribute the program printed in hex (native
// byte order: little-endian on the machines the library is built for).
func (r pq32Result) ulong(t *testing.T, name string) uint64 {
	t.Helper()
	b := r.bytes(t, name)
	require.Len(t, b, ck.ULongSize)
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// TestPQ32CCaller runs a C program that asks libkeyhold.so for the PKCS#11
// 3.2 interface and uses the post-quantum mechanisms through it: ML-KEM-768
// decapsulation recovers the shared secret crypto/mlkem encapsulated, and
// C_EncapsulateKey and C_DecapsulateKey agree. What it says of ML-DSA is
// checked by checkPQ32MLDSA, which depends on the Go version (crypto/mldsa
// is Go 1.27's).
func TestPQ32CCaller(t *testing.T) {
	prog := libtest.CompileC(t, filepath.Join("testdata", "pq32.c"), "-ldl")
	lib := libtest.Library(t)

	h := libtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := command(ctx, h, prog, []string{lib, h.Partition}, withEnv("KEYHOLD_PIN="+h.UserPIN))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	res := pq32Result{}
	var secret []byte
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		line := lines.Text()
		if len(line) > 80 {
			t.Log(line[:80], "...")
		} else {
			t.Log(line)
		}
		if line == "ciphertext?" {
			// Encapsulate to the public key the program printed, as
			// the other party of a key exchange would.
			ek, err := mlkem.NewEncapsulationKey768(res.bytes(t, "mlkem-pub"))
			require.NoError(t, err, "CKA_VALUE of the ML-KEM-768 public key is its encoding (FIPS 203)")
			var ct []byte
			secret, ct = ek.Encapsulate()
			_, err = io.WriteString(stdin, hex.EncodeToString(ct)+"\n")
			require.NoError(t, err)
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		res[name] = value
	}
	require.NoError(t, lines.Err())
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait(), "pq32:\n%s", stderr.String())

	assert.Equal(t, "rv=0x0", res["interface"], `C_GetInterface("PKCS 11", 3.2)`)
	assert.Equal(t, "3.2", res["version"], "the function list's version")
	require.Equal(t, ck.CKR_OK, res.rv(t, "mlkem-keygen"))
	assert.Equal(t, uint64(ck.CKP_ML_KEM_768), res.ulong(t, "mlkem-paramset"))
	require.NotNil(t, secret, "the program asked for a ciphertext")
	assert.Equal(t, secret, res.bytes(t, "mlkem-secret"), "C_DecapsulateKey recovers what crypto/mlkem encapsulated")
	assert.Equal(t, fmt.Sprint(mlkem.CiphertextSize768), res["mlkem-ctlen"], "C_EncapsulateKey's length query")
	require.Equal(t, ck.CKR_OK, res.rv(t, "mlkem-encapsulate"))
	encapsulated := res.bytes(t, "mlkem-encapsulated")
	assert.Len(t, encapsulated, mlkem.SharedKeySize)
	assert.Equal(t, encapsulated, res.bytes(t, "mlkem-decapsulated"), "C_EncapsulateKey and C_DecapsulateKey agree")
	checkPQ32MLDSA(t, res)
	assert.Contains(t, res, "done")
}
