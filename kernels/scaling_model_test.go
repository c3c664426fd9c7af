package kernels

// The scaling model (docs/scaling.md): for every convolution of
// ResNet-18/50, regular and spatial-bottleneck, at batch 1 and 8, it asks
// the code a network call runs (prepare, threadsWith at the held
// threshold, split, unit) how the call splits on T threads, weighs each
// unit by the FLOPs it computes, deals the units as internal/workers does
// and predicts the network's time and speedup at T. Nothing is timed: the
// one-thread speed is a measured constant (modelNets).
//
//	go test -count 1 -run 'TestScalingModel$' -v ./kernels/
//
// With SBCONV_MODEL_TIME=1 it times each layer on one thread instead (a
// few seconds of one core) and predicts from those times.

import (
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/internal/workers"
	"github.com/sbconv/sbconv/layout"
)

// modelTime: time each layer on one thread (SBCONV_MODEL_TIME=1) instead
// of taking the networks' measured speed.
var modelTime = os.Getenv("SBCONV_MODEL_TIME") == "1"

// timeLayer returns l's one-thread time for ml at batch: the best of a
// few calls after a warm-up, on tensors of its own.
func timeLayer(l *layer, ml modelLayer, batch int) (float64, error) {
	blk := l.block
	src, err := layout.New(batch, ml.spec.InC, ml.ih, ml.iw, blk)
	if err != nil {
		return 0, err
	}
	dst, err := layout.New(batch, ml.spec.OutC, ml.oh, ml.ow, blk)
	if err != nil {
		return 0, err
	}
	defer SetThreads(Threads())
	SetThreads(1)
	l.run(dst, src, Epilogue{ReLU: true})
	best := math.Inf(1)
	for range 5 {
		start := time.Now()
		l.run(dst, src, Epilogue{ReLU: true})
		best = min(best, time.Since(start).Seconds())
	}
	return best, nil
}

// modelThreads are the thread counts the model predicts for.
var modelThreads = []int{1, 2, 4, 8, 16, 32, 64}

// modelNet is a network of the model and its measured one-thread time at
// batch 1 (AMD EPYC Zen 5, one core, AVX-512, block 16: medians of five
// runs of ResNet-18 and three of ResNet-50, every network in turn,
// 2026-12-05 03:00-03:05 UTC, with the kernels' prefetch ahead and the
// next-unit prefetch of every output block). The model's
// per-thread speed is the network's
// kernel FLOPs (padded channels and every tap, as the units count them)
// over that time, the same for every layer and batch.
type modelNet struct {
	arch string // "resnet18" or "resnet50"
	sb   bool   // every stage of spatial bottlenecks
	ms   float64
	rate int // the spatial bottlenecks' sampling rate; 0 means 2
}

var modelNets = []modelNet{
	{"resnet18", false, 17.7, 0},
	{"resnet18", true, 6.3, 0},
	{"resnet18", true, 4.7, 3},
	{"resnet18", true, 7.7, 4},
	{"resnet50", false, 41.2, 0},
	{"resnet50", true, 34.7, 0},
	{"resnet50", true, 29.6, 3},
	{"resnet50", true, 36.0, 4},
}

func (m modelNet) String() string {
	switch {
	case !m.sb:
		return m.arch
	case m.rate > 2:
		return fmt.Sprintf("%s SB rate %d", m.arch, m.rate)
	}
	return m.arch + " SB"
}

// kernels returns the sizes of m's reduce (Kr) and restore (K) kernels
// at its rate r, block.RandomStateDict's: the smallest odd size at least
// r (3, 3, 5).
func (m modelNet) kernels() (r, kr, k int) {
	r = max(m.rate, 2)
	return r, r | 1, r | 1
}

// modelLayer is one convolution of a network: its spec, whether it is
// transposed, and its input and output sizes for one image.
type modelLayer struct {
	name           string
	spec           ConvSpec
	deconv         bool
	ih, iw, oh, ow int
	real           float64 // FLOPs for one image by Conv2D/ConvTranspose2D.FLOPs; the stem: its 7x7 convolution's
}

func modelOut(h, k, s, p int) int { return (h+2*p-k)/s + 1 }

