package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sbconv/sbconv/bench"
	"github.com/sbconv/sbconv/block"
	"github.com/sbconv/sbconv/cmd/sbbench/internal/gopeer"
	"github.com/sbconv/sbconv/kernels"
)

// item is one row to measure: its table, its name, what else -shapes
// matches it by, and how to build its cases.
type item struct {
	table string
	name  string
	layer string // layers table: the workload
	input string // nets table: the input's name (cifar-32x32, in-224x224)
	build func(cfg *config) (*cases, error)
}

// cases are a row's workloads: sbconv's one (layers) or two (regular,
// spatial bottleneck), and the Go peer's as many (nil with -peer=false).
type cases struct {
	sbconv []*bench.Case
	peer   []*bench.Case
}

// netShapes are the networks of the nets table: bench.NetShapes but
// ResNet-34, which adds nothing ResNet-18 does not show and would
// lengthen the default run by a third.
var netShapes = func() []bench.NetShape {
	var out []bench.NetShape
	for _, s := range bench.NetShapes {
		if s.Name != "resnet34" {
			out = append(out, s)
		}
	}
	return out
}()

// allItems lists every row of the given tables, in table order.
func allItems(tables []string) []item {
	var out []item
	for _, t := range tables {
		switch t {
		case "layers":
			for _, s := range bench.PeerShapes {
				for _, w := range []string{bench.Conv3x3S1, bench.Conv3x3S2, bench.DeconvS2} {
					out = append(out, item{table: t, name: s.Name, layer: w, build: func(cfg *config) (*cases, error) { return layerCases(cfg, w, s) }})
				}
			}
			for _, p := range bench.PointwiseShapes {
				out = append(out, item{table: t, name: p.Name, layer: "conv1x1", build: func(cfg *config) (*cases, error) { return pointwiseCases(cfg, p) }})
			}
		case "blocks":
			for _, s := range bench.BlockShapes {
				out = append(out, item{table: t, name: s.Name, build: func(cfg *config) (*cases, error) { return blockCases(cfg, s) }})
			}
		case "nets":
			for _, s := range netShapes {
				in := fmt.Sprintf("in-%dx%d", s.H, s.H)
				if s.Stages == 3 {
					in = fmt.Sprintf("cifar-%dx%d", s.H, s.H)
				}
				out = append(out, item{table: t, name: s.Name, input: in, build: func(cfg *config) (*cases, error) { return netCases(cfg, s) }})
			}
		}
	}
	return out
}

// plan returns the rows cfg selects.
func plan(cfg *config) []item {
	var out []item
	for _, it := range allItems(cfg.tables) {
		if matches(it, cfg.shapes) {
			out = append(out, it)
		}
	}
	return out
}

func matches(it item, terms []string) bool {
	if len(terms) == 0 {
		return true
	}
	for _, t := range terms {
		if strings.Contains(it.name, t) || (it.input != "" && strings.Contains(it.input, t)) {
			return true
		}
	}
	return false
}

// rowNames lists the distinct row names of tables, for an error message.
func rowNames(tables []string) []string {
	var out []string
	for _, it := range allItems(tables) {
		if !slices.Contains(out, it.name) {
			out = append(out, it.name)
		}
	}
	return out
}

// units is the progress bar's length: per row, one for building it and
// one per round.
func units(cfg *config, items []item) int { return len(items) * (1 + cfg.reps) }

// layerCases builds a C-to-C 3x3 layer at stage shape s on sbconv and,
// with -peer, on the Go peer (random weights of its own: the same shapes
// and the same FLOPs; gopeer's tests check it computes the same function).
func layerCases(cfg *config, w string, s bench.Shape) (*cases, error) {
	c, err := bench.NewCase(w, s, cfg.batch, kernels.Block())
	if err != nil {
		return nil, err
	}
	cs := &cases{sbconv: []*bench.Case{c}}
	if !cfg.peer {
		return cs, nil
	}
	r := rand.New(rand.NewPCG(uint64(s.C), uint64(s.H)+7))
	n, ch, h := cfg.batch, s.C, s.H
	hr := (h + 1) / 2
	wt, b := randSlice(r, ch*ch*9), randSlice(r, ch)
	var run func()
	switch w {
	case bench.Conv3x3S1, bench.Conv3x3S2:
		stride := 1
		if w == bench.Conv3x3S2 {
			stride = 2
		}
		conv, err := gopeer.NewConv(ch, ch, 3, stride, 1, wt, b)
		if err != nil {
			return nil, err
		}
		oh, ow := conv.OutputSize(h, h)
		x, y := randSlice(r, n*ch*h*h), make([]float32, n*ch*oh*ow)
		run = func() { conv.Forward(y, x, n, h, h, nil, true) }
	case bench.DeconvS2:
		d, err := gopeer.NewDeconv(ch, ch, 3, 2, 1, wt, b)
		if err != nil {
			return nil, err
		}
		x, y := randSlice(r, n*ch*hr*hr), make([]float32, n*ch*h*h)
		run = func() { d.Forward(y, x, n, hr, hr, h, h, nil, true) }
	default:
		return nil, fmt.Errorf("no Go peer for %s", w)
	}
	cs.peer = []*bench.Case{{Name: w, Shape: s, N: n, FLOPs: c.FLOPs, Run: func() error { run(); return nil }}}
	return cs, nil
}

