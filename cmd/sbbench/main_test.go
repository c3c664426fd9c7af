package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/bench"
	"github.com/sbconv/sbconv/kernels"
)

// TestMain lets the test binary stand in for sbbench when a test's -isa
// run starts it as a child process.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// quick are the flags of a run that takes a fraction of a second.
var quick = []string{"-reps", "1", "-mintime", "1ms"}

func runArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(&out, &errOut, args)
	if errOut.Len() > 0 {
		t.Logf("stderr: %s", errOut.String())
	}
	return out.String(), err
}

// TestHelp: -h explains every flag, returns flag.ErrHelp (main exits 0
// on it) and prints to stdout.
func TestHelp(t *testing.T) {
	out, err := runArgs(t, "-h")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: err = %v, want flag.ErrHelp", err)
	}
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	for _, name := range []string{"tables", "shapes", "batch", "n", "threads", "isa", "peer", "json", "chart", "reps", "mintime", "h"} {
		fs.Bool(name, false, "")
		if !strings.Contains(out, "-"+name+" ") && !strings.Contains(out, "-"+name+"\n") {
			t.Errorf("-h does not explain -%s", name)
		}
	}
	for _, s := range []string{"layers", "blocks", "nets", "scaling", "x_gonum", "%pk", "speedup", "flops", "img/s", "eff", "-tables scaling"} {
		if !strings.Contains(out, s) {
			t.Errorf("-h does not mention %q", s)
		}
	}
}

// TestBadFlags: every malformed command line is an error, before anything
// is timed.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "0"}, {"-batch", "-2"}, {"-threads", "-1"}, {"-threads", "0"}, {"-reps", "0"}, {"-mintime", "0s"},
		{"-bogus"}, {"extra"}, {"-shapes", "cifar", "extra"},
		{"-tables", "bogus"}, {"-tables", ","}, {"-tables", "layers,nope"},
		{"-shapes", "no-such-shape"}, {"-tables", "nets", "-shapes", "cifar-64x8"}, {"-shapes", ","},
		{"-isa", "bogus"}, {"-isa", ","},
		{"-chart", "x.txt"}, {"-chart", "x.svg", "-tables", "layers"}, {"-chart", "/no/such/dir/x.svg"},
		{"-chart", "x.svg", "-tables", "scaling"}, {"-tables", "scaling", "-shapes", "cifar-64x8"}, {"-tables", "scaling,bogus"},
	} {
		if _, err := runArgs(t, append(slices.Clone(quick), args...)...); err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: err = %v, want an error", args, err)
		}
	}
}

// TestTables: a tiny run prints the header and every selected table's
// rows, with every column; a table none of whose rows match is left out.
func TestTables(t *testing.T) {
	out, err := runArgs(t, append([]string{"-shapes", "cifar-64"}, quick...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"# cpu: ", "isa: " + kernels.ISA(), "threads: 1", "batch: 1", "go1.", "# peak: ", "## layers", "## blocks"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "## nets") {
		t.Errorf("the nets table is printed though no network matches cifar-64:\n%s", out)
	}
	rows := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.Contains(f[0], "cifar-64x8") {
			rows[f[0]+" "+f[1]] = len(f)
		}
	}
	want := map[string]int{
		"cifar-64x8 conv3x3s1": 8, "cifar-64x8 conv3x3s2": 8, "cifar-64x8 deconv_s2": 8,
	}
	for k, n := range want {
		if rows[k] != n {
			t.Errorf("row %q: %d fields, want %d:\n%s", k, rows[k], n, out)
		}
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 14 && strings.HasPrefix(f[0], "basic/cifar-64x8") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("want the basic/cifar-64x8 block and its entry, 14 fields each:\n%s", out)
	}
}

