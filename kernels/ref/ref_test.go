package ref_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/sbconv/sbconv/internal/golden"
	"github.com/sbconv/sbconv/kernels/ref"
)

// The reference kernels are the ground truth every other sbconv path is
// tested against, so they are checked against PyTorch itself (the golden
// file internal/golden reads) and against a few cases small enough to work
// out by hand.

// refGoldenTol bounds |got-want| / (|want| + sqrt(K)) between ref and
// PyTorch, the normalization kernels/golden_test.go uses (K: the most
// products summed into one output, golden.Case.Products).
//
// ref accumulates in float64 and rounds once, so its own error is that
// rounding (|err| <= 2^-25 |want|, under 3e-8 on this scale) plus the
// float64 sum's (about K*2^-53 per unit of magnitude, below 1e-12 for the
// largest K here, 40*7*7 = 1960). gen.py's inputs are multiples of 2^-10
// in [-1, 1], so products are multiples of 2^-20 and every partial sum
// fits in 31 bits: ref's sums are in fact exact and ref's output is the
// correctly rounded exact result. What remains is PyTorch's float32
// summation error, which gen.py measures against float64 on this very
// scale: about 2e-7 at worst. The tolerance, 1e-5, leaves a factor of
// about 40 over the sum of the two (this test logs the worst case; ~2e-7).
// A real bug (a missing, extra or misplaced tap, a wrong bias or residual
// element, ReLU in the wrong place) moves an output by at least one
// product of two inputs, typically 0.1-0.3, against a scale of
// |want| + sqrt(K) <= ~50: a normalized error of 1e-3 or more, a hundred
// times the tolerance.
const refGoldenTol = 1e-5

func TestGoldenPyTorch(t *testing.T) {
	cases, err := golden.Committed()
	if err != nil {
		t.Fatal(err)
	}
	nConv, nDeconv := golden.Counts(cases)
	t.Logf("%d golden cases (%d Conv2d, %d ConvTranspose2d)", len(cases), nConv, nDeconv)

	worst, worstCase := 0.0, ""
	for i := range cases {
		c := &cases[i]
		t.Run(c.Name(), func(t *testing.T) {
			if e := runGolden(t, c); e > worst {
				worst, worstCase = e, c.Name()
			}
		})
	}
	t.Logf("ref vs PyTorch: worst |got-want|/(|want|+sqrt(K)) = %.3g (%s), tolerance %g",
		worst, worstCase, refGoldenTol)
}

// runGolden runs one case through ref, reports mismatches (up to a few)
// with the case's parameters and returns the worst normalized error.
func runGolden(t *testing.T, c *golden.Case) float64 {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%v: %s", c, fmt.Sprintf(format, args...))
	}
	s := ref.Spec{N: c.N, InC: c.InC, OutC: c.OutC, H: c.H, W: c.W, KH: c.KH, KW: c.KW,
		SH: c.SH, SW: c.SW, PH: c.PH, PW: c.PW}
	inputs := [][]float32{c.X, c.Weight, c.Bias, c.Residual}
	before := make([][]float32, len(inputs))
	for i, in := range inputs {
		before[i] = append([]float32(nil), in...)
	}

	var got []float32
	if c.Deconv() {
		// PyTorch's output size is the smallest one plus output_padding.
		if oh, ow := s.DeconvMin(); oh+c.OPH != c.OH || ow+c.OPW != c.OW {
			fail("DeconvMin() = %dx%d, + output_padding %dx%d != PyTorch's %dx%d",
				oh, ow, c.OPH, c.OPW, c.OH, c.OW)
		}
		got = ref.ConvTranspose2D(s, c.OH, c.OW, c.X, c.Weight, c.Bias, c.Residual, c.ReLU())
	} else {
		if oh, ow := s.ConvOut(); oh != c.OH || ow != c.OW {
			fail("ConvOut() = %dx%d, PyTorch's %dx%d", oh, ow, c.OH, c.OW)
		}
		var oh, ow int
		got, oh, ow = ref.Conv2D(s, c.X, c.Weight, c.Bias, c.Residual, c.ReLU())
		if oh != c.OH || ow != c.OW {
			fail("Conv2D output %dx%d, PyTorch's %dx%d", oh, ow, c.OH, c.OW)
		}
	}

	for i, in := range inputs {
		for j := range in {
			if math.Float32bits(in[j]) != math.Float32bits(before[i][j]) {
				fail("%s modified at %d", [...]string{"input", "weight", "bias", "residual"}[i], j)
			}
		}
	}
	worst, err := c.Compare(got, refGoldenTol)
	if err != nil {
		fail("%v", err)
	}
	return worst
}

