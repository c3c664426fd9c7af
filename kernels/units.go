package kernels

// This file decides how one Forward call splits into work units (image x
// channel-block group x pass x row chunk) and what one unit computes.

import (
	"unsafe"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/internal/intmath"
	"github.com/sbconv/sbconv/layout"
)

// fwd is one Forward call: the tensors and the split into units.
type fwd struct {
	l          *layer
	pl         *plan
	dst, res   *layout.Tensor
	relu       int
	groups     int  // channel-block groups
	chunks     int  // row chunks per pass
	unitPasses int  // passes the units iterate: l.rowPasses on the fusedRestore path, else l.passes
	rowsOuter  bool // units ordered image, row chunk, group, pass: see split
	imagesIn   bool // units ordered group, image, pass, chunk (else image, group, pass, chunk): see split

	// The input the microkernels read: src itself, or src copied into a
	// workspace with the plan's halo of zero columns on the left and
	// right (halo.go), so that no output column needs a narrowed window.
	src    *layout.Tensor
	sdata  []float32
	sh, sw int // rows and (padded) columns of sdata
	haloL  int // left halo columns: input column x is sdata column x+haloL
	ws     *workspace
	copier haloCopy

	prm     asm.Params // the calling goroutine's microkernel arguments
	threads int        // goroutines computing the units

	rep, rec *replay // the plan's record this call replays, or the one it makes (replay.go)
}

// unitsPerThread is how many work units a call aims for per thread: enough
// that the atomic counter balances uneven units, few enough that each unit
// still covers whole rows.
const unitsPerThread = 16

// minUnitFLOPs is the least work a unit is cut to when a call is split
// for more units (row chunks) than its images, passes and groups give: a
// unit costs its own setup and microkernel calls of fewer pixels, and the
// workers deal units out in contiguous ranges (internal/workers), so few
// units balance well. (A 64-channel 8x8 CIFAR layer on two held threads,
// AMD EPYC Zen 5: 13.5 us cut for 1.5e5 FLOP a unit, 12.0 for 2e6, 17.7
// on one thread.)
const minUnitFLOPs = 1e6

// split divides f's work into units for n threads (see RunUnit) and
// returns how many there are.
//
// The workers deal units out in contiguous ranges, one per thread, so the
// order of the units decides what each thread computes. Unless the
// layer's weights are both larger than its input map and larger than
// rowsOuterWeights, a thread's range is a band of rows of every channel
// (row chunk outermost within an image, then group, then pass), and the
// chunks are a multiple of the threads when a range would cut through an
// image: layer after layer the same thread then writes and reads the same
// rows, in its own core's cache. Ordered by group first, each thread
// wrote part of the channels of every row and the next layer read the
// rest from the other core: on two held threads (AMD EPYC Zen 5, AVX2) a
// 16-channel 32x32 CIFAR 3x3 layer's halves ran 21.5 us each with the
// other core busy, as fast as alone, in row bands; the spatial
// bottleneck's 64-channel 8x8 layers, whose bands share a third of their
// rows, still ran 60% slower than alone. With large weights (ImageNet's
// late stages: 2.4-9.4 MB against a 0.1-0.2 MB map) a range is a group of
// output channels over every row instead, so that each thread reads only
// its own share of the weights; and on a batch, where the weights outweigh
// the groups' re-reads of each image's input, the images go inside the
// groups (imagesIn), so that the call reads the weights once, not once an
// image: on one AVX2 core at batch 8 the SB basic block of in-512x7 at
// rates 2/3/4 went from 92/71/34% to 97/80/46% of its FLOP ratio
// (ResNet-50's 1x1 layers of stage 4, 4 MB of weights against 22 groups
// of a 0.4 MB input, ran 3-4% slower so and keep images outermost).
func (f *fwd) split(n int) int {
	l := f.l
	f.threads = n
	f.unitPasses = len(l.passes)
	switch {
	case f.pl.kind == fusedRestore:
		f.unitPasses = len(l.rowPasses)
	case f.pl.ups != nil:
		f.unitPasses = len(f.pl.ups)
	}
	f.chunks = 1
	f.groups = intmath.CeilDiv(l.ocb, l.path.MaxOCB)
	if n == 1 && f.dst.N == 1 {
		// One thread, one image: the unit order and the chunks below
		// matter only to several of either (a CIFAR network's 20-odd small
		// layers a call skip their sums and divisions).
		f.rowsOuter, f.imagesIn = false, false
		return f.unitPasses * f.groups
	}
	wb, ib := l.weightBytes(), f.src.H*f.src.W*l.icb*l.block*4 // weights, one image's input
	big := wb > max(rowsOuterWeights, ib)
	f.rowsOuter = n > 1 && !big
	// Images inside the groups read the weights once a call but each
	// image's input once a group: worth it where the weights outweigh
	// the inputs so re-read.
	f.imagesIn = big && f.dst.N > 1 && wb > ib*f.groups
	base := f.dst.N * f.unitPasses * f.groups
	want := min(unitsPerThread*n, max(n, int(l.callFLOPs(f.src, f.dst)/minUnitFLOPs)))
	if n > 1 && base < want {
		f.chunks = intmath.CeilDiv(want, base)
	}
	if f.rowsOuter && f.dst.N%n != 0 {
		// Ranges that cut through an image cut between row bands.
		f.chunks = intmath.RoundUp(f.chunks, n)
	}
	f.chunks = min(f.chunks, f.fewestRows())
	return base * f.chunks
}

