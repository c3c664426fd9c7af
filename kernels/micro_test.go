package kernels

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sbconv/sbconv/asm"
)

// microSrcStrides and microDstStrides are the input and output pixel
// strides the generated sets have kernels for; microSD are the (input,
// output) pairs of them the driver uses, which the kernel tests ask every
// set for (TestMicroKernelsCover checks that every assembly set has each
// of them, so that skipping a missing one hides nothing): convolutions at
// strides 1-4, 6 and 8 (the reduce of a spatial-bottleneck block at rate
// r = 2, 3, 4 reads at stride r, and 2r at a stage entry), and the phases
// of a stride-2, 3 or 4 transposed convolution (the restore at rate r),
// which read at stride 1.
var (
	microSrcStrides = []int{1, 2, 3, 4, 6, 8}
	microDstStrides = []int{1, 2, 3, 4}
	microSD         = func() [][2]int {
		var sd [][2]int
		for _, sp := range microSrcStrides {
			sd = append(sd, [2]int{sp, 1})
		}
		for _, dp := range microDstStrides[1:] {
			sd = append(sd, [2]int{1, dp})
		}
		return sd
	}()
)

// TestMicroKernelsCover: every assembly set this CPU runs has a general
// and a 1x1 convolution kernel for every output block count and every
// stride pair of microSD (none is left to the generic kernel), and none
// for a pair the driver never asks for (input and output stride both
// above 1).
func TestMicroKernelsCover(t *testing.T) {
	for _, set := range microSets() {
		if set.isaSet == genericSet {
			continue
		}
		for _, ocb := range set.ocbs {
			for _, pw := range []bool{false, true} {
				for _, sd := range microSD {
					if set.kernelFor(ocb, sd[0], sd[1], pw) == nil {
						t.Errorf("%s: no kernel for %d output block(s), strides %d, %d, 1x1 %v", set.name, ocb, sd[0], sd[1], pw)
					}
				}
				if set.kernelFor(ocb, 2, 2, pw) != nil {
					t.Errorf("%s: a kernel for strides 2, 2, which the driver never asks for", set.name)
				}
			}
		}
	}
}

// microConv is one convolution kernel of a set: its output blocks,
// strides (in pixels) and whether it is the set's 1x1 form.
type microConv struct {
	ocb, sp, dp int
	pw          bool
	k           microkernel
}

func (c microConv) String() string { return fmt.Sprintf("o%d_s%d_d%d_pw%v", c.ocb, c.sp, c.dp, c.pw) }

// convs yields the set's convolution kernels for each of its output
// block counts, each (input, output) stride pair of sds and each of pws,
// skipping those it has none for.
func (s microSet) convs(sds [][2]int, pws ...bool) iter.Seq[microConv] {
	return func(yield func(microConv) bool) {
		for _, ocb := range s.ocbs {
			for _, sd := range sds {
				for _, pw := range pws {
					if k := s.kernelFor(ocb, sd[0], sd[1], pw); k != nil && !yield(microConv{ocb, sd[0], sd[1], pw, k}) {
						return
					}
				}
			}
		}
	}
}

// microRestore is one fused restore kernel of a set.
type microRestore struct {
	rk  *asm.RestoreKernel
	ocb int
	k   microkernel
}

func (r microRestore) String() string { return fmt.Sprintf("K%dP%d_o%d", r.rk.K, r.rk.Pad, r.ocb) }

// restores yields the set's restore kernels, each family for each number
// of output blocks it has.
func (s microSet) restores() iter.Seq[microRestore] {
	return func(yield func(microRestore) bool) {
		for i := range s.restore {
			rk := &s.restore[i]
			for ocb := 1; ocb <= len(rk.Fn); ocb++ {
				if !yield(microRestore{rk, ocb, rk.Fn[ocb-1]}) {
					return
				}
			}
		}
	}
}

