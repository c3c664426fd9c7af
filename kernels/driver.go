package kernels

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/layout"
)

// The shared driver. A layer is a list of passes; each pass is an ordinary
// stride-(ihStep, iwStep) convolution whose outputs land (ohStep, owStep)
// pixels apart:
//
//   - Conv2D has one pass: output (i, j) reads input rows from
//     i*StrideH-PadH and columns from j*StrideW-PadW.
//   - ConvTranspose2D has StrideH*StrideW passes, one per output phase
//     (rh, rw): a stride-1 convolution over the low-resolution input with
//     the phase's taps (layout.PackDeconvPhase), whose output (i, j) is
//     pixel (ohOff + i*StrideH, owOff + j*StrideW).
//
// For every output row the driver narrows the kernel window to the input
// rows that exist (top and bottom borders), then splits the row into the
// left border pixels, the interior run whose whole window lies inside the
// input (one microkernel call), and the right border pixels (one call each,
// with the window narrowed to the columns that exist). The microkernels so
// never see padding and never branch on borders.

// pass is one convolution of a layer, with its packed weights.
type pass struct {
	wei    []float32 // OIhw{b}i{b}o with kh x kw taps; empty when kh*kw == 0
	kh, kw int       // taps of this pass
	rh, rw int       // output phase (transposed convolution only)
	kern   []microkernel
}

// layer holds what Conv2D and ConvTranspose2D share.
type layer struct {
	spec     ConvSpec
	block    int
	icb, ocb int
	bias     []float32 // ocb*block values
	passes   []pass
	maxOCB   int
	multiRow bool // the kernels take Params.Rows rows a call
	edges    bool // ... and Params.EdgeL and EdgeR
	restEdge bool // ... the restore kernels too
	prefetch bool // the kernels prefetch Params.Pf, and the weights are big enough to ask
	isa      *isaSet
	deconv   bool
	rows     []rowPass // fused stride-2 restore, one per output row phase (nil: phases only)

	workspaces freeList[workspace]  // haloed input copies, one per concurrent call
	plan       atomic.Pointer[plan] // of the last shape run
	spare      atomic.Pointer[fwd]  // a call record kept for the next call (no lock)
}

// geom places pass rows and columns in the output and input.
type geom struct {
	rows, ohOff, ohStep, ihOff, ihStep int
	cols, owOff, owStep, iwOff, iwStep int
}

func (l *layer) initKernels(set *isaSet) {
	l.isa = set
	caps := set // what the kernels the calls reach can do
	if set.block != l.block {
		caps = genericSet // kernelFor falls back to it for every call
	}
	weights := 0
	for i := range l.passes {
		weights += 4 * len(l.passes[i].wei)
	}
	l.maxOCB = caps.maxOCB
	l.multiRow, l.edges, l.restEdge = caps.rows, caps.edges, caps.restoreEdges
	l.prefetch = caps.prefetch && weights >= prefetchMinBytes
	for i := range l.passes {
		p := &l.passes[i]
		sp, dp := l.spec.StrideW, 1
		if l.deconv {
			sp, dp = 1, l.spec.StrideW
		}
		p.kern = make([]microkernel, l.maxOCB+1)
		for o := 1; o <= l.maxOCB; o++ {
			p.kern[o] = set.kernelFor(l.block, o, sp, dp, p.kh == 1 && p.kw == 1)
		}
	}
}

// geometry returns where pass p's rows and columns lie for an input of
// ih x iw and an output of oh x ow.
func (l *layer) geometry(p *pass, ih, iw, oh, ow int) geom {
	s := l.spec
	if !l.deconv {
		return geom{
			rows: oh, ohOff: 0, ohStep: 1, ihOff: -s.PadH, ihStep: s.StrideH,
			cols: ow, owOff: 0, owStep: 1, iwOff: -s.PadW, iwStep: s.StrideW,
		}
	}
	// Output rows of phase rh are oh = m*sh + rh - ph for integer m; tap t
	// of the packed phase reads input row m - (nkh-1) + t.
	mlo := ceilDiv(s.PadH-p.rh, s.StrideH)
	mhi := floorDiv(oh-1+s.PadH-p.rh, s.StrideH)
	nlo := ceilDiv(s.PadW-p.rw, s.StrideW)
	nhi := floorDiv(ow-1+s.PadW-p.rw, s.StrideW)
	return geom{
		rows: max(0, mhi-mlo+1), ohOff: mlo*s.StrideH + p.rh - s.PadH, ohStep: s.StrideH,
		ihOff: mlo - (p.kh - 1), ihStep: 1,
		cols: max(0, nhi-nlo+1), owOff: nlo*s.StrideW + p.rw - s.PadW, owStep: s.StrideW,
		iwOff: nlo - (p.kw - 1), iwStep: 1,
	}
}

