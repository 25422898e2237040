package report

import (
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
)

// The look of the latency chart's lines and markers, in the panels and the
// legend alike.
const (
	latencyLineWidth = 1.5 // points
	latencyGlyphSize = 3   // points, the radius of a marker
	// latencyPad is the factor by which a panel's latency axis reaches
	// beyond its lowest and highest point, so that no marker sits on the
	// frame.
	latencyPad = 1.5
)

// LatencyChart draws run's tail latency as a PNG laid out like Chart's, with
// the same colours and legend: one panel per operation, in which each
// backend's line joins the p99 latency of its median round at each
// concurrency level. The latency axis is logarithmic because the tails of
// the backends differ by orders of magnitude under load (a fraction of a
// millisecond for some, hundreds of milliseconds for others), which a linear
// axis would flatten into the floor for all but the slowest.
//
// A backend without a result at a level (unsupported, failed or not
// measured) has no point there and its line breaks, since a latency of zero
// would be a claim, and one a log scale cannot even draw.
//
// Like Chart, the picture depends on run alone.
func LatencyChart(run *benchmark.Run) ([]byte, error) {
	return drawChart(run, latencyPanel, legendKey{
		swatch: lineSwatch,
		aspect: 2, // room for a stretch of line either side of the marker
		note:   "no point: unsupported or failed",
	})
}

// latencyPanel builds the line chart of one operation.
//
// Its y axis is linear in log10 of the latency rather than a
// plot.LogScale. The picture is the same, but plot (v0.17) places the y
// label's glyph box at the arithmetic mean of the axis range, which on a
// log scale lies near the top, and so leaves a band of blank space under
// the panel's title.
func latencyPanel(run *benchmark.Run, op benchmark.Operation) *plot.Plot {
	p := newPanel(run, op, "p99 latency (log scale)")
	p.Add(horizontalGrid(), &latencyLines{values: p99s(run, op)})
	p.Y.Min, p.Y.Max = latencyRange(p.Y.Min, p.Y.Max)
	p.Y.Tick.Marker = latencyTicks{}
	return p
}

// p99s returns log10 of the p99 latency in nanoseconds of the median round
// of each backend (first index) at each concurrency level (second), with
// NaN where there is none to plot.
func p99s(run *benchmark.Run, op benchmark.Operation) [][]float64 {
	values := make([][]float64, len(run.Backends))
	for b, backend := range run.Backends {
		values[b] = make([]float64, len(run.Concurrency))
		for i, n := range run.Concurrency {
			values[b][i] = math.NaN()
			// A p99 of zero cannot be drawn on a log scale, and no real
			// operation takes no time, so it is left out with the rest.
			if c := run.Cell(backend.Name, op, n); measured(c) && c.Median.P99 > 0 {
				values[b][i] = math.Log10(float64(c.Median.P99))
			}
		}
	}
	return values
}

// logSlack absorbs math.Log10's rounding, which can put an exact power of
// ten a hair off its exponent, when exponents are compared.
const logSlack = 1e-9

// latencyRange returns the range of a latency axis for data from lo to hi,
// both in log10 of nanoseconds: the data with some room either side,
// widened out to whole decades when that would hold fewer than two powers
// of ten, so that the reader always has two labelled ticks to read the
// scale from.
func latencyRange(lo, hi float64) (float64, float64) {
	if !finite(lo) || !finite(hi) || hi < lo {
		// No data, so any scale will do; a millisecond is typical.
		lo, hi = 6, 6
	}
	pad := math.Log10(latencyPad)
	lo, hi = lo-pad, hi+pad
	if math.Floor(hi+logSlack)-math.Ceil(lo-logSlack) >= 1 {
		return lo, hi
	}
	bottom, top := math.Floor(lo+logSlack), math.Ceil(hi-logSlack)
	return bottom, max(top, bottom+1)
}

func finite(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0)
}

// latencyLines draws a line with markers per backend. It is a plotter of
// its own, rather than a plotter.Line per backend, because those reject
// NaN, and a missing level must break the line rather than join its
// neighbours as if it had been measured.
type latencyLines struct {
	// values[backend][level] is log10 of the latency in nanoseconds, NaN
	// when there is none.
	values [][]float64
}

// Plot implements plot.Plotter. Every line goes down before any marker, so
// that no backend's line hides another's measurement.
func (l *latencyLines) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for b, levels := range l.values {
		var lines [][]vg.Point
		var cur []vg.Point
		for i, v := range levels {
			if math.IsNaN(v) {
				lines, cur = append(lines, cur), nil
				continue
			}
			cur = append(cur, vg.Point{X: trX(float64(i)), Y: trY(v)})
		}
		lines = append(lines, cur)
		// A lone point gets its marker only: a line of one point would
		// draw a dot of its own under it.
		joined := lines[:0]
		for _, line := range lines {
			if len(line) > 1 {
				joined = append(joined, line)
			}
		}
		c.StrokeLines(latencyLine(b), c.ClipLinesXY(joined...)...)
	}
	for b, levels := range l.values {
		for i, v := range levels {
			if !math.IsNaN(v) {
				c.DrawGlyph(latencyGlyph(b), vg.Point{X: trX(float64(i)), Y: trY(v)})
			}
		}
	}
}

