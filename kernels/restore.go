package kernels

import (
	"unsafe"

	"github.com/sbconv/sbconv/asm"
)

// The fused stride-2 restore. Where the set has a restore kernel for the
// layer's kernel width and padding (stride 2 across), a transposed
// convolution runs as StrideH row passes instead of StrideH*2 phase
// passes: each output row is computed by one kernel call that does both
// horizontal phases at once, so every input value broadcast feeds all
// the taps that use it (for 1-3 output blocks a call, like the
// convolution kernels), and the row is written once, left to right, with
// bias, residual and ReLU fused into that store. Vertical taps are handled
// as in the phases (a stride-1 tap loop over the low-resolution rows,
// narrowed at the top and bottom). Output pixels whose window leaves the
// input (a row's first or last one or two, when no halo is copied) are
// computed by the phase passes, one column each.
//
// This file holds what runs per unit: restoreRows. What is decided before
// any unit runs lives beside the path and the plan: the kernel and the
// row passes (fusedRows, path.go), the kind of a call (kindFor, path.go),
// the span of a row the kernel computes and its edge flags (restoreSpan,
// restoreEdgeSpan, plan.go) and the halo (restoreHaloNeed,
// restoreHaloPays, halo.go).

// rowPass is one output row phase rh of a fused restore.
type rowPass struct {
	wei []float32 // layout.PackDeconvRows: nkh x K taps
	kh  int       // vertical taps of this phase (nkh)
	rh  int
}

// restoreRows computes row chunk c of row pass rp for channel blocks
// [o0, o1) of image n.
func (f *fwd) restoreRows(prm *asm.Params, rp *rowPass, n, o0, o1, c int) {
	l := f.l
	s := l.spec
	// The phase passes of this row phase, for geometry and edge pixels.
	var ph [2]rowCall
	f.newRowCall(&ph[0], rp.rh*s.StrideW, n, o0, o1)
	f.newRowCall(&ph[1], rp.rh*s.StrideW+1, n, o0, o1)
	gm := &ph[0].gm
	lo, hi := c*gm.nrows/f.chunks, (c+1)*gm.nrows/f.chunks
	rk := &l.path.restore
	x0, x1 := f.pl.restore.x0, f.pl.restore.x1
	emin, _ := asm.RestoreSpan(rk.K, rk.Pad)
	b, ow := l.block, f.dst.W
	tmpl := asm.Params{
		Pix:    x1 - x0,
		ICB:    l.icb,
		KW:     rk.K,
		SrcICB: f.sh * f.sw * b * 4,
		SrcRow: f.sw * b * 4,
		SrcTap: b * 4,
		SrcPix: b * 4,
		WeiOCB: l.icb * rp.kh * rk.K * b * b * 4,
		WeiICB: rp.kh * rk.K * b * b * 4,
		WeiRow: rk.K * b * b * 4,
		DstOCB: f.dst.H * ow * b * 4,
		DstPix: b * 4,
		ReLU:   f.relu,
	}
	tmpl.SrcRows, tmpl.DstRows = f.sw*b*4, gm.ohStep*ow*b*4
	if f.pl.restore.edge.left {
		tmpl.EdgeL, emin = 1, emin+1 // Src one column right: column EMin is outside the input
	}
	if f.pl.restore.edge.right {
		tmpl.EdgeR = 1
	}
	srcImg := n*l.icb*f.sh*f.sw*b + (x0/2+emin+f.haloL)*b
	for r := lo; r < hi; {
		// Rows r..r1-1 share their vertical taps (phase rows and fused
		// rows alike: both phases of a row phase have rp.kh rows).
		r1 := f.runEnd(&ph[0], r, hi)
		t0, t1, ih0 := f.taps(&ph[0], r)
		if t1 <= t0 || x1 <= x0 {
			// No fused work in these rows: their phases compute them.
			f.passRows(prm, &ph[0], r, r1, 0, ph[0].gm.ncols)
			f.passRows(prm, &ph[1], r, r1, 0, ph[1].gm.ncols)
			r = r1
			continue
		}
		for x := 0; x < ow; x++ {
			if x == x0 {
				x = x1 - 1 // the fused span, below
				continue
			}
			// Edge pixel x belongs to phase (x + PadW) mod 2.
			q := &ph[(x+s.PadW)%2]
			j := (x - q.gm.owOff) / q.gm.owStep
			f.passRows(prm, q, r, r1, j, j+1)
		}
		outRow := gm.ohOff + r*gm.ohStep
		srcOff := srcImg + (ih0+t0)*f.sw*b
		// Output blocks [o0, o1) in calls of at most len(Fn) blocks.
		for o := o0; o < o1; {
			k := min(o1-o, len(rk.Fn))
			d := ((n*l.ocb+o)*f.dst.H+outRow)*ow*b + x0*b
			*prm = tmpl
			prm.OCB, prm.Rows = k, r1-r
			prm.KH = t1 - t0
			prm.Src = unsafe.Pointer(&f.sdata[srcOff])
			prm.Wei = unsafe.Pointer(&rp.wei[(o*l.icb*rp.kh+t0)*rk.K*b*b])
			prm.Dst = unsafe.Pointer(&f.dst.Data[d])
			prm.Bias = unsafe.Pointer(&l.bias[o*b])
			if f.res != nil {
				prm.Res = unsafe.Pointer(&f.res.Data[d])
			}
			rk.Fn[k-1](prm)
			o += k
		}
		r = r1
	}
	whole := *gm // the rows of this row phase, all their columns
	whole.owOff, whole.owStep, whole.ncols = 0, 1, ow
	f.clearPadLanes(&whole, n, o1, lo, hi)
}
