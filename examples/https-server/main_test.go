package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServesHTTPS builds and runs the example as a user would, then fetches a
// page over TLS, trusting only the certificate the program printed.
func TestServesHTTPS(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "https-server")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "KEYHOLD_CONF=/nonexistent/keyhold.yaml") // not read: the example says which HSM it uses
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()

	tryLine := regexp.MustCompile(`^try: curl --cacert (\S+) (https://localhost:\d+/)$`)
	var caFile, url string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := tryLine.FindStringSubmatch(sc.Text()); m != nil {
			caFile, url = m[1], m[2]
			break
		}
	}
	require.NotEmpty(t, url, "the program never printed its curl command")
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	caPEM, err := os.ReadFile(caFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(caPEM))

	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: version, MaxVersion: version},
		}}
		resp, err := client.Get(url)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, string(body), "signed inside partition \"web\"")
		assert.Contains(t, string(body), tls.VersionName(version))
		client.CloseIdleConnections()
	}

	// The exact command the program printed, when curl is installed (CI installs it).
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.CommandContext(ctx, curl, "--silent", "--show-error", "--cacert", caFile, url).CombinedOutput()
		require.NoError(t, err, string(out))
		assert.True(t, strings.HasPrefix(string(out), "Hello from keyhold."), string(out))
	}
}

// TestListenTakenDefault holds port 8443 (or finds it held) and checks that
// the default address falls back to a free port and says so, while an
// address given with -addr that is taken is an error.
func TestListenTakenDefault(t *testing.T) {
	if hold, err := net.Listen("tcp", defaultAddr); err == nil {
		defer hold.Close()
	} else {
		require.ErrorIs(t, err, syscall.EADDRINUSE, "8443 is either ours to hold or already taken")
	}
	var out strings.Builder
	ln, err := listen("", &out)
	require.NoError(t, err)
	defer ln.Close()
	assert.NotEqual(t, 8443, ln.Addr().(*net.TCPAddr).Port)
	assert.Equal(t, defaultAddr+" is in use: serving on "+ln.Addr().String()+" instead (choose with -addr)\n", out.String())

	_, err = listen(ln.Addr().String(), &out)
	require.ErrorIs(t, err, syscall.EADDRINUSE)
}
