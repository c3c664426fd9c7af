package kernels

// This file decides what each microkernel call of a pass gets: a unit's
// rows split into border pixels, interior runs and edge pixels, and the
// argument block of each call.

import (
	"unsafe"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/layout"
)

// rowCall is what the microkernel calls for one pass share within a work
// unit (one image, one group of output blocks): the geometry, the kernel
// and the argument block's fields that do not change from row to row.
// Setting those once a unit, not once a call, keeps the driver's share of
// a small layer (a CIFAR restore makes a call per 4-pixel phase row) low.
type rowCall struct {
	p         *pass
	gm        geom     // columns of the (possibly haloed) input
	cols      passCols // the run of columns with a whole window, edge pixels included (see plan)
	kern      microkernel
	tile      *[maxTileW + 1]microkernel // the pass's tile kernels for kern's output blocks
	o0        int
	dstBase   int
	srcBase   int
	weiBase   int
	pf, pfEnd uintptr // weights to prefetch: Params.Pf, PfEnd
	tmpl      asm.Params
	rec       *[]recCall // where the unit's calls are recorded, or nil (replay.go)
	resDst    bool       // the calls add Dst's own values (a later input-block chunk: kSplit)
}

// newRowCall prepares rc for pass pi, image n and output blocks [o0, o1).
func (f *fwd) newRowCall(rc *rowCall, pi, n, o0, o1 int) {
	l, dst := f.l, f.dst
	b := l.block
	p := &l.passes[pi]
	rc.p = p
	rc.gm = f.pl.gm[pi]
	rc.kern = p.kern[o1-o0]
	rc.tile = &p.tile[o1-o0]
	rc.o0 = o0
	rc.dstBase = (n*l.ocb+o0)*dst.H*dst.W*b + rc.gm.owOff*b
	rc.srcBase = n * l.icb * f.sh * f.sw * b
	rc.weiBase = o0 * l.icb * p.kh * p.kw * b * b
	rc.cols = f.pl.cols[pi]
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
	if !f.l.path.Rows {
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

// passRows computes columns [c0, c1) of output rows [lo, hi) of rc's pass:
// each row's left border pixels one call each (window narrowed to the
// columns that exist), the interior runs of rows that share their window
// rows in one call, then the right border pixels.
func (f *fwd) passRows(prm *asm.Params, rc *rowCall, lo, hi, c0, c1 int) {
	gm := &rc.gm
	border := func(r, j int) {
		iw0 := gm.iwOff + j*gm.iwStep
		kc := kernelCall{r: r, nrows: 1, j: j, npix: 1, u0: max(0, -iw0), u1: min(rc.p.kw, f.sw-iw0)}
		kc.t0, kc.t1, kc.ih0 = f.taps(rc, r)
		f.call(prm, rc, kc)
	}
	i0, i1 := max(c0, rc.cols.jlo), min(c1, rc.cols.jhi)
	tile := f.l.path.Rows && i1-i0 <= maxTileW && i1 > i0 && rc.tile[i1-i0] != nil
	for r := lo; r < hi; {
		r1, top, bottom, tiled := r, 0, 0, false
		if tile {
			r1, top, bottom = f.tileRun(rc, r, hi)
			tiled = r1 > r
		}
		if !tiled {
			r1 = f.runEnd(rc, r, hi)
		}
		for rr := r; rr < r1; rr++ {
			for j := c0; j < min(c1, rc.cols.jlo); j++ {
				border(rr, j)
			}
		}
		if i1 > i0 {
			kc := kernelCall{r: r, nrows: r1 - r, j: i0, npix: i1 - i0, u0: 0, u1: rc.p.kw, tile: tiled, top: top, bottom: bottom}
			kc.t0, kc.t1, kc.ih0 = f.taps(rc, r)
			if tiled {
				kc.t0, kc.t1 = 0, rc.p.kh // the whole window: the tile kernel skips the rows in the padding
			}
			kc.edge.left = rc.cols.edge.left && i0 == rc.cols.jlo
			kc.edge.right = rc.cols.edge.right && i1 == rc.cols.jhi
			f.call(prm, rc, kc)
		}
		for rr := r; rr < r1; rr++ {
			for j := max(c0, rc.cols.jhi); j < c1; j++ {
				border(rr, j)
			}
		}
		r = r1
	}
}

// kernelCall is what one microkernel call of a row call computes: npix
// pixels from column index j of nrows output rows of the pass from row
// r (whose tap 0 reads input row ih0), with kernel rows [t0, t1) and
// columns [u0, u1) of the pass's window; edge: its first (last) pixel is
// an edge pixel (see package asm); tile: it runs the pass's tile kernel
// for npix pixels, and its first (last) row skips the window's first top
// (last bottom) rows, the tile kernel's EdgeT (EdgeB).
type kernelCall struct {
	r, nrows, ih0 int
	j, npix       int
	t0, t1        int
	u0, u1        int
	edge          edgeFlags
	tile          bool
	top, bottom   int
}

// maxTileEdge is how many window rows in the padding a tile call's first
// (last) row may skip: the reduce of a rate-4 spatial bottleneck (5x5,
// padding 2) overhangs by two.
const maxTileEdge = 2

// tileRun returns the end of the run of rows from r (below hi) that one
// tile kernel call computes (package asm's tiles), or r where row r is
// none of a tile call's: a first row whose window may overhang the input
// by up to maxTileEdge rows above (top of them), the rows after it with
// the whole window, and a last row that may overhang by up to
// maxTileEdge below (bottom), the two overhangs not sharing a window row
// when the call has more than one. So the three rows of a 3x3 output
// under a 3x3 window with padding 1 are one call, which a row kernel
// takes as three, walking the weights three times, and so are the two
// rows of a 2x2 output under a 5x5 window with padding 2.
//
// In a pass whose rows have a tile kernel, every row it can take goes to
// it, alone or with others: a tile kernel sums a row the same way
// whatever rows share its call, while a row kernel's sums are ordered
// otherwise, so a row must not move between the two as a layer's rows are
// split over threads (outputs are bit for bit the same on any number).
// Rows whose window overhangs by more go to the row kernels always.
func (f *fwd) tileRun(rc *rowCall, r, hi int) (r1, top, bottom int) {
	kh := rc.p.kh
	// fits: the row has taps and overhangs by at most maxTileEdge rows each side.
	fits := func(t0, t1 int) bool { return t1 > t0 && t0 <= maxTileEdge && t1 >= kh-maxTileEdge }
	t0, t1, _ := f.taps(rc, r)
	if !fits(t0, t1) {
		return r, 0, 0
	}
	top, bottom, r1 = t0, kh-t1, r+1
	for bottom == 0 && r1 < hi {
		u0, u1, _ := f.taps(rc, r1)
		if u0 != 0 || !fits(u0, u1) || top+kh-u1 > kh {
			break
		}
		bottom, r1 = kh-u1, r1+1
	}
	return r1, top, bottom
}

// call makes the microkernel call kc of rc.
func (f *fwd) call(prm *asm.Params, rc *rowCall, kc kernelCall) {
	b := f.l.block
	*prm = rc.tmpl
	d := rc.dstBase + (rc.gm.ohOff+kc.r*rc.gm.ohStep)*f.dst.W*b + kc.j*rc.gm.owStep*b
	prm.Pix, prm.Rows = kc.npix, kc.nrows
	prm.Dst = unsafe.Pointer(&f.dst.Data[d])
	if rc.resDst {
		prm.Res = prm.Dst
	} else if f.res != nil {
		prm.Res = unsafe.Pointer(&f.res.Data[d])
	}
	if kc.t1 <= kc.t0 || kc.u1 <= kc.u0 {
		f.biasOnly(prm, rc)
		return
	}
	p := rc.p
	iw0 := rc.gm.iwOff + kc.j*rc.gm.iwStep
	ih := kc.ih0 + kc.t0
	prm.KH, prm.KW = kc.t1-kc.t0, kc.u1-kc.u0
	if kc.edge.left {
		prm.EdgeL, iw0 = 1, iw0+1 // Src at pixel 0's tap 1: its tap 0 is padding
	}
	if kc.edge.right {
		prm.EdgeR = 1
	}
	if kc.top > 0 {
		prm.EdgeT, ih = kc.top, ih+kc.top // Src at row 0's tap row top: the rows above it are padding
	}
	prm.EdgeB = kc.bottom
	prm.Src = unsafe.Pointer(&f.sdata[rc.srcBase+(ih*f.sw+iw0+kc.u0)*b])
	prm.Wei = unsafe.Pointer(&p.wei[rc.weiBase+(kc.t0*p.kw+kc.u0)*b*b])
	prm.Pf, prm.PfEnd = rc.pf, rc.pfEnd
	k := rc.kern
	if kc.tile {
		k = rc.tile[kc.npix] // rows of a small map: their weights walked once for up to three
	}
	f.invoke(rc, k, prm)
	rc.pf = prm.Pf // where the kernel stopped: the next call goes on from there
}

// zeros is one tap of zero weights for a block of 16 (or 8) lanes, and
// the zero input of up to 16 pixels a call reads with it: biasOnly's
// operands, never written; with the slack of packed weights after them
// (layout.WeightSlack), which a kernel that prefetches ahead names.
var zeros [16*16 + layout.WeightSlack]float32

// biasOnly computes a call whose window lies wholly in the padding (prm
// set up by call but for the window): bias, residual and activation only.
// On an assembly set it runs the set's 1x1 kernel over one tap of zero
// weights and zero input, up to b pixels a call: those rows are the last
// row and column of a rate-4 restore with K = 5 (no tap reaches them),
// which the generic Go kernel took 4% of SB ResNet-20's time for on one
// AVX-512 core. The generic set keeps its KH = 0 form, which reads
// neither.
func (f *fwd) biasOnly(prm *asm.Params, rc *rowCall) {
	b := f.l.block
	if f.l.path.set == genericSet {
		f.invoke(rc, genericKernel(b), prm)
		return
	}
	k := rc.p.zeroTap[prm.OCB]
	zero := unsafe.Pointer(&zeros[0])
	prm.Src, prm.Wei = zero, zero
	prm.ICB, prm.KH, prm.KW = 1, 1, 1
	prm.SrcTap, prm.SrcPix, prm.SrcRows = b*4, b*4, 0 // every row reads the same zeros
	prm.WeiOCB = 0                                    // every output block the same zero tap
	prm.EdgeL, prm.EdgeR, prm.Pf, prm.PfEnd = 0, 0, 0, 0
	npix, dst, res := prm.Pix, prm.Dst, prm.Res
	for j := 0; j < npix; j += b {
		prm.Pix = min(b, npix-j)
		prm.Dst = unsafe.Add(dst, j*prm.DstPix)
		if res != nil {
			prm.Res = unsafe.Add(res, j*prm.DstPix)
		}
		f.invoke(rc, k, prm)
	}
}
