package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark/backend"
	"github.com/keyhold/keyhold/internal/cmdkit"
)

// options are the command line of a run.
type options struct {
	out         string
	backends    []backendSpec
	operations  []benchmark.Operation
	concurrency []int
	window      benchmark.Window
	rounds      int
	libkeyhold  string
	softhsm2    string
	profile     string
	workerProcs int
	notes       string
	render      string
}

// operationFlags names the operations on the command line.
var operationFlags = map[string]benchmark.Operation{
	"ecdsa-p256": benchmark.ECDSAP256,
	"rsa-pkcs1":  benchmark.RSA2048PKCS1,
	"rsa-pss":    benchmark.RSA2048PSS,
	"ed25519":    benchmark.Ed25519,
	"rsa-oaep":   benchmark.RSA2048OAEP,
}

func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("keyhold-bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: keyhold-bench [flags]\n\nMeasures keyhold beside the Go standard library, crypto11 and SoftHSM2, and writes\nMarkdown (-out), with throughput and latency charts (PNG) and JSON results next to it.\n\nflags:\n")
		fs.PrintDefaults()
	}
	o := options{}
	fs.StringVar(&o.out, "out", "benchmarks.md", "the Markdown report to write; the charts (.png, -latency.png) and results (.json) go next to it")
	backends := fs.String("backends", strings.Join(backendNames(), ","), "the backends to measure, comma-separated")
	ops := fs.String("operations", "ecdsa-p256,rsa-pkcs1,rsa-pss,ed25519,rsa-oaep", "the operations to measure, comma-separated")
	conc := fs.String("concurrency", "1,8,32,128", "the numbers of concurrent callers, comma-separated")
	fs.DurationVar(&o.window.Warmup, "warmup", 500*time.Millisecond, "the warm-up before each measurement, not counted")
	fs.DurationVar(&o.window.Measured, "duration", 2*time.Second, "how long each measurement counts operations")
	fs.IntVar(&o.rounds, "rounds", 3, "how many times to measure every cell; rounds interleave the backends")
	fs.StringVar(&o.libkeyhold, "libkeyhold", "", "a built libkeyhold.so (default: build one from this module with go build)")
	fs.StringVar(&o.render, "render", "", "measure nothing: write the report (-out, with -notes) again from this JSON file of a past run")
	fs.StringVar(&o.notes, "notes", "", "a hand-written Markdown file that explains the numbers, shown at the end of the report")
	fs.StringVar(&o.profile, "profile", "", "a directory where every node and worker process writes a CPU profile of its life (NAME.pprof, for go tool pprof)")
	fs.IntVar(&o.workerProcs, "worker-procs", 0, "GOMAXPROCS of the processes that call the backends (0: Go's default, one per core); the nodes keep the default")
	fs.StringVar(&o.softhsm2, "softhsm2", "/usr/lib/softhsm/libsofthsm2.so", "SoftHSM2's PKCS#11 module")
	if code, ok := cmdkit.Parse(fs, args, os.Stdout, os.Stderr); !ok {
		return o, exitStatus(code)
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "keyhold-bench: unexpected arguments %q\n", fs.Args())
		return o, exitStatus(cmdkit.ExitUsage)
	}
	for name := range strings.SplitSeq(*backends, ",") {
		b, err := findBackend(strings.TrimSpace(name))
		if err != nil {
			return o, err
		}
		o.backends = append(o.backends, b)
	}
	for name := range strings.SplitSeq(*ops, ",") {
		op, ok := operationFlags[strings.TrimSpace(name)]
		if !ok {
			return o, fmt.Errorf("unknown operation %q (known: ecdsa-p256, rsa-pkcs1, rsa-pss, ed25519, rsa-oaep)", name)
		}
		o.operations = append(o.operations, op)
	}
	for s := range strings.SplitSeq(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 4096 {
			return o, fmt.Errorf("concurrency %q: want a number from 1 to 4096", s)
		}
		o.concurrency = append(o.concurrency, n)
	}
	if o.window.Measured <= 0 || o.window.Warmup < 0 {
		return o, errors.New("-duration must be positive and -warmup not negative")
	}
	if o.workerProcs < 0 {
		return o, errors.New("-worker-procs must not be negative")
	}
	if o.rounds < 1 {
		return o, errors.New("-rounds must be at least 1")
	}
	return o, nil
}

