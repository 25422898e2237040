package tlsconfig_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/hsmtest"
	"github.com/keyhold/keyhold/tlsconfig"
)

var versions = []uint16{tls.VersionTLS12, tls.VersionTLS13}

// TestServerEachKeyTypeAndVersion serves HTTPS on a partition key of each
// type and has Go's client, curl and openssl s_client verify it over TLS 1.2
// and 1.3. TLS 1.3 with RSA succeeds only with PSS, which the partition key
// must therefore make.
func TestServerEachKeyTypeAndVersion(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testServerEachKeyTypeAndVersion(t, kind) })
}

func testServerEachKeyTypeAndVersion(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	for _, ks := range keySpecs {
		t.Run(ks.name, func(t *testing.T) {
			_, leaf := f.keyWithCert(t, ks.spec, "web-"+ks.name)
			id, err := tlsconfig.NewIdentity(context.Background(), f.client, tlsconfig.Options{Key: f.uri("web-" + ks.name)})
			require.NoError(t, err)
			t.Cleanup(func() { id.Close() })
			assert.Equal(t, leaf.SerialNumber, id.Leaf().SerialNumber)
			port := serveHTTPS(t, tlsconfig.Server(id, nil))

			for _, v := range versions {
				t.Run(tls.VersionName(v), func(t *testing.T) {
					t.Run("go", func(t *testing.T) {
						body, got, err := fetch(port, versionConfig(f.ca.pool, v))
						require.NoError(t, err)
						assert.Equal(t, tls.VersionName(v)+" client=-", body)
						assert.Equal(t, leaf.Raw, got.Raw)
					})
					t.Run("curl", func(t *testing.T) { curlVerifies(t, f.ca.pem, port, v) })
					t.Run("openssl", func(t *testing.T) { opensslVerifies(t, f.ca.pem, port, v, ks.spec.Type) })
				})
			}
		})
	}
}

// tool returns the path of an external program. A missing one skips the
// test on a developer's machine and fails it on CI, which installs it.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not on PATH, and CI must run this test with it: %v", name, err)
		}
		t.Skipf("%s is not on PATH", name)
	}
	return path
}

func curlVerifies(t *testing.T, caFile string, port int, v uint16) {
	curl := tool(t, "curl")
	flag := map[uint16]string{tls.VersionTLS12: "1.2", tls.VersionTLS13: "1.3"}[v]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, "--silent", "--show-error", "--fail",
		"--cacert", caFile, "--tlsv"+flag, "--tls-max", flag,
		fmt.Sprintf("https://localhost:%d/", port)).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, tls.VersionName(v)+" client=-", string(out))
}

func opensslVerifies(t *testing.T, caFile string, port int, v uint16, kind hsm.KeyType) {
	openssl := tool(t, "openssl")
	flag := map[uint16]string{tls.VersionTLS12: "-tls1_2", tls.VersionTLS13: "-tls1_3"}[v]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-brief", flag,
		"-connect", fmt.Sprintf("127.0.0.1:%d", port), "-servername", "localhost",
		"-CAfile", caFile, "-verify_return_error", "-verify_hostname", "localhost")
	cmd.Stdin = strings.NewReader("") // end of input: s_client closes after the handshake
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	text := string(out)
	assert.Contains(t, text, "Verification: OK")
	assert.Contains(t, text, "Protocol version: "+map[uint16]string{tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3"}[v])
	if kind == hsm.KeyRSA && v == tls.VersionTLS13 {
		assert.Contains(t, text, "Signature type: RSA-PSS")
	}
}

// TestMutualTLS has both ends on partition keys: the server requires a
// client certificate from the CA and sees the client's name.
func TestMutualTLS(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testMutualTLS(t, kind) })
}

