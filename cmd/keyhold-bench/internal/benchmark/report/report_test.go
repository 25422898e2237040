package report

import (
	"bytes"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
)

const (
	testCommand     = "go run ./cmd/keyhold-bench -rounds 3 -concurrency 1,8 -out docs/benchmarks.md"
	testUnsupported = "SoftHSM2 has no Ed25519 mechanism."
	testError       = "pkcs11: 0x30: CKR_DEVICE_ERROR"
)

// testRun has three backends, two operations, two concurrency levels and
// three rounds. softhsm cannot do Ed25519, and sdk failed at Ed25519 with 8
// callers.
func testRun() *benchmark.Run {
	run := &benchmark.Run{
		Command: testCommand,
		Date:    time.Date(2026, 7, 30, 14, 5, 0, 0, time.UTC),
		Machine: benchmark.Machine{CPU: "AMD EPYC 7B13", Cores: 8, Memory: "32 GiB", Kernel: "6.8.0", OS: "Ubuntu 24.04"},
		Versions: []benchmark.Version{
			{Name: "Go", Version: "go1.26.0"},
			{Name: "SoftHSM2", Version: "2.6.1"},
		},
		Window:      benchmark.Window{Warmup: 2 * time.Second, Measured: 10 * time.Second},
		Rounds:      3,
		Concurrency: []int{1, 8},
		Operations:  []benchmark.Operation{benchmark.ECDSAP256, benchmark.Ed25519},
		Backends: []benchmark.Backend{
			{Name: "stdlib", Title: "Go standard library", Description: "In-process crypto/ecdsa and crypto/ed25519."},
			{Name: "sdk", Title: "keyhold SDK", Description: "The Go SDK against a local keyhold server."},
			{Name: "softhsm", Title: "crypto11 over SoftHSM2", Description: "crypto11 driving SoftHSM2."},
		},
	}
	// base[backend][op] is the throughput at one caller; 8 callers do
	// four times as much. Rounds multiply it by 0.9, 1.1 and 1, in that
	// order, so the median round is the last one measured.
	base := map[string]map[benchmark.Operation]float64{
		"stdlib":  {benchmark.ECDSAP256: 17512, benchmark.Ed25519: 40000},
		"sdk":     {benchmark.ECDSAP256: 5000, benchmark.Ed25519: 6000},
		"softhsm": {benchmark.ECDSAP256: 2500},
	}
	for round, f := range []float64{0.9, 1.1, 1} {
		for _, b := range run.Backends {
			for _, op := range run.Operations {
				for _, n := range run.Concurrency {
					r := benchmark.Result{Backend: b.Name, Operation: op, Concurrency: n, Round: round}
					switch {
					case b.Name == "softhsm" && op == benchmark.Ed25519:
						r.Unsupported = testUnsupported
					case b.Name == "sdk" && op == benchmark.Ed25519 && n == 8:
						r.Error = testError
					default:
						ps := base[b.Name][op] * f
						if n == 8 {
							ps *= 4
						}
						r.Stats = benchmark.Stats{
							Ops:       int(ps * 10),
							PerSecond: ps,
							P50:       time.Duration(float64(n) * 1e9 / ps),
							P99:       time.Duration(float64(n) * 3e9 / ps),
						}
					}
					run.Results = append(run.Results, r)
				}
			}
		}
	}
	return run
}

// row returns the cells of the table row that starts with first, in the
// section under heading.
func row(t *testing.T, md, heading, first string) []string {
	t.Helper()
	_, section, ok := strings.Cut(md, "\n"+heading+"\n")
	require.True(t, ok, "no heading %q", heading)
	if next := strings.Index(section, "\n#"); next >= 0 {
		section = section[:next]
	}
	for line := range strings.SplitSeq(section, "\n") {
		if strings.HasPrefix(line, "| "+first+" |") {
			cells := strings.Split(strings.Trim(line, "|"), " | ")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			return cells[1:]
		}
	}
	require.Failf(t, "no row", "no row %q under %q", first, heading)
	return nil
}

