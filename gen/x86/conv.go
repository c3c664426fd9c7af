package main

import (
	"bytes"
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/gen/internal/caps"
	"github.com/sbconv/sbconv/gen/internal/emit"
)

// The convolution family: the kernels of package asm's convolution
// contract (see the package comment for the variants and the register plan).

// convPlan is the register plan of the convolution kernels for ocb output
// channel blocks: urW pixels a step (see the package comment).
type convPlan struct {
	ocb, urW int
	// regBcast: broadcast each input value into a register (VBROADCASTSS)
	// that then feeds all ocb FMAs, even in a set with embedded
	// broadcasts, which would load the value once per output block.
	regBcast bool
	// pfAhead: after the weights of an input channel, prefetch (T0) each
	// output block's weights asm.PfAhead bytes further on, one line for
	// every line the step reads (see step).
	pfAhead bool
}

// bcastRegs is the registers plan pl spends on broadcasts.
func (s *isa) planBcastRegs(pl convPlan) int {
	if pl.regBcast {
		return 1
	}
	return s.bcastRegs()
}

// The pixel strides generated. Input strides: 1, and the reduce of a
// spatial-bottleneck block at rate r = 2, 3, 4, stride r, or r*2 at a
// stage entry (2, 4; 3, 6; 4, 8). Output strides: 1, and one phase of a
// stride-r transposed convolution, the restore at rate r (2, 3, 4).
var (
	srcStrides = []int{1, 2, 3, 4, 6, 8} // input pixel strides, in pixels
	dstStrides = []int{1, 2, 3, 4}       // output pixel strides, in pixels
)

// maxScaledOCB is the most output blocks a kernel addresses through one
// index register: block o's weights and outputs are at o times a stride,
// an x86 scale of 1 or 2 (o = 1, 2; 3 is no scale).
const maxScaledOCB = 3

// check returns an error unless the plan's registers fit the set's:
// urW*ocb accumulators, ocb weight vectors and, with a register
// broadcast, one broadcast; and unless its output blocks are addressable
// (maxScaledOCB).
func (s *isa) check(pl convPlan) error {
	if pl.ocb < 1 || pl.urW < 1 {
		return fmt.Errorf("%s conv plan %+v: ocb and urW must be at least 1", s.name, pl)
	}
	if pl.ocb > maxScaledOCB {
		return fmt.Errorf("%s conv plan ocb=%d urW=%d: output block %d is no scaled index away (scale 1 or 2)",
			s.name, pl.ocb, pl.urW, pl.ocb-1)
	}
	if need := pl.urW*pl.ocb + pl.ocb + s.planBcastRegs(pl); need > s.numVecRegs() {
		return fmt.Errorf("%s conv plan ocb=%d urW=%d: register budget: %d accumulators + %d weights + %d broadcast = %d > %d vector registers",
			s.name, pl.ocb, pl.urW, pl.urW*pl.ocb, pl.ocb, s.planBcastRegs(pl), need, s.numVecRegs())
	}
	return nil
}

// checkPlans checks every plan and that they are ocb 1, 2, ... in order.
func (s *isa) checkPlans(plans []convPlan) error {
	for i, pl := range plans {
		if pl.ocb != i+1 {
			return fmt.Errorf("%s conv plan %d is for %d output blocks, want %d", s.name, i, pl.ocb, i+1)
		}
		if err := s.check(pl); err != nil {
			return err
		}
	}
	return nil
}

// maxConvOCB is the most output blocks a convolution kernel takes.
func (s *isa) maxConvOCB() int { return len(s.convPlans) }

// used reports whether the driver ever asks for input pixel stride s with
// output pixel stride d: a convolution writes every pixel (d = 1) and a
// transposed-convolution phase reads every pixel (s = 1), so no pair
// with both s > 1 and d > 1 occurs, and none is generated (9 of the 24
// pairs of srcStrides x dstStrides are).
func used(s, d int) bool { return s == 1 || d == 1 }