// handCase is a convolution small enough to work out by hand. Every value
// in it, and every partial sum, is a small integer or a multiple of 1/4
// well inside float32's 24 bits, so ref must reproduce want exactly.
type handCase struct {
	name   string
	deconv bool
	s      ref.Spec
	oh, ow int // output size (ConvTranspose2D's argument; checked for Conv2D)
	x, w   []float32
	bias   []float32
	res    []float32
	relu   bool
	want   []float32 // NCHW
}

// seq returns 1, 2, ..., n.
func seq(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(i + 1)
	}
	return s
}

// x3 is a 1x1x3x3 input, 1..9 row by row:
//
//	1 2 3
//	4 5 6
//	7 8 9
var x3 = seq(9)

// k3 is a 3x3 kernel with three taps, each a different power of ten so an
// output's digits say which input pixel each tap read:
//
//	w[0][0] = 1, w[1][2] = 10, w[2][1] = 100, all others 0.
//
// PyTorch's Conv2d is a cross-correlation (no kernel flip):
// out[y][x] = sum over kh, kw of in[y*SH-PH+kh][x*SW-PW+kw] * w[kh][kw],
// reading 0 outside the input. With stride 1 and padding 1 that is
//
//	out[y][x] = in[y-1][x-1] + 10*in[y][x+1] + 100*in[y+1][x].
var k3 = []float32{
	1, 0, 0,
	0, 0, 10,
	0, 100, 0,
}

