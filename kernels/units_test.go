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

// TestUnitsImagesInner checks that a layer whose weights exceed the
// caches, called on several images, runs each channel group's units for
// every image before the next group's (so that a call reads its weights
// once, not once an image), and that one image keeps images outermost.
func TestUnitsImagesInner(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		b := Block()
		spec := ConvSpec{InC: 512, OutC: 512, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
		cv, err := NewConv2D(spec, make([]float32, 512*512*9), nil, b)
		require.NoError(t, err)
		l := &cv.l
		for _, imgs := range []int{1, 3} {
			src, err := layout.New(imgs, 512, 7, 7, b)
			require.NoError(t, err)
			for _, n := range []int{1, 2, 3} {
				f := &fwd{}
				l.prepare(f, src, src, Epilogue{})
				units := f.split(n)
				require.Equal(t, imgs > 1, f.imagesIn, "%d images, %d threads", imgs, n)
				lastG, lastN := 0, 0
				for u := 0; u < units; u++ {
					img, _, o0, _, _ := f.unit(u)
					g := 0
					for g*l.ocb/f.groups != o0 { // the group whose first block is o0
						g++
					}
					switch {
					case imgs == 1:
						require.Zero(t, img, "unit %d", u)
					case g == lastG:
						require.GreaterOrEqual(t, img, lastN, "unit %d: image %d after %d within group %d", u, img, lastN, g)
					default:
						require.Equal(t, lastG+1, g, "unit %d: group %d after %d", u, g, lastG)
						require.Equal(t, imgs-1, lastN, "unit %d: group %d starts before group %d has run image %d", u, g, lastG, imgs-1)
						require.Zero(t, img, "unit %d: group %d starts at image %d", u, g, img)
					}
					lastG, lastN = g, img
				}
				if imgs > 1 {
					require.Equal(t, f.groups-1, lastG, "the last unit's group")
				}
			}
		}
	})
}