// fwd is one Forward call: the tensors and the split into units.
type fwd struct {
	l        *layer
	pl       *plan
	dst, res *layout.Tensor
	relu     int
	groups   int  // channel-block groups
	chunks   int  // row chunks per pass
	fused    bool // the fused restore's row passes (else l.passes)
	passes   int  // passes the units iterate

	// The input the microkernels read: src itself, or src copied into a
	// workspace with hl zero columns on the left and hr on the right (see
	// halo), so that no output column needs a narrowed window.
	src    *layout.Tensor
	sdata  []float32
	sh, sw int // rows and (padded) columns of sdata
	hl     int // left halo columns: input column x is sdata column x+hl
	ws     *workspace
	copier haloCopy

	prm     asm.Params // the calling goroutine's microkernel arguments
	threads int        // goroutines computing the units
}

// fwdFree recycles call records, so that a Forward call allocates nothing
// once as many calls as ever run at once have run.
var fwdFree freeList[fwd]

// freeList is a mutex-guarded stack of records. Unlike sync.Pool it is not
// emptied by the garbage collector, so the steady state never allocates.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

func (fl *freeList[T]) get() *T {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if k := len(fl.items); k > 0 {
		x := fl.items[k-1]
		fl.items = fl.items[:k-1]
		return x
	}
	return new(T)
}

func (fl *freeList[T]) put(x *T) {
	fl.mu.Lock()
	fl.items = append(fl.items, x)
	fl.mu.Unlock()
}

// unitsPerThread is how many work units a call aims for per thread: enough
// that the atomic counter balances uneven units, few enough that each unit
// still covers whole rows.
const unitsPerThread = 16

// run computes a whole Forward call on the current thread count.
func (l *layer) run(dst, src *layout.Tensor, ep Epilogue) {
	pl := l.planFor(src, dst)
	f := l.spare.Swap(nil) // the layer's own record, unless a concurrent call holds it
	if f == nil {
		f = fwdFree.get()
	}
	*f = fwd{l: l, pl: pl, dst: dst, src: src, res: ep.Residual,
		sdata: src.Data, sh: src.H, sw: src.W, fused: pl.fused}
	if ep.ReLU {
		f.relu = 1
	}
	n := l.threadsFor(src, dst)
	if pl.hl+pl.hr > 0 {
		f.ws = l.workspaces.get()
		f.ws.prepare(src, pl.hl, pl.hr)
		f.sdata, f.sw, f.hl = f.ws.data, src.W+pl.hl+pl.hr, pl.hl
		f.copier = haloCopy{src: src, ws: f.ws}
		parallel(&f.copier, src.N*src.ChannelBlocks(), n, &f.prm)
	}
	parallel(f, f.split(n), n, &f.prm)
	if f.ws != nil {
		l.workspaces.put(f.ws)
	}
	*f = fwd{}
	if !l.spare.CompareAndSwap(nil, f) {
		fwdFree.put(f)
	}
}

// split divides f's work into units for n threads (see runUnit) and
// returns how many there are.
func (f *fwd) split(n int) int {
	l := f.l
	f.threads = n
	f.passes = len(l.passes)
	if f.fused {
		f.passes = len(l.rows)
	}
	f.groups = ceilDiv(l.ocb, l.maxOCB)
	f.chunks = 1
	base := f.dst.N * f.passes * f.groups
	if n > 1 && base < unitsPerThread*n {
		f.chunks = min(ceilDiv(unitsPerThread*n, base), f.dst.H)
	}
	return base * f.chunks
}

