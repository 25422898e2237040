// Command mtls runs mutual TLS with both ends on partition keys: an HTTPS
// server that requires a client certificate, and a client that presents one.
// Each end signs its handshakes inside the HSM, and a CA key in the same
// partition issued both certificates, so no private key exists outside it.
//
// With no configuration it starts an embedded software HSM, so it runs
// anywhere with nothing but Go:
//
//	go run ./examples/mtls
//
// With -config (or KEYHOLD_CONF) it uses the partition that file names
// (-partition, default the first), with the PIN from KEYHOLD_PIN,
// KEYHOLD_PIN_FILE, the partition's pin_file or a prompt. It reuses the keys
// labelled mtls-ca, mtls-server and mtls-client and their certificates when
// the partition has them, and creates what is missing.
//
// The program connects its client to its server over TLS 1.2 and 1.3, shows
// that a client without a certificate is refused, and exits.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/keyhold/keyhold/certs"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
	"github.com/keyhold/keyhold/tlsconfig"
)

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:0", "address for the server")
	flag.StringVar(&o.config, "config", os.Getenv("KEYHOLD_CONF"), "keyhold.yaml naming HSM partitions; empty starts an embedded software HSM")
	flag.StringVar(&o.partition, "partition", "", "partition name (default: the first configured)")
	flag.Parse()
	if err := run(context.Background(), o, os.Stdout); err != nil {
		log.Fatalf("mtls: %v", err)
	}
}

type options struct {
	addr, config, partition string
}

// The keys, by label. The server key is ECDSA; the client key is RSA, which
// TLS 1.3 makes sign with PSS.
var (
	caKey     = keySpec{"mtls-ca", hsm.KeySpec{Type: hsm.KeyEC}}
	serverKey = keySpec{"mtls-server", hsm.KeySpec{Type: hsm.KeyEC}}
	clientKey = keySpec{"mtls-client", hsm.KeySpec{Type: hsm.KeyRSA, Bits: 2048}}
)

type keySpec struct {
	label string
	spec  hsm.KeySpec
}

func run(ctx context.Context, o options, out io.Writer) error {
	cfg, pin, cleanup, err := hsmConfig(o)
	if err != nil {
		return err
	}
	defer cleanup()
	client, err := hsm.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	part := client.Partitions()[0]
	if o.partition != "" {
		if part, err = client.Partition(o.partition); err != nil {
			return err
		}
	}
	if pin == "" {
		if pin, err = partitionPIN(part); err != nil {
			return err
		}
	}
	if err := part.Login(ctx, pin); err != nil {
		return err
	}

	// The CA, then a certificate from it for each end, stored in the
	// partition with its key: that is where tlsconfig reads them from.
	ca, err := caCertificate(ctx, part)
	if err != nil {
		return err
	}
	for _, k := range []struct {
		keySpec
		usage x509.ExtKeyUsage
	}{{serverKey, x509.ExtKeyUsageServerAuth}, {clientKey, x509.ExtKeyUsageClientAuth}} {
		if err := issue(ctx, part, ca, k.keySpec, k.usage); err != nil {
			return err
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	// Both ends as tlsconfig identities, named by pkcs11: URI.
	uri := func(label string) string { return hsm.URI{Token: part.Name(), Object: label}.String() }
	srvID, err := tlsconfig.NewIdentity(ctx, client, tlsconfig.Options{Key: uri(serverKey.label)})
	if err != nil {
		return err
	}
	defer srvID.Close()
	cliID, err := tlsconfig.NewIdentity(ctx, client, tlsconfig.Options{Key: uri(clientKey.label)})
	if err != nil {
		return err
	}
	defer cliID.Close()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		// ClientCAs makes tlsconfig.Server require and verify client certificates.
		TLSConfig:         tlsconfig.Server(srvID, &tls.Config{ClientCAs: roots}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // the refused client below is expected
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello %s", r.TLS.PeerCertificates[0].Subject.CommonName)
		}),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		<-done
	}()
	url := fmt.Sprintf("https://localhost:%d/", ln.Addr().(*net.TCPAddr).Port)
	fmt.Fprintf(out, "server on %s with key %q, client with key %q, both certified by %q in partition %q\n",
		url, serverKey.label, clientKey.label, ca.cert.Subject.CommonName, part.Name())

	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		base := &tls.Config{RootCAs: roots, MinVersion: v, MaxVersion: v}
		body, err := get(url, tlsconfig.Client(cliID, base))
		if err != nil {
			return fmt.Errorf("%s: %w", tls.VersionName(v), err)
		}
		fmt.Fprintf(out, "%s: the server answered %q\n", tls.VersionName(v), body)
	}
	if _, err := get(url, &tls.Config{RootCAs: roots}); err == nil {
		return errors.New("a client without a certificate was let in")
	}
	fmt.Fprintln(out, "a client without a certificate: refused")
	return nil
}