type kernel struct {
	*gen
	name           string
	ocb, urW, s, d int
	regBcast       bool // the plan's regBcast, or a set without embedded broadcasts
	pfAhead        bool // the plan's pfAhead (not in stem kernels)
	pointwise      bool // KH = KW = 1: the reduction is one loop over input blocks
	// lanes is the input floats of one pixel a tap reads: the block for
	// the convolution contract, 1 for the stem contract (plain NCHW input:
	// a channel is a "block" of one float; see stem.go).
	lanes int
	// tileW > 0 makes a tile kernel (tile.go): rows of tileW pixels,
	// tileR of them in the block being emitted, at most tileMaxR.
	tileW, tileR, tileMaxR int
	// shareKW > 0 (stem kernels, stride 1: stem.go) adds a reduction for
	// KW = shareKW that broadcasts each input column once for the taps of
	// every pixel it feeds.
	shareKW int
}

// inPixBytes is the bytes of one input pixel's lanes: the input moves by
// it from tap to tap (and by s times it from pixel to pixel).
func (k *kernel) inPixBytes() int { return k.lanes * 4 }

// tapBytes is the weights of one tap: lanes input channels x one block.
func (k *kernel) tapBytes() int { return k.lanes * k.vecBytes() }

// stem reports a kernel of the stem contract (one input lane a pixel).
func (k *kernel) stem() bool { return k.lanes == 1 }

func (s *isa) kernelName(ocb, src, dst int, pointwise bool) string {
	if pointwise {
		return fmt.Sprintf("%sConv1x1O%dSrc%dDst%d", s.name, ocb, src, dst)
	}
	return fmt.Sprintf("%sConvO%dSrc%dDst%d", s.name, ocb, src, dst)
}

// convFamily is the convolution kernels: every plan of the set's
// convPlans at every stride pair the driver uses, in the general and the
// 1x1 form.
type convFamily struct{}

func (convFamily) emit(g *gen) error {
	if err := g.checkPlans(g.convPlans); err != nil {
		return err
	}
	for _, pw := range []bool{false, true} {
		for _, pl := range g.convPlans {
			for _, s := range srcStrides {
				for _, d := range dstStrides {
					if used(s, d) {
						g.convKernel(pl, s, d, pw)
					}
				}
			}
		}
	}
	return nil
}

// table writes <S>URW, the stride lists and the <S>Conv, <S>Conv1x1
// tables with their lookup (emit.ConvTables).
func (convFamily) table(g *gen, b *bytes.Buffer) {
	urw := make([]int, len(g.convPlans))
	for i, pl := range g.convPlans {
		urw[i] = pl.urW
	}
	emit.ConvTables(b, g.name, urw, srcStrides, dstStrides, func(o, s, d int, pw bool) string {
		if !used(s, d) {
			return ""
		}
		return g.kernelName(o, s, d, pw)
	})
	b.WriteString("\n")
}

// convKernel emits one variant of plan pl (checked).
func (g *gen) convKernel(pl convPlan, s, d int, pointwise bool) {
	c := g.c
	ocb := pl.ocb
	k := g.newConvKernel(g.kernelName(ocb, s, d, pointwise), pl, s, d, pointwise)
	window := "Pix, ICB, KH, KW >= 1"
	if pointwise {
		window = "Pix, ICB >= 1 and KH = KW = 1 (a pointwise window: one loop over input blocks)"
	}
	vb := g.vecBytes()
	c.Doc(
		fmt.Sprintf("%s is the %s microkernel for %d output channel block(s), input pixel", k.name, g.title, ocb),
		fmt.Sprintf("stride %d and output pixel stride %d (SrcPix = %d, DstPix = %d bytes), %d pixels a step.", s, d, s*vb, d*vb, k.urW),
		"It computes the loop written out in the package comment, with OCB fixed",
		fmt.Sprintf("at %d, block %d, and %s.", ocb, g.block, window),
	)

	k.body()
}