// pointwiseCases builds a 1x1 convolution on sbconv and the Go peer.
func pointwiseCases(cfg *config, p bench.Pointwise) (*cases, error) {
	c, err := bench.NewPointwiseCase(p, cfg.batch, kernels.Block())
	if err != nil {
		return nil, err
	}
	cs := &cases{sbconv: []*bench.Case{c}}
	if !cfg.peer {
		return cs, nil
	}
	r := rand.New(rand.NewPCG(uint64(p.InC), uint64(p.OutC)+7))
	n := cfg.batch
	conv, err := gopeer.NewConv(p.InC, p.OutC, 1, 1, 0, randSlice(r, p.InC*p.OutC), randSlice(r, p.OutC))
	if err != nil {
		return nil, err
	}
	x, y := randSlice(r, n*p.InC*p.H*p.H), make([]float32, n*p.OutC*p.H*p.H)
	cs.peer = []*bench.Case{{Name: "conv1x1", Shape: c.Shape, N: n, FLOPs: c.FLOPs,
		Run: func() error { conv.Forward(y, x, n, p.H, p.H, nil, true); return nil }}}
	return cs, nil
}

// blockCases builds block shape s, regular and spatial bottleneck, on
// sbconv and (with -peer) on the Go peer from the same weights and input.
func blockCases(cfg *config, s bench.BlockShape) (*cases, error) {
	cs := &cases{}
	for _, sb := range []bool{false, true} {
		c, err := bench.NewBlockCase(s, sb, cfg.batch)
		if err != nil {
			return nil, err
		}
		cs.sbconv = append(cs.sbconv, c)
	}
	if !cfg.peer {
		return cs, nil
	}
	for _, sb := range []bool{false, true} {
		c := cs.sbconv[btoi(sb)]
		spec := gopeer.BlockSpec{Bottleneck: s.Bottleneck, SB: sb, InC: s.InC, Planes: s.Planes, Stride: s.Stride}
		pb, err := gopeer.NewBlock(c.Weights, "", spec)
		if err != nil {
			return nil, err
		}
		oh, ow := pb.OutputSize(s.H, s.H)
		n, in := cfg.batch, c.Input
		y := make([]float32, n*pb.OutC*oh*ow)
		cs.peer = append(cs.peer, &bench.Case{Name: c.Name, Shape: c.Shape, N: n, FLOPs: c.FLOPs,
			Run: func() error { pb.Forward(y, in, n, s.H, s.H); return nil }})
	}
	return cs, nil
}

// netCases builds network s, regular and with spatial bottlenecks in
// every stage, on sbconv and (with -peer) on the Go peer from the same
// weights and input.
func netCases(cfg *config, s bench.NetShape) (*cases, error) {
	cs := &cases{}
	var nets []*block.Net
	for _, sb := range []bool{false, true} {
		c, net, err := bench.NewNetCase(s, sb, cfg.batch)
		if err != nil {
			return nil, err
		}
		cs.sbconv, nets = append(cs.sbconv, c), append(nets, net)
	}
	if !cfg.peer {
		return cs, nil
	}
	for i, c := range cs.sbconv {
		pn, err := gopeer.NewNet(c.Weights, nets[i])
		if err != nil {
			return nil, err
		}
		n, in := cfg.batch, c.Input
		logits := make([]float32, n*pn.NumClasses())
		cs.peer = append(cs.peer, &bench.Case{Name: c.Name, Shape: c.Shape, N: n, FLOPs: c.FLOPs,
			Run: func() error { pn.Forward(logits, in, n, s.H, s.H); return nil }})
	}
	return cs, nil
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2-1) * 0.1
	}
	return s
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// result is one run's rows (one ISA) with what the header says.
type result struct {
	info runInfo
	rows []*Row
}