var handCases = []handCase{
	{
		// Stride 1, padding 1: 3x3 -> (3+2-3)/1+1 = 3x3, from the formula
		// above:
		//   out[0][0] = 0      + 10*2 + 100*4 = 420
		//   out[0][1] = 0      + 10*3 + 100*5 = 530
		//   out[0][2] = 0      + 0    + 100*6 = 600
		//   out[1][0] = 0      + 10*5 + 100*7 = 750
		//   out[1][1] = 1      + 10*6 + 100*8 = 861
		//   out[1][2] = 2      + 0    + 100*9 = 902
		//   out[2][0] = 0      + 10*8 + 0     = 80
		//   out[2][1] = 4      + 10*9 + 0     = 94
		//   out[2][2] = 5      + 0    + 0     = 5
		name: "conv_3x3_pad1",
		s:    ref.Spec{N: 1, InC: 1, OutC: 1, H: 3, W: 3, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1},
		oh:   3, ow: 3, x: x3, w: k3,
		want: []float32{
			420, 530, 600,
			750, 861, 902,
			80, 94, 5,
		},
	},
	{
		// Stride 2 down, 1 across, padding 1: (3+2-3)/2+1 = 2 rows,
		// (3+2-3)/1+1 = 3 columns. Output row y is the stride-1 output's
		// row 2y (the window starts at 2y-1 instead of y-1): rows 0 and 2
		// of the case above.
		name: "conv_3x3_stride2x1_pad1",
		s:    ref.Spec{N: 1, InC: 1, OutC: 1, H: 3, W: 3, KH: 3, KW: 3, SH: 2, SW: 1, PH: 1, PW: 1},
		oh:   2, ow: 3, x: x3, w: k3,
		want: []float32{
			420, 530, 600,
			80, 94, 5,
		},
	},
	{
		// Padding 0 down, 1 across: (3-3)/1+1 = 1 row, 3 columns; the
		// window's top row is input row 0, as the padded case's output
		// row 1 has it, so the output is that row: 750, 861, 902.
		name: "conv_3x3_pad0x1",
		s:    ref.Spec{N: 1, InC: 1, OutC: 1, H: 3, W: 3, KH: 3, KW: 3, SH: 1, SW: 1, PH: 0, PW: 1},
		oh:   1, ow: 3, x: x3, w: k3,
		want: []float32{750, 861, 902},
	},
	{
		// Channel and batch indexing, 1x1 kernel: N=2, InC=3, OutC=2.
		// x[0] = (1, 2, 3), x[1] = (4, 5, 6). Weights OIHW: w[oc][ic] =
		// weight[oc*3+ic], so out[n][0] = x0 + 10*x1 + 100*x2 and
		// out[n][1] = 1000*x0 + 10000*x1 + 100000*x2; bias (0.5, 0.25):
		//   n=0: 1 + 20 + 300 = 321 -> 321.5;  321000 -> 321000.25
		//   n=1: 4 + 50 + 600 = 654 -> 654.5;  654000 -> 654000.25
		name: "conv_1x1_channels",
		s:    ref.Spec{N: 2, InC: 3, OutC: 2, H: 1, W: 1, KH: 1, KW: 1, SH: 1, SW: 1},
		oh:   1, ow: 1,
		x:    []float32{1, 2, 3, 4, 5, 6},
		w:    []float32{1, 10, 100, 1000, 10000, 100000},
		bias: []float32{0.5, 0.25},
		want: []float32{321.5, 321000.25, 654.5, 654000.25},
	},
	{
		// The same numbers as a ConvTranspose2d: weights IOHW, w[ic][oc] =
		// weight[ic*2+oc], so w[·][0] = (1, 100, 10000) and w[·][1] =
		// (10, 1000, 100000); out[n][oc] = sum over ic of x[n][ic]*w[ic][oc]:
		//   n=0: 1 + 200 + 30000 = 30201 -> 30201.5
		//        10 + 2000 + 300000 = 302010 -> 302010.25
		//   n=1: 4 + 500 + 60000 = 60504 -> 60504.5
		//        40 + 5000 + 600000 = 605040 -> 605040.25
		name:   "convT_1x1_channels",
		deconv: true,
		s:      ref.Spec{N: 2, InC: 3, OutC: 2, H: 1, W: 1, KH: 1, KW: 1, SH: 1, SW: 1},
		oh:     1, ow: 1,
		x:    []float32{1, 2, 3, 4, 5, 6},
		w:    []float32{1, 10, 100, 1000, 10000, 100000},
		bias: []float32{0.5, 0.25},
		want: []float32{30201.5, 302010.25, 60504.5, 605040.25},
	},
	{
		// ConvTranspose2d scatters input pixel (iy, ix) through the kernel:
		// out[iy*SH-PH+kh][ix*SW-PW+kw] += in[iy][ix] * w[kh][kw]. One
		// nonzero pixel, 2 at (1, 1) of a 2x2 input, kernel 1..9 row by row,
		// stride 2x3, padding 1x0, output_padding 1x0: the output is
		// (2-1)*2-2+3+1 = 4 rows by (2-1)*3-0+3 = 6 columns, and the pixel
		// lands at rows 1*2-1+kh = 1..3, columns 1*3-0+kw = 3..5: the
		// kernel times 2 with its top-left corner at (1, 3), zero elsewhere.
		name:   "convT_one_pixel_stride2x3",
		deconv: true,
		s:      ref.Spec{N: 1, InC: 1, OutC: 1, H: 2, W: 2, KH: 3, KW: 3, SH: 2, SW: 3, PH: 1, PW: 0},
		oh:     4, ow: 6,
		x: []float32{
			0, 0,
			0, 2,
		},
		w: seq(9),
		want: []float32{
			0, 0, 0, 0, 0, 0,
			0, 0, 0, 2, 4, 6,
			0, 0, 0, 8, 10, 12,
			0, 0, 0, 14, 16, 18,
		},
	},
	{
		// The same with output_padding 0: 3 rows, so kernel row 2 (which
		// would land on row 3) is cut off.
		name:   "convT_one_pixel_cropped_bottom",
		deconv: true,
		s:      ref.Spec{N: 1, InC: 1, OutC: 1, H: 2, W: 2, KH: 3, KW: 3, SH: 2, SW: 3, PH: 1, PW: 0},
		oh:     3, ow: 6,
		x: []float32{
			0, 0,
			0, 2,
		},
		w: seq(9),
		want: []float32{
			0, 0, 0, 0, 0, 0,
			0, 0, 0, 2, 4, 6,
			0, 0, 0, 8, 10, 12,
		},
	},
	{
		// Pixel 1000 at (0, 0) instead: rows 0*2-1+kh = -1..1, columns
		// 0..2. The padding cuts kernel row 0 off the top; rows 1 and 2
		// (4 5 6, 7 8 9, times 1000) land on output rows 0 and 1.
		name:   "convT_one_pixel_cropped_top",
		deconv: true,
		s:      ref.Spec{N: 1, InC: 1, OutC: 1, H: 2, W: 2, KH: 3, KW: 3, SH: 2, SW: 3, PH: 1, PW: 0},
		oh:     4, ow: 6,
		x: []float32{
			1000, 0,
			0, 0,
		},
		w: seq(9),
		want: []float32{
			4000, 5000, 6000, 0, 0, 0,
			7000, 8000, 9000, 0, 0, 0,
			0, 0, 0, 0, 0, 0,
			0, 0, 0, 0, 0, 0,
		},
	},
	{
		// Overlapping scatters add: input 1 x 2 = (1, 10), kernel 1 x 3 =
		// (1, 2, 3), stride 2, no padding: (2-1)*2+3 = 5 columns; pixel 0
		// writes 1, 2, 3 at columns 0..2, pixel 1 writes 10, 20, 30 at
		// columns 2..4: 1, 2, 3+10, 20, 30.
		name:   "convT_overlap_stride2",
		deconv: true,
		s:      ref.Spec{N: 1, InC: 1, OutC: 1, H: 1, W: 2, KH: 1, KW: 3, SH: 1, SW: 2},
		oh:     1, ow: 5,
		x:    []float32{1, 10},
		w:    []float32{1, 2, 3},
		want: []float32{1, 2, 13, 20, 30},
	},
	{
		// The same with padding 1 across: 5-2 = 3 columns, each scatter
		// shifted left by one, so the first and last columns above go:
		// 2, 13, 20.
		name:   "convT_overlap_stride2_pad1",
		deconv: true,
		s:      ref.Spec{N: 1, InC: 1, OutC: 1, H: 1, W: 2, KH: 1, KW: 3, SH: 1, SW: 2, PW: 1},
		oh:     1, ow: 3,
		x:    []float32{1, 10},
		w:    []float32{1, 2, 3},
		want: []float32{2, 13, 20},
	},
}

