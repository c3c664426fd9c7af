package kernels

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
)

// The sweeps reach every path of the driver: top/bottom rows with a
// narrowed window, left/right border pixels, interior runs of every length
// (so every ur_w tail of a microkernel that steps ur_w pixels at a time),
// channel counts around the block (padded lanes, one and several blocks,
// every ocb group size), strides 1-4, and windows wholly in the padding.

func TestConvSweep(t *testing.T) {
	defer func() { haloMode = haloModel }()
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		// Border pixels as one-pixel calls, in the row calls (edge flags,
		// where the set has them) or through a haloed copy.
		for _, mode := range []int{haloNever, haloModel, haloAlways} {
			haloMode = mode
			convSweep(t, r)
		}
	})
}

func convSweep(t *testing.T, r *rand.Rand) {
	for _, k := range []int{1, 2, 3, 5} {
		for s := 1; s <= 4; s++ {
			for _, w := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 17} {
				if w+2*(k/2) < k {
					continue
				}
				c := convCase{n: 1, inC: 3 + r.IntN(14), outC: 1 + r.IntN(40), h: 1 + r.IntN(6), w: w,
					kh: k, kw: k, sh: s, sw: s, ph: k / 2, pw: k / 2,
					bias: r.IntN(2) == 0, res: r.IntN(2) == 0, relu: r.IntN(2) == 0, block: 8}
				if c.h+2*c.ph < k {
					c.h = k
				}
				c.run(t, r, false)
			}
		}
	}
}