// DataRange implements plot.DataRanger: half a slot either side of the
// outer levels, as the bar chart has, and the lowest and highest latency.
// With no latency at all, the y range is NaN, and latencyRange picks one.
func (l *latencyLines) DataRange() (xmin, xmax, ymin, ymax float64) {
	levels := 0
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for _, vs := range l.values {
		levels = max(levels, len(vs))
		for _, v := range vs {
			if !math.IsNaN(v) {
				ymin, ymax = min(ymin, v), max(ymax, v)
			}
		}
	}
	if ymin > ymax {
		ymin, ymax = math.NaN(), math.NaN()
	}
	return -0.5, float64(levels) - 0.5, ymin, ymax
}

// latencyLine is the style of backend b's line.
func latencyLine(b int) draw.LineStyle {
	return draw.LineStyle{Color: backendColor(b), Width: vg.Points(latencyLineWidth)}
}

// latencyGlyph is the style of backend b's markers. Shapes cycle as well
// as colours: lines of similar backends overlap, and a shape tells them
// apart where colours are hard to tell apart or print in grey.
func latencyGlyph(b int) draw.GlyphStyle {
	return draw.GlyphStyle{
		Color:  backendColor(b),
		Radius: vg.Points(latencyGlyphSize),
		Shape:  glyphShapes[b%len(glyphShapes)],
	}
}

// glyphShapes are all filled, so that a line running through a marker
// cannot be mistaken for part of an outline.
var glyphShapes = []draw.GlyphDrawer{
	draw.CircleGlyph{},
	draw.BoxGlyph{},
	draw.PyramidGlyph{},
	// A diamond, and a triangle pointing down (PyramidGlyph upside down),
	// sized to about the area of the others.
	polygonGlyph{{X: 0, Y: 1.25}, {X: 1.25, Y: 0}, {X: 0, Y: -1.25}, {X: -1.25, Y: 0}},
	polygonGlyph{{X: 0, Y: -1.25}, {X: -1.0825, Y: 0.625}, {X: 1.0825, Y: 0.625}},
}

// polygonGlyph fills a polygon whose corners are given in multiples of the
// glyph's radius from its centre, for the shapes plot lacks.
type polygonGlyph []vg.Point

// DrawGlyph implements draw.GlyphDrawer.
func (g polygonGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	corners := make([]vg.Point, len(g))
	for i, v := range g {
		corners[i] = vg.Point{X: pt.X + v.X*sty.Radius, Y: pt.Y + v.Y*sty.Radius}
	}
	c.FillPolygon(sty.Color, corners)
}

// lineSwatch draws a stretch of backend b's line across r with its marker
// in the middle, as the panels draw them.
func lineSwatch(c draw.Canvas, b int, r vg.Rectangle) {
	mid := (r.Min.Y + r.Max.Y) / 2
	c.StrokeLine2(latencyLine(b), r.Min.X, mid, r.Max.X, mid)
	c.DrawGlyphNoClip(latencyGlyph(b), vg.Point{X: (r.Min.X + r.Max.X) / 2, Y: mid})
}

// latencyTicks marks an axis of log10 of nanoseconds: a labelled tick at
// each power of ten and unlabelled ones at its multiples, whose narrowing
// gaps show at a glance that the scale is logarithmic. The labels are in
// the units of the tables ("100 µs", "1 ms"), never exponents.
type latencyTicks struct{}

// maxLatencyLabels is the most power-of-ten labels an axis gets before it
// labels only every other one (or third...), so that labels never crowd.
const maxLatencyLabels = 7

// Ticks implements plot.Ticker.
func (latencyTicks) Ticks(lo, hi float64) []plot.Tick {
	if !finite(lo) || !finite(hi) || hi < lo {
		return nil
	}
	first, last := int(math.Floor(lo+logSlack)), int(math.Floor(hi+logSlack))
	step := max(1, (last-first+maxLatencyLabels)/maxLatencyLabels)
	var ticks []plot.Tick
	for k := first; k <= last; k++ {
		for m := 1; m < 10; m++ {
			// Exactly k for m = 1, so that a power of ten on the edge of
			// the range is in it.
			v := float64(k) + math.Log10(float64(m))
			if v < lo-logSlack || v > hi+logSlack {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 && k%step == 0 {
				t.Label = formatLatencyTick(math.Pow10(k))
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}