// runInfo describes a run; every JSON row carries it.
type runInfo struct {
	CPU        string  `json:"cpu"`
	ISA        string  `json:"isa"`
	Block      int     `json:"block"`
	Threads    int     `json:"threads"`
	Batch      int     `json:"batch"`
	Go         string  `json:"go"`
	OS         string  `json:"os"`
	Arch       string  `json:"arch"`
	PeakGFLOPS float64 `json:"peak_gflops"` // 0: no peak kernel in this build
	PeakISA    string  `json:"peak_isa,omitempty"`
	PeakRuns   int     `json:"peak_measurements,omitempty"`
	Rounds     int     `json:"rounds"`
	MinTimeMS  float64 `json:"mintime_ms"`
}

// Timing is one case's measurement.
type Timing struct {
	US      float64  `json:"us"`                 // median sample: microseconds per run
	BestUS  float64  `json:"best_us"`            // fastest sample
	GFLOPS  float64  `json:"gflops"`             // FLOPs per run / US
	PeakPct *float64 `json:"peak_pct,omitempty"` // GFLOPS as a percentage of the run's peak (absent without a peak kernel)
}

// Row is one row of a table, and one JSON object of -json.
type Row struct {
	runInfo
	Table string  `json:"table"`           // layers, blocks, nets
	Name  string  `json:"name"`            // stage shape, block or network
	Layer string  `json:"layer,omitempty"` // layers: conv3x3s1, conv3x3s2, deconv_s2, conv1x1
	Input string  `json:"input,omitempty"` // nets: the input (cifar-32x32, in-224x224)
	FLOPs float64 `json:"flops"`           // per run: the layer's (peers' count), or the regular block's or network's (real)

	// layers
	Sbconv *Timing `json:"sbconv,omitempty"`
	Gonum  *Timing `json:"gonum,omitempty"`
	XGonum float64 `json:"x_gonum,omitempty"` // median over rounds of gonum time / sbconv time

	// blocks and nets
	SBFLOPs       float64 `json:"sb_flops,omitempty"`
	FLOPRatio     float64 `json:"flop_ratio,omitempty"` // FLOPs / SBFLOPs
	Regular       *Timing `json:"regular,omitempty"`
	SB            *Timing `json:"sb,omitempty"`
	Speedup       float64 `json:"speedup,omitempty"`      // median over rounds of regular / sb
	BestSpeedup   float64 `json:"best_speedup,omitempty"` // regular best / sb best
	GonumRegular  *Timing `json:"gonum_regular,omitempty"`
	GonumSB       *Timing `json:"gonum_sb,omitempty"`
	GonumSpeedup  float64 `json:"gonum_speedup,omitempty"`   // median over rounds of the Go peer's regular / sb
	XGonumRegular float64 `json:"x_gonum_regular,omitempty"` // median over rounds of gonum regular / sbconv regular
	XGonumSB      float64 `json:"x_gonum_sb,omitempty"`      // median over rounds of gonum sb / sbconv sb
}

// measure times every item on this process's microkernel set.
func measure(cfg *config, items []item, bar progress) (*result, error) {
	if err := kernels.ISAError(); err != nil {
		return nil, err
	}
	prevThreads := kernels.Threads()
	kernels.SetThreads(cfg.threads)
	defer kernels.SetThreads(prevThreads)
	// GOMAXPROCS = threads while timing: gonum's Gemm splits a product
	// over GOMAXPROCS goroutines, so the Go peer gets the cores sbconv
	// gets.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.threads))

	res := &result{info: runInfo{
		CPU: cpuName(), ISA: kernels.ISA(), Block: kernels.Block(), Threads: cfg.threads, Batch: cfg.batch,
		Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		Rounds: cfg.reps, MinTimeMS: float64(cfg.minTime) / 1e6,
	}}
	// The peak, measured before the first row and again after each: the
	// greatest measurement counts (other tenants' work only ever slows
	// one down), so %pk is computed when every row is done.
	bench.Peak(cfg.threads)
	res.info.PeakRuns = 1
	for _, it := range items {
		bar.describe(it)
		cs, err := it.build(cfg)
		if err != nil {
			return nil, fmt.Errorf("%s %s %s: %w", it.table, it.name, it.layer, err)
		}
		bar.add()
		samples, err := sampleRounds(cs, cfg.reps, cfg.minTime, bar)
		if err != nil {
			return nil, fmt.Errorf("%s %s %s: %w", it.table, it.name, it.layer, err)
		}
		res.rows = append(res.rows, newRow(it, cs, samples))
		bench.RemeasurePeak(cfg.threads)
		res.info.PeakRuns++
		runtime.GC() // the row's networks go before the next one's are built
	}
	res.info.PeakGFLOPS, res.info.PeakISA = bench.Peak(cfg.threads)
	for _, r := range res.rows {
		r.runInfo = res.info
		for _, t := range []*Timing{r.Sbconv, r.Gonum, r.Regular, r.SB, r.GonumRegular, r.GonumSB} {
			if t != nil && res.info.PeakGFLOPS > 0 {
				pct := 100 * t.GFLOPS / res.info.PeakGFLOPS
				t.PeakPct = &pct
			}
		}
	}
	bar.finish()
	return res, nil
}

