package tlsconfig_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/hsmtest"
	"github.com/keyhold/keyhold/testenv"
)

func TestMain(m *testing.M) { hsmtest.Main(m) }

// fixture is a running test HSM, a logged-in client and a CA (in memory:
// the CA is the test's, not the system under test) that issues
// certificates for partition keys.
type fixture struct {
	target *hsmtest.Target
	env    *testenv.Env // the software HSM, for fault injection; nil on SoftHSM2
	client *hsm.Client
	part   *hsm.Partition
	ca     *testCA
}

// newFixture sets up a partition on the given kind of HSM: the package's
// tests run on keyhold's software HSM and on a SoftHSM2 token.
func newFixture(t testing.TB, kind hsmtest.Kind) *fixture {
	t.Helper()
	tg := hsmtest.Open(t, kind)
	return &fixture{target: tg, env: tg.Env, client: tg.Client, part: tg.Partition, ca: newTestCA(t)}
}

// openClient opens a client of its own on the fixture's HSM and logs in; a
// second one stands for another process that rotates keys and
// certificates.
func openClient(t testing.TB, f *fixture) (*hsm.Client, *hsm.Partition) {
	t.Helper()
	c, err := hsm.Open(context.Background(), f.target.Config)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	p, err := c.Partition(f.part.Name())
	require.NoError(t, err)
	require.NoError(t, p.Login(context.Background(), f.target.PIN))
	return c, p
}

// keySpecs are the key types TLS uses, by name.
var keySpecs = []struct {
	name string
	spec hsm.KeySpec
}{
	{"RSA-2048", hsm.KeySpec{Type: hsm.KeyRSA, Bits: 2048}},
	{"ECDSA-P256", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P256()}},
	{"ECDSA-P384", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P384()}},
	{"Ed25519", hsm.KeySpec{Type: hsm.KeyEd25519}},
}

// keyWithCert generates a key labelled label and stores a certificate for
// it, issued by the fixture's CA, with the CA certificate after it.
func (f *fixture) keyWithCert(t testing.TB, spec hsm.KeySpec, label string) (*hsm.Key, *x509.Certificate) {
	t.Helper()
	spec.Label = label
	key, err := f.part.GenerateKey(context.Background(), spec)
	require.NoError(t, err)
	leaf := f.ca.issue(t, key.Public(), label)
	require.NoError(t, key.SetCertificateChain(context.Background(), []*x509.Certificate{leaf, f.ca.cert}))
	return key, leaf
}

// uri names a key of the fixture's partition by label.
func (f *fixture) uri(label string) string {
	return hsm.URI{Token: f.part.Name(), Object: label, Type: "private"}.String()
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  string // file holding the CA certificate, for curl and openssl
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tlsconfig test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	file := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	return &testCA{cert: cert, key: key, pool: pool, pem: file}
}

var serials = big.NewInt(100)

// issue returns a certificate for pub, valid for localhost as a server and
// as a client.
func (ca *testCA) issue(t testing.TB, pub crypto.PublicKey, cn string) *x509.Certificate {
	t.Helper()
	serials.Add(serials, big.NewInt(1))
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).Set(serials),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

// writePEM writes certificates to a new file and returns its name.
func writePEM(t testing.TB, certs ...*x509.Certificate) string {
	t.Helper()
	var data []byte
	for _, c := range certs {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	f, err := os.CreateTemp(t.TempDir(), "chain-*.pem")
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return f.Name()
}

// discardLog silences the handshake failures that tests cause on purpose.
var discardLog = log.New(io.Discard, "", 0)

// serveHTTPS serves HTTPS with cfg on a loopback port until the test ends,
// and returns the port. The handler answers with the negotiated version and
// the client certificate's common name, if any.
func serveHTTPS(t testing.TB, cfg *tls.Config) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          discardLog,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			client := "-"
			if len(r.TLS.PeerCertificates) > 0 {
				client = r.TLS.PeerCertificates[0].Subject.CommonName
			}
			fmt.Fprintf(w, "%s client=%s", tls.VersionName(r.TLS.Version), client)
		}),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("server: %v", err)
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// fetch makes one request with a fresh connection (no resumption, no
// keep-alive) and returns the body and the server's leaf certificate.
func fetch(port int, cfg *tls.Config) (string, *x509.Certificate, error) {
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(fmt.Sprintf("https://localhost:%d/", port))
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, err
	}
	return string(body), resp.TLS.PeerCertificates[0], nil
}

// versionConfig is a client configuration that trusts pool and speaks only
// version.
func versionConfig(pool *x509.CertPool, version uint16) *tls.Config {
	return &tls.Config{RootCAs: pool, MinVersion: version, MaxVersion: version}
}

// selfSignedPEM returns a self-signed certificate for localhost and its
// in-memory ECDSA P-256 key, as PEM.
func selfSignedPEM(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}
