package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"go.yaml.in/yaml/v3"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/wire"
)

// exit statuses
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// callTimeout bounds each connection and request to a node.
const callTimeout = 15 * time.Second

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

// parseFlags parses args and reports the exit status of a failure.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
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

// nodeAddresses lists every node of every partition once, in configuration
// order.
func nodeAddresses(cfg hsm.Config) []string {
	var out []string
	for _, p := range cfg.Partitions {
		for _, n := range p.Nodes {
			if !slices.Contains(out, n.Address) {
				out = append(out, n.Address)
			}
		}
	}
	return out
}

// pinnedTLS returns the TLS settings that pin the nodes as the configuration
// says (server_ca, server_fingerprint, or both), with cert as the client
// credential (none when cert is nil). fingerprint, when not nil, replaces
// the configuration's (trust on first use).
func pinnedTLS(cfg hsm.Config, cert *tls.Certificate, fingerprint []byte) (*tls.Config, error) {
	ct := wire.ClientTLS{Fingerprint: fingerprint}
	if cfg.ServerCA != "" {
		data, err := os.ReadFile(cfg.ServerCA)
		if err != nil {
			return nil, fmt.Errorf("server_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("server_ca %s holds no PEM certificate", cfg.ServerCA)
		}
		ct.RootCAs = pool
	}
	if fingerprint == nil && cfg.ServerFingerprint != "" {
		fp, err := wire.ParseFingerprint(cfg.ServerFingerprint)
		if err != nil {
			return nil, fmt.Errorf("server_fingerprint: %w", err)
		}
		ct.Fingerprint = fp
	}
	if cert != nil {
		ct.Certificate = *cert
	}
	tc, err := ct.Config()
	if err != nil {
		return nil, err
	}
	if cert == nil {
		// No credential: the node allows this connection to enroll only.
		tc.Certificates = nil
	}
	return tc, nil
}

// hello is what ppin says when it opens a connection.
var hello = wire.DialOptions{Hello: wire.HelloRequest{MinVersion: wire.MinVersion, MaxVersion: wire.MaxVersion, Client: "ppin"}}

// dial connects to one node, bounded by callTimeout.
func dial(ctx context.Context, addr string, tc *tls.Config) (*wire.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return wire.Dial(ctx, addr, tc, hello)
}

// call sends one request, bounded by callTimeout.
func call(ctx context.Context, c *wire.Conn, op wire.Op, req, resp any) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return c.Call(ctx, op, req, resp)
}

// isPinFailure reports whether a dial failed because the node's certificate
// is not the pinned one: the node must then get nothing, above all no
// password.
func isPinFailure(err error) bool {
	var ve *tls.CertificateVerificationError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	return errors.Is(err, wire.ErrPinMismatch) || errors.As(err, &ve) || errors.As(err, &ue) || errors.As(err, &he)
}

// newKey generates a client key pair on this host and a CSR for it. ECDSA
// P-256: what every TLS stack and the nodes accept, and fast to use on each
// connection.
func newKey(name string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	return key, csr, nil
}

// credentialFrom checks a certificate a node issued for key and returns the
// secrets-file entry. The node could issue anything; the certificate must be
// for this key and this name, or the entry would not work.
func credentialFrom(name string, key crypto.Signer, reply wire.CertificateReply) (hsm.Credential, *x509.Certificate, error) {
	cert, err := x509.ParseCertificate(reply.Certificate)
	if err != nil {
		return hsm.Credential{}, nil, errors.New("the node's certificate does not parse")
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return hsm.Credential{}, nil, errors.New("the node's certificate is not for the key generated here")
	}
	if cert.Subject.CommonName != name {
		return hsm.Credential{}, nil, fmt.Errorf("the node's certificate names %q, not %q", cert.Subject.CommonName, name)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return hsm.Credential{}, nil, err
	}
	return hsm.Credential{
		Name:        name,
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		PrivateKey:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	}, cert, nil
}

// fingerprintHex formats a certificate's SHA-256 for people and for
// server_fingerprint.
func fingerprintHex(cert *x509.Certificate) string { return hex.EncodeToString(wire.Fingerprint(cert)) }

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
