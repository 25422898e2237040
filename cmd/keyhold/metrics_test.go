package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// TestServeMetrics: keyhold serve --metrics serves Prometheus metrics and a
// health check; a scrape after signing shows the signing count risen, by the
// amount signed.
func TestServeMetrics(t *testing.T) {
	dir := t.TempDir()
	metricsAddr := freePorts(t, 1)[0]
	p, line := startServe(t, []string{"KEYHOLD_USER_PIN=metrics-user-pin"}, "--dir", dir, "--partitions", "pay", "--metrics", metricsAddr)
	_, _, config := readyLine(t, line)
	require.Eventually(t, func() bool { return len(p.out.lines()) >= 2 }, 30*time.Second, 10*time.Millisecond, "the metrics line")
	assert.Equal(t, fmt.Sprintf("keyhold: metrics on http://%s/metrics, health on http://%s/healthz", metricsAddr, metricsAddr), p.out.lines()[1])

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + metricsAddr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	signs := func() float64 {
		code, body := get("/metrics")
		require.Equal(t, http.StatusOK, code)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(body))
		require.NoError(t, err)
		f, ok := families["keyhold_node_request_duration_seconds"]
		if !ok {
			return 0
		}
		total := 0.0
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["op"] == "Sign" && labels["outcome"] == "ok" {
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
		return total
	}
	code, body := get("/healthz")
	assert.Equal(t, http.StatusOK, code, body)
	before := signs()

	cfg, err := hsm.LoadConfig(config)
	require.NoError(t, err)
	client, err := hsm.Open(ctxT(t), cfg)
	require.NoError(t, err)
	defer client.Close()
	part, err := client.Partition("pay")
	require.NoError(t, err)
	require.NoError(t, part.Login(ctxT(t), "metrics-user-pin"))
	key, err := part.GenerateKey(ctxT(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "metered"})
	require.NoError(t, err)
	digest := sha256.Sum256([]byte("m"))
	const n = 12
	for range n {
		_, err := key.Sign(ctxT(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
		require.NoError(t, err)
	}
	assert.Equal(t, before+n, signs(), "every signature is counted")
	_, body = get("/metrics")
	assert.Contains(t, body, "keyhold_node_ready{node=")
	assert.NotContains(t, body, "metrics-user-pin")

	require.NoError(t, p.stop(syscall.SIGTERM))
}
