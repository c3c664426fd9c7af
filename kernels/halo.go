package kernels

// This file decides whether a call copies its input into a zero-haloed
// workspace and how many zero columns it adds (the halo cost model), for
// the passes and for the fused restore's rows alike, and holds the
// workspaces and the copy.

import (
	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/internal/intmath"
	"github.com/sbconv/sbconv/layout"
)

// haloPlan returns the zero columns to add on each side of the input for
// this call (fused: through the restore's row passes), or none, where
// the layer's path allows a copy at all (path.haloCopy).
func (l *layer) haloPlan(src, dst *layout.Tensor, fused bool) haloCols {
	if !l.path.haloCopy || haloMode == haloNever {
		return haloCols{}
	}
	var hl, hr int
	var pays bool
	if fused {
		hl, hr = l.restoreHaloNeed(src.W, dst.W)
		pays = hl+hr > 0 && l.restoreHaloPays(src, dst, hl, hr)
	} else {
		hl, hr = l.halo(src.W, dst.W)
		pays = hl+hr > 0 && l.haloPays(src, dst, hl, hr)
	}
	if pays || haloMode == haloAlways {
		return haloCols{hl, hr}
	}
	return haloCols{}
}

// haloMode lets tests force both border strategies through every path;
// it is always haloModel outside tests.
var haloMode = haloModel

const (
	haloModel  = iota // the cost model decides
	haloNever         // edges through one-pixel calls
	haloAlways        // a haloed copy whenever there is an edge
)

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
		borderFLOPs += float64(gm.nrows*(gm.ncols-(jhi-jlo))) * perPixel
	}
	return copyPays(borderFLOPs, src, hl, hr)
}

// halo returns how many zero columns on the left and right of an input
// of width iw make every column of every pass interior for output width ow.
func (l *layer) halo(iw, ow int) (hl, hr int) {
	l.columnPasses(iw, ow, func(p *pass, gm *geom) {
		hl = max(hl, -gm.iwOff)
		hr = max(hr, gm.iwOff+(gm.ncols-1)*gm.iwStep+p.kw-iw)
	})
	return hl, hr
}

// restoreHaloNeed returns the zero columns that let the fused kernel
// compute whole rows of width ow from an input of width iw.
func (l *layer) restoreHaloNeed(iw, ow int) (hl, hr int) {
	rk := l.path.restore
	emin, emax := asm.RestoreSpan(rk.K, rk.Pad)
	return max(0, -emin), max(0, intmath.FloorDiv(ow-1, 2)+emax-(iw-1))
}

// restoreHaloPays applies the halo cost model (copyPays) to the edge
// pixels of the fused rows: each is a one-pixel phase call without a halo.
func (l *layer) restoreHaloPays(src, dst *layout.Tensor, hl, hr int) bool {
	x0, x1 := l.restoreSpan(src.W, dst.W, 0, 0)
	s := l.spec
	flopsPerPixel := 2 * float64(l.icb*l.ocb*l.block*l.block) * float64(s.KH*s.KW) / 4
	edgeFLOPs := float64(dst.W-(x1-x0)) * float64(dst.H) * flopsPerPixel
	return copyPays(edgeFLOPs, src, hl, hr)
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

func (c *haloCopy) RunUnit(u int, _ *asm.Params) {
	b, h, w := c.src.Block, c.src.H, c.src.W
	pw := w + c.ws.hl + c.ws.hr
	for y := 0; y < h; y++ {
		from := (u*h + y) * w * b
		to := ((u*h+y)*pw + c.ws.hl) * b
		copy(c.ws.data[to:to+w*b], c.src.Data[from:from+w*b])
	}
}
