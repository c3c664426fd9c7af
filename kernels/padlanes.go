package kernels

// This file keeps the padded channel lanes of a layer's output (lanes
// OutC..OCB*block-1 of its last channel block) zero after every call, as
// package layout promises, whatever the inputs: their weights and bias
// are zero, but an Inf or NaN input times a zero weight is NaN, which the
// next layer would read and multiply into its real lanes (NaN*0). A unit
// that computes the last channel block clears the lanes of the pixels it
// wrote, while they are in cache; a layer whose OutC is a multiple of the
// block has none and does nothing.

// padLane returns the first padded lane of the layer's last output
// channel block, or 0 when OutC is a multiple of the block.
func (l *layer) padLane() int { return l.spec.OutC % l.block }

// clearPadLanes zeroes the padded lanes of image n's output pixels at
// rows [lo, hi) and columns [0, ncols) of geometry gm, when the unit's
// output blocks [o0, o1) include the last.
func (f *fwd) clearPadLanes(gm *geom, n, o1, lo, hi int) {
	l := f.l
	lane := l.padLane()
	if lane == 0 || o1 != l.ocb {
		return
	}
	b, oh, ow := l.block, f.dst.H, f.dst.W
	plane := f.dst.Data[(n*l.ocb+l.ocb-1)*oh*ow*b : (n*l.ocb+l.ocb)*oh*ow*b]
	for r := lo; r < hi; r++ {
		row := (gm.ohOff + r*gm.ohStep) * ow
		for j := 0; j < gm.ncols; j++ {
			px := (row + gm.owOff + j*gm.owStep) * b
			clear(plane[px+lane : px+b])
		}
	}
}

// clearPassLanes clears the padded lanes of row chunk c of passes
// pi..pi+m-1 (a pass alone, or a phase group's members) for image n and
// output blocks up to o1: what a unit wrote, replayed or not.
func (f *fwd) clearPassLanes(pi, m, n, o1, c int) {
	for k := 0; k < m; k++ {
		gm := &f.pl.gm[pi+k]
		f.clearPadLanes(gm, n, o1, c*gm.nrows/f.chunks, (c+1)*gm.nrows/f.chunks)
	}
}
