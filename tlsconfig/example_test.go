package tlsconfig_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
	"github.com/keyhold/keyhold/testenv"
	"github.com/keyhold/keyhold/tlsconfig"
)

// ExampleServer serves HTTPS with a key that never leaves the partition.
// The certificate is read from the partition, where it is stored with the
// key; a renewal stored there later reaches new handshakes by itself.
func ExampleServer() {
	ctx := context.Background()
	client, stop := exampleHSM()
	defer stop()
	roots := exampleKeyWithCertificate(client, "web-tls")

	id, err := tlsconfig.NewIdentity(ctx, client, tlsconfig.Options{
		Key: "pkcs11:token=web;object=web-tls",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer id.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		TLSConfig:         tlsconfig.Server(id, nil),
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello over %s", tls.VersionName(r.TLS.Version))
		}),
	}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(fmt.Sprintf("https://localhost:%d/", ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: hello over TLS 1.3
}

// ExampleClient presents a partition key as a client certificate to a
// server that requires one (mutual TLS).
func ExampleClient() {
	ctx := context.Background()
	client, stop := exampleHSM()
	defer stop()
	serverRoots := exampleKeyWithCertificate(client, "server")
	clientRoots := exampleKeyWithCertificate(client, "client")

	server, err := tlsconfig.NewIdentity(ctx, client, tlsconfig.Options{Key: "pkcs11:token=web;object=server"})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	id, err := tlsconfig.NewIdentity(ctx, client, tlsconfig.Options{Key: "pkcs11:token=web;object=client"})
	if err != nil {
		log.Fatal(err)
	}
	defer id.Close()

	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsconfig.Server(server, &tls.Config{ClientCAs: clientRoots}))
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if tc.Handshake() == nil {
			fmt.Fprintf(tc, "hello %s\n", tc.ConnectionState().PeerCertificates[0].Subject.CommonName)
		}
	}()

	conn, err := tls.Dial("tcp", ln.Addr().String(), tlsconfig.Client(id, &tls.Config{RootCAs: serverRoots, ServerName: "localhost"}))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	line, _ := io.ReadAll(conn)
	fmt.Print(string(line))
	// Output: hello client
}

// exampleHSM starts an embedded software HSM with a partition named web,
// and returns a client logged in to it.
func exampleHSM() (*hsm.Client, func()) {
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: "web", UserPIN: "example-pin", SOPIN: "example-so-pin"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	client, err := hsm.Open(context.Background(), emb.Config)
	if err != nil {
		log.Fatal(err)
	}
	part, err := client.Partition("web")
	if err != nil {
		log.Fatal(err)
	}
	if err := part.Login(context.Background(), "example-pin"); err != nil {
		log.Fatal(err)
	}
	return client, func() { client.Close(); emb.Close() }
}

// exampleKeyWithCertificate generates an ECDSA key labelled label and stores
// a self-signed certificate for localhost with it, signed in the HSM. It
// returns a pool trusting that certificate.
func exampleKeyWithCertificate(client *hsm.Client, label string) *x509.CertPool {
	ctx := context.Background()
	part, _ := client.Partition("web")
	key, err := part.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: label})
	if err != nil {
		log.Fatal(err)
	}
	s, err := signer.New(key)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: label},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:              []string{"localhost"},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: its own trust anchor
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), crypto.Signer(s))
	if err != nil {
		log.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if err := key.SetCertificateChain(ctx, []*x509.Certificate{cert}); err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
