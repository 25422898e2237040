package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPINPrompt runs keyhold on a terminal (util-linux script(1) gives it a
// pseudo-terminal) without a configured PIN: it prompts, the PIN typed is
// not echoed, and a wrong one exits with the PIN code.
func TestPINPrompt(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses util-linux script(1) for a terminal")
	}
	scriptPath, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) not on PATH")
	}
	c, _ := startCLI(t)
	for _, tc := range []struct {
		pin  string
		code int
		want string
	}{
		{cliPIN, exitOK, "PARTITION"},
		{"typed-wrong-pin-42", exitPIN, "PIN incorrect"},
	} {
		cmd := exec.CommandContext(ctxT(t), scriptPath, "-q", "-e", "-c", binary+" keys list --partition payments", "/dev/null")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "KEYHOLD_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "KEYHOLD_CONF="+c.config, "GORACE=atexit_sleep_ms=0")
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())

		// Type the PIN only once the prompt is there, as a person would;
		// typed earlier, the terminal would echo it before keyhold turns
		// echo off. The pause covers the moment between the prompt and
		// ReadPassword.
		r := bufio.NewReader(stdout)
		var out bytes.Buffer
		for !strings.Contains(out.String(), "User PIN for partition payments: ") {
			b, err := r.ReadByte()
			require.NoError(t, err, "no prompt; output so far: %q", out.String())
			out.WriteByte(b)
		}
		time.Sleep(200 * time.Millisecond)
		_, err = io.WriteString(stdin, tc.pin+"\r")
		require.NoError(t, err)
		rest, _ := io.ReadAll(r)
		out.Write(rest)
		err = cmd.Wait()
		assert.Equal(t, tc.code, exitCode(err), "%s", out.String())
		assert.Contains(t, out.String(), tc.want)
		assert.NotContains(t, out.String(), tc.pin, "the PIN typed is not echoed")
	}
}