func sq(in, out, k, stride, pad int) ConvSpec {
	return ConvSpec{InC: in, OutC: out, KH: k, KW: k, StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
}

// netLayers lists the convolutions of m for a 224x224 input in the order
// a network runs them, named as Net.Steps names them. The stem is the
// inner convolution block/stem.go builds over its packed channels at
// channel block blk: R = 2 rows packed at block 16 (42 channels, 4x1 taps,
// stride 1, no padding, over 115 packed rows), none at block 8 (21
// channels, 7x1 taps, stride (2, 1), padding (3, 0)); its real FLOPs are
// those of the 7x7 stride-2 convolution over three channels.
func netLayers(m modelNet, blk int) []modelLayer {
	var out []modelLayer
	stem := modelLayer{name: "conv1", oh: 112, ow: 112, iw: 112,
		real: 2 * 64 * 112 * 112 * 3 * 7 * 7}
	if blk == 16 {
		stem.spec = ConvSpec{InC: 42, OutC: 64, KH: 4, KW: 1, StrideH: 1, StrideW: 1}
		stem.ih = 112 + 4 - 1
	} else {
		stem.spec = ConvSpec{InC: 21, OutC: 64, KH: 7, KW: 1, StrideH: 2, StrideW: 1, PadH: 3}
		stem.ih = 224
	}
	out = append(out, stem)
	add := func(name string, s ConvSpec, ih, iw int) (int, int) {
		oh, ow := modelOut(ih, s.KH, s.StrideH, s.PadH), modelOut(iw, s.KW, s.StrideW, s.PadW)
		out = append(out, modelLayer{name: name, spec: s, ih: ih, iw: iw, oh: oh, ow: ow,
			real: 2 * float64(s.OutC*oh*ow) * float64(s.InC*s.KH*s.KW)})
		return oh, ow
	}
	r, kr, k := m.kernels()
	restore := func(name string, c, ih, oh int) {
		s := sq(c, c, k, r, (k-1)/2)
		taps := deconvTaps(ih, oh, k, r, (k-1)/2)
		out = append(out, modelLayer{name: name, spec: s, deconv: true, ih: ih, iw: ih, oh: oh, ow: oh,
			real: 2 * float64(c*c) * taps * taps})
	}
	blocks, bottleneck := []int{2, 2, 2, 2}, false
	if m.arch == "resnet50" {
		blocks, bottleneck = []int{3, 4, 6, 3}, true
	}
	h, inC := 56, 64 // after the 3x3 stride-2 max pool
	for st := 1; st <= 4; st++ {
		planes := 64 << (st - 1)
		outC := planes
		if bottleneck {
			outC = 4 * planes
		}
		for i := 0; i < blocks[st-1]; i++ {
			stride := 1
			if st > 1 && i == 0 {
				stride = 2
			}
			p := fmt.Sprintf("layer%d.%d.", st, i)
			ho := (h-1)/stride + 1
			down := func() {
				if stride != 1 || inC != outC {
					add(p+"downsample", sq(inC, outC, 1, stride, 0), h, h)
				}
			}
			switch {
			case bottleneck && m.sb:
				add(p+"conv1", sq(inC, planes, 1, 1, 0), h, h)
				hm, _ := add(p+"conv2", sq(planes, planes, kr, r*stride, (kr-1)/2), h, h)
				restore(p+"conv3", planes, hm, ho)
				down()
				add(p+"conv4", sq(planes, outC, 1, 1, 0), ho, ho)
			case bottleneck:
				add(p+"conv1", sq(inC, planes, 1, 1, 0), h, h)
				add(p+"conv2", sq(planes, planes, 3, stride, 1), h, h)
				down()
				add(p+"conv3", sq(planes, outC, 1, 1, 0), ho, ho)
			case m.sb:
				hm, _ := add(p+"conv1", sq(inC, planes, kr, r*stride, (kr-1)/2), h, h)
				down()
				restore(p+"conv2", planes, hm, ho)
			default:
				add(p+"conv1", sq(inC, planes, 3, stride, 1), h, h)
				down()
				add(p+"conv2", sq(planes, planes, 3, 1, 1), ho, ho)
			}
			h, inC = ho, outC
		}
	}
	add("fc", sq(inC, 1000, 1, 1, 0), 1, 1)
	return out
}

// ScalingModelSteps is netLayers for the cross-check against block.Net
// (scaling_net_test.go, package kernels_test): the layers' names and
// real FLOPs at batch n, the spatial bottlenecks at rate (0 means 2).
func ScalingModelSteps(arch string, sb bool, rate, n int) (names []string, flops []float64) {
	for _, ml := range netLayers(modelNet{arch: arch, sb: sb, rate: rate}, Block()) {
		names = append(names, ml.name)
		flops = append(flops, float64(n)*ml.real)
	}
	return names, flops
}

// ScalingModelRace tells the cross-check (package kernels_test) that
// -race instruments the build: it then checks ResNet-18 only (building
// ResNet-50's random weights takes 15 s instrumented).
const ScalingModelRace = raceBuild

// layerKey identifies a layer the model builds: layers of the same spec
// split alike, so one is built for all of them.
type layerKey struct {
	spec   ConvSpec
	deconv bool
	blk    int
}

// modelLayers are the layers built so far (building, which packs the
// weights, is most of the model's time).
var modelLayers = map[layerKey]*layer{}

// build makes the layer with zero weights at channel block blk, or
// returns the one made for the same spec.
func (ml modelLayer) build(blk int) (*layer, error) {
	k := layerKey{ml.spec, ml.deconv, blk}
	if l := modelLayers[k]; l != nil {
		return l, nil
	}
	l, err := ml.newLayer(blk)
	if err == nil {
		modelLayers[k] = l
	}
	return l, err
}

func (ml modelLayer) newLayer(blk int) (*layer, error) {
	s := ml.spec
	w := make([]float32, s.InC*s.OutC*s.KH*s.KW)
	if ml.deconv {
		d, err := NewConvTranspose2D(s, w, nil, blk)
		if err != nil {
			return nil, err
		}
		return &d.l, nil
	}
	c, err := NewConv2D(s, w, nil, blk)
	if err != nil {
		return nil, err
	}
	return &c.l, nil
}

// modelSplit is one call of a layer on T threads as the model sees it.
type modelSplit struct {
	n     int       // goroutines the call's units run on (Run's min(threads, units))
	work  []float64 // FLOPs of each unit
	total float64   // the call's work by passFLOPs
	syncs int       // parallel Runs of the call: the halo copy's and the units'
	busy  float64   // the busiest goroutine's FLOPs under the workers' dealing
}

// balance is the mean work of the call's goroutines over the busiest's.
func (s modelSplit) balance() float64 { return s.total / float64(s.n) / s.busy }

// splitCall splits a call of l on src into dst for T threads as run does
// with the workers held, and deals its units.
func splitCall(l *layer, dst, src *layout.Tensor, T int) (modelSplit, *fwd) {
	f := new(fwd)
	l.prepare(f, dst, src, Epilogue{})
	n := l.threadsWith(T, heldPerThread(productionMinHeld, l.block), src, dst)
	units := f.split(n)
	s := modelSplit{n: min(n, units), work: make([]float64, units), total: passFLOPs(f)}
	for u := range s.work {
		s.work[u] = unitFLOPs(f, u)
	}
	if !f.pl.halo.none() && min(n, src.N*src.ChannelBlocks()) > 1 {
		s.syncs++
	}
	if s.n > 1 {
		s.syncs++
	}
	s.busy = slices.Max(deal(s.work, s.n))
	return s, f
}

// unitPassList returns the passes unit pi computes: one pass, or both
// horizontal phases of a fused restore's row pass (restoreRows).
func unitPassList(f *fwd, pi int) []int {
	if f.pl.kind == fusedRestore {
		rh := f.l.rowPasses[pi].rh * f.l.spec.StrideW
		return []int{rh, rh + 1}
	}
	pi, up := f.unitPass(pi)
	if up != nil {
		var ps []int
		for k := 0; k < up.group.m; k++ {
			ps = append(ps, pi+k)
		}
		return ps
	}
	return []int{pi}
}

// passFLOPs is the work of f's call counted pass by pass, not by unit:
// every output row and column of every pass x the output and input
// channels (padded to the block) x the pass's taps, two FLOPs each, for
// every image. It is callFLOPs for a convolution and for a transposed one
// whose output is StrideH x StrideW its input; a restore to an odd size
// (ResNet's 4x4 to 7x7) computes fewer taps than callFLOPs counts.
func passFLOPs(f *fwd) float64 {
	l := f.l
	var w float64
	for p, gm := range f.pl.gm {
		w += 2 * float64(f.dst.N) * float64(gm.nrows*gm.ncols) * float64(l.ocb*l.block) *
			float64(l.icb*l.block) * float64(l.passes[p].kh*l.passes[p].kw)
	}
	return w
}

// unitFLOPs is the work of unit u as the kernels do it: for each pass it
// computes, its rows of the chunk x the pass's columns x its output
// channels x the input channels x the pass's taps, two FLOPs each.
func unitFLOPs(f *fwd, u int) float64 {
	_, pi, o0, o1, c := f.unit(u)
	l := f.l
	var w float64
	for _, p := range unitPassList(f, pi) {
		gm := f.pl.gm[p]
		lo, hi := c*gm.nrows/f.chunks, (c+1)*gm.nrows/f.chunks
		w += 2 * float64(hi-lo) * float64(gm.ncols) * float64((o1-o0)*l.block) *
			float64(l.icb*l.block) * float64(l.passes[p].kh*l.passes[p].kw)
	}
	return w
}

// deal returns each goroutine's work when the units are dealt as
// workers.Run deals them: n contiguous ranges, range i = [i*units/n,
// (i+1)*units/n); goroutine i runs its own range, then takes the next
// unit of range i+1, i+2, ... (mod n) until all are done. All start at
// once (held workers); whichever goroutine is free first takes the next
// unit.
func deal(work []float64, n int) []float64 {
	units := len(work)
	next, end := make([]int, n), make([]int, n)
	for i := range next {
		next[i], end[i] = i*units/n, (i+1)*units/n
	}
	at := make([]int, n) // the range goroutine i takes from now: (i + at[i]) mod n
	t := make([]float64, n)
	done := make([]bool, n)
	for {
		b := -1
		for i := range t {
			if !done[i] && (b < 0 || t[i] < t[b]) {
				b = i
			}
		}
		if b < 0 {
			return t
		}
		for at[b] < n && next[(b+at[b])%n] >= end[(b+at[b])%n] {
			at[b]++
		}
		if at[b] == n {
			done[b] = true
			continue
		}
		p := (b + at[b]) % n
		t[b] += work[next[p]]
		next[p]++
	}
}

// layerRow is one layer of a network at batch N, split for each of
// modelThreads.
type layerRow struct {
	name   string
	splits []modelSplit
	one    float64 // seconds on one thread: its work at the network's speed, or measured
}

// netModel is a network at one batch: its layers and its predicted times.
type netModel struct {
	net    modelNet
	batch  int
	layers []layerRow
	speed  float64   // kernel FLOPs a second on one thread (the network's mean when measured)
	timed  bool      // the layers' one-thread times were measured (SBCONV_MODEL_TIME)
	times  []float64 // predicted seconds at each of modelThreads
	slow   []float64 // the same with every parallel Run costing slowSync
}

// slowSync is a parallel Run's cost for the model's sensitivity column:
// SyncCost is measured on two threads, and joining more goroutines costs
// more (a ticket and a counter each, their cache lines moving between
// cores).
const slowSync = 4 * workers.SyncCost

// modelNetwork splits every layer of m at batch for every T and predicts
// the network's time; check sees every call (the tests' assertions).
func modelNetwork(m modelNet, batch int, check func(name string, T int, s modelSplit, f *fwd)) (*netModel, error) {
	blk := Block()
	nm := &netModel{net: m, batch: batch}
	var flops1 float64 // kernel FLOPs at batch 1
	for _, ml := range netLayers(m, blk) {
		l, err := ml.build(blk)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", m, ml.name, err)
		}
		src := &layout.Tensor{N: batch, C: ml.spec.InC, H: ml.ih, W: ml.iw, Block: blk}
		dst := &layout.Tensor{N: batch, C: ml.spec.OutC, H: ml.oh, W: ml.ow, Block: blk}
		row := layerRow{name: ml.name}
		for _, T := range modelThreads {
			s, f := splitCall(l, dst, src, T)
			if check != nil {
				check(ml.name, T, s, f)
			}
			row.splits = append(row.splits, s)
		}
		flops1 += row.splits[0].total / float64(batch)
		if modelTime {
			if row.one, err = timeLayer(l, ml, batch); err != nil {
				return nil, fmt.Errorf("%s %s: %w", m, ml.name, err)
			}
			nm.timed = true
		}
		nm.layers = append(nm.layers, row)
	}
	nm.speed = flops1 / (m.ms * 1e-3)
	if nm.timed {
		var sum float64
		for _, r := range nm.layers {
			sum += r.one
		}
		nm.speed = flops1 * float64(batch) / sum
	} else {
		for i := range nm.layers {
			nm.layers[i].one = nm.layers[i].splits[0].total / nm.speed
		}
	}
	sync := workers.SyncCost.Seconds()
	nm.times = make([]float64, len(modelThreads))
	nm.slow = make([]float64, len(modelThreads))
	for i := range modelThreads {
		for _, r := range nm.layers {
			s := r.splits[i]
			busy := s.busy / s.total * r.one
			nm.times[i] += busy + float64(s.syncs)*sync
			nm.slow[i] += busy + float64(s.syncs)*slowSync.Seconds()
		}
	}
	return nm, nil
}