// newConvKernel starts the convolution kernel name of plan pl (a row or
// a tile kernel; the caller sets tileW and writes the doc): its record
// for the set's Caps and its function header.
func (g *gen) newConvKernel(name string, pl convPlan, s, d int, pointwise bool) *kernel {
	c := g.c
	k := &kernel{gen: g, name: name, ocb: pl.ocb, urW: pl.urW, s: s, d: d, pointwise: pointwise,
		regBcast: pl.regBcast || !g.embedded, pfAhead: pl.pfAhead, lanes: g.block}
	if pointwise {
		g.emitted.Begin(caps.Conv1x1)
	} else {
		g.emitted.Begin(caps.Conv)
	}
	c.Function(k.name)
	c.Pragma("noescape")
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(p *Params)")
	return k
}

// body emits the kernel after its doc: the prologue, and the pixel loop
// over emitBlock's blocks.
func (k *kernel) body() {
	k.prologue(k.label, !k.pointwise && !k.stem())
	k.c.MOVQ(field(asm.OffWeiOCB), regWeiOCB)
	// Whole urW steps while at least 2*urW pixels are left, then the rest
	// in one block (<= urW) or two near-equal blocks, so no call ends in a
	// sliver of a block with too few accumulator chains to hide the FMA
	// latency (8 pixels at urW 6 run as 4+4, not 6+2).
	k.pixelLoop(k.label, k.urW, k.urW, false, k.emitBlock,
		func(t int) int { return t * k.s * k.inPixBytes() }, func(t int) int { return t * k.d * k.vecBytes() })
}

func (k *kernel) label(s string) string { return k.name + "_" + s }

func (k *kernel) acc(j, o int) reg.VecPhysical { return k.vec(k.urW*o + j) }
func (k *kernel) wreg(o int) reg.VecPhysical   { return k.vec(k.urW*k.ocb + o) }

// bcast is the broadcast register (a register-broadcast plan only).
func (k *kernel) bcast() reg.VecPhysical {
	if !k.regBcast {
		return nil
	}
	return k.vec(k.urW*k.ocb + k.ocb)
}

// scaled returns base + disp + o*stride, the stride in index (o <
// maxScaledOCB, which check asserts: scale 1 or 2).
func scaled(base, index reg.Register, disp, o int) operand.Mem {
	m := operand.Mem{Base: base, Disp: disp32(disp)}
	if o > 0 {
		m.Index, m.Scale = index, uint8(o)
	}
	return m
}

// weightAt addresses the weights of output block o, input channel i at the
// current tap: o*WeiOCB through the index register.
func (k *kernel) weightAt(o, i int) operand.Mem {
	return scaled(regWei, regWeiOCB, i*k.vecBytes(), o)
}

// inAt addresses input channel i of pixel j at the current tap.
// (A tile kernel's pixel j is a column of row j/tileW, SrcRows
// through regPix away per row.)
func (k *kernel) inAt(j, i int) operand.Mem {
	q, col := k.tileAt(j)
	m := operand.Mem{Base: regSrc, Disp: disp32(col*k.s*k.inPixBytes() + i*4)}
	if q > 0 {
		m.Index, m.Scale = regPix, uint8(q)
	}
	return m
}