// plan is what a Forward call derives from its tensors' shapes alone: the
// border strategy and where every pass's rows and columns lie. A layer
// keeps the plan of its last shape, so the calls of a network that runs
// the same shapes over and over (the steady state) skip the geometry, the
// halo cost model and their divisions; a new shape builds a new plan.
type plan struct {
	mode              int // haloMode it was made under
	n, ih, iw, oh, ow int // the shapes it is for
	fused             bool
	hl, hr            int    // halo columns (0, 0: the input as it is)
	gm                []geom // per pass, columns of the (haloed) input
	jlo, jhi          []int  // per pass, columns of gm its row calls compute (edges included)
	edgeL, edgeR      []bool // per pass, whether they include a left (right) edge pixel
	x0, x1            int    // fused: the output pixels of a row the restore kernel computes
	restL, restR      bool   // fused: [x0, x1) is the whole row through the restore's edge flags
}

// planFor returns the plan for src and dst's shapes.
func (l *layer) planFor(src, dst *layout.Tensor) *plan {
	if pl := l.plan.Load(); pl != nil && pl.mode == haloMode && pl.n == dst.N &&
		pl.ih == src.H && pl.iw == src.W && pl.oh == dst.H && pl.ow == dst.W {
		return pl
	}
	pl := &plan{mode: haloMode, n: dst.N, ih: src.H, iw: src.W, oh: dst.H, ow: dst.W}
	pl.fused = l.rows != nil && dst.W >= minFusedWidth
	// Edge pixels in the row calls make a haloed copy unnecessary when
	// they are every border pixel of every pass (a 3x3 window with
	// padding 1); the fused restore keeps its own rule.
	edges := l.edges && haloMode != haloNever
	restWhole := false
	if edges && pl.fused && l.restEdge {
		pl.x0, pl.x1, pl.restL, pl.restR, restWhole = l.restoreEdges(src.W, dst.W)
	}
	switch {
	case edges && !pl.fused && l.edgesCover(src.W, dst.W):
	case restWhole:
	default:
		pl.hl, pl.hr = l.haloPlan(src, dst, pl.fused)
		pl.restL, pl.restR = false, false
	}
	sw := src.W + pl.hl + pl.hr
	np := len(l.passes)
	pl.gm, pl.jlo, pl.jhi = make([]geom, np), make([]int, np), make([]int, np)
	pl.edgeL, pl.edgeR = make([]bool, np), make([]bool, np)
	for i := range l.passes {
		p := &l.passes[i]
		pl.gm[i] = l.geometry(p, src.H, src.W, dst.H, dst.W)
		pl.gm[i].iwOff += pl.hl
		pl.jlo[i], pl.jhi[i] = pl.gm[i].interiorCols(sw, p.kw)
		if edges && pl.hl+pl.hr == 0 {
			pl.edgeL[i], pl.edgeR[i] = pl.gm[i].edges(src.W, p.kw)
			if pl.edgeL[i] {
				pl.jlo[i]--
			}
			if pl.edgeR[i] {
				pl.jhi[i]++
			}
		}
	}
	if pl.fused && !restWhole {
		pl.x0, pl.x1 = l.restoreSpan(src.W, dst.W, pl.hl, pl.hr)
	}
	l.plan.Store(pl)
	return pl
}

// minFLOPsPerThread is the work below which another thread costs more
// than it saves: waking a parked worker and joining it takes tens of
// microseconds here, so a CIFAR-sized 3x3 layer (4.7 MFLOP, ~45 us on one
// core) ran slower on two threads (60 us) than on one.
var minFLOPsPerThread = 16e6

// threadsFor returns how many goroutines a call uses: SetThreads' count,
// or fewer when the call is too small to split profitably.
func (l *layer) threadsFor(src, dst *layout.Tensor) int {
	n := Threads()
	if n <= 1 {
		return 1
	}
	s := l.spec
	pixels := dst.H * dst.W // a convolution's outputs ...
	if l.deconv {
		pixels = src.H * src.W // ... or a transposed one's inputs, each through every tap
	}
	flops := 2 * float64(dst.N) * float64(pixels) * float64(s.KH*s.KW) *
		float64(l.icb*l.block) * float64(l.ocb*l.block)
	return max(1, min(n, int(flops/minFLOPsPerThread)))
}

