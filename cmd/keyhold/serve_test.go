package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// readPINs reads DIR/pins.
func readPINs(t *testing.T, dir string) map[string]string {
	t.Helper()
	path := filepath.Join(dir, "pins")
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the PINs file is owner-only")
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		require.True(t, ok, "line %q", line)
		out[k] = v
	}
	require.NoError(t, sc.Err())
	return out
}

// signWithEngine opens the configuration with the engine, logs in to part,
// generates an EC key labelled label, and checks a signature with it.
func signWithEngine(t *testing.T, cfg hsm.Config, part, pin, label string) *hsm.Key {
	t.Helper()
	client, err := hsm.Open(ctxT(t), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	p, err := client.Partition(part)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctxT(t), pin))
	key, err := p.GenerateKey(ctxT(t), hsm.KeySpec{Type: hsm.KeyEC, Label: label})
	require.NoError(t, err)
	digest := sha256.Sum256([]byte("signed through keyhold serve"))
	sig, err := key.Sign(ctxT(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
	require.NoError(t, err)
	require.Len(t, sig, 64)
	pub, ok := key.Public().(*ecdsa.PublicKey)
	require.True(t, ok)
	assert.True(t, ecdsa.VerifyASN1(pub, digest[:], rawToASN1(t, sig)))
	return key
}

// rawToASN1 turns a PKCS#11 r||s ECDSA signature into ASN.1 for the
// standard library.
func rawToASN1(t *testing.T, sig []byte) []byte {
	t.Helper()
	var b []byte
	for _, part := range [][]byte{sig[:len(sig)/2], sig[len(sig)/2:]} {
		for len(part) > 1 && part[0] == 0 {
			part = part[1:]
		}
		if part[0]&0x80 != 0 {
			part = append([]byte{0}, part...)
		}
		b = append(b, 0x02, byte(len(part)))
		b = append(b, part...)
	}
	return append([]byte{0x30, byte(len(b))}, b...)
}

func TestServeSingleNode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hsm")
	p, line := startServe(t, nil, "--dir", dir, "--partitions", "payments,web")
	parts, addrs, config := readyLine(t, line)
	assert.Equal(t, []string{"payments", "web"}, parts)
	require.Len(t, addrs, 1)
	assert.Equal(t, filepath.Join(dir, "keyhold.yaml"), config)

	// Generated PINs, owner-only; the secrets file too.
	pins := readPINs(t, dir)
	require.NotEmpty(t, pins["KEYHOLD_USER_PIN"])
	require.NotEmpty(t, pins["KEYHOLD_SO_PIN"])
	assert.NotEqual(t, pins["KEYHOLD_USER_PIN"], pins["KEYHOLD_SO_PIN"])
	assert.Equal(t, pins["KEYHOLD_USER_PIN"], pins["KEYHOLD_PIN"], "the key commands' variable is exported too")
	cfg, err := hsm.LoadConfig(config)
	require.NoError(t, err)
	st, err := os.Stat(cfg.Secrets)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	st, err = os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	require.Len(t, cfg.Partitions, 2)
	for i, want := range []string{"payments", "web"} {
		assert.Equal(t, uint32(i+1), cfg.Partitions[i].ID)
		assert.Equal(t, want, cfg.Partitions[i].Name)
		assert.Equal(t, []hsm.NodeConfig{{Address: addrs[0]}}, cfg.Partitions[i].Nodes)
	}
	signWithEngine(t, cfg, "web", pins["KEYHOLD_USER_PIN"], "cli-key")

	require.NoError(t, p.stop(syscall.SIGTERM), "SIGTERM exits 0; stderr:\n%s", p.stderr)
	assert.Len(t, p.out.lines(), 1, "exactly one line on stdout")
}

func TestServePINSources(t *testing.T) {
	dir := t.TempDir()
	userFile := filepath.Join(t.TempDir(), "user-pin")
	require.NoError(t, os.WriteFile(userFile, []byte("user-pin-from-file\n"), 0o600))
	p, line := startServe(t, []string{"KEYHOLD_SO_PIN=so-pin-from-env"},
		"--dir", dir, "--partitions", "a", "--user-pin-file", userFile)
	_, _, config := readyLine(t, line)
	assert.NoFileExists(t, filepath.Join(dir, "pins"), "no PIN was generated")
	cfg, err := hsm.LoadConfig(config)
	require.NoError(t, err)
	client, err := hsm.Open(ctxT(t), cfg)
	require.NoError(t, err)
	defer client.Close()
	part, err := client.Partition("a")
	require.NoError(t, err)
	require.NoError(t, part.Login(ctxT(t), "user-pin-from-file"))
	require.NoError(t, part.Logout(ctxT(t)))
	require.NoError(t, part.LoginAs(ctxT(t), hsm.SO, "so-pin-from-env"))
	require.NoError(t, p.stop(os.Interrupt), "SIGINT exits 0 too")

	// Bad invocations say what is wrong and exit non-zero without serving.
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--partitions", "a"}, 1, "--dir is required"},
		{[]string{"--dir", dir}, 1, "--partitions is required"},
		{[]string{"--dir", dir, "--partitions", "a,a"}, 1, "twice"},
		{[]string{"--dir", dir, "--partitions", "a", "--user-pin", "x", "--user-pin-file", userFile}, 1, "not both"},
		{[]string{"--dir", dir, "--partitions", "a", "--user-pin", "12"}, 1, "PIN length"},
		{[]string{"--dir", dir, "--partitions", "a", "--peers", "127.0.0.1:1"}, 1, "fixed address"},
		{[]string{"--dir", dir, "--partitions", "a", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"--dir", dir, "--partitions", "a", "--replication", "paxos"}, 1, "--replication"},
		{[]string{"--dir", dir, "--partitions", "a", "--replication", "raft", "--join"}, 1, "--join goes with --peers"},
	} {
		out, err := runBinary(t, append([]string{"serve"}, tc.args...)...)
		require.Error(t, err, "%v", tc.args)
		assert.Equal(t, tc.code, exitCode(err), "%v: %s", tc.args, out)
		assert.Contains(t, out, tc.msg, "%v", tc.args)
	}
	out, err := runBinary(t, "nonsense")
	assert.Equal(t, 2, exitCode(err))
	assert.Contains(t, out, "unknown command")
	out, err = runBinary(t, "help")
	require.NoError(t, err)
	assert.Contains(t, out, "serve")
}

