package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// printTables writes one run's header and tables.
func printTables(w io.Writer, cfg *config, r *result) {
	in := r.info
	peer := "against im2col + gonum blas32.Gemm (the Go peer)"
	if !cfg.peer {
		peer = "(Go peer not run: -peer=false)"
	}
	fmt.Fprintf(w, "# sbbench: sbconv's kernels, regular vs spatial bottleneck (arXiv 1809.02601), %s\n", peer)
	fmt.Fprintf(w, "# cpu: %s   isa: %s (channel block %d)   threads: %d   batch: %d   %s %s/%s\n",
		in.CPU, in.ISA, in.Block, in.Threads, in.Batch, in.Go, in.OS, in.Arch)
	if in.PeakGFLOPS > 0 {
		fmt.Fprintf(w, "# peak: %.1f GFLOP/s (%s FMA kernel on %d core(s) at once, the greatest of %d measurements in this run); %%pk = percent of it\n",
			in.PeakGFLOPS, in.PeakISA, in.Threads, in.PeakRuns)
	} else {
		fmt.Fprintf(w, "# peak: no peak kernel in this build; %%pk not reported\n")
	}
	fmt.Fprintf(w, "# every row: the median of %d rounds, each taking one sample of every case of the row in turn (at least %v a sample)\n",
		in.Rounds, cfg.minTime)
	if spread := noise(r.rows); spread > 1.15 {
		fmt.Fprintf(w, "# warning: a case's median sample is %.0f%% slower than its fastest (the median over the rows): other programs are using this CPU, and the ratios below are unreliable\n", 100*(spread-1))
	}
	byTable := map[string][]*Row{}
	for _, row := range r.rows {
		byTable[row.Table] = append(byTable[row.Table], row)
	}
	pk := func(t *Timing) string {
		if t == nil || t.PeakPct == nil {
			return "-"
		}
		return fmt.Sprintf("%.0f", *t.PeakPct)
	}
	for _, name := range cfg.tables {
		rows := byTable[name]
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintln(w)
		switch name {
		case "layers":
			fmt.Fprintln(w, "## layers: one layer, C to C channels (conv1x1: as named), bias + ReLU; GFLOP/s by the peers' count")
			t := newTable(col{"shape", ""}, col{"layer", ""}, col{"us", "sbconv"}, col{"GF/s", "sbconv"}, col{"%pk", "sbconv"})
			if cfg.peer {
				t.add(col{"us", "im2col + gonum"}, col{"GF/s", "im2col + gonum"}, col{"x_gonum", ""})
			}
			for _, r := range rows {
				cells := []string{r.Name, r.Layer, f1(r.Sbconv.US), f1(r.Sbconv.GFLOPS), pk(r.Sbconv)}
				if cfg.peer {
					cells = append(cells, f1(r.Gonum.US), f1(r.Gonum.GFLOPS), f1(r.XGonum))
				}
				t.row(cells...)
			}
			t.write(w)
		case "blocks", "nets":
			unit, scale := "us", 1.0
			if name == "nets" {
				unit, scale = "ms", 1e-3
				fmt.Fprintln(w, "## nets: whole networks, regular vs spatial bottlenecks in every stage; GFLOP/s by the real FLOPs")
			} else {
				fmt.Fprintln(w, "## blocks: regular vs spatial-bottleneck block; GFLOP/s by the real FLOPs")
			}
			first := []col{{"block", ""}}
			if name == "nets" {
				first = []col{{"net", ""}, {"input", ""}}
			}
			t := newTable(first...)
			t.add(col{"regular_" + unit, "sbconv"}, col{"sb_" + unit, "sbconv"}, col{"speedup", "sbconv"}, col{"flops", "sbconv"},
				col{"reg_GF/s", "sbconv"}, col{"%pk", "sbconv"}, col{"sb_GF/s", "sbconv"}, col{"%pk", "sbconv"})
			if cfg.peer {
				t.add(col{"regular_" + unit, "im2col + gonum"}, col{"sb_" + unit, "im2col + gonum"}, col{"speedup", "im2col + gonum"},
					col{"reg", "x_gonum"}, col{"sb", "x_gonum"})
			}
			for _, r := range rows {
				cells := []string{r.Name}
				if name == "nets" {
					cells = append(cells, r.Input)
				}
				cells = append(cells, f1(r.Regular.US*scale), f1(r.SB.US*scale), f2(r.Speedup), f2(r.FLOPRatio),
					f1(r.Regular.GFLOPS), pk(r.Regular), f1(r.SB.GFLOPS), pk(r.SB))
				if cfg.peer {
					cells = append(cells, f1(r.GonumRegular.US*scale), f1(r.GonumSB.US*scale), f2(r.GonumSpeedup),
						f1(r.XGonumRegular), f1(r.XGonumSB))
				}
				t.row(cells...)
			}
			t.write(w)
		case "rates":
			printRates(w, rows, pk)
		case "scaling":
			printScaling(w, rows, pk)
		}
	}
}

