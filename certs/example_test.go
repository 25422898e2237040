package certs_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"

	"github.com/keyhold/keyhold/certs"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// A self-signed TLS certificate for a key generated in a partition, stored
// with the key, where tlsconfig finds it.
func ExampleSelfSigned() {
	ctx := context.Background()
	// An embedded software HSM stands in for the real one.
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{
		Name:       "example",
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: "web", UserPIN: "example-pin", SOPIN: "example-so-pin"}},
	})
	if err != nil {
		panic(err)
	}
	defer emb.Close()
	client, err := hsm.Open(ctx, emb.Config)
	if err != nil {
		panic(err)
	}
	defer client.Close()
	part, err := client.Partition("web")
	if err != nil {
		panic(err)
	}
	if err := part.Login(ctx, "example-pin"); err != nil {
		panic(err)
	}
	key, err := part.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "tls"})
	if err != nil {
		panic(err)
	}

	cert, err := certs.SelfSigned(ctx, key, certs.Template{
		Subject:  pkix.Name{CommonName: "web.example"},
		DNSNames: []string{"web.example"},
	})
	if err != nil {
		panic(err)
	}
	if err := key.SetCertificateChain(ctx, []*x509.Certificate{cert}); err != nil {
		panic(err)
	}
	fmt.Println(cert.Subject.CommonName, cert.DNSNames, cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil)
	// Output: web.example [web.example] true
}