// haloPlan returns the zero columns to add on each side of the input for
// this call (fused: through the restore's row passes), or 0, 0 for none.
func (l *layer) haloPlan(src, dst *layout.Tensor, fused bool) (hl, hr int) {
	if !l.fastKernels() || haloMode == haloNever {
		return 0, 0
	}
	var pays bool
	if fused {
		hl, hr = l.restoreHaloNeed(src.W, dst.W)
		pays = hl+hr > 0 && l.restoreHaloPays(src, dst, hl, hr)
	} else {
		hl, hr = l.halo(src.W, dst.W)
		pays = hl+hr > 0 && l.haloPays(src, dst, hl, hr)
	}
	if pays || haloMode == haloAlways {
		return hl, hr
	}
	return 0, 0
}

// haloMode lets tests force both border strategies through every path;
// it is always haloModel outside tests.
var haloMode = haloModel

const (
	haloModel  = iota // the cost model decides
	haloNever         // edges through one-pixel calls
	haloAlways        // a haloed copy whenever there is an edge
)

// minFusedWidth is the narrowest output row the fused restore computes. Its
// kernels take one output block a call (AVX2 has registers for no more),
// so on narrow rows each call does little work for its broadcasts and
// overhead, while the phase passes take up to three blocks a call.
// Measured at one thread, fused on every row against fused from 16 pixels:
// in-256x14 (14 wide) 602-653 us against 582-618 us; 16-wide and wider
// rows tie or gain (cifar-32x16 restore 12.3-12.8 us fused against
// 12.8-14.9 us in phases before the fused kernel existed).
const minFusedWidth = 16

// fastKernels reports whether the layer runs an assembly set, for which
// border pixels (one-pixel calls) are much slower than interior runs. The
// generic kernel computes a pixel at a time anyway and skips the copy.
func (l *layer) fastKernels() bool {
	return l.isa != genericSet && l.isa.block == l.block
}

// copyPays is the halo cost model: whether copying the input into a
// haloed workspace costs less than computing the border pixels with
// one-pixel calls. A one-pixel call has only OCB accumulator chains, too
// few to hide the FMA latency: measured on AVX2 it runs at roughly 40% of
// an interior run, so each border pixel costs about 1.5 extra pixel-times.
// The copy moves every input float once, at about 0.25 ns (both costs are
// for one core of the development machine; only their ratio matters). The
// outcome: a copy for maps of a few dozen pixels or less a row, none for
// the 56-wide stride-1 and stride-2 layers, where it cost more than the
// borders.
func copyPays(borderFLOPs float64, src *layout.Tensor, hl, hr int) bool {
	const nsPerFLOP, nsPerCopiedFloat, borderPenalty = 1.0 / 100, 0.25, 1.5
	copied := float64(src.ChannelBlocks() * src.H * (src.W + hl + hr) * src.Block)
	return borderPenalty*borderFLOPs*nsPerFLOP > copied*nsPerCopiedFloat
}

// haloPays applies copyPays to the passes' border pixels.
func (l *layer) haloPays(src, dst *layout.Tensor, hl, hr int) bool {
	var borderFLOPs float64
	for i := range l.passes {
		p := &l.passes[i]
		if p.kh*p.kw == 0 {
			continue
		}
		gm := l.geometry(p, src.H, src.W, dst.H, dst.W)
		jlo, jhi := gm.interiorCols(src.W, p.kw)
		perPixel := 2 * float64(p.kh*p.kw*l.icb*l.ocb*l.block*l.block)
		borderFLOPs += float64(gm.rows*(gm.cols-(jhi-jlo))) * perPixel
	}
	return copyPays(borderFLOPs, src, hl, hr)
}

// interiorCols returns the columns [jlo, jhi) whose kw-wide window lies
// wholly inside an input of width iw.
func (gm *geom) interiorCols(iw, kw int) (jlo, jhi int) {
	jlo = min(gm.cols, max(0, ceilDiv(-gm.iwOff, gm.iwStep)))
	jhi = max(jlo, min(gm.cols, floorDiv(iw-kw-gm.iwOff, gm.iwStep)+1))
	return jlo, jhi
}

// edges reports whether the left (right) border of a row is a single
// pixel whose window overhangs an input of width iw by exactly its first
// (last) column, which the kernels' edge flags compute in the row's call.
func (gm *geom) edges(iw, kw int) (left, right bool) {
	jlo, jhi := gm.interiorCols(iw, kw)
	if kw < 2 || jhi <= jlo {
		return false, false
	}
	if jlo == 1 && gm.iwOff == -1 {
		left = true
	}
	if jhi == gm.cols-1 && gm.iwOff+(gm.cols-1)*gm.iwStep+kw-1 == iw {
		right = true
	}
	return left, right
}

