package kernels

// This file holds the layer a constructor builds, and run, which computes a
// whole Forward call. It decides nothing itself: path.go decides how a layer
// runs, plan.go what depends on the input shape, units.go how the work
// splits, rowcall.go what each microkernel call gets.

import (
	"github.com/sbconv/sbconv/internal/freelist"
	"runtime"
	"sync/atomic"

	"github.com/sbconv/sbconv/internal/workers"
	"github.com/sbconv/sbconv/layout"
)

// The shared driver. A layer is a list of passes; each pass is an ordinary
// stride-(ihStep, iwStep) convolution whose outputs land (ohStep, owStep)
// pixels apart. Which passes a layer runs is its path (path.go), chosen
// once when it is built:
//
//   - convPasses (Conv2D): one pass; output (i, j) reads input rows from
//     i*StrideH-PadH and columns from j*StrideW-PadW.
//   - phasePasses (ConvTranspose2D): StrideH*StrideW passes, one per
//     output phase (rh, rw): a stride-1 convolution over the
//     low-resolution input with the phase's taps (layout.PackDeconvPhase),
//     whose output (i, j) is pixel (ohOff + i*StrideH, owOff + j*StrideW).
//     In a layer of one output block, consecutive phases of a row whose
//     windows are one column wide compute their pixels of an input column
//     in one call, as its output blocks (phase groups, groups.go).
//   - fusedRestore (ConvTranspose2D, stride 2 across, where the set has a
//     restore kernel): StrideH row passes computing both horizontal
//     phases of a row in one call (restore.go), beside the phase passes.
//
// What depends on the input shape (which of a fused layer's passes a
// width takes, the border strategy, the geometry) is the plan (plan.go).
// For every output row the driver narrows the kernel window to the input
// rows that exist (top and bottom borders), then splits the row into the
// left border pixels, the interior run whose whole window lies inside the
// input (one microkernel call), and the right border pixels (one call each,
// with the window narrowed to the columns that exist), unless the kernels'
// edge flags or a zero-haloed copy of the input take the borders into the
// interior run. The microkernels so never see padding and never branch on
// borders.

// pass is one convolution of a layer, with its packed weights.
type pass struct {
	wei    []float32 // OIhw{b}i{b}o with kh x kw taps; empty when kh*kw == 0
	kh, kw int       // taps of this pass
	rh, rw int       // output phase (transposed convolution only)
	kern   []microkernel
	// zeroTap is the set's 1x1 kernel at input stride 1 and the pass's
	// output stride, by output blocks: the calls whose window lies wholly
	// in the padding run it over one tap of zeros (see fwd.biasOnly).
	zeroTap []microkernel
	// tile[ocb][w] is the set's tile kernel for rows of w pixels (see
	// package asm's tile kernels), or nil: a call of several such rows
	// runs it in place of kern[ocb].
	tile [][maxTileW + 1]microkernel
}

// layer holds what Conv2D and ConvTranspose2D share.
type layer struct {
	spec     ConvSpec
	block    int
	icb, ocb int
	bias     []float32 // ocb*block values
	// deconv is set by NewConvTranspose2D before init: the passes are
	// output phases. choosePath reads it; the driver asks path.kind.
	deconv    bool
	passes    []pass       // the convolution passes: one, or one per output phase
	rowPasses []rowPass    // fusedRestore: the row passes, one per output row phase
	groups    []phaseGroup // phasePasses: runs of one-column phases one call computes together (groups.go)
	path      path         // how the layer runs, chosen once (choosePath)

	workspaces freelist.List[workspace] // idle haloed input copies, at most max(GOMAXPROCS, Threads()) (Release drops them)
	plan       atomic.Pointer[plan]     // of the last shape run
	spare      atomic.Pointer[fwd]      // a call record kept for the next call (no lock)
}

// fwdFree recycles call records, so that a Forward call allocates nothing
// once as many calls as ever run at once have run.
var fwdFree freelist.List[fwd]

// run computes a whole Forward call on the current thread count.
func (l *layer) run(dst, src *layout.Tensor, ep Epilogue) {
	f := l.spare.Swap(nil) // the layer's own record, unless a concurrent call holds it
	if f == nil {
		f = fwdFree.Get()
	}
	l.prepare(f, dst, src, ep)
	n := l.threadsFor(src, dst)
	if h := f.pl.halo; !h.none() {
		f.ws = l.workspaces.Get()
		f.ws.prepare(src, h.left, h.right)
		f.sdata, f.sw, f.haloL = f.ws.data, src.W+h.left+h.right, h.left
		f.copier = haloCopy{src: src, ws: f.ws}
		workers.Run(&f.copier, src.N*src.ChannelBlocks(), n, &f.prm)
	}
	units := f.split(n)
	f.startReplay(n, units)
	workers.Run(f, units, n, &f.prm)
	f.endReplay()
	if f.ws != nil {
		// As many idle copies as calls usually run at once: GOMAXPROCS
		// callers, or Threads() images side by side in a network (more
		// goroutines than Ps when Threads() > GOMAXPROCS, and a preempted
		// one still holds its copy); a burst of more calls leaves no more
		// behind.
		l.workspaces.PutAtMost(f.ws, max(runtime.GOMAXPROCS(0), Threads()))
	}
	*f = fwd{}
	if !l.spare.CompareAndSwap(nil, f) {
		fwdFree.Put(f)
	}
}

// prepare sets f up for a call on src and dst with the plan of their
// shapes, before the halo copy and the split (run, and the scaling
// model's test, which splits real calls without running them).
func (l *layer) prepare(f *fwd, dst, src *layout.Tensor, ep Epilogue) {
	*f = fwd{l: l, pl: l.planFor(src, dst), dst: dst, src: src, res: ep.Residual,
		sdata: src.Data, sh: src.H, sw: src.W}
	if ep.ReLU {
		f.relu = 1
	}
}
