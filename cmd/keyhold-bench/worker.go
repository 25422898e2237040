package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark/backend"
)

// A worker is this program started again to measure one backend, so that
// every backend has a process to itself: each PKCS#11 module is initialized
// once per process, and no backend's threads, heap or garbage collector
// weigh on another's numbers. The parent sends one request per line on the
// worker's standard input and reads one reply per line from its standard
// output; the worker exits when its input closes.

// request asks a worker for one measurement.
type request struct {
	Operation   benchmark.Operation `json:"operation"`
	Concurrency int                 `json:"concurrency"`
	Window      benchmark.Window    `json:"window"`
}

// reply answers a request, or (the first line a worker writes) says it is
// ready or why it could not open its backend.
type reply struct {
	Ready       bool            `json:"ready,omitempty"`
	Stats       benchmark.Stats `json:"stats"`
	Unsupported string          `json:"unsupported,omitempty"`
	Error       string          `json:"error,omitempty"`
}

func runWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	name := fs.String("backend", "", "the backend to measure")
	var env workerEnv
	fs.StringVar(&env.config, "config", "", "keyhold.yaml of the node or cluster")
	fs.StringVar(&env.module, "module", "", "the PKCS#11 module")
	fs.StringVar(&env.token, "token", benchToken, "the token label or partition name")
	procs := fs.Int("procs", 0, "GOMAXPROCS of this process (0: Go's default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env.pin = benchPIN
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	spec, err := findBackend(*name)
	if err != nil {
		return err
	}
	stopProfile, err := startProfile("worker-" + spec.Name)
	if err != nil {
		return err
	}
	defer stopProfile()
	out := json.NewEncoder(os.Stdout)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	b, err := spec.open(ctx, env)
	cancel()
	if err != nil {
		return out.Encode(reply{Error: err.Error()})
	}
	defer b.Close()
	if err := out.Encode(reply{Ready: true}); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			return fmt.Errorf("worker: bad request: %w", err)
		}
		if err := out.Encode(measure(b, req)); err != nil {
			return err
		}
	}
	if err := in.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// measure prepares, checks and measures one request.
func measure(b backend.Backend, req request) reply {
	if req.Concurrency < 1 {
		return reply{Error: "concurrency must be at least 1"}
	}
	p, err := b.Prepare(req.Operation, req.Concurrency)
	var unsupported *benchmark.UnsupportedError
	if errors.As(err, &unsupported) {
		return reply{Unsupported: unsupported.Reason}
	}
	if err != nil {
		return reply{Error: err.Error()}
	}
	if p.Release != nil {
		defer p.Release()
	}
	if err := benchmark.CheckTasks(req.Operation, p); err != nil {
		return reply{Error: err.Error()}
	}
	// Start every measurement with the same heap, whatever the last left.
	runtime.GC()
	stats, err := benchmark.MeasureCPU(p.Tasks, req.Window, cpuClock)
	if err != nil {
		return reply{Error: err.Error()}
	}
	return reply{Stats: stats}
}