// edgesCover reports whether the edge flags cover every border pixel of
// every pass for input width iw and output width ow.
func (l *layer) edgesCover(iw, ow int) bool {
	cover := true
	l.columnPasses(iw, ow, func(p *pass, gm *geom) {
		jlo, jhi := gm.interiorCols(iw, p.kw)
		left, right := gm.edges(iw, p.kw)
		if (jlo > 0 && !left) || (jhi < gm.cols && !right) {
			cover = false
		}
	})
	return cover
}

// halo returns how many zero columns on the left and right of an input
// of width iw make every column of every pass interior for output width ow.
func (l *layer) halo(iw, ow int) (hl, hr int) {
	l.columnPasses(iw, ow, func(p *pass, gm *geom) {
		hl = max(hl, -gm.iwOff)
		hr = max(hr, gm.iwOff+(gm.cols-1)*gm.iwStep+p.kw-iw)
	})
	return hl, hr
}

// columnPasses calls f with the column geometry of every pass that has
// taps and output columns, for input width iw and output width ow.
func (l *layer) columnPasses(iw, ow int, f func(p *pass, gm *geom)) {
	for i := range l.passes {
		p := &l.passes[i]
		if p.kh*p.kw == 0 {
			continue
		}
		if gm := l.geometry(p, 0, iw, 0, ow); gm.cols > 0 {
			f(p, &gm)
		}
	}
}

// workspace is a zero-haloed copy of an input. Its halo columns are zeroed
// when its shape changes and never written otherwise, so a reused
// workspace only needs its interior copied.
type workspace struct {
	data                []float32
	n, cb, h, w, hl, hr int
}

func (ws *workspace) prepare(src *layout.Tensor, hl, hr int) {
	cb := src.ChannelBlocks()
	if ws.n == src.N && ws.cb == cb && ws.h == src.H && ws.w == src.W && ws.hl == hl && ws.hr == hr {
		return
	}
	size := src.N * cb * src.H * (src.W + hl + hr) * src.Block
	if cap(ws.data) < size {
		ws.data = make([]float32, size)
	}
	ws.data = ws.data[:size]
	clear(ws.data)
	ws.n, ws.cb, ws.h, ws.w, ws.hl, ws.hr = src.N, cb, src.H, src.W, hl, hr
}

// haloCopy copies one (image, channel block) plane of src per unit into
// the workspace's interior columns.
type haloCopy struct {
	src *layout.Tensor
	ws  *workspace
}

func (c *haloCopy) runUnit(u int, _ *asm.Params) {
	b, h, w := c.src.Block, c.src.H, c.src.W
	pw := w + c.ws.hl + c.ws.hr
	for y := 0; y < h; y++ {
		from := (u*h + y) * w * b
		to := ((u*h+y)*pw + c.ws.hl) * b
		copy(c.ws.data[to:to+w*b], c.src.Data[from:from+w*b])
	}
}

// runUnit computes unit u: one image, one pass, one channel-block group,
// one chunk of rows.
func (f *fwd) runUnit(u int, prm *asm.Params) {
	n, pi, o0, o1, c := f.unit(u)
	if f.fused {
		f.restoreRows(prm, &f.l.rows[pi], n, o0, o1, c)
		return
	}
	var rc rowCall
	f.newRowCall(&rc, pi, n, o0, o1)
	if f.l.prefetch {
		f.prefetchNext(&rc, u)
	}
	lo := c * rc.gm.rows / f.chunks
	hi := (c + 1) * rc.gm.rows / f.chunks
	f.rows(prm, &rc, lo, hi, 0, rc.gm.cols)
}

// unit returns unit u's image, pass, output blocks [o0, o1) and row chunk.
// The chunks of one pass are adjacent, then its passes, then the groups:
// a restore's phases follow each other on the same output blocks.
func (f *fwd) unit(u int) (n, pi, o0, o1, c int) {
	c = u % f.chunks
	u /= f.chunks
	pi = u % f.passes
	u /= f.passes
	g := u % f.groups
	n = u / f.groups
	return n, pi, g * f.l.ocb / f.groups, (g + 1) * f.l.ocb / f.groups, c
}

