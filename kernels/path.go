package kernels

// This file decides, once per layer when it is built, the path its
// Forward calls take: which passes compute the output (the fused
// restore's row passes included, packed here), which set's microkernels
// they call, and what those kernels can do (the capability flags that the
// plan and the row calls consult instead of asking the set). choosePath
// is the only place a path is chosen, as XNNPACK picks an operator's
// ukernel type when the operator is created, and kindFor the only place
// the kind of a call is decided (the plan asks it per output width).
// What else depends on the input shape is the plan's (plan.go).

import (
	"math"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/layout"
)

// pathKind is how a layer computes its output.
type pathKind uint8

const (
	// convPasses: one strided convolution pass (Conv2D): output (i, j)
	// reads input rows from i*StrideH-PadH and columns from j*StrideW-PadW.
	convPasses pathKind = iota
	// phasePasses: StrideH*StrideW stride-1 phase convolutions over the
	// low-resolution input, one per output phase (ConvTranspose2D).
	phasePasses
	// fusedRestore: a transposed convolution of stride 2 across for which
	// the set has a fused restore kernel (restore.go): StrideH row passes,
	// each output row in one call for both horizontal phases, on rows of
	// minFusedWidth pixels or more (kindFor); the phase passes compute
	// narrower rows and the edge pixels the row kernel cannot reach.
	fusedRestore
)

func (k pathKind) String() string {
	switch k {
	case convPasses:
		return "conv"
	case phasePasses:
		return "phases"
	case fusedRestore:
		return "fused"
	}
	return "pathKind(?)"
}

// path is how a layer runs, chosen once by choosePath.
type path struct {
	// kind is the kind of the layer's widest calls (kindFor): what the
	// layer can do. Whether its passes are the convolution or the phases
	// follows from it alone; whether a call runs the fused restore is its
	// plan's kind.
	kind pathKind
	// set is the set whose kernels the calls reach: the dispatched one,
	// or where its block is not the layer's, the best usable set with the
	// layer's block (forBlock), which kernelFor also falls back to.
	set *isaSet

	// What the kernels the calls reach can do, and so what the plan and
	// the row calls may ask of them: set's capabilities, the generator's
	// record (MaxOCB output channel blocks a call at most; Rows: rows
	// sharing their window rows go in one call; Edges, RestoreEdges: edge
	// pixels in the row's call), which hold for the generic kernel a set
	// falls back to for a call shape too.
	asm.Caps
	prefetch bool // Caps.Prefetch, and the weights are big enough to ask (prefetchMinBytes)
	// haloCopy: the plan may copy the input into a zero-haloed workspace
	// where the cost model says it pays (halo.go). Only for an assembly
	// set (the generic kernel computes a pixel at a time anyway, so its
	// border calls cost no more than interior ones), and only when every
	// weight is finite: the halo's zeros times an Inf or NaN weight are
	// NaN where the convolution, which never reads the padding, gives a
	// number.
	haloCopy bool

	restore asm.RestoreKernel // fusedRestore: the kernel family for the layer's width and padding
}

// choosePath chooses the layer's path for the dispatched set, once, when
// the constructor has packed its passes (NewConvTranspose2D passes its
// weights, which the fused restore's row passes are packed from): the set
// whose kernels serve the layer's block, each pass's microkernels, the
// fused restore's kernel and row passes (where a transposed layer's
// weights, in PyTorch's IOHW order, are given and that set has a kernel
// for its width and padding; nil weights keep the phase passes), the
// capability flags, and the kind of its widest calls (kindFor).
func (l *layer) choosePath(dispatched *isaSet, weights []float32) error {
	set := dispatched.forBlock(l.block)
	pt := path{set: set, Caps: set.Caps}
	pt.prefetch = set.Prefetch && l.weightBytes() >= prefetchMinBytes
	pt.haloCopy = set != genericSet && l.weightsFinite()
	for i := range l.passes {
		p := &l.passes[i]
		sp, dp := l.spec.StrideW, 1
		if l.deconv { // the phases: stride 1 in, StrideW out
			sp, dp = 1, l.spec.StrideW
		}
		p.kern = make([]microkernel, pt.MaxOCB+1)
		p.zeroTap = make([]microkernel, pt.MaxOCB+1)
		p.tile = make([][maxTileW + 1]microkernel, pt.MaxOCB+1)
		for o := 1; o <= pt.MaxOCB; o++ {
			p.kern[o] = set.kernelFor(l.block, o, sp, dp, p.kh == 1 && p.kw == 1)
			p.zeroTap[o] = set.kernelFor(l.block, o, 1, dp, true)
			for w := range p.tile[o] {
				p.tile[o][w] = set.tileFor(l.block, o, sp, dp, w, p.kh == 1 && p.kw == 1)
			}
		}
	}
	l.groups = l.phaseGroups(pt.MaxOCB)
	l.rowPasses = nil
	if weights != nil && l.deconv {
		rk, rows, err := l.fusedRows(set, weights)
		if err != nil {
			return err
		}
		pt.restore, l.rowPasses = rk, rows
	}
	l.path = pt
	l.path.kind = l.kindFor(math.MaxInt)
	return nil
}

