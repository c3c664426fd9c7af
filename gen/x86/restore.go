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

// The fused stride-2 restore family: the kernels of package asm's restore
// contract.

// restorePlan is one fused stride-2 restore kernel width k and padding
// pad, generated for 1..ocbs output blocks a call. K=3, P=1 is the
// spatial bottleneck's restore; K=2, P=0 and K=4, P=1 are the usual
// upsampling layers of U-Nets and decoders.
//
// AVX2 takes one output block a call, its K weight vectors in registers.
// (Forms for 2-3 blocks with the weights as FMA memory operands were
// measured 15-30% slower than the phase kernels on every ImageNet shape,
// load-bound, and are not generated.) AVX-512 has the registers for the
// weights of two blocks: a call of two blocks reads its input once for
// both (with regBcast, once for all the FMAs of a column).
type restorePlan struct {
	k, pad int
	ocbs   int // kernels for 1..ocbs output blocks a call
	// chained: a pixel takes all its taps into one accumulator rather
	// than one partial per tap. So for K=4, whose pixels have two taps
	// each: one partial per tap left it room for 5 pixels a block, with 9
	// loads to 10 FMAs; chained, 11 fit, and each accumulator's two FMAs
	// of a step sit among 18 others. Interleaved Upsample benchmarks
	// (AVX2): 72-78 -> 93-104 GFLOP/s at 64 channels 28 -> 56, 61-68 ->
	// 94-100 at 128 channels 14 -> 28. Chaining K=3 (12 pixels a block)
	// measured slower: blocks of 12 split 16- and 28-pixel rows badly
	// (cifar-32x16's restore 10.0 -> 12.9 us, in-128x28's 504 -> 577 us).
	chained bool
	// regBcast: broadcast each input column into a register that then
	// feeds every FMA it takes part in, even in a set with embedded
	// broadcasts (which load the column again for each of them).
	regBcast bool
}

// restoreBcastRegs is the registers plan pl spends on broadcasts.
func (s *isa) restoreBcastRegs(pl restorePlan) int {
	if pl.regBcast {
		return 1
	}
	return s.bcastRegs()
}

// checkRestore returns an error unless, for every ocb of the plan, the
// widest block's partials, the weight vectors and (with a register
// broadcast) one broadcast fit the set's registers with a whole output
// pair, and the output blocks are addressable (maxScaledOCB).
func (s *isa) checkRestore(pl restorePlan) error {
	if pl.k < 1 || pl.pad < 0 || pl.ocbs < 1 {
		return fmt.Errorf("%s restore plan %+v: k and ocbs must be at least 1 and pad at least 0", s.name, pl)
	}
	if pl.ocbs > maxScaledOCB {
		return fmt.Errorf("%s: output block %d is no scaled index away (scale 1 or 2)", s.restoreName(pl, pl.ocbs), pl.ocbs-1)
	}
	for ocb := 1; ocb <= pl.ocbs; ocb++ {
		if t := s.maxBlock(pl, ocb); t&^1 < 2 {
			return fmt.Errorf("%s: register budget: %d partials of a 2-pixel block + %d weights + %d broadcast > %d vector registers",
				s.restoreName(pl, ocb), ocb*pl.partials(2), ocb*pl.k, s.restoreBcastRegs(pl), s.numVecRegs())
		}
	}
	return nil
}

// restoreName is the kernel of plan pl for ocb output blocks a call: the
// O<ocb> suffix only where the plan has several.
func (s *isa) restoreName(pl restorePlan, ocb int) string {
	n := fmt.Sprintf("%sRestoreK%dP%d", s.name, pl.k, pl.pad)
	if pl.ocbs > 1 {
		n += fmt.Sprintf("O%d", ocb)
	}
	return n
}

// restoreTaps returns the taps kw that reach an output pixel of parity q
// (asm.RestoreTap).
func restoreTaps(k, pad, q int) []int {
	var taps []int
	for kw := 0; kw < k; kw++ {
		if _, ok := asm.RestoreTap(q, pad, kw); ok {
			taps = append(taps, kw)
		}
	}
	return taps
}

// partials is the number of partial accumulators a block of t output
// pixels needs for one output block: one per (pixel, tap), so that no
// accumulator takes two dependent FMAs in one input channel's step (an
// odd column of K=3 has two taps; chained, they made a block
// latency-bound at 75%), or one per pixel when chained.
func (pl restorePlan) partials(t int) int {
	if pl.chained {
		return t
	}
	n := 0
	for x := 0; x < t; x++ {
		n += len(restoreTaps(pl.k, pl.pad, x%2))
	}
	return n
}

// maxBlock is the most output pixels a block of ocb output blocks holds:
// ocb*(partials + K weight vectors) + the broadcast registers <= the
// set's registers, and at most restoreMaxPix where the set has one.
func (s *isa) maxBlock(pl restorePlan, ocb int) int {
	t := 0
	for ocb*(pl.partials(t+1)+pl.k)+s.restoreBcastRegs(pl) <= s.numVecRegs() && (s.restoreMaxPix == 0 || t < s.restoreMaxPix) {
		t++
	}
	return t
}