func TestServeNodes(t *testing.T) {
	dir := t.TempDir()
	p, line := startServe(t, nil, "--dir", dir, "--partitions", "pay", "--nodes", "3",
		"--user-pin", "user-pin-1234", "--so-pin", "so-pin-5678")
	_, addrs, config := readyLine(t, line)
	require.Len(t, addrs, 3)
	cfg, err := hsm.LoadConfig(config)
	require.NoError(t, err)
	require.Len(t, cfg.Partitions, 1)
	var listed []string
	for _, n := range cfg.Partitions[0].Nodes {
		listed = append(listed, n.Address)
	}
	assert.Equal(t, addrs, listed)

	signWithEngine(t, cfg, "pay", "user-pin-1234", "replicated")
	for _, a := range addrs {
		c := dialNode(t, cfg, a)
		ticket := login(t, c, 1, "user-pin-1234")
		assert.Len(t, findLabel(t, c, 1, ticket, "replicated"), 2, "node %s", a)
	}
	require.NoError(t, p.stop(syscall.SIGTERM))
}

// TestServeProcessCluster runs a cluster of three processes, kills one with
// SIGKILL while the others keep serving, and starts it again: it catches up
// before it serves.
func TestServeProcessCluster(t *testing.T) {
	dir := t.TempDir()
	addrs := freePorts(t, 3)
	peers := strings.Join(addrs, ",")
	start := func(i int) (*process, string) {
		return startServe(t, []string{"KEYHOLD_USER_PIN=user-pin-1234"}, "--dir", dir, "--partitions", "pay,ops",
			"--listen", addrs[i], "--peers", peers, "--so-pin", "so-pin-5678")
	}
	// Started at once: the first to link DIR/cluster.yaml sets up the PKI
	// for all.
	type started struct {
		p    *process
		line string
	}
	results := make(chan started, 3)
	procs := make([]*process, 3)
	for i := range 3 {
		go func() {
			p, line := start(i)
			results <- started{p, line}
		}()
	}
	var config string
	for range 3 {
		r := <-results
		_, a, c := readyLine(t, r.line)
		require.Len(t, a, 1)
		for i := range addrs {
			if addrs[i] == a[0] {
				procs[i] = r.p
			}
		}
		config = c
	}
	st, err := os.Stat(filepath.Join(dir, "cluster.yaml"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	cfg, err := hsm.LoadConfig(config)
	require.NoError(t, err)
	require.Len(t, cfg.Partitions, 2)
	require.Len(t, cfg.Partitions[0].Nodes, 3)
	signWithEngine(t, cfg, "pay", "user-pin-1234", "before")
	for _, a := range addrs {
		c := dialNode(t, cfg, a)
		assert.Len(t, findLabel(t, c, 1, login(t, c, 1, "user-pin-1234"), "before"), 2, "node %s", a)
	}

	// Kill the second process; the others keep serving, and changes go on.
	require.Error(t, procs[1].stop(syscall.SIGKILL))
	c0 := dialNode(t, cfg, addrs[0])
	ticket := login(t, c0, 2, "user-pin-1234")
	made := generateAES(t, c0, 2, ticket, "while-down")
	c2 := dialNode(t, cfg, addrs[2])
	assert.Equal(t, []uint64{made}, findLabel(t, c2, 2, ticket, "while-down"))
	signWithEngine(t, cfg, "pay", "user-pin-1234", "during")

	// Started again, it has the changes it missed before its ready line.
	procs[1], _ = start(1)
	c1 := dialNode(t, cfg, addrs[1])
	assert.Equal(t, []uint64{made}, findLabel(t, c1, 2, ticket, "while-down"), "the ticket of the cluster works, and the key is there")
	assert.Len(t, findLabel(t, c1, 1, login(t, c1, 1, "user-pin-1234"), "during"), 2)

	// A process with other PINs may not join.
	out, err := runBinary(t, "serve", "--dir", dir, "--partitions", "pay,ops", "--listen", addrs[1],
		"--peers", peers, "--user-pin", "another-pin", "--so-pin", "so-pin-5678")
	require.Error(t, err)
	assert.Contains(t, out, "differs")
	assert.NotContains(t, out, "another-pin")

	for _, p := range procs {
		require.NoError(t, p.stop(syscall.SIGTERM))
	}
}
