package kernels

// This file decides what a Forward call derives from its tensors' shapes
// alone (the per-shape plan), and caches it per layer.

import (
	"github.com/sbconv/sbconv/layout"
)

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

// minFusedWidth is the narrowest output row the fused restore computes. Its
// kernels take one output block a call (AVX2 has registers for no more),
// so on narrow rows each call does little work for its broadcasts and
// overhead, while the phase passes take up to three blocks a call.
// Measured at one thread, fused on every row against fused from 16 pixels:
// in-256x14 (14 wide) 602-653 us against 582-618 us; 16-wide and wider
// rows tie or gain (cifar-32x16 restore 12.3-12.8 us fused against
// 12.8-14.9 us in phases before the fused kernel existed).
const minFusedWidth = 16
