package kernels

// This file decides what a Forward call derives from its tensors' shapes
// alone (the per-shape plan: the call's kind, asked of kindFor, its
// border strategy, with the halo from halo.go, and where the passes' and
// the fused restore's columns lie), and caches it per layer.

import (
	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/internal/intmath"
	"github.com/sbconv/sbconv/layout"
)

// plan is what a Forward call derives from its tensors' shapes alone: the
// path this shape takes, the border strategy (a haloed copy, edge flags,
// one-pixel calls) and where every pass's rows and columns lie. A layer
// keeps the plan of its last shape, so the calls of a network that runs
// the same shapes over and over (the steady state) skip the geometry, the
// halo cost model and their divisions; a new shape builds a new plan.
type plan struct {
	mode              int // haloMode it was made under
	n, ih, iw, oh, ow int // the shapes it is for
	// kind is the path this shape takes (kindFor).
	kind    pathKind
	halo    haloCols    // the haloed copy's zero columns; none: the passes read src in place
	gm      []geom      // per pass, columns of the (haloed) input
	cols    []passCols  // per pass, the columns its row calls compute
	restore restoreCols // fusedRestore: the pixels of a row the restore kernel computes
	replays replays     // small layers: their calls on each thread count, recorded (replay.go)
	replay  bool        // the shape's calls are recorded and replayed (replayMaxFLOPs)
	ups     []unitPass  // phasePasses with merged phase groups: what each of the units' passes computes (groups.go); nil: the layer's passes
}

// haloCols are the zero columns a haloed copy of the input adds on its
// left and right.
type haloCols struct{ left, right int }

// none reports whether there is no copy: the input is read in place.
func (h haloCols) none() bool { return h.left+h.right == 0 }

// edgeFlags says whether the first (left) and last (right) pixel of a run
// are edge pixels, computed through the kernels' EdgeL and EdgeR flags
// (see package asm) in the run's call.
type edgeFlags struct{ left, right bool }

// passCols are the columns [jlo, jhi) of a pass's geometry that its row
// calls compute as one run (edge pixels included); the columns outside
// are border pixels, one narrowed call each.
type passCols struct {
	jlo, jhi int
	edge     edgeFlags
}

// restoreCols are the output pixels [x0, x1) of a row that the fused
// restore kernel computes; edge: it reaches the row's first (last) pair
// through its edge flags. The phase passes compute the other pixels.
type restoreCols struct {
	x0, x1 int
	edge   edgeFlags
}

// planFor returns the plan for src and dst's shapes.
func (l *layer) planFor(src, dst *layout.Tensor) *plan {
	if pl := l.plan.Load(); pl != nil && pl.mode == haloMode && pl.n == dst.N &&
		pl.ih == src.H && pl.iw == src.W && pl.oh == dst.H && pl.ow == dst.W {
		return pl
	}
	pl := &plan{mode: haloMode, n: dst.N, ih: src.H, iw: src.W, oh: dst.H, ow: dst.W, kind: l.kindFor(dst.W)}
	pl.replay = pl.kind != fusedRestore && l.callFLOPs(src, dst) <= replayMaxFLOPs
	fused := pl.kind == fusedRestore
	// Edge pixels in the row calls make a haloed copy unnecessary when
	// they are every border pixel of every pass (a 3x3 window with
	// padding 1); the fused restore keeps its own rule.
	edges := l.path.Edges && haloMode != haloNever
	restWhole := false
	if edges && fused && l.path.RestoreEdges {
		pl.restore, restWhole = l.restoreEdgeSpan(src.W, dst.W)
	}
	switch {
	case edges && !fused && l.edgesCover(src.W, dst.W):
	case restWhole:
	default:
		pl.halo = l.haloPlan(src, dst, fused)
	}
	if fused && !restWhole {
		pl.restore = restoreCols{}
		pl.restore.x0, pl.restore.x1 = l.restoreSpan(src.W, dst.W, pl.halo.left, pl.halo.right)
	}
	sw := src.W + pl.halo.left + pl.halo.right
	pl.gm, pl.cols = make([]geom, len(l.passes)), make([]passCols, len(l.passes))
	for i := range l.passes {
		p := &l.passes[i]
		gm := l.geometry(p, src.H, src.W, dst.H, dst.W)
		gm.iwOff += pl.halo.left
		c := &pl.cols[i]
		c.jlo, c.jhi = gm.interiorCols(sw, p.kw)
		if edges && pl.halo.none() {
			c.edge.left, c.edge.right = gm.edges(src.W, p.kw)
			if c.edge.left {
				c.jlo--
			}
			if c.edge.right {
				c.jhi++
			}
		}
		pl.gm[i] = gm
	}
	pl.ups = l.groupUnits(pl)
	l.plan.Store(pl)
	return pl
}

// restoreSpan returns the output pixels [x0, x1) of a row that the fused
// kernel can compute when input columns -hl..iw-1+hr exist.
func (l *layer) restoreSpan(iw, ow, hl, hr int) (x0, x1 int) {
	rk := l.path.restore
	emin, emax := asm.RestoreSpan(rk.K, rk.Pad)
	j0 := max(0, -hl-emin)
	j1 := max(j0, min(intmath.FloorDiv(ow-2, 2), iw-1+hr-emax)+1)
	x0, x1 = 2*j0, 2*j1
	// An odd last pixel (parity 0 of pair j1) when its columns exist.
	if x1 == ow-1 {
		e0 := -1 << 30
		for kw := 0; kw < rk.K; kw++ {
			if e, ok := asm.RestoreTap(0, rk.Pad, kw); ok {
				e0 = max(e0, e)
			}
		}
		if j1+e0 <= iw-1+hr {
			x1 = ow
		}
	}
	return x0, x1
}

// restoreEdgeSpan returns the span of a row of width ow that the fused
// kernel computes from an input of width iw without a halo, using its
// edge flags where the first pair reads one column left of the input
// (left) or the last pair one column right of it (right, even ow only);
// whole reports whether that span is the whole row.
func (l *layer) restoreEdgeSpan(iw, ow int) (rc restoreCols, whole bool) {
	rk := l.path.restore
	emin, emax := asm.RestoreSpan(rk.K, rk.Pad)
	rc.x0, rc.x1 = l.restoreSpan(iw, ow, 0, 0)
	if rc.x0 == 2 && emin == -1 {
		rc.x0, rc.edge.left = 0, true
	}
	if rc.x1 == ow-2 && ow%2 == 0 && ow/2-1+emax == iw {
		rc.x1, rc.edge.right = ow, true
	}
	return rc, rc.x0 == 0 && rc.x1 == ow
}