// TestScalingModel prints the model's predictions (with -v) and checks
// the split code on every layer of the four networks: the units partition
// the call's work exactly (every output row of every pass, channel block
// and image once, FLOPs summing to the passes' work), each has work, and the
// predictions are possible ones.
func TestScalingModel(t *testing.T) {
	var report strings.Builder
	for _, m := range modelNets {
		for _, batch := range []int{1, 8} {
			nm, err := modelNetwork(m, batch, func(name string, T int, s modelSplit, f *fwd) {
				checkPartition(t, fmt.Sprintf("%s batch %d %s T=%d", m, batch, name, T), s, f)
				require.LessOrEqual(t, s.n, T, "%s %s T=%d", m, name, T)
				b := s.balance()
				require.True(t, b > 0 && b <= 1+1e-12, "%s %s T=%d: balance %v", m, name, T, b)
			})
			require.NoError(t, err)
			sp := make([]float64, len(modelThreads))
			for i, T := range modelThreads {
				sp[i] = nm.times[0] / nm.times[i]
				require.LessOrEqual(t, sp[i], float64(T)*(1+1e-12), "%s batch %d T=%d", m, batch, T)
				if i > 0 {
					// More threads never make a network slower here: a
					// layer that stops gaining from them (too few units,
					// or the held threshold) keeps its split.
					require.GreaterOrEqual(t, sp[i], sp[i-1], "%s batch %d T=%d: speedup %.2f after %.2f", m, batch, T, sp[i], sp[i-1])
				}
			}
			require.InDelta(t, 1, sp[0], 1e-12)
			if batch == 1 && !nm.timed {
				require.InDelta(t, m.ms*1e-3, nm.times[0], 1e-9, "%s: one thread must be the measured time", m)
			}
			writeModel(&report, nm)
		}
	}
	t.Log("\n" + report.String())
}

