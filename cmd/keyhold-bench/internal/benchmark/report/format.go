package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// formatCount writes a count of operations (or a rate) for people: whole
// numbers with thousands separators, since rates span five orders of
// magnitude across backends and separators make them comparable at a glance.
// Rates under 10 keep a decimal, so that a slow but working backend never
// reads as zero.
func formatCount(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	if v == 0 {
		return "0"
	}
	if math.Abs(v) < 9.95 {
		if s := strconv.FormatFloat(v, 'f', 1, 64); s != "0.0" && s != "-0.0" {
			return s
		}
		// Below 0.05: as many digits as it takes to show it is not zero.
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
	return groupThousands(int64(math.Round(v)))
}

// groupThousands writes n with a comma between each group of three digits.
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	b.WriteString(sign)
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// formatThroughput writes operations per second.
func formatThroughput(perSecond float64) string {
	return formatCount(perSecond) + "/s"
}

// latencyUnits are the units formatLatency chooses from, smallest first.
var latencyUnits = []struct {
	name string
	size time.Duration
}{
	{"ns", time.Nanosecond},
	{"µs", time.Microsecond},
	{"ms", time.Millisecond},
	{"s", time.Second},
}

// formatLatency writes a latency with two or three significant digits in
// the unit that keeps the number between 1 and 999 ("85 µs", "1.2 ms",
// "12 ms", "1.3 s"): latencies of local and networked backends differ by
// orders of magnitude, and a fixed unit would make one kind unreadable.
func formatLatency(d time.Duration) string {
	if d < 0 {
		return "-" + formatLatency(-d)
	}
	u := 0
	for u+1 < len(latencyUnits) && d >= latencyUnits[u+1].size {
		u++
	}
	for {
		v := float64(d) / float64(latencyUnits[u].size)
		if s := strconv.FormatFloat(v, 'f', 1, 64); v < 10 && s != "10.0" {
			if s == "0.0" {
				s = "0"
			}
			return s + " " + latencyUnits[u].name
		}
		r := math.Round(v)
		// 999.7 µs rounds to 1000 µs, which reads better as 1.0 ms.
		if r >= 1000 && u+1 < len(latencyUnits) {
			u++
			continue
		}
		return strconv.FormatFloat(r, 'f', 0, 64) + " " + latencyUnits[u].name
	}
}

// formatRatio writes how many times one throughput is another's, with
// three significant digits at most: more would claim a precision that
// run-to-run variation does not have.
func formatRatio(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0) || r < 0:
		return "–"
	case r < 9.995:
		return strconv.FormatFloat(r, 'f', 2, 64) + "×"
	case r < 99.95:
		return strconv.FormatFloat(r, 'f', 1, 64) + "×"
	}
	return groupThousands(int64(math.Round(r))) + "×"
}

// formatWindow writes a measurement window the way a person would say it
// ("10 s", "1 min", "500 ms"), not as time.Duration's "1m0s".
func formatWindow(d time.Duration) string {
	switch {
	case d == 0:
		return "0 s"
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	case d < time.Second && d%time.Millisecond == 0:
		return fmt.Sprintf("%d ms", d/time.Millisecond)
	}
	return formatLatency(d)
}

// formatCallers labels a concurrency column.
func formatCallers(n int) string {
	if n == 1 {
		return "1 caller"
	}
	return groupThousands(int64(n)) + " callers"
}

// formatLatencyTick labels a tick of a latency axis, given in nanoseconds,
// in the unit that keeps the number from 1 to 999 where it can ("100 µs",
// "1 ms", "1 s"). Unlike formatLatency it writes no more digits than the
// value has: ticks are exact round numbers, not measurements, and "1.0 ms"
// would claim a precision that means nothing there.
func formatLatencyTick(ns float64) string {
	u := 0
	for u+1 < len(latencyUnits) && float64(latencyUnits[u+1].size) <= ns {
		u++
	}
	v := ns / float64(latencyUnits[u].size)
	if v == math.Trunc(v) && v < 1e15 {
		return groupThousands(int64(v)) + " " + latencyUnits[u].name
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + " " + latencyUnits[u].name
}