func testMutualTLS(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	f.keyWithCert(t, keySpecs[1].spec, "server")
	f.keyWithCert(t, keySpecs[3].spec, "client")
	srvID, err := tlsconfig.NewIdentity(context.Background(), f.client, tlsconfig.Options{Key: f.uri("server")})
	require.NoError(t, err)
	t.Cleanup(func() { srvID.Close() })
	// The short name the CLI takes works too.
	cliID, err := tlsconfig.NewIdentity(context.Background(), f.client, tlsconfig.Options{Key: f.part.Name() + "/client"})
	require.NoError(t, err)
	t.Cleanup(func() { cliID.Close() })

	srvCfg := tlsconfig.Server(srvID, &tls.Config{ClientCAs: f.ca.pool})
	require.Equal(t, tls.RequireAndVerifyClientCert, srvCfg.ClientAuth)
	port := serveHTTPS(t, srvCfg)

	for _, v := range versions {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			body, _, err := fetch(port, tlsconfig.Client(cliID, versionConfig(f.ca.pool, v)))
			require.NoError(t, err)
			assert.Equal(t, tls.VersionName(v)+" client=client", body)

			_, _, err = fetch(port, versionConfig(f.ca.pool, v))
			require.Error(t, err, "a client without a certificate must be refused")
		})
	}
}

// TestRSAKeyExchangeOnlyWhenAsked: an RSA partition key is offered to TLS
// 1.2's RSA key exchange only with Options.RSAKeyExchange, even when the
// server's cipher suites allow it.
func TestRSAKeyExchangeOnlyWhenAsked(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testRSAKeyExchangeOnlyWhenAsked(t, kind) })
}

func testRSAKeyExchangeOnlyWhenAsked(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	f.keyWithCert(t, keySpecs[0].spec, "rsa")
	base := &tls.Config{CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
	rsaKexOnly := versionConfig(f.ca.pool, tls.VersionTLS12)
	rsaKexOnly.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}

	for _, kex := range []bool{false, true} {
		t.Run(fmt.Sprintf("RSAKeyExchange=%v", kex), func(t *testing.T) {
			id, err := tlsconfig.NewIdentity(context.Background(), f.client, tlsconfig.Options{Key: f.uri("rsa"), RSAKeyExchange: kex})
			require.NoError(t, err)
			t.Cleanup(func() { id.Close() })
			port := serveHTTPS(t, tlsconfig.Server(id, base))

			_, _, err = fetch(port, rsaKexOnly)
			if kex {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
			// ECDHE with an RSA signature works either way.
			_, _, err = fetch(port, versionConfig(f.ca.pool, tls.VersionTLS12))
			require.NoError(t, err)
		})
	}
}

// errorLog collects refresh errors.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *errorLog) has(target error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.errs {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// servedSerial is the serial number of the certificate a fresh handshake
// gets, or "" when the handshake fails.
func servedSerial(port int, pool *x509.CertPool) string {
	_, leaf, err := fetch(port, versionConfig(pool, tls.VersionTLS13))
	if err != nil {
		return ""
	}
	return leaf.SerialNumber.String()
}

// TestRotatedCertificateUsedByNextHandshake renews the certificate from
// another client, as an operator's tool would, and expects new handshakes to
// present it within the refresh interval, without restarting the server.
func TestRotatedCertificateUsedByNextHandshake(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testRotatedCertificateUsedByNextHandshake(t, kind) })
}

func testRotatedCertificateUsedByNextHandshake(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	key, leaf1 := f.keyWithCert(t, keySpecs[1].spec, "web")
	var log errorLog
	id, err := tlsconfig.NewIdentity(context.Background(), f.client, tlsconfig.Options{
		Key: f.uri("web"), RefreshInterval: 50 * time.Millisecond, OnRefreshError: log.add,
	})
	require.NoError(t, err)
	t.Cleanup(func() { id.Close() })
	port := serveHTTPS(t, tlsconfig.Server(id, nil))
	require.Equal(t, leaf1.SerialNumber.String(), servedSerial(port, f.ca.pool))

	_, other := openClient(t, f)
	otherKey, err := other.KeyByID(context.Background(), key.ID())
	require.NoError(t, err)
	leaf2 := f.ca.issue(t, key.Public(), "web renewed")
	start := time.Now()
	require.NoError(t, otherKey.SetCertificateChain(context.Background(), []*x509.Certificate{leaf2, f.ca.cert}))

	require.Eventually(t, func() bool { return servedSerial(port, f.ca.pool) == leaf2.SerialNumber.String() },
		5*time.Second, 10*time.Millisecond)
	t.Logf("renewed certificate served %v after it was stored (refresh interval 50ms)", time.Since(start).Round(time.Millisecond))
	assert.Equal(t, leaf2.SerialNumber, id.Leaf().SerialNumber)
	assert.Empty(t, log.errs)
}

