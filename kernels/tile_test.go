package kernels

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/asm"
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
// by a row, are one tile call (EdgeT and EdgeB), not three row calls; and
// each 1x1 phase of the rate-3 restore back to 7x7 (rows of 2-3 pixels)
// is one tile call. The kernels are wrapped with counters; the layer
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
	})
}
