package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/cmdkit"
)

const configUsage = `usage: keyhold config check [--probe] [FILE]

Checks a client configuration and the files it names (server_ca, the secrets
file, pin_file) as a client would use them, and with --probe also asks every
node whether it serves its partitions under the configured ID and name. It
prints one verdict, "FILE: ok" or "FILE: N problem(s)", then every problem
on its own line; with --probe, one line per node. Exit status 0 when there
is no problem, 1 when there is one, 2 for a usage error.

FILE defaults to $KEYHOLD_CONF, else ` + hsm.DefaultConfigPath + `.

flags:
`

// runConfig implements "keyhold config check [--probe] [FILE]".
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), configUsage)
		fs.PrintDefaults()
	}
	probe := fs.Bool("probe", false, "connect to every node and check that it serves its partitions")
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && cmdkit.IsHelp(args[0]) {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK
		}
		fs.SetOutput(stderr)
		fs.Usage()
		return exitUsage
	}
	if code, ok := cmdkit.Parse(fs, args[1:], stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "keyhold config check: one FILE at most, got %q\n", fs.Args())
		return exitUsage
	}
	path := fs.Arg(0)
	if path == "" {
		path = os.Getenv("KEYHOLD_CONF")
	}
	if path == "" {
		path = hsm.DefaultConfigPath
	}
	problems, nodes, nodeProblems := checkConfig(ctx, path, *probe)
	if n := len(problems) + nodeProblems; n == 0 {
		fmt.Fprintf(stdout, "%s: ok\n", path)
	} else {
		fmt.Fprintf(stdout, "%s: %d problem(s)\n", path, n)
	}
	for _, p := range problems {
		fmt.Fprintf(stdout, "  - %s\n", p)
	}
	for _, n := range nodes {
		fmt.Fprintln(stdout, n)
	}
	if len(problems)+nodeProblems > 0 {
		return exitFailed
	}
	return exitOK
}

// checkConfig returns every problem of the configuration at path and, when
// probing, a line for each node probed with the number of them that have a
// problem.
func checkConfig(ctx context.Context, path string, probe bool) (problems, nodes []string, nodeProblems int) {
	cfg, err := hsm.LoadConfig(path)
	if err != nil {
		return configErrorLines(err), nil, 0
	}
	if err := cfg.CheckFiles(); err != nil {
		problems = configErrorLines(err)
	}
	if !probe {
		return problems, nil, 0
	}
	if len(problems) > 0 {
		// A node cannot be asked without the files it needs: asking would
		// only repeat the same problems.
		return problems, []string{"  (nodes not probed until the problems above are fixed)"}, 0
	}
	results, err := hsm.Probe(ctx, cfg)
	if err != nil {
		return configErrorLines(err), nil, 0
	}
	for _, r := range results {
		status := "ok"
		if r.Problem != "" {
			status = r.Problem
			nodeProblems++
		}
		nodes = append(nodes, fmt.Sprintf("  partition %s (id %d) node %s priority %d: %s", r.Partition, r.ID, r.Address, r.Priority, status))
	}
	return problems, nodes, nodeProblems
}

// configErrorLines splits a configuration error into its problems.
func configErrorLines(err error) []string {
	lines := []string{err.Error()}
	var lister interface{ Problems() []string }
	if errors.As(err, &lister) {
		lines = lister.Problems()
	}
	// The verdict line already says that these are configuration problems.
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(strings.TrimPrefix(l, hsm.ErrConfig.Error()+": "), "hsm: ")
	}
	return lines
}