// TestJSON: -json prints one object per row that parses, with every
// number measured (positive), and the tables print the same numbers as
// the JSON carries.
func TestJSON(t *testing.T) {
	out, err := runArgs(t, append([]string{"-json", "-shapes", "cifar-64x8,resnet20", "-tables", "layers,blocks,nets"}, quick...)...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3+2+1 {
		t.Fatalf("want 6 rows (3 layers, 2 blocks, 1 net), got %d:\n%s", len(lines), out)
	}
	res := &result{}
	for _, line := range lines {
		row := &Row{}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(row); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if row.ISA != kernels.ISA() || row.Threads != 1 || row.Batch != 1 || row.CPU == "" || row.Go == "" || row.FLOPs <= 0 {
			t.Errorf("row without its run: %s", line)
		}
		var ts []*Timing
		switch row.Table {
		case "layers":
			ts = []*Timing{row.Sbconv, row.Gonum}
			if row.XGonum <= 0 {
				t.Errorf("layers row without x_gonum: %s", line)
			}
		case "blocks", "nets":
			ts = []*Timing{row.Regular, row.SB, row.GonumRegular, row.GonumSB}
			if row.Speedup <= 0 || row.FLOPRatio <= 1 || row.GonumSpeedup <= 0 || row.XGonumRegular <= 0 || row.XGonumSB <= 0 {
				t.Errorf("%s row without its ratios: %s", row.Table, line)
			}
		default:
			t.Errorf("unknown table: %s", line)
		}
		for _, tm := range ts {
			if tm == nil || tm.US <= 0 || tm.BestUS <= 0 || tm.BestUS > tm.US || tm.GFLOPS <= 0 || (row.PeakGFLOPS > 0 && tm.PeakPct == nil) {
				t.Errorf("timing missing or not measured: %s", line)
			}
		}
		res.rows = append(res.rows, row)
		res.info = row.runInfo
	}
	// The tables from the JSON rows show the JSON's numbers.
	cfg, err := parseFlags([]string{"-reps", "1", "-mintime", "1ms"})
	if err != nil {
		t.Fatal(err)
	}
	var tab bytes.Buffer
	printTables(&tab, cfg, res)
	r := res.rows[3] // basic/cifar-64x8
	for _, v := range []string{f1(r.Regular.US), f1(r.SB.US), f2(r.Speedup), f2(r.FLOPRatio), f1(r.GonumRegular.US), f1(r.XGonumSB)} {
		if !strings.Contains(tab.String(), " "+v) {
			t.Errorf("table lacks %s:\n%s", v, tab.String())
		}
	}
}

// TestChart: -chart writes an SVG and a PNG file; the scaling table,
// selected too, is left out of it.
func TestChart(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"speedup.svg", "speedup.png"} {
		file := filepath.Join(dir, name)
		if _, err := runArgs(t, append([]string{"-chart", file, "-tables", "blocks,nets,scaling", "-shapes", "cifar-64x8,resnet20", "-batch", "2"}, quick...)...); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(name) {
		case ".svg":
			for _, s := range []string{"<svg", "basic/cifar-64x8", "resnet20 (network)", "FLOP ratio", "sbconv, " + kernels.ISA()} {
				if !bytes.Contains(b, []byte(s)) {
					t.Errorf("%s lacks %q", name, s)
				}
			}
		case ".png":
			if !bytes.HasPrefix(b, []byte("\x89PNG")) {
				t.Errorf("%s is not a PNG", name)
			}
		}
	}
}

// TestISA: -isa runs each set in a child process (this test binary, see
// TestMain) and prints a table per set.
func TestISA(t *testing.T) {
	isas := kernels.ISAs()
	out, err := runArgs(t, append([]string{"-isa", "all", "-tables", "blocks", "-shapes", "basic/cifar-64x8-entry", "-peer=false"}, quick...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, isa := range isas {
		if !strings.Contains(out, "isa: "+isa+" ") {
			t.Errorf("no table for %s:\n%s", isa, out)
		}
	}
	if n := strings.Count(out, "basic/cifar-64x8-entry"); n != len(isas) {
		t.Errorf("%d rows for %d sets:\n%s", n, len(isas), out)
	}
}

// TestScalingFlags: -tables scaling selects the scaling table alone, in
// table order with others; the default leaves it out.
func TestScalingFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-tables", "scaling"})
	require.NoError(t, err)
	assert.Equal(t, []string{"scaling"}, cfg.tables)
	cfg, err = parseFlags([]string{"-tables", "scaling,nets, layers"})
	require.NoError(t, err)
	assert.Equal(t, []string{"layers", "nets", "scaling"}, cfg.tables)
	cfg, err = parseFlags(nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"layers", "blocks", "nets", "rates"}, cfg.tables)
	cfg, err = parseFlags([]string{"-tables", "scaling,rates,blocks"})
	require.NoError(t, err)
	assert.Equal(t, []string{"blocks", "rates", "scaling"}, cfg.tables)

	// B and N: -batch and -threads when above 1, else 8 and every CPU.
	before := kernels.Threads()
	for _, c := range []struct {
		args    []string
		batch   int
		threads int
	}{
		{nil, 8, min(runtime.NumCPU(), 1024)},
		{[]string{"-batch", "3", "-threads", "5"}, 3, 5},
		{[]string{"-n", "1", "-threads", "1"}, 8, min(runtime.NumCPU(), 1024)},
	} {
		cfg, err := parseFlags(c.args)
		require.NoError(t, err)
		assert.Equal(t, c.batch, scalingBatch(cfg), "%v", c.args)
		assert.Equal(t, c.threads, scalingThreads(cfg), "%v", c.args)
	}
	assert.Equal(t, before, kernels.Threads(), "scalingThreads left kernels.Threads changed")
}

