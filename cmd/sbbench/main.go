// Command sbbench answers, on the machine it runs on: does the spatial
// bottleneck (Peng et al., arXiv 1809.02601) make a ResNet faster on this
// CPU with sbconv's kernels, and by how much against what a Go program
// uses otherwise (im2col + gonum's blas32.Gemm)?
//
//	go run ./cmd/sbbench                      # every table, one thread, batch 1, the dispatched ISA
//	go run ./cmd/sbbench -isa all -chart docs/speedup.svg
//	go run ./cmd/sbbench -tables nets -threads 2 -batch 4 -json
//	go run ./cmd/sbbench -tables scaling          # 1 thread vs every CPU, batch 1 and 8
//	go run ./cmd/sbbench -tables rates            # sampling rates 2, 3, 4 against the regular block
//
// Run it with -h for what every table, column and flag means. It lives in
// a module of its own (cmd/sbbench/go.mod, joined to the library by the
// repository's go.work) so that its outside dependencies (gonum, gonum's
// plot, a progress bar) never reach a program that imports sbconv.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sbconv/sbconv/kernels"
)

func main() {
	err := run(os.Stdout, os.Stderr, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbbench:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	tables    []string // in table order
	shapes    []string // filter terms; empty: every row
	batch     int
	threads   int
	isas      []string // -isa: one child process each; empty: this process, the dispatched set
	peer      bool
	json      bool
	chart     string
	reps      int
	minTime   time.Duration
	child     bool // a child of an -isa run: JSON rows on stdout, progress lines on stderr
	progress  bool // draw a progress bar on stderr (a terminal, not a child)
	tablesArg string
}

// allTables are the tables in the order they are measured and printed.
var allTables = []string{"layers", "blocks", "nets", "rates", "scaling"}

// defaultTables are those a run without -tables prints. The scaling table
// is left out: it times every network at batch B on one thread too (the
// 1-thread ResNet-50 at batch 8 alone is a third of a second a run), which
// takes longer than the nets table, and it asks a question of its own (what
// N cores give) where the default run answers one at one thread, batch 1.
var defaultTables = []string{"layers", "blocks", "nets", "rates"}

// childEnv marks a child process of an -isa run (see isa.go).
const childEnv = "SBBENCH_CHILD"

const usageText = `Usage: go run ./cmd/sbbench [flags]

sbbench times sbconv's kernels on ResNet's layers, residual blocks and whole
networks, regular and with the spatial bottleneck (arXiv 1809.02601: a
stride-2 convolution and a stride-2 transposed convolution in place of a
block's 3x3 convolutions), and the same work done the way Go programs do it
today, im2col + gonum's blas32.Gemm (the "Go peer", -peer). It prints:

  layers  per ResNet stage shape (CIFAR: cifar-16x32 = 16 channels at 32x32,
          cifar-32x16, cifar-64x8; ImageNet: in-64x56, in-128x28, in-256x14,
          in-512x7): the 3x3 stride-1 convolution (conv3x3s1), the 3x3
          stride-2 convolution (conv3x3s2) and the 3x3 stride-2 transposed
          convolution that restores the size (deconv_s2), C to C channels,
          bias + ReLU; then ResNet-50's two 1x1 convolutions at 56x56
          (conv1x1, in-256to64x56 and in-64to256x56). GFLOP/s by the peers'
          count: 2*C*C*9 per output pixel (padding taps included), the
          restore counted as the stride-2 convolution it inverts.
  blocks  per stage shape, the regular block against its spatial-bottleneck
          form: basic/* are BasicBlock vs SBBasic (CIFAR ResNets, ResNet-18/34),
          bottleneck/in-<C>x<H> are ResNet-50's Bottleneck vs SBBottleneck
          (C output channels); *-entry is a stage's first block (stride 2
          from the previous stage, projection shortcut). BatchNorm folded;
          GFLOP/s by the real FLOPs (restore taps that reach the output).
  nets    whole networks at batch -batch: resnet20 and resnet56 (input
          cifar-32x32, 10 classes), resnet18 and resnet50 (in-224x224, 1000
          classes), regular against spatial bottlenecks in every stage.
          (ResNet-34 adds nothing ResNet-18 does not show and is left out;
          go test -bench Net/resnet34 ./bench times it.)
  rates   what each sampling rate buys: the stage shapes' basic blocks
          (basic/<shape>) and resnet20 and resnet18, regular against the
          spatial bottleneck at rate r = 2, 3, 4 (one pixel in r*r kept by
          a Kr x Kr convolution of stride r*s, restored by a K x K stride-r
          transposed convolution; Kr = K = 3, 3, 5, block.RandomStateDict's
          sizes). Columns: the rate, the regular and SB times, speedup,
          flops (the FLOP ratio, real FLOPs) and %flops = speedup / flops,
          the share of the promised saving the CPU delivers; SB GFLOP/s;
          wMB, the float32 weights a call reads (regular, SB: rate 4's
          5x5 kernels read more than the regular 3x3 ones), and stream%,
          the share of the SB time that reading those weights once takes
          call after call (a 1x1 convolution reading as many, timed after
          the row): near 100 the row is bound by the weights' stream, not
          by its FLOPs, and no kernel brings %flops up.
  scaling the nets table's networks, each regular and SB, at batch 1
          (latency) and at batch B (throughput; B = -batch when it is above
          1, else 8), on 1 thread and on N threads (N = -threads when it is
          above 1, else every logical CPU, runtime.NumCPU()), set by
          kernels.SetThreads before each sample, GOMAXPROCS at least N. Not
          in the default set (it times every network at batch B on one
          thread): ask for it with -tables scaling. Columns: ms and img/s
          (images per second, from the median time) and %pk (of the peak on
          as many cores as threads) on 1 thread and on N; scaling = time on
          1 thread over time on N (the median over the rounds of each
          round's ratio); eff = scaling / N; line ns = a cache line's round
          trip between two cores right after the row (bench.LineRoundTrip:
          a virtual machine's vCPUs move, and small layers split well only
          while it is low). Its header gives the FMA peak on 1 core and on
          N and peak(N)/peak(1), the scaling the cores' arithmetic allows.

Columns: us or ms = median time of one run; speedup = regular time over
spatial-bottleneck time (the median over the rounds of each round's ratio);
flops = regular FLOPs over spatial-bottleneck FLOPs, the speedup the
arithmetic alone allows; GF/s = GFLOP/s; %pk = percent of this CPU's FMA peak
on -threads cores, measured in the same run (the greatest of a measurement
before the first row and one after every row); the Go peer's times, its own
speedup, and x_gonum = the Go peer's time over sbconv's for the same work.
The header names the CPU, the microkernel set (ISA) and its channel block,
the threads, the batch and the Go version.

Every row is timed in -reps rounds, after one warm-up run of each case; a
round takes one sample of each case of the row in turn (sbconv regular,
sbconv spatial bottleneck, then the Go peer's two; in the scaling table,
the network on 1 thread, then on N; reversed every other round), each
sample the mean of its runs over at least -mintime (at least one run). The Go peer, 10-20x slower, is sampled in every other round only
(rounds 1, 3, 5, ...: three of the default five); its ratios come from those
rounds. Every number printed is measured in this run; nothing is a constant.
A warning line says when the samples of a case spread so widely that other
programs must be using the CPU.

Flags:
  -tables LIST   tables to run, comma-separated, from layers,blocks,nets,
                 rates,scaling (default: layers,blocks,nets,rates)
  -shapes LIST   run only rows whose name contains one of these
                 comma-separated terms: a stage shape (cifar-64x8, in-),
                 a block (basic/, bottleneck/, -entry), a network (resnet50),
                 or a network's input (cifar-32x32, in-224x224; "cifar" and
                 "in-" thus select a dataset's rows in every table). A table
                 none of whose rows match is left out; a filter that matches
                 no row of any selected table is an error. (default: every row)
  -batch N       images per Forward call (default 1); -n is the same flag;
                 the scaling table's B when above 1
  -threads N     goroutines per sbconv Forward call (kernels.SetThreads), and
                 GOMAXPROCS while timing, so gonum's Gemm uses N too; the
                 peak is measured on N cores (default 1); the scaling
                 table's N when above 1 (at 1: every logical CPU)
  -isa LIST      microkernel sets to run, comma-separated, or "all" for every
                 set this binary and CPU can run (here: ISAS); each runs
                 in a child process of its own (SBCONV_ISA is read once per
                 process), and the tables are printed one set after another.
                 (default: this process's set: SBCONV_ISA, else the best)
  -peer          time the Go peer, im2col + gonum blas32.Gemm on NCHW
                 (-peer=false leaves its columns out; default true)
  -json          print one JSON object per row (JSON Lines) on stdout instead
                 of the tables: the same numbers, unrounded, with the run's
                 CPU, ISA, threads, batch and peak in every object (a scaling
                 row: its images per call, threads_n, one_thread and
                 n_threads timings with images_per_s, scaling, efficiency,
                 peak1_gflops, peakn_gflops, peak_ratio and line_ns)
  -chart FILE    also draw FILE (.svg or .png): the measured speedup of every
                 block and network row beside its FLOP ratio, one series per
                 ISA (and the Go peer's); needs the blocks or nets table
                 (the scaling table is not drawn)
  -reps N        rounds per row (default 5)
  -mintime D     minimum duration of one sample (default 10ms)
  -h             print this help and exit

A progress bar is drawn on stderr when stderr is a terminal.
`

func usage(w io.Writer) {
	io.WriteString(w, strings.Replace(usageText, "ISAS", strings.Join(kernels.ISAs(), ", "), 1))
}

// parseFlags turns args into a config, or returns an error that says
// what is wrong (flag.ErrHelp for -h).
func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("sbbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := &config{}
	fs.StringVar(&cfg.tablesArg, "tables", strings.Join(defaultTables, ","), "")
	shapes := fs.String("shapes", "", "")
	fs.IntVar(&cfg.batch, "batch", 1, "")
	fs.IntVar(&cfg.batch, "n", 1, "")
	fs.IntVar(&cfg.threads, "threads", 1, "")
	isa := fs.String("isa", "", "")
	fs.BoolVar(&cfg.peer, "peer", true, "")
	fs.BoolVar(&cfg.json, "json", false, "")
	fs.StringVar(&cfg.chart, "chart", "", "")
	fs.IntVar(&cfg.reps, "reps", 5, "")
	fs.DurationVar(&cfg.minTime, "mintime", 10*time.Millisecond, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%v (sbbench -h lists the flags)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: sbbench takes only flags (sbbench -h lists them)", fs.Arg(0))
	}
	switch {
	case cfg.batch < 1:
		return nil, fmt.Errorf("-batch %d: must be at least 1", cfg.batch)
	case cfg.threads < 1 || cfg.threads > 4096:
		return nil, fmt.Errorf("-threads %d: must be in [1, 4096]", cfg.threads)
	case cfg.reps < 1:
		return nil, fmt.Errorf("-reps %d: must be at least 1", cfg.reps)
	case cfg.minTime <= 0:
		return nil, fmt.Errorf("-mintime %v: must be positive", cfg.minTime)
	}
	for _, t := range splitList(cfg.tablesArg) {
		if !slices.Contains(allTables, t) {
			return nil, fmt.Errorf("-tables: unknown table %q (want some of %s)", t, strings.Join(allTables, ","))
		}
		if !slices.Contains(cfg.tables, t) {
			cfg.tables = append(cfg.tables, t)
		}
	}
	if len(cfg.tables) == 0 {
		return nil, fmt.Errorf("-tables %q names no table (want some of %s)", cfg.tablesArg, strings.Join(allTables, ","))
	}
	slices.SortFunc(cfg.tables, func(a, b string) int { return slices.Index(allTables, a) - slices.Index(allTables, b) })
	cfg.shapes = splitList(*shapes)
	if *shapes != "" && len(cfg.shapes) == 0 {
		return nil, fmt.Errorf("-shapes %q names nothing", *shapes)
	}
	if *isa != "" {
		usable := kernels.ISAs()
		for _, s := range splitList(*isa) {
			if s == "all" {
				cfg.isas = append(cfg.isas, usable...)
				continue
			}
			if !slices.Contains(usable, s) {
				return nil, fmt.Errorf("-isa %s: not a set this binary and CPU can run (they are: %s)", s, strings.Join(usable, ", "))
			}
			cfg.isas = append(cfg.isas, s)
		}
		cfg.isas = uniq(cfg.isas)
		if len(cfg.isas) == 0 {
			return nil, fmt.Errorf("-isa %q names no set", *isa)
		}
	}
	if cfg.chart != "" {
		switch strings.ToLower(filepath.Ext(cfg.chart)) {
		case ".svg", ".png":
		default:
			return nil, fmt.Errorf("-chart %s: want a .svg or .png file", cfg.chart)
		}
		if st, err := os.Stat(filepath.Dir(cfg.chart)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("-chart %s: no directory %s to write it in", cfg.chart, filepath.Dir(cfg.chart))
		}
		if !slices.Contains(cfg.tables, "blocks") && !slices.Contains(cfg.tables, "nets") {
			return nil, fmt.Errorf("-chart draws the blocks and nets tables' speedups: -tables %s has neither", strings.Join(cfg.tables, ","))
		}
	}
	return cfg, nil
}

// splitList splits a comma-separated list, dropping empty items and
// surrounding spaces.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func uniq(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// run is the command: flags in args, tables (or JSON) on out, progress
// and diagnostics on errOut.
func run(out, errOut io.Writer, args []string) error {
	cfg, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		usage(out)
		return err
	}
	if err != nil {
		return err
	}
	cfg.child = os.Getenv(childEnv) == "1"
	if cfg.child && len(cfg.isas) > 0 {
		return fmt.Errorf("-isa in a child process")
	}
	cfg.progress = !cfg.child && isTerminal(errOut)

	// Fail on a filter that matches nothing before measuring anything.
	items := plan(cfg)
	if len(items) == 0 {
		return fmt.Errorf("-shapes %s matches no row of the %s table(s); the rows are: %s",
			strings.Join(cfg.shapes, ","), strings.Join(cfg.tables, ", "), strings.Join(rowNames(cfg.tables), " "))
	}

	var runs []*result
	if len(cfg.isas) > 0 {
		runs, err = runChildren(cfg, items, errOut)
	} else {
		var r *result
		r, err = measure(cfg, items, newProgress(cfg, errOut, units(cfg, items)))
		runs = []*result{r}
	}
	if err != nil {
		return err
	}
	if cfg.child || cfg.json {
		if err := writeJSON(out, runs); err != nil {
			return err
		}
	} else {
		for i, r := range runs {
			if i > 0 {
				fmt.Fprintln(out)
			}
			printTables(out, cfg, r)
		}
	}
	if cfg.chart != "" && !cfg.child {
		if err := writeChart(cfg.chart, runs); err != nil {
			return fmt.Errorf("-chart %s: %w", cfg.chart, err)
		}
		fmt.Fprintf(errOut, "sbbench: wrote %s\n", cfg.chart)
	}
	return nil
}