// fewestRows is the least number of rows a pass of the call computes (at
// least 1): more chunks than that would leave some units without work.
func (f *fwd) fewestRows() int {
	rows := f.dst.H
	for i := range f.pl.gm {
		if r := f.pl.gm[i].nrows; r > 0 {
			rows = min(rows, r)
		}
	}
	return max(1, rows)
}

// rowsOuterWeights is the size of weights that every thread reading all of
// them costs less than a map's rows moving between cores: they stay in
// each core's L2 from call to call.
const rowsOuterWeights = 512 << 10

// weightBytes is the size of the layer's packed weights.
func (l *layer) weightBytes() int {
	b := 0
	for i := range l.passes {
		b += 4 * len(l.passes[i].wei)
	}
	return b
}

// RunUnit computes unit u: one image, one pass, one channel-block group,
// one chunk of rows.
func (f *fwd) RunUnit(u int, prm *asm.Params) {
	if f.rep != nil {
		f.replayCalls(prm, f.rep.units[u])
		if f.l.padLane() == 0 {
			return // what the unit is (f.unit's five divisions) matters only to the lanes
		}
		n, pi, _, o1, c := f.unit(u)
		pi, up := f.unitPass(pi)
		m := 1
		if up != nil {
			m = up.group.m
		}
		f.clearPassLanes(pi, m, n, o1, c)
		return
	}
	n, pi, o0, o1, c := f.unit(u)
	if f.pl.kind == fusedRestore {
		f.restoreRows(prm, &f.l.rowPasses[pi], n, o0, o1, c)
		return
	}
	pi, up := f.unitPass(pi)
	if up != nil {
		f.groupRows(prm, up, u, n, o0, o1, c)
		return
	}
	var rc rowCall
	f.newRowCall(&rc, pi, n, o0, o1)
	if f.rec != nil {
		rc.rec = &f.rec.units[u]
	}
	if f.l.path.prefetch {
		f.prefetchNext(&rc, u)
	}
	lo := c * rc.gm.nrows / f.chunks
	hi := (c + 1) * rc.gm.nrows / f.chunks
	if ks := f.kSplit(&rc); ks > 1 {
		f.passRowsSplit(prm, &rc, lo, hi, ks)
	} else {
		f.passRows(prm, &rc, lo, hi, 0, rc.gm.ncols)
	}
	f.clearPadLanes(&rc.gm, n, o1, lo, hi)
}

