package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
	"github.com/keyhold/keyhold/testenv"
)

// binary is the ppin command built for these tests: CLI behaviour is tested
// by running the CLI against real (in-process) nodes. keyholdBinary is
// cmd/keyhold, for the scripted flow with keyhold serve --enroll.
var binary, keyholdBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ppin-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "ppin")
	keyholdBinary = filepath.Join(dir, "keyhold")
	for _, b := range [][2]string{{binary, "."}, {keyholdBinary, "../keyhold"}} {
		args := []string{"build", "-o", b[0]}
		if raceEnabled {
			args = append(args, "-race")
		}
		build := exec.Command("go", append(args, b[1])...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	// goleak.VerifyTestMain would exit before the binary is removed.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	partName = "pay"
	userPIN  = "ppin-test-user-pin-4711"
)

// fixture is a cluster of two nodes and a configuration directory.
type fixture struct {
	t       *testing.T
	cluster *testenv.Cluster
	dir     string
	// printed collects everything every ppin run printed, to search it for
	// secrets.
	mu      sync.Mutex
	printed bytes.Buffer
	// passwords are the setup passwords handed out, all searched for.
	passwords []string
}

func newFixture(t *testing.T) *fixture {
	c, err := testenv.StartCluster(testenv.ClusterOptions{
		Nodes:      2,
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: partName, UserPIN: userPIN, SOPIN: "ppin-test-so-pin"}},
		Workers:    2,
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return &fixture{t: t, cluster: c, dir: t.TempDir()}
}

// config writes a configuration in its own directory that selects client.
func (f *fixture) config(client string) string {
	dir := filepath.Join(f.dir, client)
	require.NoError(f.t, os.MkdirAll(dir, 0o700))
	path, err := f.cluster.WriteEnrollConfig(dir, client)
	require.NoError(f.t, err)
	return path
}

// entry creates a client entry and writes its setup password to a file.
func (f *fixture) entry(name string, ttl time.Duration) (password, file string) {
	pw, err := f.cluster.CreateClient(name, ttl)
	require.NoError(f.t, err)
	f.mu.Lock()
	f.passwords = append(f.passwords, pw)
	f.mu.Unlock()
	file = filepath.Join(f.dir, name+".setup")
	require.NoError(f.t, os.WriteFile(file, []byte(pw+"\n"), 0o600))
	return pw, file
}

// ppin runs the binary and returns its output and exit status.
func (f *fixture) ppin(env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code = 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(f.t, err)
	}
	f.mu.Lock()
	f.printed.Write(out.Bytes())
	f.printed.Write(errOut.Bytes())
	f.mu.Unlock()
	return out.String(), errOut.String(), code
}

// noSecretsPrinted checks that nothing ppin printed holds a secret: setup
// passwords, PINs, or any line of a private key in the secrets files.
func (f *fixture) noSecretsPrinted(secrets ...string) {
	f.mu.Lock()
	printed := f.printed.String()
	secrets = append(secrets, f.passwords...)
	f.mu.Unlock()
	for _, s := range secrets {
		assert.NotContains(f.t, printed, s, "a secret was printed")
	}
	_ = filepath.WalkDir(f.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(path) != "keyhold.secrets" {
			return nil
		}
		s, err := hsm.ReadSecrets(path)
		if err != nil {
			return nil
		}
		for _, c := range s.Credentials {
			b, _ := pem.Decode([]byte(c.PrivateKey))
			require.NotNil(f.t, b)
			for _, line := range strings.Split(c.PrivateKey, "\n") {
				if len(line) > 16 && !strings.HasPrefix(line, "-----") {
					assert.NotContains(f.t, printed, line, "a private key line was printed")
				}
			}
		}
		return nil
	})
}