// emitBlock emits the whole reduction and epilogue for t pixels (t <= urW).
func (k *kernel) emitBlock(t int) {
	c := k.c
	vb := k.vecBytes()
	id := fmt.Sprintf("t%d", t)
	c.Commentf("%d pixel(s) x %d output block(s)", t, k.ocb)

	// Accumulators start at the bias; the extra sets of a block too
	// small to hide the FMA latency (see sets) at zero.
	sets := k.sets(t)
	c.MOVQ(field(asm.OffBias), regTmp)
	for o := 0; o < k.ocb; o++ {
		c.VMOVUPS(operand.Mem{Base: regTmp, Disp: o * vb}, k.acc(0, o))
		for j := 1; j < t; j++ {
			c.VMOVAPS(k.acc(0, o), k.acc(j, o))
		}
		for m := 1; m < sets; m++ {
			for j := 0; j < t; j++ {
				a := k.setAcc(t, m, j, o)
				c.VXORPS(a, a, a)
			}
		}
	}

	edges := !k.pointwise && !k.stem()
	if edges && k.tileW == 0 {
		k.edgeFlags(k.label, id, t) // a tile kernel's are the call's (tileBody)
	}
	if k.shareKW > 0 {
		c.CMPQ(field(asm.OffKW), imm(uint64(k.shareKW)))
		c.JNE(operand.LabelRef(k.label(id + "_taps")))
		k.sharedReduction(id, t)
		c.JMP(operand.LabelRef(k.label(id + "_fin")))
		c.Label(k.label(id + "_taps"))
	}

	c.MOVQ(regSrcBase, regSrc)
	c.MOVQ(field(asm.OffWei), regWei)
	c.MOVQ(field(asm.OffICB), regICB)
	c.Label(k.label(id + "_icb"))
	if k.pointwise {
		k.step(t, -1, -1)
		k.prefetch(id)
		c.ADDQ(field(asm.OffSrcICB), regSrc)
		c.ADDQ(field(asm.OffWeiICB), regWei)
		c.DECQ(regICB)
		c.JNZ(operand.LabelRef(k.label(id + "_icb")))
	} else {
		c.MOVQ(field(asm.OffKH), regKH)
		c.Label(k.label(id + "_kh"))
		c.MOVQ(field(asm.OffKW), regKW)
		c.Label(k.label(id + "_kw"))
		if edges && k.tileW > 0 {
			k.tileEdgeSteps(id, t)
		} else if edges {
			k.edgeSteps(id, t)
		} else {
			k.step(t, -1, -1)
		}
		k.prefetch(id)
		c.ADDQ(imm(uint64(k.inPixBytes())), regSrc)
		c.ADDQ(imm(uint64(k.tapBytes())), regWei)
		c.DECQ(regKW)
		c.JNZ(operand.LabelRef(k.label(id + "_kw")))
		// Next kernel row: back over the KW taps, on by one row.
		c.MOVQ(field(asm.OffKW), regTmp)
		c.SHLQ(imm(uint64(log2(k.inPixBytes()))), regTmp) // KW * inPixBytes
		c.SUBQ(regTmp, regSrc)
		c.ADDQ(field(asm.OffSrcRow), regSrc)
		c.SHLQ(imm(uint64(log2(k.block))), regTmp) // KW * tapBytes
		c.SUBQ(regTmp, regWei)
		c.ADDQ(field(asm.OffWeiRow), regWei)
		c.DECQ(regKH)
		c.JNZ(operand.LabelRef(k.label(id + "_kh")))
		// Next input block: back over the KH rows, on by one block.
		k.nextInputBlock(k.label(id + "_icb"))
	}
	if k.shareKW > 0 {
		c.Label(k.label(id + "_fin"))
	}
	k.finishBlock(id, t, sets)
}

// edgeSteps emits one tap step of a block of t pixels in a kernel that
// takes the edge flags: a row's edge pixel skips the tap over the padding,
// the first tap of pixel 0 (bit 0 of regEdge), the last of pixel t-1 (bit 1).
func (k *kernel) edgeSteps(id string, t int) {
	c := k.c
	c.TESTQ(regEdge, regEdge)
	c.JZ(operand.LabelRef(k.label(id + "_full")))
	c.CMPQ(regKW, field(asm.OffKW))
	c.JNE(operand.LabelRef(k.label(id + "_notfirst")))
	c.TESTQ(operand.U32(1), regEdge)
	c.JZ(operand.LabelRef(k.label(id + "_notfirst")))
	k.step(t, -1, 0)
	c.JMP(operand.LabelRef(k.label(id + "_next")))
	c.Label(k.label(id + "_notfirst"))
	c.CMPQ(regKW, imm(1))
	c.JNE(operand.LabelRef(k.label(id + "_full")))
	c.TESTQ(operand.U32(2), regEdge)
	c.JZ(operand.LabelRef(k.label(id + "_full")))
	k.step(t, -1, t-1)
	c.JMP(operand.LabelRef(k.label(id + "_next")))
	c.Label(k.label(id + "_full"))
	k.step(t, -1, -1)
	c.Label(k.label(id + "_next"))
}

