package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyhold/keyhold/hsm/pkcs11module"
	"github.com/keyhold/keyhold/server"
)

// serveMetrics is keyhold serve's --metrics endpoint: Prometheus metrics of
// the process's nodes on /metrics, and /healthz, which answers 200 while
// every node serves clients and 503 otherwise (a load balancer or an
// orchestrator's probe reads it).
type serveMetrics struct {
	reg      *prometheus.Registry
	duration *prometheus.HistogramVec
	nodes    func() []*server.Node
	srv      *http.Server
	done     chan error
}

// newServeMetrics makes the registry. The nodes are known only once they
// run, so they are given later, as a function.
func newServeMetrics() *serveMetrics {
	m := &serveMetrics{reg: prometheus.NewRegistry()}
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "keyhold_node_request_duration_seconds",
		Help:    "Time from a client request's arrival to its answer, by operation and outcome.",
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
	}, []string{"op", "outcome"})
	m.reg.MustRegister(m.duration, m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe is the nodes' server.NodeOptions.Observe.
func (m *serveMetrics) observe(op string, d time.Duration, failed bool) {
	outcome := "ok"
	if failed {
		outcome = "error"
	}
	m.duration.WithLabelValues(op, outcome).Observe(d.Seconds())
}

// The node statistics, read from server.Node.Stats at each scrape.
var (
	descRequests     = prometheus.NewDesc("keyhold_node_requests_total", "Client requests a worker answered.", []string{"node"}, nil)
	descBusy         = prometheus.NewDesc("keyhold_node_busy_total", "Requests answered busy without being started.", []string{"node"}, nil)
	descConnections  = prometheus.NewDesc("keyhold_node_connections_open", "Connections open now.", []string{"node"}, nil)
	descReady        = prometheus.NewDesc("keyhold_node_ready", "1 while the node serves clients.", []string{"node"}, nil)
	descLivePeers    = prometheus.NewDesc("keyhold_node_live_peers", "The other members of its Raft cluster while it knows a leader; 0 while it knows none.", []string{"node"}, nil)
	descStorageFails = prometheus.NewDesc("keyhold_node_storage_failures_total", "Changes that could not be stored, and so were not acknowledged.", []string{"node"}, nil)
	descReplFails    = prometheus.NewDesc("keyhold_node_replication_failures_total", "Changes its cluster did not commit in time (no quorum), and so refused.", []string{"node"}, nil)
	descHandshakes   = prometheus.NewDesc("keyhold_node_handshake_failures_total", "Connections closed because TLS failed.", []string{"node"}, nil)
	// A module partition's token (a gateway): pkcs11module.Stats.
	descModuleSessionsClosed = prometheus.NewDesc("keyhold_module_sessions_closed_total",
		"Sessions of a PKCS#11 module's token closed because they broke or their call was abandoned: a token whose sessions keep breaking is failing.",
		[]string{"module", "token"}, nil)
)

// Describe implements prometheus.Collector.
func (m *serveMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descBusy, descConnections, descReady, descLivePeers, descStorageFails, descReplFails, descHandshakes, descModuleSessionsClosed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *serveMetrics) Collect(ch chan<- prometheus.Metric) {
	if m.nodes == nil {
		return
	}
	for _, n := range m.nodes() {
		s, addr := n.Stats(), n.Addr()
		ready := 0.0
		if s.Ready {
			ready = 1
		}
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(s.Requests), addr)
		ch <- prometheus.MustNewConstMetric(descBusy, prometheus.CounterValue, float64(s.BusyReplies), addr)
		ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(s.ConnectionsOpen), addr)
		ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready, addr)
		ch <- prometheus.MustNewConstMetric(descLivePeers, prometheus.GaugeValue, float64(s.LivePeers), addr)
		ch <- prometheus.MustNewConstMetric(descStorageFails, prometheus.CounterValue, float64(s.StorageFailures), addr)
		ch <- prometheus.MustNewConstMetric(descReplFails, prometheus.CounterValue, float64(s.ReplicationFailures), addr)
		ch <- prometheus.MustNewConstMetric(descHandshakes, prometheus.CounterValue, float64(s.HandshakeFailures), addr)
	}
	for _, ts := range pkcs11module.Stats() {
		ch <- prometheus.MustNewConstMetric(descModuleSessionsClosed, prometheus.CounterValue, float64(ts.SessionsClosed), ts.Module, ts.Label)
	}
}

// healthz answers 200 while every node serves clients.
func (m *serveMetrics) healthz(w http.ResponseWriter, _ *http.Request) {
	if m.nodes != nil {
		for _, n := range m.nodes() {
			if !n.Stats().Ready {
				http.Error(w, "node "+n.Addr()+" does not serve clients", http.StatusServiceUnavailable)
				return
			}
		}
	}
	fmt.Fprintln(w, "ok")
}

// start listens on addr and serves until stop. It returns the address it
// listens on (addr may give port 0).
func (m *serveMetrics) start(addr string, nodes func() []*server.Node) (string, error) {
	m.nodes = nodes
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("--metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", m.healthz)
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	m.done = make(chan error, 1)
	go func() { m.done <- m.srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// stop ends the endpoint and waits for its goroutine.
func (m *serveMetrics) stop() {
	if m == nil || m.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.srv.Shutdown(ctx)
	<-m.done // http.ErrServerClosed: the endpoint goes away with the process
}