func TestMarkdown(t *testing.T) {
	run := testRun()
	md := string(Markdown(run, Options{
		ChartFile: "benchmarks.png",
		Comparisons: []Comparison{
			{Title: "Standard library against SoftHSM2", Numerator: "stdlib", Denominator: "softhsm"},
		},
	}))

	assert.True(t, strings.HasPrefix(md, "# Benchmarks\n"))
	assert.Contains(t, md, "Do not edit it by hand")
	assert.Contains(t, md, "```sh\n"+testCommand+"\n```")
	assert.Contains(t, md, "2026-07-30 14:05 UTC")
	assert.Contains(t, md, "warm-up of 2 s")
	assert.Contains(t, md, "measured window of 10 s")
	assert.Contains(t, md, "3 rounds")
	assert.Contains(t, md, "- CPU: AMD EPYC 7B13")
	assert.Contains(t, md, "| SoftHSM2 | 2.6.1 |")
	assert.Contains(t, md, "- `softhsm`: crypto11 over SoftHSM2. crypto11 driving SoftHSM2.")
	assert.Contains(t, md, "![Throughput of each backend, by operation and number of concurrent callers](benchmarks.png)")
	assert.True(t, strings.HasSuffix(md, "|\n"), "the page ends with one newline")

	// The median round (factor 1) shows, with its latencies and the range
	// over the rounds (factors 0.9 and 1.1).
	ecdsa := row(t, md, "### "+string(benchmark.ECDSAP256), "`stdlib`")
	require.Len(t, ecdsa, 2)
	assert.Equal(t, "**17,512/s**<br>p50 57 µs · p99 171 µs<br>(15,761–19,263)", ecdsa[0])
	assert.Equal(t, "**70,048/s**<br>p50 114 µs · p99 343 µs<br>(63,043–77,053)", ecdsa[1])

	// Unsupported and failed cells show their word and a footnote, never a
	// number.
	ed := row(t, md, "### "+string(benchmark.Ed25519), "`softhsm`")
	assert.Equal(t, []string{"unsupported <sup>2</sup>", "unsupported <sup>2</sup>"}, ed)
	ed = row(t, md, "### "+string(benchmark.Ed25519), "`sdk`")
	assert.Equal(t, "**6,000/s**<br>p50 167 µs · p99 500 µs<br>(5,400–6,600)", ed[0])
	assert.Equal(t, "failed <sup>1</sup>", ed[1], "notes are numbered in the order the page shows them")
	assert.Equal(t, 1, strings.Count(md, "<sup>2</sup> "+testUnsupported+"\n"), "one note per table that uses it")
	assert.Contains(t, md, "<sup>1</sup> The measurement failed: `"+testError+"`\n")
	assert.NotContains(t, md, " 0/s")
	assert.NotContains(t, md, "*0/s")

	// 17,512 / 2,500 and 70,048 / 10,000; softhsm has no Ed25519.
	cmp := row(t, md, "### Standard library against SoftHSM2", string(benchmark.ECDSAP256))
	assert.Equal(t, []string{"7.00×", "7.00×"}, cmp)
	cmp = row(t, md, "### Standard library against SoftHSM2", string(benchmark.Ed25519))
	assert.Equal(t, []string{"–", "–"}, cmp)

	assert.Equal(t, md, string(Markdown(run, Options{
		ChartFile: "benchmarks.png",
		Comparisons: []Comparison{
			{Title: "Standard library against SoftHSM2", Numerator: "stdlib", Denominator: "softhsm"},
		},
	})), "the same run gives the same page")
}

func TestMarkdownOneRound(t *testing.T) {
	run := testRun()
	run.Rounds = 1
	var first []benchmark.Result
	for _, r := range run.Results {
		if r.Round == 0 {
			first = append(first, r)
		}
	}
	run.Results = first
	md := string(Markdown(run, Options{}))
	assert.Contains(t, md, "Every cell is measured once.")
	assert.NotContains(t, md, "![")
	assert.NotContains(t, md, "## Comparisons")
	cells := row(t, md, "### "+string(benchmark.ECDSAP256), "`stdlib`")
	assert.Equal(t, "**15,761/s**<br>p50 63 µs · p99 190 µs", cells[0], "no range with one round")
}

func TestMarkdownMissingCell(t *testing.T) {
	run := testRun()
	run.Backends = append(run.Backends, benchmark.Backend{Name: "absent", Title: "Not measured"})
	md := string(Markdown(run, Options{Comparisons: []Comparison{{Title: "Absent", Numerator: "absent", Denominator: "stdlib"}}}))
	assert.Equal(t, []string{"–", "–"}, row(t, md, "### "+string(benchmark.ECDSAP256), "`absent`"))
	assert.Equal(t, []string{"–", "–"}, row(t, md, "### Absent", string(benchmark.ECDSAP256)))
}

// charts are the two pictures of a run; they share their layout.
var charts = []struct {
	name string
	draw func(*benchmark.Run) ([]byte, error)
}{
	{"throughput", Chart},
	{"latency", LatencyChart},
}