// TestRotatedKeyUsedByNextHandshake replaces the key itself under the same
// label: while both keys exist the old pair stays in service; once the old
// key is destroyed the new key and its certificate take over.
func TestRotatedKeyUsedByNextHandshake(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testRotatedKeyUsedByNextHandshake(t, kind) })
}

func testRotatedKeyUsedByNextHandshake(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	key1, leaf1 := f.keyWithCert(t, keySpecs[1].spec, "web")
	var log errorLog
	id, err := tlsconfig.NewIdentity(context.Background(), f.client, tlsconfig.Options{
		Key: f.uri("web"), RefreshInterval: 20 * time.Millisecond, OnRefreshError: log.add,
	})
	require.NoError(t, err)
	t.Cleanup(func() { id.Close() })
	port := serveHTTPS(t, tlsconfig.Server(id, nil))

	ctx := context.Background()
	_, other := openClient(t, f)
	key2, err := other.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "web"})
	require.NoError(t, err)
	leaf2 := f.ca.issue(t, key2.Public(), "web new key")
	require.NoError(t, key2.SetCertificateChain(ctx, []*x509.Certificate{leaf2, f.ca.cert}))

	// Two keys answer to the label: the refresh refuses to guess.
	require.Eventually(t, func() bool { return log.has(hsm.ErrAmbiguous) }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, leaf1.SerialNumber.String(), servedSerial(port, f.ca.pool))

	old, err := other.KeyByID(ctx, key1.ID())
	require.NoError(t, err)
	require.NoError(t, old.Destroy(ctx))
	require.Eventually(t, func() bool { return servedSerial(port, f.ca.pool) == leaf2.SerialNumber.String() },
		5*time.Second, 10*time.Millisecond)
	assert.Equal(t, key2.Handle(), id.Key().Handle())
}

// TestDestroyedKeyTriggersRefresh: with a long refresh interval, the first
// handshake that finds its key destroyed asks for a refresh, so that the
// successor serves within about a second rather than an interval.
func TestDestroyedKeyTriggersRefresh(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testDestroyedKeyTriggersRefresh(t, kind) })
}

func testDestroyedKeyTriggersRefresh(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	key1, _ := f.keyWithCert(t, keySpecs[1].spec, "web")
	id, err := tlsconfig.NewIdentity(context.Background(), f.client, tlsconfig.Options{
		Key: f.uri("web"), RefreshInterval: time.Hour, OnRefreshError: func(error) {},
	})
	require.NoError(t, err)
	t.Cleanup(func() { id.Close() })
	port := serveHTTPS(t, tlsconfig.Server(id, nil))

	ctx := context.Background()
	_, other := openClient(t, f)
	key2, err := other.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "web"})
	require.NoError(t, err)
	leaf2 := f.ca.issue(t, key2.Public(), "web new key")
	require.NoError(t, key2.SetCertificateChain(ctx, []*x509.Certificate{leaf2, f.ca.cert}))
	old, err := other.KeyByID(ctx, key1.ID())
	require.NoError(t, err)
	require.NoError(t, old.Destroy(ctx))

	assert.Empty(t, servedSerial(port, f.ca.pool), "the destroyed key cannot sign")
	require.Eventually(t, func() bool { return servedSerial(port, f.ca.pool) == leaf2.SerialNumber.String() },
		5*time.Second, 20*time.Millisecond)
}

// TestRefreshOnDemand: with the background refresh off, Refresh applies a
// renewal at once.
func TestRefreshOnDemand(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testRefreshOnDemand(t, kind) })
}

