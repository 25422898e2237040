package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/keyhold/keyhold/hsm"
)

func runEnroll(ctx context.Context, args []string, env *environment) int {
	fs, conf := newFlags("enroll", "enroll --config FILE --client NAME [--password-file F] [--replace] [--trust-on-first-use]", env)
	name := fs.String("client", "", "name of the client entry the administrator created (default: the configuration's client)")
	pwFile := fs.String("password-file", "", "file holding the setup password (default: standard input, or a prompt)")
	replace := fs.Bool("replace", false, "replace a credential of the same name in the secrets file")
	tofu := fs.Bool("trust-on-first-use", false, "when the configuration pins no node, trust the first node's certificate and print its fingerprint")
	if code, ok := parseFlags(fs, args, env); !ok {
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

	if cfg.ServerCA == "" && cfg.ServerFingerprint == "" {
		addr, fp, err := hsm.FetchNodeFingerprint(ctx, cfg)
		if err != nil {
			return fail(env.stderr, "enroll", err)
		}
		fmt.Fprintf(env.stdout, "ppin: trusting node %s on first use; its certificate's SHA-256 is\n  %s\nadd  server_fingerprint: %q  to %s to pin it\n", addr, fp, fp, path)
		cfg.ServerFingerprint = fp
	}
	enr, err := hsm.Enroll(ctx, cfg, *name, password)
	if err != nil {
		var he *hsm.Error
		if errors.Is(err, hsm.ErrNodeIdentity) && errors.As(err, &he) {
			// Said in so many words: the operator must know that the
			// password is still good, and that the node is suspect.
			return fail(env.stderr, "enroll", fmt.Errorf("node %s does not present the pinned identity; the setup password was not sent: %s", he.Node, he.Detail))
		}
		return fail(env.stderr, "enroll", err)
	}
	cred, cert, addr := enr.Credential, enr.Certificate, enr.Node
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
