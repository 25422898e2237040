package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/internal/wire"
)

// binary is the keyhold command built for these tests: CLI behaviour is
// tested by running the CLI.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keyhold-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "keyhold")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build keyhold:", err)
		os.RemoveAll(dir)
		os.Exit(1)
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
	softhsmtest.RemoveTokens()
	os.Exit(code)
}

// process is a running `keyhold serve`.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *lines
	stderr *bytes.Buffer
	exited chan struct{}
	err    error // set when exited is closed
}

// lines collects a process's output line by line.
type lines struct {
	mu      sync.Mutex
	partial []byte
	all     []string
	first   chan struct{}
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.all = append(l.all, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		if len(l.all) == 1 {
			close(l.first)
		}
	}
	return len(p), nil
}

func (l *lines) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...)
}

// startServe runs `keyhold serve args...` with the extra environment env, and
// waits for its ready line.
func startServe(t *testing.T, env []string, args ...string) (*process, string) {
	t.Helper()
	p := &process{t: t, out: &lines{first: make(chan struct{})}, stderr: new(bytes.Buffer), exited: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"serve"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case <-p.out.first:
	case <-p.exited:
		t.Fatalf("keyhold serve exited before it was ready: %v\n%s", p.err, p.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("keyhold serve did not get ready; stderr:\n%s", p.stderr)
	}
	return p, p.out.lines()[0]
}

// stop sends sig and waits for the process to exit.
func (p *process) stop(sig os.Signal) error {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(sig))
	select {
	case <-p.exited:
		return p.err
	case <-time.After(30 * time.Second):
		p.t.Fatalf("keyhold serve did not exit after %v", sig)
		return nil
	}
}

// readyLine parses `keyhold: serving partitions P on A (config C)`.
func readyLine(t *testing.T, line string) (parts, addrs []string, config string) {
	t.Helper()
	var p, a, c string
	_, err := fmt.Sscanf(line, "keyhold: serving partitions %s on %s (config %s", &p, &a, &c)
	require.NoError(t, err, "ready line %q", line)
	require.True(t, strings.HasSuffix(c, ")"), "ready line %q", line)
	return strings.Split(p, ","), strings.Split(a, ","), strings.TrimSuffix(c, ")")
}

// freePorts returns n addresses on 127.0.0.1 that were free a moment ago.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dialNode opens a protocol connection to one node with the credential and
// CA that the configuration names, as a client would.
func dialNode(t *testing.T, cfg hsm.Config, addr string) *wire.Conn {
	t.Helper()
	secrets, err := hsm.ReadSecrets(cfg.Secrets)
	require.NoError(t, err)
	cred, err := secrets.Credential(cfg.Client)
	require.NoError(t, err)
	cert, err := cred.TLSCertificate()
	require.NoError(t, err)
	caPEM, err := os.ReadFile(cfg.ServerCA)
	require.NoError(t, err)
	block, _ := pem.Decode(caPEM)
	require.NotNil(t, block)
	ca, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	tc, err := wire.ClientTLS{Certificate: cert, RootCAs: pool}.Config()
	require.NoError(t, err)
	c, err := wire.Dial(ctxT(t), addr, tc, wire.DialOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func login(t *testing.T, c *wire.Conn, part uint32, pin string) []byte {
	t.Helper()
	var rep wire.LoginReply
	require.NoError(t, whenServed(ctxT(t), func(ctx context.Context) error {
		return c.Call(ctx, wire.OpLogin, wire.LoginRequest{Partition: part, User: ck.CKU_USER, PIN: []byte(pin)}, &rep)
	}))
	return rep.Ticket
}

// whenServed makes a call, again while the node answers busy: a node that
// has just started, or joined a cluster, answers busy until it has caught up,
// and the engine would try again (or another node). It gives up at ctx's
// deadline.
func whenServed(ctx context.Context, call func(context.Context) error) error {
	for {
		err := call(ctx)
		var ce *ck.Error
		if !errors.As(err, &ce) || ce.RV != wire.CodeBusy {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// findLabel returns the handles of the objects labelled label.
func findLabel(t *testing.T, c *wire.Conn, part uint32, ticket []byte, label string) []uint64 {
	t.Helper()
	var rep wire.FindObjectsReply
	require.NoError(t, whenServed(ctxT(t), func(ctx context.Context) error {
		return c.Call(ctx, wire.OpFindObjects, wire.FindObjectsRequest{
			Partition: part, Ticket: ticket, Template: ck.Template{ck.String(ck.CKA_LABEL, label)},
		}, &rep)
	}))
	var hs []uint64
	for _, o := range rep.Objects {
		hs = append(hs, o.Handle)
	}
	return hs
}

// generateAES generates a secret key labelled label through one node.
func generateAES(t *testing.T, c *wire.Conn, part uint32, ticket []byte, label string) uint64 {
	t.Helper()
	var id wire.OpID
	_, _ = rand.Read(id[:])
	var rep wire.HandleReply
	require.NoError(t, c.Call(ctxT(t), wire.OpGenerateKey, wire.GenerateKeyRequest{
		Partition: part, Ticket: ticket, OpID: id, Mechanism: ck.Mechanism{Type: ck.CKM_AES_KEY_GEN},
		Template: ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 32), ck.Bool(ck.CKA_TOKEN, true), ck.String(ck.CKA_LABEL, label), ck.Bool(ck.CKA_ENCRYPT, true)},
	}, &rep))
	return rep.Handle
}

// runBinary runs keyhold to completion and returns its combined output.
func runBinary(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctxT(t), binary, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// exitCode returns the exit status in err from running a command (0 for nil).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
