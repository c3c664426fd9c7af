package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sbconv/sbconv/kernels/ref"
	"github.com/sbconv/sbconv/layout"
)

// Inf and NaN in inputs and weights: every set and path must give what
// package ref gives, and the padded channel lanes of every output must
// stay zero, as package layout promises.

var (
	posInf = float32(math.Inf(1))
	negInf = float32(math.Inf(-1))
	nan    = float32(math.NaN())
)

// nonfiniteCases are the layers of the tests below: every path (a
// strided convolution, phases, the fused restore at widths over
// minFusedWidth) and every border strategy a plan may choose for them,
// with OutC not a multiple of the block.
var nonfiniteCases = []convCase{
	{n: 2, inC: 3, outC: 5, h: 5, w: 6, kh: 1, kw: 1, sh: 1, sw: 1},
	{n: 1, inC: 3, outC: 5, h: 6, w: 7, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1},
	{n: 1, inC: 5, outC: 11, h: 7, w: 9, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1},
	{n: 1, inC: 5, outC: 13, h: 9, w: 13, kh: 3, kw: 3, sh: 4, sw: 4, ph: 1, pw: 1},
	{n: 1, inC: 3, outC: 13, h: 9, w: 11, kh: 7, kw: 7, sh: 2, sw: 2, ph: 3, pw: 3},
	{n: 1, inC: 5, outC: 5, h: 3, w: 4, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, oh: 5, ow: 8},    // phases
	{n: 2, inC: 5, outC: 11, h: 2, w: 10, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, oh: 4, ow: 20}, // fused where the set has it
	{n: 1, inC: 5, outC: 5, h: 2, w: 9, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, oh: 3, ow: 17},
	{n: 1, inC: 8, outC: 7, h: 2, w: 8, kh: 2, kw: 2, sh: 2, sw: 2, oh: 4, ow: 16},
	{n: 1, inC: 8, outC: 7, h: 2, w: 8, kh: 4, kw: 4, sh: 2, sw: 2, ph: 1, pw: 1, oh: 4, ow: 16},
	{n: 1, inC: 8, outC: 7, h: 2, w: 9, kh: 4, kw: 4, sh: 2, sw: 2, ph: 1, pw: 1, oh: 4, ow: 19},
	{n: 1, inC: 8, outC: 9, h: 2, w: 3, kh: 4, kw: 4, sh: 2, sw: 2, ph: 1, pw: 1, oh: 4, ow: 6},
}

// forward builds c's layer (transposed when c.oh > 0) from PyTorch's
// NCHW and OIHW (IOHW) values and runs it on x, returning the output
// tensor and package ref's result.
func (c convCase) forward(t *testing.T, x, wts, bias []float32, ep Epilogue) (*layout.Tensor, []float32) {
	t.Helper()
	block := c.block
	rs := c.refSpec()
	src, err := layout.FromNCHW(x, c.n, c.inC, c.h, c.w, block)
	if err != nil {
		t.Fatal(err)
	}
	var dst *layout.Tensor
	var want []float32
	if c.oh > 0 {
		d, err := NewConvTranspose2D(c.spec(), wts, bias, block)
		if err != nil {
			t.Fatal(err)
		}
		if dst, err = layout.New(c.n, c.outC, c.oh, c.ow, block); err != nil {
			t.Fatal(err)
		}
		if err := d.Forward(dst, src, ep); err != nil {
			t.Fatal(err)
		}
		want = ref.ConvTranspose2D(rs, c.oh, c.ow, x, wts, bias, nil, ep.ReLU)
	} else {
		cv, err := NewConv2D(c.spec(), wts, bias, block)
		if err != nil {
			t.Fatal(err)
		}
		oh, ow := rs.ConvOut()
		if dst, err = layout.New(c.n, c.outC, oh, ow, block); err != nil {
			t.Fatal(err)
		}
		if err := cv.Forward(dst, src, ep); err != nil {
			t.Fatal(err)
		}
		want, _, _ = ref.Conv2D(rs, x, wts, bias, nil, ep.ReLU)
	}
	return dst, want
}

// forEachHaloMode runs f under every border strategy (see haloMode).
func forEachHaloMode(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer func(m int) { haloMode = m }(haloMode)
	for _, m := range []struct {
		mode int
		name string
	}{{haloModel, "model"}, {haloNever, "never"}, {haloAlways, "always"}} {
		haloMode = m.mode
		t.Run(m.name, f)
	}
}

