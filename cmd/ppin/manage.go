package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/keyhold/keyhold/hsm"
)

func runStatus(ctx context.Context, args []string, env *environment) int {
	fs, conf := newFlags("status", "status --config FILE", env)
	if code, ok := parseFlags(fs, args, env); !ok {
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
		fmt.Fprintf(env.stdout, "%s%s: certificate %s (serial %s), expires %s\n", cred.Name, selected,
			certID(cert.Leaf), cert.Leaf.SerialNumber.Text(16), cert.Leaf.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
		with := cfg
		with.Credential = &cert
		for _, addr := range nodeAddresses(cfg) {
			err := hsm.PingNode(ctx, with, addr)
			switch {
			case errors.Is(err, hsm.ErrConfig):
				// The configuration, not the node: no node would do better.
				return fail(env.stderr, "status", err)
			case err != nil:
				fmt.Fprintf(env.stdout, "  node %s: refused: %s\n", addr, describe(err))
			default:
				fmt.Fprintf(env.stdout, "  node %s: accepted\n", addr)
			}
		}
	}
	return code
}

func runTest(ctx context.Context, args []string, env *environment) int {
	fs, conf := newFlags("test", "test --config FILE   (KEYHOLD_PIN or KEYHOLD_PIN_FILE: also log in as User)", env)
	if code, ok := parseFlags(fs, args, env); !ok {
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
	cfg, _, err = withCredential(cfg, cred)
	if err != nil {
		return fail(env.stderr, "test", err)
	}
	// The PIN is read before any node is contacted: a PIN file that others
	// may read is refused outright.
	pin, err := pinFromEnv(env)
	if err != nil {
		return fail(env.stderr, "test", err)
	}
	failed := 0
	for _, p := range cfg.Partitions {
		for _, n := range p.Nodes {
			if n.Module != "" {
				continue // a module token has no enrolled clients
			}
			info, err := hsm.CheckNode(ctx, cfg, n.Address, p.ID, pin)
			if errors.Is(err, hsm.ErrConfig) {
				return fail(env.stderr, "test", err)
			}
			if err != nil {
				failed++
				fmt.Fprintf(env.stdout, "partition %s (%d) node %s: FAILED: %s\n", p.Name, p.ID, n.Address, describe(err))
				continue
			}
			what := fmt.Sprintf("connected, partition %q serves; no PIN given, login not tried", info.Name)
			if pin != "" {
				what = fmt.Sprintf("connected, partition %q serves, logged in", info.Name)
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

// pinFromEnv reads the User PIN from KEYHOLD_PIN, else from the file named
// by KEYHOLD_PIN_FILE; none means no login. The file goes through hsm's
// owner-only check, as the secrets file and a partition's pin_file do: a PIN
// file that group or others may read is refused (hsm.ErrSecretsPermissions),
// since the PIN in it may already be known to others.
func pinFromEnv(env *environment) (string, error) {
	if v := env.getenv("KEYHOLD_PIN"); v != "" {
		return v, nil
	}
	f := env.getenv("KEYHOLD_PIN_FILE")
	if f == "" {
		return "", nil
	}
	pin, err := hsm.ReadPINFile(f)
	if errors.Is(err, hsm.ErrSecretsPermissions) {
		return "", fmt.Errorf("KEYHOLD_PIN_FILE refused, only its owner may read a PIN file: %w", err)
	}
	if err != nil {
		return "", fmt.Errorf("KEYHOLD_PIN_FILE: %w", err)
	}
	return pin, nil
}

func runRemove(_ context.Context, args []string, env *environment) int {
	fs, conf := newFlags("remove", "remove --config FILE [--client NAME]", env)
	client := fs.String("client", "", "the credential (default: the configuration's client, else the only one in the secrets file)")
	if code, ok := parseFlags(fs, args, env); !ok {
		return code
	}
	cfg, _, err := loadConfig(*conf, env)
	if err != nil {
		return fail(env.stderr, "remove", err)
	}
	name, err := credentialName(*client, fs.Args(), cfg)
	if err != nil {
		fmt.Fprintf(env.stderr, "ppin remove: %v\n", err)
		return exitUsage
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
	fs, conf := newFlags("rotate", "rotate --config FILE [--client NAME]", env)
	client := fs.String("client", "", "the credential (default: the configuration's client, else the only one in the secrets file)")
	if code, ok := parseFlags(fs, args, env); !ok {
		return code
	}
	cfg, _, err := loadConfig(*conf, env)
	if err != nil {
		return fail(env.stderr, "rotate", err)
	}
	name, err := credentialName(*client, fs.Args(), cfg)
	if err != nil {
		fmt.Fprintf(env.stderr, "ppin rotate: %v\n", err)
		return exitUsage
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
	enr, err := hsm.RotateCredential(ctx, cfg, *old)
	if err != nil {
		return err
	}
	cred, cert := enr.Credential, enr.Certificate
	newCfg, _, err := withCredential(cfg, &cred)
	if err != nil {
		return err
	}
	accepted := 0
	for _, addr := range nodeAddresses(cfg) {
		err := hsm.PingNode(ctx, newCfg, addr)
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, hsm.ErrUnavailable):
			// Unreachable: it receives the entry when it rejoins its cluster.
			fmt.Fprintf(env.stdout, "ppin: node %s unreachable (%s); it will accept the new certificate when it rejoins its cluster\n", addr, describe(err))
		default:
			return fmt.Errorf("node %s refuses the new certificate (%s); the old credential stays in use", addr, describe(err))
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
	// Retired with the new credential: a node takes a retirement only from
	// a newer certificate of the same entry.
	if err := hsm.RetireCertificate(ctx, newCfg, oldCert.Leaf); err != nil {
		return fmt.Errorf("the new credential is stored and works, but the old certificate is still valid: %w; run ppin rotate again to retire it", err)
	}
	fmt.Fprintf(env.stdout, "ppin: rotated %q: new certificate %s, valid until %s; old certificate %s revoked\n",
		name, certID(cert), cert.NotAfter.UTC().Format("2006-01-02 15:04 MST"), certID(oldCert.Leaf))
	return nil
}

// credentialName returns the credential that remove and rotate act on, as
// enroll chooses it: --client, else the one argument (an older form), else
// the configuration's client, else the only credential of the secrets file.
func credentialName(flagValue string, args []string, cfg hsm.Config) (string, error) {
	switch {
	case len(args) > 1 || len(args) == 1 && flagValue != "" && args[0] != flagValue:
		return "", fmt.Errorf("name one credential, with --client NAME; got %q", append([]string{flagValue}, args...))
	case flagValue != "":
		return flagValue, nil
	case len(args) == 1:
		return args[0], nil
	case cfg.Client != "":
		return cfg.Client, nil
	}
	s, err := readSecrets(cfg.Secrets)
	if err != nil {
		return "", err
	}
	if len(s.Credentials) != 1 {
		names := make([]string, len(s.Credentials))
		for i, c := range s.Credentials {
			names[i] = c.Name
		}
		return "", fmt.Errorf("the configuration selects no client and %s holds %d credentials %q: name one with --client NAME", cfg.Secrets, len(names), names)
	}
	return s.Credentials[0].Name, nil
}

// certID names a certificate as keyhold clients list does: the first 16
// hex digits of its SHA-256 fingerprint.
func certID(cert *x509.Certificate) string {
	fp := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(fp[:8])
}
