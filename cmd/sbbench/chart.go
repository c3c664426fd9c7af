package main

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// seriesColors: one per ISA in -isa order, then the Go peer's (grey).
var seriesColors = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, // blue
	color.RGBA{0xff, 0x7f, 0x0e, 0xff}, // orange
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, // green
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, // purple
}

var peerColor = color.Gray{0xa0}

// writeChart draws the measured speedup of every block and network row
// of runs (one bar series per run, that is per ISA, and one for the Go
// peer, from the first run that timed it) beside the FLOP ratio (a black
// tick per row), horizontally, the rows top to bottom in table order, and
// saves it as file (.svg or .png).
func writeChart(file string, runs []*result) error {
	type cat struct{ table, name string }
	var cats []cat
	for _, r := range runs {
		for _, row := range r.rows {
			c := cat{row.Table, row.Name}
			if row.Speedup > 0 && !slices.Contains(cats, c) {
				cats = append(cats, c)
			}
		}
	}
	if len(cats) == 0 {
		return fmt.Errorf("no block or network rows to draw")
	}
	find := func(r *result, c cat) *Row {
		for _, row := range r.rows {
			if row.Table == c.table && row.Name == c.name && row.Speedup > 0 {
				return row
			}
		}
		return nil
	}
	// Rows are drawn top to bottom in table order, a blank row between
	// the blocks and the networks, and blank rows on top for the legend.
	const legendRows = 3
	pos := make([]float64, len(cats)) // y of each category
	rowsTotal := 0
	for i, c := range cats {
		if i > 0 && c.table != cats[i-1].table {
			rowsTotal++
		}
		pos[i] = float64(rowsTotal)
		rowsTotal++
	}
	rowsTotal += legendRows
	labels := make([]string, rowsTotal)
	for i, c := range cats {
		pos[i] = float64(rowsTotal-1-legendRows) - pos[i]
		labels[int(pos[i])] = c.name
		if c.table == "nets" {
			labels[int(pos[i])] = c.name + " (network)"
		}
	}

	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	plotter.DefaultFont = plot.DefaultFont
	p := plot.New()
	info := runs[0].info
	p.Title.Text = fmt.Sprintf("Spatial-bottleneck speedup on %s\n%s, batch %d, %s", info.CPU, plural(info.Threads, "thread"), info.Batch, info.Go)
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.X.Label.Text = "speedup = regular time / spatial-bottleneck time"
	p.X.Label.TextStyle.Font.Size = vg.Points(10)
	p.X.Min = 0
	p.NominalY(labels...)
	p.Y.Tick.Label.Font.Size = vg.Points(9)
	grid := plotter.NewGrid()
	grid.Horizontal.Width = 0
	p.Add(grid)

	type series struct {
		label string
		vals  []float64 // per category, 0: none
		color color.Color
	}
	var ss []series
	for k, r := range runs {
		s := series{label: "sbconv, " + r.info.ISA, color: seriesColors[k%len(seriesColors)], vals: make([]float64, len(cats))}
		for i, c := range cats {
			if row := find(r, c); row != nil {
				s.vals[i] = row.Speedup
			}
		}
		ss = append(ss, s)
	}
	for _, r := range runs {
		if !slices.ContainsFunc(r.rows, func(row *Row) bool { return row.GonumSpeedup > 0 }) {
			continue
		}
		s := series{label: "im2col + gonum (the Go peer)", color: peerColor, vals: make([]float64, len(cats))}
		for i, c := range cats {
			if row := find(r, c); row != nil {
				s.vals[i] = row.GonumSpeedup
			}
		}
		ss = append(ss, s)
		break
	}

	barW := vg.Points(8)
	pitch := barW*vg.Length(len(ss)) + vg.Points(6)
	xmax := 1.0
	for k, s := range ss {
		vals := make(plotter.Values, rowsTotal)
		for i, v := range s.vals {
			vals[int(pos[i])] = v
			xmax = max(xmax, v)
		}
		bc, err := plotter.NewBarChart(vals, barW)
		if err != nil {
			return err
		}
		bc.Horizontal = true
		bc.Color = s.color
		bc.LineStyle.Width = 0
		// Series top to bottom within a row, the first on top.
		bc.Offset = barW * vg.Length(float64(len(ss)-1)/2-float64(k))
		p.Add(bc)
		p.Legend.Add(s.label, bc)
	}
	// The FLOP ratio: a black tick across each row's bars.
	var ticks plotter.XYs
	for i, c := range cats {
		for _, r := range runs {
			if row := find(r, c); row != nil {
				ticks = append(ticks, plotter.XY{X: row.FLOPRatio, Y: pos[i]})
				xmax = max(xmax, row.FLOPRatio)
				break
			}
		}
	}
	sc, err := plotter.NewScatter(ticks)
	if err != nil {
		return err
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: pitch / 2, Shape: tickGlyph{}}
	p.Add(sc)
	p.Legend.Add("FLOP ratio: the speedup the arithmetic allows", tickThumb{})
	// The speedup of the first series written at the end of its bars.
	var at plotter.XYs
	var texts []string
	for i, v := range ss[0].vals {
		if v > 0 {
			at = append(at, plotter.XY{X: v, Y: pos[i]})
			texts = append(texts, fmt.Sprintf(" %.2f", v))
		}
	}
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: at, Labels: texts})
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Font.Size = vg.Points(7)
		lb.TextStyle[i].YAlign = draw.YCenter
		lb.Offset = vg.Point{Y: barW * vg.Length(float64(len(ss)-1)/2)}
	}
	p.Add(lb)
	// No speedup: x = 1.
	one, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.5}, {X: 1, Y: float64(rowsTotal-legendRows) - 0.5}})
	if err != nil {
		return err
	}
	one.LineStyle = draw.LineStyle{Color: color.Gray{0x60}, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
	p.Add(one)
	p.X.Max = xmax * 1.1
	var ticksX []plot.Tick
	step := math.Max(1, math.Ceil(p.X.Max/10))
	for v := 0.0; v <= p.X.Max; v += step {
		ticksX = append(ticksX, plot.Tick{Value: v, Label: fmt.Sprintf("%gx", v)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticksX)
	p.Legend.XOffs = -vg.Points(6)
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.TextStyle.Font.Size = vg.Points(9)

	height := pitch*vg.Length(rowsTotal) + vg.Points(90)
	c, err := draw.NewFormattedCanvas(8*vg.Inch, height, strings.TrimPrefix(strings.ToLower(filepath.Ext(file)), "."))
	if err != nil {
		return err
	}
	pad := vg.Points(6) // a margin, so that no label touches the edge
	p.Draw(draw.Crop(draw.New(c), pad, -pad, pad, -pad))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return err
	}
	out := buf.Bytes()
	if strings.EqualFold(filepath.Ext(file), ".svg") {
		// The text was laid out with Liberation Sans' metrics, which are
		// Arial's (and Helvetica's): name those as fallbacks, so that a
		// browser without Liberation Sans lays it out the same.
		out = bytes.ReplaceAll(out, []byte("font-family:Liberation Sans"), []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif"))
	}
	return os.WriteFile(file, out, 0o644)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// tickGlyph is a vertical line as tall as the glyph's diameter.
type tickGlyph struct{}

func (tickGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.6)})
	var path vg.Path
	path.Move(vg.Point{X: pt.X, Y: pt.Y - sty.Radius})
	path.Line(vg.Point{X: pt.X, Y: pt.Y + sty.Radius})
	c.Stroke(path)
}

// tickThumb is the FLOP ratio's legend entry: a tick as tall as the entry.
type tickThumb struct{}

func (tickThumb) Thumbnail(c *draw.Canvas) {
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(draw.LineStyle{Color: color.Black, Width: vg.Points(1.6)}, x, c.Min.Y, x, c.Max.Y)
}
