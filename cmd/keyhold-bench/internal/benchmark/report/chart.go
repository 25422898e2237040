package report

import (
	"bytes"
	"errors"
	"image/color"
	"math"
	"strconv"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
)

// The chart's geometry, in pixels at chartDPI. Panels keep one size
// whatever the number of operations, so the picture grows by rows rather
// than squeezing its text.
const (
	chartDPI      = 150
	chartWidth    = 1800
	chartRowH     = 550
	chartCols     = 3
	chartBarGroup = 0.8 // the share of a concurrency slot that its bars fill
)

// chartFont is sans-serif, which stays legible at the small sizes of tick
// labels better than plot's default serif.
var chartFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// palette gives backends colours that stay distinct to readers with common
// colour-vision deficiencies; a backend keeps its colour in every panel
// because colours are assigned by its position in the run.
var palette = []color.Color{
	rgb(0x4e79a7), rgb(0xf28e2b), rgb(0xe15759), rgb(0x76b7b2), rgb(0x59a14f),
	rgb(0xedc948), rgb(0xb07aa1), rgb(0xff9da7), rgb(0x9c755f), rgb(0xbab0ac),
}

func rgb(v uint32) color.Color {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}

// backendColor cycles the palette when a run has more backends than it
// holds, which beats failing to draw.
func backendColor(i int) color.Color {
	return palette[i%len(palette)]
}

// Chart draws run as a PNG: one panel of grouped bars per operation, with a
// bar per backend at each concurrency level, and a legend in a tile of its
// own so that no panel's bars hide under it. Operations a backend cannot do
// or failed at get an "n/a" mark instead of a bar, so that a missing bar is
// never read as a throughput of zero.
//
// The picture depends on run alone; nothing like the time of drawing goes
// into it, so regenerating from the same run gives the same picture.
func Chart(run *benchmark.Run) ([]byte, error) {
	return drawChart(run, throughputPanel, legendKey{
		swatch: fillSwatch,
		aspect: 1,
		note:   "n/a: unsupported or failed",
	})
}

// drawChart lays out the panels that panel makes, one per operation, in
// rows of chartCols tiles, with the legend in the tile after the last
// panel, and encodes the picture as a PNG. Every chart goes through it so
// that the charts of a page share one geometry and can be read side by
// side.
func drawChart(run *benchmark.Run, panel func(*benchmark.Run, benchmark.Operation) *plot.Plot, key legendKey) ([]byte, error) {
	if len(run.Operations) == 0 {
		return nil, errors.New("report: the run has no operations to chart")
	}
	if len(run.Concurrency) == 0 {
		return nil, errors.New("report: the run has no concurrency levels to chart")
	}
	tiles := len(run.Operations) + 1 // the last one holds the legend
	cols := min(chartCols, tiles)
	rows := (tiles + cols - 1) / cols

	px := func(n int) vg.Length { return vg.Length(n) * vg.Inch / chartDPI }
	img := vgimg.NewWith(vgimg.UseWH(px(chartWidth), px(chartRowH*rows)), vgimg.UseDPI(chartDPI))
	dc := draw.New(img)

	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
	}
	for i, op := range run.Operations {
		grid[i/cols][i%cols] = panel(run, op)
	}
	t := draw.Tiles{
		Rows: rows, Cols: cols,
		PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(12),
		PadX: vg.Points(24), PadY: vg.Points(20),
	}
	// Aligning gives every panel the same data area whatever the width of
	// its tick labels, so that concurrency levels line up down the columns.
	canvases := plot.Align(grid, t, dc)
	for i := range run.Operations {
		grid[i/cols][i%cols].Draw(canvases[i/cols][i%cols])
	}
	last := len(run.Operations)
	drawLegend(run, t.At(dc, last%cols, last/cols), key)

	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newPanel starts the plot of one operation with what every chart's panels