// get fetches url over a fresh connection.
func get(url string, cfg *tls.Config) (string, error) {
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// authority is the CA: its certificate, and its key as a signer in the HSM.
type authority struct {
	cert *x509.Certificate
	key  *hsm.Key
}

// findOrGenerate returns the key labelled k.label, generating it when the
// partition has none.
func findOrGenerate(ctx context.Context, p *hsm.Partition, k keySpec) (*hsm.Key, error) {
	key, err := p.KeyByLabel(ctx, k.label)
	if errors.Is(err, hsm.ErrNotFound) {
		spec := k.spec
		spec.Label = k.label
		return p.GenerateKey(ctx, spec)
	}
	return key, err
}

// caCertificate returns the CA, issuing its self-signed certificate (signed
// in the HSM) when the partition holds no valid one.
func caCertificate(ctx context.Context, p *hsm.Partition) (*authority, error) {
	key, err := findOrGenerate(ctx, p, caKey)
	if err != nil {
		return nil, err
	}
	chain, err := key.CertificateChain(ctx)
	if err != nil {
		return nil, err
	}
	if len(chain) > 0 && valid(chain[0]) {
		return &authority{cert: chain[0], key: key}, nil
	}
	cert, err := certs.SelfSigned(ctx, key, certs.Template{
		Subject: pkix.Name{CommonName: "keyhold mtls example CA"},
		IsCA:    true,
	})
	if err != nil {
		return nil, err
	}
	if err := key.SetCertificateChain(ctx, []*x509.Certificate{cert}); err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key}, nil
}

// issue gives the key k a certificate from ca, valid for localhost, unless
// it has a valid one from this CA already.
func issue(ctx context.Context, p *hsm.Partition, ca *authority, k keySpec, usage x509.ExtKeyUsage) error {
	key, err := findOrGenerate(ctx, p, k)
	if err != nil {
		return err
	}
	chain, err := key.CertificateChain(ctx)
	if err != nil {
		return err
	}
	if len(chain) > 0 && valid(chain[0]) && chain[0].CheckSignatureFrom(ca.cert) == nil {
		return nil
	}
	t := certs.Template{
		Subject:     pkix.Name{CommonName: k.label},
		Validity:    90 * 24 * time.Hour,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		t.DNSNames = []string{"localhost"}
		t.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	cert, err := certs.Issue(ctx, key.Public(), t, ca.cert, ca.key)
	if err != nil {
		return err
	}
	return key.SetCertificateChain(ctx, []*x509.Certificate{cert, ca.cert})
}

func valid(c *x509.Certificate) bool {
	now := time.Now()
	return now.After(c.NotBefore) && now.Before(c.NotAfter)
}

// hsmConfig returns the configuration to use: the file given, or an embedded
// software HSM with a known PIN.
func hsmConfig(o options) (hsm.Config, string, func(), error) {
	if o.config != "" {
		cfg, err := hsm.LoadConfig(o.config)
		return cfg, "", func() {}, err
	}
	const pin = "example-user-pin"
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{
		Name:       "embedded",
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: "mtls", UserPIN: pin, SOPIN: "example-so-pin"}},
	})
	if err != nil {
		return hsm.Config{}, "", nil, err
	}
	return emb.Config, pin, func() { emb.Close() }, nil
}

// partitionPIN finds the PIN without a command-line argument: the
// environment or a PIN file, else a prompt on the terminal.
func partitionPIN(p *hsm.Partition) (string, error) {
	pin, err := p.ConfiguredPIN()
	if err == nil || !errors.Is(err, hsm.ErrNoPIN) {
		return pin, err
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "PIN for partition %s: ", p.Name())
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	return string(b), err
}
