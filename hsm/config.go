package hsm

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.yaml.in/yaml/v3"

	"github.com/keyhold/keyhold/internal/wire"
)

// DefaultConfigPath is where LoadDefaultConfig looks when KEYHOLD_CONF is not set.
const DefaultConfigPath = "/etc/keyhold/keyhold.yaml"

// Config says which partitions a Client uses, where their nodes are, and how
// the client and the nodes authenticate each other. A YAML file fills it (see
// LoadConfig), or code builds it directly; the fields marked "in code only"
// have no YAML form and take precedence over their file-based counterparts.
type Config struct {
	// Partitions lists the partitions this client uses. Several nodes under one
	// partition form a cluster: the application sees one partition.
	Partitions []PartitionConfig `yaml:"partitions"`

	// ServerCA is a PEM file of CA certificates that node certificates must
	// chain to.
	ServerCA string `yaml:"server_ca,omitempty"`
	// ServerFingerprint pins nodes by the SHA-256 of their certificate, as hex.
	// It may be given instead of, or with, ServerCA.
	ServerFingerprint string `yaml:"server_fingerprint,omitempty"`
	// Secrets is the secrets file written at enrollment, holding this client's
	// credential. It must be readable by its owner only. Each new connection
	// reads it again when it changed, so a credential rotated by ppin is
	// picked up without restarting the application.
	Secrets string `yaml:"secrets,omitempty"`
	// Client selects the credential in Secrets by name; empty means the only one.
	Client string `yaml:"client,omitempty"`

	// Timeouts bound network calls. Zero values take the defaults.
	Timeouts Timeouts `yaml:"timeouts,omitempty"`

	// RootCAs pins nodes by CA (in code only; replaces ServerCA).
	RootCAs *x509.CertPool `yaml:"-"`
	// Credential is the client's certificate and key (in code only; replaces
	// Secrets).
	Credential *tls.Certificate `yaml:"-"`

	// ReaderGoroutines (in code only) makes every connection read replies on
	// a goroutine of its own, while callers wait for theirs blocked in a
	// system call (a futex, on Linux) rather than parked by the Go
	// scheduler. By default the engine's callers take turns reading, which
	// saves a lone caller a goroutine switch. Callers on threads that foreign
	// code has locked, such as the PKCS#11 library's C callers, pay two
	// thread switches for every such turn and every park instead; the
	// library sets this. It costs Go programs a thread per waiting call.
	ReaderGoroutines bool `yaml:"-"`

	// MeterProvider (in code only) receives the engine's metrics (see the
	// package documentation); nil means OpenTelemetry's global provider,
	// which records nothing unless the application installs one.
	MeterProvider metric.MeterProvider `yaml:"-"`
}

// PartitionConfig names one partition and the nodes that serve it.
type PartitionConfig struct {
	// ID is the partition's number. Different IDs are different partitions.
	ID uint32 `yaml:"id"`
	// Name is how applications and PKCS#11 (slot and token label) know it.
	Name string `yaml:"name"`
	// Nodes serve the partition. More than one makes a cluster.
	Nodes []NodeConfig `yaml:"nodes"`
	// PINFile optionally names a file holding the User PIN, owner-only, for
	// programs that cannot prompt.
	PINFile string `yaml:"pin_file,omitempty"`
}

// NodeConfig is one node of a partition: a network HSM node (Address), or a
// token of a local PKCS#11 module (Module, with Token, Slot or Serial to
// select the token), which needs package hsm/pkcs11module.
type NodeConfig struct {
	// Address is host:port of a network node.
	Address string `yaml:"address,omitempty"`
	// Priority orders nodes: the lowest number that has a healthy node serves.
	Priority int `yaml:"priority,omitempty"`

	// Module is the path of a vendor PKCS#11 library, such as
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string `yaml:"module,omitempty"`
	// Token selects the module's token by label.
	Token string `yaml:"token,omitempty"`
	// Slot selects the module's token by slot ID.
	Slot *uint64 `yaml:"slot,omitempty"`
	// Serial selects the module's token by serial number.
	Serial string `yaml:"serial,omitempty"`
}

// kind says which backend serves the node: "network" or "module".
func (n NodeConfig) kind() string {
	if n.Module != "" {
		return "module"
	}
	return "network"
}

