package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/cmdkit"
)

// Exit codes of the key commands (partitions, keys, cert, sign, verify).
// Scripts branch on them, so they are part of the interface: a code keeps its
// meaning across releases.
const (
	exitOK          = 0
	exitFailed      = 1 // the operation failed, or a signature did not verify
	exitUsage       = 2 // bad flags or arguments, or a malformed key name
	exitNotFound    = 3 // the key, certificate, partition or file named does not exist
	exitPIN         = 4 // no PIN, a wrong or locked PIN, or a login the operation needed is missing
	exitUnavailable = 5 // no node of the partition answered
)

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// pinError is a failure to obtain a PIN (not a PIN the HSM refused): exit
// code 4, like a wrong PIN, since the fix is the same kind of thing.
type pinError struct{ err error }

func (e *pinError) Error() string { return e.err.Error() }
func (e *pinError) Unwrap() error { return e.err }

// errSignatureInvalid is what verify reports for a signature that does not
// match: the operation "failed", exit code 1.
var errSignatureInvalid = errors.New("signature invalid")

// exitCodeFor maps an error to its exit code. It branches on the engine's
// typed errors, never on messages. PIN problems are checked before "not
// found", so that a PIN file that does not exist is reported as a PIN problem.
func exitCodeFor(err error) int {
	var ue *usageError
	var pe *pinError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.Is(err, hsm.ErrInvalidURI):
		return exitUsage
	case errors.As(err, &pe),
		errors.Is(err, hsm.ErrPINIncorrect), errors.Is(err, hsm.ErrPINLocked),
		errors.Is(err, hsm.ErrPINInvalid), errors.Is(err, hsm.ErrPINNotInitialized),
		errors.Is(err, hsm.ErrNotLoggedIn), errors.Is(err, hsm.ErrNoPIN):
		return exitPIN
	case errors.Is(err, hsm.ErrUnavailable), errors.Is(err, hsm.ErrBusy),
		errors.Is(err, context.DeadlineExceeded):
		return exitUnavailable
	case errors.Is(err, hsm.ErrNotFound), errors.Is(err, hsm.ErrUnknownPartition),
		errors.Is(err, fs.ErrNotExist):
		return exitNotFound
	}
	return exitFailed
}

// cmdline is what every key command shares: its flag set with the common
// flags, where it writes, and the configuration it opens.
type cmdline struct {
	name           string // "keys list", for messages
	fs             *flag.FlagSet
	stdout, stderr io.Writer

	config  string
	json    bool
	pinFile string
}

// newCmdline returns a command line for the command name with the common
// flags --config, --json and (when needsPIN) --pin-file registered. usage is
// printed before the flags by -h and after a usage error.
func newCmdline(name, usage string, needsPIN bool, stdout, stderr io.Writer) *cmdline {
	c := &cmdline{name: name, stdout: stdout, stderr: stderr}
	c.fs = flag.NewFlagSet(name, flag.ContinueOnError)
	c.fs.SetOutput(stderr)
	c.fs.Usage = func() {
		fmt.Fprintf(c.fs.Output(), "usage: keyhold %s\n\nflags:\n", usage)
		c.fs.PrintDefaults()
		fmt.Fprint(c.fs.Output(), exitCodesHelp)
	}
	c.fs.StringVar(&c.config, "config", "", "configuration file (default $KEYHOLD_CONF, else "+hsm.DefaultConfigPath+")")
	c.fs.BoolVar(&c.json, "json", false, "print JSON for scripts instead of text")
	if needsPIN {
		c.fs.StringVar(&c.pinFile, "pin-file", "", "read the partition's User PIN from this owner-only file")
	}
	return c
}

const exitCodesHelp = `
The PIN comes from --pin-file, else $KEYHOLD_PIN, else the file named by
$KEYHOLD_PIN_FILE, else the partition's pin_file, else a prompt when stdin is
a terminal. PINs are never taken from a flag's value.

exit codes: 0 ok, 1 operation failed (or signature invalid), 2 usage,
3 not found, 4 PIN or login problem, 5 HSM unavailable
`

