//go:build cgo

package gateway_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"testing"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/signer"
	"github.com/stretchr/testify/require"
)

// BenchmarkSignECDSA signs with a P-256 key of one SoftHSM2 token from
// parallel callers, through a gateway (the SDK over TLS to a node in this
// process) and through the SDK's module backend in process: what the
// network hop and the node cost beside the module's own work. keyhold-bench
// measures the same with the node in a process of its own and the caller's
// CPU time (docs/gateway-benchmarks.md).
func BenchmarkSignECDSA(b *testing.B) {
	tk := softhsmtest.NewToken(b)
	softhsmtest.Import(b, tk, mustEC(b), hsm.KeySpec{Type: hsm.KeyEC, Label: "bench"})
	sum := sha256.Sum256([]byte("benchmark"))
	run := func(b *testing.B, cfg hsm.Config, partition string) {
		ctx := context.Background()
		c, err := hsm.Open(ctx, cfg)
		require.NoError(b, err)
		defer c.Close()
		p, err := c.Partition(partition)
		require.NoError(b, err)
		require.NoError(b, p.Login(ctx, tk.PIN))
		k, err := p.KeyByLabel(ctx, "bench")
		require.NoError(b, err)
		s, err := signer.New(k)
		require.NoError(b, err)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.SignContext(ctx, sum[:], crypto.SHA256); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("gateway", func(b *testing.B) {
		e := startGateway(b, tk)
		run(b, e.Config, modulePart)
	})
	b.Run("module", func(b *testing.B) {
		run(b, softhsmtest.ConfigFor(tk), softhsmtest.PartitionName)
	})
}