// checkPartition checks that the units of a split cover every output row
// of every pass, output block and image exactly once, that each has work,
// and that their work adds up to the passes' work (passFLOPs).
func checkPartition(t *testing.T, what string, s modelSplit, f *fwd) {
	t.Helper()
	l := f.l
	rows := make([]int, len(l.passes))
	for p := range l.passes {
		rows[p] = f.pl.gm[p].nrows
	}
	cover := make([][]int, f.dst.N*len(l.passes)*l.ocb) // per (image, pass, block): times each row is computed
	for i := range cover {
		cover[i] = make([]int, rows[i%len(l.passes)])
	}
	var sum float64
	for u, w := range s.work {
		if w <= 0 {
			require.Failf(t, "a unit has no work", "%s: unit %d: %v FLOPs", what, u, w)
		}
		sum += w
		n, pi, o0, o1, c := f.unit(u)
		for _, p := range unitPassList(f, pi) {
			lo, hi := c*rows[p]/f.chunks, (c+1)*rows[p]/f.chunks
			for o := o0; o < o1; o++ {
				rs := cover[(n*l.ocb+o)*len(l.passes)+p]
				for r := lo; r < hi; r++ {
					rs[r]++
				}
			}
		}
	}
	for i, rs := range cover {
		for r, k := range rs {
			if k != 1 {
				require.Failf(t, "units overlap or miss", "%s: image %d block %d pass %d row %d computed %d times",
					what, i/len(l.passes)/l.ocb, i/len(l.passes)%l.ocb, i%len(l.passes), r, k)
			}
		}
	}
	require.InEpsilon(t, s.total, sum, 1e-12, "%s: units' FLOPs against passFLOPs", what)
}