// finishBlock emits the end of a block of t pixels: the extra
// accumulator sets summed into the first, then the epilogue.
func (k *kernel) finishBlock(id string, t, sets int) {
	c := k.c
	// The extra sets summed into the first, then the epilogue: residual,
	// ReLU, one store per output vector.
	for m := 1; m < sets; m++ {
		for o := 0; o < k.ocb; o++ {
			for j := 0; j < t; j++ {
				c.VADDPS(k.setAcc(t, m, j, o), k.acc(j, o), k.acc(j, o))
			}
		}
	}
	c.MOVQ(field(asm.OffDstOCB), regICB)
	if k.tileW == 0 {
		k.storeRow(id, 0, t, regDst)
		return
	}
	// A tile: each row through a base of its own, Dst + q*DstRows (the
	// tap counters are free by now).
	c.MOVQ(field(asm.OffDstRows), regKW)
	for q := 0; q < k.tileR; q++ {
		base := regDst
		if q > 0 {
			base = regKH
			c.LEAQ(operand.Mem{Base: regDst, Index: regKW, Scale: uint8(q)}, base)
		}
		k.storeRow(fmt.Sprintf("%s_q%d", id, q), q*k.tileW, k.tileW, base)
	}
}

// storeRow emits the epilogue of n pixels of a block from its pixel j0,
// one row, stored through base (holding Dst of the row).
func (k *kernel) storeRow(id string, j0, n int, base reg.Register) {
	var accs []reg.VecPhysical
	var at []func(base reg.Register) operand.Mem
	for o := 0; o < k.ocb; o++ {
		for j := j0; j < j0+n; j++ {
			accs = append(accs, k.acc(j, o))
			at = append(at, func(base reg.Register) operand.Mem { return k.outAt(base, o, j-j0) })
		}
	}
	k.epilogue(k.label, id, accs, at, k.wreg(0), base)
}

// step emits the block's input channels of one tap: for each, ocb weight
// loads, then per pixel ocb FMAs of its broadcast input. The pixels of
// row skipRow and of column skip (each if >= 0) take no part: the tap of
// an edge pixel that lies in the padding (nothing at all for a lone
// pixel).
func (k *kernel) step(t, skipRow, skip int) {
	c := k.c
	if skip >= 0 && t == 1 {
		return
	}
	sets := k.sets(t)
	for i := 0; i < k.lanes; i++ {
		m := i % sets // input channel i's accumulator set
		for o := 0; o < k.ocb; o++ {
			c.VMOVUPS(k.weightAt(o, i), k.wreg(o))
		}
		if k.pfAhead && (i*k.vecBytes())%64 == 0 {
			k.prefetchAhead(i)
		}
		for j := 0; j < t; j++ {
			if q, col := k.tileAt(j); col == skip || q == skipRow {
				continue
			}
			if !k.regBcast {
				for o := 0; o < k.ocb; o++ {
					c.VFMADD231PS_BCST(k.inAt(j, i), k.wreg(o), k.setAcc(t, m, j, o))
				}
				continue
			}
			c.VBROADCASTSS(k.inAt(j, i), k.bcast())
			for o := 0; o < k.ocb; o++ {
				c.VFMADD231PS(k.wreg(o), k.bcast(), k.setAcc(t, m, j, o))
			}
		}
	}
}