// hasNetworkNodes reports whether any node is a network node, which needs
// the node pin and the client credential.
func (c *Config) hasNetworkNodes() bool {
	for _, p := range c.Partitions {
		for _, n := range p.Nodes {
			if n.kind() == "network" {
				return true
			}
		}
	}
	return false
}

// Timeouts bound the engine's network calls.
type Timeouts struct {
	// Connect bounds dialing, the TLS handshake and the hello (default 2s).
	Connect Duration `yaml:"connect,omitempty"`
	// Request bounds one request when the caller's context has no earlier
	// deadline (default 10s).
	Request Duration `yaml:"request,omitempty"`
	// Attempt bounds one attempt of a request on one node (default 2s, and
	// never more than Request). A node whose reply is that late counts as
	// failed, as a frozen HSM or a black-holed network looks, and the
	// request goes on to another node. Key generation is exempt: its
	// duration depends on the key.
	Attempt Duration `yaml:"attempt,omitempty"`
}

// Default timeouts.
const (
	DefaultConnectTimeout = 2 * time.Second
	DefaultRequestTimeout = 10 * time.Second
	DefaultAttemptTimeout = 2 * time.Second
)

// Duration is a time.Duration that YAML writes as "2s" or "500ms".
type Duration time.Duration

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	// A *yaml.TypeError lets the decoder go on and report every other
	// problem of the file too.
	v, err := time.ParseDuration(s)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	if v < 0 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: negative duration %s", n.Line, s)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes a duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ConnectTimeout returns the connect timeout in effect: Connect, or the
// default when it is zero.
func (t Timeouts) ConnectTimeout() time.Duration {
	if t.Connect == 0 {
		return DefaultConnectTimeout
	}
	return time.Duration(t.Connect)
}

// RequestTimeout returns the request timeout in effect: Request, or the
// default when it is zero.
func (t Timeouts) RequestTimeout() time.Duration {
	if t.Request == 0 {
		return DefaultRequestTimeout
	}
	return time.Duration(t.Request)
}

// AttemptTimeout returns the attempt timeout in effect: Attempt, or the
// default when it is zero, bounded by the request timeout.
func (t Timeouts) AttemptTimeout() time.Duration {
	a := time.Duration(t.Attempt)
	if a == 0 {
		a = DefaultAttemptTimeout
	}
	return min(a, t.RequestTimeout())
}

// LoadConfig reads a YAML configuration file. Unknown fields are errors, so
// that a misspelt setting is caught rather than ignored. Relative file names
// inside it are taken relative to the file's directory.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("hsm: read config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("hsm: config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	cfg.ServerCA = relativeTo(dir, cfg.ServerCA)
	cfg.Secrets = relativeTo(dir, cfg.Secrets)
	for i := range cfg.Partitions {
		cfg.Partitions[i].PINFile = relativeTo(dir, cfg.Partitions[i].PINFile)
	}
	return cfg, nil
}

func relativeTo(dir, name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
}

// ParseConfig reads a YAML configuration and validates it.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	var problems []string
	if err := dec.Decode(&cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// A syntax error: the parser cannot go past it.
			return Config{}, &configError{problems: []string{err.Error()}}
		}
		// Every unknown or mistyped field, each on its own; the rest of
		// the file was decoded, so its problems are reported as well.
		problems = te.Errors
	}
	if err := cfg.Validate(); err != nil {
		var ce *configError
		if !errors.As(err, &ce) {
			return Config{}, err
		}
		problems = append(problems, ce.problems...)
	}
	if len(problems) > 0 {
		return Config{}, &configError{problems: problems}
	}
	return cfg, nil
}

// LoadDefaultConfig reads the file named by KEYHOLD_CONF, else DefaultConfigPath.
func LoadDefaultConfig() (Config, error) {
	path := os.Getenv("KEYHOLD_CONF")
	if path == "" {
		path = DefaultConfigPath
	}
	return LoadConfig(path)
}

