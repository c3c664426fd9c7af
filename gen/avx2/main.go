// Command avx2 generates sbconv's AVX2+FMA microkernels (block 8:
// nChw8c activations, OIhw8i8o weights) into ../asm:
//
//	conv_avx2_amd64.s        the kernels
//	conv_avx2_amd64.go       their Go declarations (avo stubs)
//	table_avx2_amd64.go      the lookup tables the driver dispatches through,
//	                         AVX2Caps and AVX2FMAPeakFLOPs
//
// It also emits AVX2MaxPool3x3S2, the max-pool contract's kernel (pool.go),
// and AVX2FMAPeak.
//
// AVX2Caps, the set's capabilities (asm.Caps: rows, edge flags, restore
// edge flags, prefetch), is derived from the emitted code: prologue and
// prefetch record on the kernel being written what they emit
// (gen/internal/caps), and a flag is set only where every kernel it
// speaks for has the code. TestCaps pins the result.
//
// Run it with `go generate ./...` from the repository root, or
// `go run ./avx2 -dir ../asm` from gen/. A test in this module regenerates
// into a temporary folder and fails on any difference from the committed
// files.
//
// Every kernel implements the contract of package asm (one call: Pix
// output pixels of one row x OCB output channel blocks, summed over ICB
// input blocks and a KH x KW tap window, bias/residual/ReLU fused into one
// store). One parameterised function, convKernel, emits every variant:
//
//   - ocb output channel blocks (1, 2 or 3): oc_blk in oneDNN's terms;
//   - urW output pixels per step (8, 6, 4 for ocb 1, 2, 3), with a
//     generated block for every size 1..urW and a pixel loop that splits
//     the last 2*urW-1 pixels or fewer into at most two near-equal blocks;
//   - the input pixel stride s (1, 2 or 4 pixels) and the output pixel
//     stride d (1 for a convolution, 2 for one phase of a stride-2
//     transposed convolution), both as immediate displacements;
//   - any KH x KW window and any number of input blocks through runtime
//     tap and channel loops, and a pointwise form for 1x1 windows whose
//     reduction is a single loop over input blocks (ResNet's bottleneck
//     1x1 convolutions, and the 1x1 phases of stride-2 restores).
//
// A variant's name spells these out (kernelName): AVX2Conv, or AVX2Conv1x1
// for the pointwise form, then O<ocb> output channel blocks a call,
// Src<s> the input pixel stride and Dst<d> the output pixel stride, both
// in pixels. AVX2ConvO2Src4Dst1 is the general kernel for 2 output blocks
// reading every 4th input pixel and writing every output pixel (SrcPix =
// 4*32, DstPix = 32 bytes); AVX2Conv1x1O1Src1Dst2 the pointwise one that
// writes every other output pixel, one phase of a stride-2 restore.
//
// The register plan is oneDNN's jit_avx2_conv_kernel_f32: accumulator
// (output block k, pixel j) is Y(urW*k + j); the ocb weight vectors of the
// current input channel live in the next ocb registers; one register takes
// each broadcast input value. So urW*ocb + ocb + 1 <= 16, asserted below.
// For each of the 8 input channels of a block the inner step loads ocb
// weight vectors and urW broadcasts and issues urW*ocb FMAs.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"log"
	"os"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
	"github.com/mmcloughlin/avo/reg"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/gen/internal/caps"
	"github.com/sbconv/sbconv/gen/internal/emit"
)

const (
	block    = 8         // channels per block (one ymm register)
	vecBytes = block * 4 // bytes of one pixel's channel block
	tapBytes = block * block * 4
)

// Variants generated: output channel blocks -> pixels per step.
var urWFor = map[int]int{1: 8, 2: 6, 3: 4}

var (
	ocbs       = []int{1, 2, 3}
	srcStrides = []int{1, 2, 4} // input pixel strides, in pixels
	dstStrides = []int{1, 2}    // output pixel strides, in pixels
)

// used reports whether the driver ever asks for input pixel stride s with
// output pixel stride d: a convolution writes every pixel (d = 1) and a
// transposed-convolution phase reads every pixel (s = 1), so s = d = 2
// and s = 4, d = 2 never occur and are not generated. Stride 4 is the
// 3x3 reduce of a spatial-bottleneck block at a stage entry (stride 2
// twice).
func used(s, d int) bool { return s == 1 || d == 1 }

