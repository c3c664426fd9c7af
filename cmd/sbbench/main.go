// Command sbbench times sbconv's kernels on the stage shapes of ResNet, the
// same shapes and columns as the peer programs in ../shared/peers (oneDNN,
// XNNPACK, PyTorch), so the tables can be put side by side.
//
//	go run ./cmd/sbbench                 # one thread, batch 1, dispatched ISA
//	SBCONV_ISA=generic go run ./cmd/sbbench -shapes cifar
//
// Columns: 3x3 stride-1 convolution, 3x3 stride-2 convolution and the 3x3
// stride-2 transposed convolution that restores the full size (each with
// bias and ReLU), in microseconds (median of -reps samples) and GFLOP/s;
// then the regular basic block (two 3x3 stride-1 convolutions, residual,
// ReLU), the spatial-bottleneck block (stride-2 convolution, restore,
// residual, ReLU), their measured time ratio and their FLOP ratio. The
// two blocks are timed in 3*reps alternating samples of mintime/2 each:
// ratio is the median of the per-pair ratios, best the ratio of each
// block's fastest sample (the least disturbed by other tenants).
//
// %pk is the percentage of the FMA peak (bench.Peak), measured before the
// first shape and again after each row: the greatest measurement counts,
// so the tables are printed when every row is done.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/sbconv/sbconv/bench"
	"github.com/sbconv/sbconv/kernels"
)

func main() {
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sbbench:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, args []string) error {
	fs := flag.NewFlagSet("sbbench", flag.ContinueOnError)
	batch := fs.Int("n", 1, "batch size")
	threads := fs.Int("threads", 1, "goroutines per Forward call")
	reps := fs.Int("reps", 7, "timed samples per cell (the median is printed)")
	minTime := fs.Duration("mintime", 50*time.Millisecond, "minimum duration of one sample")
	shapes := fs.String("shapes", "", "only shapes whose name contains this (e.g. cifar, in-)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *batch < 1 || *threads < 1 || *reps < 1 || *minTime <= 0 {
		return fmt.Errorf("-n, -threads, -reps and -mintime must be positive")
	}
	if err := kernels.ISAError(); err != nil {
		return err
	}
	kernels.SetThreads(*threads)
	block := kernels.Block()

	fmt.Fprintf(out, "# sbconv  isa=%s block=%d threads=%d N=%d  %s/%s GOMAXPROCS=%d\n",
		kernels.ISA(), block, *threads, *batch, runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	// The peak is measured before the tables and again after every row,
	// and the greatest value is used: a burst of other tenants' work
	// during one measurement would otherwise put kernels above 100%.
	// So the tables are printed at the end.
	bench.Peak(*threads)
	type cell struct{ us, gf float64 }
	type row struct {
		name                          string
		cells                         []cell // the single-layer workloads, or the pointwise case
		basic, sb, ratio, best, flops float64
	}
	var rows, pointwise []row
	for _, s := range bench.PeerShapes {
		if *shapes != "" && !strings.Contains(s.Name, *shapes) {
			continue
		}
		r := row{name: s.Name}
		cases := map[string]*bench.Case{}
		for _, w := range bench.Workloads {
			c, err := bench.NewCase(w, s, *batch, block)
			if err != nil {
				return err
			}
			cases[w] = c
			if w == bench.BasicBlk || w == bench.SBBlock {
				continue // timed together below
			}
			d, err := bench.Time(c, *reps, *minTime)
			if err != nil {
				return fmt.Errorf("%s %s: %w", w, s.Name, err)
			}
			r.cells = append(r.cells, cell{float64(d.Nanoseconds()) / 1e3, c.FLOPs / d.Seconds() / 1e9})
		}
		// The two blocks in alternating samples, so that their ratio
		// compares them on the same machine state.
		cmp, err := bench.Compare(cases[bench.BasicBlk], cases[bench.SBBlock], 3**reps, *minTime/2)
		if err != nil {
			return fmt.Errorf("blocks %s: %w", s.Name, err)
		}
		hr := (s.H + 1) / 2
		r.basic, r.sb = float64(cmp.A.Nanoseconds())/1e3, float64(cmp.B.Nanoseconds())/1e3
		r.ratio, r.best, r.flops = cmp.Ratio, cmp.BestRatio, float64(s.H*s.H)/float64(hr*hr)
		rows = append(rows, r)
		bench.RemeasurePeak(*threads)
	}
	if *shapes == "" {
		for _, p := range bench.PointwiseShapes {
			c, err := bench.NewPointwiseCase(p, *batch, block)
			if err != nil {
				return err
			}
			d, err := bench.Time(c, *reps, *minTime)
			if err != nil {
				return fmt.Errorf("conv1x1 %s: %w", p.Name, err)
			}
			pointwise = append(pointwise, row{name: p.Name, cells: []cell{{float64(d.Nanoseconds()) / 1e3, c.FLOPs / d.Seconds() / 1e9}}})
			bench.RemeasurePeak(*threads)
		}
	}

	peak, peakISA := bench.Peak(*threads)
	pct := func(gf float64) string {
		if peak <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f", 100*gf/peak)
	}
	if peak > 0 {
		fmt.Fprintf(out, "# peak: %.1f GFLOP/s (%s FMA kernel on %d core(s) at once, the fastest of %d measurements through this run); %%pk = percent of it\n",
			peak, peakISA, *threads, 1+len(rows)+len(pointwise))
	} else {
		fmt.Fprintf(out, "# peak: no peak kernel in this build; %%pk not reported\n")
	}
	fmt.Fprintf(out, "# times in microseconds (median of %d samples; blocks: %d alternating), GFLOP/s by the peers' FLOP count\n", *reps, 3**reps)
	fmt.Fprintf(out, "%-12s %10s %6s %4s %10s %6s %4s %10s %6s %4s %10s %10s %6s %6s %6s\n", "shape",
		"conv3x3s1", "GF/s", "%pk", "conv3x3s2", "GF/s", "%pk", "deconv_s2", "GF/s", "%pk", "basicblk", "sb_block", "ratio", "best", "flops")
	for _, r := range rows {
		fmt.Fprintf(out, "%-12s", r.name)
		for _, c := range r.cells {
			fmt.Fprintf(out, " %10.1f %6.1f %4s", c.us, c.gf, pct(c.gf))
		}
		fmt.Fprintf(out, " %10.1f %10.1f %6.2f %6.2f %6.2f\n", r.basic, r.sb, r.ratio, r.best, r.flops)
	}
	if len(pointwise) == 0 {
		return nil
	}
	fmt.Fprintf(out, "\n%-14s %10s %6s %4s\n", "conv1x1", "us", "GF/s", "%pk")
	for _, r := range pointwise {
		c := r.cells[0]
		fmt.Fprintf(out, "%-14s %10.1f %6.1f %4s\n", r.name, c.us, c.gf, pct(c.gf))
	}
	return nil
}
