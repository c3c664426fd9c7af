package kernels

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/layout"
)

// countCalls wraps every row and tile kernel of the layer's passes with a
// counter of its calls.
func countCalls(l *layer, rows, tiles *atomic.Int64) {
	for i := range l.passes {
		p := &l.passes[i]
		for o, k := range p.kern {
			if k != nil {
				p.kern[o] = func(prm *asm.Params) { rows.Add(1); k(prm) }
			}
		}
		for o := range p.tile {
			for w, k := range p.tile[o] {
				if k != nil {
					p.tile[o][w] = func(prm *asm.Params) { tiles.Add(1); k(prm) }
				}
			}
		}
	}
}

// TestTileCalls: on a set with tile kernels, the three rows of a 3x3
// output under a 3x3 stride-3 window with padding 1 (the reduce of a
// rate-3 block over 7x7), whose top and bottom windows overhang the input
// by a row, are one tile call (EdgeT and EdgeB), not three row calls;
// each 1x1 phase of the rate-3 restore back to 7x7 (rows of 2-3 pixels)
// is one tile call; and so are the 2x2 and 4x4 outputs of the rate-4
// reduce (5x5, padding 2) over 7x7 and 14x14, which overhang by two. The kernels are wrapped with counters; the layer
// sweeps check the values these calls compute.
func TestTileCalls(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		if set.tile == nil {
			t.Skip("the set has no tile kernels")
		}
		defer SetThreads(Threads())
		SetThreads(1)
		b := set.Block
		r := rand.New(rand.NewPCG(14, 14))
		spec := ConvSpec{InC: b, OutC: b, KH: 3, KW: 3, StrideH: 3, StrideW: 3, PadH: 1, PadW: 1}
		w := randSlice(r, b*b*9)

		cv, err := NewConv2D(spec, w, nil, b)
		require.NoError(t, err)
		var rows, tiles atomic.Int64
		countCalls(&cv.l, &rows, &tiles)
		x, y := mustTensor(t, r, 1, b, 7, 7, b), mustTensor(t, r, 1, b, 3, 3, b)
		require.NoError(t, cv.Forward(y, x, Epilogue{}))
		require.Equal(t, int64(1), tiles.Load(), "tile calls of the 3x3 output")
		require.Equal(t, int64(0), rows.Load(), "row calls of the 3x3 output")

		d, err := NewConvTranspose2D(spec, w, nil, b)
		require.NoError(t, err)
		rows.Store(0)
		tiles.Store(0)
		countCalls(&d.l, &rows, &tiles)
		z := mustTensor(t, r, 1, b, 7, 7, b)
		require.NoError(t, d.Forward(z, y, Epilogue{}))
		require.Equal(t, int64(9), tiles.Load(), "tile calls of the nine phases")
		require.Equal(t, int64(0), rows.Load(), "row calls of the nine phases")

		// The rate-4 reduce, 5x5 with stride 4 and padding 2: over 7x7 its
		// 2x2 output's first row overhangs by two rows (EdgeT = 2), over
		// 14x14 its 4x4 output's first by two and its last by one. One
		// call each (the columns through a haloed copy, which the cost
		// model leaves to the border calls at some block sizes).
		defer func(m int) { haloMode = m }(haloMode)
		haloMode = haloAlways
		spec = ConvSpec{InC: b, OutC: b, KH: 5, KW: 5, StrideH: 4, StrideW: 4, PadH: 2, PadW: 2}
		cv, err = NewConv2D(spec, randSlice(r, b*b*25), nil, b)
		require.NoError(t, err)
		countCalls(&cv.l, &rows, &tiles)
		for _, h := range []int{7, 14} {
			rows.Store(0)
			tiles.Store(0)
			oh, _, err := cv.OutputSize(h, h)
			require.NoError(t, err)
			x, y := mustTensor(t, r, 1, b, h, h, b), mustTensor(t, r, 1, b, oh, oh, b)
			require.NoError(t, cv.Forward(y, x, Epilogue{}))
			require.Equal(t, int64(1), tiles.Load(), "tile calls of the %dx%d output", oh, oh)
			require.Equal(t, int64(0), rows.Load(), "row calls of the %dx%d output", oh, oh)
		}
	})
}