// writeModel writes nm's predictions: per T the predicted time, the
// speedup, and the layers that lose the most time to imbalance and idle
// threads.
func writeModel(w *strings.Builder, nm *netModel) {
	how := "the network's measured time"
	if nm.timed {
		how = "each layer timed here (SBCONV_MODEL_TIME)"
	}
	fmt.Fprintf(w, "%s, batch %d: %.1f GFLOP (kernel), one-thread speed %.0f GFLOP/s from %s, SyncCost %v a parallel Run\n",
		nm.net, nm.batch, nm.layers0FLOPs()/1e9, nm.speed/1e9, how, workers.SyncCost)
	fmt.Fprintf(w, "| T | predicted ms | speedup | efficiency | sync share | speedup at %v a Run | layers split | worst layers (work over T threads / busiest; units/threads) |\n", slowSync)
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|\n")
	sync := workers.SyncCost.Seconds()
	for i, T := range modelThreads {
		var syncT float64
		split := 0
		type loss struct {
			name string
			use  float64
			lost float64
			s    modelSplit
		}
		var ls []loss
		for _, r := range nm.layers {
			s := r.splits[i]
			syncT += float64(s.syncs) * sync
			if s.n > 1 {
				split++
			}
			ls = append(ls, loss{r.name, s.total / float64(T) / s.busy, (s.busy - s.total/float64(T)) / s.total * r.one, s})
		}
		sort.SliceStable(ls, func(a, b int) bool { return ls[a].lost > ls[b].lost })
		var worst []string
		for _, x := range ls[:3] {
			if x.lost <= 0 {
				break
			}
			worst = append(worst, fmt.Sprintf("%s %.2f (%d/%d)", x.name, x.use, len(x.s.work), x.s.n))
		}
		sp := nm.times[0] / nm.times[i]
		fmt.Fprintf(w, "| %d | %.2f | %.2f | %.0f%% | %.0f%% | %.2f | %d/%d | %s |\n", T, nm.times[i]*1e3, sp,
			100*sp/float64(T), 100*syncT/nm.times[i], nm.slow[0]/nm.slow[i], split, len(nm.layers), strings.Join(worst, ", "))
	}
	fmt.Fprintln(w)
}