// enroll runs a successful enrollment of a new entry name with its own
// configuration and returns the configuration's path and the password.
func (f *fixture) enroll(name string) (string, string) {
	conf := f.config(name)
	pw, file := f.entry(name, 0)
	out, errOut, code := f.ppin(nil, "", "enroll", "--config", conf, "--client", name, "--password-file", file)
	require.Equal(f.t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	return conf, pw
}

// open opens the Go SDK on a configuration file and logs in.
func open(t *testing.T, conf string) (*hsm.Client, *hsm.Partition) {
	cfg, err := hsm.LoadConfig(conf)
	require.NoError(t, err)
	c, err := hsm.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	p, err := c.Partition(partName)
	require.NoError(t, err)
	require.NoError(t, p.Login(context.Background(), userPIN))
	return c, p
}

// newSigner generates an EC key through the SDK.
func newSigner(t *testing.T, p *hsm.Partition, label string) *signer.Signer {
	k, err := p.GenerateKey(context.Background(), hsm.KeySpec{Type: hsm.KeyEC, Label: label})
	require.NoError(t, err)
	s, err := signer.New(k)
	require.NoError(t, err)
	return s
}

func signOnce(s *signer.Signer, msg string) error {
	d := sha256.Sum256([]byte(msg))
	sig, err := s.Sign(nil, d[:], crypto.SHA256)
	if err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), d[:], sig) {
		return errors.New("signature does not verify")
	}
	return nil
}

func TestEnrollThenSignAndTest(t *testing.T) {
	f := newFixture(t)
	conf, pw := f.enroll("web-1")

	st, err := os.Stat(filepath.Join(filepath.Dir(conf), "keyhold.secrets"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	_, p := open(t, conf)
	require.NoError(t, signOnce(newSigner(t, p, "enrolled"), "hello"))

	out, errOut, code := f.ppin([]string{"KEYHOLD_PIN=" + userPIN}, "", "test", "--config", conf)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	for _, n := range f.cluster.Nodes() {
		assert.Contains(t, out, "node "+n.Addr()+": OK (connected, partition \"pay\" serves, logged in)")
	}
	out, _, code = f.ppin(nil, "", "status", "--config", conf)
	require.Equal(t, 0, code)
	assert.Equal(t, 2, strings.Count(out, ": accepted"), out)

	// An existing entry is not overwritten without --replace, and the
	// password is not even asked for.
	_, errOut, code = f.ppin(nil, "", "enroll", "--config", conf, "--client", "web-1", "--password-file", "/nonexistent")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "--replace")

	// A wrong PIN fails ppin test, per node, without printing the PIN.
	out, _, code = f.ppin([]string{"KEYHOLD_PIN=wrong-pin-1234"}, "", "test", "--config", conf)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "FAILED: login")

	// KEYHOLD_PIN_FILE works as KEYHOLD_PIN does.
	pinFile := filepath.Join(f.dir, "pin")
	require.NoError(t, os.WriteFile(pinFile, []byte(userPIN+"\n"), 0o600))
	out, _, code = f.ppin([]string{"KEYHOLD_PIN_FILE=" + pinFile}, "", "test", "--config", conf)
	require.Equal(t, 0, code, out)
	assert.Equal(t, 2, strings.Count(out, "logged in"), out)
	f.noSecretsPrinted(pw, userPIN, "wrong-pin-1234")
}