func testRefreshOnDemand(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	key, leaf1 := f.keyWithCert(t, keySpecs[3].spec, "web")
	id, err := tlsconfig.NewIdentity(context.Background(), f.client, tlsconfig.Options{Key: f.uri("web"), RefreshInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { id.Close() })
	port := serveHTTPS(t, tlsconfig.Server(id, nil))

	leaf2 := f.ca.issue(t, key.Public(), "web renewed")
	require.NoError(t, key.SetCertificateChain(context.Background(), []*x509.Certificate{leaf2, f.ca.cert}))
	assert.Equal(t, leaf1.SerialNumber.String(), servedSerial(port, f.ca.pool))
	require.NoError(t, id.Refresh(context.Background()))
	assert.Equal(t, leaf2.SerialNumber.String(), servedSerial(port, f.ca.pool))
	assert.Len(t, id.Chain(), 2)
}

// TestCertFile reads the chain from a PEM file, follows its replacement, and
// refuses a replacement that is for another key while the old one serves on.
func TestCertFile(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testCertFile(t, kind) })
}

func testCertFile(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	key, err := f.part.GenerateKey(context.Background(), hsm.KeySpec{Type: hsm.KeyEC, Label: "web"})
	require.NoError(t, err)
	leaf1 := f.ca.issue(t, key.Public(), "web")
	file := writePEM(t, leaf1, f.ca.cert)
	var log errorLog
	id, err := tlsconfig.NewIdentity(context.Background(), f.client, tlsconfig.Options{
		Key: f.uri("web"), CertFile: file, RefreshInterval: 20 * time.Millisecond, OnRefreshError: log.add,
	})
	require.NoError(t, err)
	t.Cleanup(func() { id.Close() })
	port := serveHTTPS(t, tlsconfig.Server(id, nil))
	require.Equal(t, leaf1.SerialNumber.String(), servedSerial(port, f.ca.pool))

	// A certificate for another key: refused, the old one stays.
	otherKey, err := f.part.GenerateKey(context.Background(), hsm.KeySpec{Type: hsm.KeyEC, Label: "other"})
	require.NoError(t, err)
	require.NoError(t, os.Rename(writePEM(t, f.ca.issue(t, otherKey.Public(), "other")), file))
	require.Eventually(t, func() bool { return log.has(tlsconfig.ErrCertificateMismatch) }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, leaf1.SerialNumber.String(), servedSerial(port, f.ca.pool))

	// A renewal for the right key: served.
	leaf2 := f.ca.issue(t, key.Public(), "web renewed")
	require.NoError(t, os.Rename(writePEM(t, leaf2, f.ca.cert), file))
	require.Eventually(t, func() bool { return servedSerial(port, f.ca.pool) == leaf2.SerialNumber.String() },
		5*time.Second, 10*time.Millisecond)
}

// TestMismatchRefusedAtStart: a certificate that is not for the key is
// refused by NewIdentity, from a file or from the partition.
func TestMismatchRefusedAtStart(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testMismatchRefusedAtStart(t, kind) })
}