// Named register roles (general purpose).
var (
	regParams   = reg.RAX // *Params
	regSrcBase  = reg.RBX // input of the current pixel group
	regDst      = reg.RCX // output of the current pixel group
	regResDelta = reg.RDX // Res - Dst in bytes (residual addressed through Dst)
	regPix      = reg.RSI // pixels left
	regSrc      = reg.R8  // input cursor in the reduction loops
	regWei      = reg.R9  // weight cursor in the reduction loops
	regICB      = reg.R10 // input-block counter; DstOCB in the epilogue
	regKH       = reg.R11 // kh counter
	regKW       = reg.R12 // kw counter
	regWeiOCB   = reg.R13 // bytes between output blocks of weights
	regTmp      = reg.RDI // scratch
	regRow      = reg.R14 // row of the call (ABI0 code may use R14: the ABI wrapper restores g)
	regEdge     = reg.R15 // edge flags of the current block (no global is read, so R15 is ours)
)

func ymm(i int) reg.VecPhysical {
	return []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
		reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}[i]
}

// field addresses a Params field through regParams. The offsets are the
// asm.Off* constants, which a test in package asm pins to the struct.
func field(off int) operand.Mem { return operand.Mem{Base: regParams, Disp: off} }

// emitted records what each kernel written so far implements of the
// optional parts of package asm's contract (prologue and prefetch note it
// as they emit the code); the table's AVX2Caps is derived from it.
// generate resets it.
var emitted caps.Record

type kernel struct {
	c              *build.Context
	name           string
	ocb, urW, s, d int
	pointwise      bool // KH = KW = 1: the reduction is one loop over input blocks
}

func kernelName(ocb, s, d int, pointwise bool) string {
	if pointwise {
		return fmt.Sprintf("AVX2Conv1x1O%dSrc%dDst%d", ocb, s, d)
	}
	return fmt.Sprintf("AVX2ConvO%dSrc%dDst%d", ocb, s, d)
}

// convKernel emits one variant.
func convKernel(c *build.Context, ocb, s, d int, pointwise bool) {
	k := &kernel{c: c, name: kernelName(ocb, s, d, pointwise), ocb: ocb, urW: urWFor[ocb], s: s, d: d, pointwise: pointwise}
	if pointwise {
		emitted.Begin(caps.Conv1x1)
	} else {
		emitted.Begin(caps.Conv)
	}
	if need := k.urW*k.ocb + k.ocb + 1; need > 16 {
		log.Fatalf("%s: register budget: %d accumulators + %d weights + 1 broadcast = %d > 16 ymm",
			k.name, k.urW*k.ocb, k.ocb, need)
	}
	c.Function(k.name)
	c.Pragma("noescape")
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(p *Params)")
	window := "Pix, ICB, KH, KW >= 1"
	if pointwise {
		window = "Pix, ICB >= 1 and KH = KW = 1 (a pointwise window: one loop over input blocks)"
	}
	c.Doc(
		fmt.Sprintf("%s is the AVX2+FMA microkernel for %d output channel block(s), input pixel", k.name, ocb),
		fmt.Sprintf("stride %d and output pixel stride %d (SrcPix = %d, DstPix = %d bytes), %d pixels a step.", s, d, s*vecBytes, d*vecBytes, k.urW),
		"It computes the loop written out in the package comment, with OCB fixed",
		fmt.Sprintf("at %d, block 8, and %s.", ocb, window),
	)

	prologue(c, k.label, !pointwise)
	c.MOVQ(field(asm.OffWeiOCB), regWeiOCB)
	// Whole urW steps while at least 2*urW pixels are left, then the rest
	// in one block (<= urW) or two near-equal blocks, so no call ends in a
	// sliver of a block with too few accumulator chains to hide the FMA
	// latency (8 pixels at urW 6 run as 4+4, not 6+2).
	pixelLoop(c, k.label, k.urW, k.urW, false, k.block,
		func(t int) int { return t * s * vecBytes }, func(t int) int { return t * d * vecBytes })
}

