package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// profileEnv names the directory where every process of a run writes a CPU
// profile of its whole life (-profile), to say where a backend's time goes.
const profileEnv = "KEYHOLD_BENCH_PROFILE_DIR"

// startProfile starts this process's CPU profile as name.pprof when the run
// asked for profiles; the returned function stops and writes it.
func startProfile(name string) (stop func(), err error) {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("CPU profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