// layers0FLOPs is the network's kernel FLOPs at its batch.
func (nm *netModel) layers0FLOPs() float64 {
	var s float64
	for _, r := range nm.layers {
		s += r.splits[0].total
	}
	return s
}

// TestScalingModelDeal checks the dealing against cases worked by hand.
func TestScalingModelDeal(t *testing.T) {
	eq := func(want, got []float64) {
		t.Helper()
		require.Equal(t, want, got)
	}
	eq([]float64{4}, deal([]float64{1, 1, 1, 1}, 1))
	eq([]float64{2, 2}, deal([]float64{1, 1, 1, 1}, 2))
	// Goroutine 1's range {3} ends at 3; it then takes from range 0's
	// end... no: from range 0's next unit, which goroutine 0 left behind.
	// Range 0 = {1, 1, 1}, range 1 = {1, 1, 1}: even.
	eq([]float64{3, 3}, deal([]float64{1, 1, 1, 1, 1, 1}, 2))
	// Ranges {4, 1} and {1, 1}: goroutine 1 finishes its own at 2 and
	// takes range 0's second unit (goroutine 0 is busy until 4).
	eq([]float64{4, 3}, deal([]float64{4, 1, 1, 1}, 2))
	// Ranges {1} and {1, 1}: at the tie the lower goroutine takes the
	// unit left in range 1.
	eq([]float64{2, 1}, deal([]float64{1, 1, 1}, 2))
	// Four threads, one heavy unit: the others share the rest.
	eq([]float64{8, 4, 3, 3}, deal([]float64{8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 4))
}