// prologue loads the argument block and what every kernel keeps in
// registers for the whole call (the residual's distance from Dst), then
// opens the row loop: Dst, Src and Pix of row regRow (Rows of them, see
// package asm; pixelLoop closes it), with Src one tap back when EdgeL
// (edges: the kernel takes the edge flags, see edgeFlags).
func prologue(c *build.Context, label func(string) string, edges bool) {
	emitted.Now().Rows, emitted.Now().Edges = true, edges
	c.Load(c.Param("p"), regParams)
	c.MOVQ(field(asm.OffDst), regDst)
	c.MOVQ(field(asm.OffRes), regResDelta)
	c.TESTQ(regResDelta, regResDelta)
	c.JZ(operand.LabelRef(label("nores")))
	c.SUBQ(regDst, regResDelta)
	c.Label(label("nores"))
	c.XORQ(regRow, regRow)
	c.Label(label("row"))
	c.MOVQ(field(asm.OffSrcRows), regSrcBase)
	c.IMULQ(regRow, regSrcBase)
	c.ADDQ(field(asm.OffSrc), regSrcBase)
	c.MOVQ(field(asm.OffDstRows), regDst)
	c.IMULQ(regRow, regDst)
	c.ADDQ(field(asm.OffDst), regDst)
	c.MOVQ(field(asm.OffPix), regPix)
	if edges {
		c.CMPQ(field(asm.OffEdgeL), imm(0))
		c.JE(operand.LabelRef(label("noedge")))
		c.SUBQ(imm(uint64(vecBytes)), regSrcBase) // the contract's Src: pixel 0's tap (0, 0)
		c.Label(label("noedge"))
	}
}

// pixelLoop emits the loop over a call's Pix pixels, closes the row loop
// prologue opened, then VZEROUPPER and RET: whole blocks of step pixels while 2*step or more are left, then the
// rest as one block (at most maxPix pixels) or two, the first of
// ceil(rest/2) pixels (rounded up to even when evenBlocks: the restore's
// blocks must start on an output pair) and the second what remains.
// block(t) emits a block of t pixels; srcBytes(t) and dstBytes(t) are how
// far one moves Src and Dst.
func pixelLoop(c *build.Context, label func(string) string, step, maxPix int, evenBlocks bool,
	block func(t int), srcBytes, dstBytes func(t int) int) {
	c.Label(label("loop"))
	c.CMPQ(regPix, imm(uint64(2*step)))
	c.JGE(operand.LabelRef(label(fmt.Sprintf("blk%d", step))))
	c.CMPQ(regPix, imm(uint64(maxPix)))
	c.JLE(operand.LabelRef(label("rest")))
	c.MOVQ(regPix, regTmp) // two blocks: the first of ceil(pix/2)
	c.INCQ(regTmp)
	c.SHRQ(imm(1), regTmp)
	if evenBlocks {
		c.INCQ(regTmp) // rounded up to even
		c.ANDQ(operand.I8(-2), regTmp)
	}
	c.JMP(operand.LabelRef(label("dispatch")))
	c.Label(label("rest"))
	c.TESTQ(regPix, regPix)
	c.JZ(operand.LabelRef(label("done")))
	c.MOVQ(regPix, regTmp)
	c.Label(label("dispatch"))
	for t := maxPix; t >= 1; t-- {
		c.CMPQ(regTmp, imm(uint64(t)))
		c.JE(operand.LabelRef(label(fmt.Sprintf("blk%d", t))))
	}
	c.JMP(operand.LabelRef(label("done"))) // unreachable: 1 <= t <= maxPix
	for t := maxPix; t >= 1; t-- {
		c.Label(label(fmt.Sprintf("blk%d", t)))
		block(t)
		c.ADDQ(imm(uint64(srcBytes(t))), regSrcBase)
		c.ADDQ(imm(uint64(dstBytes(t))), regDst)
		c.SUBQ(imm(uint64(t)), regPix)
		c.JMP(operand.LabelRef(label("loop")))
	}
	c.Label(label("done"))
	c.INCQ(regRow) // next row, while fewer than Rows (0 is read as 1) are done
	c.CMPQ(regRow, field(asm.OffRows))
	c.JL(operand.LabelRef(label("row")))
	c.VZEROUPPER()
	c.RET()
}