func TestEnrollRefusals(t *testing.T) {
	f := newFixture(t)
	nodes := f.cluster.Nodes()
	enroll := func(conf, name, file string, extra ...string) (string, int) {
		args := append([]string{"enroll", "--config", conf, "--client", name, "--password-file", file}, extra...)
		out, errOut, code := f.ppin(nil, "", args...)
		return out + errOut, code
	}
	const wrongPassword = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	wrong := filepath.Join(f.dir, "wrong")
	require.NoError(t, os.WriteFile(wrong, []byte(wrongPassword), 0o600))

	t.Run("wrong password is counted on every node", func(t *testing.T) {
		conf := f.config("w")
		f.entry("w", 0)
		out, code := enroll(conf, "w", wrong)
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "setup password incorrect for \"w\" (1 of 5 attempts used)")
		for _, n := range nodes {
			info, ok := n.Client("w")
			require.True(t, ok)
			assert.Equal(t, 1, info.Failures, "node %s", n.Name())
		}
	})
	t.Run("reused", func(t *testing.T) {
		conf := f.config("r")
		_, file := f.entry("r", 0)
		out, code := enroll(conf, "r", file)
		require.Equal(t, 0, code, out)
		out, code = enroll(conf, "r", file, "--replace")
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "already used")
	})
	t.Run("expired", func(t *testing.T) {
		conf := f.config("e")
		_, file := f.entry("e", time.Millisecond)
		time.Sleep(5 * time.Millisecond)
		out, code := enroll(conf, "e", file)
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "expired")
	})
	t.Run("locked", func(t *testing.T) {
		conf := f.config("l")
		_, file := f.entry("l", 0)
		for range testenv.MaxSetupFailures - 1 {
			_, code := enroll(conf, "l", wrong)
			require.Equal(t, 1, code)
		}
		out, code := enroll(conf, "l", wrong)
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "now locked")
		out, code = enroll(conf, "l", file) // the right one, too late
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "is locked")
		info, _ := nodes[1].Client("l")
		assert.True(t, info.Locked)
	})
	t.Run("unknown entry", func(t *testing.T) {
		conf := f.config("nobody")
		out, code := enroll(conf, "nobody", wrong)
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "no client entry \"nobody\"")
	})
	t.Run("password on standard input", func(t *testing.T) {
		conf := f.config("s")
		pw, _ := f.entry("s", 0)
		out, errOut, code := f.ppin(nil, pw+"\n", "enroll", "--config", conf, "--client", "s")
		require.Equal(t, 0, code, out+errOut)
	})
	f.noSecretsPrinted(wrongPassword)
}

// TestImpostorNodeGetsNoPassword: a node whose certificate is not the pinned
// one is refused during the handshake, before any password is sent.
func TestImpostorNodeGetsNoPassword(t *testing.T) {
	f := newFixture(t)
	impostor, err := testenv.StartNode(testenv.NodeOptions{
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: partName, UserPIN: userPIN, SOPIN: "x-so-pin-1234"}},
		Workers:    1,
	})
	require.NoError(t, err)
	defer impostor.Close()
	pw, file := f.entry("victim", 0)
	// The configuration pins the cluster's CA but lists the impostor.
	dir := filepath.Join(f.dir, "victim")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	cfg := f.cluster.Config()
	for i := range cfg.Partitions {
		cfg.Partitions[i].Nodes = []hsm.NodeConfig{{Address: impostor.Addr()}}
	}
	conf, err := testenv.WriteEnrollConfig(dir, cfg, f.cluster.PKI(), "victim")
	require.NoError(t, err)

	out, errOut, code := f.ppin(nil, "", "enroll", "--config", conf, "--client", "victim", "--password-file", file)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, errOut, "does not present the pinned identity; the setup password was not sent")
	assert.Zero(t, impostor.Stats().Enrolls, "the impostor received an Enroll")
	for _, n := range f.cluster.Nodes() {
		assert.Zero(t, n.Stats().Enrolls)
	}
	f.noSecretsPrinted(pw)
}

func TestTrustOnFirstUse(t *testing.T) {
	f := newFixture(t)
	conf := f.config("tofu")
	cfg, err := hsm.LoadConfig(conf)
	require.NoError(t, err)
	// Drop the pin from the file.
	data, err := os.ReadFile(conf)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(conf, bytes.ReplaceAll(data, []byte("server_ca: "+cfg.ServerCA), nil), 0o600))
	_, file := f.entry("tofu", 0)

	_, errOut, code := f.ppin(nil, "", "enroll", "--config", conf, "--client", "tofu", "--password-file", file)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "--trust-on-first-use")
	for _, n := range f.cluster.Nodes() {
		assert.Zero(t, n.Stats().Enrolls)
	}
	out, errOut, code := f.ppin(nil, "", "enroll", "--config", conf, "--client", "tofu", "--password-file", file, "--trust-on-first-use")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "trusting node")
	assert.Contains(t, out, "server_fingerprint")
}

