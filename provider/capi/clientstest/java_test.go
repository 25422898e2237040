package clientstest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
	"github.com/keyhold/keyhold/signer"
)

const (
	java  = "/usr/bin/java"
	javac = "/usr/bin/javac"
)

// TestJavaSunPKCS11 loads the library into a JVM through SunPKCS11, lists
// the token's key entries as a KeyStore and signs with SHA256withECDSA
// (CKM_ECDSA on a digest Java made, or CKM_ECDSA_SHA256).
func TestJavaSunPKCS11(t *testing.T) {
	libtest.NeedProgram(t, java, "openjdk-17-jre-headless")
	// The source launcher that runs testdata/PKCS11Sign.java needs the
	// compiler, which only the JDK has.
	libtest.NeedProgram(t, javac, "openjdk-17-jdk-headless")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)

	// A PKCS#11 KeyStore shows a private key only with a certificate of the
	// same CKA_ID: Java's key entries are key and chain together.
	key := generate(t, p, hsm.KeySpec{Type: hsm.KeyEC, Label: "java-ec"})
	storeSelfSigned(t, key)

	conf := filepath.Join(t.TempDir(), "sunpkcs11.cfg")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil,
		"name = keyhold\nlibrary = %s\nslot = %d\n", lib, h.PartitionID), 0o644))

	// The source launcher compiles the one-file program in memory: no
	// build step, no class files.
	out, _ := mustRun(t, h, java, []string{"testdata/PKCS11Sign.java", conf, "java-ec"},
		withEnv(pinEnv+"="+h.UserPIN))

	assert.Contains(t, regexp.MustCompile(`(?m)^alias (.*)$`).FindAllString(out, -1), "alias java-ec")
	m := regexp.MustCompile(`(?m)^signature (\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, m, "no signature in %q", out)
	sig, err := base64.StdEncoding.DecodeString(m[1])
	require.NoError(t, err)
	digest := sha256.Sum256([]byte("signed through SunPKCS11"))
	assert.True(t, ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), digest[:], sig),
		"the standard library verifies Java's signature")
}

// storeSelfSigned stores a self-signed certificate with key, signed by the
// key itself through the Go SDK.
func storeSelfSigned(t *testing.T, key *hsm.Key) {
	t.Helper()
	s, err := signer.New(key)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: key.Label()},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), s)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	require.NoError(t, key.SetCertificateChain(testContext(t), []*x509.Certificate{cert}))
}