func (k *kernel) label(s string) string { return k.name + "_" + s }

func (k *kernel) acc(j, o int) reg.VecPhysical { return ymm(k.urW*o + j) }
func (k *kernel) wreg(o int) reg.VecPhysical   { return ymm(k.urW*k.ocb + o) }
func (k *kernel) bcast() reg.VecPhysical       { return ymm(k.urW*k.ocb + k.ocb) }

// weightAt addresses the weights of output block o, input channel i at the
// current tap: o*WeiOCB through the index register (scale 1 or 2).
func (k *kernel) weightAt(o, i int) operand.Mem {
	m := operand.Mem{Base: regWei, Disp: i * vecBytes}
	if o > 0 {
		m.Index, m.Scale = regWeiOCB, uint8(o)
	}
	return m
}

// block emits the whole reduction and epilogue for t pixels (t <= urW).
func (k *kernel) block(t int) {
	c := k.c
	id := fmt.Sprintf("t%d", t)
	c.Commentf("%d pixel(s) x %d output block(s)", t, k.ocb)

	// Accumulators start at the bias.
	c.MOVQ(field(asm.OffBias), regTmp)
	for o := 0; o < k.ocb; o++ {
		c.VMOVUPS(operand.Mem{Base: regTmp, Disp: o * vecBytes}, k.acc(0, o))
		for j := 1; j < t; j++ {
			c.VMOVAPS(k.acc(0, o), k.acc(j, o))
		}
	}

	if !k.pointwise {
		edgeFlags(c, k.label, id, t)
	}

	c.MOVQ(regSrcBase, regSrc)
	c.MOVQ(field(asm.OffWei), regWei)
	c.MOVQ(field(asm.OffICB), regICB)
	c.Label(k.label(id + "_icb"))
	if k.pointwise {
		k.step(t)
		c.ADDQ(field(asm.OffSrcICB), regSrc)
		c.ADDQ(field(asm.OffWeiICB), regWei)
		c.DECQ(regICB)
		c.JNZ(operand.LabelRef(k.label(id + "_icb")))
	} else {
		c.MOVQ(field(asm.OffKH), regKH)
		c.Label(k.label(id + "_kh"))
		c.MOVQ(field(asm.OffKW), regKW)
		c.Label(k.label(id + "_kw"))
		// A row's edge pixel skips the tap over the padding: the first
		// tap of pixel 0 (bit 0 of regEdge), the last of pixel t-1 (bit 1).
		c.TESTQ(regEdge, regEdge)
		c.JZ(operand.LabelRef(k.label(id + "_full")))
		c.CMPQ(regKW, field(asm.OffKW))
		c.JNE(operand.LabelRef(k.label(id + "_notfirst")))
		c.TESTQ(operand.U32(1), regEdge)
		c.JZ(operand.LabelRef(k.label(id + "_notfirst")))
		k.stepSkip(t, 0)
		c.JMP(operand.LabelRef(k.label(id + "_next")))
		c.Label(k.label(id + "_notfirst"))
		c.CMPQ(regKW, imm(1))
		c.JNE(operand.LabelRef(k.label(id + "_full")))
		c.TESTQ(operand.U32(2), regEdge)
		c.JZ(operand.LabelRef(k.label(id + "_full")))
		k.stepSkip(t, t-1)
		c.JMP(operand.LabelRef(k.label(id + "_next")))
		c.Label(k.label(id + "_full"))
		k.step(t)
		c.Label(k.label(id + "_next"))
		k.prefetch(id)
		c.ADDQ(imm(uint64(vecBytes)), regSrc)
		c.ADDQ(imm(uint64(tapBytes)), regWei)
		c.DECQ(regKW)
		c.JNZ(operand.LabelRef(k.label(id + "_kw")))
		// Next kernel row: back over the KW taps, on by one row.
		c.MOVQ(field(asm.OffKW), regTmp)
		c.SHLQ(imm(5), regTmp) // KW * vecBytes
		c.SUBQ(regTmp, regSrc)
		c.ADDQ(field(asm.OffSrcRow), regSrc)
		c.SHLQ(imm(3), regTmp) // KW * tapBytes
		c.SUBQ(regTmp, regWei)
		c.ADDQ(field(asm.OffWeiRow), regWei)
		c.DECQ(regKH)
		c.JNZ(operand.LabelRef(k.label(id + "_kh")))
		// Next input block: back over the KH rows, on by one block.
		nextInputBlock(c, k.label(id+"_icb"))
	}

	// Epilogue: residual, ReLU, one store per output vector.
	c.MOVQ(field(asm.OffDstOCB), regICB)
	var accs []reg.VecPhysical
	var at []func(base reg.Register) operand.Mem
	for o := 0; o < k.ocb; o++ {
		for j := 0; j < t; j++ {
			accs = append(accs, k.acc(j, o))
			at = append(at, func(base reg.Register) operand.Mem { return k.outAt(base, o, j) })
		}
	}
	epilogue(c, k.label, id, accs, at, k.wreg(0))
}