func TestInsecureSecretsFileRefused(t *testing.T) {
	f := newFixture(t)
	conf, _ := f.enroll("loose")
	secrets := filepath.Join(filepath.Dir(conf), "keyhold.secrets")
	require.NoError(t, os.Chmod(secrets, 0o644))
	cfg, err := hsm.LoadConfig(conf)
	require.NoError(t, err)
	_, err = hsm.Open(context.Background(), cfg)
	require.ErrorIs(t, err, hsm.ErrSecretsPermissions)
	assert.Contains(t, err.Error(), secrets)
	assert.Contains(t, err.Error(), "0644")
	_, errOut, code := f.ppin(nil, "", "test", "--config", conf)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "readable by group or others")
}

// TestConcurrentEnrollments: two ppin runs writing one secrets file at once
// both end up in it.
func TestConcurrentEnrollments(t *testing.T) {
	f := newFixture(t)
	conf := f.config("a")
	_, fa := f.entry("a", 0)
	_, fb := f.entry("b", 0)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, e := range [][2]string{{"a", fa}, {"b", fb}} {
		wg.Go(func() {
			_, _, codes[i] = f.ppin(nil, "", "enroll", "--config", conf, "--client", e[0], "--password-file", e[1])
		})
	}
	wg.Wait()
	assert.Equal(t, []int{0, 0}, codes)
	s, err := hsm.ReadSecrets(filepath.Join(filepath.Dir(conf), "keyhold.secrets"))
	require.NoError(t, err)
	var names []string
	for _, c := range s.Credentials {
		_, err := c.TLSCertificate()
		require.NoError(t, err)
		names = append(names, c.Name)
	}
	assert.ElementsMatch(t, []string{"a", "b"}, names)

	// remove deletes one entry and keeps the other.
	_, _, code := f.ppin(nil, "", "remove", "--config", conf, "b")
	require.Equal(t, 0, code)
	s, err = hsm.ReadSecrets(filepath.Join(filepath.Dir(conf), "keyhold.secrets"))
	require.NoError(t, err)
	require.Len(t, s.Credentials, 1)
	assert.Equal(t, "a", s.Credentials[0].Name)
}