// TestConvRateStrideSweep drives the strided convolutions of the
// spatial-bottleneck reduce at every rate (stride r = 2, 3, 4, and 2r = 4,
// 6, 8 at a stage entry; 2 is convSweep's) through the public API on
// every set, against package ref: K x K windows with padding (K-1)/2 for
// K = 3 (every stride, 1-18 output pixels a row: every tail of every
// pixel step, and whole steps), 1 and 5 (fewer widths). Each output width
// comes at three input widths: w%s == 1 puts the last pixel's window
// over the right border (the EdgeR case for K = 3), one more column keeps
// it inside, and s-1 more leave the most columns unread. Every border
// strategy, 1-9 input rows (the top and bottom windows narrowed), and
// channel counts reaching every output-block group size, in the set's own
// block (a block-8 layer would run AVX-512 on the AVX2 kernels).
func TestConvRateStrideSweep(t *testing.T) {
	defer func() { haloMode = haloModel }()
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		r := rand.New(rand.NewPCG(15, 16))
		for _, mode := range []int{haloNever, haloModel, haloAlways} {
			haloMode = mode
			for _, s := range []int{3, 4, 6, 8} {
				for _, k := range []int{3, 1, 5} {
					ows := []int{1, 2, 3, 5, 8, 9, 17}
					if k == 3 {
						ows = ows[:0]
						for ow := 1; ow <= 18; ow++ {
							ows = append(ows, ow)
						}
					}
					for _, ow := range ows {
						for _, dw := range []int{0, 1, s - 1} {
							p := (k - 1) / 2
							w := s*(ow-1) + k - 2*p + dw
							c := convCase{n: 1 + r.IntN(2), inC: 1 + r.IntN(20), outC: 1 + r.IntN(40), h: 1 + r.IntN(9), w: w,
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

// TestConvKernelSelected: a convolution at input pixel stride 1, 2, 3, 4,
// 6 or 8 runs on the dispatched set's own microkernels, general and 1x1,
// for every output-block group size (not on the generic fallback), and a
// stride the set has no kernel for (5, 7) on the generic one; so do the
// phases of a transposed convolution at stride 2, 3 or 4 (kernel widths r
// to 2r-1, the restores of rates 2-4; their phases are 1x1 and wider),
// and at stride 5.
func TestConvKernelSelected(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		generic := reflect.ValueOf(genericKernel(8)).Pointer()
		check := func(what string, ps *pass, wantGeneric bool) {
			t.Helper()
			for o := 1; o < len(ps.kern); o++ {
				got := reflect.ValueOf(ps.kern[o]).Pointer()
				if (got == generic) != wantGeneric {
					t.Errorf("%s, %dx%d pass, %d output block(s): %s, want generic = %v",
						what, ps.kh, ps.kw, o, runtime.FuncForPC(got).Name(), wantGeneric)
				}
			}
		}
		for _, k := range []int{3, 1} {
			for _, s := range []int{1, 2, 3, 4, 5, 6, 7, 8} {
				spec := ConvSpec{InC: 8, OutC: 8, KH: k, KW: k, StrideH: s, StrideW: s, PadH: k / 2, PadW: k / 2}
				cv, err := NewConv2D(spec, make([]float32, 64*k*k), nil, 8)
				if err != nil {
					t.Fatal(err)
				}
				check(fmt.Sprintf("%dx%d stride %d", k, k, s), &cv.l.passes[0], set == genericSet || s == 5 || s == 7)
			}
		}
		for _, s := range []int{2, 3, 4, 5} {
			for k := s; k < 2*s; k++ {
				spec := ConvSpec{InC: 8, OutC: 8, KH: k, KW: k, StrideH: s, StrideW: s, PadH: (k - 1) / 2, PadW: (k - 1) / 2}
				d, err := NewConvTranspose2D(spec, make([]float32, 64*k*k), nil, 8)
				if err != nil {
					t.Fatal(err)
				}
				if len(d.l.passes) == 0 {
					t.Fatalf("transposed %dx%d stride %d: no phase passes", k, k, s)
				}
				for i := range d.l.passes {
					check(fmt.Sprintf("transposed %dx%d stride %d", k, k, s), &d.l.passes[i], set == genericSet || s == 5)
				}
			}
		}
	})
}

func TestConvChannelSweep(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, block := range []int{8, 16} {
			for _, ic := range []int{1, 7, 8, 9, 16, 17, 33} {
				for _, oc := range []int{1, 8, 9, 16, 24, 40, 41, 72} {
					c := convCase{n: 2, inC: ic, outC: oc, h: 5, w: 9, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1,
						bias: true, res: oc%2 == 1, relu: ic%2 == 1, block: block}
					c.run(t, r, false)
				}
			}
		}
	})
}

func TestConvOddShapes(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for i := 0; i < 60; i++ {
			kh, kw := 1+r.IntN(7), 1+r.IntN(7)
			c := convCase{n: 1 + r.IntN(2), inC: 1 + r.IntN(20), outC: 1 + r.IntN(20),
				h: 1 + r.IntN(12), w: 1 + r.IntN(12), kh: kh, kw: kw,
				sh: 1 + r.IntN(4), sw: 1 + r.IntN(4), ph: r.IntN(kh + 1), pw: r.IntN(kw + 1),
				bias: r.IntN(2) == 0, res: r.IntN(2) == 0, relu: r.IntN(2) == 0, block: 8 << r.IntN(2)}
			if c.h+2*c.ph < kh {
				c.h = kh
			}
			if c.w+2*c.pw < kw {
				c.w = kw
			}
			c.run(t, r, false)
		}
	})
}

func TestDeconvSweep(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, k := range []int{1, 2, 3, 4, 5} {
			for s := 1; s <= 3; s++ {
				for _, w := range []int{1, 2, 3, 4, 5, 7, 8, 13} {
					p := min(k/2, k-1)
					c := convCase{n: 1, inC: 1 + r.IntN(20), outC: 1 + r.IntN(30), h: 1 + r.IntN(5), w: w,
						kh: k, kw: k, sh: s, sw: s, ph: p, pw: p,
						bias: r.IntN(2) == 0, res: r.IntN(2) == 0, relu: r.IntN(2) == 0, block: 8}
					minH, minW := (c.h-1)*s-2*p+k, (c.w-1)*s-2*p+k
					if minH < 1 || minW < 1 {
						continue
					}
					// Every legal output size: PyTorch's output_padding 0..s-1.
					c.oh, c.ow = minH+r.IntN(s), minW+r.IntN(s)
					c.run(t, r, true)
				}
			}
		}
	})
}

// TestDeconvRateSweep drives the restores of rates 3 and 4 through the
// public API on every set, against package ref: transposed convolutions
// of stride r = 3, 4 (vertical too) with kernel widths r to 2r-1 and
// padding (K-1)/2, input widths 1-13, every legal output width (PyTorch's
// output_size: the minimum and each of the r-1 above it, so odd and even
// sizes), every border strategy, in the set's own block.
func TestDeconvRateSweep(t *testing.T) {
	defer func() { haloMode = haloModel }()
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		r := rand.New(rand.NewPCG(17, 18))
		for _, mode := range []int{haloNever, haloModel, haloAlways} {
			haloMode = mode
			for _, s := range []int{3, 4} {
				for k := s; k < 2*s; k++ {
					p := (k - 1) / 2
					for w := 1; w <= 13; w++ {
						c := convCase{n: 1 + r.IntN(2), inC: 1 + r.IntN(20), outC: 1 + r.IntN(30), h: 1 + r.IntN(4), w: w,
							kh: k, kw: k, sh: s, sw: s, ph: p, pw: p,
							bias: r.IntN(2) == 0, res: r.IntN(2) == 0, relu: r.IntN(2) == 0, block: set.Block}
						minH, minW := (c.h-1)*s-2*p+k, (w-1)*s-2*p+k
						if minH < 1 || minW < 1 {
							continue
						}
						for op := 0; op < s; op++ {
							c.oh, c.ow = minH+r.IntN(s), minW+op
							c.run(t, r, true)
						}
					}
				}
			}
		}
	})
}

