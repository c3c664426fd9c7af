package main

import (
	"bytes"
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/gen/internal/caps"
)

// The fused stride-2 restore family: the kernels of package asm's restore
// contract.

// restorePlan is one fused stride-2 restore kernel generated: kernel
// width k and padding pad. K=3, P=1 is the spatial bottleneck's restore;
// K=2, P=0 and K=4, P=1 are the usual upsampling layers of U-Nets and
// decoders.
//
// Each takes one output block a call, its K weight vectors in registers.
// (Forms for 2-3 blocks with the weights as FMA memory operands were
// measured 15-30% slower than the phase kernels on every ImageNet shape,
// load-bound, and are not generated.)
type restorePlan struct {
	k, pad int
	// chained: a pixel takes all its taps into one accumulator rather
	// than one partial per tap. So for K=4, whose pixels have two taps
	// each: one partial per tap left it room for 5 pixels a block, with 9
	// loads to 10 FMAs; chained, 11 fit, and each accumulator's two FMAs
	// of a step sit among 18 others. Interleaved Upsample benchmarks:
	// 72-78 -> 93-104 GFLOP/s at 64 channels 28 -> 56, 61-68 -> 94-100 at
	// 128 channels 14 -> 28. Chaining K=3 (12 pixels a block) measured
	// slower: blocks of 12 split 16- and 28-pixel rows badly
	// (cifar-32x16's restore 10.0 -> 12.9 us, in-128x28's 504 -> 577 us).
	chained bool
}

var restorePlans = []restorePlan{{k: 2, pad: 0}, {k: 3, pad: 1}, {k: 4, pad: 1, chained: true}}

// check returns an error unless the widest block's partials, the K weight
// vectors and one broadcast fit in 16 ymm with a whole output pair.
func (pl restorePlan) check() error {
	if pl.k < 1 || pl.pad < 0 {
		return fmt.Errorf("restore plan %+v: k must be at least 1 and pad at least 0", pl)
	}
	if t := pl.maxBlock(); t&^1 < 2 {
		return fmt.Errorf("%s: register budget: %d partials of a 2-pixel block + %d weights + 1 broadcast > %d ymm",
			restoreName(pl.k, pl.pad), pl.partials(2), pl.k, numVecRegs)
	}
	return nil
}

func restoreName(k, pad int) string { return fmt.Sprintf("AVX2RestoreK%dP%d", k, pad) }

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
// pixels needs: one per (pixel, tap), so that no accumulator takes two
// dependent FMAs in one input channel's step (an odd column of K=3 has
// two taps; chained, they made a block latency-bound at 75%), or one per
// pixel when chained.
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

// maxBlock is the most output pixels a block holds: partial accumulators +
// K weight vectors + 1 broadcast <= 16 registers.
func (pl restorePlan) maxBlock() int {
	t := 0
	for pl.partials(t+1)+pl.k+1 <= numVecRegs {
		t++
	}
	return t
}

// restoreFamily is the fused stride-2 restore kernels of restorePlans.
type restoreFamily struct{}

func (restoreFamily) emit(c *build.Context) error {
	for _, pl := range restorePlans {
		if err := pl.check(); err != nil {
			return err
		}
		restoreKernel(c, pl)
	}
	return nil
}

// table writes AVX2Restore.
func (restoreFamily) table(b *bytes.Buffer) {
	fmt.Fprintf(b, "// AVX2Restore lists the fused stride-2 restore kernels; Fn[ocb-1] takes ocb\n")
	fmt.Fprintf(b, "// output blocks a call and MaxPix[ocb-1] output pixels a block.\n")
	fmt.Fprintf(b, "var AVX2Restore = []RestoreKernel{\n")
	for _, pl := range restorePlans {
		fmt.Fprintf(b, "\t{K: %d, Pad: %d, MaxPix: []int{%d}, Fn: []func(*Params){%s}},\n",
			pl.k, pl.pad, pl.maxBlock(), restoreName(pl.k, pl.pad))
	}
	fmt.Fprintf(b, "}\n\n")
}

// restore emits one fused stride-2 restore kernel (the second contract of
// package asm): both horizontal phases of an output row at once, one output
// block. Partial (pixel x, tap kw) accumulates in its own register, the
// first partial of each pixel starting at the bias, the others at zero;
// the epilogue adds them up. For each input channel the step loads the K
// weight vectors, broadcasts each input column the block reads once and
// issues every FMA that column feeds.
type restore struct {
	c    *build.Context
	name string
	restorePlan
	maxPix, step int // pixels: most in a block; a whole step (even)
	emin, emax   int
}

