package tlsconfig_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/hsmtest"
	"github.com/keyhold/keyhold/tlsconfig"
)

// BenchmarkHandshakeP256 measures full TLS handshakes per second (TLS 1.3,
// default key exchange, no session resumption: the client keeps no session
// cache) of an HTTPS server whose ECDSA P-256 key is in memory, then of the
// same server with the key in a partition of the in-process test HSM, and
// logs the ratio. Both servers present a leaf and CA certificate from the
// same CA; clients verify them. The HSM node runs on the same cores as the
// server and the clients, so its work is counted against the partition key.
//
//	go test -run '^$' -bench HandshakeP256 -benchtime 3s ./tlsconfig/
func BenchmarkHandshakeP256(b *testing.B) {
	memKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(b, err)
	benchHandshakes(b, "BenchmarkHandshakeP256", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P256()}, memKey)
}

// benchHandshakes runs the handshake benchmark of BenchmarkHandshakeP256
// for a partition key of spec against memKey, a key of the same kind in
// memory, and prints the result under name.
func benchHandshakes(b *testing.B, name string, spec hsm.KeySpec, memKey crypto.Signer) {
	f := newFixture(b, hsmtest.Software)
	_, _ = f.keyWithCert(b, spec, "bench")
	id, err := tlsconfig.NewIdentity(context.Background(), f.client, tlsconfig.Options{Key: f.uri("bench")})
	require.NoError(b, err)
	b.Cleanup(func() { id.Close() })

	memLeaf := f.ca.issue(b, memKey.Public(), "bench")
	memory := &tls.Config{Certificates: []tls.Certificate{{
		Certificate: [][]byte{memLeaf.Raw, f.ca.cert.Raw}, PrivateKey: memKey, Leaf: memLeaf,
	}}}

	servers := []struct {
		name string
		port int
	}{
		{"memory", serveHTTPS(b, memory)},
		{"partition", serveHTTPS(b, tlsconfig.Server(id, nil))},
	}
	client := &tls.Config{RootCAs: f.ca.pool, ServerName: "localhost", MinVersion: tls.VersionTLS13}
	rates := map[string]float64{}
	for _, s := range servers {
		b.Run(s.name, func(b *testing.B) {
			addr := fmt.Sprintf("127.0.0.1:%d", s.port)
			// Handshakes with the partition key wait for the HSM; enough of
			// them in flight keep the cores busy, as a loaded server's are.
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c, err := tls.Dial("tcp", addr, client)
					if err != nil {
						b.Error(err)
						return
					}
					c.Close()
				}
			})
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "handshakes/s")
			rates[s.name] = rate
		})
	}
	if rates["memory"] > 0 && rates["partition"] > 0 {
		// Printed rather than logged: a parent benchmark's log shows only
		// with -v, and this line is the result.
		fmt.Printf("%s: partition key %.0f handshakes/s, in-memory key %.0f handshakes/s: %.0f%% of the in-memory rate\n",
			name, rates["partition"], rates["memory"], 100*rates["partition"]/rates["memory"])
	}
}
