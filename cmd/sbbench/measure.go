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
	table   string
	name    string
	layer   string // layers table: the workload
	input   string // nets and scaling tables: the input's name (cifar-32x32, in-224x224)
	variant string // scaling table: the network's form, "regular" or "sb"
	rate    int    // rates table: the spatial bottleneck's sampling rate
	build   func(cfg *config) (*cases, error)
}

// cases are a row's workloads: sbconv's one (layers) or two (regular,
// spatial bottleneck), and the Go peer's as many (nil with -peer=false).
// A scaling row has one sbconv case and threads: the case is sampled at
// each of those thread counts in turn, in place of once.
type cases struct {
	sbconv  []*bench.Case
	peer    []*bench.Case
	threads []int
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
				out = append(out, item{table: t, name: s.Name, input: netInput(s), build: func(cfg *config) (*cases, error) { return netCases(cfg, s) }})
			}
		case "rates":
			// Per stage shape (basic blocks, CIFAR and ImageNet), then
			// per network (ResNet-20 and ResNet-18): rates 2, 3, 4.
			for _, s := range bench.BlockShapes {
				if s.Bottleneck || strings.HasSuffix(s.Name, "-entry") {
					continue
				}
				for _, r := range rates {
					out = append(out, item{table: t, name: s.Name, rate: r, build: func(cfg *config) (*cases, error) { return rateBlockCases(cfg, s, r) }})
				}
			}
			for _, s := range bench.NetShapes {
				if s.Name != "resnet20" && s.Name != "resnet18" {
					continue
				}
				for _, r := range rates {
					out = append(out, item{table: t, name: s.Name, input: netInput(s), rate: r, build: func(cfg *config) (*cases, error) { return rateNetCases(cfg, s, r) }})
				}
			}
		case "scaling":
			// Per network: batch 1 (latency) then batch B (throughput),
			// each regular then spatial bottleneck.
			for _, s := range netShapes {
				for _, batchB := range []bool{false, true} {
					for _, sb := range []bool{false, true} {
						it := item{table: t, name: s.Name, input: netInput(s), variant: variantName(sb)}
						it.build = func(cfg *config) (*cases, error) { return scalingCases(cfg, s, sb, batchB) }
						out = append(out, it)
					}
				}
			}
		}
	}
	return out
}

// rates are the sampling rates of the rates table.
var rates = []int{2, 3, 4}

// rateBlockCases builds basic block s regular and as a spatial bottleneck
// at rate r (sbconv only: the Go peer has no rate).
func rateBlockCases(cfg *config, s bench.BlockShape, r int) (*cases, error) {
	reg, err := bench.NewBlockCase(s, false, cfg.batch)
	if err != nil {
		return nil, err
	}
	sb, err := bench.NewSBBlockCase(s, r, cfg.batch)
	if err != nil {
		return nil, err
	}
	return &cases{sbconv: []*bench.Case{reg, sb}}, nil
}

// rateNetCases builds network s regular and with spatial bottlenecks at
// rate r in every stage.
func rateNetCases(cfg *config, s bench.NetShape, r int) (*cases, error) {
	reg, _, err := bench.NewNetCase(s, false, cfg.batch)
	if err != nil {
		return nil, err
	}
	sb, _, err := bench.NewSBNetCase(s, r, cfg.batch)
	if err != nil {
		return nil, err
	}
	return &cases{sbconv: []*bench.Case{reg, sb}}, nil
}

// netInput names network s's input: cifar-32x32, in-224x224.
func netInput(s bench.NetShape) string {
	if s.Stages == 3 {
		return fmt.Sprintf("cifar-%dx%d", s.H, s.H)
	}
	return fmt.Sprintf("in-%dx%d", s.H, s.H)
}

func variantName(sb bool) string {
	if sb {
		return "sb"
	}
	return "regular"
}

// scalingBatch is B, the scaling table's throughput batch: -batch when
// it is above 1, else 8.
func scalingBatch(cfg *config) int {
	if cfg.batch > 1 {
		return cfg.batch
	}
	return 8
}

