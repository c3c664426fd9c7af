package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/sbconv/sbconv/asm"
)

// The frame every convolution and restore kernel shares: the prologue and
// row loop, the pixel loop over blocks, the edge flags of a block, the end
// of the input-block loop and the fused epilogue.

// prologue loads the argument block and what every kernel keeps in
// registers for the whole call (the residual's distance from Dst), then
// opens the row loop: Dst, Src and Pix of row regRow (Rows of them, see
// package asm; pixelLoop closes it), with Src one tap back when EdgeL
// (edges: the kernel takes the edge flags, see edgeFlags).
func (g *gen) prologue(label func(string) string, edges bool) {
	c := g.c
	h := g.emitted.Now()
	h.Rows, h.Edges = true, edges
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
		c.SUBQ(imm(uint64(g.vecBytes())), regSrcBase) // the contract's Src: pixel 0's tap (0, 0)
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
func (g *gen) pixelLoop(label func(string) string, step, maxPix int, evenBlocks bool,
	block func(t int), srcBytes, dstBytes func(t int) int) {
	c := g.c
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
	g.endRows(regRow, field(asm.OffRows), label("row"))
}

// endRows closes a row loop and the kernel: the next row (counted in
// row) from rowLabel while fewer than rows (0 is read as 1) are done,
// then VZEROUPPER and RET.
func (g *gen) endRows(row reg.Register, rows operand.Mem, rowLabel string) {
	c := g.c
	c.INCQ(row)
	c.CMPQ(row, rows)
	c.JL(operand.LabelRef(rowLabel))
	c.VZEROUPPER()
	c.RET()
}

// edgeFlags sets regEdge for a block of t pixels: bit 0 when the block
// starts the row and EdgeL, bit 1 when it ends the row and EdgeR.
func (g *gen) edgeFlags(label func(string) string, id string, t int) {
	c := g.c
	if !g.emitted.Now().Edges {
		panic(fmt.Sprintf("%s: edge flags tested in a kernel whose prologue does not take them", label(id)))
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

// openTapLoops emits the start of a block's reduction over input blocks
// and kernel rows: Src at the block's first pixel, Wei and the count of
// input blocks from the argument block, the input-block loop's label icb,
// the count of kernel rows, and the kernel-row loop's label kh.
func (g *gen) openTapLoops(icb, kh string) {
	c := g.c
	c.MOVQ(regSrcBase, regSrc)
	c.MOVQ(field(asm.OffWei), regWei)
	c.MOVQ(field(asm.OffICB), regICB)
	c.Label(icb)
	c.MOVQ(field(asm.OffKH), regKH)
	c.Label(kh)
}

// nextInputBlock emits the end of the input-block loop: Src and Wei back
// over the KH kernel rows and on by one input block, then the loop branch.
func (g *gen) nextInputBlock(loop string) {
	c := g.c
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
// then the store at at[i](dst), dst holding the output's address (regDst,
// or a tile row's). zero is a register free by then.
func (g *gen) epilogue(label func(string) string, id string,
	accs []reg.VecPhysical, at []func(base reg.Register) operand.Mem, zero reg.VecPhysical, dst reg.Register) {
	c := g.c
	c.CMPQ(field(asm.OffRes), imm(0)) // Res itself: Res == Dst would give a zero delta
	c.JE(operand.LabelRef(label(id + "_relu")))
	c.LEAQ(operand.Mem{Base: dst, Index: regResDelta, Scale: 1}, regTmp)
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
		c.VMOVUPS(a, at[i](dst))
	}
}
