package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/sbconv/sbconv/asm"
)

// microSrcStrides and microDstStrides are the input and output pixel
// strides the kernel tests ask every set for (skipping the combinations it
// has no kernel for; TestConvKernelSelected checks that the sets have the
// convolutions'); microSD are the (input, output) pairs the driver uses:
// convolutions at strides 1, 2 and 4 (the 3x3 reduce at a
// spatial-bottleneck stage entry, stride 2 twice), and the phases of a
// stride-2 transposed convolution.
var (
	microSrcStrides = []int{1, 2, 4}
	microDstStrides = []int{1, 2}
	microSD         = [][2]int{{1, 1}, {2, 1}, {4, 1}, {1, 2}}
)

// TestMicrokernelsMatchGeneric calls every microkernel of every assembly
// set directly, with the contract's Params, and compares it with the
// generic Go microkernel (itself checked against kernels/ref by the sweeps
// and the PyTorch cases), at every input pixel stride of microSrcStrides
// and output stride of microDstStrides it has. Pix runs 1..20, which
// reaches every tail of a kernel stepping 4, 6 or 8 pixels and several
// whole steps; windows are 1x1, 1x3, 2x2 and 3x3 over 1-3 input blocks;
// residual and ReLU are on and off. Guard values around dst catch any write outside it, and NaN in dst
// catches any value not written.
func TestMicrokernelsMatchGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	for _, set := range isaSets {
		if set == genericSet || !set.usable {
			continue
		}
		b := set.block
		for ocb := 1; ocb <= set.maxOCB; ocb++ {
			for _, sp := range microSrcStrides {
				for _, dp := range microDstStrides {
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
		if math.IsNaN(gv) || math.Abs(gv-wv) > microTol*(math.Abs(wv)+math.Sqrt(float64(icb*kh*kw*b))) {
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

// restoreRef is the fused restore contract of package asm written out in
// Go, the oracle for the assembly restore kernels.
func restoreRef(p *asm.Params, b, k, pad int) {
	emin, emax := asm.RestoreSpan(k, pad)
	at := func(base unsafe.Pointer, off int) *float32 { return (*float32)(unsafe.Add(base, off)) }
	shift := 0 // with EdgeL, Src is one column right of the contract's
	if p.EdgeL != 0 {
		shift = -1
	}
	for o := 0; o < p.OCB; o++ {
		for x := 0; x < p.Pix; x++ {
			j, q := x/2, x%2
			for lane := 0; lane < b; lane++ {
				acc := *at(p.Bias, (o*b+lane)*4)
				for c := 0; c < p.ICB; c++ {
					for kh := 0; kh < p.KH; kh++ {
						for kw := 0; kw < k; kw++ {
							if (q+pad-kw)%2 != 0 {
								continue
							}
							if p.EdgeL != 0 && j == 0 && (q+pad-kw)/2 == emin ||
								p.EdgeR != 0 && j == (p.Pix-1)/2 && (q+pad-kw)/2 == emax {
								continue // the column outside the input
							}
							e := (q+pad-kw)/2 - emin + shift
							for i := 0; i < b; i++ {
								acc += *at(p.Src, (j+e)*b*4+c*p.SrcICB+kh*p.SrcRow+i*4) *
									*at(p.Wei, o*p.WeiOCB+c*p.WeiICB+kh*p.WeiRow+kw*b*b*4+i*b*4+lane*4)
							}
						}
					}
				}
				if p.Res != nil {
					acc += *at(p.Res, o*p.DstOCB+x*b*4+lane*4)
				}
				if p.ReLU != 0 {
					acc = relu(acc)
				}
				*at(p.Dst, o*p.DstOCB+x*b*4+lane*4) = acc
			}
		}
	}
}

// TestRestoreKernelsMatchContract calls every fused restore kernel of every
// assembly set directly, for each number of output blocks, over Pix 1..30
// (odd counts, every block size and several whole steps), 1-3 vertical
// taps and 1-3 input blocks, with guards around dst, against restoreRef.
func TestRestoreKernelsMatchContract(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, set := range isaSets {
		if set == genericSet || !set.usable {
			continue
		}
		for _, rk := range set.restore {
			b := set.block
			emin, emax := asm.RestoreSpan(rk.K, rk.Pad)
			for ocb := 1; ocb <= len(rk.Fn); ocb++ {
				for kh := 1; kh <= 3; kh++ {
					for icb := 1; icb <= 3; icb++ {
						for pix := 1; pix <= 30; pix++ {
							cols := (pix+1)/2 + emax - emin + 2
							src := randSlice(r, icb*kh*cols*b)
							wei := randSlice(r, ocb*icb*kh*rk.K*b*b)
							bias := randSlice(r, ocb*b)
							var res []float32
							if r.IntN(2) == 0 {
								res = randSlice(r, ocb*pix*b)
							}
							const g = 29
							out := func() []float32 {
								s := make([]float32, ocb*pix*b+2*g)
								for i := range s {
									s[i] = guardVal
								}
								for i := g; i < len(s)-g; i++ {
									s[i] = float32(math.NaN())
								}
								return s
							}
							got, want := out(), out()
							prm := func(dst []float32) *asm.Params {
								p := &asm.Params{
									Src: unsafe.Pointer(&src[0]), Wei: unsafe.Pointer(&wei[0]),
									Dst: unsafe.Pointer(&dst[g]), Bias: unsafe.Pointer(&bias[0]),
									Pix: pix, OCB: ocb, ICB: icb, KH: kh, KW: rk.K,
									SrcICB: kh * cols * b * 4, SrcRow: cols * b * 4, SrcTap: b * 4, SrcPix: b * 4,
									WeiOCB: icb * kh * rk.K * b * b * 4, WeiICB: kh * rk.K * b * b * 4, WeiRow: rk.K * b * b * 4,
									DstOCB: pix * b * 4, DstPix: b * 4, ReLU: r.IntN(2),
								}
								if res != nil {
									p.Res = unsafe.Pointer(&res[0])
								}
								return p
							}
							p1 := prm(got)
							p2 := *p1
							p2.Dst = unsafe.Pointer(&want[g])
							rk.Fn[ocb-1](p1)
							restoreRef(&p2, b, rk.K, rk.Pad)
							for i := range got {
								gv, wv := float64(got[i]), float64(want[i])
								if i < g || i >= len(got)-g {
									if got[i] != guardVal {
										t.Fatalf("%s K%d P%d pix=%d: guard at %d overwritten", set.name, rk.K, rk.Pad, pix, i-g)
									}
									continue
								}
								if math.IsNaN(gv) || math.Abs(gv-wv) > microTol*(math.Abs(wv)+math.Sqrt(float64(icb*kh*rk.K*b))) {
									t.Fatalf("%s K%d P%d ocb=%d pix=%d kh=%d icb=%d: element %d = %v, contract %v", set.name, rk.K, rk.Pad, ocb, pix, kh, icb, i-g, gv, wv)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestMicroResidualInPlace: with Res == Dst (the residual read from the
// output itself, which the contract allows) every kernel adds it; an
// implementation that tested Res-Dst for "no residual" would skip it.
func TestMicroResidualInPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, set := range isaSets {
		if set == genericSet || !set.usable {
			continue
		}
		b := set.block
		for ocb := 1; ocb <= set.maxOCB; ocb++ {
			k := set.kernel(ocb, 1, 1, false)
			src := randSlice(r, 2*3*9*b)
			wei := randSlice(r, ocb*2*9*b*b)
			bias := randSlice(r, ocb*b)
			init := randSlice(r, ocb*5*b)
			got := append([]float32(nil), init...)
			want := append([]float32(nil), init...)
			prm := func(dst []float32) *asm.Params {
				return &asm.Params{Src: unsafe.Pointer(&src[0]), Wei: unsafe.Pointer(&wei[0]),
					Dst: unsafe.Pointer(&dst[0]), Res: unsafe.Pointer(&dst[0]), Bias: unsafe.Pointer(&bias[0]),
					Pix: 5, OCB: ocb, ICB: 2, KH: 3, KW: 3,
					SrcICB: 3 * 9 * b * 4, SrcRow: 9 * b * 4, SrcTap: b * 4, SrcPix: b * 4,
					WeiOCB: 2 * 9 * b * b * 4, WeiICB: 9 * b * b * 4, WeiRow: 3 * b * b * 4,
					DstOCB: 5 * b * 4, DstPix: b * 4}
			}
			k(prm(got))
			genericKernel(b)(prm(want))
			for i := range got {
				if math.Abs(float64(got[i]-want[i])) > microTol*(math.Abs(float64(want[i]))+math.Sqrt(2*9*float64(b))) {
					t.Fatalf("%s ocb=%d: element %d = %v, generic %v", set.name, ocb, i, got[i], want[i])
				}
			}
		}
		for _, rk := range set.restore {
			for ocb := 1; ocb <= len(rk.Fn); ocb++ {
				src := randSlice(r, 2*2*10*b)
				wei := randSlice(r, ocb*2*2*rk.K*b*b)
				bias := randSlice(r, ocb*b)
				init := randSlice(r, ocb*9*b)
				got := append([]float32(nil), init...)
				want := append([]float32(nil), init...)
				prm := func(dst []float32) *asm.Params {
					return &asm.Params{Src: unsafe.Pointer(&src[0]), Wei: unsafe.Pointer(&wei[0]),
						Dst: unsafe.Pointer(&dst[0]), Res: unsafe.Pointer(&dst[0]), Bias: unsafe.Pointer(&bias[0]),
						Pix: 9, OCB: ocb, ICB: 2, KH: 2, KW: rk.K,
						SrcICB: 2 * 10 * b * 4, SrcRow: 10 * b * 4, SrcTap: b * 4, SrcPix: b * 4,
						WeiOCB: 2 * 2 * rk.K * b * b * 4, WeiICB: 2 * rk.K * b * b * 4, WeiRow: rk.K * b * b * 4,
						DstOCB: 9 * b * 4, DstPix: b * 4}
				}
				rk.Fn[ocb-1](prm(got))
				restoreRef(prm(want), b, rk.K, rk.Pad)
				for i := range got {
					if math.Abs(float64(got[i]-want[i])) > microTol*(math.Abs(float64(want[i]))+math.Sqrt(2*2*float64(rk.K*b))) {
						t.Fatalf("%s restore K%d ocb=%d: element %d = %v, contract %v", set.name, rk.K, ocb, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestMicroRows calls every kernel of every set that loops over rows with
// Rows = 2 and 3, rows spaced apart in the input and the output (with
// guard values in the gaps between output rows and around the planes),
// against the same kernel's contract computed one row at a time: the
// generic kernel for the convolution kernels, restoreRef for the fused
// restores.
func TestMicroRows(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, set := range isaSets {
		if set == genericSet || !set.usable || !set.rows {
			continue
		}
		b := set.block
		for _, rows := range []int{2, 3} {
			for ocb := 1; ocb <= set.maxOCB; ocb++ {
				for _, sd := range microSD {
					for _, pw := range []bool{false, true} {
						k := set.kernel(ocb, sd[0], sd[1], pw)
						if k == nil {
							continue
						}
						kh, kw := 3, 3
						if pw {
							kh, kw = 1, 1
						}
						for _, pix := range []int{1, 3, 4, 7, 9, 13} {
							name := fmt.Sprintf("%s/o%d_s%d_d%d_pw%v_rows%d_pix%d", set.name, ocb, sd[0], sd[1], pw, rows, pix)
							iw := (pix-1)*sd[0] + kw + 2
							ow := (pix-1)*sd[1] + 1
							checkRows(t, r, name, b, ocb, 2, kh, kw, pix, rows, iw, ow, sd, k,
								func(p *asm.Params) { genericKernel(b)(p) })
						}
					}
				}
			}
			for _, rk := range set.restore {
				emin, emax := asm.RestoreSpan(rk.K, rk.Pad)
				for ocb := 1; ocb <= len(rk.Fn); ocb++ {
					for _, pix := range []int{1, 2, 5, 8, 11, 16} {
						name := fmt.Sprintf("%s/restoreK%dP%d_o%d_rows%d_pix%d", set.name, rk.K, rk.Pad, ocb, rows, pix)
						iw := (pix+1)/2 + emax - emin + 2
						checkRows(t, r, name, b, ocb, 2, 2, rk.K, pix, rows, iw, pix, [2]int{1, 1}, rk.Fn[ocb-1],
							func(p *asm.Params) { restoreRef(p, b, rk.K, rk.Pad) })
					}
				}
			}
		}
	}
}

// checkRows runs k once over rows rows and oracle once per row, and
// compares every output float, the guards included.
func checkRows(t *testing.T, r *rand.Rand, name string, b, ocb, icb, kh, kw, pix, rows, iw, ow int,
	sd [2]int, k, oracle func(*asm.Params)) {
	t.Helper()
	srcRowStep := (kh + 1) * iw * b // input rows of one output row, plus a spare row
	src := randSlice(r, icb*rows*srcRowStep)
	wei := randSlice(r, ocb*icb*kh*kw*b*b)
	bias := randSlice(r, ocb*b)
	dstRowStep := ow*b + 3*b // a 3-pixel gap between output rows
	const g = 41
	size := ocb*rows*dstRowStep + 2*g
	res := randSlice(r, size)
	buf := func() []float32 {
		s := make([]float32, size)
		for i := range s {
			s[i] = guardVal
		}
		for o := 0; o < ocb; o++ {
			for y := 0; y < rows; y++ {
				for x := 0; x < ow; x += sd[1] {
					for l := 0; l < b; l++ {
						s[g+(o*rows+y)*dstRowStep+x*b+l] = float32(math.NaN())
					}
				}
			}
		}
		return s
	}
	got, want := buf(), buf()
	useRes, relu := r.IntN(2) == 1, r.IntN(2)
	prm := func(dst []float32, row int) *asm.Params {
		p := &asm.Params{
			Src: unsafe.Pointer(&src[row*srcRowStep]), Wei: unsafe.Pointer(&wei[0]),
			Dst: unsafe.Pointer(&dst[g+row*dstRowStep]), Bias: unsafe.Pointer(&bias[0]),
			Pix: pix, OCB: ocb, ICB: icb, KH: kh, KW: kw,
			SrcICB: rows * srcRowStep * 4, SrcRow: iw * b * 4, SrcTap: b * 4, SrcPix: sd[0] * b * 4,
			WeiOCB: icb * kh * kw * b * b * 4, WeiICB: kh * kw * b * b * 4, WeiRow: kw * b * b * 4,
			DstOCB: rows * dstRowStep * 4, DstPix: sd[1] * b * 4, ReLU: relu,
			SrcRows: srcRowStep * 4, DstRows: dstRowStep * 4,
		}
		if useRes {
			p.Res = unsafe.Pointer(&res[g+row*dstRowStep])
		}
		return p
	}
	p := prm(got, 0)
	p.Rows = rows
	k(p)
	for y := 0; y < rows; y++ {
		oracle(prm(want, y))
	}
	compareOut(t, name+" (against one row at a time)", got, want, g, icb*kh*kw*b)
}

// TestMicroEdges calls every convolution kernel of every set that takes
// the edge flags with EdgeL, EdgeR or both, over 1-2 rows, against the
// generic kernel with the same flags. The columns an edge pixel must skip
// hold NaN, so a kernel that read one would fail.
func TestMicroEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	for _, set := range isaSets {
		if set == genericSet || !set.usable || !set.edges {
			continue
		}
		b := set.block
		for ocb := 1; ocb <= set.maxOCB; ocb++ {
			for _, sd := range microSD {
				k := set.kernel(ocb, sd[0], sd[1], false)
				if k == nil {
					continue
				}
				for _, win := range [][2]int{{1, 2}, {3, 3}, {2, 3}} {
					for pix := 1; pix <= 13; pix++ {
						for _, lr := range [][2]int{{1, 0}, {0, 1}, {1, 1}} {
							name := fmt.Sprintf("%s/o%d_s%d_d%d_k%dx%d_pix%d_edges%v", set.name, ocb, sd[0], sd[1], win[0], win[1], pix, lr)
							checkEdges(t, r, name, k, b, ocb, sd[0], sd[1], win[0], win[1], pix, lr[0], lr[1])
						}
					}
				}
			}
		}
	}
}

func checkEdges(t *testing.T, r *rand.Rand, name string, k microkernel, b, ocb, sp, dp, kh, kw, pix, edgeL, edgeR int) {
	t.Helper()
	const icb, rows = 2, 2
	// Input rows: column 0 spare, then the contract's columns from 1.
	iw := (pix-1)*sp + kw + 3
	src := randSlice(r, icb*rows*kh*iw*b)
	for c := 0; c < icb; c++ {
		for y := 0; y < rows*kh; y++ {
			row := src[((c*rows*kh)+y)*iw*b:]
			poison := func(col int) {
				for i := 0; i < b; i++ {
					row[col*b+i] = float32(math.NaN())
				}
			}
			if edgeL == 1 {
				poison(1) // pixel 0, tap 0
			}
			if edgeR == 1 {
				poison(1 + (pix-1)*sp + kw - 1) // pixel pix-1, tap kw-1
			}
		}
	}
	wei := randSlice(r, ocb*icb*kh*kw*b*b)
	bias := randSlice(r, ocb*b)
	ow := (pix-1)*dp + 1
	const g = 23
	size := ocb*rows*ow*b + 2*g
	res := randSlice(r, size)
	buf := func() []float32 {
		s := make([]float32, size)
		for i := range s {
			s[i] = guardVal
		}
		return s
	}
	got, want := buf(), buf()
	prm := func(dst []float32) *asm.Params {
		p := &asm.Params{
			Src: unsafe.Pointer(&src[(1+edgeL)*b]), Wei: unsafe.Pointer(&wei[0]),
			Dst: unsafe.Pointer(&dst[g]), Bias: unsafe.Pointer(&bias[0]), Res: unsafe.Pointer(&res[g]),
			Pix: pix, OCB: ocb, ICB: icb, KH: kh, KW: kw, Rows: rows, EdgeL: edgeL, EdgeR: edgeR,
			SrcICB: rows * kh * iw * b * 4, SrcRow: iw * b * 4, SrcTap: b * 4, SrcPix: sp * b * 4,
			WeiOCB: icb * kh * kw * b * b * 4, WeiICB: kh * kw * b * b * 4, WeiRow: kw * b * b * 4,
			DstOCB: rows * ow * b * 4, DstPix: dp * b * 4, ReLU: r.IntN(2),
			SrcRows: kh * iw * b * 4, DstRows: ow * b * 4,
		}
		return p
	}
	p := prm(got)
	k(p)
	q := *p
	q.Dst = unsafe.Pointer(&want[g])
	genericKernel(b)(&q)
	compareOut(t, name+" (against the generic kernel)", got, want, g, icb*kh*kw*b)
}

// TestRestoreEdges calls every fused restore kernel of every set that
// takes edge flags with EdgeL (where the kernel reads left of a pair),
// EdgeR (right of it) or both, over two rows, against restoreRef. The
// columns outside the row hold NaN, so a kernel that read one would fail.
func TestRestoreEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	for _, set := range isaSets {
		if set == genericSet || !set.usable || !set.restoreEdges {
			continue
		}
		b := set.block
		for _, rk := range set.restore {
			emin, emax := asm.RestoreSpan(rk.K, rk.Pad)
			for _, lr := range [][2]int{{1, 0}, {0, 1}, {1, 1}} {
				if lr[0] == 1 && emin >= 0 || lr[1] == 1 && emax <= 0 {
					continue
				}
				for ocb := 1; ocb <= len(rk.Fn); ocb++ {
					for pix := 2; pix <= 30; pix += 2 {
						name := fmt.Sprintf("%s/K%dP%d_o%d_pix%d_edges%v", set.name, rk.K, rk.Pad, ocb, pix, lr)
						checkRestoreEdges(t, r, name, rk, b, ocb, pix, lr[0], lr[1])
					}
				}
			}
		}
	}
}

func checkRestoreEdges(t *testing.T, r *rand.Rand, name string, rk asm.RestoreKernel, b, ocb, pix, edgeL, edgeR int) {
	t.Helper()
	const icb, kh, rows = 2, 2, 2
	emin, emax := asm.RestoreSpan(rk.K, rk.Pad)
	cols := 1 + pix/2 + emax - emin + 2 // column 0 spare, the contract's columns from 1
	src := randSlice(r, icb*rows*kh*cols*b)
	for y := 0; y < icb*rows*kh; y++ {
		poison := func(col int) {
			for i := 0; i < b; i++ {
				src[(y*cols+col)*b+i] = float32(math.NaN())
			}
		}
		if edgeL == 1 {
			poison(1) // pair 0, e = emin
		}
		if edgeR == 1 {
			poison(1 + (pix-1)/2 + emax - emin) // the last pair, e = emax
		}
	}
	wei := randSlice(r, ocb*icb*kh*rk.K*b*b)
	bias := randSlice(r, ocb*b)
	const g = 19
	size := ocb*rows*pix*b + 2*g
	res := randSlice(r, size)
	buf := func() []float32 {
		s := make([]float32, size)
		for i := range s {
			s[i] = guardVal
		}
		return s
	}
	got, want := buf(), buf()
	prm := func(dst []float32, row int) *asm.Params {
		return &asm.Params{
			Src: unsafe.Pointer(&src[(row*kh*cols+1+edgeL)*b]), Wei: unsafe.Pointer(&wei[0]),
			Dst: unsafe.Pointer(&dst[g+row*pix*b]), Bias: unsafe.Pointer(&bias[0]), Res: unsafe.Pointer(&res[g+row*pix*b]),
			Pix: pix, OCB: ocb, ICB: icb, KH: kh, KW: rk.K, EdgeL: edgeL, EdgeR: edgeR,
			SrcICB: rows * kh * cols * b * 4, SrcRow: cols * b * 4, SrcTap: b * 4, SrcPix: b * 4,
			WeiOCB: icb * kh * rk.K * b * b * 4, WeiICB: kh * rk.K * b * b * 4, WeiRow: rk.K * b * b * 4,
			DstOCB: rows * pix * b * 4, DstPix: b * 4, ReLU: 1,
			SrcRows: kh * cols * b * 4, DstRows: pix * b * 4,
		}
	}
	p := prm(got, 0)
	p.Rows = rows
	rk.Fn[ocb-1](p)
	for y := 0; y < rows; y++ {
		restoreRef(prm(want, y), b, rk.K, rk.Pad)
	}
	compareOut(t, name+" (against restoreRef)", got, want, g, icb*kh*rk.K*b)
}

// microTol is the one relative tolerance of every output comparison of
// the micro tests: a difference is allowed up to microTol*(|want| +
// sqrt(terms)) for a sum of terms products of values in [-1, 1].
const microTol = 1e-5

// compareOut fails t unless got matches want: bit for bit wherever want
// kept the guard value (an output the oracle did not write, or a guard
// around the buffer, whose g floats start it), and within a relative
// tolerance for a sum of terms products elsewhere, NaN being a failure.
func compareOut(t *testing.T, name string, got, want []float32, g, terms int) {
	t.Helper()
	for i := range got {
		gv, wv := float64(got[i]), float64(want[i])
		if want[i] == guardVal {
			if got[i] != guardVal {
				t.Fatalf("%s: element %d written: %v", name, i-g, gv)
			}
			continue
		}
		if math.IsNaN(gv) || math.IsNaN(wv) || math.Abs(gv-wv) > microTol*(math.Abs(wv)+math.Sqrt(float64(terms))) {
			t.Fatalf("%s: element %d = %v, want %v", name, i-g, gv, wv)
		}
	}
}
