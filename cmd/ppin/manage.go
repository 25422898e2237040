package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/wire"
)

func runStatus(ctx context.Context, args []string, env *environment) int {
	fs, conf := newFlags("status", "status --config FILE", env)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cfg, _, err := loadConfig(*conf, env)
	if err != nil {
		return fail(env.stderr, "status", err)
	}
	s, err := readSecrets(cfg.Secrets)
	if err != nil {
		return fail(env.stderr, "status", err)
	}
	if len(s.Credentials) == 0 {
		fmt.Fprintf(env.stdout, "%s holds no credential; enroll with ppin enroll\n", cfg.Secrets)
		return exitFailure
	}
	code := exitOK
	for _, cred := range s.Credentials {
		selected := ""
		if cred.Name == cfg.Client || cfg.Client == "" && len(s.Credentials) == 1 {
			selected = " (selected by the configuration)"
		}
		cert, err := cred.TLSCertificate()
		if err != nil {
			fmt.Fprintf(env.stdout, "%s%s: unusable: %v\n", cred.Name, selected, err)
			code = exitFailure
			continue
		}
		fmt.Fprintf(env.stdout, "%s%s: certificate serial %s, expires %s\n", cred.Name, selected,
			cert.Leaf.SerialNumber.Text(16), cert.Leaf.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
		tc, err := pinnedTLS(cfg, &cert, nil)
		if err != nil {
			return fail(env.stderr, "status", err)
		}
		for _, addr := range nodeAddresses(cfg) {
			if err := ping(ctx, addr, tc); err != nil {
				fmt.Fprintf(env.stdout, "  node %s: refused: %v\n", addr, err)
				continue
			}
			fmt.Fprintf(env.stdout, "  node %s: accepted\n", addr)
		}
	}
	return code
}

// ping opens a connection with tc and pings: the node accepts the
// credential.
func ping(ctx context.Context, addr string, tc *tls.Config) error {
	c, err := dial(ctx, addr, tc)
	if err != nil {
		return err
	}
	defer c.Close()
	return call(ctx, c, wire.OpPing, wire.PingRequest{}, nil)
}

func runTest(ctx context.Context, args []string, env *environment) int {
	fs, conf := newFlags("test", "test --config FILE   (KEYHOLD_PIN or KEYHOLD_PIN_FILE: also log in as User)", env)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cfg, _, err := loadConfig(*conf, env)
	if err != nil {
		return fail(env.stderr, "test", err)
	}
	s, err := readSecrets(cfg.Secrets)
	if err != nil {
		return fail(env.stderr, "test", err)
	}
	cred, err := s.Credential(cfg.Client)
	if err != nil {
		return fail(env.stderr, "test", err)
	}
	cert, err := cred.TLSCertificate()
	if err != nil {
		return fail(env.stderr, "test", err)
	}
	tc, err := pinnedTLS(cfg, &cert, nil)
	if err != nil {
		return fail(env.stderr, "test", err)
	}
	pin, err := pinFromEnv(env)
	if err != nil {
		return fail(env.stderr, "test", err)
	}
	defer clear(pin)
	failed := 0
	for _, p := range cfg.Partitions {
		for _, n := range p.Nodes {
			what, err := testNode(ctx, n.Address, tc, p.ID, pin)
			if err != nil {
				failed++
				fmt.Fprintf(env.stdout, "partition %s (%d) node %s: FAILED: %v\n", p.Name, p.ID, n.Address, err)
				continue
			}
			fmt.Fprintf(env.stdout, "partition %s (%d) node %s: OK (%s)\n", p.Name, p.ID, n.Address, what)
		}
	}
	if failed > 0 {
		fmt.Fprintf(env.stderr, "ppin test: %d node(s) failed\n", failed)
		return exitFailure
	}
	return exitOK
}

// pinFromEnv reads the User PIN from KEYHOLD_PIN or KEYHOLD_PIN_FILE; none
// means no login.
func pinFromEnv(env *environment) ([]byte, error) {
	if v := env.getenv("KEYHOLD_PIN"); v != "" {
		return []byte(v), nil
	}
	if f := env.getenv("KEYHOLD_PIN_FILE"); f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("KEYHOLD_PIN_FILE: %w", err)
		}
		pin := []byte(strings.TrimRight(string(data), "\r\n"))
		clear(data)
		return pin, nil
	}
	return nil, nil
}

// testNode connects with the credential, asks for the partition and, with a
// PIN, logs in. It says what it checked.
func testNode(ctx context.Context, addr string, tc *tls.Config, partition uint32, pin []byte) (string, error) {
	c, err := dial(ctx, addr, tc)
	if err != nil {
		return "", err
	}
	defer c.Close()
	var info wire.PartitionInfoReply
	if err := call(ctx, c, wire.OpPartitionInfo, wire.PartitionInfoRequest{Partition: partition}, &info); err != nil {
		return "", err
	}
	if pin == nil {
		return fmt.Sprintf("connected, partition %q serves; no PIN given, login not tried", info.Name), nil
	}
	var lr wire.LoginReply
	if err := call(ctx, c, wire.OpLogin, wire.LoginRequest{Partition: partition, User: ck.CKU_USER, PIN: pin}, &lr); err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	return fmt.Sprintf("connected, partition %q serves, logged in", info.Name), nil
}

