//go:build unix

package doctest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
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

// block is one fenced code block of a document.
type block struct {
	file string // the document, relative to the repository
	line int    // the line of the opening fence
	lang string
	body string
	dir  directive
}

// directive is what the comment before a block says about running it.
type directive struct {
	background bool
	until      string // with background: an ERE its output must match
	runPrinted string // with background: a prefix of a printed command to run
	stdin      string
	hasStdin   bool
	skip       string // the reason the block is not run
}

// commandLangs are the fence languages whose blocks are commands.
var commandLangs = map[string]bool{"sh": true, "bash": true, "shell": true}

var (
	fenceRE     = regexp.MustCompile("^```\\s*([A-Za-z0-9_+-]*)\\s*$")
	directiveRE = regexp.MustCompile(`^<!--\s*doc:(.*?)-->\s*$`)
	wordRE      = regexp.MustCompile(`^\s*([a-z-]+)(?:="([^"]*)")?`)
)

// parseDirective parses the text after "doc:".
func parseDirective(s string) (directive, error) {
	var d directive
	for strings.TrimSpace(s) != "" {
		m := wordRE.FindStringSubmatchIndex(s)
		if m == nil {
			return d, fmt.Errorf("cannot parse %q", s)
		}
		key := s[m[2]:m[3]]
		hasValue := m[4] >= 0
		value := ""
		if hasValue {
			value = s[m[4]:m[5]]
		}
		s = s[m[1]:]
		switch {
		case key == "background" && !hasValue:
			d.background = true
		case key == "until" && hasValue:
			d.until = value
		case key == "run-printed" && hasValue:
			d.runPrinted = value
		case key == "stdin" && hasValue:
			d.stdin, d.hasStdin = value, true
		case key == "skip" && value != "":
			d.skip = value
		default:
			return d, fmt.Errorf("unknown directive %q (or it lacks its value)", key)
		}
	}
	if (d.until != "" || d.runPrinted != "") && !d.background {
		return d, errors.New("until and run-printed need background")
	}
	if d.background && d.until == "" && d.runPrinted == "" {
		return d, errors.New("background needs until or run-printed: the next block must know when to start")
	}
	return d, nil
}

// parseBlocks returns the fenced blocks of a Markdown document with the
// directive each one has.
func parseBlocks(file string, text []byte) ([]block, error) {
	var (
		out     []block
		cur     *block
		body    strings.Builder
		pending *directive
		prev    string // the last non-blank line outside a block
	)
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if cur != nil {
			if strings.TrimSpace(line) == "```" {
				cur.body = body.String()
				out = append(out, *cur)
				cur, pending = nil, nil
				continue
			}
			body.WriteString(line)
			body.WriteByte('\n')
			continue
		}
		if m := fenceRE.FindStringSubmatch(line); m != nil {
			cur = &block{file: file, line: n, lang: m[1]}
			body.Reset()
			if pending != nil && directiveRE.MatchString(prev) {
				cur.dir = *pending
			}
			continue
		}
		if m := directiveRE.FindStringSubmatch(line); m != nil {
			d, err := parseDirective(m[1])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", file, n, err)
			}
			pending = &d
		}
		if strings.TrimSpace(line) != "" {
			prev = line
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: block never closed", file, cur.line)
	}
	return out, sc.Err()
}

// prelude defines what the generated script's background blocks use.
const prelude = `set -eo pipefail
# __doctest_wait LOG PID ERE: wait until LOG has a line matching ERE, failing
# if process PID ends first (tail --pid ends then, and grep sees no match).
__doctest_wait() {
	if ! timeout 300 grep -q -m1 -E -- "$3" < <(exec tail -n +1 --pid="$2" -f "$1"); then
		echo "doctest: the background block ended (or took 300 s) before printing a line matching $3; it printed:" >&2
		cat "$1" >&2
		return 1
	fi
}
# __doctest_run_printed LOG PREFIX: run the rest of LOG's first line that
# starts with PREFIX: the command a program printed for its reader.
__doctest_run_printed() {
	local l
	while IFS= read -r l; do
		if [[ $l == "$2"* ]]; then
			echo "+ ${l#"$2"}" >&2
			eval "${l#"$2"}"
			return
		fi
	done <"$1"
	return 1
}
`