// TestMicroConv calls every convolution microkernel of every set
// directly (microSets: the assembly sets this CPU runs and the generic Go
// kernel at blocks 8 and 16) through the microkernel tester, at every
// stride pair of microSD. Pix runs 1..convPix (2*urW+1 from the set's own
// tile width, at least 20), which reaches every tail of the kernel's
// tiles and whole steps; windows are
// 1x1, 1x3, 2x2 and 3x3 (1x1 only for the 1x1 kernels) over 1-3 input
// blocks; residual and ReLU are on and off.
func TestMicroConv(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	for _, set := range microSets() {
		for kc := range set.convs(microSD, false, true) {
			windows := [][2]int{{1, 1}, {1, 3}, {2, 2}, {3, 3}}
			if kc.pw {
				windows = windows[:1]
			}
			t.Run(set.name+"/"+kc.String(), func(t *testing.T) {
				for _, win := range windows {
					for icb := 1; icb <= 3; icb++ {
						for pix := 1; pix <= set.convPix(kc.ocb); pix++ {
							flags := r.IntN(4)
							microCase{b: set.block, ocb: kc.ocb, icb: icb, kh: win[0], kw: win[1], pix: pix, sp: kc.sp, dp: kc.dp,
								res: flags&1 == 1, relu: flags&2 == 2}.check(t, r, kc.k)
						}
					}
				}
			})
		}
	}
}

// TestMicroRestore calls every fused restore kernel of every set, for
// each number of output blocks, over Pix 1..restorePix (odd counts, every
// block size and whole steps), 1-3 vertical taps and 1-3 input blocks,
// residual and ReLU on and off, through the microkernel tester.
func TestMicroRestore(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, set := range microSets() {
		for kr := range set.restores() {
			t.Run(set.name+"/"+kr.String(), func(t *testing.T) {
				for kh := 1; kh <= 3; kh++ {
					for icb := 1; icb <= 3; icb++ {
						for pix := 1; pix <= restorePix(kr.rk, kr.ocb); pix++ {
							microCase{b: set.block, ocb: kr.ocb, icb: icb, kh: kh, kw: kr.rk.K, pix: pix, sp: 1, dp: 1,
								res: r.IntN(2) == 0, relu: r.IntN(2) == 0, restore: kr.rk}.check(t, r, kr.k)
						}
					}
				}
			})
		}
	}
}

// TestMicroResidualInPlace: with Res == Dst (the residual read from the
// output itself, which the contract allows) every stride-1 convolution
// and every restore kernel adds it; an implementation that tested Res-Dst
// for "no residual" would skip it.
func TestMicroResidualInPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, set := range microSets() {
		for kc := range set.convs([][2]int{{1, 1}}, false) {
			t.Run(set.name+"/"+kc.String(), func(t *testing.T) {
				microCase{b: set.block, ocb: kc.ocb, icb: 2, kh: 3, kw: 3, pix: 5, sp: 1, dp: 1,
					res: true, resInPlace: true}.check(t, r, kc.k)
			})
		}
		for kr := range set.restores() {
			t.Run(set.name+"/restore"+kr.String(), func(t *testing.T) {
				microCase{b: set.block, ocb: kr.ocb, icb: 2, kh: 2, kw: kr.rk.K, pix: 9, sp: 1, dp: 1,
					res: true, resInPlace: true, restore: kr.rk}.check(t, r, kr.k)
			})
		}
	}
}

// TestMicroRows calls every kernel of every set that loops over rows
// (Caps.Rows) with Rows = 2 and 3, rows spaced apart in the input (a
// spare row between) and the output (a 3-pixel gap between rows, which
// must stay untouched), at the strides the driver uses (microSD), 3x3 and
// 1x1 windows and the fused restores.
func TestMicroRows(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, set := range microSets() {
		if !set.Rows {
			continue
		}
		for kc := range set.convs(microSD, false, true) {
			kh, kw := 3, 3
			if kc.pw {
				kh, kw = 1, 1
			}
			t.Run(set.name+"/"+kc.String(), func(t *testing.T) {
				for _, rows := range []int{2, 3} {
					for _, pix := range []int{1, 3, 4, 7, 9, 13} {
						microCase{b: set.block, ocb: kc.ocb, icb: 2, kh: kh, kw: kw, pix: pix, sp: kc.sp, dp: kc.dp, rows: rows,
							res: r.IntN(2) == 1, relu: r.IntN(2) == 1}.check(t, r, kc.k)
					}
				}
			})
		}
		for kr := range set.restores() {
			t.Run(set.name+"/restore"+kr.String(), func(t *testing.T) {
				for _, rows := range []int{2, 3} {
					for _, pix := range []int{1, 2, 5, 8, 11, 16} {
						microCase{b: set.block, ocb: kr.ocb, icb: 2, kh: 2, kw: kr.rk.K, pix: pix, sp: 1, dp: 1, rows: rows,
							res: r.IntN(2) == 1, relu: r.IntN(2) == 1, restore: kr.rk}.check(t, r, kr.k)
					}
				}
			})
		}
	}
}