// peerRound reports whether the Go peer's cases are sampled in round r:
// every other round (0, 2, 4: three of the default five). They take
// 10-20 times as long as sbconv's, and the factor between the two needs
// less precision than sbconv's own speedup.
func peerRound(r int) bool { return r%2 == 0 }

// sampleRounds runs a row's cases once each to warm up, then takes reps
// rounds of samples: each round one sample of every case (the Go peer's
// in peerRound rounds only), in order on even rounds and in reverse on
// odd ones, so that no case always follows the same neighbour. Ratios of
// samples from one round compare the cases on the same machine state
// (other tenants' load drifts by tens of percent within a minute).
// samples[i] are case i's samples (sbconv's cases, then the peer's) with
// 0 for a round that did not sample it.
func sampleRounds(cs *cases, reps int, minTime time.Duration, bar progress) ([][]time.Duration, error) {
	all := append(slices.Clone(cs.sbconv), cs.peer...)
	for _, c := range all {
		if err := c.Run(); err != nil {
			return nil, err
		}
	}
	samples := make([][]time.Duration, len(all))
	for r := 0; r < reps; r++ {
		for k := range all {
			i := k
			if r%2 == 1 {
				i = len(all) - 1 - k
			}
			var d time.Duration
			if i < len(cs.sbconv) || peerRound(r) {
				var err error
				if d, err = bench.Sample(all[i], minTime); err != nil {
					return nil, err
				}
			}
			samples[i] = append(samples[i], d)
		}
		bar.add()
	}
	return samples, nil
}

// newRow turns a row's samples into its numbers.
func newRow(it item, cs *cases, samples [][]time.Duration) *Row {
	all := append(slices.Clone(cs.sbconv), cs.peer...)
	timing := func(i int) *Timing {
		taken := slices.DeleteFunc(slices.Clone(samples[i]), func(d time.Duration) bool { return d == 0 })
		med, best := bench.Median(taken), slices.Min(taken)
		return &Timing{US: us(med), BestUS: us(best), GFLOPS: all[i].FLOPs / med.Seconds() / 1e9}
	}
	ratio := func(a, b int) float64 { return medianRatio(samples[a], samples[b]) }
	r := &Row{Table: it.table, Name: it.name, Layer: it.layer, Input: it.input, FLOPs: all[0].FLOPs}
	if len(cs.sbconv) == 1 {
		r.Sbconv = timing(0)
		if len(cs.peer) == 1 {
			r.Gonum, r.XGonum = timing(1), ratio(1, 0)
		}
		return r
	}
	r.SBFLOPs = all[1].FLOPs
	r.FLOPRatio = r.FLOPs / r.SBFLOPs
	r.Regular, r.SB = timing(0), timing(1)
	r.Speedup, r.BestSpeedup = ratio(0, 1), r.Regular.BestUS/r.SB.BestUS
	if len(cs.peer) == 2 {
		r.GonumRegular, r.GonumSB = timing(2), timing(3)
		r.GonumSpeedup, r.XGonumRegular, r.XGonumSB = ratio(2, 3), ratio(2, 0), ratio(3, 1)
	}
	return r
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

// medianRatio is the median over the rounds that sampled both of
// a[r] / b[r].
func medianRatio(a, b []time.Duration) float64 {
	var q []float64
	for i := range a {
		if a[i] > 0 && b[i] > 0 {
			q = append(q, float64(a[i])/float64(b[i]))
		}
	}
	sort.Float64s(q)
	if len(q) == 0 {
		return math.NaN()
	}
	if len(q)%2 == 1 {
		return q[len(q)/2]
	}
	return (q[len(q)/2-1] + q[len(q)/2]) / 2
}