// script returns the bash script that runs blocks as a reader would.
func script(blocks []block, logDir string) string {
	var b strings.Builder
	b.WriteString(prelude)
	for i, bl := range blocks {
		where := fmt.Sprintf("%s:%d", bl.file, bl.line)
		fmt.Fprintf(&b, "\necho \"### %s (at ${SECONDS}s)\" >&2\n", where)
		switch {
		case bl.dir.background:
			log := filepath.Join(logDir, fmt.Sprintf("background-%d.log", i))
			until := bl.dir.until
			if until == "" {
				until = "^" + regexp.QuoteMeta(bl.dir.runPrinted)
			}
			fmt.Fprintf(&b, "(\n%s) >%q 2>&1 </dev/null &\n", bl.body, log)
			fmt.Fprintf(&b, "__doctest_wait %q $! %q\n", log, until)
			fmt.Fprintf(&b, "cat %q >&2\n", log)
			if bl.dir.runPrinted != "" {
				fmt.Fprintf(&b, "__doctest_run_printed %q %q\n", log, bl.dir.runPrinted)
			}
		case bl.dir.hasStdin:
			fmt.Fprintf(&b, "{\n%s} <<'__DOCTEST_STDIN__'\n%s\n__DOCTEST_STDIN__\n", bl.body, bl.dir.stdin)
		default:
			fmt.Fprintf(&b, "{\n%s} </dev/null\n", bl.body)
		}
	}
	return b.String()
}

// repoRoot is the repository this package is in.
func repoRoot(t *testing.T) string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// documents lists README.md and docs/*.md.
func documents(t *testing.T, root string) []string {
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	out := []string{"README.md"}
	for _, d := range docs {
		rel, err := filepath.Rel(root, d)
		require.NoError(t, err)
		out = append(out, rel)
	}
	return out
}

// freshCopy copies the repository's files (tracked, and new ones git does
// not ignore) into a new directory, as a fresh clone would have them.
func freshCopy(t *testing.T, root string) string {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	require.NoError(t, err, "git ls-files")
	dst := t.TempDir()
	for name := range strings.SplitSeq(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		st, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree, not yet committed
		}
		require.NoError(t, err)
		if !st.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		target := filepath.Join(dst, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(target), 0o755))
		require.NoError(t, os.WriteFile(target, data, st.Mode().Perm()))
	}
	return dst
}

// environment is the process environment of a reader who has just cloned
// the repository: their own HOME, none of keyhold's variables but a
// KEYHOLD_CONF naming a file that does not exist (a variable left set in
// the shell must not change what the quick start does), and Go's caches
// where they are, so that nothing is downloaded again.
func environment(t *testing.T, home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "KEYHOLD_") || k == "HOME" || k == "SOFTHSM2_CONF" || k == "OPENSSL_CONF" || k == "GOFLAGS" {
			continue
		}
		env = append(env, kv)
	}
	for _, v := range []string{"GOPATH", "GOCACHE", "GOMODCACHE"} {
		out, err := exec.Command("go", "env", v).Output()
		require.NoError(t, err)
		env = append(env, v+"="+strings.TrimSpace(string(out)))
	}
	// -trimpath: the fresh copy's packages build as they would anywhere
	// else, so that the build cache serves every document's copy after the
	// first instead of compiling the module again for each directory.
	return append(env, "HOME="+home, "KEYHOLD_CONF="+filepath.Join(home, "not-this-keyhold.yaml"),
		"GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -trimpath"))
}

// holdPort8443 keeps 127.0.0.1:8443 taken during the test, unless something
// else already has it.
func holdPort8443(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:8443")
	if err != nil {
		require.ErrorIs(t, err, syscall.EADDRINUSE)
		return
	}
	t.Cleanup(func() { ln.Close() })
}

