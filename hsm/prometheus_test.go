package hsm_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// TestMetricsInAPrometheusRegistry: a Go service that exports its
// OpenTelemetry metrics to Prometheus finds the engine's among them, and sees
// its signing count rise.
func TestMetricsInAPrometheusRegistry(t *testing.T) {
	p, env := loggedIn(t)
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.Background())

	cfg := env.Config
	cfg.MeterProvider = mp
	c, err := hsm.Open(ctx(t), cfg)
	require.NoError(t, err)
	defer c.Close()
	metered, err := c.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, metered.Login(ctx(t), env.UserPIN))
	_, err = p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "prom"})
	require.NoError(t, err)
	key, err := metered.KeyByLabel(ctx(t), "prom")
	require.NoError(t, err)

	signs := func() float64 {
		families, err := reg.Gather()
		require.NoError(t, err)
		total := 0.0
		for _, f := range families {
			if !strings.HasPrefix(f.GetName(), "keyhold_hsm_calls") {
				continue
			}
			for _, m := range f.GetMetric() {
				op, outcome := "", ""
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "keyhold_operation":
						op = l.GetValue()
					case "keyhold_outcome":
						outcome = l.GetValue()
					}
				}
				if op == "sign" && outcome == "ok" {
					total += m.GetCounter().GetValue()
				}
			}
		}
		return total
	}
	digest := sha256.Sum256([]byte("m"))
	before := signs()
	for range 5 {
		_, err := key.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
		require.NoError(t, err)
	}
	require.Equal(t, before+5, signs())
}
