package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/keyhold/keyhold/hsm"
)

// runConfig implements "keyhold config check [--probe] [FILE]": it validates
// a configuration file and explains each problem on its own line. With
// --probe it also connects to every node and checks that each serves its
// partitions under the configured ID and name.
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(stdout, "usage: keyhold config check [--probe] [FILE]\n\nFILE defaults to $KEYHOLD_CONF, else "+hsm.DefaultConfigPath+".")
			return 0
		}
		fmt.Fprintln(stderr, "usage: keyhold config check [--probe] [FILE]")
		return 2
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	probe := fs.Bool("probe", false, "connect to every node and check that it serves its partitions")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	path := fs.Arg(0)
	if path == "" {
		path = os.Getenv("KEYHOLD_CONF")
	}
	if path == "" {
		path = hsm.DefaultConfigPath
	}
	cfg, err := hsm.LoadConfig(path)
	if err != nil {
		var problems []string
		if errors.Is(err, hsm.ErrConfig) {
			problems = configErrorLines(err)
		} else {
			problems = []string{err.Error()}
		}
		fmt.Fprintf(stdout, "%s: %d problem(s)\n", path, len(problems))
		for _, p := range problems {
			fmt.Fprintf(stdout, "  - %s\n", p)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid (%d partition(s))\n", path, len(cfg.Partitions))
	if !*probe {
		return 0
	}
	results, err := hsm.Probe(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stdout, "  - %v\n", err)
		return 1
	}
	bad := 0
	for _, r := range results {
		status := "ok"
		if r.Problem != "" {
			status, bad = r.Problem, bad+1
		}
		fmt.Fprintf(stdout, "  partition %s (id %d) node %s priority %d: %s\n", r.Partition, r.ID, r.Address, r.Priority, status)
	}
	if bad > 0 {
		fmt.Fprintf(stdout, "%d node problem(s)\n", bad)
		return 1
	}
	return 0
}

// configErrorLines splits a configuration error into its problems.
func configErrorLines(err error) []string {
	var lister interface{ Problems() []string }
	if errors.As(err, &lister) {
		return lister.Problems()
	}
	return []string{err.Error()}
}