// TestPadLanesStayZeroNonfinite: an Inf or NaN in a real input channel
// (whose padded output lanes' weights are zero: Inf*0 is NaN) leaves the
// padded lanes of every output zero, on every set, path and border
// strategy, for both blocks.
func TestPadLanesStayZeroNonfinite(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		forEachHaloMode(t, func(t *testing.T) {
			r := rand.New(rand.NewPCG(31, 31))
			for _, c := range nonfiniteCases {
				for _, c.block = range []int{8, 16} {
					for _, bad := range []float32{negInf, posInf, nan} {
						x := randSlice(r, c.n*c.inC*c.h*c.w)
						for i := 0; i < c.h*c.w; i += 3 {
							x[i] = bad // channel 0 of image 0
						}
						wts := randSlice(r, c.outC*c.inC*c.kh*c.kw)
						dst, _ := c.forward(t, x, wts, randSlice(r, c.outC), Epilogue{ReLU: bad == negInf})
						if err := padLanesErr(dst); err != nil {
							t.Errorf("%v, channel 0 holding %v: %v", c, bad, err)
						}
					}
				}
			}
		})
	})
}

// TestNonfiniteInputNextLayer is the adversarial reproducer: a 1x1
// convolution 3->5 with ReLU of an input whose channel 0 holds -Inf (all
// weights positive: every output is -Inf, 0 after the ReLU), then a 1x1
// convolution 5->2 with bias 1, which package ref gives as 1 everywhere.
// A NaN left in the first output's padded lanes made every set give NaN.
func TestNonfiniteInputNextLayer(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		const h, w = 3, 4
		x := make([]float32, 3*h*w)
		for i := range x {
			x[i] = 0.5
		}
		for i := 0; i < h*w; i++ {
			x[i] = negInf
		}
		ones := func(n int) []float32 {
			s := make([]float32, n)
			for i := range s {
				s[i] = 1
			}
			return s
		}
		c1 := convCase{n: 1, inC: 3, outC: 5, h: h, w: w, kh: 1, kw: 1, sh: 1, sw: 1}
		c2 := convCase{n: 1, inC: 5, outC: 2, h: h, w: w, kh: 1, kw: 1, sh: 1, sw: 1}
		for _, block := range []int{8, 16} {
			c1.block = block
			y, wantY := c1.forward(t, x, ones(15), nil, Epilogue{ReLU: true})
			w2 := []float32{0.5, -1, 2, 0.25, 1, -0.5, 1, 1, -2, 3}
			z, _ := layout.New(1, 2, h, w, block)
			cv, err := NewConv2D(c2.spec(), w2, ones(2), block)
			if err != nil {
				t.Fatal(err)
			}
			if err := cv.Forward(z, y, Epilogue{}); err != nil {
				t.Fatal(err)
			}
			want, _, _ := ref.Conv2D(c2.refSpec(), wantY, w2, ones(2), nil, false)
			for i, v := range z.NCHW() {
				if v != want[i] || v != 1 {
					t.Fatalf("block %d: element %d = %v, want %v (package ref), 1", block, i, v, want[i])
				}
			}
		}
	})
}

// TestMaxPoolPadLanesNonfinite: Inf and NaN in the real lanes of a max
// pool's input leave its output's padded lanes zero, on every set.
func TestMaxPoolPadLanesNonfinite(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(32, 32))
		for _, block := range []int{8, 16} {
			for _, sz := range [][3]int{{5, 9, 9}, {13, 8, 17}, {3, 1, 2}} {
				c, h, w := sz[0], sz[1], sz[2]
				x := randSlice(r, 2*c*h*w)
				for i := range x {
					switch r.IntN(4) {
					case 0:
						x[i] = posInf
					case 1:
						x[i] = negInf
					case 2:
						x[i] = nan
					}
				}
				src, err := layout.FromNCHW(x, 2, c, h, w, block)
				if err != nil {
					t.Fatal(err)
				}
				dst, _ := layout.New(2, c, poolOutSize(h), poolOutSize(w), block)
				if err := MaxPool3x3S2(dst, src); err != nil {
					t.Fatal(err)
				}
				if err := padLanesErr(dst); err != nil {
					t.Errorf("block %d, %dx%dx%d: %v", block, c, h, w, err)
				}
			}
		}
	})
}