// share: the title, fonts, and the concurrency levels along x, evenly
// spaced at 0, 1, 2... and labelled like the tables' columns. The levels
// are categories rather than a scale because they are spread
// geometrically (1, 8, 32, 128): a linear axis would crowd the low ones.
func newPanel(run *benchmark.Run, op benchmark.Operation, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = string(op)
	p.Title.TextStyle.Font = font.From(chartFont, 13)
	p.Title.TextStyle.Font.Weight = xfont.WeightBold
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = "concurrent callers"
	p.Y.Label.Text = yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(chartFont, 11)
		a.Tick.Label.Font = font.From(chartFont, 10)
	}
	names := make([]string, len(run.Concurrency))
	for i, n := range run.Concurrency {
		names[i] = strconv.Itoa(n)
	}
	p.NominalX(names...)
	return p
}

// horizontalGrid draws lines across a panel at the y axis's labelled
// ticks only: the x axis is categories, whose lines would cut through the
// data.
func horizontalGrid() *plotter.Grid {
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	return grid
}

// throughputPanel builds the bar chart of one operation.
func throughputPanel(run *benchmark.Run, op benchmark.Operation) *plot.Plot {
	p := newPanel(run, op, "operations/s")
	bars := &groupedBars{
		values: make([][]float64, len(run.Backends)),
		na:     make([][]bool, len(run.Backends)),
		label: text.Style{
			Color:    color.Gray{Y: 0x60},
			Font:     font.From(chartFont, 8),
			Rotation: math.Pi / 2,
			XAlign:   draw.XLeft,
			YAlign:   draw.YCenter,
			Handler:  p.TextHandler,
		},
	}
	for b, backend := range run.Backends {
		bars.values[b] = make([]float64, len(run.Concurrency))
		bars.na[b] = make([]bool, len(run.Concurrency))
		for i, n := range run.Concurrency {
			c := run.Cell(backend.Name, op, n)
			bars.values[b][i] = math.NaN()
			switch {
			case measured(c):
				bars.values[b][i] = c.Median.PerSecond
			case c.Unsupported != "" || c.Error != "":
				bars.na[b][i] = true
			}
		}
	}
	p.Add(horizontalGrid(), bars)

	// Bars grow from zero: a bar chart whose axis starts elsewhere
	// misstates ratios. The headroom keeps the tallest bar off the frame.
	p.Y.Min = 0
	p.Y.Max *= 1.08
	p.Y.Tick.Marker = countTicks{}
	return p
}

// groupedBars draws one group of bars per concurrency level. It sizes bars
// from the drawn canvas, which plotter.BarChart cannot: its bar width is
// absolute, and would have to be guessed before the layout is known.
type groupedBars struct {
	// values[backend][level] is the throughput, NaN when there is none.
	values [][]float64
	// na[backend][level] marks unsupported or failed cells.
	na    [][]bool
	label text.Style
}

// Plot implements plot.Plotter.
func (g *groupedBars) Plot(c draw.Canvas, p *plot.Plot) {
	if len(g.values) == 0 {
		return
	}
	trX, trY := p.Transforms(&c)
	group := (trX(1) - trX(0)) * chartBarGroup
	bar := group / vg.Length(len(g.values))
	gap := min(bar*0.08, vg.Points(1.5))
	base := trY(0)
	for b, levels := range g.values {
		for i, v := range levels {
			left := trX(float64(i)) - group/2 + bar*vg.Length(b)
			if g.na[b][i] {
				c.FillText(g.label, vg.Point{X: left + bar/2, Y: base + vg.Points(3)}, "n/a")
			}
			if math.IsNaN(v) {
				continue
			}
			c.FillPolygon(backendColor(b), c.ClipPolygonY([]vg.Point{
				{X: left + gap, Y: base},
				{X: left + gap, Y: trY(v)},
				{X: left + bar - gap, Y: trY(v)},
				{X: left + bar - gap, Y: base},
			}))
		}
	}
}

