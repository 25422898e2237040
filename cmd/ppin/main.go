// Command ppin enrolls this host with keyhold's HSM nodes and manages the
// credentials it holds.
//
// A host is enrolled once: an administrator creates a client entry on the
// nodes (keyhold serve --enroll NAME, for a development HSM), which yields a
// one-time setup password; ppin generates a key pair on this host, proves the
// password to a node whose identity it pins, and stores the certificate it
// receives with the private key in the secrets file named by the
// configuration. The private key never leaves this host.
//
//	ppin enroll --config DIR/keyhold.yaml --client NAME [--password-file F] [--replace] [--trust-on-first-use]
//	ppin status --config DIR/keyhold.yaml
//	ppin test   --config DIR/keyhold.yaml        (KEYHOLD_PIN or KEYHOLD_PIN_FILE: also log in)
//	ppin remove --config DIR/keyhold.yaml [--client NAME]
//	ppin rotate --config DIR/keyhold.yaml [--client NAME]
//
// Like enroll, remove and rotate act on the credential --client names, else
// the one the configuration selects (client:), else the only one in the
// secrets file.
//
// The setup password is read from --password-file, else from standard input
// when it is not a terminal (for scripts), else from a prompt without echo.
// It never appears in arguments, output or errors. ppin test takes the User
// PIN from KEYHOLD_PIN, else from the file KEYHOLD_PIN_FILE names, which,
// like the secrets file, only its owner may read: a PIN file that group or
// others may read is refused. Exit status: 0 success, 1 failure, 2 usage
// error. Certificates are named by the first 16 hex digits of their SHA-256
// fingerprint, as keyhold clients list names them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/keyhold/keyhold/internal/cmdkit"
)

// command is one subcommand; run gets the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env *environment) int
}

// environment is what a subcommand may touch besides files and the network:
// its streams and the environment variables, so that tests can run it too.
type environment struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

var commands = []command{
	{"enroll", "enroll this host with a setup password; store the credential in the secrets file", runEnroll},
	{"status", "list the credentials in the secrets file, their expiry and the nodes that accept them", runStatus},
	{"test", "connect to every node of every partition with the credential (and log in with KEYHOLD_PIN)", runTest},
	{"remove", "remove a credential from the secrets file", runRemove},
	{"rotate", "replace a credential with a new key pair; the old one is revoked once the new one works", runRotate},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &environment{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, env *environment) int {
	if len(args) == 0 {
		usage(env.stderr)
		return exitUsage
	}
	if cmdkit.IsVersion(args) {
		fmt.Fprintln(env.stdout, cmdkit.Version("ppin"))
		return exitOK
	}
	if cmdkit.IsHelp(args[0]) {
		if len(args) == 1 {
			usage(env.stdout)
			return exitOK
		}
		// "ppin help rotate" is "ppin rotate -h".
		if c := lookup(args[1]); c != nil {
			return c.run(ctx, []string{"-h"}, env)
		}
		fmt.Fprintf(env.stderr, "ppin help: unknown command %q\n", args[1])
		usage(env.stderr)
		return exitUsage
	}
	if c := lookup(args[0]); c != nil {
		return c.run(ctx, args[1:], env)
	}
	fmt.Fprintf(env.stderr, "ppin: unknown command %q\n", args[0])
	usage(env.stderr)
	return 2
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ppin COMMAND [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"ppin help COMMAND\" for the flags of each; \"ppin --version\" prints the version.")
}