func testMismatchRefusedAtStart(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	ctx := context.Background()
	key, err := f.part.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "web"})
	require.NoError(t, err)
	otherKey, err := f.part.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "other"})
	require.NoError(t, err)
	wrong := f.ca.issue(t, otherKey.Public(), "other")

	t.Run("no certificate", func(t *testing.T) {
		_, err := tlsconfig.NewIdentity(ctx, f.client, tlsconfig.Options{Key: f.uri("web")})
		require.ErrorIs(t, err, tlsconfig.ErrNoCertificate)
		assert.Contains(t, err.Error(), "SetCertificateChain")
	})
	t.Run("file", func(t *testing.T) {
		_, err := tlsconfig.NewIdentity(ctx, f.client, tlsconfig.Options{Key: f.uri("web"), CertFile: writePEM(t, wrong)})
		require.ErrorIs(t, err, tlsconfig.ErrCertificateMismatch)
		assert.Contains(t, err.Error(), "is not for key "+f.uri("web"))
		assert.Contains(t, err.Error(), `subject "CN=other"`)
	})
	t.Run("partition", func(t *testing.T) {
		// SetCertificateChain refuses a wrong leaf, so store the object as
		// another PKCS#11 tool could.
		_, err := f.part.CreateObject(ctx, hsm.Template{
			hsm.NewULongAttribute(ck.CKA_CLASS, uint64(ck.CKO_CERTIFICATE)),
			hsm.NewULongAttribute(ck.CKA_CERTIFICATE_TYPE, uint64(ck.CKC_X_509)),
			hsm.NewBoolAttribute(ck.CKA_TOKEN, true),
			hsm.NewBoolAttribute(ck.CKA_PRIVATE, false),
			hsm.NewBytesAttribute(ck.CKA_LABEL, []byte("web")),
			hsm.NewBytesAttribute(ck.CKA_ID, key.ID()),
			hsm.NewBytesAttribute(ck.CKA_SUBJECT, wrong.RawSubject),
			hsm.NewBytesAttribute(ck.CKA_VALUE, wrong.Raw),
		})
		require.NoError(t, err)
		_, err = tlsconfig.NewIdentity(ctx, f.client, tlsconfig.Options{Key: f.uri("web")})
		require.ErrorIs(t, err, tlsconfig.ErrCertificateMismatch)
		assert.Contains(t, err.Error(), "none of the 1 certificates stored with key")
	})
}

// TestNewIdentityErrors: each way of naming a key badly gets the engine's
// typed error.
func TestNewIdentityErrors(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testNewIdentityErrors(t, kind) })
}

func testNewIdentityErrors(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	ctx := context.Background()
	f.keyWithCert(t, keySpecs[1].spec, "web")
	f.keyWithCert(t, keySpecs[1].spec, "twin")
	f.keyWithCert(t, keySpecs[1].spec, "twin")
	for _, tc := range []struct {
		key  string
		want error
	}{
		{"not a uri", hsm.ErrInvalidURI},
		{"pkcs11:token=" + f.part.Name() + ";object=web;type=cert", hsm.ErrTemplate},
		{"pkcs11:token=" + f.part.Name(), hsm.ErrTemplate},
		{"pkcs11:token=nope;object=web", hsm.ErrUnknownPartition},
		{"pkcs11:token=" + f.part.Name() + ";object=missing", hsm.ErrNotFound},
		{"pkcs11:token=" + f.part.Name() + ";object=twin", hsm.ErrAmbiguous},
	} {
		t.Run(tc.key, func(t *testing.T) {
			_, err := tlsconfig.NewIdentity(ctx, f.client, tlsconfig.Options{Key: tc.key})
			require.ErrorIs(t, err, tc.want)
		})
	}

	t.Run("not logged in", func(t *testing.T) {
		c, err := hsm.Open(ctx, f.target.Config)
		require.NoError(t, err)
		defer c.Close()
		_, err = tlsconfig.NewIdentity(ctx, c, tlsconfig.Options{Key: f.uri("web")})
		require.ErrorIs(t, err, hsm.ErrNotLoggedIn)
	})
	t.Run("single partition needs no token", func(t *testing.T) {
		id, err := tlsconfig.NewIdentity(ctx, f.client, tlsconfig.Options{Key: "pkcs11:object=web"})
		require.NoError(t, err)
		require.NoError(t, id.Close())
		require.NoError(t, id.Close(), "Close is idempotent")
	})
}