// restoreFamily is the fused stride-2 restore kernels of the set's
// restorePlans.
type restoreFamily struct{}

func (restoreFamily) emit(g *gen) error {
	for _, pl := range g.restorePlans {
		if err := g.checkRestore(pl); err != nil {
			return err
		}
		for ocb := 1; ocb <= pl.ocbs; ocb++ {
			g.restoreKernel(pl, ocb)
		}
	}
	return nil
}

// table writes <S>Restore.
func (restoreFamily) table(g *gen, b *bytes.Buffer) {
	fmt.Fprintf(b, "// %sRestore lists the fused stride-2 restore kernels; Fn[ocb-1] takes ocb\n", g.name)
	fmt.Fprintf(b, "// output blocks a call and MaxPix[ocb-1] output pixels a block.\n")
	fmt.Fprintf(b, "var %sRestore = []RestoreKernel{\n", g.name)
	for _, pl := range g.restorePlans {
		var pix, fns []int
		for ocb := 1; ocb <= pl.ocbs; ocb++ {
			pix = append(pix, g.maxBlock(pl, ocb))
			fns = append(fns, ocb)
		}
		fmt.Fprintf(b, "\t{K: %d, Pad: %d, MaxPix: []int%s, Fn: []func(*Params){", pl.k, pl.pad, emit.IntList(pix))
		for i, ocb := range fns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(g.restoreName(pl, ocb))
		}
		b.WriteString("}},\n")
	}
	fmt.Fprintf(b, "}\n\n")
}

// restore emits one fused stride-2 restore kernel (the second contract of
// package asm): both horizontal phases of an output row at once, ocb
// output blocks. Partial (block o, pixel x, tap kw) accumulates in its own
// register, the first partial of each pixel starting at the bias, the
// others at zero; the epilogue adds them up. For each input channel the
// step loads the K weight vectors of each block, then takes each input
// column the block reads once (AVX2, and AVX-512 plans with regBcast:
// one broadcast; otherwise as the embedded broadcast of each FMA) into
// every FMA that column feeds.
type restore struct {
	*gen
	name string
	restorePlan
	ocb          int
	maxPix, step int // pixels: most in a block; a whole step (even)
	emin, emax   int
}

// restoreKernel emits the kernel of plan pl (checked) for ocb blocks.
func (g *gen) restoreKernel(pl restorePlan, ocb int) {
	c := g.c
	k, pad := pl.k, pl.pad
	r := &restore{gen: g, name: g.restoreName(pl, ocb), restorePlan: pl, ocb: ocb}
	g.emitted.Begin(caps.Restore)
	r.emin, r.emax = asm.RestoreSpan(k, pad)
	r.maxPix = g.maxBlock(pl, ocb)
	r.step = r.maxPix &^ 1
	c.Function(r.name)
	c.Pragma("noescape")
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(p *Params)")
	c.Doc(
		fmt.Sprintf("%s is the %s fused stride-2 restore kernel for a %d-wide kernel with", r.name, g.title, k),
		fmt.Sprintf("padding %d (input columns %d..%d of each output pair), up to %d output pixels", pad, r.emin, r.emax, r.maxPix),
		fmt.Sprintf("a block. It computes the restore loop of the package comment with OCB = %d,", ocb),
		fmt.Sprintf("block %d, KW = %d and Pix, ICB, KH >= 1.", g.block, k),
	)
	g.prologue(r.label, true)
	if ocb > 1 {
		c.MOVQ(field(asm.OffWeiOCB), regWeiOCB)
	}
	// Only the last block of a call can be odd, so t/2 input columns is
	// exact wherever the loop goes on.
	vb := g.vecBytes()
	g.pixelLoop(r.label, r.step, r.maxPix, true, r.emitBlock,
		func(t int) int { return t / 2 * vb }, func(t int) int { return t * vb })
}

func (r *restore) label(s string) string { return r.name + "_" + s }

// regBcast reports whether the kernel broadcasts into a register: its
// plan says so, or the set has no embedded broadcasts.
func (r *restore) regBcast() bool { return r.restorePlan.regBcast || !r.embedded }

// bcast is the broadcast register (a register-broadcast kernel only): the
// last one.
func (r *restore) bcast() reg.VecPhysical { return r.vec(r.numVecRegs() - 1) }

// wreg is the register of block o's tap kw weights: right after the
// partials of the widest block.
func (r *restore) wreg(o, kw int) reg.VecPhysical {
	return r.vec(r.ocb*r.partials(r.maxPix) + o*r.k + kw)
}

