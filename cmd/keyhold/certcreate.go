package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/keyhold/keyhold/certs"
	"github.com/keyhold/keyhold/hsm"
)

const certCreateUsage = `cert create --key REF (--self-signed | --ca CERT,CAKEY) --subject DN [--dns NAME]... [--ip ADDR]... [--days N] [--is-ca] [--out FILE] [--json]

Makes a certificate for the key, signs it in the HSM, stores it with the key
(with the CA's certificate after it, for --ca) where tlsconfig and cert export
find it, and prints it as PEM (or writes it to --out FILE).

--self-signed signs it with the key itself. --ca CERT,CAKEY issues it from a
CA: CERT is the CA's PEM certificate file and CAKEY the CA's key in a
partition (a pkcs11: URI or PARTITION/LABEL), which must be CERT's key.
--subject is a distinguished name such as "CN=web.example,O=Example Ltd"
(CN, O, OU, C, L, ST, STREET, POSTALCODE, SERIALNUMBER; no commas in
values); left out, the first --dns (else --ip) is the common name. --is-ca
makes a CA certificate (key usage certificate and CRL signing); otherwise it
is for TLS servers and clients.`

const csrUsage = `csr --key REF --subject DN [--dns NAME]... [--ip ADDR]... [--out FILE]

Prints a PKCS#10 certificate request for the key, signed in the HSM, as PEM
(or writes it to --out FILE), for a CA outside the HSM. Store the certificate
it returns with keyhold cert import. --subject is as for cert create.`

// certFlags are the certificate contents cert create and csr share.
type certFlags struct {
	subject string
	dns     stringList
	ips     stringList
	out     string
}

func (f *certFlags) register(c *cmdline) {
	c.fs.StringVar(&f.subject, "subject", "", `the subject, such as "CN=web.example,O=Example Ltd"`)
	c.fs.Var(&f.dns, "dns", "a DNS `NAME` the certificate is for (repeat for several, or comma-separated)")
	c.fs.Var(&f.ips, "ip", "an IP `ADDRESS` the certificate is for (repeat for several, or comma-separated)")
	c.fs.StringVar(&f.out, "out", "", "write the PEM to this new file instead of stdout")
}

// template returns the certificate contents the flags ask for.
func (f *certFlags) template() (certs.Template, error) {
	var t certs.Template
	if f.subject != "" {
		s, err := certs.ParseSubject(f.subject)
		if err != nil {
			return t, usagef("--subject: %v", err)
		}
		t.Subject = s
	}
	for _, d := range f.dns {
		for name := range strings.SplitSeq(d, ",") {
			if name = strings.TrimSpace(name); name != "" {
				t.DNSNames = append(t.DNSNames, name)
			}
		}
	}
	for _, v := range f.ips {
		for s := range strings.SplitSeq(v, ",") {
			ip := net.ParseIP(strings.TrimSpace(s))
			if ip == nil {
				return t, usagef("--ip %q is not an IP address", s)
			}
			t.IPAddresses = append(t.IPAddresses, ip)
		}
	}
	if f.subject == "" && len(t.DNSNames) == 0 && len(t.IPAddresses) == 0 {
		return t, usagef("give --subject, --dns or --ip")
	}
	return t, nil
}

