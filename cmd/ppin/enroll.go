package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/wire"
)

func runEnroll(ctx context.Context, args []string, env *environment) int {
	fs, conf := newFlags("enroll", "enroll --config FILE --client NAME [--password-file F] [--replace] [--trust-on-first-use]", env)
	name := fs.String("client", "", "name of the client entry the administrator created (default: the configuration's client)")
	pwFile := fs.String("password-file", "", "file holding the setup password (default: standard input, or a prompt)")
	replace := fs.Bool("replace", false, "replace a credential of the same name in the secrets file")
	tofu := fs.Bool("trust-on-first-use", false, "when the configuration pins no node, trust the first node's certificate and print its fingerprint")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "ppin enroll: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg, path, err := loadConfig(*conf, env)
	if err != nil {
		// A configuration without a pin is what --trust-on-first-use is for.
		if c, p, uerr := loadUnpinnedConfig(*conf, env); uerr == nil && c.ServerCA == "" && c.ServerFingerprint == "" {
			if *tofu {
				cfg, path, err = c, p, nil
			} else {
				err = fmt.Errorf("%s pins no node (server_ca or server_fingerprint); give --trust-on-first-use to trust the node's certificate as presented", p)
			}
		}
	}
	if err != nil {
		return fail(env.stderr, "enroll", err)
	}
	if *name == "" {
		*name = cfg.Client
	}
	if *name == "" {
		fmt.Fprintln(env.stderr, "ppin enroll: --client NAME is required (the configuration selects no client)")
		return exitUsage
	}
	// Checked before the password is spent, and again under the lock.
	if s, err := readSecrets(cfg.Secrets); err != nil {
		return fail(env.stderr, "enroll", err)
	} else if hasCredential(s, *name) && !*replace {
		return fail(env.stderr, "enroll", fmt.Errorf("the secrets file %s already holds a credential %q; give --replace to replace it", cfg.Secrets, *name))
	}
	password, err := readPassword(*pwFile, env)
	if err != nil {
		return fail(env.stderr, "enroll", err)
	}
	defer clear(password)

	var fingerprint []byte
	if cfg.ServerCA == "" && cfg.ServerFingerprint == "" {
		addr, fp, err := firstFingerprint(ctx, nodeAddresses(cfg))
		if err != nil {
			return fail(env.stderr, "enroll", err)
		}
		fmt.Fprintf(env.stdout, "ppin: trusting node %s on first use; its certificate's SHA-256 is\n  %s\nadd  server_fingerprint: %q  to %s to pin it\n", addr, fp, fp, path)
		fingerprint, _ = wire.ParseFingerprint(fp)
	}
	tc, err := pinnedTLS(cfg, nil, fingerprint)
	if err != nil {
		return fail(env.stderr, "enroll", err)
	}

	key, csr, err := newKey(*name)
	if err != nil {
		return fail(env.stderr, "enroll", err)
	}
	reply, addr, err := enrollWithAnyNode(ctx, nodeAddresses(cfg), tc, wire.EnrollRequest{Name: *name, Password: password, CSR: csr})
	if err != nil {
		return fail(env.stderr, "enroll", err)
	}
	cred, cert, err := credentialFrom(*name, key, reply)
	if err != nil {
		return fail(env.stderr, "enroll", err)
	}
	err = updateSecrets(cfg.Secrets, func(s *hsm.Secrets) error {
		i := slices.IndexFunc(s.Credentials, func(c hsm.Credential) bool { return c.Name == *name })
		switch {
		case i >= 0 && !*replace:
			return fmt.Errorf("the secrets file %s got a credential %q meanwhile; give --replace to replace it (the new certificate %s is lost)", cfg.Secrets, *name, cert.SerialNumber.Text(16))
		case i >= 0:
			s.Credentials[i] = cred
		default:
			s.Credentials = append(s.Credentials, cred)
		}
		return nil
	})
	if err != nil {
		return fail(env.stderr, "enroll", err)
	}
	fmt.Fprintf(env.stdout, "ppin: enrolled %q with node %s; certificate serial %s, valid until %s; stored in %s\n",
		*name, addr, cert.SerialNumber.Text(16), cert.NotAfter.UTC().Format("2006-01-02 15:04 MST"), cfg.Secrets)
	if cfg.Client != "" && cfg.Client != *name {
		fmt.Fprintf(env.stdout, "ppin: note: %s selects client %q; set client: %s to use this credential\n", path, cfg.Client, *name)
	}
	return exitOK
}