// emitBlock emits the reduction and epilogue for t output pixels.
func (r *restore) emitBlock(t int) {
	c := r.c
	vb := r.vecBytes()
	id := fmt.Sprintf("t%d", t)
	c.Commentf("%d output pixel(s)", t)

	// Partial accumulators: part[o][x][n] for the n-th tap of pixel x of
	// block o (one, part[o][x][0], for all of them when chained).
	part := make([][][]reg.VecPhysical, r.ocb)
	next := 0
	for o := range part {
		part[o] = make([][]reg.VecPhysical, t)
	}
	feeds := map[int][][2]int{} // input column -> (pixel, tap index)
	used := map[int]bool{}
	maxCol := 0
	for o := 0; o < r.ocb; o++ {
		for x := 0; x < t; x++ {
			j, q := x/2, x%2
			for n, kw := range restoreTaps(r.k, r.pad, q) {
				if n == 0 || !r.chained {
					part[o][x] = append(part[o][x], r.vec(next))
					next++
				}
				if o > 0 {
					continue
				}
				e, _ := asm.RestoreTap(q, r.pad, kw)
				col := j + e - r.emin
				feeds[col] = append(feeds[col], [2]int{x, n})
				used[kw] = true
				maxCol = max(maxCol, col)
			}
		}
	}
	c.MOVQ(field(asm.OffBias), regTmp)
	for o := 0; o < r.ocb; o++ {
		c.VMOVUPS(operand.Mem{Base: regTmp, Disp: disp32(o * vb)}, part[o][0][0])
		for x := 0; x < t; x++ {
			for n, a := range part[o][x] {
				switch {
				case x == 0 && n == 0:
				case n == 0:
					c.VMOVAPS(part[o][0][0], a)
				default:
					c.VXORPS(a, a, a)
				}
			}
		}
	}
	r.edgeFlags(r.label, id, t)
	r.openTapLoops(r.label(id+"_icb"), r.label(id+"_kh"))
	// One kernel row of all the block's input channels; an edge block
	// leaves out column 0 (the row's first pair's taps left of the input,
	// EdgeL) or its last column (the last pair's taps right of it, EdgeR).
	body := func(skipFirst, skipLast bool) {
		for i := 0; i < r.block; i++ {
			for o := 0; o < r.ocb; o++ {
				for kw := 0; kw < r.k; kw++ {
					if used[kw] {
						c.VMOVUPS(scaled(regWei, regWeiOCB, kw*r.tapBytes()+i*vb, o), r.wreg(o, kw))
					}
				}
			}
			for col := 0; col <= maxCol; col++ {
				if len(feeds[col]) == 0 || skipFirst && col == 0 || skipLast && col == maxCol {
					continue
				}
				in := operand.Mem{Base: regSrc, Disp: disp32(col*vb + i*4)}
				if r.regBcast() {
					c.VBROADCASTSS(in, r.bcast())
				}
				for _, f := range feeds[col] {
					x, n := f[0], f[1]
					kw := restoreTaps(r.k, r.pad, x%2)[n]
					for o := 0; o < r.ocb; o++ {
						acc := part[o][x][min(n, len(part[o][x])-1)]
						if !r.regBcast() {
							c.VFMADD231PS_BCST(in, r.wreg(o, kw), acc)
						} else {
							c.VFMADD231PS(r.wreg(o, kw), r.bcast(), acc)
						}
					}
				}
			}
		}
	}
	c.TESTQ(regEdge, regEdge)
	c.JZ(operand.LabelRef(r.label(id + "_inner")))
	c.CMPQ(regEdge, imm(1))
	c.JE(operand.LabelRef(r.label(id + "_edgel")))
	c.CMPQ(regEdge, imm(2))
	c.JE(operand.LabelRef(r.label(id + "_edger")))
	body(true, true)
	c.JMP(operand.LabelRef(r.label(id + "_khnext")))
	c.Label(r.label(id + "_edgel"))
	body(true, false)
	c.JMP(operand.LabelRef(r.label(id + "_khnext")))
	c.Label(r.label(id + "_edger"))
	body(false, true)
	c.JMP(operand.LabelRef(r.label(id + "_khnext")))
	c.Label(r.label(id + "_inner"))
	body(false, false)
	c.Label(r.label(id + "_khnext"))
	c.ADDQ(field(asm.OffSrcRow), regSrc)
	c.ADDQ(field(asm.OffWeiRow), regWei)
	c.DECQ(regKH)
	c.JNZ(operand.LabelRef(r.label(id + "_kh")))
	r.nextInputBlock(r.label(id + "_icb"))

	// Epilogue: sum the partials, residual, ReLU, one store per output
	// vector, in order.
	for o := 0; o < r.ocb; o++ {
		for x := 0; x < t; x++ {
			for _, a := range part[o][x][1:] {
				c.VADDPS(a, part[o][x][0], part[o][x][0])
			}
		}
	}
	if r.ocb > 1 {
		c.MOVQ(field(asm.OffDstOCB), regICB)
	}
	var accs []reg.VecPhysical
	var at []func(base reg.Register) operand.Mem
	for o := 0; o < r.ocb; o++ {
		for x := 0; x < t; x++ {
			accs = append(accs, part[o][x][0])
			at = append(at, func(base reg.Register) operand.Mem { return scaled(base, regICB, x*vb, o) })
		}
	}
	zero := r.bcast()
	if !r.regBcast() {
		zero = r.wreg(0, 0) // the weights are spent by now
	}
	r.epilogue(r.label, id, accs, at, zero, regDst)
}