// TestHandshakeContextBoundsHSMCall makes the HSM slow and gives up the
// handshake: the signature request must end with the handshake's context,
// not when the HSM answers.
func TestHandshakeContextBoundsHSMCall(t *testing.T) {
	// Latency is injected into keyhold's software HSM.
	f := newFixture(t, hsmtest.Software)
	f.keyWithCert(t, keySpecs[1].spec, "web")
	id, err := tlsconfig.NewIdentity(context.Background(), f.client, tlsconfig.Options{Key: f.uri("web")})
	require.NoError(t, err)
	t.Cleanup(func() { id.Close() })
	const latency = 5 * time.Second
	const deadline = 200 * time.Millisecond

	// handshake runs the two ends over a loopback connection: the one under
	// test with a short deadline, the other without.
	handshake := func(t *testing.T, server, client *tls.Config, testServer bool) (time.Duration, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		peerDone := make(chan struct{})
		go func() {
			defer close(peerDone)
			var c *tls.Conn
			if testServer {
				raw, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					return
				}
				c = tls.Client(raw, client)
			} else {
				raw, err := ln.Accept()
				if err != nil {
					return
				}
				c = tls.Server(raw, server)
			}
			_ = c.Handshake()
			c.Close()
		}()
		var c *tls.Conn
		if testServer {
			raw, err := ln.Accept()
			require.NoError(t, err)
			c = tls.Server(raw, server)
		} else {
			raw, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			c = tls.Client(raw, client)
		}
		defer func() { c.Close(); <-peerDone }()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		err = c.HandshakeContext(ctx)
		return time.Since(start), err
	}

	f.env.Node.SetLatency(latency)
	t.Cleanup(func() { f.env.Node.SetLatency(0) })

	t.Run("server", func(t *testing.T) {
		elapsed, err := handshake(t, tlsconfig.Server(id, nil), &tls.Config{RootCAs: f.ca.pool, ServerName: "localhost"}, true)
		// crypto/tls returns the context's error, or the signer's (which
		// it flattens to text), whichever it sees first.
		require.ErrorContains(t, err, context.DeadlineExceeded.Error())
		assert.Less(t, elapsed, latency/2, "the handshake waited for the HSM past its deadline")
	})
	t.Run("client", func(t *testing.T) {
		// The server's key is in memory; the client's, in the slow partition.
		srvCert, err := tls.X509KeyPair(selfSignedPEM(t))
		require.NoError(t, err)
		server := &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequireAnyClientCert}
		client := tlsconfig.Client(id, &tls.Config{InsecureSkipVerify: true}) // the server is not what this tests
		elapsed, err := handshake(t, server, client, false)
		// crypto/tls returns the context's error, or the signer's (which
		// it flattens to text), whichever it sees first.
		require.ErrorContains(t, err, context.DeadlineExceeded.Error())
		assert.Less(t, elapsed, latency/2, "the handshake waited for the HSM past its deadline")
	})
}

// TestServerAndClientDefaults: the configurations keep what base says,
// complete what is missing, and never change base.
func TestServerAndClientDefaults(t *testing.T) {
	id := new(tlsconfig.Identity)
	c := tlsconfig.Server(id, nil)
	assert.Equal(t, uint16(tls.VersionTLS12), c.MinVersion)
	assert.Equal(t, tls.NoClientCert, c.ClientAuth)
	assert.NotNil(t, c.GetCertificate)

	base := &tls.Config{
		MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"},
		ClientCAs: x509.NewCertPool(), Certificates: []tls.Certificate{{}},
	}
	c = tlsconfig.Server(id, base)
	assert.Equal(t, uint16(tls.VersionTLS13), c.MinVersion)
	assert.Equal(t, []string{"h2"}, c.NextProtos)
	assert.Equal(t, tls.RequireAndVerifyClientCert, c.ClientAuth)
	assert.Empty(t, c.Certificates)
	assert.Len(t, base.Certificates, 1, "base must not change")
	assert.Nil(t, base.GetCertificate)

	base = &tls.Config{ClientCAs: x509.NewCertPool(), ClientAuth: tls.VerifyClientCertIfGiven}
	assert.Equal(t, tls.VerifyClientCertIfGiven, tlsconfig.Server(id, base).ClientAuth)

	c = tlsconfig.Client(id, &tls.Config{ServerName: "example.net", MinVersion: tls.VersionTLS10})
	assert.Equal(t, uint16(tls.VersionTLS12), c.MinVersion)
	assert.Equal(t, "example.net", c.ServerName)
	assert.NotNil(t, c.GetClientCertificate)
}