// step emits the 8 input channels of one tap: for each, ocb weight loads,
// then per pixel one broadcast and ocb FMAs.
func (k *kernel) step(t int) {
	c := k.c
	for i := 0; i < block; i++ {
		for o := 0; o < k.ocb; o++ {
			c.VMOVUPS(k.weightAt(o, i), k.wreg(o))
		}
		for j := 0; j < t; j++ {
			c.VBROADCASTSS(operand.Mem{Base: regSrc, Disp: j*k.s*vecBytes + i*4}, k.bcast())
			for o := 0; o < k.ocb; o++ {
				c.VFMADD231PS(k.wreg(o), k.bcast(), k.acc(j, o))
			}
		}
	}
}

// prefetch emits, after a tap step, the prefetch of asm.PfLines lines
// from Pf into L2 while Pf < PfEnd, and moves Pf on in the argument block
// (see package asm). On in-512x7's spatial-bottleneck block this took the
// fastest of 15 samples from 1450-1816 us to 1203-1288 us (six rounds,
// alternating builds): its 9.4 MB layers stream their weights from
// memory, and without it each output-block group's first row waited for
// them. PREFETCHT1 and T2 measured alike and T0 7-25% slower; 3 or 6
// lines a step (T1) were 5-15% slower than 4, and so were 2 or 8 (T0)
// than 4 (T0).
func (k *kernel) prefetch(id string) {
	c := k.c
	emitted.Now().Prefetch = true
	c.MOVQ(field(asm.OffPf), regTmp)
	c.CMPQ(regTmp, field(asm.OffPfEnd))
	c.JAE(operand.LabelRef(k.label(id + "_nopf")))
	for i := 0; i < asm.PfLines; i++ {
		c.PREFETCHT1(operand.Mem{Base: regTmp, Disp: 64 * i})
	}
	c.ADDQ(imm(64*asm.PfLines), field(asm.OffPf))
	c.Label(k.label(id + "_nopf"))
}

// edgeFlags sets regEdge for a block of t pixels: bit 0 when the block
// starts the row and EdgeL, bit 1 when it ends the row and EdgeR.
func edgeFlags(c *build.Context, label func(string) string, id string, t int) {
	if !emitted.Now().Edges {
		log.Fatalf("%s: edge flags tested in a kernel whose prologue does not take them", label(id))
	}
	c.XORQ(regEdge, regEdge)
	c.CMPQ(regPix, field(asm.OffPix))
	c.JNE(operand.LabelRef(label(id + "_notleft")))
	c.MOVQ(field(asm.OffEdgeL), regEdge)
	c.Label(label(id + "_notleft"))
	c.CMPQ(regPix, imm(uint64(t)))
	c.JNE(operand.LabelRef(label(id + "_notright")))
	c.MOVQ(field(asm.OffEdgeR), regTmp)
	c.SHLQ(imm(1), regTmp)
	c.ORQ(regTmp, regEdge)
	c.Label(label(id + "_notright"))
}