// TestRotateUnderLoad rotates the credential while goroutines sign through
// the SDK: no signature fails. Until the old certificate is retired both
// work; after, the engine's next connection reads the new credential from
// the secrets file (hsm's credential loader), and a request refused as
// revoked is retried once on such a connection.
func TestRotateUnderLoad(t *testing.T) {
	f := newFixture(t)
	conf, pw := f.enroll("busy")
	oldSecrets, err := hsm.ReadSecrets(filepath.Join(filepath.Dir(conf), "keyhold.secrets"))
	require.NoError(t, err)
	_, p := open(t, conf)
	s := newSigner(t, p, "under-load")

	var (
		mu       sync.Mutex
		signed   int
		failures []error
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := signOnce(s, fmt.Sprintf("%d-%d", g, i))
				mu.Lock()
				signed++
				if err != nil {
					failures = append(failures, err)
				}
				mu.Unlock()
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return signed }
	for count() < 20 {
		time.Sleep(5 * time.Millisecond)
	}
	out, errOut, code := f.ppin(nil, "", "rotate", "--config", conf, "busy")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	assert.Contains(t, out, "rotated \"busy\"")
	after := count()
	for count() < after+100 {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if !assert.Zero(t, len(failures), "failed signatures out of %d", count()) {
		t.Logf("first failure: %v", failures[0])
	}

	// The old certificate is revoked on every node.
	oldCert, err := oldSecrets.Credentials[0].TLSCertificate()
	require.NoError(t, err)
	cfg, err := hsm.LoadConfig(conf)
	require.NoError(t, err)
	cfg.Secrets, cfg.Credential = "", &oldCert
	c, err := hsm.Open(context.Background(), cfg)
	require.NoError(t, err)
	defer c.Close()
	op, err := c.Partition(partName)
	require.NoError(t, err)
	require.ErrorIs(t, op.Login(context.Background(), userPIN), hsm.ErrClientRevoked)
	f.noSecretsPrinted(pw, userPIN)
}

// TestRevokedClient: a revoked client's next call fails with
// hsm.ErrClientRevoked, on the connection it already had; another client
// goes on.
func TestRevokedClient(t *testing.T) {
	f := newFixture(t)
	confA, _ := f.enroll("alice")
	confB, _ := f.enroll("bob")
	_, pa := open(t, confA)
	_, pb := open(t, confB)
	sa := newSigner(t, pa, "alice-key")
	sb, err := pb.KeyByLabel(context.Background(), "alice-key") // keys are the partition's
	require.NoError(t, err)
	signerB, err := signer.New(sb)
	require.NoError(t, err)
	require.NoError(t, signOnce(sa, "before"))
	require.NoError(t, signOnce(signerB, "before"))

	require.NoError(t, f.cluster.RevokeClient("alice"))
	err = signOnce(sa, "after")
	require.ErrorIs(t, err, hsm.ErrClientRevoked)
	assert.Contains(t, err.Error(), "revoked")
	require.NoError(t, signOnce(signerB, "after"))
	for _, n := range f.cluster.Nodes() {
		info, ok := n.Client("alice")
		require.True(t, ok)
		assert.True(t, info.Revoked, n.Name())
	}
}

// TestServeEnrollScript is the flow scripts use: keyhold serve --enroll
// NAME writes DIR/NAME.setup; ppin enroll with it; the Go SDK works with
// DIR/keyhold.yaml.
func TestServeEnrollScript(t *testing.T) {
	dir := t.TempDir()
	serveErr := startServe(t, "serve", "--dir", dir, "--partitions", partName,
		"--user-pin", userPIN, "--so-pin", "ppin-test-so-pin", "--nodes", "2", "--workers", "2", "--enroll", "ci-host")
	checkScriptedEnrollment(t, dir, serveErr)
}

// TestServePeersEnrollScript: the same with a cluster of two processes;
// each adds the same entry, and one enrollment works on both.
func TestServePeersEnrollScript(t *testing.T) {
	dir := t.TempDir()
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addrs = append(addrs, ln.Addr().String())
		ln.Close()
	}
	// The processes of a cluster start together, as a script starts them
	// in the background: the entry --enroll makes is committed once a
	// majority runs.
	logs := make([]*lockedBuffer, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() {
			logs[i] = startServe(t, "serve", "--dir", dir, "--partitions", partName,
				"--user-pin", userPIN, "--so-pin", "ppin-test-so-pin", "--workers", "2", "--enroll", "ci-host",
				"--listen", a, "--peers", strings.Join(addrs, ","))
		})
	}
	wg.Wait()
	checkScriptedEnrollment(t, dir, logs...)
}

// startServe runs keyhold with args until the test ends and returns once it
// serves; the returned buffer collects its standard error.
func startServe(t *testing.T, args ...string) *lockedBuffer {
	serve := exec.Command(keyholdBinary, args...)
	stdout, err := serve.StdoutPipe()
	require.NoError(t, err)
	serveErr := &lockedBuffer{}
	serve.Stderr = serveErr
	require.NoError(t, serve.Start())
	t.Cleanup(func() {
		_ = serve.Process.Signal(os.Interrupt)
		_ = serve.Wait()
	})
	line := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		n, _ := stdout.Read(buf)
		line <- string(buf[:n])
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		require.Contains(t, l, "keyhold: serving partitions pay", serveErr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("keyhold serve did not start: " + serveErr.String())
	}
	return serveErr
}

