package kernels

// This file holds the layer a constructor builds and run, a whole
// Forward call. It decides nothing itself: path.go decides how a layer
// runs, plan.go what depends on the input shape, units.go how the work
// splits, rowcall.go what each microkernel call gets.

import (
	"sync/atomic"

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