// CheckFiles checks the files the configuration names, as a client opening
// it would use them: server_ca (readable, PEM certificates), the
// server_fingerprint, the secrets file (a regular file that only its owner
// may read, holding the credential that client selects) and every
// partition's pin_file. It reports every problem at once, wrapping
// ErrConfig, and nil when there are none. It asks no node.
func (c *Config) CheckFiles() error {
	var problems []string
	if c.hasNetworkNodes() {
		if c.RootCAs == nil && c.ServerCA != "" {
			if _, err := loadServerCA(c.ServerCA); err != nil {
				problems = append(problems, strings.TrimPrefix(err.Error(), ErrConfig.Error()+": "))
			}
		}
		if c.ServerFingerprint != "" {
			if _, err := wire.ParseFingerprint(c.ServerFingerprint); err != nil {
				problems = append(problems, "server_fingerprint: "+err.Error())
			}
		}
		if c.Credential == nil && c.Secrets != "" {
			loader := &credentialLoader{path: c.Secrets, name: c.Client}
			if _, err := loader.load(); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	for _, p := range c.Partitions {
		if p.PINFile == "" {
			continue
		}
		if _, err := ReadPINFile(p.PINFile); err != nil {
			problems = append(problems, fmt.Sprintf("partition %s: pin_file: %v", p.Name, err))
		}
	}
	if len(problems) > 0 {
		return &configError{problems: problems}
	}
	return nil
}

// ErrConfig is wrapped by every configuration problem.
var ErrConfig = errors.New("hsm: invalid configuration")

// Validate checks the configuration for problems that would otherwise show
// up later as confusing failures, and reports all of them at once.
func (c *Config) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(c.Partitions) == 0 {
		add("no partitions")
	}
	ids := map[uint32]string{}
	names := map[string]uint32{}
	for i, p := range c.Partitions {
		where := fmt.Sprintf("partitions[%d]", i)
		if p.Name == "" {
			add("%s: no name", where)
		}
		if other, dup := ids[p.ID]; dup {
			add("%s: id %d is also partition %q", where, p.ID, other)
		}
		if other, dup := names[p.Name]; dup && p.Name != "" {
			add("%s: name %q is also partition id %d", where, p.Name, other)
		}
		ids[p.ID], names[p.Name] = p.Name, p.ID
		if len(p.Nodes) == 0 {
			add("%s (%s): no nodes", where, p.Name)
		}
		seen := map[string]bool{}
		for j, n := range p.Nodes {
			if n.Module != "" {
				selectors := 0
				for _, given := range []bool{n.Token != "", n.Slot != nil, n.Serial != ""} {
					if given {
						selectors++
					}
				}
				switch {
				case n.Address != "":
					add("%s.nodes[%d]: give address or module, not both", where, j)
				case selectors != 1:
					add("%s.nodes[%d]: module %s needs exactly one of token, slot or serial", where, j, n.Module)
				case !filepath.IsAbs(n.Module):
					add("%s.nodes[%d]: module path %q is not absolute", where, j, n.Module)
				}
				key := fmt.Sprintf("%s|%s|%v|%s", n.Module, n.Token, n.Slot, n.Serial)
				if n.Slot != nil {
					key = fmt.Sprintf("%s||%d|%s", n.Module, *n.Slot, n.Serial)
				}
				if seen[key] {
					add("%s.nodes[%d]: module token listed twice", where, j)
				}
				seen[key] = true
				if n.Priority < 0 {
					add("%s.nodes[%d]: negative priority", where, j)
				}
				continue
			}
			if n.Token != "" || n.Slot != nil || n.Serial != "" {
				add("%s.nodes[%d]: token, slot and serial select a module's token: give module too", where, j)
			}
			if !strings.Contains(n.Address, ":") {
				add("%s.nodes[%d]: address %q is not host:port", where, j, n.Address)
			}
			if seen[n.Address] {
				add("%s.nodes[%d]: address %q listed twice", where, j, n.Address)
			}
			seen[n.Address] = true
			if n.Priority < 0 {
				add("%s.nodes[%d]: negative priority", where, j)
			}
		}
	}
	if c.hasNetworkNodes() {
		if c.RootCAs == nil && c.ServerCA == "" && c.ServerFingerprint == "" {
			add("no node pin: set server_ca or server_fingerprint")
		}
		if c.Credential == nil && c.Secrets == "" {
			add("no client credential: set secrets (written by ppin enroll)")
		}
	}
	if len(problems) > 0 {
		return &configError{problems: problems}
	}
	return nil
}
