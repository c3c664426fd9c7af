package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/layout"
)

// TestReplay: a small layer's later calls of a shape replay the
// microkernel calls its first call recorded (replay.go), on new inputs,
// residuals and ReLU settings, on one thread and two, under every border
// strategy; each must give bit for bit what a fresh layer's first call
// (which works every call out) gives. The shapes reach every kind of
// call the driver makes: border pixels, edge flags, tiles with top and
// bottom overhangs, bias-only rows of a rate-4 restore, padded lanes,
// two images.
func TestReplay(t *testing.T) {
	defer func() { haloMode = haloModel }()
	defer SetThreads(Threads())
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		b := set.Block
		r := rand.New(rand.NewPCG(17, 17))
		for _, c := range []struct {
			deconv       bool
			k, s, p      int
			ih, iw       int
			oh, ow       int // transposed: output size
			inC, outC, n int
		}{
			{false, 3, 1, 1, 5, 7, 0, 0, b + 3, 2*b + 1, 2},
			{false, 5, 4, 2, 7, 7, 0, 0, 2 * b, 3 * b, 1},
			{false, 5, 4, 2, 14, 13, 0, 0, b, b - 2, 2},
			{false, 1, 2, 0, 6, 6, 0, 0, 2 * b, b, 1},
			{false, 3, 3, 1, 8, 8, 0, 0, b, 4 * b, 1},
			{true, 3, 3, 1, 3, 3, 8, 8, 2 * b, 2*b + 5, 2},
			{true, 5, 4, 2, 2, 2, 8, 8, 4 * b, 4 * b, 1},
			{true, 5, 4, 2, 4, 4, 14, 14, b, b + 1, 1},
			{true, 3, 3, 1, 11, 11, 32, 32, b, b, 1},
			{true, 5, 4, 2, 8, 8, 32, 31, b, b - 3, 2}, // merged phase groups, padded lanes
		} {
			spec := ConvSpec{InC: c.inC, OutC: c.outC, KH: c.k, KW: c.k, StrideH: c.s, StrideW: c.s, PadH: c.p, PadW: c.p}
			w, bias := randSlice(r, c.inC*c.outC*c.k*c.k), randSlice(r, c.outC)
			type fwdFunc func(y, x *layout.Tensor, ep Epilogue) error
			build := func() (fwdFunc, int, int) {
				if c.deconv {
					d, err := NewConvTranspose2D(spec, w, bias, b)
					require.NoError(t, err)
					return d.Forward, c.oh, c.ow
				}
				cv, err := NewConv2D(spec, w, bias, b)
				require.NoError(t, err)
				oh, ow, err := cv.OutputSize(c.ih, c.iw)
				require.NoError(t, err)
				return cv.Forward, oh, ow
			}
			for _, mode := range []int{haloModel, haloNever, haloAlways} {
				haloMode = mode
				for _, threads := range []int{1, 2} {
					SetThreads(threads)
					layer, oh, ow := build()
					for call := 0; call < 4; call++ {
						x := mustTensor(t, r, c.n, c.inC, c.ih, c.iw, b)
						ep := Epilogue{ReLU: call%2 == 1}
						if call >= 2 {
							ep.Residual = mustTensor(t, r, c.n, c.outC, oh, ow, b)
						}
						got, err := layout.New(c.n, c.outC, oh, ow, b)
						require.NoError(t, err)
						require.NoError(t, layer(got, x, ep))
						fresh, _, _ := build()
						want, err := layout.New(c.n, c.outC, oh, ow, b)
						require.NoError(t, err)
						require.NoError(t, fresh(want, x, ep))
						for i := range want.Data {
							if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
								t.Fatalf("%+v halo mode %d, %d threads, call %d (%s): float %d is %v, a fresh layer's %v",
									c, mode, threads, call, fmt.Sprint(ep.ReLU, ep.Residual != nil), i, got.Data[i], want.Data[i])
							}
						}
					}
				}
			}
		}
	})
}