// padLanesErr reports the first padded channel lane of ten that is not
// zero (a NaN included).
func padLanesErr(ten *layout.Tensor) error {
	b, cb := ten.Block, ten.ChannelBlocks()
	for n := 0; n < ten.N; n++ {
		base := (n*cb + cb - 1) * ten.H * ten.W * b
		for p := 0; p < ten.H*ten.W; p++ {
			for lane := ten.C - (cb-1)*b; lane < b; lane++ {
				if v := ten.Data[base+p*b+lane]; v != 0 {
					return fmt.Errorf("padded lane %d of pixel %d of image %d = %v, want 0", lane, p, n, v)
				}
			}
		}
	}
	return nil
}

// sameValues compares got with package ref's want: the same NaNs and
// infinities, finite values within tol of the magnitude scale.
func sameValues(got, want []float32, scale float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("length %d, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		switch {
		case math.IsNaN(w) || math.IsInf(w, 0):
			if math.IsNaN(w) != math.IsNaN(g) || (!math.IsNaN(w) && g != w) {
				return fmt.Errorf("element %d: got %v, want %v", i, g, w)
			}
		case math.IsNaN(g) || math.IsInf(g, 0) || math.Abs(g-w) > 1e-5*(math.Abs(w)+scale):
			return fmt.Errorf("element %d: got %v, want %v", i, g, w)
		}
	}
	return nil
}

// TestNonfiniteWeight: a layer with one Inf or NaN weight gives what
// package ref gives (Inf or NaN where that tap reaches an output, the
// finite result elsewhere), on every set, path and border strategy: the
// zeros of a haloed copy of the input are never multiplied by it.
func TestNonfiniteWeight(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		forEachHaloMode(t, func(t *testing.T) {
			r := rand.New(rand.NewPCG(33, 33))
			cases := append([]convCase{
				// The adversarial reproducer: a 1x4 restore 8->8 of a 1x6
				// (and a 1x60) input of ones with w[3] = +Inf.
				{n: 1, inC: 8, outC: 8, h: 1, w: 6, kh: 1, kw: 4, sh: 1, sw: 2, pw: 1, oh: 1, ow: 12},
				{n: 1, inC: 8, outC: 8, h: 1, w: 60, kh: 1, kw: 4, sh: 1, sw: 2, pw: 1, oh: 1, ow: 120},
				{n: 1, inC: 8, outC: 8, h: 3, w: 5, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1},
				{n: 1, inC: 8, outC: 16, h: 2, w: 2, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1},
				{n: 1, inC: 8, outC: 8, h: 3, w: 5, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, oh: 5, ow: 9},
				{n: 1, inC: 8, outC: 8, h: 2, w: 4, kh: 4, kw: 4, sh: 2, sw: 2, ph: 1, pw: 1, oh: 4, ow: 8},
			}, nonfiniteCases...)
			for _, c := range cases {
				for _, c.block = range []int{8, 16} {
					nw := c.outC * c.inC * c.kh * c.kw
					for _, bad := range []float32{posInf, negInf, nan} {
						// The adversary's w[3], then every tap of (input
						// 0, output 0), and a random weight.
						for _, at := range append([]int{3, r.IntN(nw)}, seqTaps(c)...) {
							x := make([]float32, c.n*c.inC*c.h*c.w)
							for i := range x {
								x[i] = 1
							}
							wts := make([]float32, nw)
							if at%2 == 1 {
								x, wts = randSlice(r, len(x)), randSlice(r, nw)
							}
							wts[at%nw] = bad
							dst, want := c.forward(t, x, wts, nil, Epilogue{})
							if err := sameValues(dst.NCHW(), want, 4); err != nil {
								t.Fatalf("%v, w[%d] = %v: %v", c, at%nw, bad, err)
							}
						}
					}
				}
			}
		})
	})
}

// seqTaps returns the indices of the weights of input channel 0 to
// output channel 0, both orders (OIHW and IOHW) agreeing on them.
func seqTaps(c convCase) []int {
	var s []int
	for i := 0; i < c.kh*c.kw; i++ {
		s = append(s, i)
	}
	return s
}