// printRates writes the rates table: the stage shapes' basic blocks, then
// the networks, each regular against its spatial bottleneck at every
// rate, with the speedup as a share of the FLOP ratio (%flops).
func printRates(w io.Writer, rows []*Row, pk func(*Timing) string) {
	fmt.Fprintf(w, "## rates: regular vs spatial bottleneck at sampling rate r (one pixel in r*r kept; kernels Kr = K = 3, 3, 5 at r = 2, 3, 4); %%flops = speedup / flops; GFLOP/s by the real FLOPs\n")
	fmt.Fprintf(w, "# wMB: the float32 weights a call reads (regular, SB); stream%%: the share of the SB time that reading the SB weights once takes, call after call (bench.WeightStream: a 1x1 convolution reading as many, timed after the row): near 100, their stream bounds the row at this batch, not its FLOPs\n")
	for _, nets := range []bool{false, true} {
		first, unit, scale := []col{{"block", ""}}, "us", 1.0
		if nets {
			first, unit, scale = []col{{"net", ""}, {"input", ""}}, "ms", 1e-3
		}
		t := newTable(append(first, col{"rate", ""}, col{"regular_" + unit, ""}, col{"sb_" + unit, ""}, col{"speedup", ""},
			col{"flops", ""}, col{"%flops", ""}, col{"sb_GF/s", ""}, col{"%pk", ""},
			col{"wMB", ""}, col{"sb_wMB", ""}, col{"stream%", ""})...)
		n := 0
		for _, r := range rows {
			if (r.Input != "") != nets {
				continue
			}
			cells := []string{r.Name}
			if nets {
				cells = append(cells, r.Input)
			}
			t.row(append(cells, fmt.Sprint(r.Rate), f1(r.Regular.US*scale), f1(r.SB.US*scale), f2(r.Speedup),
				f2(r.FLOPRatio), fmt.Sprintf("%.0f", 100*r.Speedup/r.FLOPRatio), f1(r.SB.GFLOPS), pk(r.SB),
				mb(r.WeightMB), mb(r.SBWeightMB), fmt.Sprintf("%.0f", r.StreamPct))...)
			n++
		}
		if n > 0 {
			t.write(w)
		}
	}
}