// kindFor returns the kind of path a call of the layer runs when its
// output rows are ow pixels wide. It is the only place a kind is decided:
// a Conv2D's calls run its convolution pass; a ConvTranspose2D's run the
// fused restore where choosePath packed row passes for it (fusedRows) and
// the rows are minFusedWidth pixels or wider, else its phase passes. The
// plan asks it per shape; choosePath keeps the kind of the layer's widest
// calls as path.kind.
func (l *layer) kindFor(ow int) pathKind {
	switch {
	case !l.deconv:
		return convPasses
	case len(l.rowPasses) == 0 || ow < minFusedWidth:
		return phasePasses
	}
	return fusedRestore
}

// minFusedWidth is the narrowest output row the fused restore computes. Its
// kernels take one output block a call on AVX2 (it has registers for no
// more; AVX-512's take two), so on narrow rows each call does little work
// for its broadcasts and overhead, while the phase passes take up to three
// blocks a call. Measured on AVX2 at one thread, fused on every row
// against fused from 16 pixels (not measured again on AVX-512):
// in-256x14 (14 wide) 602-653 us against 582-618 us; 16-wide and wider
// rows tie or gain (cifar-32x16 restore 12.3-12.8 us fused against
// 12.8-14.9 us in phases before the fused kernel existed).
const minFusedWidth = 16

// fusedRows returns set's restore kernel for the layer and its row
// passes packed from the IOHW weights, or no passes where the layer keeps
// its phases: no kernel for its width and padding, a stride other than 2
// across, or a row phase without taps. choosePath calls it.
func (l *layer) fusedRows(set *isaSet, weights []float32) (asm.RestoreKernel, []rowPass, error) {
	s := l.spec
	if set == genericSet || s.StrideW != 2 {
		return asm.RestoreKernel{}, nil, nil
	}
	var rk *asm.RestoreKernel
	for i := range set.restore {
		if k := &set.restore[i]; k.K == s.KW && k.Pad == s.PadW {
			rk = k
		}
	}
	if rk == nil {
		return asm.RestoreKernel{}, nil, nil
	}
	rows := make([]rowPass, s.StrideH)
	for rh := range rows {
		w, nkh, err := layout.PackDeconvRows(weights, s.InC, s.OutC, s.KH, s.KW, s.StrideH, rh, l.block)
		if err != nil {
			return asm.RestoreKernel{}, nil, err
		}
		if nkh == 0 {
			return asm.RestoreKernel{}, nil, nil // a row phase without taps: keep the phases
		}
		rows[rh] = rowPass{wei: w, kh: nkh, rh: rh}
	}
	return *rk, rows, nil
}

// weightsFinite reports whether every packed weight of the layer's
// passes (every weight it has: the phases of a transposed layer partition
// its taps) is finite.
func (l *layer) weightsFinite() bool {
	for i := range l.passes {
		for _, v := range l.passes[i].wei {
			if v-v != 0 { // Inf - Inf and NaN - NaN are NaN
				return false
			}
		}
	}
	return true
}

// forBlock returns the set whose kernels serve layers (and pools) of
// channel block block while s is dispatched: s itself when it is built
// for that block, else the best usable set after s in isaSets that is
// (never one better than s, so that a set SBCONV_ISA forces is the best
// any layer uses), else the generic set, which serves every block. Once
// a block-16 set is the default, a block-8 layer so runs on the best
// block-8 set, not on the generic kernel.
func (s *isaSet) forBlock(block int) *isaSet {
	if s.Block == block {
		return s
	}
	after := false
	for _, t := range isaSets {
		if after && t.usable && t.Block == block {
			return t
		}
		after = after || t == s
	}
	return genericSet
}