func run(args []string) error {
	o, err := parseOptions(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.render != "" {
		return render(o)
	}
	if o.notes != "" {
		// Fail now rather than after the whole run.
		if _, err := os.Stat(o.notes); err != nil {
			return err
		}
	}
	if o.profile != "" {
		dir, err := filepath.Abs(o.profile)
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			return err
		}
		// The children inherit the environment.
		os.Setenv(profileEnv, dir)
	}
	tmp, err := os.MkdirTemp("", "keyhold-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	workers, stopAll, err := startWorkers(o, tmp)
	defer stopAll()
	if err != nil {
		return err
	}

	result := benchmark.Run{
		Command:     "go run ./cmd/keyhold-bench " + strings.Join(args, " "),
		Date:        time.Now().UTC().Truncate(time.Second),
		Machine:     describeMachine(),
		Versions:    versions(o),
		Window:      o.window,
		Rounds:      o.rounds,
		Concurrency: o.concurrency,
		Operations:  o.operations,
	}
	for _, b := range o.backends {
		result.Backends = append(result.Backends, b.Backend)
	}
	// Rounds are the outer loop and every backend takes its turn at each
	// cell, so that whatever else happens on the machine during the run falls
	// on every backend alike.
	for round := 1; round <= o.rounds; round++ {
		for _, op := range o.operations {
			for _, n := range o.concurrency {
				for i, b := range o.backends {
					res := workers[i].measure(op, n, o.window)
					res.Backend, res.Round = b.Name, round
					logResult(o, res)
					result.Results = append(result.Results, res)
				}
			}
		}
	}
	return writeReport(o.out, &result, o.notes)
}

// logResult prints one measurement as it completes.
func logResult(o options, r benchmark.Result) {
	prefix := fmt.Sprintf("round %d/%d  %-22s %4d callers  %-20s", r.Round, o.rounds, r.Operation, r.Concurrency, r.Backend)
	switch {
	case r.Unsupported != "":
		fmt.Fprintf(os.Stderr, "%s unsupported: %s\n", prefix, r.Unsupported)
	case r.Error != "":
		fmt.Fprintf(os.Stderr, "%s FAILED: %s\n", prefix, r.Error)
	default:
		fmt.Fprintf(os.Stderr, "%s %9.0f/s  p50 %-9v p99 %v\n", prefix, r.Stats.PerSecond, r.Stats.P50, r.Stats.P99)
	}
}

// worker is the parent's handle on one worker process.
type worker struct{ *child }

// measure asks the worker for one measurement; a worker that fails to answer
// gives a failed result.
func (w worker) measure(op benchmark.Operation, n int, win benchmark.Window) benchmark.Result {
	res := benchmark.Result{Operation: op, Concurrency: n}
	line, err := json.Marshal(request{Operation: op, Concurrency: n, Window: win})
	if err == nil {
		err = w.send(line)
	}
	var answer string
	if err == nil {
		// Preparing 128 sessions and checking every task's output comes on
		// top of the window; two minutes covers it on any machine.
		answer, err = w.readLine(win.Warmup + win.Measured + 2*time.Minute)
	}
	var r reply
	if err == nil {
		err = json.Unmarshal([]byte(answer), &r)
	}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Stats, res.Unsupported, res.Error = r.Stats, r.Unsupported, r.Error
	return res
}

// startWorkers starts what the backends need (nodes, a SoftHSM2 token,
// libkeyhold.so) and then one worker per backend, in order, so that the
// first to need a key generates it and the others find it. The returned
// function stops every process started, on success or not.
func startWorkers(o options, tmp string) ([]worker, func(), error) {
	var started []*child
	stopAll := func() {
		for i := len(started) - 1; i >= 0; i-- {
			started[i].stop()
		}
	}
	configs := map[target]string{}
	var softhsmConf, libkeyhold string
	for _, b := range o.backends {
		if b.library != "" && !backend.PKCS11Available {
			return nil, stopAll, fmt.Errorf("backend %s loads a PKCS#11 module, which needs a build with cgo (CGO_ENABLED=1 and a C compiler); leave it out with -backends", b.Name)
		}
	}
	for _, b := range o.backends {
		var err error
		switch {
		case (b.target == node || b.target == cluster) && configs[b.target] == "":
			nodes := 1
			if b.target == cluster {
				nodes = 3
			}
			dir := filepath.Join(tmp, fmt.Sprintf("nodes-%d", nodes))
			var c *child
			c, err = startChild(fmt.Sprintf("the %d-node HSM", nodes), nil, "node", "-dir", dir, "-nodes", strconv.Itoa(nodes))
			if err == nil {
				started = append(started, c)
				err = expectReady(c, "ready")
			}
			configs[b.target] = filepath.Join(dir, "keyhold.yaml")
		case (b.target == softHSM || b.target == gateway) && softhsmConf == "":
			softhsmConf, err = initSoftHSM(filepath.Join(tmp, "softhsm2"))
		}
		if err == nil && b.target == gateway && configs[gateway] == "" {
			dir := filepath.Join(tmp, "gateway")
			var c *child
			c, err = startChild("the gateway", []string{"SOFTHSM2_CONF=" + softhsmConf}, "node", "-dir", dir, "-module", o.softhsm2)
			if err == nil {
				started = append(started, c)
				err = expectReady(c, "ready")
			}
			configs[gateway] = filepath.Join(dir, "keyhold.yaml")
		}
		if err == nil && b.library == "libkeyhold" && libkeyhold == "" {
			libkeyhold, err = buildLibkeyhold(o.libkeyhold, tmp)
		}
		if err != nil {
			return nil, stopAll, err
		}
	}

	var workers []worker
	for _, b := range o.backends {
		args := []string{"worker", "-backend", b.Name, "-procs", strconv.Itoa(o.workerProcs)}
		var env []string
		switch b.library {
		case "libkeyhold":
			args = append(args, "-module", libkeyhold)
			env = append(env, "KEYHOLD_CONF="+configs[b.target])
		case "softhsm2":
			args = append(args, "-module", o.softhsm2)
			env = append(env, "SOFTHSM2_CONF="+softhsmConf)
		}
		if cfg := configs[b.target]; cfg != "" {
			args = append(args, "-config", cfg)
		}
		c, err := startChild("worker "+b.Name, env, args...)
		if err != nil {
			return nil, stopAll, err
		}
		started = append(started, c)
		line, err := c.readLine(3 * time.Minute)
		var r reply
		if err == nil {
			err = json.Unmarshal([]byte(line), &r)
		}
		if err == nil && !r.Ready {
			err = errors.New(r.Error)
		}
		if err != nil {
			return nil, stopAll, fmt.Errorf("backend %s: %w", b.Name, err)
		}
		workers = append(workers, worker{c})
	}
	return workers, stopAll, nil
}

// expectReady waits for a child's first line.
func expectReady(c *child, want string) error {
	line, err := c.readLine(time.Minute)
	if err != nil {
		return err
	}
	if line != want {
		return fmt.Errorf("%s said %q", c.name, line)
	}
	return nil
}

// initSoftHSM makes a private SoftHSM2 configuration and token directory in
// dir, so that the run neither sees nor touches the machine's tokens, and
// initializes the benchmark's token in it. It returns the configuration's
// path, for SOFTHSM2_CONF.
func initSoftHSM(dir string) (string, error) {
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	text := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return "", err
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		return "", errors.New("softhsm2-util is not installed (Debian package softhsm2); leave the SoftHSM2 backends out with -backends")
	}
	cmd := exec.Command(util, "--init-token", "--free", "--label", benchToken, "--pin", benchPIN, "--so-pin", benchSOPIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("softhsm2-util --init-token: %v: %s", err, out)
	}
	return conf, nil
}

// buildLibkeyhold returns given when set, else builds libkeyhold.so from
// this module into dir with README's command.
func buildLibkeyhold(given, dir string) (string, error) {
	if given != "" {
		return filepath.Abs(given)
	}
	out := filepath.Join(dir, "libkeyhold.so")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "github.com/keyhold/keyhold/provider/capi")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building libkeyhold.so (run from the module's root, or give -libkeyhold): %w", err)
	}
	return out, nil
}