// unit returns unit u's image, pass, output blocks [o0, o1) and row chunk.
// With rowsOuter: images, then row chunks, then groups, then passes. With
// imagesIn: groups, then images, then passes, then chunks, so that a
// batch's images follow each other on one group's weights (a layer whose
// weights exceed the caches then reads them once a call, not once an
// image). Else images, then groups, then passes, then chunks. Either way a
// restore's phases follow each other on the same output blocks.
func (f *fwd) unit(u int) (n, pi, o0, o1, c int) {
	var g int
	switch {
	case f.rowsOuter:
		pi = u % f.unitPasses
		u /= f.unitPasses
		g = u % f.groups
		u /= f.groups
		c = u % f.chunks
		n = u / f.chunks
	case f.imagesIn:
		c = u % f.chunks
		u /= f.chunks
		pi = u % f.unitPasses
		u /= f.unitPasses
		n = u % f.dst.N
		g = u / f.dst.N
	default:
		c = u % f.chunks
		u /= f.chunks
		pi = u % f.unitPasses
		u /= f.unitPasses
		g = u % f.groups
		n = u / f.groups
	}
	return n, pi, g * f.l.ocb / f.groups, (g + 1) * f.l.ocb / f.groups, c
}

// kSplitBytes bounds the weights one walk of a unit's calls covers when
// the unit walks them more than once: a unit whose output blocks' weights
// are more (the reduce of a rate-4 block at 256 channels: three blocks of
// 5x5 taps over 16 input blocks, 1.2 MB with AVX-512, walked once for each
// two rows of its 4x4 output) runs its calls once for each chunk of input
// blocks, so that each chunk's weights stay in L2 from walk to walk
// instead of coming again from L3. A variable for the tests.
//
// One core of an AMD EPYC Zen 5 (1 MB L2, AVX-512, 2026-12-05): that
// reduce alone 271-280 -> 258-263 us (six alternating runs), the regular
// in-512x7 block 2594-3038 -> 2359-2430 us (three), ResNet-18
// regular and SB at rates 2 / 3 / 4 18.29-18.52 / 6.53-6.58 / 4.68-4.80 /
// 7.78-7.92 -> 17.72-18.11 / 6.42-6.57 / 4.60-4.78 / 7.66-7.83 ms (four
// alternating runs). Chunks of 128 or 256 KB measured the same on
// ResNet-18, of 768 KB slower (regular 18.1-19.7 ms against 18.0-18.9,
// rate 3 4.80-5.43 against 4.83-5.03; four alternating rounds each).
var kSplitBytes = 512 << 10

// kSplit returns the chunks of input blocks the calls of rc's unit run in
// (see kSplitBytes), 1 for none. It depends on the layer and the shape
// alone, never on the unit's share of the rows, so that every output
// value sums its chunks in the same order on any number of threads. Small
// layers whose calls are replayed never split.
func (f *fwd) kSplit(rc *rowCall) int {
	if f.pl.replay || rc.gm.nrows <= 2 { // up to two rows: one tile call, one walk
		return 1
	}
	unit := rc.tmpl.OCB * rc.tmpl.ICB * rc.tmpl.WeiICB
	if unit <= kSplitBytes {
		return 1
	}
	return min(rc.tmpl.ICB, (unit+kSplitBytes-1)/kSplitBytes)
}

// passRowsSplit computes rows [lo, hi) of rc's pass as passRows does, in ks
// chunks of its input blocks one after the other: the first adds the
// bias (and the residual) and stores its sums, each later one adds its
// products to what the one before stored (Res = Dst, a zero bias), and
// only the last applies the ReLU.
func (f *fwd) passRowsSplit(prm *asm.Params, rc *rowCall, lo, hi, ks int) {
	t := &rc.tmpl
	icb, src, wei, bias, relu := t.ICB, rc.srcBase, rc.weiBase, t.Bias, t.ReLU
	for k := 0; k < ks; k++ {
		c0, c1 := k*icb/ks, (k+1)*icb/ks
		t.ICB = c1 - c0
		rc.srcBase, rc.weiBase = src+c0*t.SrcICB/4, wei+c0*t.WeiICB/4
		t.ReLU = 0
		if k == ks-1 {
			t.ReLU = relu
		}
		if k > 0 {
			t.Bias, rc.resDst = unsafe.Pointer(&zeros[0]), true
		}
		f.passRows(prm, rc, lo, hi, 0, rc.gm.ncols)
	}
	t.ICB, rc.srcBase, rc.weiBase, t.Bias, t.ReLU, rc.resDst = icb, src, wei, bias, relu, false
}