// restoreKernel emits the kernel of plan pl (checked).
func restoreKernel(c *build.Context, pl restorePlan) {
	k, pad := pl.k, pl.pad
	r := &restore{c: c, name: restoreName(k, pad), restorePlan: pl}
	emitted.Begin(caps.Restore)
	r.emin, r.emax = asm.RestoreSpan(k, pad)
	r.maxPix = pl.maxBlock()
	r.step = r.maxPix &^ 1
	c.Function(r.name)
	c.Pragma("noescape")
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(p *Params)")
	c.Doc(
		fmt.Sprintf("%s is the AVX2+FMA fused stride-2 restore kernel for a %d-wide kernel with", r.name, k),
		fmt.Sprintf("padding %d (input columns %d..%d of each output pair), up to %d output pixels", pad, r.emin, r.emax, r.maxPix),
		"a block. It computes the restore loop of the package comment with OCB = 1,",
		fmt.Sprintf("block 8, KW = %d and Pix, ICB, KH >= 1.", k),
	)
	prologue(c, r.label, true)
	// Only the last block of a call can be odd, so t/2 input columns is
	// exact wherever the loop goes on.
	pixelLoop(c, r.label, r.step, r.maxPix, true, r.block,
		func(t int) int { return t / 2 * vecBytes }, func(t int) int { return t * vecBytes })
}

func (r *restore) label(s string) string { return r.name + "_" + s }

func (r *restore) bcast() reg.VecPhysical { return ymm(15) }

// wreg is the register of tap kw's weights: right after the partials of
// the widest block.
func (r *restore) wreg(kw int) reg.VecPhysical {
	return ymm(r.partials(r.maxPix) + kw)
}

// block emits the reduction and epilogue for t output pixels.
func (r *restore) block(t int) {
	c := r.c
	id := fmt.Sprintf("t%d", t)
	c.Commentf("%d output pixel(s)", t)

	// Partial accumulators: part[x][n] for the n-th tap of pixel x (one,
	// part[x][0], for all of them when chained).
	part := make([][]reg.VecPhysical, t)
	next := 0
	feeds := map[int][][2]int{} // input column -> (pixel, tap index)
	used := map[int]bool{}
	maxCol := 0
	chained := r.chained
	for x := 0; x < t; x++ {
		j, q := x/2, x%2
		for n, kw := range restoreTaps(r.k, r.pad, q) {
			if n == 0 || !chained {
				part[x] = append(part[x], ymm(next))
				next++
			}
			e, _ := asm.RestoreTap(q, r.pad, kw)
			col := j + e - r.emin
			feeds[col] = append(feeds[col], [2]int{x, n})
			used[kw] = true
			maxCol = max(maxCol, col)
		}
	}
	c.MOVQ(field(asm.OffBias), regTmp)
	c.VMOVUPS(operand.Mem{Base: regTmp}, part[0][0])
	for x := 0; x < t; x++ {
		for n, a := range part[x] {
			switch {
			case x == 0 && n == 0:
			case n == 0:
				c.VMOVAPS(part[0][0], a)
			default:
				c.VXORPS(a, a, a)
			}
		}
	}
	edgeFlags(c, r.label, id, t)
	c.MOVQ(regSrcBase, regSrc)
	c.MOVQ(field(asm.OffWei), regWei)
	c.MOVQ(field(asm.OffICB), regICB)
	c.Label(r.label(id + "_icb"))
	c.MOVQ(field(asm.OffKH), regKH)
	c.Label(r.label(id + "_kh"))
	// One kernel row of all 8 input channels; an edge block leaves out
	// column 0 (the row's first pair's taps left of the input, EdgeL) or
	// its last column (the last pair's taps right of it, EdgeR).
	body := func(skipFirst, skipLast bool) {
		for i := 0; i < block; i++ {
			for kw := 0; kw < r.k; kw++ {
				if used[kw] {
					c.VMOVUPS(operand.Mem{Base: regWei, Disp: kw*tapBytes + i*vecBytes}, r.wreg(kw))
				}
			}
			for col := 0; col <= maxCol; col++ {
				if len(feeds[col]) == 0 || skipFirst && col == 0 || skipLast && col == maxCol {
					continue
				}
				c.VBROADCASTSS(operand.Mem{Base: regSrc, Disp: col*vecBytes + i*4}, r.bcast())
				for _, f := range feeds[col] {
					x, n := f[0], f[1]
					kw := restoreTaps(r.k, r.pad, x%2)[n]
					c.VFMADD231PS(r.wreg(kw), r.bcast(), part[x][min(n, len(part[x])-1)])
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
	nextInputBlock(c, r.label(id+"_icb"))

	// Epilogue: sum the partials, residual, ReLU, one store per output
	// vector, in order.
	for x := 0; x < t; x++ {
		for _, a := range part[x][1:] {
			c.VADDPS(a, part[x][0], part[x][0])
		}
	}
	accs := make([]reg.VecPhysical, t)
	at := make([]func(base reg.Register) operand.Mem, t)
	for x := 0; x < t; x++ {
		accs[x] = part[x][0]
		at[x] = func(base reg.Register) operand.Mem { return operand.Mem{Base: base, Disp: x * vecBytes} }
	}
	epilogue(c, r.label, id, accs, at, r.bcast())
}
