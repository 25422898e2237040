package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
)

// describeMachine reads what a reader needs to judge the numbers: the CPU,
// its cores, memory, kernel and distribution.
func describeMachine() benchmark.Machine {
	m := benchmark.Machine{Cores: runtime.NumCPU(), CPU: "unknown", Memory: "unknown", Kernel: "unknown", OS: runtime.GOOS + "/" + runtime.GOARCH}
	if v := fieldOf("/proc/cpuinfo", "model name", ':'); v != "" {
		m.CPU = v
	}
	if v := fieldOf("/proc/meminfo", "MemTotal", ':'); v != "" {
		if kb, err := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64); err == nil {
			m.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if v := fieldOf("/etc/os-release", "PRETTY_NAME", '='); v != "" {
		m.OS = strings.Trim(v, `"`) + " (" + runtime.GOOS + "/" + runtime.GOARCH + ")"
	}
	return m
}

// fieldOf returns the value of the first "key<sep> value" line of a file.
func fieldOf(path, key string, sep byte) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), string(sep))
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// versions lists the version of everything measured.
func versions(o options) []benchmark.Version {
	v := []benchmark.Version{{Name: "Go", Version: runtime.Version()}}
	v = append(v, benchmark.Version{Name: "keyhold", Version: keyholdRevision()})
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			switch dep.Path {
			case "github.com/ThalesGroup/crypto11", "github.com/miekg/pkcs11":
				v = append(v, benchmark.Version{Name: dep.Path, Version: dep.Version})
			}
		}
	}
	for _, b := range o.backends {
		if b.library == "softhsm2" {
			v = append(v,
				benchmark.Version{Name: "SoftHSM2 (Debian package softhsm2)", Version: commandOutput("dpkg-query", "-W", "-f=${Version}", "softhsm2")},
				benchmark.Version{Name: "OpenSSL (SoftHSM2's cryptography)", Version: commandOutput("openssl", "version")})
			break
		}
	}
	return v
}

// keyholdRevision is the commit measured, marked when the tree has changes.
func keyholdRevision() string {
	rev := commandOutput("git", "rev-parse", "--short=12", "HEAD")
	if status := commandOutput("git", "status", "--porcelain", "--untracked-files=no"); status != "" && status != "unknown" {
		rev += " (with uncommitted changes)"
	}
	return rev
}

// commandOutput runs a command and returns its output, or "unknown".
func commandOutput(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "unknown"
	}
	return string(bytes.TrimSpace(out))
}