// stepSkip is step without pixel skip's broadcast and FMAs: the tap of an
// edge pixel that lies in the padding (nothing at all for a lone pixel).
func (k *kernel) stepSkip(t, skip int) {
	c := k.c
	if t == 1 {
		return
	}
	for i := 0; i < block; i++ {
		for o := 0; o < k.ocb; o++ {
			c.VMOVUPS(k.weightAt(o, i), k.wreg(o))
		}
		for j := 0; j < t; j++ {
			if j == skip {
				continue
			}
			c.VBROADCASTSS(operand.Mem{Base: regSrc, Disp: j*k.s*vecBytes + i*4}, k.bcast())
			for o := 0; o < k.ocb; o++ {
				c.VFMADD231PS(k.wreg(o), k.bcast(), k.acc(j, o))
			}
		}
	}
}

// outAt addresses output (or residual, through base) block o, pixel j:
// o*DstOCB through regICB (which holds DstOCB in the epilogue).
func (k *kernel) outAt(base reg.Register, o, j int) operand.Mem {
	m := operand.Mem{Base: base, Disp: j * k.d * vecBytes}
	if o > 0 {
		m.Index, m.Scale = regICB, uint8(o)
	}
	return m
}

// restoreVariants are the fused stride-2 restore kernels generated, by
// kernel width and padding: K=3, P=1 is the spatial bottleneck's restore;
// K=2, P=0 and K=4, P=1 are the usual upsampling layers of U-Nets and
// decoders.
//
// Each takes one output block a call, its K weight vectors in registers.
// (Forms for 2-3 blocks with the weights as FMA memory operands were
// measured 15-30% slower than the phase kernels on every ImageNet shape,
// load-bound, and are not generated.)
var restoreVariants = []struct{ k, pad int }{{2, 0}, {3, 1}, {4, 1}}

// restoreChained reports whether a kernel's pixels each take all their
// taps into one accumulator rather than one partial per tap: K=4, whose
// pixels have two taps each. One partial per tap left it room for 5 pixels
// a block, with 9 loads to 10 FMAs; chained, 11 fit, and each
// accumulator's two FMAs of a step sit among 18 others. Interleaved
// Upsample benchmarks: 72-78 -> 93-104 GFLOP/s at 64 channels 28 -> 56,
// 61-68 -> 94-100 at 128 channels 14 -> 28. Chaining K=3 (12 pixels a
// block) measured slower: blocks of 12 split 16- and 28-pixel rows badly
// (cifar-32x16's restore 10.0 -> 12.9 us, in-128x28's 504 -> 577 us).
func restoreChained(k, pad int) bool { return k == 4 }

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

// restorePartials is the number of partial accumulators a block of t
// output pixels needs: one per (pixel, tap), so that no accumulator takes
// two dependent FMAs in one input channel's step (an odd column of K=3 has
// two taps; chained, they made a block latency-bound at 75%).
func restorePartials(k, pad, t int) int {
	if restoreChained(k, pad) {
		return t
	}
	n := 0
	for x := 0; x < t; x++ {
		n += len(restoreTaps(k, pad, x%2))
	}
	return n
}

// restoreMaxPix is the most output pixels a block holds: partial
// accumulators + K weight vectors + 1 broadcast <= 16 registers.
func restoreMaxPix(k, pad int) int {
	t := 0
	for restorePartials(k, pad, t+1)+k+1 <= 16 {
		t++
	}
	return t
}

// restore emits one fused stride-2 restore kernel (the second contract of
// package asm): both horizontal phases of an output row at once, one output
// block. Partial (pixel x, tap kw) accumulates in its own register, the
// first partial of each pixel starting at the bias, the others at zero;
// the epilogue adds them up. For each input channel the step loads the K
// weight vectors, broadcasts each input column the block reads once and
// issues every FMA that column feeds.
type restore struct {
	c            *build.Context
	name         string
	k, pad       int
	maxPix, step int // pixels: most in a block; a whole step (even)
	emin, emax   int
}

