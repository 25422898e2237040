package clientstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
	"github.com/keyhold/keyhold/signer"
)

const (
	java    = "/usr/bin/java"
	javac   = "/usr/bin/javac"
	keytool = "/usr/bin/keytool"
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

	conf := sunPKCS11Config(t, lib, h.PartitionID)

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

// TestJavaKeytool is a new user's first session with Java: keytool makes an
// EC P-256 and an RSA key entry on the token (SunPKCS11 generates the EC
// pair as session objects and makes them token objects with C_CopyObject;
// RSA keys come to the token through C_CreateObject or C_CopyObject,
// depending on which provider generates them), lists them and exports a
// certificate; a Java program signs with SHA256withECDSA, SHA256withRSA and
// RSASSA-PSS and decrypts with OAEP; keytool deletes both entries. Every
// signature is verified and the plaintext compared here, and the token is
// left as it was found.
func TestJavaKeytool(t *testing.T) {
	libtest.NeedProgram(t, keytool, "openjdk-17-jre-headless")
	libtest.NeedProgram(t, javac, "openjdk-17-jdk-headless")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)

	conf := sunPKCS11Config(t, lib, h.PartitionID)
	pin := withEnv(pinEnv + "=" + h.UserPIN)
	store := []string{"-keystore", "NONE", "-storetype", "PKCS11", "-storepass:env", pinEnv,
		"-providerClass", "sun.security.pkcs11.SunPKCS11", "-providerArg", conf}
	keytoolRun := func(args ...string) string {
		out, _ := mustRun(t, h, keytool, append(args, store...), pin)
		return out
	}

	keytoolRun("-genkeypair", "-alias", "java-ec", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=java-ec")
	keytoolRun("-genkeypair", "-alias", "java-rsa", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=java-rsa")
	list := keytoolRun("-list")
	assert.Regexp(t, `(?m)^java-ec, PrivateKeyEntry`, list)
	assert.Regexp(t, `(?m)^java-rsa, PrivateKeyEntry`, list)

	// The keys are token objects that the Go SDK finds by their certificates'
	// labels too.
	for _, label := range []string{"java-ec", "java-rsa"} {
		found, err := p.FindObjects(testContext(t), hsm.Template{
			ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)), ck.Bytes(ck.CKA_ID, []byte(label)),
			ck.Bool(ck.CKA_TOKEN, true)}, nil)
		require.NoError(t, err)
		assert.Len(t, found, 1, "token private key with CKA_ID %s", label)
	}

	ecCert := exportCert(t, keytoolRun("-exportcert", "-rfc", "-alias", "java-ec"))
	rsaCert := exportCert(t, keytoolRun("-exportcert", "-rfc", "-alias", "java-rsa"))
	rsaPub := rsaCert.PublicKey.(*rsa.PublicKey)
	secret := []byte("decrypted through the PKCS#11 library")
	ciphertext, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, rsaPub, secret, nil)
	require.NoError(t, err)

	out, _ := mustRun(t, h, java, []string{
		"--add-modules", "jdk.crypto.cryptoki",
		"--add-exports", "jdk.crypto.cryptoki/sun.security.pkcs11.wrapper=ALL-UNNAMED",
		"testdata/KeytoolKeys.java", conf, lib, "java-ec", "java-rsa",
		base64.StdEncoding.EncodeToString(ciphertext)}, pin)

	sigs := map[string][]byte{}
	for _, m := range regexp.MustCompile(`(?m)^signature (\S+) (\S+)$`).FindAllStringSubmatch(out, -1) {
		sig, err := base64.StdEncoding.DecodeString(m[2])
		require.NoError(t, err)
		sigs[m[1]] = sig
	}
	digest := sha256.Sum256([]byte("signed through SunPKCS11"))
	assert.True(t, ecdsa.VerifyASN1(ecCert.PublicKey.(*ecdsa.PublicKey), digest[:], sigs["SHA256withECDSA"]),
		"SHA256withECDSA verifies")
	assert.NoError(t, rsa.VerifyPKCS1v15(rsaPub, crypto.SHA256, digest[:], sigs["SHA256withRSA"]), "SHA256withRSA verifies")
	assert.NoError(t, rsa.VerifyPSS(rsaPub, crypto.SHA256, digest[:], sigs["RSASSA-PSS"], &rsa.PSSOptions{SaltLength: 32}),
		"RSASSA-PSS verifies")
	m := regexp.MustCompile(`(?m)^plaintext (\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, m, "no plaintext in %q", out)
	plain, err := base64.StdEncoding.DecodeString(m[1])
	require.NoError(t, err)
	assert.Equal(t, secret, plain)

	keytoolRun("-delete", "-alias", "java-ec")
	keytoolRun("-delete", "-alias", "java-rsa")
	assert.Contains(t, keytoolRun("-list"), "Your keystore contains 0 entries")
	// No token object is left behind. (The EC pair keytool generated as
	// session objects stays on the HSM until the partition is reset: the
	// JVM exits without closing its sessions, and the HSM cannot tell that
	// the process is gone.)
	left, err := p.FindObjects(testContext(t), hsm.Template{ck.Bool(ck.CKA_TOKEN, true)}, []hsm.AttributeType{ck.CKA_LABEL})
	require.NoError(t, err)
	assert.Empty(t, left)
}

// sunPKCS11Config writes a SunPKCS11 configuration for the library's slot.
func sunPKCS11Config(t *testing.T, lib string, slot uint32) string {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "sunpkcs11.cfg")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, "name = keyhold\nlibrary = %s\nslot = %d\n", lib, slot), 0o644))
	return conf
}

// exportCert parses the PEM certificate keytool -exportcert -rfc printed.
func exportCert(t *testing.T, out string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(out))
	require.NotNil(t, block, "no certificate in %q", out)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
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