// scalingThreads is N, the thread count the scaling table compares one
// thread with: -threads when it is above 1, else every logical CPU
// (runtime.NumCPU), as many as kernels.SetThreads grants.
func scalingThreads(cfg *config) int {
	n := cfg.threads
	if n == 1 {
		n = runtime.NumCPU()
	}
	prev := kernels.Threads()
	kernels.SetThreads(n)
	n = kernels.Threads()
	kernels.SetThreads(prev)
	return n
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

// scalingCases builds network s, regular or with spatial bottlenecks in
// every stage (as the nets table builds them), at batch 1 or, with
// batchB, at scalingBatch, to be sampled on one thread and on
// scalingThreads.
func scalingCases(cfg *config, s bench.NetShape, sb, batchB bool) (*cases, error) {
	n := 1
	if batchB {
		n = scalingBatch(cfg)
	}
	c, _, err := bench.NewNetCase(s, sb, n)
	if err != nil {
		return nil, err
	}
	return &cases{sbconv: []*bench.Case{c}, threads: []int{1, scalingThreads(cfg)}}, nil
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
	US         float64  `json:"us"`                     // median sample: microseconds per run
	BestUS     float64  `json:"best_us"`                // fastest sample
	GFLOPS     float64  `json:"gflops"`                 // FLOPs per run / US
	PeakPct    *float64 `json:"peak_pct,omitempty"`     // GFLOPS as a percentage of the run's peak (absent without a peak kernel); scaling: of the peak on as many cores as the timing's threads
	ImagesPerS float64  `json:"images_per_s,omitempty"` // scaling: images per call / US, per second
}

// Row is one row of a table, and one JSON object of -json.
type Row struct {
	runInfo
	Table string  `json:"table"`           // layers, blocks, nets, rates, scaling
	Name  string  `json:"name"`            // stage shape, block or network
	Layer string  `json:"layer,omitempty"` // layers: conv3x3s1, conv3x3s2, deconv_s2, conv1x1
	Input string  `json:"input,omitempty"` // nets, rates' networks, scaling: the input (cifar-32x32, in-224x224)
	Rate  int     `json:"rate,omitempty"`  // rates: the spatial bottleneck's sampling rate (2, 3, 4)
	FLOPs float64 `json:"flops"`           // per run: the layer's (peers' count), or the regular block's or network's (real); scaling: the row's network's

	// layers
	Sbconv *Timing `json:"sbconv,omitempty"`
	Gonum  *Timing `json:"gonum,omitempty"`
	XGonum float64 `json:"x_gonum,omitempty"` // median over rounds of gonum time / sbconv time

	// blocks, nets and rates
	SBFLOPs    float64 `json:"sb_flops,omitempty"`
	WeightMB   float64 `json:"weight_mb,omitempty"`    // the regular block's or network's float32 weights, read every call (bench.Case.WeightBytes), in MB (1e6 bytes)
	SBWeightMB float64 `json:"sb_weight_mb,omitempty"` // the spatial bottleneck's
	// SBStreamUS (rates) is how long reading the SB weights once takes,
	// call after call (bench.WeightStream, measured after the row's
	// samples): from the caches where they fit, else from memory. StreamPct
	// is it as a share of the SB time, in percent: near 100, the weights'
	// stream bounds the row at this batch, not its FLOPs.
	SBStreamUS    float64 `json:"sb_stream_us,omitempty"`
	StreamPct     float64 `json:"stream_pct,omitempty"`
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

	// scaling: one network, regular or sb, on one thread and on ThreadsN
	Variant     string  `json:"variant,omitempty"`      // regular or sb
	Images      int     `json:"images,omitempty"`       // images per call: 1 or B (-batch when above 1, else 8)
	ThreadsN    int     `json:"threads_n,omitempty"`    // N: -threads when above 1, else runtime.NumCPU()
	OneThread   *Timing `json:"one_thread,omitempty"`   // kernels.SetThreads(1)
	NThreads    *Timing `json:"n_threads,omitempty"`    // kernels.SetThreads(N)
	Scaling     float64 `json:"scaling,omitempty"`      // median over rounds of one-thread time / N-thread time
	BestScaling float64 `json:"best_scaling,omitempty"` // one-thread best / N-thread best
	Efficiency  float64 `json:"efficiency,omitempty"`   // Scaling / N
	Peak1GFLOPS float64 `json:"peak1_gflops,omitempty"` // the FMA peak of one core (absent without a peak kernel)
	PeakNGFLOPS float64 `json:"peakn_gflops,omitempty"` // the FMA peak of N cores together
	PeakRatio   float64 `json:"peak_ratio,omitempty"`   // PeakNGFLOPS / Peak1GFLOPS: the scaling the cores' arithmetic allows
	LineNS      float64 `json:"line_ns,omitempty"`      // bench.LineRoundTrip right after the row's samples: a cache line's round trip between two cores
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
	// The scaling table's rows run with GOMAXPROCS = N, which its N-thread
	// samples and the N-core peak need; its 1-core and N-core peaks are
	// measured before its first row and again after each of its rows.
	scalingN := scalingThreads(cfg)
	for _, it := range items {
		bar.describe(it)
		err := func() error {
			if it.table == "scaling" {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(cfg.threads, scalingN)))
				defer kernels.SetThreads(cfg.threads)
				bench.Peak(1)
				bench.Peak(scalingN)
			}
			// The rows before are garbage by now: collected here, outside
			// the timing, they neither add to this row's memory (the
			// rates rows hold up to 250 MB of weights) nor stop its
			// samples for a collection.
			runtime.GC()
			cs, err := it.build(cfg)
			if err != nil {
				return err
			}
			bar.add()
			samples, err := sampleRounds(cs, cfg.reps, cfg.minTime, bar)
			if err != nil {
				return err
			}
			row := newRow(it, cs, samples)
			res.rows = append(res.rows, row)
			if it.table == "rates" {
				// The stream makes weights of the SB network's size: the
				// row's networks, which nothing uses past this line, go
				// first.
				wb := cs.sbconv[1].WeightBytes
				runtime.GC()
				d, err := bench.WeightStream(wb)
				if err != nil {
					return fmt.Errorf("weight stream: %w", err)
				}
				row.SBStreamUS = us(d)
				row.StreamPct = 100 * row.SBStreamUS / row.SB.US
			}
			if it.table == "scaling" {
				res.rows[len(res.rows)-1].LineNS = float64(bench.LineRoundTrip().Nanoseconds())
				// (The peak on cfg.threads is remeasured below.)
				if cfg.threads != 1 {
					bench.RemeasurePeak(1)
				}
				if scalingN != 1 && scalingN != cfg.threads {
					bench.RemeasurePeak(scalingN)
				}
			}
			return nil
		}()
		if err != nil {
			return nil, fmt.Errorf("%s %s %s%s: %w", it.table, it.name, it.layer, it.variant, err)
		}
		bench.RemeasurePeak(cfg.threads)
		res.info.PeakRuns++
		runtime.GC() // the row's networks go before the next one's are built
	}
	res.info.PeakGFLOPS, res.info.PeakISA = bench.Peak(cfg.threads)
	setPct := func(t *Timing, peak float64) {
		if t != nil && peak > 0 {
			pct := 100 * t.GFLOPS / peak
			t.PeakPct = &pct
		}
	}
	for _, r := range res.rows {
		r.runInfo = res.info
		for _, t := range []*Timing{r.Sbconv, r.Gonum, r.Regular, r.SB, r.GonumRegular, r.GonumSB} {
			setPct(t, res.info.PeakGFLOPS)
		}
		if r.Table == "scaling" {
			// Cached: these are the greatest of the measurements above.
			r.Peak1GFLOPS, _ = bench.Peak(1)
			r.PeakNGFLOPS, _ = bench.Peak(r.ThreadsN)
			if r.Peak1GFLOPS > 0 {
				r.PeakRatio = r.PeakNGFLOPS / r.Peak1GFLOPS
			}
			setPct(r.OneThread, r.Peak1GFLOPS)
			setPct(r.NThreads, r.PeakNGFLOPS)
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
// 0 for a round that did not sample it. A scaling row's cases are its one
// case at each of cs.threads (kernels.SetThreads before each sample and
// warm-up run), so that the thread counts alternate as the cases of a row
// do; samples[i] are then those at cs.threads[i].
func sampleRounds(cs *cases, reps int, minTime time.Duration, bar progress) ([][]time.Duration, error) {
	all := sampled(cs)
	set := func(i int) {
		if cs.threads != nil {
			kernels.SetThreads(cs.threads[i])
		}
	}
	for i, c := range all {
		set(i)
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
			if i < len(cs.sbconv) || cs.threads != nil || peerRound(r) {
				set(i)
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

// sampled lists what sampleRounds samples, in order: sbconv's cases, then
// the peer's; for a scaling row, its one case once per thread count.
func sampled(cs *cases) []*bench.Case {
	if cs.threads != nil {
		all := make([]*bench.Case, len(cs.threads))
		for i := range all {
			all[i] = cs.sbconv[0]
		}
		return all
	}
	return append(slices.Clone(cs.sbconv), cs.peer...)
}

// newRow turns a row's samples into its numbers.
func newRow(it item, cs *cases, samples [][]time.Duration) *Row {
	all := sampled(cs)
	timing := func(i int) *Timing {
		taken := slices.DeleteFunc(slices.Clone(samples[i]), func(d time.Duration) bool { return d == 0 })
		med, best := bench.Median(taken), slices.Min(taken)
		return &Timing{US: us(med), BestUS: us(best), GFLOPS: all[i].FLOPs / med.Seconds() / 1e9}
	}
	ratio := func(a, b int) float64 { return medianRatio(samples[a], samples[b]) }
	r := &Row{Table: it.table, Name: it.name, Layer: it.layer, Input: it.input, Rate: it.rate, FLOPs: all[0].FLOPs}
	if cs.threads != nil {
		c := all[0]
		r.Variant, r.Images, r.ThreadsN = it.variant, c.N, cs.threads[1]
		r.OneThread, r.NThreads = timing(0), timing(1)
		for _, t := range []*Timing{r.OneThread, r.NThreads} {
			t.ImagesPerS = float64(c.N) / (t.US / 1e6)
		}
		r.Scaling, r.BestScaling = ratio(0, 1), r.OneThread.BestUS/r.NThreads.BestUS
		r.Efficiency = r.Scaling / float64(r.ThreadsN)
		return r
	}
	if len(cs.sbconv) == 1 {
		r.Sbconv = timing(0)
		if len(cs.peer) == 1 {
			r.Gonum, r.XGonum = timing(1), ratio(1, 0)
		}
		return r
	}
	r.SBFLOPs = all[1].FLOPs
	r.WeightMB, r.SBWeightMB = all[0].WeightBytes/1e6, all[1].WeightBytes/1e6
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