// TestScalingSamples: a scaling row's samples alternate between its
// thread counts (set by kernels.SetThreads before each, in reverse every
// other round), with GOMAXPROCS at least N throughout, and the thread
// count and GOMAXPROCS are restored after the row: with N from -threads,
// and with N = every CPU under -threads 1 (GOMAXPROCS 1 for the other
// tables).
func TestScalingSamples(t *testing.T) {
	for _, threads := range []int{3, 1} {
		cfg, err := parseFlags([]string{"-threads", strconv.Itoa(threads), "-reps", "3", "-mintime", "1ms"})
		require.NoError(t, err)
		n := scalingThreads(cfg)
		if n == 1 {
			t.Logf("-threads %d: N = 1 on this machine, nothing to alternate", threads)
			continue
		}
		var seen, procs []int
		c := &bench.Case{Name: "fake", N: 4, FLOPs: 1e6, Run: func() error {
			if len(seen) == 0 || seen[len(seen)-1] != kernels.Threads() {
				seen = append(seen, kernels.Threads())
			}
			procs = append(procs, runtime.GOMAXPROCS(0))
			time.Sleep(time.Duration(12/kernels.Threads()) * time.Millisecond)
			return nil
		}}
		it := item{table: "scaling", name: "fake", variant: "sb", build: func(cfg *config) (*cases, error) {
			return &cases{sbconv: []*bench.Case{c}, threads: []int{1, scalingThreads(cfg)}}, nil
		}}
		procsBefore, threadsBefore := runtime.GOMAXPROCS(0), kernels.Threads()
		res, err := measure(cfg, []item{it}, noProgress{})
		require.NoError(t, err)
		// Warm-up 1, n; round 0: 1, n; round 1: n, 1; round 2: 1, n.
		assert.Equal(t, []int{1, n, 1, n, 1, n}, seen, "-threads %d", threads)
		for _, p := range procs {
			assert.GreaterOrEqual(t, p, n, "-threads %d: GOMAXPROCS below N while timing", threads)
		}
		assert.Equal(t, procsBefore, runtime.GOMAXPROCS(0), "GOMAXPROCS not restored")
		assert.Equal(t, threadsBefore, kernels.Threads(), "kernels.Threads not restored")

		require.Len(t, res.rows, 1)
		r := res.rows[0]
		assert.Equal(t, "sb", r.Variant)
		assert.Equal(t, 4, r.Images)
		assert.Equal(t, n, r.ThreadsN)
		// The fake sleeps 12 ms on one thread and 12/n on n.
		assert.Greater(t, r.Scaling, 1.2)
		assert.Less(t, r.Scaling, 2*12/float64(n))
		assert.InDelta(t, r.Scaling/float64(n), r.Efficiency, 1e-12)
		assert.InDelta(t, 4/(r.OneThread.US/1e6), r.OneThread.ImagesPerS, 1e-9*r.OneThread.ImagesPerS)
		assert.Greater(t, r.OneThread.US, r.NThreads.US)
	}
}

