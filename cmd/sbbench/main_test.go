package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
	for _, s := range []string{"layers", "blocks", "nets", "x_gonum", "%pk", "speedup", "flops"} {
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

// TestChart: -chart writes an SVG and a PNG file.
func TestChart(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"speedup.svg", "speedup.png"} {
		file := filepath.Join(dir, name)
		if _, err := runArgs(t, append([]string{"-chart", file, "-tables", "blocks,nets", "-shapes", "cifar-64x8,resnet20"}, quick...)...); err != nil {
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