// minChains is how many independent FMA chains a block keeps: the FMA
// latency (4 cycles on Zen 4/5 and Sapphire Rapids) times the FMAs
// issued a cycle (2) is 8, and 12 measured better where blocks of 3
// pixels x 3 output blocks (9 chains) are most of a layer: AVX-512
// BenchmarkRestoreRate in-256x14 r4 (rows of 3-4 pixels), one core of
// the AMD EPYC Zen 5, five alternating rounds, 71-76% -> 74-79% of the
// peak; 16 was no better, and the other shapes and AVX2 did not move.
const minChains = 12

// sets returns how many accumulator sets a block of t pixels sums into:
// 1 where its t*ocb accumulators are chains enough (minChains), else as
// many as reach that and fit in the plan's urW*ocb accumulator registers
// (the block leaves urW-t pixels' worth free), at most one an input
// channel of the block. Input channel i of every tap and input block
// goes to set i % sets, and the sets are summed into the first before
// the epilogue. A restore phase or a small map's reduce is rows of 2-4
// pixels, and a row's tail can be one: 1 pixel x 1 output block was one
// chain, an FMA every 4 cycles.
//
// A tile kernel's blocks all take the sets of its largest block
// (tileMaxR rows), whatever their rows: the sums of a row then do not
// depend on how many rows share its call, so that splitting a layer's rows
// over threads leaves every output bit for bit as it is.
func (k *kernel) sets(t int) int {
	if k.stem() {
		return 1 // one input channel a step: nothing to spread (see stem.go)
	}
	if k.tileW > 0 {
		t = k.tileMaxR * k.tileW
	}
	n := t * k.ocb
	return max(1, min((minChains+n-1)/n, k.urW/t, k.block))
}

// setAcc is pixel j's accumulator of output block o in set m of a block
// of t pixels: set 0 is acc(j, o), set m the plan's pixel t*m + j.
func (k *kernel) setAcc(t, m, j, o int) reg.VecPhysical { return k.acc(t*m+j, o) }

// prefetch emits, after a tap step (an input block of a pointwise
// kernel, whose window is one tap), the prefetch into L2 of asm.PfLines
// lines at Pf + o*PfOCB for each output block o while Pf < PfEnd, and
// moves Pf on in the argument block (see package asm): the heads of the
// next unit's output blocks, whose weights the next call streams one run
// a block. On in-512x7's spatial-bottleneck block this prefetch (then
// four lines from Pf, the head of the next unit's first block only) took
// the fastest of 15 samples from 1450-1816 us to 1203-1288 us (AVX2; six
// rounds, alternating builds): its 9.4 MB layers stream their weights
// from memory, and without it each output-block group's first row waited
// for them. PREFETCHT1 and T2 measured alike and T0 7-25% slower.
// The pointwise kernels (the restores' one-tap phases at rates 3 and 4)
// prefetch too: BenchmarkRestoreRate, AVX2, one core, two alternating
// rounds, in-256x14 r3 85-87 -> 88-89% of peak, r4 82-84 -> 86%,
// in-512x7 r3 71-73 -> 74-75% (AVX-512 within a point of before).
//
// A call reads each of its blocks' runs as a stream of its own, and a
// stream that starts cold runs at the memory's latency until the
// hardware's prefetchers (which stop at each 4 KB page) and the kernel's
// own prefetch ahead (AVX-512) catch up: the smaller a unit's runs, the
// more of its time that is. 64 MB of weights in 1x1 layers over 3x3
// pixels, one AVX-512 core of the AMD EPYC Zen 5, two alternating runs:
// 1024, 512 and 256 input channels (192, 96 and 48 KB a unit) 28.0,
// 23.7-26.0 and 19.3-19.5 GB/s with the first block's head alone (four
// lines a step), 28.8-30.0, 27.1-28.2 and 20.9 with two lines of each
// block's head. Medians of 5-6 alternating runs of whole networks (AMD
// EPYC Zen 5, one thread, batch 1): AVX-512 SB ResNet-18 at rates 2/3/4
// 6.54/4.79/8.21 -> 6.45/4.61/7.90 ms, regular 18.05 -> 17.67; SB
// ResNet-50 36.0/30.5/36.7 -> 34.3/31.0/36.0 ms (three runs), regular
// 41.8 -> 41.5; AVX2 SB ResNet-18 11.27/8.06/12.34 -> 11.11/7.62/11.61
// ms, regular 32.2 -> 32.5. One line a block a step measured less.
func (k *kernel) prefetch(id string) {
	if k.stem() {
		return // the stem's weights are a few KB
	}
	c := k.c
	k.emitted.Now().Prefetch = true
	c.MOVQ(field(asm.OffPf), regTmp)
	c.CMPQ(regTmp, field(asm.OffPfEnd))
	c.JAE(operand.LabelRef(k.label(id + "_nopf")))
	for o := 0; o < k.ocb; o++ {
		if o > 0 {
			c.ADDQ(field(asm.OffPfOCB), regTmp)
		}
		for i := 0; i < asm.PfLines; i++ {
			c.PREFETCHT1(operand.Mem{Base: regTmp, Disp: 64 * i})
		}
	}
	c.ADDQ(imm(64*asm.PfLines), field(asm.OffPf))
	c.Label(k.label(id + "_nopf"))
}