// TestDocuments runs every command block of README.md and docs/*.md.
func TestDocuments(t *testing.T) {
	for _, tool := range []string{"bash", "git", "tail", "timeout", "grep"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "the documents are run with %s", tool)
	}
	root := repoRoot(t)
	holdPort8443(t)
	for _, doc := range documents(t, root) {
		text, err := os.ReadFile(filepath.Join(root, doc))
		require.NoError(t, err)
		blocks, err := parseBlocks(doc, text)
		require.NoError(t, err)
		var run []block
		for _, b := range blocks {
			switch {
			case !commandLangs[b.lang]:
			case b.dir.skip != "":
				t.Logf("%s:%d not run: %s", b.file, b.line, b.dir.skip)
			default:
				run = append(run, b)
			}
		}
		if len(run) == 0 {
			continue
		}
		t.Run(doc, func(t *testing.T) { runDocument(t, root, run) })
	}
}

// runDocument runs one document's blocks in a fresh copy of the repository.
func runDocument(t *testing.T, root string, blocks []block) {
	printed, err := runBlocks(t, root, blocks)
	if err != nil {
		t.Fatalf("running the blocks of %s failed (%v); what they printed:\n%s", blocks[0].file, err, printed)
	}
	t.Logf("what the blocks printed:\n%s", printed)
}

// runBlocks runs blocks in a fresh copy of the repository and returns what
// they printed, and the error of the first that failed.
func runBlocks(t *testing.T, root string, blocks []block) ([]byte, error) {
	work := freshCopy(t, root)
	home := t.TempDir()
	logs := t.TempDir()
	path := filepath.Join(logs, "doc.sh")
	require.NoError(t, os.WriteFile(path, []byte(script(blocks, logs)), 0o600))
	output, err := os.Create(filepath.Join(logs, "output"))
	require.NoError(t, err)
	defer output.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", path)
	cmd.Dir = work
	cmd.Env = environment(t, home)
	cmd.Stdout, cmd.Stderr = output, output
	// Its own process group, so that background blocks (servers) and their
	// children are ended with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	require.NoError(t, cmd.Start())
	err = cmd.Wait()
	// The script is done; end what its background blocks left running.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)

	printed, _ := os.ReadFile(output.Name())
	return printed, err
}

// TestWrongFlagFails: a block that names a flag the program does not have
// fails the test, which is what keeps documents and programs together.
func TestWrongFlagFails(t *testing.T) {
	blocks, err := parseBlocks("wrong.md", []byte("```sh\necho before\ngo run ./cmd/keyhold keys list --partitoin web\necho after\n```\n"))
	require.NoError(t, err)
	printed, err := runBlocks(t, repoRoot(t), blocks)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", printed)
	assert.NotZero(t, ee.ExitCode(), "the usage error ends the script: %s", printed)
	assert.Contains(t, string(printed), "flag provided but not defined: -partitoin")
	assert.Contains(t, string(printed), "before")
	assert.NotContains(t, string(printed), "after")
}

func TestParseBlocks(t *testing.T) {
	doc := "# x\n\n```sh\necho one\n```\n\n<!-- doc: background run-printed=\"try: \" -->\n```sh\nserve\n```\n" +
		"<!-- doc: skip=\"slow\" -->\n\n```bash\nbench\n```\n```yaml\na: 1\n```\n<!-- doc: stdin=\"1234\" -->\ntext between\n```sh\nread x\n```\n"
	blocks, err := parseBlocks("x.md", []byte(doc))
	require.NoError(t, err)
	require.Len(t, blocks, 5)
	assert.Equal(t, block{file: "x.md", line: 3, lang: "sh", body: "echo one\n"}, blocks[0])
	assert.Equal(t, directive{background: true, runPrinted: "try: "}, blocks[1].dir)
	assert.Equal(t, directive{skip: "slow"}, blocks[2].dir)
	assert.Equal(t, "yaml", blocks[3].lang)
	assert.Equal(t, directive{}, blocks[4].dir, "a directive applies only to the block right after it")

	for _, bad := range []string{
		"<!-- doc: backgrnd until=\"x\" -->\n",
		"<!-- doc: background -->\n",
		"<!-- doc: until=\"x\" -->\n",
		"<!-- doc: skip -->\n",
		"```sh\nnever closed\n",
	} {
		_, err := parseBlocks("bad.md", []byte(bad))
		assert.Error(t, err, bad)
	}
}
