package hsm_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// TestMetricsExported: an application that installs a MeterProvider sees
// the engine's calls, attempts, failovers and logins, with partition, node,
// operation and outcome, through OpenTelemetry.
func TestMetricsExported(t *testing.T) {
	// Tickets that live 400 ms are renewed after 300 ms: the engine logs in
	// again by itself, and says so.
	env := testenv.Start(t, testenv.WithNodes(2), testenv.WithTicketLifetime(400*time.Millisecond))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	cfg := env.Config
	cfg.MeterProvider = mp
	c, err := hsm.Open(ctx(t), cfg)
	require.NoError(t, err)
	defer c.Close()
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx(t), env.UserPIN))
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "metered"})
	require.NoError(t, err)
	digest := sha256.Sum256([]byte("m"))
	const signs = 20
	for range signs {
		_, err := key.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
		require.NoError(t, err)
	}
	// A refusal is counted as such.
	_, err = p.KeyByLabel(ctx(t), "absent")
	require.ErrorIs(t, err, hsm.ErrNotFound)
	// One node goes away: the next calls fail over from it.
	env.Nodes[0].Stop()
	for range signs {
		_, err := key.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
		require.NoError(t, err)
	}

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	sums := map[string]map[attribute.Distinct]int64{}
	sets := map[string][]attribute.Set{}
	var durations uint64
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, "github.com/keyhold/keyhold/hsm", sm.Scope.Name)
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				sums[m.Name] = map[attribute.Distinct]int64{}
				for _, dp := range d.DataPoints {
					sums[m.Name][dp.Attributes.Equivalent()] += dp.Value
					sets[m.Name] = append(sets[m.Name], dp.Attributes)
				}
			case metricdata.Histogram[float64]:
				if m.Name == "keyhold.hsm.call.duration" {
					for _, dp := range d.DataPoints {
						durations += dp.Count
					}
				}
			}
		}
	}
	callsWith := func(op, outcome string) int64 {
		s := attribute.NewSet(attribute.String("keyhold.partition", env.Partition),
			attribute.String("keyhold.operation", op), attribute.String("keyhold.outcome", outcome))
		return sums["keyhold.hsm.calls"][s.Equivalent()]
	}
	assert.Equal(t, int64(2*signs), callsWith("sign", "ok"))
	assert.Equal(t, int64(1), callsWith("login", "ok"))
	assert.Positive(t, callsWith("find objects", "ok"), "the lookup of \"absent\" found nothing, without error")
	assert.Positive(t, durations)
	var failovers int64
	for _, v := range sums["keyhold.hsm.failovers"] {
		failovers += v
	}
	assert.Positive(t, failovers, "calls left the stopped node")
	var nodeFailures int64
	for _, s := range sets["keyhold.hsm.attempts"] {
		if v, ok := s.Value("keyhold.outcome"); ok && v.AsString() == "node_failure" {
			nodeFailures += sums["keyhold.hsm.attempts"][s.Equivalent()]
		}
	}
	assert.Positive(t, nodeFailures)

	require.Eventually(t, func() bool {
		if _, err := key.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:]); err != nil {
			return false
		}
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(context.Background(), &rm))
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "keyhold.hsm.logins" {
					for _, dp := range d.DataPoints {
						if dp.Value > 0 {
							return true
						}
					}
				}
			}
		}
		return false
	}, 20*time.Second, 10*time.Millisecond, "a renewed ticket is a login the engine made by itself")
}