func restoreKernel(c *build.Context, k, pad int) {
	r := &restore{c: c, name: restoreName(k, pad), k: k, pad: pad}
	emitted.Begin(caps.Restore)
	r.emin, r.emax = asm.RestoreSpan(k, pad)
	r.maxPix = restoreMaxPix(k, pad)
	r.step = r.maxPix &^ 1
	if need := restorePartials(k, pad, r.maxPix) + k + 1; need > 16 || r.step < 2 {
		log.Fatalf("%s: register budget: %d ymm > 16 (or no whole pair fits)", r.name, need)
	}
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
	return ymm(restorePartials(r.k, r.pad, r.maxPix) + kw)
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
	chained := restoreChained(r.k, r.pad)
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

// nextInputBlock emits the end of the input-block loop: Src and Wei back
// over the KH kernel rows and on by one input block, then the loop branch.
func nextInputBlock(c *build.Context, loop string) {
	c.MOVQ(field(asm.OffKH), regTmp)
	c.IMULQ(field(asm.OffSrcRow), regTmp)
	c.SUBQ(regTmp, regSrc)
	c.ADDQ(field(asm.OffSrcICB), regSrc)
	c.MOVQ(field(asm.OffKH), regTmp)
	c.IMULQ(field(asm.OffWeiRow), regTmp)
	c.SUBQ(regTmp, regWei)
	c.ADDQ(field(asm.OffWeiICB), regWei)
	c.DECQ(regICB)
	c.JNZ(operand.LabelRef(loop))
}

// epilogue emits a block's single store of each output vector: the
// residual added (at[i] through the residual's distance from Dst), ReLU,
// then the store at at[i](regDst). zero is a register free by then.
func epilogue(c *build.Context, label func(string) string, id string,
	accs []reg.VecPhysical, at []func(base reg.Register) operand.Mem, zero reg.VecPhysical) {
	c.CMPQ(field(asm.OffRes), imm(0)) // Res itself: Res == Dst would give a zero delta
	c.JE(operand.LabelRef(label(id + "_relu")))
	c.LEAQ(operand.Mem{Base: regDst, Index: regResDelta, Scale: 1}, regTmp)
	for i, a := range accs {
		c.VADDPS(at[i](regTmp), a, a)
	}
	c.Label(label(id + "_relu"))
	c.CMPQ(field(asm.OffReLU), imm(0))
	c.JE(operand.LabelRef(label(id + "_store")))
	c.VXORPS(zero, zero, zero)
	for _, a := range accs {
		// max(0, acc) with acc as the second source: NaN stays NaN, as
		// in PyTorch's relu.
		c.VMAXPS(a, zero, a)
	}
	c.Label(label(id + "_store"))
	for i, a := range accs {
		c.VMOVUPS(a, at[i](regDst))
	}
}

// peakChains is the independent accumulator chains of AVX2FMAPeak:
// enough to cover the FMA latency on two ports.
const peakChains = 12

// peakFLOPs is the floating-point operations of one AVX2FMAPeak
// iteration, written into the table as AVX2FMAPeakFLOPs: each FMA is 8
// lanes x (multiply + add).
const peakFLOPs = peakChains * block * 2

// fmaPeak emits a register-only FMA loop: peakChains independent
// accumulator chains and nothing else. Its time measures this CPU's AVX2
// FMA peak, the honest denominator of "percent of peak".
func fmaPeak(c *build.Context) {
	if peakChains+2 > 16 {
		log.Fatalf("AVX2FMAPeak: %d chains + 2 sources > 16 ymm", peakChains)
	}
	emitted.Begin(caps.Other)
	c.Function("AVX2FMAPeak")
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(n int)")
	c.Doc(
		fmt.Sprintf("AVX2FMAPeak runs n iterations of %d independent 8-lane FMAs", peakChains),
		fmt.Sprintf("(%d floating-point operations an iteration, AVX2FMAPeakFLOPs) on registers only.", peakFLOPs),
	)
	n := regPix
	c.Load(c.Param("n"), n)
	for i := 0; i < peakChains+2; i++ {
		c.VXORPS(ymm(i), ymm(i), ymm(i))
	}
	c.TESTQ(n, n)
	c.JLE(operand.LabelRef("AVX2FMAPeak_done"))
	c.Label("AVX2FMAPeak_loop")
	for i := 0; i < peakChains; i++ {
		c.VFMADD231PS(ymm(peakChains), ymm(peakChains+1), ymm(i))
	}
	c.DECQ(n)
	c.JNZ(operand.LabelRef("AVX2FMAPeak_loop"))
	c.Label("AVX2FMAPeak_done")
	c.VZEROUPPER()
	c.RET()
}

// table writes the Go lookup table of the generated kernels.
func table() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by command: go run ./avx2 -dir ../asm. DO NOT EDIT.\n\n")
	fmt.Fprintf(&b, "//go:build !purego\n\npackage asm\n\n")
	fmt.Fprintf(&b, "// AVX2MaxOCB is the most output channel blocks one AVX2 microkernel call takes.\n")
	fmt.Fprintf(&b, "const AVX2MaxOCB = %d\n\n", len(ocbs))
	fmt.Fprintf(&b, "%s\n", caps.Decl("AVX2", "gen/avx2", "AVX2MaxOCB", emitted.Caps(block, len(ocbs))))
	fmt.Fprintf(&b, "// AVX2FMAPeakFLOPs is the floating-point operations of one AVX2FMAPeak iteration.\n")
	fmt.Fprintf(&b, "const AVX2FMAPeakFLOPs = %d\n\n", peakFLOPs)
	fmt.Fprintf(&b, "// AVX2Restore lists the fused stride-2 restore kernels; Fn[ocb-1] takes ocb\n")
	fmt.Fprintf(&b, "// output blocks a call and MaxPix[ocb-1] output pixels a block.\n")
	fmt.Fprintf(&b, "var AVX2Restore = []RestoreKernel{\n")
	for _, v := range restoreVariants {
		fmt.Fprintf(&b, "\t{K: %d, Pad: %d, MaxPix: []int{%d}, Fn: []func(*Params){%s}},\n",
			v.k, v.pad, restoreMaxPix(v.k, v.pad), restoreName(v.k, v.pad))
	}
	fmt.Fprintf(&b, "}\n\n")
	urw := make([]int, len(ocbs))
	for i, o := range ocbs {
		urw[i] = urWFor[o]
	}
	emit.ConvTables(&b, "AVX2", urw, srcStrides, dstStrides, func(o, s, d int, pw bool) string {
		if !used(s, d) {
			return ""
		}
		return kernelName(o, s, d, pw)
	})
	return b.Bytes()
}