// TestTileThreadsBitwise: layers whose rows run through the tile kernels
// (small maps: rate-3 and rate-4 reduces and restores, padded and not)
// give the same output bit for bit on 1, 2 and 3 threads, which split
// their rows into different chunks, so that rows share tile calls
// differently: a row's sums must not depend on its call.
func TestTileThreadsBitwise(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		defer SetThreads(Threads())
		b := set.Block
		r := rand.New(rand.NewPCG(15, 15))
		for _, c := range []struct {
			deconv     bool
			k, s, p, h int // window, stride, padding, input size
			oh         int // transposed: output size
		}{
			{false, 3, 3, 1, 7, 0}, {false, 3, 3, 1, 8, 0}, {false, 3, 3, 1, 11, 0}, {false, 5, 4, 2, 14, 0},
			{false, 3, 2, 1, 7, 0}, {false, 3, 1, 1, 4, 0}, {false, 1, 1, 0, 3, 0},
			{false, 5, 4, 2, 7, 0}, {false, 5, 4, 2, 6, 0}, {false, 5, 1, 2, 3, 0}, {false, 3, 1, 2, 2, 0},
			{true, 3, 3, 1, 3, 7}, {true, 3, 3, 1, 3, 8}, {true, 5, 4, 2, 4, 14}, {true, 5, 4, 2, 2, 8}, {true, 4, 3, 1, 3, 8},
		} {
			spec := ConvSpec{InC: 2 * b, OutC: 5 * b, KH: c.k, KW: c.k, StrideH: c.s, StrideW: c.s, PadH: c.p, PadW: c.p}
			w, bias := randSlice(r, 2*b*5*b*c.k*c.k), randSlice(r, 5*b)
			x := mustTensor(t, r, 2, 2*b, c.h, c.h, b)
			var run func(y *layout.Tensor) error
			oh := c.oh
			if c.deconv {
				d, err := NewConvTranspose2D(spec, w, bias, b)
				require.NoError(t, err)
				run = func(y *layout.Tensor) error { return d.Forward(y, x, Epilogue{ReLU: true}) }
			} else {
				cv, err := NewConv2D(spec, w, bias, b)
				require.NoError(t, err)
				oh, _, err = cv.OutputSize(c.h, c.h)
				require.NoError(t, err)
				run = func(y *layout.Tensor) error { return cv.Forward(y, x, Epilogue{ReLU: true}) }
			}
			var first *layout.Tensor
			for _, n := range []int{1, 2, 3} {
				SetThreads(n)
				y, err := layout.New(2, 5*b, oh, oh, b)
				require.NoError(t, err)
				require.NoError(t, run(y))
				if first == nil {
					first = y
					continue
				}
				for i := range y.Data {
					if math.Float32bits(y.Data[i]) != math.Float32bits(first.Data[i]) {
						t.Fatalf("%+v: float %d on %d threads %v, on one %v", c, i, n, y.Data[i], first.Data[i])
					}
				}
			}
		}
	})
}

// TestTileEdgeSweep drives small maps whose windows overhang the input by
// up to maxTileEdge rows above and below (padding 0-2, every window a
// tile may take and some it may not: 2x2-5x5, strides 1-4) through the
// public API on every set, against package ref: 1-9 input rows, so that
// runs of tile rows start and end on every overhang, and first and last
// rows that overhang by two where one call would skip a window row for
// both (which must not share a call); every border strategy, on one
// thread (a pass's rows in one chunk) and two.
func TestTileEdgeSweep(t *testing.T) {
	defer func() { haloMode = haloModel }()
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		defer SetThreads(Threads())
		r := rand.New(rand.NewPCG(16, 16))
		for i, mode := range []int{haloNever, haloModel, haloAlways} {
			haloMode = mode
			SetThreads(1 + i%2) // one thread joins a pass's rows, two split them
			for k := 2; k <= 5; k++ {
				for p := 0; p <= min(2, k-1); p++ {
					for s := 1; s <= 4; s++ {
						for h := max(1, k-2*p); h <= 9; h++ {
							w := max(h%4+1, k-2*p)
							c := convCase{n: 1, inC: set.Block + 1 + r.IntN(set.Block), outC: 1 + r.IntN(3*set.Block), h: h, w: w,
								kh: k, kw: k, sh: s, sw: s, ph: p, pw: p,
								bias: r.IntN(2) == 0, res: r.IntN(2) == 0, relu: r.IntN(2) == 0, block: set.Block}
							c.run(t, r, false)
						}
					}
				}
			}
		}
	})
}