// TestScalingTable: a quick run of the scaling table on resnet20 prints
// its header and four rows (regular and sb at batch 1 and B) with every
// column, a positive scaling and eff = scaling / N.
func TestScalingTable(t *testing.T) {
	out, err := runArgs(t, append([]string{"-tables", "scaling", "-shapes", "resnet20", "-threads", "2", "-batch", "2"}, quick...)...)
	require.NoError(t, err)
	for _, s := range []string{"## scaling", "N = 2", "B = 2", "1 thread", "2 threads",
		"net  ", "input", "variant", "batch", "ms", "img/s", "%pk", "scaling", "eff", "line ns"} {
		assert.Contains(t, out, s)
	}
	if !strings.Contains(out, "no peak kernel") {
		assert.Contains(t, out, "peak(2)/peak(1) = ")
	}
	assert.NotContains(t, out, "## nets")
	var got []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "resnet20" {
			continue
		}
		require.Len(t, f, 13, "row %q", line)
		assert.Equal(t, "cifar-32x32", f[1])
		got = append(got, f[2]+" "+f[3])
		num := func(s string) float64 {
			v, err := strconv.ParseFloat(s, 64)
			require.NoError(t, err, "%q in %q", s, line)
			return v
		}
		for _, i := range []int{4, 5, 7, 8, 12} {
			assert.Greater(t, num(f[i]), 0.0, "column %d of %q", i, line)
		}
		scaling, eff := num(f[10]), num(f[11])
		assert.Greater(t, scaling, 0.0, line)
		assert.InDelta(t, scaling/2, eff, 0.006, line)
	}
	assert.Equal(t, []string{"regular 1", "sb 1", "regular 2", "sb 2"}, got, out)
}

// TestScalingJSON: -json prints the scaling rows with their fields, the
// numbers unrounded, and the table printed from them shows them.
func TestScalingJSON(t *testing.T) {
	out, err := runArgs(t, append([]string{"-json", "-tables", "scaling", "-shapes", "resnet20", "-threads", "2", "-batch", "3"}, quick...)...)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	res := &result{}
	for i, line := range lines {
		row := &Row{}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(row), line)
		assert.Equal(t, "scaling", row.Table, line)
		assert.Equal(t, "resnet20", row.Name, line)
		assert.Equal(t, "cifar-32x32", row.Input, line)
		assert.Equal(t, []string{"regular", "sb"}[i%2], row.Variant, line)
		assert.Equal(t, []int{1, 3}[i/2], row.Images, line)
		assert.Equal(t, 2, row.ThreadsN, line)
		assert.Equal(t, 2, row.Threads, line) // the run's -threads
		assert.Greater(t, row.FLOPs, 0.0, line)
		for _, tm := range []*Timing{row.OneThread, row.NThreads} {
			require.NotNil(t, tm, line)
			assert.Greater(t, tm.US, 0.0, line)
			assert.LessOrEqual(t, tm.BestUS, tm.US, line)
			assert.InDelta(t, row.FLOPs/tm.US/1e3, tm.GFLOPS, 1e-9*tm.GFLOPS, line)
			assert.InDelta(t, float64(row.Images)/(tm.US/1e6), tm.ImagesPerS, 1e-9*tm.ImagesPerS, line)
			assert.Equal(t, row.PeakGFLOPS > 0, tm.PeakPct != nil, line)
		}
		assert.Greater(t, row.Scaling, 0.0, line)
		assert.Greater(t, row.BestScaling, 0.0, line)
		assert.InDelta(t, row.Scaling/2, row.Efficiency, 1e-12, line)
		assert.Greater(t, row.LineNS, 0.0, "%s: N = 2 threads run with GOMAXPROCS at least 2", line)
		if row.PeakGFLOPS > 0 {
			assert.Greater(t, row.Peak1GFLOPS, 0.0, line)
			assert.Greater(t, row.PeakNGFLOPS, 0.0, line)
			assert.InDelta(t, row.PeakNGFLOPS/row.Peak1GFLOPS, row.PeakRatio, 1e-12, line)
		}
		// None of the other tables' fields.
		assert.Nil(t, row.Regular, line)
		assert.Zero(t, row.Speedup, line)
		res.rows = append(res.rows, row)
		res.info = row.runInfo
	}
	cfg, err := parseFlags([]string{"-tables", "scaling"})
	require.NoError(t, err)
	var tab bytes.Buffer
	printTables(&tab, cfg, res)
	r := res.rows[3]
	for _, v := range []string{f2(r.OneThread.US / 1e3), rate(r.NThreads.ImagesPerS), f2(r.Scaling), f2(r.Efficiency)} {
		assert.Contains(t, tab.String(), " "+v)
	}
	assert.Contains(t, tab.String(), "B = 3")
}

// TestScalingISA: the scaling rows come back whole from an -isa child.
func TestScalingISA(t *testing.T) {
	isas := kernels.ISAs()
	out, err := runArgs(t, append([]string{"-isa", "all", "-tables", "scaling", "-shapes", "resnet20", "-threads", "2", "-batch", "2"}, quick...)...)
	require.NoError(t, err)
	assert.Equal(t, len(isas), strings.Count(out, "## scaling"), out)
	assert.Equal(t, 4*len(isas), strings.Count(out, "\nresnet20 "), out)
	for _, isa := range isas {
		assert.Contains(t, out, "isa: "+isa+" ")
	}
}

