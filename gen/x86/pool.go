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

// The max-pool kernel (the max-pool contract of package asm): output rows
// of a 3x3 stride-2 max pool over pixels of the set's block, the ImageNet
// ResNets' stem pool.
//
// It is separable: each input column c of the window rows gets its
// vertical maximum v(c) once, and output pixel j is the maximum of
// v(2j), v(2j+1), v(2j+2), so v(2j+2) is carried to pixel j+1 and a pixel
// costs two new columns (6 loads, 2 of them as memory operands) and
// the set's poolURW pixels a step share one loop branch. Per output pixel: 6
// loads, 12 vector operations, 1 store; the ~3.2 MB a 64-channel 112x112
// input reads bound it, not these.
//
// NaN. VMAXPS returns its second source operand (the first in Go's
// operand order) when either operand is a NaN, so a chain of VMAXPS keeps
// a NaN only if it came last. Each two-way step a, b -> max(a, b) then
// ORs in VCMPPS predicate 3 (UNORD_Q) of the same two operands, all ones
// (a NaN) where either is one; its third value c, the last operand of the
// chain, carries its own NaN through:
//
//	v(c) = VMAXPS(src2, VMAXPS(src1, src0)), NaN where UNORD(src0, src1)
//	out  = VMAXPS(v(2j+2), VMAXPS(v(2j+1), v(2j))), NaN where UNORD(v(2j), v(2j+1))
//
// so a NaN anywhere in the window gives a NaN, as PyTorch's MaxPool2d, and
// without one the result is VMAXPS's exact maximum. Zero lanes (padded
// channels) stay zero.

const poolTemps = 4 // two loads, the unordered mask (AVX2), the output

func (s *isa) poolName() string { return s.name + "MaxPool3x3S2" }

// General-purpose registers of the pool kernel.
var (
	poolSrc = [3]reg.Physical{reg.R8, reg.R9, reg.R10} // cursors into the three window rows
	poolDst = reg.R11                                  // output cursor
	poolPix = reg.RSI                                  // pixels left in the row
	poolRow = reg.R12                                  // row of the call
	poolTmp = reg.RDI
)

// poolFamily is <S>MaxPool3x3S2. It has no table entry: package kernels
// calls it by name.
type poolFamily struct{}

func (poolFamily) emit(g *gen) error {
	if need := 2*g.poolURW + 1 + poolTemps; need > g.numVecRegs() {
		return fmt.Errorf("%s: register budget: %d vector registers > %d", g.poolName(), need, g.numVecRegs())
	}
	g.poolKernel()
	return nil
}

func (poolFamily) table(*gen, *bytes.Buffer) {}

// poolKernel emits the pool kernel. Registers: V0..V(2*poolURW) hold the
// column maxima of a step (V0 the one carried from the previous step),
// then the temporaries.
func (g *gen) poolKernel() {
	c := g.c
	poolURW, vecBytes, poolName := g.poolURW, g.vecBytes(), g.poolName()
	label := func(s string) string { return poolName + "_" + s }
	col := g.vec
	ld0, ld1, mask, out := g.vec(2*poolURW+1), g.vec(2*poolURW+2), g.vec(2*poolURW+3), g.vec(2*poolURW+4)
	pf := func(off int) operand.Mem { return operand.Mem{Base: regParams, Disp: off} }
	// nanWhereUnordered makes dst a NaN in the lanes where a or b is one.
	nanWhereUnordered := func(a, b, dst reg.VecPhysical) {
		if g.embedded { // AVX-512: compares write opmasks
			c.VCMPPS(operand.U8(3), b, a, reg.K1)
			c.VADDPS(b, a, reg.K1, dst)
			return
		}
		c.VCMPPS(operand.U8(3), b, a, mask)
		c.VORPS(mask, dst, dst)
	}

	g.emitted.Begin(caps.Other)
	c.Function(poolName)
	c.Pragma("noescape")
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(p *PoolParams)")
	c.Doc(
		fmt.Sprintf("%s is the %s max-pool kernel (the max-pool contract of the package", poolName, g.title),
		fmt.Sprintf("comment), block %d, %d output pixels a step. A NaN anywhere in a window gives", g.block, poolURW),
		"a NaN: VMAXPS alone would drop it, so where an unordered compare (VCMPPS",
		"predicate 3) of a step's operands holds, its maximum is made a NaN (see gen/x86).",
	)
	c.Load(c.Param("p"), regParams)
	c.XORQ(poolRow, poolRow)
	c.Label(label("row"))
	srcOff := [3]int{asm.OffPoolSrc0, asm.OffPoolSrc1, asm.OffPoolSrc2}
	c.MOVQ(pf(asm.OffPoolSrcRows), poolTmp)
	c.IMULQ(poolRow, poolTmp)
	for k, r := range poolSrc {
		c.MOVQ(poolTmp, r)
		c.ADDQ(pf(srcOff[k]), r)
	}
	c.MOVQ(pf(asm.OffPoolDstRows), poolDst)
	c.IMULQ(poolRow, poolDst)
	c.ADDQ(pf(asm.OffPoolDst), poolDst)
	c.MOVQ(pf(asm.OffPoolPix), poolPix)
	c.TESTQ(poolPix, poolPix)
	c.JZ(operand.LabelRef(label("rowdone")))

	// column computes v(i) (columns counted from the cursors) into dst.
	column := func(i int, dst reg.VecPhysical) {
		at := func(k int) operand.Mem { return operand.Mem{Base: poolSrc[k], Disp: disp32(i * vecBytes)} }
		c.VMOVUPS(at(0), ld0)
		c.VMOVUPS(at(1), ld1)
		c.VMAXPS(ld1, ld0, dst)
		c.VMAXPS(at(2), dst, dst)
		nanWhereUnordered(ld0, ld1, dst)
	}
	// output stores output pixel k of the step from columns 2k..2k+2.
	output := func(k int) {
		a, b, d := col(2*k), col(2*k+1), col(2*k+2)
		c.VMAXPS(b, a, out)
		c.VMAXPS(d, out, out)
		nanWhereUnordered(a, b, out)
		c.VMOVUPS(out, operand.Mem{Base: poolDst, Disp: disp32(k * vecBytes)})
	}
	advance := func(pix int) {
		for _, r := range poolSrc {
			c.ADDQ(imm(uint64(2*pix*vecBytes)), r)
		}
		c.ADDQ(imm(uint64(pix*vecBytes)), poolDst)
		c.SUBQ(imm(uint64(pix)), poolPix)
	}

	column(0, col(0))
	c.Label(label("step"))
	c.CMPQ(poolPix, imm(uint64(poolURW)))
	c.JL(operand.LabelRef(label("tail")))
	c.Commentf("%d output pixels", poolURW)
	for k := 0; k < poolURW; k++ {
		column(2*k+1, col(2*k+1))
		column(2*k+2, col(2*k+2))
		output(k)
	}
	c.VMOVAPS(col(2*poolURW), col(0))
	advance(poolURW)
	c.JMP(operand.LabelRef(label("step")))

	c.Label(label("tail"))
	c.TESTQ(poolPix, poolPix)
	c.JZ(operand.LabelRef(label("rowdone")))
	c.Comment("one output pixel")
	column(1, col(1))
	column(2, col(2))
	output(0)
	c.VMOVAPS(col(2), col(0))
	advance(1)
	c.JMP(operand.LabelRef(label("tail")))

	c.Label(label("rowdone"))
	g.endRows(poolRow, pf(asm.OffPoolRows), label("row"))
}
