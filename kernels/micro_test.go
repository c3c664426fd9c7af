package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/sbconv/sbconv/asm"
)

// TestMicrokernelsMatchGeneric calls every microkernel of every assembly
// set directly, with the contract's Params, and compares it with the
// generic Go microkernel (itself checked against kernels/ref by the sweeps
// and the PyTorch cases). Pix runs 1..20, which reaches every tail of a
// kernel stepping 4, 6 or 8 pixels and several whole steps; windows are
// 1x1, 1x3, 2x2 and 3x3 over 1-3 input blocks; residual and ReLU are on and
// off. Guard values around dst catch any write outside it, and NaN in dst
// catches any value not written.
func TestMicrokernelsMatchGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	for _, set := range isaSets {
		if set == genericSet || !set.usable {
			continue
		}
		b := set.block
		for ocb := 1; ocb <= set.maxOCB; ocb++ {
			for _, sp := range []int{1, 2} {
				for _, dp := range []int{1, 2} {
					for _, pw := range []bool{false, true} {
						k := set.kernel(ocb, sp, dp, pw)
						if k == nil {
							continue
						}
						name := fmt.Sprintf("%s/o%d_s%d_d%d_pw%v", set.name, ocb, sp, dp, pw)
						windows := [][2]int{{1, 1}, {1, 3}, {2, 2}, {3, 3}}
						if pw {
							windows = windows[:1]
						}
						for _, win := range windows {
							for icb := 1; icb <= 3; icb++ {
								for pix := 1; pix <= 20; pix++ {
									flags := r.IntN(4)
									checkMicro(t, r, name, k, b, ocb, sp, dp, win[0], win[1], icb, pix, flags&1 == 1, flags&2 == 2)
								}
							}
						}
					}
				}
			}
		}
	}
}

// checkMicro runs one call of k and of the generic kernel on the same
// random operands and compares the outputs.
func checkMicro(t *testing.T, r *rand.Rand, name string, k microkernel, b, ocb, sp, dp, kh, kw, icb, pix int, res, relu bool) {
	t.Helper()
	// Input: icb blocks of kh rows, wide enough for pix pixels at stride
	// sp plus the window, with room to spare so rows do not abut.
	iw := (pix-1)*sp + kw + 3
	src := randSlice(r, icb*kh*iw*b)
	wei := randSlice(r, ocb*icb*kh*kw*b*b)
	bias := randSlice(r, ocb*b)
	ow := (pix-1)*dp + 1
	const g = 37
	out := func() []float32 {
		s := make([]float32, ocb*ow*b+2*g)
		for i := range s {
			s[i] = guardVal
		}
		for i := g; i < len(s)-g; i++ {
			s[i] = float32(math.NaN())
		}
		return s
	}
	got, want := out(), out()
	// Pixels skipped by an output stride of 2 must stay untouched: fill
	// them with the guard value in both buffers.
	for o := 0; o < ocb; o++ {
		for x := 0; x < ow; x++ {
			if x%dp != 0 {
				for l := 0; l < b; l++ {
					got[g+(o*ow+x)*b+l], want[g+(o*ow+x)*b+l] = guardVal, guardVal
				}
			}
		}
	}
	var resv []float32
	if res {
		resv = randSlice(r, ocb*ow*b)
	}
	params := func(dst []float32) *asm.Params {
		p := &asm.Params{
			Src: unsafe.Pointer(&src[0]), Wei: unsafe.Pointer(&wei[0]),
			Dst: unsafe.Pointer(&dst[g]), Bias: unsafe.Pointer(&bias[0]),
			Pix: pix, OCB: ocb, ICB: icb, KH: kh, KW: kw,
			SrcICB: kh * iw * b * 4, SrcRow: iw * b * 4, SrcTap: b * 4, SrcPix: sp * b * 4,
			WeiOCB: icb * kh * kw * b * b * 4, WeiICB: kh * kw * b * b * 4, WeiRow: kw * b * b * 4,
			DstOCB: ow * b * 4, DstPix: dp * b * 4,
		}
		if res {
			p.Res = unsafe.Pointer(&resv[0])
		}
		if relu {
			p.ReLU = 1
		}
		return p
	}
	k(params(got))
	genericKernel(b)(params(want))
	for i := range got {
		if i < g || i >= len(got)-g {
			if got[i] != guardVal {
				t.Fatalf("%s pix=%d kh=%d kw=%d icb=%d: guard at %d overwritten", name, pix, kh, kw, icb, i-g)
			}
			continue
		}
		gv, wv := float64(got[i]), float64(want[i])
		if math.IsNaN(gv) || math.Abs(gv-wv) > 1e-5*(math.Abs(wv)+math.Sqrt(float64(icb*kh*kw*b))) {
			t.Fatalf("%s pix=%d kh=%d kw=%d icb=%d res=%v relu=%v: element %d = %v, generic %v",
				name, pix, kh, kw, icb, res, relu, i-g, gv, wv)
		}
	}
}

// TestReLUKeepsNaN: a NaN input reaches the outputs that read it as NaN,
// with ReLU on, on every set (PyTorch's relu keeps NaN; a max with the
// operands the other way round would turn it into 0).
func TestReLUKeepsNaN(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 5))
		conv, _ := spatialBottleneck(t, r, 8, 8)
		x := mustTensor(t, r, 1, 8, 9, 9, 8)
		x.Data[x.Offset(0, 3, 4, 4)] = float32(math.NaN())
		y := mustTensor(t, r, 1, 8, 5, 5, 8)
		if err := conv.Forward(y, x, Epilogue{ReLU: true}); err != nil {
			t.Fatal(err)
		}
		for c := 0; c < 8; c++ {
			if v := y.Data[y.Offset(0, c, 2, 2)]; !math.IsNaN(float64(v)) {
				t.Fatalf("channel %d at the NaN's window: %v, want NaN", c, v)
			}
		}
		if v := y.Data[y.Offset(0, 0, 0, 0)]; math.IsNaN(float64(v)) {
			t.Fatal("NaN leaked outside the window")
		}
	})
}
