package benchmark

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCheckAcceptsRealOutputsAndRejectsOthers(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	edPub, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)

	ecSig, err := ecdsa.SignASN1(rand.Reader, ec, Digest)
	require.NoError(t, err)
	pkcs1, err := rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, Digest)
	require.NoError(t, err)
	pss, err := rsa.SignPSS(rand.Reader, rk, crypto.SHA256, Digest, PSSOptions)
	require.NoError(t, err)
	ct, err := Ciphertext(&rk.PublicKey)
	require.NoError(t, err)
	plain, err := rsa.DecryptOAEP(sha1.New(), rand.Reader, rk, ct, nil)
	require.NoError(t, err)

	cases := []struct {
		op  Operation
		pub crypto.PublicKey
		out []byte
	}{
		{ECDSAP256, &ec.PublicKey, ecSig},
		{RSA2048PKCS1, &rk.PublicKey, pkcs1},
		{RSA2048PSS, &rk.PublicKey, pss},
		{Ed25519, edPub, ed25519.Sign(ed, Message)},
		{RSA2048OAEP, &rk.PublicKey, plain},
	}
	for _, c := range cases {
		t.Run(string(c.op), func(t *testing.T) {
			require.NoError(t, Check(c.op, c.pub, c.out))
			tampered := append([]byte(nil), c.out...)
			tampered[len(tampered)/2] ^= 1
			assert.ErrorIs(t, Check(c.op, c.pub, tampered), ErrWrongOutput)
			if c.op != RSA2048OAEP { // a plaintext is checked without the key
				assert.ErrorIs(t, Check(c.op, nil, c.out), ErrWrongOutput, "a key of the wrong type fails")
			}
		})
	}
	assert.Error(t, Check("MD5 with RSA", &rk.PublicKey, pkcs1))
}

func TestMeasureCountsAndSummarises(t *testing.T) {
	var calls atomic.Int64
	task := func() ([]byte, error) {
		calls.Add(1)
		time.Sleep(100 * time.Microsecond)
		return nil, nil
	}
	stats, err := Measure([]Task{task, task, task}, Window{Warmup: 10 * time.Millisecond, Measured: 50 * time.Millisecond})
	require.NoError(t, err)
	assert.Positive(t, stats.Ops)
	assert.LessOrEqual(t, int64(stats.Ops), calls.Load(), "warm-up operations are not counted")
	assert.InDelta(t, float64(stats.Ops)/0.05, stats.PerSecond, 1e-6)
	assert.GreaterOrEqual(t, stats.P50, 100*time.Microsecond, "a latency is never shorter than the operation")
	assert.LessOrEqual(t, stats.P50, stats.P99)
}

// TestMeasureWaitsForOneOperation: an operation slower than the whole
// window (a stalled call on a loaded machine) is measured over the time it
// took, instead of leaving the window empty.
func TestMeasureWaitsForOneOperation(t *testing.T) {
	slow := func() ([]byte, error) {
		<-time.After(20 * time.Millisecond)
		return nil, nil
	}
	stats, err := Measure([]Task{slow}, Window{Measured: time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, 1, stats.Ops)
	assert.GreaterOrEqual(t, stats.P50, 20*time.Millisecond)
	assert.Positive(t, stats.PerSecond)
	assert.LessOrEqual(t, stats.PerSecond, 1/stats.P50.Seconds(), "the window lasted at least the operation")
}

func TestMeasureStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	failing := func() ([]byte, error) {
		if calls.Add(1) == 5 {
			return nil, boom
		}
		return nil, nil
	}
	_, err := Measure([]Task{failing, failing}, Window{Measured: time.Minute})
	require.ErrorIs(t, err, boom, "an error ends the measurement long before its minute")
}

func TestMeasureRefusesNonsense(t *testing.T) {
	_, err := Measure(nil, Window{Measured: time.Second})
	assert.Error(t, err)
	_, err = Measure([]Task{func() ([]byte, error) { return nil, nil }}, Window{})
	assert.Error(t, err)
}

func TestPercentileNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	assert.Equal(t, time.Duration(50), percentile(d, 50))
	assert.Equal(t, time.Duration(99), percentile(d, 99))
	assert.Equal(t, time.Duration(7), percentile([]time.Duration{7}, 99))
	assert.Equal(t, time.Duration(2), percentile([]time.Duration{1, 2}, 99))
}

func TestCellTakesTheMedianRound(t *testing.T) {
	r := Run{Results: []Result{
		{Backend: "a", Operation: ECDSAP256, Concurrency: 8, Round: 1, Stats: Stats{PerSecond: 300, P50: 3}},
		{Backend: "a", Operation: ECDSAP256, Concurrency: 8, Round: 2, Stats: Stats{PerSecond: 100, P50: 1}},
		{Backend: "a", Operation: ECDSAP256, Concurrency: 8, Round: 3, Stats: Stats{PerSecond: 200, P50: 2}},
		{Backend: "a", Operation: Ed25519, Concurrency: 8, Round: 1, Unsupported: "no Ed25519"},
		{Backend: "b", Operation: ECDSAP256, Concurrency: 8, Round: 1, Error: "it broke"},
	}}
	c := r.Cell("a", ECDSAP256, 8)
	assert.True(t, c.Found)
	assert.Equal(t, 3, c.Rounds)
	assert.Equal(t, Stats{PerSecond: 200, P50: 2}, c.Median, "the median round, with its own latencies")
	assert.Equal(t, 100.0, c.Min)
	assert.Equal(t, 300.0, c.Max)

	assert.Equal(t, "no Ed25519", r.Cell("a", Ed25519, 8).Unsupported)
	assert.Equal(t, "it broke", r.Cell("b", ECDSAP256, 8).Error)
	assert.False(t, r.Cell("a", ECDSAP256, 1).Found)
}
