package block

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// TestGlobalAvgPoolKernel: where the dispatched set has an average-pool
// kernel for the library's block, globalAvgPool gives bit for bit what
// its Go loop gives (the same sums in the same order), over 1-3 images,
// channel counts that leave padded lanes, and maps of 1x1 to 9x7 (every
// tail of the kernel's four-pixel step), with floats past the output
// left untouched.
func TestGlobalAvgPoolKernel(t *testing.T) {
	b := kernels.Block()
	if dispatchedAvgPool(b) == avgPoolGo {
		t.Skipf("no average-pool kernel for %s", kernels.ISA())
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 3} {
		for _, c := range []int{1, b - 3, b, 3*b + 5} {
			for _, hw := range [][2]int{{1, 1}, {1, 2}, {3, 1}, {2, 2}, {3, 3}, {4, 2}, {8, 8}, {9, 7}} {
				t.Run(fmt.Sprintf("n%d_c%d_%dx%d", n, c, hw[0], hw[1]), func(t *testing.T) {
					nchw := make([]float32, n*c*hw[0]*hw[1])
					for i := range nchw {
						nchw[i] = float32(r.Float64()*2 - 1)
					}
					src, err := layout.FromNCHW(nchw, n, c, hw[0], hw[1], b)
					require.NoError(t, err)
					got, err := layout.New(n, c, 1, 1, b)
					require.NoError(t, err)
					want, err := layout.New(n, c, 1, 1, b)
					require.NoError(t, err)
					const sentinel = 1234.5
					for i := range got.Data {
						got.Data[i], want.Data[i] = sentinel, sentinel
					}
					globalAvgPool(got, src)
					globalAvgPoolGo(want, src)
					for i := range want.Data {
						if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
							t.Fatalf("float %d: kernel %v, Go %v", i, got.Data[i], want.Data[i])
						}
					}
				})
			}
		}
	}
}
