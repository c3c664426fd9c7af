package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/layout"
)

// TestUnitsRowBands checks the order split gives the units: dealt out in
// contiguous ranges as the workers do, a layer whose weights are small
// gives each thread whole row bands of every pass and channel group (so
// that consecutive layers find their rows in the same core's cache), the
// bands in order; a layer with weights larger than its map and than
// rowsOuterWeights gives each thread channel groups instead.
func TestUnitsRowBands(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(19, 19))
		b := Block()
		for _, c := range []struct {
			deconv    bool
			ch, h, oh int
			stride    int
			rowsOuter bool
		}{
			{false, 16, 32, 32, 1, true}, {false, 64, 8, 8, 1, true}, {false, 64, 8, 4, 2, true},
			{true, 64, 4, 8, 2, true}, {true, 16, 16, 32, 2, true}, {true, 64, 28, 56, 2, true},
			{false, 512, 7, 7, 1, false},
		} {
			spec := ConvSpec{InC: c.ch, OutC: c.ch, KH: 3, KW: 3, StrideH: c.stride, StrideW: c.stride, PadH: 1, PadW: 1}
			w := randSlice(r, c.ch*c.ch*9)
			var l *layer
			if c.deconv {
				d, err := NewConvTranspose2D(spec, w, nil, b)
				require.NoError(t, err)
				l = &d.l
			} else {
				cv, err := NewConv2D(spec, w, nil, b)
				require.NoError(t, err)
				l = &cv.l
			}
			for _, imgs := range []int{1, 3} {
				src, err := layout.New(imgs, c.ch, c.h, c.h, b)
				require.NoError(t, err)
				dst, err := layout.New(imgs, c.ch, c.oh, c.oh, b)
				require.NoError(t, err)
				for _, n := range []int{2, 3, 4} {
					name := fmt.Sprintf("deconv%v_c%d_%d_to_%d_n%d_threads%d", c.deconv, c.ch, c.h, c.oh, imgs, n)
					f := &fwd{}
					l.prepare(f, dst, src, Epilogue{})
					units := f.split(n)
					require.Equal(t, c.rowsOuter, f.rowsOuter, name)
					if !f.rowsOuter {
						continue
					}
					if imgs%n != 0 {
						require.Zero(t, f.chunks%n, "%s: %d chunks", name, f.chunks)
					}
					band := map[[2]int]int{} // (image, chunk) -> the range that computes it
					last := -1
					for u := 0; u < units; u++ {
						k := rangeOf(u, units, n)
						img, _, _, _, ch := f.unit(u)
						key := [2]int{img, ch}
						if got, ok := band[key]; ok {
							require.Equal(t, got, k, "%s: image %d chunk %d in two threads' ranges", name, img, ch)
							continue
						}
						idx := img*f.chunks + ch
						require.Greater(t, idx, last, "%s: unit %d: bands out of order", name, u)
						last = idx
						band[key] = k
					}
				}
			}
		}
	})
}

// rangeOf is the range of the goroutine that workers.Run deals unit u of
// units to, among n.
func rangeOf(u, units, n int) int {
	for k := 0; k < n; k++ {
		if u < (k+1)*units/n {
			return k
		}
	}
	return n - 1
}