func TestCharts(t *testing.T) {
	for _, c := range charts {
		t.Run(c.name, func(t *testing.T) {
			out, err := c.draw(testRun())
			require.NoError(t, err)
			img, err := png.Decode(bytes.NewReader(out))
			require.NoError(t, err)
			// Two operations and the legend fit one row of three panels.
			assert.Equal(t, chartWidth, img.Bounds().Dx())
			assert.Equal(t, chartRowH, img.Bounds().Dy())

			again, err := c.draw(testRun())
			require.NoError(t, err)
			assert.Equal(t, out, again, "the same run gives the same picture")

			_, err = c.draw(&benchmark.Run{})
			assert.Error(t, err)

			// Five panels and the legend take two rows; in the latency chart
			// three of those panels have no point and still need an axis.
			run := testRun()
			run.Operations = benchmark.Operations
			out, err = c.draw(run)
			require.NoError(t, err)
			cfg, err := png.DecodeConfig(bytes.NewReader(out))
			require.NoError(t, err)
			assert.Equal(t, chartWidth, cfg.Width)
			assert.Equal(t, 2*chartRowH, cfg.Height)
		})
	}
	throughput, err := Chart(testRun())
	require.NoError(t, err)
	latency, err := LatencyChart(testRun())
	require.NoError(t, err)
	assert.NotEqual(t, throughput, latency)
}

func TestLatencyPoints(t *testing.T) {
	run := testRun()
	// Backends in the run's order: stdlib, sdk, softhsm.
	ecdsa := p99s(run, benchmark.ECDSAP256)
	require.Len(t, ecdsa, 3)
	for b, backend := range run.Backends {
		for i, n := range run.Concurrency {
			want := float64(run.Cell(backend.Name, benchmark.ECDSAP256, n).Median.P99)
			assert.InDelta(t, want, math.Pow(10, ecdsa[b][i]), want*1e-9, "%s at %d", backend.Name, n)
		}
	}
	// 3 × 1e9 / 17,512 ns: the p99 of the median round, not another's.
	assert.InDelta(t, 171311, math.Pow(10, ecdsa[0][0]), 1)

	// Unsupported and failed cells have no point, never a zero.
	ed := p99s(run, benchmark.Ed25519)
	assert.InDelta(t, 500000, math.Pow(10, ed[1][0]), 1)
	assert.True(t, math.IsNaN(ed[1][1]), "sdk failed with 8 callers")
	assert.True(t, math.IsNaN(ed[2][0]) && math.IsNaN(ed[2][1]), "softhsm has no Ed25519")

	run.Backends = append(run.Backends, benchmark.Backend{Name: "absent"})
	missing := p99s(run, benchmark.ECDSAP256)[3]
	assert.True(t, math.IsNaN(missing[0]) && math.IsNaN(missing[1]), "a backend without results has no points")
}

// tickLabels returns the labels of the ticks of a latency axis, in order.
func tickLabels(lo, hi float64) []string {
	var labels []string
	for _, t := range (latencyTicks{}).Ticks(lo, hi) {
		if t.Label != "" {
			labels = append(labels, t.Label)
		}
	}
	return labels
}

func TestLatencyAxis(t *testing.T) {
	// From 83 µs to 136 ms, as ECDSA's p99s in the published run.
	lo, hi := latencyRange(math.Log10(83e3), math.Log10(136e6))
	assert.Less(t, lo, math.Log10(83e3), "room under the lowest point")
	assert.Greater(t, hi, math.Log10(136e6), "room over the highest point")
	assert.Equal(t, []string{"100 µs", "1 ms", "10 ms", "100 ms"}, tickLabels(lo, hi))
	assert.Equal(t, []string{"100 µs", "1 ms", "10 ms", "100 ms", "1 s"}, tickLabels(5, 9))

	// Unlabelled ticks at the multiples of each power of ten.
	ticks := (latencyTicks{}).Ticks(6, 7)
	require.Len(t, ticks, 10)
	assert.InDelta(t, math.Log10(2e6), ticks[1].Value, 1e-12)
	assert.Empty(t, ticks[1].Label)

	// Data within a decade still gets two labelled powers of ten, with
	// room either side.
	lo, hi = latencyRange(math.Log10(20e3), math.Log10(30e3))
	assert.Equal(t, []float64{4, 5}, []float64{lo, hi})
	assert.Equal(t, []string{"10 µs", "100 µs"}, tickLabels(lo, hi))
	lo, hi = latencyRange(math.Log10(60e3), math.Log10(90e3))
	assert.Equal(t, []string{"10 µs", "100 µs", "1 ms"}, tickLabels(lo, hi), "90 µs with room is over 100 µs")
	// So does a panel without data.
	lo, hi = latencyRange(math.NaN(), math.NaN())
	assert.Equal(t, []string{"100 µs", "1 ms", "10 ms"}, tickLabels(lo, hi))

	// Thirteen decades would crowd: every other one is labelled.
	assert.Equal(t, []string{"1 ns", "100 ns", "10 µs", "1 ms", "100 ms", "10 s", "1,000 s"}, tickLabels(0, 12))
}