// mb formats a size in MB: two significant digits below 10.
func mb(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2g", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// printScaling writes the scaling table: each network on one thread and
// on N, at batch 1 and B, with the N-core peak over the 1-core one above
// it, the most the cores' arithmetic lets N threads gain.
func printScaling(w io.Writer, rows []*Row, pk func(*Timing) string) {
	n := rows[0].ThreadsN
	fmt.Fprintf(w, "## scaling: whole networks on 1 thread and on N = %d (kernels.SetThreads), batch 1 and B = %d; scaling = time on 1 thread / time on %d, eff = scaling / %d; sbconv only\n",
		n, slices.Max(rowsImages(rows)), n, n)
	if r := rows[0]; r.PeakRatio > 0 {
		fmt.Fprintf(w, "# peak: %.1f GFLOP/s on 1 core, %.1f on %d at once: peak(%d)/peak(1) = %.2f, the scaling the cores' FMA throughput allows (%%pk: of the peak on as many cores as threads)\n",
			r.Peak1GFLOPS, r.PeakNGFLOPS, n, n, r.PeakRatio)
	} else {
		fmt.Fprintf(w, "# peak: no peak kernel in this build; peak(%d)/peak(1) and %%pk not reported\n", n)
	}
	if n == 1 {
		fmt.Fprintln(w, "# N = 1 (one logical CPU and -threads 1): each row compares one thread with itself")
	}
	fmt.Fprintln(w, "# line ns: a cache line's round trip between two cores, measured after the row (bench.LineRoundTrip); a virtual machine's vCPUs move, and small layers split well only while it is low")
	one, many := "1 thread", plural(n, "thread")
	t := newTable(col{"net", ""}, col{"input", ""}, col{"variant", ""}, col{"batch", ""},
		col{"ms", one}, col{"img/s", one}, col{"%pk", one},
		col{"ms", many}, col{"img/s", many}, col{"%pk", many},
		col{"scaling", ""}, col{"eff", ""}, col{"line ns", ""})
	for _, r := range rows {
		t.row(r.Name, r.Input, r.Variant, fmt.Sprint(r.Images),
			f2(r.OneThread.US/1e3), rate(r.OneThread.ImagesPerS), pk(r.OneThread),
			f2(r.NThreads.US/1e3), rate(r.NThreads.ImagesPerS), pk(r.NThreads),
			f2(r.Scaling), f2(r.Efficiency), fmt.Sprintf("%.0f", r.LineNS))
	}
	t.write(w)
}

func rowsImages(rows []*Row) []int {
	var out []int
	for _, r := range rows {
		out = append(out, r.Images)
	}
	return out
}

// noise is the median over rows of sbconv's median sample over its fastest
// one: 1.0 on a quiet machine.
func noise(rows []*Row) float64 {
	var q []float64
	for _, r := range rows {
		for _, t := range []*Timing{r.Sbconv, r.Regular, r.SB, r.OneThread, r.NThreads} {
			if t != nil && t.BestUS > 0 {
				q = append(q, t.US/t.BestUS)
			}
		}
	}
	if len(q) == 0 {
		return 1
	}
	slices.Sort(q)
	return q[len(q)/2]
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

// rate formats a rate with three or more significant digits: 7279, 51.5.
func rate(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return f1(v)
}
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

// col is a column: its head and the group named above it ("" for none).
type col struct{ head, group string }

// table aligns columns: the first left, the others right, two spaces
// apart, with each run of columns of one group under a line naming it.
type table struct {
	cols []col
	rows [][]string
}

func newTable(cols ...col) *table { return &table{cols: cols} }

func (t *table) add(cols ...col)     { t.cols = append(t.cols, cols...) }
func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }
func (t *table) left(i int) bool {
	return i == 0 || t.cols[i].head == "layer" || t.cols[i].head == "input" || t.cols[i].head == "variant"
}
func pad(s string, n int, left bool) string {
	if left {
		return s + strings.Repeat(" ", max(0, n-len(s)))
	}
	return strings.Repeat(" ", max(0, n-len(s))) + s
}

func (t *table) write(w io.Writer) {
	width := make([]int, len(t.cols))
	for i, c := range t.cols {
		width[i] = len(c.head)
	}
	for _, r := range t.rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	// The group line: each run of one group gets its name over its
	// columns, padded with dashes.
	var g strings.Builder
	hasGroup := false
	for i := 0; i < len(t.cols); {
		j := i
		span := 0
		for j < len(t.cols) && t.cols[j].group == t.cols[i].group {
			span += width[j] + 2
			j++
		}
		if i == 0 {
			span -= 2
		}
		if name := t.cols[i].group; name != "" {
			hasGroup = true
			label, dash := " "+name+" ", "-"
			if span-2-len(label) < 4 {
				label, dash = name, " " // too narrow for dashes: the name, right-aligned
			}
			fill := max(0, span-2-len(label))
			if dash == " " {
				g.WriteString("  " + strings.Repeat(" ", fill) + label)
			} else {
				g.WriteString("  " + strings.Repeat(dash, fill/2) + label + strings.Repeat(dash, fill-fill/2))
			}
		} else {
			g.WriteString(strings.Repeat(" ", span))
		}
		i = j
	}
	bw := bufio.NewWriter(w)
	if hasGroup {
		fmt.Fprintln(bw, strings.TrimRight(g.String(), " "))
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(pad(c, width[i], t.left(i)))
		}
		fmt.Fprintln(bw, strings.TrimRight(b.String(), " "))
	}
	heads := make([]string, len(t.cols))
	for i, c := range t.cols {
		heads[i] = c.head
	}
	line(heads)
	for _, r := range t.rows {
		line(r)
	}
	bw.Flush()
}

// writeJSON writes every row of every run as one JSON object a line.
func writeJSON(w io.Writer, runs []*result) error {
	enc := json.NewEncoder(w)
	for _, r := range runs {
		for _, row := range r.rows {
			if err := enc.Encode(row); err != nil {
				return err
			}
		}
	}
	return nil
}