// prefetchAhead emits, after the weight loads of input channel i of a
// step, a PREFETCHT0 of each output block's weights asm.PfAhead bytes
// past them: one line for each line of weights the step reads, spread
// through the step rather than in a burst after it. A block's weights are
// one contiguous run over its taps and input blocks, so the line is one
// a later step of the same call (or the next group's, or the packed
// weights' slack: see asm.PfAhead) reads.
//
// At batch 1 the layers of ImageNet's stages 3 and 4 read their weights
// from memory (a network's 47-125 MB overflow the L3), and a core did not
// overlap that stream with its FMAs: the loads that miss wait in the
// reorder window behind 9-27 FMAs a line, too few in flight for the
// memory's latency. Prefetching a call's own weights in bursts (16 or 48
// lines after each tap step, into L1 or L2) changed nothing; one
// prefetch per line read, 2 KB ahead, did. One AVX-512 core of the AMD
// EPYC Zen 5, medians of 6-8 alternating runs of the two builds:
// BenchmarkWeightStream's 64 MB over 3x3 pixels 2.89 -> 2.25 ms, SB
// ResNet-18 at rates 3 and 4 4.97-5.34 -> 4.72-4.90 and 8.45-8.82 ->
// 7.88-8.18 ms, in-512x7's SB block at rate 4 1730-1822 -> 1458-1608
// us; 1 KB ahead gained nothing and 4 KB less, PREFETCHT1 less, and one
// prefetch every two or four lines lost. The blocks whose weights stay in
// L2 or L3 pay the prefetches' load slots: in-256x14's SB block at rates
// 3 and 4 +3%, and ResNet-20 at rate 3 6-8% when every plan had them.
// Only the three-block plan of AVX-512 has them: the wide layers (128
// channels and more, split into groups of up to three blocks), among
// them all that stream their weights, run on it, and CIFAR's (at most
// four blocks, split 2+2) never do. With AVX2 the
// same prefetch left SB ResNet-18 at rates 3 and 4 as it was (8.20 and
// 12.26 ms) and the regular one 4% slower.
func (k *kernel) prefetchAhead(i int) {
	for o := 0; o < k.ocb; o++ {
		k.c.PREFETCHT0(scaled(regWei, regWeiOCB, i*k.vecBytes()+asm.PfAhead, o))
	}
}

// outAt addresses output (or residual, through base) block o, pixel j:
// o*DstOCB through regICB (which holds DstOCB in the epilogue).
func (k *kernel) outAt(base reg.Register, o, j int) operand.Mem {
	return scaled(base, regICB, j*k.d*k.vecBytes(), o)
}