func runRemove(_ context.Context, args []string, env *environment) int {
	fs, conf := newFlags("remove", "remove --config FILE NAME", env)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.stderr, "ppin remove: give the name of one credential")
		return exitUsage
	}
	name := fs.Arg(0)
	cfg, _, err := loadConfig(*conf, env)
	if err != nil {
		return fail(env.stderr, "remove", err)
	}
	err = updateSecrets(cfg.Secrets, func(s *hsm.Secrets) error {
		i := slices.IndexFunc(s.Credentials, func(c hsm.Credential) bool { return c.Name == name })
		if i < 0 {
			return fmt.Errorf("no credential %q in %s", name, cfg.Secrets)
		}
		s.Credentials = slices.Delete(s.Credentials, i, i+1)
		return nil
	})
	if err != nil {
		return fail(env.stderr, "remove", err)
	}
	// Removing is local: the certificate stays valid on the nodes until an
	// administrator revokes the entry. Say so, rather than let a user
	// believe a leaked copy is dead.
	fmt.Fprintf(env.stdout, "ppin: removed %q from %s; the nodes still accept its certificate until an administrator revokes the client entry\n", name, cfg.Secrets)
	return exitOK
}

func runRotate(ctx context.Context, args []string, env *environment) int {
	fs, conf := newFlags("rotate", "rotate --config FILE NAME", env)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.stderr, "ppin rotate: give the name of one credential")
		return exitUsage
	}
	name := fs.Arg(0)
	cfg, _, err := loadConfig(*conf, env)
	if err != nil {
		return fail(env.stderr, "rotate", err)
	}
	if err := rotate(ctx, cfg, name, env); err != nil {
		return fail(env.stderr, "rotate", err)
	}
	return exitOK
}

// rotate replaces credential name: a new key pair, a certificate for it
// obtained with the current credential, a check that every reachable node
// accepts the new one, the secrets file updated, and only then the old
// certificate retired, with the new credential. Until the last step both
// work, so applications that still use the old one (open connections, a
// process that has not reread the file) go on; afterwards the engine's next
// connection reads the new one from the file.
func rotate(ctx context.Context, cfg hsm.Config, name string, env *environment) error {
	s, err := readSecrets(cfg.Secrets)
	if err != nil {
		return err
	}
	old, err := s.Credential(name)
	if err != nil {
		return err
	}
	oldCert, err := old.TLSCertificate()
	if err != nil {
		return err
	}
	oldTLS, err := pinnedTLS(cfg, &oldCert, nil)
	if err != nil {
		return err
	}
	key, csr, err := newKey(name)
	if err != nil {
		return err
	}
	addrs := nodeAddresses(cfg)
	var reply wire.CertificateReply
	var errs []error
	for _, addr := range addrs {
		c, err := dial(ctx, addr, oldTLS)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = call(ctx, c, wire.OpRotate, wire.RotateRequest{CSR: csr}, &reply)
		c.Close()
		if err == nil {
			errs = nil
			break
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		var ce *ck.Error
		if errors.As(err, &ce) {
			return fmt.Errorf("node %s refused the rotation: %s", addr, ce.Msg)
		}
	}
	if reply.Certificate == nil {
		return fmt.Errorf("no node issued a new certificate: %w", errors.Join(errs...))
	}
	cred, cert, err := credentialFrom(name, key, reply)
	if err != nil {
		return err
	}
	newCert, err := cred.TLSCertificate()
	if err != nil {
		return err
	}
	newTLS, err := pinnedTLS(cfg, &newCert, nil)
	if err != nil {
		return err
	}
	accepted := 0
	for _, addr := range addrs {
		err := ping(ctx, addr, newTLS)
		var ce *ck.Error
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &ce):
			return fmt.Errorf("node %s refuses the new certificate (%s); the old credential stays in use", addr, ce.Msg)
		default:
			// Unreachable: it receives the entry when it rejoins its cluster.
			fmt.Fprintf(env.stdout, "ppin: node %s unreachable (%v); it will accept the new certificate when it rejoins its cluster\n", addr, err)
		}
	}
	if accepted == 0 {
		return errors.New("no node could check the new certificate; the old credential stays in use")
	}
	err = updateSecrets(cfg.Secrets, func(s *hsm.Secrets) error {
		i := slices.IndexFunc(s.Credentials, func(c hsm.Credential) bool { return c.Name == name })
		if i < 0 {
			return fmt.Errorf("credential %q was removed from %s meanwhile", name, cfg.Secrets)
		}
		s.Credentials[i] = cred
		return nil
	})
	if err != nil {
		return err
	}
	if err := retire(ctx, addrs, newTLS, oldCert.Leaf); err != nil {
		return fmt.Errorf("the new credential is stored and works, but the old certificate is still valid: %w; run ppin rotate again or ask an administrator to revoke serial %s", err, oldCert.Leaf.SerialNumber.Text(16))
	}
	fmt.Fprintf(env.stdout, "ppin: rotated %q: new certificate serial %s, valid until %s; old serial %s revoked\n",
		name, cert.SerialNumber.Text(16), cert.NotAfter.UTC().Format("2006-01-02 15:04 MST"), oldCert.Leaf.SerialNumber.Text(16))
	return nil
}

// retire revokes old with the new credential, on the first node that
// answers.
func retire(ctx context.Context, addrs []string, tc *tls.Config, old *x509.Certificate) error {
	var errs []error
	for _, addr := range addrs {
		c, err := dial(ctx, addr, tc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = call(ctx, c, wire.OpRetire, wire.RetireRequest{Fingerprint: wire.Fingerprint(old)}, nil)
		c.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return errors.Join(errs...)
}