// TestDeconvRestoresOddSizes checks the spatial bottleneck's round trip:
// a stride-2 3x3 convolution maps 7 to 4 and the restore maps 4 back to 7
// (and 8 -> 4 -> 8, 56 -> 28 -> 56), chosen by dst alone.
func TestDeconvRestoresOddSizes(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, full := range []int{1, 2, 3, 7, 8, 13, 14, 28} {
			low := (full+2-3)/2 + 1
			c := convCase{n: 1, inC: 16, outC: 16, h: low, w: low, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1,
				oh: full, ow: full, bias: true, res: true, relu: true, block: 8}
			c.run(t, r, true)
		}
	})
}

func TestDeconvOddShapes(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		for i := 0; i < 60; i++ {
			kh, kw := 1+r.IntN(7), 1+r.IntN(7)
			c := convCase{n: 1 + r.IntN(2), inC: 1 + r.IntN(20), outC: 1 + r.IntN(20),
				h: 1 + r.IntN(9), w: 1 + r.IntN(9), kh: kh, kw: kw,
				sh: 1 + r.IntN(4), sw: 1 + r.IntN(4), ph: r.IntN(kh), pw: r.IntN(kw),
				bias: r.IntN(2) == 0, res: r.IntN(2) == 0, relu: r.IntN(2) == 0, block: 8 << r.IntN(2)}
			minH, minW := (c.h-1)*c.sh-2*c.ph+kh, (c.w-1)*c.sw-2*c.pw+kw
			if minH < 1 || minW < 1 {
				continue
			}
			c.oh, c.ow = minH+r.IntN(c.sh), minW+r.IntN(c.sw)
			c.run(t, r, true)
		}
	})
}

// TestRestoreSweep drives the fused stride-2 restore (kernel widths 2, 3, 4
// with the paddings that have kernels, and other paddings that fall back
// to phases) through the public API on every ISA, for input widths 1-13,
// every legal output size, vertical strides 1-3, and both border
// strategies (edge pixels through the phase passes, or a haloed copy).
func TestRestoreSweep(t *testing.T) {
	defer func() { haloMode = haloModel }()
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, mode := range []int{haloNever, haloModel, haloAlways} {
			haloMode = mode
			for _, kp := range [][2]int{{2, 0}, {3, 1}, {4, 1}, {3, 0}, {4, 2}, {2, 1}} {
				k, p := kp[0], kp[1]
				for w := 1; w <= 13; w++ {
					sh := 1 + r.IntN(3)
					c := convCase{n: 1 + r.IntN(2), inC: 1 + r.IntN(20), outC: 1 + r.IntN(30), h: 1 + r.IntN(4), w: w,
						kh: k, kw: k, sh: sh, sw: 2, ph: min(p, k-1), pw: p,
						bias: r.IntN(2) == 0, res: r.IntN(2) == 0, relu: r.IntN(2) == 0, block: 8}
					minH, minW := (c.h-1)*sh-2*c.ph+k, (w-1)*2-2*p+k
					if minH < 1 || minW < 1 {
						continue
					}
					for op := 0; op < 2; op++ {
						c.oh, c.ow = minH+r.IntN(sh), minW+op
						c.run(t, r, true)
					}
				}
			}
		}
	})
}

// TestRestoreFusedSelected: the fused restore is used exactly where a set
// has a kernel for the layer (stride 2 across, matching width and pad).
func TestRestoreFusedSelected(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		for _, c := range []struct {
			k, sw, p int
		}{{3, 2, 1}, {2, 2, 0}, {4, 2, 1}, {3, 2, 0}, {3, 3, 1}, {5, 2, 2}} {
			spec := ConvSpec{InC: 8, OutC: 8, KH: c.k, KW: c.k, StrideH: 2, StrideW: c.sw, PadH: c.p, PadW: c.p}
			d, err := NewConvTranspose2D(spec, make([]float32, 64*c.k*c.k), nil, 8)
			if err != nil {
				t.Fatal(err)
			}
			want := false
			for _, rk := range set.restore {
				want = want || (rk.K == c.k && rk.Pad == c.p && c.sw == 2)
			}
			if got := d.l.path.kind == fusedRestore; got != want {
				t.Errorf("k%d s%d p%d: fused = %v, want %v", c.k, c.sw, c.p, got, want)
			}
		}
	})
}