func main() { emit.Main(render) }

// render returns the three generated files by name.
func render() (map[string][]byte, error) {
	emitted = caps.Record{}
	c := build.NewContext()
	c.Package("github.com/sbconv/sbconv/asm")
	c.ConstraintExpr("!purego")
	for _, pw := range []bool{false, true} {
		for _, o := range ocbs {
			for _, s := range srcStrides {
				for _, d := range dstStrides {
					if used(s, d) {
						convKernel(c, o, s, d, pw)
					}
				}
			}
		}
	}
	for _, v := range restoreVariants {
		restoreKernel(c, v.k, v.pad)
	}
	fmaPeak(c)
	poolKernel(c)

	// A fixed command line in the header, so regenerating elsewhere (the
	// drift test's temporary folder) gives identical bytes.
	pc := printer.Config{Argv: []string{"go", "run", "./avx2", "-dir", "../asm"}, Pkg: "asm"}
	var asmOut, stubOut bytes.Buffer
	cfg := &build.Config{
		ErrOut:    os.Stderr,
		MaxErrors: 10,
		Passes: []pass.Interface{
			pass.Compile,
			&pass.Output{Writer: nopCloser{&asmOut}, Printer: printer.NewGoAsm(pc)},
			&pass.Output{Writer: nopCloser{&stubOut}, Printer: printer.NewStubs(pc)},
		},
	}
	if build.Main(cfg, c) != 0 {
		return nil, fmt.Errorf("avo failed")
	}
	tableSrc, err := format.Source(table())
	if err != nil {
		return nil, fmt.Errorf("formatting the table: %w", err)
	}
	return map[string][]byte{
		"conv_avx2_amd64.s":   asmOut.Bytes(),
		"conv_avx2_amd64.go":  stubOut.Bytes(),
		"table_avx2_amd64.go": tableSrc,
	}, nil
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// imm returns x as an 8-bit immediate when it fits the sign-extended form,
// else as a 32-bit one (avo has no 16-bit form for 64-bit arithmetic).
func imm(x uint64) operand.Constant {
	if x < 128 {
		return operand.U8(x)
	}
	return operand.U32(x)
}