// writePEM prints the block on stdout, or writes it to a new file.
func (f *certFlags) writePEM(c *cmdline, blocks ...*pem.Block) error {
	var b strings.Builder
	for _, blk := range blocks {
		if err := pem.Encode(&b, blk); err != nil {
			return err
		}
	}
	if f.out == "" {
		_, err := io.WriteString(c.stdout, b.String())
		return err
	}
	// A certificate or request is public: 0644, but never over a file that
	// exists, which may be something else.
	file, err := os.OpenFile(f.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := file.WriteString(b.String()); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

// runCertCreate implements "keyhold cert create".
func runCertCreate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("cert create", certCreateUsage, true, stdout, stderr)
	ref := keyRefFlag(c)
	var f certFlags
	f.register(c)
	selfSigned := c.fs.Bool("self-signed", false, "sign the certificate with the key itself")
	ca := c.fs.String("ca", "", "issue the certificate from this CA: CERT,CAKEY (the CA's PEM certificate file and its key in a partition)")
	days := c.fs.Int("days", 365, "days the certificate is valid (from five minutes ago)")
	isCA := c.fs.Bool("is-ca", false, "make a CA certificate, which may sign certificates")
	if code, ok := c.parseNoArgs(args); !ok {
		return code
	}
	if *selfSigned == (*ca != "") {
		return c.fail(usagef("give one of --self-signed and --ca CERT,CAKEY"))
	}
	if *days <= 0 {
		return c.fail(usagef("--days must be positive"))
	}
	t, err := f.template()
	if err != nil {
		return c.fail(err)
	}
	t.Validity, t.IsCA = time.Duration(*days)*24*time.Hour, *isCA
	u, err := parseKeyRef(*ref)
	if err != nil {
		return c.fail(err)
	}
	var caCert *x509.Certificate
	var caRef *hsm.URI
	if *ca != "" {
		certFile, keyName, ok := strings.Cut(*ca, ",")
		if !ok || certFile == "" || keyName == "" {
			return c.fail(usagef("--ca wants CERT,CAKEY: the CA's certificate file, a comma, its key"))
		}
		if caRef, err = parseKeyRef(keyName); err != nil {
			return c.fail(err)
		}
		data, err := os.ReadFile(certFile)
		if err != nil {
			return c.fail(err)
		}
		chain, err := parseCertificatesPEM(data)
		if err != nil {
			return c.fail(fmt.Errorf("%s: %w", certFile, err))
		}
		caCert = chain[0]
	}

	client, p, key, err := c.openPrivateKey(ctx, u)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	var cert *x509.Certificate
	chain := []*x509.Certificate{}
	if caCert == nil {
		cert, err = certs.SelfSigned(ctx, key, t)
	} else {
		var caKey *hsm.Key
		if caKey, err = c.caKey(ctx, client, caRef); err != nil {
			return c.fail(err)
		}
		cert, err = certs.Issue(ctx, key.Public(), t, caCert, caKey)
		chain = append(chain, caCert)
	}
	if err != nil {
		return c.fail(err)
	}
	chain = append([]*x509.Certificate{cert}, chain...)
	if err := key.SetCertificateChain(ctx, chain); err != nil {
		return c.fail(err)
	}
	if c.json {
		return printCerts(c, infoOf(p, key, true).URI, chain, false)
	}
	if err := f.writePEM(c, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}); err != nil {
		return c.fail(err)
	}
	return exitOK
}

// caKey finds the CA's private key, logging in to its partition when it is
// another one.
func (c *cmdline) caKey(ctx context.Context, client *hsm.Client, u *hsm.URI) (*hsm.Key, error) {
	p, err := partitionFor(client, u)
	if err != nil {
		return nil, err
	}
	if err := c.login(ctx, p); err != nil {
		return nil, err
	}
	return findKey(ctx, p, u, "private")
}

// runCSR implements "keyhold csr".
func runCSR(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("csr", csrUsage, true, stdout, stderr)
	ref := keyRefFlag(c)
	var f certFlags
	f.register(c)
	if code, ok := c.parseNoArgs(args); !ok {
		return code
	}
	t, err := f.template()
	if err != nil {
		return c.fail(err)
	}
	u, err := parseKeyRef(*ref)
	if err != nil {
		return c.fail(err)
	}
	client, _, key, err := c.openPrivateKey(ctx, u)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	req, err := certs.Request(ctx, key, t)
	if err != nil {
		return c.fail(err)
	}
	if err := f.writePEM(c, &pem.Block{Type: "CERTIFICATE REQUEST", Bytes: req.Raw}); err != nil {
		return c.fail(err)
	}
	return exitOK
}