// TestMicroEdges calls every convolution kernel for general windows of
// every set that takes the edge flags (Caps.Edges) with EdgeL, EdgeR or
// both, over two rows, windows 1x2, 3x3 and 2x3, Pix 1..convPix (every
// tail, as an edge block on either side), with a residual. The columns an edge pixel skips are not the contract's, so
// the tester poisons them and a kernel that read one fails.
func TestMicroEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	for _, set := range microSets() {
		if !set.Edges {
			continue
		}
		for kc := range set.convs(microSD, false) {
			t.Run(set.name+"/"+kc.String(), func(t *testing.T) {
				for _, win := range [][2]int{{1, 2}, {3, 3}, {2, 3}} {
					for pix := 1; pix <= set.convPix(kc.ocb); pix++ {
						for _, lr := range [][2]int{{1, 0}, {0, 1}, {1, 1}} {
							microCase{b: set.block, ocb: kc.ocb, icb: 2, kh: win[0], kw: win[1], pix: pix, sp: kc.sp, dp: kc.dp, rows: 2,
								edgeL: lr[0], edgeR: lr[1], res: true, relu: r.IntN(2) == 1}.check(t, r, kc.k)
						}
					}
				}
			})
		}
	}
}

// TestMicroRestoreEdges calls every fused restore kernel of every set
// that takes edge flags (Caps.RestoreEdges) with EdgeL (where the kernel
// reads left of a pair), EdgeR (right of it) or both, over two rows and
// even Pix 2..restorePix, with a residual and ReLU; the columns outside the row
// are poisoned.
func TestMicroRestoreEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	for _, set := range microSets() {
		if !set.RestoreEdges {
			continue
		}
		for kr := range set.restores() {
			emin, emax := asm.RestoreSpan(kr.rk.K, kr.rk.Pad)
			t.Run(set.name+"/"+kr.String(), func(t *testing.T) {
				for _, lr := range [][2]int{{1, 0}, {0, 1}, {1, 1}} {
					if lr[0] == 1 && emin >= 0 || lr[1] == 1 && emax <= 0 {
						continue
					}
					for pix := 2; pix <= restorePix(kr.rk, kr.ocb); pix += 2 {
						microCase{b: set.block, ocb: kr.ocb, icb: 2, kh: 2, kw: kr.rk.K, pix: pix, sp: 1, dp: 1, rows: 2,
							edgeL: lr[0], edgeR: lr[1], res: true, relu: true, restore: kr.rk}.check(t, r, kr.k)
					}
				}
			})
		}
	}
}

// TestMicroPrefetch calls every convolution kernel of every set that
// prefetches (Caps.Prefetch) over two rows, windows 3x3 and 2x3 (1x1 for
// the pointwise kernels, which prefetch once an input block), Pix 1..13, with and without edge pixels, and has the tester
// check the prefetch part of the contract besides the output: the same
// output bit for bit with a prefetch range, Pf moving on by PfLines
// lines a tap step and stopping at PfEnd, zero Pf staying zero.
func TestMicroPrefetch(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	for _, set := range microSets() {
		if !set.Prefetch {
			continue
		}
		for kc := range set.convs(microSD, false, true) {
			t.Run(set.name+"/"+kc.String(), func(t *testing.T) {
				wins, edges := [][2]int{{3, 3}, {2, 3}}, 1
				if kc.pw {
					wins, edges = [][2]int{{1, 1}}, 0 // a 1x1 window never overhangs
				}
				for _, win := range wins {
					for pix := 1; pix <= 13; pix++ {
						for edge := 0; edge <= edges; edge++ {
							microCase{b: set.block, ocb: kc.ocb, icb: 2, kh: win[0], kw: win[1], pix: pix, sp: kc.sp, dp: kc.dp, rows: 2,
								edgeL: edge, edgeR: edge, relu: r.IntN(2) == 1, prefetch: true}.check(t, r, kc.k)
						}
					}
				}
			})
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