func hasCredential(s *hsm.Secrets, name string) bool {
	return slices.ContainsFunc(s.Credentials, func(c hsm.Credential) bool { return c.Name == name })
}

// readPassword reads the setup password from a file, from standard input
// when it is not a terminal, or from a prompt without echo. Surrounding
// white space (a trailing newline) is not part of it.
func readPassword(file string, env *environment) ([]byte, error) {
	var raw []byte
	switch {
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--password-file: %w", err)
		}
		raw = data
	case isTerminal(env.stdin):
		f := env.stdin.(*os.File)
		fmt.Fprint(env.stderr, "setup password: ")
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return nil, fmt.Errorf("read setup password: %w", err)
		}
		raw = pw
	default:
		line, err := bufio.NewReader(env.stdin).ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read setup password from standard input: %w", err)
		}
		raw = line
	}
	pw := []byte(strings.TrimSpace(string(raw)))
	clear(raw)
	if len(pw) == 0 {
		return nil, errors.New("the setup password is empty")
	}
	return pw, nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// firstFingerprint connects to the first reachable node without verifying
// it, and returns its certificate's fingerprint. Only --trust-on-first-use
// does this, and the caller prints what it trusted.
func firstFingerprint(ctx context.Context, addrs []string) (string, string, error) {
	var errs []error
	for _, addr := range addrs {
		var got *x509.Certificate
		tc := &tls.Config{
			MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
			InsecureSkipVerify: true, // trust on first use: the fingerprint is printed
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("the node presented no certificate")
				}
				got = cs.PeerCertificates[0]
				return nil
			},
		}
		c, err := dial(ctx, addr, tc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.Close()
		return addr, fingerprintHex(got), nil
	}
	return "", "", fmt.Errorf("no node reachable: %w", errors.Join(errs...))
}

// enrollWithAnyNode sends the enrollment to the first node that answers.
// The entry is replicated, so any node of the cluster will do. A node whose
// certificate is not the pinned one stops everything: the password must not
// go anywhere near a node that may be an impostor, and a misconfiguration
// should be fixed rather than worked around.
func enrollWithAnyNode(ctx context.Context, addrs []string, tc *tls.Config, req wire.EnrollRequest) (wire.CertificateReply, string, error) {
	var errs []error
	for _, addr := range addrs {
		c, err := dial(ctx, addr, tc)
		if err != nil {
			if isPinFailure(err) {
				return wire.CertificateReply{}, "", fmt.Errorf("node %s does not present the pinned identity; the setup password was not sent: %w", addr, err)
			}
			errs = append(errs, err)
			continue
		}
		var reply wire.CertificateReply
		err = call(ctx, c, wire.OpEnroll, req, &reply)
		c.Close()
		var ce *ck.Error
		switch {
		case err == nil:
			return reply, addr, nil
		case errors.As(err, &ce) && ce.RV == wire.CodeEnrollRefused:
			return wire.CertificateReply{}, "", fmt.Errorf("node %s refused the enrollment: %s", addr, ce.Msg)
		case errors.As(err, &ce):
			return wire.CertificateReply{}, "", fmt.Errorf("node %s: %s", addr, ce.Msg)
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return wire.CertificateReply{}, "", fmt.Errorf("no node reachable: %w", errors.Join(errs...))
}
