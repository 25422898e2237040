package clientstest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The HSMs of the tests that stop, kill or freeze an HSM: `keyhold serve`
// processes, so that a signal does to them what a crash, a power cut or a
// hung machine does to an HSM.

var (
	keyholdOnce sync.Once
	keyholdBin  string
	keyholdErr  error
)

// keyholdBinary builds cmd/keyhold once per test binary.
func keyholdBinary(t *testing.T) string {
	t.Helper()
	keyholdOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keyhold-bin-")
		if err != nil {
			keyholdErr = err
			return
		}
		keyholdBin = filepath.Join(dir, "keyhold")
		cmd := exec.Command("go", "build", "-o", keyholdBin, "./cmd/keyhold")
		cmd.Dir = filepath.Join("..", "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			keyholdErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	require.NoError(t, keyholdErr, "building keyhold")
	return keyholdBin
}

// serveNode is one `keyhold serve` process that can be stopped, killed and
// started again on the same directory and address, as an HSM that is
// power-cycled.
type serveNode struct {
	t     *testing.T
	bin   string
	dir   string
	addr  string
	parts string // --partitions
	peers string // --peers, for a node of a cluster
	cmd   *exec.Cmd
}

func startServeNode(t *testing.T) *serveNode { return startServeNodeWith(t, "pay") }

// startServeNodeWith starts a node serving the partitions named in parts.
func startServeNodeWith(t *testing.T, parts string) *serveNode {
	t.Helper()
	n := &serveNode{t: t, bin: keyholdBinary(t), dir: t.TempDir(), addr: freeAddr(t), parts: parts}
	n.start()
	t.Cleanup(n.kill)
	return n
}

// start runs keyhold serve and waits for its ready line.
func (n *serveNode) start() {
	n.t.Helper()
	require.NoError(n.t, n.launch())
}

// launch is start for any goroutine: it returns what went wrong.
func (n *serveNode) launch() error {
	args := []string{"serve", "--dir", n.dir, "--partitions", n.parts, "--listen", n.addr, "--so-pin", freezeSOPIN}
	if n.peers != "" {
		args = append(args, "--peers", n.peers)
	}
	cmd := exec.Command(n.bin, args...)
	cmd.Env = append(os.Environ(), "KEYHOLD_USER_PIN="+freezeUserPIN)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := make(chan error, 1)
	go func() {
		r := bufio.NewReader(out)
		line, err := r.ReadString('\n')
		if err == nil && !strings.HasPrefix(line, "keyhold: serving") {
			err = fmt.Errorf("keyhold serve said %q", line)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return err
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("keyhold serve on %s did not start in time", n.addr)
	}
	n.cmd = cmd
	return nil
}

// stop ends the process cleanly (SIGTERM).
func (n *serveNode) stop() { n.end(syscall.SIGTERM) }

// kill ends the process at once, as a power cut would.
func (n *serveNode) kill() { n.end(syscall.SIGKILL) }

func (n *serveNode) end(sig syscall.Signal) {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGCONT) // a frozen process cannot act on SIGTERM
	_ = n.cmd.Process.Signal(sig)
	_ = n.cmd.Wait()
	n.cmd = nil
}

// serveCluster is a cluster of keyhold serve processes serving partition
// "pay".
type serveCluster struct {
	config string // keyhold.yaml
	addrs  []string
	nodes  []*serveNode
}

// startServeCluster starts n processes of one cluster at once, as its
// operator would, and waits until each serves.
func startServeCluster(t *testing.T, n int) *serveCluster {
	t.Helper()
	bin := keyholdBinary(t)
	dir := t.TempDir()
	c := &serveCluster{config: filepath.Join(dir, "keyhold.yaml")}
	for range n {
		c.addrs = append(c.addrs, freeAddr(t))
	}
	errs := make(chan error, n)
	for _, addr := range c.addrs {
		node := &serveNode{t: t, bin: bin, dir: dir, addr: addr, parts: "pay", peers: strings.Join(c.addrs, ",")}
		c.nodes = append(c.nodes, node)
		go func() { errs <- node.launch() }()
	}
	t.Cleanup(func() {
		for _, node := range c.nodes {
			node.stop()
		}
	})
	for range n {
		require.NoError(t, <-errs)
	}
	return c
}

// freeze stops process i (SIGSTOP) until the returned function resumes it.
func (c *serveCluster) freeze(t *testing.T, i int) (thaw func()) {
	t.Helper()
	require.NoError(t, c.nodes[i].cmd.Process.Signal(syscall.SIGSTOP))
	return func() { require.NoError(t, c.nodes[i].cmd.Process.Signal(syscall.SIGCONT)) }
}
