package hsm

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// meterName is the instrumentation scope of the engine's metrics.
const meterName = "github.com/keyhold/keyhold/hsm"

// The engine's metrics, recorded through OpenTelemetry: nothing is recorded
// unless the application installs a MeterProvider (Config.MeterProvider, or
// otel.SetMeterProvider), so a program that does not care pays a no-op call.
//
//	keyhold.hsm.calls           calls of the engine, by partition, operation and outcome
//	keyhold.hsm.call.duration   their duration (s), retries and failovers included
//	keyhold.hsm.attempts        attempts on one node, by partition, node, operation and outcome
//	keyhold.hsm.attempt.duration  their duration (s), by partition and node
//	keyhold.hsm.failovers       attempts after which the call went on to another node (node failure, busy)
//	keyhold.hsm.logins          logins the engine made by itself (a new scope, a renewal, an expired proof)
//
// Outcomes: "ok"; "refused" (the HSM answered no: a wrong PIN, a missing
// key); "node_failure"; "busy"; "canceled" (the caller's context ended).
type metrics struct {
	calls, attempts, failovers, logins metric.Int64Counter
	callDuration, attemptDuration      metric.Float64Histogram

	// sets caches the attribute sets of the hot path, which would
	// otherwise be built (and allocated) on every call.
	sets sync.Map // setKey -> metric.MeasurementOption
}

type setKey struct {
	partition, node, op, outcome string
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(meterName)
	var (
		out metrics
		err error
		e   error
	)
	out.calls, e = m.Int64Counter("keyhold.hsm.calls", metric.WithDescription("Calls of the engine, by partition, operation and outcome."))
	err = errors.Join(err, e)
	out.callDuration, e = m.Float64Histogram("keyhold.hsm.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the engine's calls, retries and failovers included."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	err = errors.Join(err, e)
	out.attempts, e = m.Int64Counter("keyhold.hsm.attempts", metric.WithDescription("Attempts on one node, by partition, node, operation and outcome."))
	err = errors.Join(err, e)
	out.attemptDuration, e = m.Float64Histogram("keyhold.hsm.attempt.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of attempts on one node."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	err = errors.Join(err, e)
	out.failovers, e = m.Int64Counter("keyhold.hsm.failovers", metric.WithDescription("Attempts after which the call went on to another node: a node failure or a busy node."))
	err = errors.Join(err, e)
	out.logins, e = m.Int64Counter("keyhold.hsm.logins", metric.WithDescription("Logins the engine made by itself, with the PIN the application gave."))
	err = errors.Join(err, e)
	return &out, err
}

// set returns the attribute set for k, built once.
func (m *metrics) set(k setKey) metric.MeasurementOption {
	if o, ok := m.sets.Load(k); ok {
		return o.(metric.MeasurementOption)
	}
	kv := make([]attribute.KeyValue, 0, 4)
	kv = append(kv, attribute.String("keyhold.partition", k.partition))
	if k.node != "" {
		kv = append(kv, attribute.String("keyhold.node", k.node))
	}
	if k.op != "" {
		kv = append(kv, attribute.String("keyhold.operation", k.op))
	}
	if k.outcome != "" {
		kv = append(kv, attribute.String("keyhold.outcome", k.outcome))
	}
	o, _ := m.sets.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(kv...)))
	return o.(metric.MeasurementOption)
}

// outcome names what err says, for the outcome attribute.
func outcome(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return "ok"
	case ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case isNodeFailure(err) || errors.Is(err, ErrUnavailable):
		return "node_failure"
	case errors.Is(err, ErrBusy):
		return "busy"
	}
	return "refused"
}

// call records one engine call.
func (m *metrics) call(ctx context.Context, partition, op string, start time.Time, err error) {
	out := outcome(ctx, err)
	// Measurements must not be dropped because the caller's context ended:
	// that is when they matter.
	bg := context.WithoutCancel(ctx)
	m.calls.Add(bg, 1, m.set(setKey{partition: partition, op: op, outcome: out}))
	m.callDuration.Record(bg, time.Since(start).Seconds(), m.set(setKey{partition: partition, op: op}))
}

// attempt records one attempt on a node.
func (m *metrics) attempt(ctx context.Context, partition, node, op string, d time.Duration, err error) {
	out := outcome(ctx, err)
	bg := context.WithoutCancel(ctx)
	m.attempts.Add(bg, 1, m.set(setKey{partition: partition, node: node, op: op, outcome: out}))
	m.attemptDuration.Record(bg, d.Seconds(), m.set(setKey{partition: partition, node: node}))
}

// failover records that a call left node for another.
func (m *metrics) failover(ctx context.Context, partition, node string) {
	m.failovers.Add(context.WithoutCancel(ctx), 1, m.set(setKey{partition: partition, node: node}))
}

// login records a login the engine made by itself.
func (m *metrics) login(ctx context.Context, partition, node string) {
	m.logins.Add(context.WithoutCancel(ctx), 1, m.set(setKey{partition: partition, node: node}))
}