func TestFormatLatencyTick(t *testing.T) {
	for ns, want := range map[float64]string{
		1:     "1 ns",
		100:   "100 ns",
		1e3:   "1 µs",
		1e5:   "100 µs",
		1e6:   "1 ms",
		1e7:   "10 ms",
		1e8:   "100 ms",
		1e9:   "1 s",
		1e10:  "10 s",
		1e12:  "1,000 s",
		2e6:   "2 ms",
		2.5e6: "2.5 ms",
	} {
		assert.Equal(t, want, formatLatencyTick(ns), "%v ns", ns)
	}
}

func TestMarkdownLatencyChart(t *testing.T) {
	const (
		throughput = "![Throughput of each backend, by operation and number of concurrent callers](benchmarks.png)\n\n"
		latency    = "![p99 latency of each backend on a log scale, by operation and number of concurrent callers](benchmarks-latency.png)\n\n" +
			"The chart above shows the p99 latency of each cell's median round on a log scale, " +
			"so that tails that differ by orders of magnitude fit one picture.\n\n"
	)
	md := string(Markdown(testRun(), Options{ChartFile: "benchmarks.png", LatencyChartFile: "benchmarks-latency.png"}))
	assert.Contains(t, md, "## Results\n\n"+throughput+latency+"Each cell gives", "right after the throughput chart")

	md = string(Markdown(testRun(), Options{LatencyChartFile: "benchmarks-latency.png"}))
	assert.Contains(t, md, "## Results\n\n"+latency+"Each cell gives", "without the throughput chart")

	md = string(Markdown(testRun(), Options{ChartFile: "benchmarks.png"}))
	assert.Contains(t, md, "## Results\n\n"+throughput+"Each cell gives")
	assert.NotContains(t, md, "latency.png")
	assert.NotContains(t, md, "log scale")
}

func TestFormatLatency(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                        "0 ns",
		850 * time.Nanosecond:    "850 ns",
		999 * time.Nanosecond:    "999 ns",
		1500 * time.Nanosecond:   "1.5 µs",
		85 * time.Microsecond:    "85 µs",
		85400 * time.Nanosecond:  "85 µs",
		9960 * time.Nanosecond:   "10 µs",
		999700 * time.Nanosecond: "1.0 ms",
		1200 * time.Microsecond:  "1.2 ms",
		12 * time.Millisecond:    "12 ms",
		1300 * time.Millisecond:  "1.3 s",
		42 * time.Second:         "42 s",
	} {
		assert.Equal(t, want, formatLatency(d), "%d ns", int64(d))
	}
}

func TestFormatNumbers(t *testing.T) {
	for v, want := range map[float64]string{
		0:          "0",
		0.02:       "0.02",
		0.3:        "0.3",
		4.04:       "4.0",
		9.96:       "10",
		999.4:      "999",
		1000:       "1,000",
		17512.4:    "17,512",
		1234567.89: "1,234,568",
	} {
		assert.Equal(t, want, formatCount(v), "%v", v)
	}
	assert.Equal(t, "17,512/s", formatThroughput(17512))

	for r, want := range map[float64]string{
		2.3149: "2.31×",
		0.5:    "0.50×",
		9.999:  "10.0×",
		42.04:  "42.0×",
		1234:   "1,234×",
	} {
		assert.Equal(t, want, formatRatio(r), "%v", r)
	}

	for d, want := range map[time.Duration]string{
		10 * time.Second:        "10 s",
		time.Minute:             "1 min",
		90 * time.Second:        "90 s",
		500 * time.Millisecond:  "500 ms",
		1500 * time.Millisecond: "1.5 s",
	} {
		assert.Equal(t, want, formatWindow(d), "%v", d)
	}

	assert.Equal(t, "1 caller", formatCallers(1))
	assert.Equal(t, "128 callers", formatCallers(128))
}

func TestCodeSpan(t *testing.T) {
	assert.Equal(t, "`a|b`", strings.ReplaceAll(codeSpan("a|b"), `\|`, "|"))
	assert.Equal(t, "``a`b``", codeSpan("a`b"))
	assert.Equal(t, "`` `a ``", codeSpan("`a"))
	assert.Equal(t, "`two lines`", codeSpan("two\nlines"))
}

func TestMarkdownNotesComeLast(t *testing.T) {
	md := string(Markdown(testRun(), Options{Notes: []byte("\n### Why\n\nBecause of the cores.\n\n")}))
	assert.True(t, strings.HasSuffix(md, "## Reading these numbers\n\n### Why\n\nBecause of the cores.\n"), md[len(md)-200:])
	assert.NotContains(t, string(Markdown(testRun(), Options{})), "Reading these numbers")
}
