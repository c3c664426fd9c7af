package main

import (
	"bytes"
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/gen/internal/caps"
)

// The average-pool kernel (the average-pool contract of package asm): the
// mean of each plane's pixels, package block's global average pool. Four
// accumulators take four pixels a step (a VADDPS each, from memory), the
// last Pix%4 pixels go to the first one, and the four are summed pairwise
// and scaled: the contract's order exactly, so the Go loop it replaces
// gives the same bits. A 64-channel 8x8 map is 256 vector adds.

func (s *isa) avgPoolName() string { return s.name + "AvgPoolMean" }

// General-purpose registers of the average-pool kernel.
var (
	avgP      = reg.RAX // the AvgPoolParams
	avgPlane  = reg.RSI // plane p's pixel 0
	avgCur    = reg.RDI // the next pixel
	avgDst    = reg.RBX // plane p's mean
	avgPix    = reg.RCX // pixels left in the plane
	avgPlanes = reg.RDX // planes left
)

// avgPoolFamily is <S>AvgPoolMean, listed in the table as <S>AvgPool.
type avgPoolFamily struct{}

func (avgPoolFamily) emit(g *gen) error {
	g.avgPoolKernel()
	return nil
}

func (avgPoolFamily) table(g *gen, b *bytes.Buffer) {
	fmt.Fprintf(b, "// %sAvgPool is the %s kernel of the average-pool contract (see AvgPoolParams).\n", g.name, g.name)
	fmt.Fprintf(b, "var %sAvgPool = %s\n\n", g.name, g.avgPoolName())
}

// avgPoolKernel emits <S>AvgPoolMean: V0-V3 the partial sums, V4 Scale.
func (g *gen) avgPoolKernel() {
	c := g.c
	name, vb := g.avgPoolName(), g.vecBytes()
	label := func(s string) string { return name + "_" + s }
	ref := func(s string) operand.LabelRef { return operand.LabelRef(label(s)) }
	pf := func(off int) operand.Mem { return operand.Mem{Base: avgP, Disp: off} }
	at := func(k int) operand.Mem { return operand.Mem{Base: avgCur, Disp: k * vb} }
	sum := [4]reg.VecPhysical{g.vec(0), g.vec(1), g.vec(2), g.vec(3)}
	scale := g.vec(4)

	g.emitted.Begin(caps.Other)
	c.Function(name)
	c.Pragma("noescape")
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(p *AvgPoolParams)")
	c.Doc(
		fmt.Sprintf("%s is the %s average-pool kernel (the average-pool contract of the", name, g.title),
		fmt.Sprintf("package comment), block %d: four partial sums, four pixels a step (see gen/x86).", g.block),
	)
	c.Load(c.Param("p"), avgP)
	c.MOVQ(pf(asm.OffAvgPoolSrc), avgPlane)
	c.MOVQ(pf(asm.OffAvgPoolDst), avgDst)
	c.MOVQ(pf(asm.OffAvgPoolPlanes), avgPlanes)
	c.VBROADCASTSS(pf(asm.OffAvgPoolScale), scale)
	c.TESTQ(avgPlanes, avgPlanes)
	c.JZ(ref("done"))

	c.Label(label("plane"))
	for _, s := range sum {
		c.VXORPS(s, s, s)
	}
	c.MOVQ(avgPlane, avgCur)
	c.MOVQ(pf(asm.OffAvgPoolPix), avgPix)
	c.Label(label("quad"))
	c.CMPQ(avgPix, imm(4))
	c.JL(ref("tail"))
	for k, s := range sum {
		c.VADDPS(at(k), s, s)
	}
	c.ADDQ(imm(uint64(4*vb)), avgCur)
	c.SUBQ(imm(4), avgPix)
	c.JMP(ref("quad"))
	c.Label(label("tail"))
	c.TESTQ(avgPix, avgPix)
	c.JZ(ref("mean"))
	c.VADDPS(at(0), sum[0], sum[0])
	c.ADDQ(imm(uint64(vb)), avgCur)
	c.DECQ(avgPix)
	c.JMP(ref("tail"))
	c.Label(label("mean"))
	c.VADDPS(sum[1], sum[0], sum[0]) // s0 + s1
	c.VADDPS(sum[3], sum[2], sum[2]) // s2 + s3
	c.VADDPS(sum[2], sum[0], sum[0])
	c.VMULPS(scale, sum[0], sum[0])
	c.VMOVUPS(sum[0], operand.Mem{Base: avgDst})
	c.ADDQ(imm(uint64(vb)), avgDst)
	c.ADDQ(pf(asm.OffAvgPoolSrcPlane), avgPlane)
	c.DECQ(avgPlanes)
	c.JNZ(ref("plane"))
	c.Label(label("done"))
	c.VZEROUPPER()
	c.RET()
}
