package kernels

import "github.com/sbconv/sbconv/internal/intmath"

// This file decides where a pass's output rows and columns lie in the
// output and the input, and which columns are interior, border or edge
// pixels.

// geom places pass rows and columns in the output and input.
type geom struct {
	nrows, ohOff, ohStep, ihOff, ihStep int // output rows of the pass; row i is output row ohOff+i*ohStep and reads input rows from ihOff+i*ihStep
	ncols, owOff, owStep, iwOff, iwStep int // ... and its columns
}

// geometry returns where pass p's rows and columns lie for an input of
// ih x iw and an output of oh x ow.
func (l *layer) geometry(p *pass, ih, iw, oh, ow int) geom {
	s := l.spec
	if l.path.kind == convPasses {
		return geom{
			nrows: oh, ohOff: 0, ohStep: 1, ihOff: -s.PadH, ihStep: s.StrideH,
			ncols: ow, owOff: 0, owStep: 1, iwOff: -s.PadW, iwStep: s.StrideW,
		}
	}
	// Output rows of phase rh are oh = m*sh + rh - ph for integer m; tap t
	// of the packed phase reads input row m - (nkh-1) + t.
	mlo := intmath.CeilDiv(s.PadH-p.rh, s.StrideH)
	mhi := intmath.FloorDiv(oh-1+s.PadH-p.rh, s.StrideH)
	nlo := intmath.CeilDiv(s.PadW-p.rw, s.StrideW)
	nhi := intmath.FloorDiv(ow-1+s.PadW-p.rw, s.StrideW)
	return geom{
		nrows: max(0, mhi-mlo+1), ohOff: mlo*s.StrideH + p.rh - s.PadH, ohStep: s.StrideH,
		ihOff: mlo - (p.kh - 1), ihStep: 1,
		ncols: max(0, nhi-nlo+1), owOff: nlo*s.StrideW + p.rw - s.PadW, owStep: s.StrideW,
		iwOff: nlo - (p.kw - 1), iwStep: 1,
	}
}

// interiorCols returns the columns [jlo, jhi) whose kw-wide window lies
// wholly inside an input of width iw.
func (gm *geom) interiorCols(iw, kw int) (jlo, jhi int) {
	jlo = min(gm.ncols, max(0, intmath.CeilDiv(-gm.iwOff, gm.iwStep)))
	jhi = max(jlo, min(gm.ncols, intmath.FloorDiv(iw-kw-gm.iwOff, gm.iwStep)+1))
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
	if jhi == gm.ncols-1 && gm.iwOff+(gm.ncols-1)*gm.iwStep+kw-1 == iw {
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
		if (jlo > 0 && !left) || (jhi < gm.ncols && !right) {
			cover = false
		}
	})
	return cover
}

// columnPasses calls f with the column geometry of every pass that has
// taps and output columns, for input width iw and output width ow.
func (l *layer) columnPasses(iw, ow int, f func(p *pass, gm *geom)) {
	for i := range l.passes {
		p := &l.passes[i]
		if p.kh*p.kw == 0 {
			continue
		}
		if gm := l.geometry(p, 0, iw, 0, ow); gm.ncols > 0 {
			f(p, &gm)
		}
	}
}