// prefetchMinBytes is the size of a layer's weights from which its calls
// prefetch the next unit's weights. Smaller layers keep theirs in L2 or
// L3 from call to call, where the hardware's own prefetchers suffice:
// in-128x28's 0.6 MB layers measured the same with and without, and the
// 2.4 MB of in-256x14 gained 1-2%, in-512x7's 9.4 MB 20-25%.
const prefetchMinBytes = 1 << 20

// prefetchNext gives the calls of unit u (rc) the weights to prefetch
// (see Pf in package asm) of the unit its goroutine most likely takes
// next, u + threads (units are handed out in order, one to each thread in
// turn), unless that unit does not exist or uses rc's own. The range ends
// asm.PfLines*64-1 bytes before the weights do, so that no prefetched
// line lies outside them.
func (f *fwd) prefetchNext(rc *rowCall, u int) {
	l := f.l
	u += f.threads
	if u >= f.dst.N*f.passes*f.groups*f.chunks {
		return
	}
	_, pi, o0, o1, _ := f.unit(u)
	p := &l.passes[pi]
	if p == rc.p && o0 == rc.o0 {
		return
	}
	per := l.icb * p.kh * p.kw * l.block * l.block
	w := p.wei[o0*per : o1*per]
	if len(w)*4 < asm.PfLines*64 {
		return
	}
	rc.pf = uintptr(unsafe.Pointer(&w[0]))
	rc.pfEnd = rc.pf + uintptr(len(w)*4-(asm.PfLines*64-1))
}

// rowCall is what the microkernel calls for one pass share within a work
// unit (one image, one group of output blocks): the geometry, the kernel
// and the argument block's fields that do not change from row to row.
// Setting those once a unit, not once a call, keeps the driver's share of
// a small layer (a CIFAR restore makes a call per 4-pixel phase row) low.
type rowCall struct {
	p            *pass
	gm           geom // columns of the (possibly haloed) input
	kern         microkernel
	o0           int
	dstBase, jlo int
	srcBase, jhi int
	weiBase      int
	edgeL, edgeR bool    // columns jlo (jhi-1) are edge pixels (see plan)
	pf, pfEnd    uintptr // weights to prefetch: Params.Pf, PfEnd
	tmpl         asm.Params
}

// newRowCall prepares rc for pass pi, image n and output blocks [o0, o1).
func (f *fwd) newRowCall(rc *rowCall, pi, n, o0, o1 int) {
	l, dst := f.l, f.dst
	b := l.block
	p := &l.passes[pi]
	rc.p = p
	rc.gm = f.pl.gm[pi]
	rc.kern = p.kern[o1-o0]
	rc.o0 = o0
	rc.dstBase = (n*l.ocb+o0)*dst.H*dst.W*b + rc.gm.owOff*b
	rc.srcBase = n * l.icb * f.sh * f.sw * b
	rc.weiBase = o0 * l.icb * p.kh * p.kw * b * b
	rc.jlo, rc.jhi = f.pl.jlo[pi], f.pl.jhi[pi]
	rc.edgeL, rc.edgeR = f.pl.edgeL[pi], f.pl.edgeR[pi]
	// Field by field into rc (which the caller zeroed): a composite
	// literal is built on the stack and copied, which measured slower.
	t := &rc.tmpl
	t.OCB, t.ICB = o1-o0, l.icb
	t.SrcICB, t.SrcRow, t.SrcTap, t.SrcPix = f.sh*f.sw*b*4, f.sw*b*4, b*4, rc.gm.iwStep*b*4
	t.WeiICB = p.kh * p.kw * b * b * 4
	t.WeiOCB, t.WeiRow = l.icb*t.WeiICB, p.kw*b*b*4
	t.DstOCB, t.DstPix = dst.H*dst.W*b*4, rc.gm.owStep*b*4
	t.SrcRows, t.DstRows = rc.gm.ihStep*f.sw*b*4, rc.gm.ohStep*dst.W*b*4
	t.ReLU = f.relu
	t.Bias = unsafe.Pointer(&l.bias[o0*b])
}

