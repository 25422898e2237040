// Command https-server serves HTTPS with a private key that never leaves the
// HSM: every TLS handshake is signed inside a partition.
//
// With no configuration it starts an embedded software HSM, so it runs
// anywhere with nothing but Go:
//
//	go run ./examples/https-server
//
// It serves on 127.0.0.1:8443, or on a free port when 8443 is taken (it says
// which); -addr chooses the address, and then a taken one is an error.
//
// With -config it uses the HSM partitions that file names, and takes the PIN
// from KEYHOLD_PIN, KEYHOLD_PIN_FILE, the partition's pin_file, or a prompt.
// KEYHOLD_CONF is not read: the example says which HSM it uses, and a
// variable left set in the shell must not switch it silently to another one. It reuses the key labelled -label when the partition
// has one, and otherwise generates an ECDSA P-256 key; it issues a
// self-signed certificate with that key when none is stored with it, and
// stores the certificate in the partition.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/keyhold/keyhold/certs"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
	"github.com/keyhold/keyhold/testenv"
)

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "", "address to serve HTTPS on (default "+defaultAddr+", or a free port when that one is taken)")
	flag.StringVar(&o.config, "config", "", "keyhold.yaml naming HSM partitions; empty starts an embedded software HSM (KEYHOLD_CONF is not read)")
	flag.StringVar(&o.partition, "partition", "", "partition name (default: the first configured)")
	flag.StringVar(&o.label, "label", "https-server", "label of the server key in the partition")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		log.Fatalf("https-server: %v", err)
	}
}

type options struct {
	addr, config, partition, label string
}

// defaultAddr is where the example serves unless -addr says otherwise.
const defaultAddr = "127.0.0.1:8443"

// listen listens on o.addr, or on defaultAddr, or, when that is taken, on a
// free port of the same host, and says so: a quick start must not fail
// because another program has the port.
func listen(addr string, out io.Writer) (net.Listener, error) {
	if addr != "" {
		return net.Listen("tcp", addr)
	}
	ln, err := net.Listen("tcp", defaultAddr)
	if err == nil {
		return ln, nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, err
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "%s is in use: serving on %s instead (choose with -addr)\n", defaultAddr, ln.Addr())
	return ln, nil
}

func run(ctx context.Context, o options, out io.Writer) error {
	cfg, pin, cleanup, err := hsmConfig(o)
	if err != nil {
		return err
	}
	defer cleanup()
	if o.config == "" {
		fmt.Fprintln(out, "HSM: an embedded software HSM in this process, partition \"web\" (-config FILE uses the partitions of a keyhold.yaml)")
		if env := os.Getenv("KEYHOLD_CONF"); env != "" {
			fmt.Fprintf(out, "note: KEYHOLD_CONF=%s is not used; -config \"$KEYHOLD_CONF\" would use it\n", env)
		}
	} else {
		fmt.Fprintf(out, "HSM: the partitions of %s\n", o.config)
	}

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

	key, err := serverKey(ctx, part, o.label)
	if err != nil {
		return err
	}
	priv, err := signer.New(key)
	if err != nil {
		return err
	}
	cert, err := serverCertificate(ctx, key)
	if err != nil {
		return err
	}

	ln, err := listen(o.addr, out)
	if err != nil {
		return err
	}
	caFile, err := writeCertFile(cert)
	if err != nil {
		ln.Close()
		return err
	}
	defer os.Remove(caFile)

	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			Certificates: []tls.Certificate{{
				Certificate: [][]byte{cert.Raw},
				PrivateKey:  priv, // the signer: handshakes are signed in the HSM
				Leaf:        cert,
			}},
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "Hello from keyhold. This %s handshake was signed inside partition %q by key %q.\n",
				tls.VersionName(r.TLS.Version), part.Name(), key.Label())
		}),
	}
	port := ln.Addr().(*net.TCPAddr).Port
	fmt.Fprintf(out, "serving https on %s with key %q in partition %q\n", ln.Addr(), key.Label(), part.Name())
	fmt.Fprintf(out, "try: curl --cacert %s https://localhost:%d/\n", caFile, port)

	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
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
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: "web", UserPIN: pin, SOPIN: "example-so-pin"}},
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

// serverKey reuses the key labelled label, or generates an ECDSA P-256 key.
func serverKey(ctx context.Context, p *hsm.Partition, label string) (*hsm.Key, error) {
	key, err := p.KeyByLabel(ctx, label)
	if errors.Is(err, hsm.ErrNotFound) {
		return p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: label})
	}
	return key, err
}

// serverCertificate returns the certificate stored with the key, or issues a
// self-signed one (signed in the HSM) and stores it with the key.
func serverCertificate(ctx context.Context, key *hsm.Key) (*x509.Certificate, error) {
	chain, err := key.CertificateChain(ctx)
	if err != nil {
		return nil, err
	}
	if len(chain) > 0 && time.Now().Before(chain[0].NotAfter) {
		return chain[0], nil
	}
	cert, err := certs.SelfSigned(ctx, key, certs.Template{
		Subject:     pkix.Name{CommonName: "localhost", Organization: []string{"keyhold example"}},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		Validity:    90 * 24 * time.Hour,
		// Its own CA, so that curl can trust it with --cacert.
		IsCA: true,
	})
	if err != nil {
		return nil, err
	}
	if err := key.SetCertificateChain(ctx, []*x509.Certificate{cert}); err != nil {
		return nil, err
	}
	return cert, nil
}

// writeCertFile writes the certificate where curl can read it.
func writeCertFile(cert *x509.Certificate) (string, error) {
	f, err := os.CreateTemp("", "keyhold-https-server-*.pem")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}); err != nil {
		return "", err
	}
	return filepath.Abs(f.Name())
}