// checkScriptedEnrollment enrolls with DIR/ci-host.setup and uses the
// credential through ppin test and the Go SDK.
func checkScriptedEnrollment(t *testing.T, dir string, logs ...*lockedBuffer) {
	setup := filepath.Join(dir, "ci-host.setup")
	st, err := os.Stat(setup)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	pw, err := os.ReadFile(setup)
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(dir, "keyhold.secrets"))

	f := &fixture{t: t, dir: dir}
	conf := filepath.Join(dir, "keyhold.yaml")
	out, errOut, code := f.ppin(nil, "", "enroll", "--config", conf, "--client", "ci-host", "--password-file", setup)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	_, p := open(t, conf)
	require.NoError(t, signOnce(newSigner(t, p, "scripted"), "hello"))
	out, errOut, code = f.ppin([]string{"KEYHOLD_PIN=" + userPIN}, "", "test", "--config", conf)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	assert.Equal(t, 2, strings.Count(out, ": OK"), out)
	f.noSecretsPrinted(strings.TrimSpace(string(pw)), userPIN)
	for _, l := range logs {
		assert.NotContains(t, l.String(), strings.TrimSpace(string(pw)))
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDefaultCredentialAndIDs: rotate and remove act on the credential the
// configuration selects when none is named, as enroll does, and status names
// certificates as keyhold clients list does (fingerprint prefix).
func TestDefaultCredentialAndIDs(t *testing.T) {
	f := newFixture(t)
	conf, _ := f.enroll("web-1")

	out, errOut, code := f.ppin(nil, "", "rotate", "--config", conf)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	assert.Contains(t, out, `rotated "web-1"`)

	client, err := hsm.Open(context.Background(), f.cluster.Config())
	require.NoError(t, err)
	defer client.Close()
	p, err := client.Partition(partName)
	require.NoError(t, err)
	require.NoError(t, p.LoginAs(context.Background(), ck.CKU_SO, "ppin-test-so-pin"))
	entries, err := p.Clients(context.Background())
	require.NoError(t, err)
	var current [][32]byte
	for _, e := range entries {
		if e.Name == "web-1" {
			current = e.Certificates
		}
	}
	require.Len(t, current, 1, "the old certificate was retired")
	status, errOut, code := f.ppin(nil, "", "status", "--config", conf)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", status, errOut)
	assert.Contains(t, status, "web-1 (selected by the configuration): certificate "+hex.EncodeToString(current[0][:8]))

	// Two credentials and a configuration that selects neither: name one.
	_, fb := f.entry("web-2", 0)
	out, errOut, code = f.ppin(nil, "", "enroll", "--config", conf, "--client", "web-2", "--password-file", fb)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	unselected := filepath.Join(filepath.Dir(conf), "unselected.yaml")
	cfg, err := os.ReadFile(conf)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(unselected, bytes.ReplaceAll(cfg, []byte("client: web-1"), nil), 0o600))
	_, _, code = f.ppin(nil, "", "remove", "--config", unselected)
	assert.Equal(t, exitUsage, code)
	_, _, code = f.ppin(nil, "", "remove", "--config", unselected, "--client", "web-2")
	assert.Equal(t, 0, code)
	s, err := hsm.ReadSecrets(filepath.Join(filepath.Dir(conf), "keyhold.secrets"))
	require.NoError(t, err)
	require.Len(t, s.Credentials, 1)
	assert.Equal(t, "web-1", s.Credentials[0].Name)
}

// TestHelpVersionUsage: help on stdout with 0, usage errors on stderr with 2.
func TestHelpVersionUsage(t *testing.T) {
	f := &fixture{t: t}
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "-h"}, {"help", c.name}} {
			out, errOut, code := f.ppin(nil, "", args...)
			assert.Equal(t, 0, code, "%q", args)
			assert.Empty(t, errOut, "%q", args)
			assert.Contains(t, out, "usage: ppin "+c.name, "%q", args)
		}
		out, errOut, code := f.ppin(nil, "", c.name, "--no-such-flag")
		assert.Equal(t, exitUsage, code, c.name)
		assert.Empty(t, out, c.name)
		assert.Contains(t, errOut, "usage: ppin "+c.name)
	}
	out, _, code := f.ppin(nil, "", "help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "usage: ppin COMMAND")
	_, _, code = f.ppin(nil, "", "nosuch")
	assert.Equal(t, exitUsage, code)
	out, _, code = f.ppin(nil, "", "--version")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "ppin "), out)
}
