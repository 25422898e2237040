// Command keyhold is keyhold's command-line tool.
//
// Subcommands:
//
//	keyhold serve          run software HSM nodes (development and tests only)
//	keyhold config check   validate a configuration file; --probe also asks every node
//
// Run "keyhold help SUBCOMMAND" or "keyhold SUBCOMMAND -h" for the flags of
// each.
//
// keyhold serve starts nodes on 127.0.0.1, writes DIR/keyhold.yaml (for
// KEYHOLD_CONF), the node CA and the client credential, and prints one line
// when it serves:
//
//	keyhold serve --dir DIR --partitions payments,web --user-pin PIN --so-pin PIN
//	keyhold: serving partitions payments,web on 127.0.0.1:40123 (config DIR/keyhold.yaml)
//
// --nodes N runs a cluster of N nodes in one process. A cluster of separate
// processes, which a test can kill one by one, is started by giving each
// process its own fixed --listen address and all of the cluster's addresses
// in --peers, with the same --dir:
//
//	peers=127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
//	for addr in ${peers//,/ }; do
//	  keyhold serve --dir "$D" --partitions pay --listen "$addr" --peers "$peers" &
//	done
//
// The first process creates the cluster's PKI, ticket keys, credential and
// PINs in DIR/cluster.yaml (owner-only) atomically, and the others load them;
// every process writes the same DIR/keyhold.yaml listing every node. A
// process killed and started again with the same flags catches up from the
// others before it prints its line.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns the exit status.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands, in the order help shows them.
var commands = []command{
	{name: "serve", summary: "run software HSM nodes for development and tests", run: runServe},
	{name: "config", summary: "check a configuration file (config check [--probe] [FILE])", run: runConfig},
}

func main() {
	// SIGINT and SIGTERM cancel the context: subcommands that run until
	// stopped (serve) shut down cleanly and exit 0.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				return c.run(ctx, []string{"-h"}, stdout, stdout)
			}
		}
		usage(stdout)
		return 0
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "keyhold: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
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
	fmt.Fprintln(w, "usage: keyhold COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "keyhold help COMMAND" for a command's flags.`)
}