// parse parses args, letting flags and positional arguments come in any
// order ("sign FILE --key K" as well as "sign --key K FILE"). It returns the
// positional arguments, or ok false with the exit code to return.
func (c *cmdline) parse(args []string) (pos []string, code int, ok bool) {
	for _, a := range args {
		// A PIN given on the command line would be visible to every user of
		// the machine (ps, /proc): refuse it with the reason, not just as an
		// unknown flag. The value is not repeated.
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "pin" || name == "user-pin" || name == "so-pin" || name == "new-pin") {
			sources := "KEYHOLD_PIN, KEYHOLD_PIN_FILE or --pin-file"
			switch name {
			case "so-pin":
				sources = "KEYHOLD_SO_PIN, KEYHOLD_SO_PIN_FILE or --so-pin-file"
			case "new-pin":
				sources = "KEYHOLD_NEW_PIN or --new-pin-file"
			}
			fmt.Fprintf(c.stderr, "keyhold %s: PINs are never taken from flags, which other users can read in the process list: use the prompt, %s\n", c.name, sources)
			return nil, exitUsage, false
		}
	}
	for {
		if code, ok := cmdkit.Parse(c.fs, args, c.stdout, c.stderr); !ok {
			return nil, code, false
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			return pos, 0, true
		}
		// flag stops at the first positional argument; a "--" before it
		// means that everything after is positional.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseNoArgs parses args for a command that takes flags only.
func (c *cmdline) parseNoArgs(args []string) (code int, ok bool) {
	pos, code, ok := c.parse(args)
	if ok && len(pos) > 0 {
		return c.fail(usagef("unexpected arguments %q", pos)), false
	}
	return code, ok
}

// fail reports err on stderr and returns its exit code.
func (c *cmdline) fail(err error) int {
	fmt.Fprintf(c.stderr, "keyhold %s: %v\n", c.name, err)
	if code := exitCodeFor(err); code != exitUsage || errors.Is(err, hsm.ErrInvalidURI) {
		return code
	}
	fmt.Fprintf(c.stderr, "Run \"keyhold %s -h\" for usage.\n", c.name)
	return exitUsage
}

// configPath returns the configuration file to use.
func (c *cmdline) configPath() string {
	if c.config != "" {
		return c.config
	}
	if p := os.Getenv("KEYHOLD_CONF"); p != "" {
		return p
	}
	return hsm.DefaultConfigPath
}

// open loads the configuration and opens a client; the caller closes it.
func (c *cmdline) open(ctx context.Context) (*hsm.Client, error) {
	cfg, err := hsm.LoadConfig(c.configPath())
	if err != nil {
		return nil, err
	}
	return hsm.Open(ctx, cfg)
}

// openRef parses the arguments of a command that names one key (in --key
// or as its one argument), opens a client and finds the key's partition.
// When ok is false the command exits with code; otherwise the caller closes
// the client.
func (c *cmdline) openRef(ctx context.Context, args []string, ref *string) (client *hsm.Client, p *hsm.Partition, u *hsm.URI, code int, ok bool) {
	pos, code, ok := c.parse(args)
	if !ok {
		return nil, nil, nil, code, false
	}
	u, err := refFrom(*ref, pos)
	if err != nil {
		return nil, nil, nil, c.fail(err), false
	}
	if client, p, err = c.openPartition(ctx, u); err != nil {
		return nil, nil, nil, c.fail(err), false
	}
	return client, p, u, 0, true
}

// openPartition opens a client and returns it with the partition u names.
// On error nothing is left open; otherwise the caller closes the client.
func (c *cmdline) openPartition(ctx context.Context, u *hsm.URI) (*hsm.Client, *hsm.Partition, error) {
	client, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := partitionFor(client, u)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, p, nil
}

// openPrivateKey opens a client, logs in to the partition u names and finds
// the private key u names. On error nothing is left open; otherwise the
// caller closes the client.
func (c *cmdline) openPrivateKey(ctx context.Context, u *hsm.URI) (*hsm.Client, *hsm.Partition, *hsm.Key, error) {
	client, p, err := c.openPartition(ctx, u)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := c.login(ctx, p); err != nil {
		client.Close()
		return nil, nil, nil, err
	}
	key, err := findKey(ctx, p, u, "private")
	if err != nil {
		client.Close()
		return nil, nil, nil, err
	}
	return client, p, key, nil
}

// subcommand is one word of a command group ("keys list").
type subcommand struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// runGroup dispatches a command group such as "keys" to its subcommands.
func runGroup(ctx context.Context, group string, subs []subcommand, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		for _, s := range subs {
			if s.name == args[0] {
				return s.run(ctx, args[1:], stdout, stderr)
			}
		}
	}
	w, code := stderr, exitUsage
	if len(args) > 1 && cmdkit.IsHelp(args[0]) {
		// "keyhold keys help list" and "keyhold keys -h list" are "keyhold keys list -h".
		for _, s := range subs {
			if s.name == args[1] {
				return s.run(ctx, append(slices.Clone(args[2:]), "-h"), stdout, stderr)
			}
		}
	}
	if len(args) > 0 && cmdkit.IsHelp(args[0]) {
		w, code = stdout, exitOK
	} else if len(args) > 0 {
		fmt.Fprintf(stderr, "keyhold %s: unknown subcommand %q\n", group, args[0])
	}
	fmt.Fprintf(w, "usage: keyhold %s SUBCOMMAND [flags]\n\nsubcommands:\n", group)
	for _, s := range subs {
		fmt.Fprintf(w, "  %-10s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\nRun \"keyhold %s SUBCOMMAND -h\" for its flags.\n", group)
	return code
}
