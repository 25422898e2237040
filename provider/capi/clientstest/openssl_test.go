package clientstest

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

const (
	openssl = "/usr/bin/openssl"
	curl    = "/usr/bin/curl"
)

// engineDir finds OpenSSL's engine directory from openssl itself, so the
// tests follow the installed OpenSSL rather than one architecture's path.
func engineDir(t *testing.T) string {
	t.Helper()
	out, err := runPlain(t, openssl, "version", "-e")
	require.NoError(t, err, out)
	m := regexp.MustCompile(`ENGINESDIR: "([^"]+)"`).FindStringSubmatch(out)
	require.NotNil(t, m, "openssl version -e: %q", out)
	return m[1]
}

// runPlain runs a program that needs no HSM, such as openssl version, and
// returns its combined output.
func runPlain(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// opensslEngine is OpenSSL configured to reach the library through
// libengine-pkcs11-openssl.
type opensslEngine struct {
	h    *libtest.HSM
	conf string // OPENSSL_CONF
}

func newOpenSSLEngine(t *testing.T, h *libtest.HSM) *opensslEngine {
	t.Helper()
	libtest.NeedProgram(t, openssl, "openssl")
	engine := filepath.Join(engineDir(t), "pkcs11.so")
	libtest.NeedProgram(t, engine, "libengine-pkcs11-openssl")
	lib := libtest.Library(t)
	conf := filepath.Join(t.TempDir(), "openssl.cnf")
	// init = 0 defers loading the module until a command names the engine:
	// openssl commands that do not use it never load the library.
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, `openssl_conf = openssl_init

[openssl_init]
engines = engine_section

[engine_section]
pkcs11 = pkcs11_section

[pkcs11_section]
engine_id = pkcs11
dynamic_path = %s
MODULE_PATH = %s
init = 0

[req]
distinguished_name = req_distinguished_name

[req_distinguished_name]
`, engine, lib), 0o644))
	return &opensslEngine{h: h, conf: conf}
}

// keyURI names a private key for the engine, with the PIN it logs in with.
func (e *opensslEngine) keyURI(label string) string {
	return fmt.Sprintf("pkcs11:token=%s;object=%s;type=private?pin-value=%s", e.h.Partition, label, e.h.UserPIN)
}

// selfSigned has openssl make a certificate for 127.0.0.1 signed by the
// partition key labelled label, and returns its path.
func (e *opensslEngine) selfSigned(t *testing.T, label string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), label+".crt")
	mustRun(t, e.h, openssl, []string{"req", "-x509", "-new",
		"-engine", "pkcs11", "-keyform", "engine", "-key", e.keyURI(label),
		"-subj", "/CN=keyhold client test", "-addext", "subjectAltName=IP:127.0.0.1",
		"-days", "1", "-sha256", "-out", path},
		withEnv("OPENSSL_CONF="+e.conf))
	return path
}

func readCertificate(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	block, _ := pem.Decode(data)
	require.NotNil(t, block, "no PEM in %s", path)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}

// TestOpenSSLReqX509 makes self-signed certificates with partition keys:
// the engine signs with CKM_ECDSA on a digest and CKM_RSA_PKCS on a
// DigestInfo.
func TestOpenSSLReqX509(t *testing.T) {
	h := libtest.Start(t)
	e := newOpenSSLEngine(t, h)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)

	for _, spec := range []hsm.KeySpec{
		{Type: hsm.KeyEC, Label: "req-ec"},
		{Type: hsm.KeyRSA, Bits: 2048, Label: "req-rsa"},
	} {
		t.Run(spec.Type.String(), func(t *testing.T) {
			key := generate(t, p, spec)
			cert := readCertificate(t, e.selfSigned(t, spec.Label))
			assert.True(t, samePublic(key.Public(), cert.PublicKey), "certificate is for the partition key")
			// The certificate is not a CA, so CheckSignatureFrom would refuse it;
			// checking the signature alone is what matters here.
			assert.NoError(t, cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature),
				"the standard library verifies the self-signature")
			assert.Equal(t, "keyhold client test", cert.Subject.CommonName)
		})
	}
}

