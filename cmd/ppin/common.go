package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gofrs/flock"
	"go.yaml.in/yaml/v3"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/cmdkit"
)

// exit statuses
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// newFlags returns a flag set with --config, which every command takes.
func newFlags(name, usageLine string, env *environment) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: ppin %s\n\nflags:\n", usageLine)
		fs.PrintDefaults()
	}
	conf := fs.String("config", "", "client configuration file (default: KEYHOLD_CONF, else "+hsm.DefaultConfigPath+")")
	return fs, conf
}

// parseFlags parses args and reports the exit status of a failure: help on
// stdout and 0, a usage error on stderr and 2.
func parseFlags(fs *flag.FlagSet, args []string, env *environment) (int, bool) {
	return cmdkit.Parse(fs, args, env.stdout, env.stderr)
}

// loadConfig reads the configuration named by --config, KEYHOLD_CONF or the
// default path.
func loadConfig(path string, env *environment) (hsm.Config, string, error) {
	if path == "" {
		path = env.getenv("KEYHOLD_CONF")
	}
	if path == "" {
		path = hsm.DefaultConfigPath
	}
	cfg, err := hsm.LoadConfig(path)
	if err != nil {
		return hsm.Config{}, path, err
	}
	if cfg.Secrets == "" {
		return hsm.Config{}, path, fmt.Errorf("%s names no secrets file (secrets:)", path)
	}
	return cfg, path, nil
}

// loadUnpinnedConfig reads a configuration that may lack a node pin, which
// hsm.LoadConfig refuses: the case --trust-on-first-use exists for. Every
// other check still applies.
func loadUnpinnedConfig(path string, env *environment) (hsm.Config, string, error) {
	if path == "" {
		path = env.getenv("KEYHOLD_CONF")
	}
	if path == "" {
		path = hsm.DefaultConfigPath
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return hsm.Config{}, path, err
	}
	var cfg hsm.Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return hsm.Config{}, path, fmt.Errorf("config %s: %w", path, err)
	}
	if cfg.ServerCA != "" || cfg.ServerFingerprint != "" {
		cfg, err := hsm.LoadConfig(path) // pinned after all: the usual checks and errors
		return cfg, path, err
	}
	check := cfg
	check.ServerFingerprint = strings.Repeat("00", 32) // stands in for the pin TOFU will get
	if err := check.Validate(); err != nil {
		return hsm.Config{}, path, fmt.Errorf("config %s: %w", path, err)
	}
	if cfg.Secrets == "" {
		return hsm.Config{}, path, fmt.Errorf("%s names no secrets file (secrets:)", path)
	}
	if !filepath.IsAbs(cfg.Secrets) {
		cfg.Secrets = filepath.Join(filepath.Dir(path), cfg.Secrets)
	}
	return cfg, path, nil
}

// nodeAddresses lists every network node of every partition once, in
// configuration order. A token of a local PKCS#11 module has no enrolled
// clients: ppin has nothing to do with it.
func nodeAddresses(cfg hsm.Config) []string {
	var out []string
	for _, p := range cfg.Partitions {
		for _, n := range p.Nodes {
			if n.Module == "" && !slices.Contains(out, n.Address) {
				out = append(out, n.Address)
			}
		}
	}
	return out
}

// withCredential returns cfg presenting cred, whatever its secrets file
// selects.
func withCredential(cfg hsm.Config, cred *hsm.Credential) (hsm.Config, *tls.Certificate, error) {
	cert, err := cred.TLSCertificate()
	if err != nil {
		return cfg, nil, err
	}
	cfg.Credential = &cert
	return cfg, &cert, nil
}

// describe says why a call to one node failed, for a line that already
// names the node: the step and the reason, which the engine's typed error
// carries (never a PIN or password).
func describe(err error) string {
	var he *hsm.Error
	if !errors.As(err, &he) {
		return err.Error()
	}
	s := he.Op + ": " + he.Kind.Error()
	if he.Detail != "" {
		s += ": " + he.Detail
	}
	return s
}

// readSecrets reads the secrets file; a missing one is empty.
func readSecrets(path string) (*hsm.Secrets, error) {
	s, err := hsm.ReadSecrets(path)
	if errors.Is(err, os.ErrNotExist) {
		return &hsm.Secrets{}, nil
	}
	return s, err
}

// updateSecrets changes the secrets file under an exclusive lock: it reads
// the file, lets change edit it, and writes it back atomically (hsm:
// temporary file, fsync, rename; mode 0600), then syncs the directory so the
// rename survives a crash. Without the lock two ppin runs at once would each
// write what they read, and one entry would be lost. The lock is on a
// separate file next to it, since the secrets file itself is replaced; flock
// takes it with the system's own file locking (flock on Unix, LockFileEx on
// Windows), which the system releases when a process dies.
func updateSecrets(path string, change func(*hsm.Secrets) error) error {
	lock := flock.New(path+".lock", flock.SetPermissions(0o600))
	if err := lock.Lock(); err != nil {
		return fmt.Errorf("lock secrets file: %w", err)
	}
	defer lock.Close() // unlocks
	s, err := readSecrets(path)
	if err != nil {
		return err
	}
	if err := change(s); err != nil {
		return err
	}
	if err := hsm.WriteSecretsFile(path, s); err != nil {
		return fmt.Errorf("write secrets file %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// fail prints an error for command name and returns exitFailure.
func fail(w io.Writer, name string, err error) int {
	fmt.Fprintf(w, "ppin %s: %v\n", name, err)
	return exitFailure
}
