package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"

	"github.com/keyhold/keyhold/hsm"
)

var certCommands = []subcommand{
	{"create", "make a certificate for a key (self-signed or from a CA key), signed in the HSM, and store it", runCertCreate},
	{"import", "store a PEM certificate chain (leaf first) with a key", runCertImport},
	{"export", "print the certificate chain stored with a key as PEM", runCertExport},
}

// runCert dispatches "keyhold cert SUBCOMMAND".
func runCert(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runGroup(ctx, "cert", certCommands, args, stdout, stderr)
}

// certOutput is the JSON of cert import and export.
type certOutput struct {
	Key          string     `json:"key"` // the key's pkcs11: URI
	Certificates []certInfo `json:"certificates"`
}

// printCerts reports a chain: JSON, a summary line (text, after import) or
// the certificates as PEM (export).
func printCerts(c *cmdline, uri string, chain []*x509.Certificate, text bool) int {
	if c.json {
		out := certOutput{Key: uri, Certificates: []certInfo{}}
		for _, cert := range chain {
			out.Certificates = append(out.Certificates, infoOfCert(cert))
		}
		if err := writeJSON(c.stdout, out); err != nil {
			return c.fail(err)
		}
		return exitOK
	}
	if text {
		fmt.Fprintf(c.stdout, "stored %d certificate(s) with %s\n", len(chain), uri)
		return exitOK
	}
	for _, cert := range chain {
		if err := pem.Encode(c.stdout, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}); err != nil {
			return c.fail(err)
		}
	}
	return exitOK
}

// runCertImport implements "keyhold cert import --key REF FILE".
func runCertImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("cert import", "cert import [--json] --key REF FILE\n\nFILE holds PEM certificates, the key's own (the leaf) first, then each\nissuer. They replace the certificates stored with the key before.", true, stdout, stderr)
	ref := keyRefFlag(c)
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.fail(usagef("want one FILE, got %d arguments", len(pos)))
	}
	u, err := parseKeyRef(*ref)
	if err != nil {
		return c.fail(err)
	}
	data, err := readInput(pos[0])
	if err != nil {
		return c.fail(err)
	}
	chain, err := parseCertificatesPEM(data)
	if err != nil {
		return c.fail(fmt.Errorf("%s: %w", pos[0], err))
	}
	client, p, err := c.openPartition(ctx, u)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	// Creating objects needs the User's login, even public ones.
	if err := c.login(ctx, p); err != nil {
		return c.fail(err)
	}
	k, err := findKey(ctx, p, u, "private", "public")
	if err != nil {
		return c.fail(err)
	}
	if err := k.SetCertificateChain(ctx, chain); err != nil {
		if errors.Is(err, hsm.ErrKeyType) {
			return c.fail(fmt.Errorf("%s: the first certificate is not for key %s (the leaf must come first): %w", pos[0], u, err))
		}
		return c.fail(err)
	}
	return printCerts(c, infoOf(p, k, true).URI, chain, true)
}

// parseCertificatesPEM reads every CERTIFICATE block of a PEM file, in order.
func parseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return chain, nil
}

// runCertExport implements "keyhold cert export REF". Certificates and
// public keys are public objects, so it needs no PIN.
func runCertExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("cert export", "cert export [--json] [--key] REF", true, stdout, stderr)
	ref := keyRefFlag(c)
	client, p, u, code, ok := c.openRef(ctx, args, ref)
	if !ok {
		return code
	}
	defer client.Close()
	k, err := c.findPublic(ctx, p, u)
	if err != nil {
		return c.fail(err)
	}
	chain, err := k.CertificateChain(ctx)
	if err != nil {
		return c.fail(err)
	}
	if len(chain) == 0 {
		return c.fail(fmt.Errorf("no certificate is stored with key %s: %w", u, hsm.ErrNotFound))
	}
	return printCerts(c, infoOf(p, k, true).URI, chain, false)
}