// TestOpenSSLServer serves HTTPS with openssl s_server holding its key in a
// partition, and fetches a page with curl.
func TestOpenSSLServer(t *testing.T) {
	libtest.NeedProgram(t, curl, "curl")
	h := libtest.Start(t)
	e := newOpenSSLEngine(t, h)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)
	generate(t, p, hsm.KeySpec{Type: hsm.KeyEC, Label: "tls-ec"})
	generate(t, p, hsm.KeySpec{Type: hsm.KeyRSA, Bits: 2048, Label: "tls-rsa"})
	certs := map[string]string{
		"tls-ec":  e.selfSigned(t, "tls-ec"),
		"tls-rsa": e.selfSigned(t, "tls-rsa"),
	}

	for _, tc := range []struct {
		name, label string
		server      []string // s_server protocol flags
		client      []string // curl protocol flags
		want        string   // curl's report of the connection
	}{
		{"TLS1.3/ECDSA", "tls-ec", []string{"-tls1_3"},
			[]string{"--tlsv1.3", "--tls-max", "1.3"}, "SSL connection using TLSv1.3"},
		// TLS 1.3 allows RSA only with PSS: the engine signs with the raw
		// CKM_RSA_PKCS_PSS mechanism on a digest.
		{"TLS1.3/RSA-PSS", "tls-rsa", []string{"-tls1_3"},
			[]string{"--tlsv1.3", "--tls-max", "1.3"}, "SSL connection using TLSv1.3"},
		{"TLS1.2/ECDSA", "tls-ec", []string{"-tls1_2"},
			[]string{"--tlsv1.2", "--tls-max", "1.2"}, "SSL connection using TLSv1.2"},
		// Limiting the server to PKCS#1 v1.5 signatures makes the engine
		// use CKM_RSA_PKCS on a DigestInfo, the older of its two RSA paths.
		{"TLS1.2/RSA-PKCS1", "tls-rsa", []string{"-tls1_2", "-sigalgs", "RSA+SHA256"},
			[]string{"--tlsv1.2", "--tls-max", "1.2"}, "SSL connection using TLSv1.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := certs[tc.label]
			page := fmt.Sprintf("page served with %s\n", tc.name)
			addr := startSServer(t, e, tc.label, cert, page, tc.server...)

			args := append([]string{"--silent", "--show-error", "--fail", "--verbose",
				"--max-time", "20", "--cacert", cert}, tc.client...)
			body, stderr := mustRun(t, h, curl, append(args, "https://"+addr+"/index.html"))
			assert.Equal(t, page, body)
			assert.Contains(t, stderr, tc.want)
			assert.Contains(t, stderr, "SSL certificate verify ok")
		})
	}
}

// startSServer starts openssl s_server on a free port of 127.0.0.1, serving
// the files of a directory that holds index.html, and returns its address
// once it accepts connections. The server is killed when the test ends.
func startSServer(t *testing.T, e *opensslEngine, label, cert, page string, flags ...string) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "index.html"), []byte(page), 0o644))
	addr := freeAddr(t)

	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	args := append([]string{"s_server", "-accept", addr,
		"-engine", "pkcs11", "-keyform", "engine", "-key", e.keyURI(label),
		"-cert", cert, "-WWW"}, flags...)
	cmd := command(ctx, e.h, openssl, args, withEnv("OPENSSL_CONF="+e.conf), inDir(root))
	out := newWatchWriter("ACCEPT\n")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		t.Logf("openssl %v\n%s%s", args, out, stderr.String())
	})

	// s_server prints ACCEPT once it listens: after it loaded the key
	// through the engine, which is what most often fails.
	select {
	case <-out.seen:
	case err := <-exited:
		exited <- err
		t.Fatalf("s_server exited before it listened: %v\n%s%s", err, out, stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("s_server did not listen within 15s\n%s%s", out, stderr.String())
	}
	return addr
}

// freeAddr returns an address on 127.0.0.1 that nothing listened on a
// moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// watchWriter collects a program's output and closes seen when the output
// first contains a marker. exec's own copying goroutine writes to it, so
// Wait returns only after the last write.
type watchWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker []byte
	seen   chan struct{}
	once   sync.Once
}

var _ io.Writer = (*watchWriter)(nil)

func newWatchWriter(marker string) *watchWriter {
	return &watchWriter{marker: []byte(marker), seen: make(chan struct{})}
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), w.marker) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