// DataRange implements plot.DataRanger: half a slot either side of the
// outer groups, and from zero to the highest bar.
func (g *groupedBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	levels := 0
	ymax = 0
	for _, vs := range g.values {
		levels = max(levels, len(vs))
		for _, v := range vs {
			if !math.IsNaN(v) {
				ymax = max(ymax, v)
			}
		}
	}
	if ymax == 0 {
		ymax = 1 // an empty panel still needs an axis
	}
	return -0.5, float64(levels) - 0.5, 0, ymax
}

// countTicks labels the throughput axis like the tables do, with thousands
// separators, where plot's default would print "20000".
type countTicks struct{}

// Ticks implements plot.Ticker.
func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	whole := true
	for _, t := range ticks {
		if t.Label != "" && t.Value != math.Trunc(t.Value) {
			whole = false
		}
	}
	for i, t := range ticks {
		if t.Label == "" {
			continue
		}
		if whole {
			ticks[i].Label = groupThousands(int64(t.Value))
		} else {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'f', -1, 64)
		}
	}
	return ticks
}

// legendKey is what a chart's legend shows beside each backend's title,
// and the note under them, so that one legend serves charts that mark
// backends differently.
type legendKey struct {
	// swatch draws backend b's mark in r, whose height is the legend's
	// font size.
	swatch func(c draw.Canvas, b int, r vg.Rectangle)
	// aspect is the swatch's width over its height.
	aspect vg.Length
	// note says what a missing mark means.
	note string
}

// fillSwatch fills r with the backend's colour, as its bars are filled.
func fillSwatch(c draw.Canvas, b int, r vg.Rectangle) {
	c.FillPolygon(backendColor(b), []vg.Point{
		{X: r.Min.X, Y: r.Min.Y}, {X: r.Min.X, Y: r.Max.Y},
		{X: r.Max.X, Y: r.Max.Y}, {X: r.Max.X, Y: r.Min.Y},
	})
}

// drawLegend fills a tile with the backends' marks and titles, and the
// key's note. The font shrinks when long titles would not fit.
func drawLegend(run *benchmark.Run, c draw.Canvas, key legendKey) {
	entries := make([]string, len(run.Backends))
	for i, b := range run.Backends {
		entries[i] = b.Title
		if entries[i] == "" {
			entries[i] = b.Name
		}
	}
	avail := c.Max.X - c.Min.X - vg.Points(16)

	size := vg.Length(12)
	var sty, head text.Style
	var swatchW, swatchH, lineH, width vg.Length
	for {
		sty = text.Style{Color: color.Black, Font: font.From(chartFont, size), Handler: plot.DefaultTextHandler,
			XAlign: draw.XLeft, YAlign: draw.YCenter}
		head = sty
		head.Font.Weight = xfont.WeightBold
		head.Font.Size = size + 1
		swatchH = size
		swatchW = swatchH * key.aspect
		lineH = size * 1.9
		width = head.Width("Backends")
		for _, e := range entries {
			width = max(width, swatchW+size/2+sty.Width(e))
		}
		width = max(width, sty.Width(key.note))
		if width <= avail || size <= 7 {
			break
		}
		size -= 0.5
	}

	height := lineH * vg.Length(len(entries)+3)
	x := c.Min.X + max((c.Max.X-c.Min.X-width)/2, vg.Points(8))
	y := c.Max.Y - max((c.Max.Y-c.Min.Y-height)/2, 0) - lineH/2

	c.FillText(head, vg.Point{X: x, Y: y}, "Backends")
	y -= lineH
	for i, e := range entries {
		key.swatch(c, i, vg.Rectangle{
			Min: vg.Point{X: x, Y: y - swatchH/2},
			Max: vg.Point{X: x + swatchW, Y: y + swatchH/2},
		})
		c.FillText(sty, vg.Point{X: x + swatchW + size/2, Y: y}, e)
		y -= lineH
	}
	y -= lineH / 2
	noteSty := sty
	noteSty.Color = color.Gray{Y: 0x60}
	c.FillText(noteSty, vg.Point{X: x, Y: y}, key.note)
}