// TestRatesTable: the rates table prints, for a stage shape and a
// network, a row per sampling rate (2, 3, 4) with the speedup, the FLOP
// ratio and %flops = speedup / flop ratio; -json carries the same rows
// with their rate, and the FLOP ratio changes with the rate (the blocks
// differ, not just their label). Each row carries the weights a call
// reads, regular and SB (the same at rates 2 and 3, whose kernels are
// 3x3; more at rate 4, whose are 5x5), and the share of the SB time their
// stream (timed through a 1x1 convolution that reads as many) takes.
func TestRatesTable(t *testing.T) {
	args := append([]string{"-tables", "rates", "-shapes", "cifar-64x8,resnet20"}, quick...)
	out, err := runArgs(t, append([]string{"-json"}, args...)...)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 6, "3 rates of basic/cifar-64x8 and of resnet20:\n%s", out)
	res := &result{}
	ratios := map[string]map[int]float64{}
	for _, line := range lines {
		row := &Row{}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(row), line)
		assert.Equal(t, "rates", row.Table, line)
		assert.Contains(t, []int{2, 3, 4}, row.Rate, line)
		assert.Greater(t, row.FLOPRatio, 1.0, line)
		assert.Greater(t, row.Speedup, 0.0, line)
		assert.Greater(t, row.SBStreamUS, 0.0, line)
		assert.Greater(t, row.WeightMB, 0.0, line)
		if row.Rate == 4 {
			assert.Greater(t, row.SBWeightMB, row.WeightMB, line)
		} else {
			assert.InDelta(t, row.WeightMB, row.SBWeightMB, 1e-9, line)
		}
		assert.InDelta(t, 100*row.SBStreamUS/row.SB.US, row.StreamPct, 1e-9*row.StreamPct, line)
		for _, tm := range []*Timing{row.Regular, row.SB} {
			require.NotNil(t, tm, line)
			assert.Greater(t, tm.US, 0.0, line)
			assert.Greater(t, tm.GFLOPS, 0.0, line)
		}
		if ratios[row.Name] == nil {
			ratios[row.Name] = map[int]float64{}
		}
		ratios[row.Name][row.Rate] = row.FLOPRatio
		res.rows = append(res.rows, row)
		res.info = row.runInfo
	}
	for name, byRate := range ratios {
		assert.Len(t, byRate, 3, name)
		assert.NotEqual(t, byRate[2], byRate[3], "%s: rate 3's FLOP ratio is rate 2's", name)
		assert.NotEqual(t, byRate[2], byRate[4], "%s: rate 4's FLOP ratio is rate 2's", name)
	}
	assert.Equal(t, "resnet20", res.rows[3].Name, "networks after the blocks")
	assert.Equal(t, "cifar-32x32", res.rows[3].Input)

	cfg, err := parseFlags(args)
	require.NoError(t, err)
	var tab bytes.Buffer
	printTables(&tab, cfg, res)
	for _, s := range []string{"## rates", "rate", "%flops", "regular_us", "regular_ms", "sb_wMB", "stream%"} {
		assert.Contains(t, tab.String(), s)
	}
	n := 0
	for _, line := range strings.Split(tab.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || (f[0] != "basic/cifar-64x8" && f[0] != "resnet20") {
			continue
		}
		n++
		r := res.rows[n-1]
		cells := f[1:]
		if r.Input != "" {
			require.Equal(t, r.Input, cells[0], line)
			cells = cells[1:]
		}
		require.Len(t, cells, 11, line)
		assert.Equal(t, fmt.Sprint(r.Rate), cells[0], line)
		assert.Equal(t, f2(r.Speedup), cells[3], line)
		assert.Equal(t, f2(r.FLOPRatio), cells[4], line)
		assert.Equal(t, fmt.Sprintf("%.0f", 100*r.Speedup/r.FLOPRatio), cells[5], line)
		assert.Equal(t, mb(r.WeightMB), cells[8], line)
		assert.Equal(t, mb(r.SBWeightMB), cells[9], line)
		assert.Equal(t, fmt.Sprintf("%.0f", r.StreamPct), cells[10], line)
	}
	assert.Equal(t, 6, n, tab.String())
}