// taps returns the kernel rows [t0, t1) of rc's window that exist for
// output row r, and the row's first input row (that of tap 0).
func (f *fwd) taps(rc *rowCall, r int) (t0, t1, ih0 int) {
	ih0 = rc.gm.ihOff + r*rc.gm.ihStep
	return max(0, -ih0), min(rc.p.kh, f.sh-ih0), ih0
}

// runEnd returns the end of the run of rows from r (below hi) that share
// r's window rows, which one call can compute when the kernels loop over
// rows; otherwise r+1.
func (f *fwd) runEnd(rc *rowCall, r, hi int) int {
	r1 := r + 1
	if !f.l.multiRow {
		return r1
	}
	t0, t1, _ := f.taps(rc, r)
	for r1 < hi {
		if u0, u1, _ := f.taps(rc, r1); u0 != t0 || u1 != t1 {
			break
		}
		r1++
	}
	return r1
}

// rows computes columns [c0, c1) of output rows [lo, hi) of rc's pass:
// each row's left border pixels one call each (window narrowed to the
// columns that exist), the interior runs of rows that share their window
// rows in one call, then the right border pixels.
func (f *fwd) rows(prm *asm.Params, rc *rowCall, lo, hi, c0, c1 int) {
	gm := &rc.gm
	border := func(r, j int) {
		iw0 := gm.iwOff + j*gm.iwStep
		t0, t1, ih0 := f.taps(rc, r)
		f.call(prm, rc, r, 1, ih0, j, 1, t0, t1, max(0, -iw0), min(rc.p.kw, f.sw-iw0), false, false)
	}
	for r := lo; r < hi; {
		r1 := f.runEnd(rc, r, hi)
		for rr := r; rr < r1; rr++ {
			for j := c0; j < min(c1, rc.jlo); j++ {
				border(rr, j)
			}
		}
		if i0, i1 := max(c0, rc.jlo), min(c1, rc.jhi); i1 > i0 {
			t0, t1, ih0 := f.taps(rc, r)
			eL, eR := rc.edgeL && i0 == rc.jlo, rc.edgeR && i1 == rc.jhi
			f.call(prm, rc, r, r1-r, ih0, i0, i1-i0, t0, t1, 0, rc.p.kw, eL, eR)
		}
		for rr := r; rr < r1; rr++ {
			for j := max(c0, rc.jhi); j < c1; j++ {
				border(rr, j)
			}
		}
		r = r1
	}
}

// call computes npix pixels from column index j of nrows output rows from
// row r (input row ih0 at tap 0), with kernel rows [t0, t1) and columns
// [u0, u1) of the pass's window; eL (eR): its first (last) pixel is an
// edge pixel (see package asm).
func (f *fwd) call(prm *asm.Params, rc *rowCall, r, nrows, ih0, j, npix, t0, t1, u0, u1 int, eL, eR bool) {
	b := f.l.block
	*prm = rc.tmpl
	d := rc.dstBase + (rc.gm.ohOff+r*rc.gm.ohStep)*f.dst.W*b + j*rc.gm.owStep*b
	prm.Pix, prm.Rows = npix, nrows
	prm.Dst = unsafe.Pointer(&f.dst.Data[d])
	if f.res != nil {
		prm.Res = unsafe.Pointer(&f.res.Data[d])
	}
	if t1 <= t0 || u1 <= u0 {
		// The window lies wholly in the padding: bias, residual and
		// activation only, through the generic kernel (KH = 0).
		genericKernel(b)(prm)
		return
	}
	p := rc.p
	iw0 := rc.gm.iwOff + j*rc.gm.iwStep
	prm.KH, prm.KW = t1-t0, u1-u0
	if eL {
		prm.EdgeL, iw0 = 1, iw0+1 // Src at pixel 0's tap 1: its tap 0 is padding
	}
	if eR {
		prm.EdgeR = 1
	}
	prm.Src = unsafe.Pointer(&f.sdata[rc.srcBase+((ih0+t0)*f.sw+iw0+u0)*b])
	prm.Wei = unsafe.Pointer(&p.wei[rc.weiBase+(t0*p.kw+u0)*b*b])
	prm.Pf, prm.PfEnd = rc.pf, rc.pfEnd
	rc.kern(prm)
	rc.pf = prm.Pf // where the kernel stopped: the next call goes on from there
}