// epilogueCase is relu(conv + bias + res) with the identity as the
// convolution (1x1 kernel, 2 -> 2 channels, weights 1 0 / 0 1, which reads
// the same as OIHW and IOHW), one image of 1 x 4 pixels:
//
//	channel 0: conv -3 -5  1 -1, bias 2,   res 2  2 -4   -2
//	channel 1: conv  1  2  3  4, bias 100, res 0  0  0 -200
//
// conv + bias + res:
//
//	channel 0: -3+2+2 = 1, -5+2+2 = -1, 1+2-4 = -1, -1+2-2 = -1
//	channel 1: 101, 102, 103, 4+100-200 = -96
//
// and ReLU last gives 1 0 0 0 / 101 102 103 0. Every other order differs
// somewhere in channel 0: ReLU on the convolution alone gives 4 4 -1 0,
// ReLU before the residual 2 2 -1 -1, before the bias 2 2 2 2; channel 1
// catches a bias taken from the wrong channel, and its last pixel a
// residual added after the ReLU.
func epilogueCase(deconv, relu bool) handCase {
	c := handCase{
		name:   fmt.Sprintf("epilogue_deconv=%v_relu=%v", deconv, relu),
		deconv: deconv,
		s:      ref.Spec{N: 1, InC: 2, OutC: 2, H: 1, W: 4, KH: 1, KW: 1, SH: 1, SW: 1},
		oh:     1, ow: 4,
		x:    []float32{-3, -5, 1, -1, 1, 2, 3, 4},
		w:    []float32{1, 0, 0, 1},
		bias: []float32{2, 100},
		res:  []float32{2, 2, -4, -2, 0, 0, 0, -200},
		relu: relu,
		want: []float32{1, 0, 0, 0, 101, 102, 103, 0},
	}
	if !relu {
		c.want = []float32{1, -1, -1, -1, 101, 102, 103, -96}
	}
	return c
}

func TestHandComputed(t *testing.T) {
	cases := append([]handCase(nil), handCases...)
	for _, deconv := range []bool{false, true} {
		for _, relu := range []bool{true, false} {
			cases = append(cases, epilogueCase(deconv, relu))
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []float32
			if c.deconv {
				got = ref.ConvTranspose2D(c.s, c.oh, c.ow, c.x, c.w, c.bias, c.res, c.relu)
			} else {
				var oh, ow int
				got, oh, ow = ref.Conv2D(c.s, c.x, c.w, c.bias, c.res, c.relu)
				if oh != c.oh || ow != c.ow {
					t.Fatalf("Conv2D output %dx%d, want %dx%d", oh, ow, c.oh, c.ow)
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("output has %d values, want %d", len(got), len(c.want))
			}
			for i := range got {
				// Exact: every value here is exactly representable.
				if got[i] != c.want[i] {
					t.Errorf("got (NCHW, %dx%d per channel)\n%s\nwant\n%s",
						c.oh, c.ow, grid(got, c.ow), grid(c.want, c.ow))
					break
				}
			}
		})
	}
}

// grid formats v as rows of w values.
func grid(v []float32, w int) string {
	var b strings.Builder
	for i, x := range v {
		if i > 0 && i%w == 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%8g", x)
	}
	return b.String()
}
