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

// The max-pool kernel (the max-pool contract of package asm): output rows
// of a 3x3 stride-2 max pool over block-8 pixels, the ImageNet ResNets'
// stem pool.
//
// It is separable: each input column c of the window rows gets its
// vertical maximum v(c) once, and output pixel j is the maximum of
// v(2j), v(2j+1), v(2j+2), so v(2j+2) is carried to pixel j+1 and a pixel
// costs two new columns (6 loads, 2 of them as memory operands) and
// poolURW pixels a step share one loop branch. Per output pixel: 6
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
//	v(c) = VMAXPS(src2, VMAXPS(src1, src0)) | UNORD(src0, src1)
//	out  = VMAXPS(v(2j+2), VMAXPS(v(2j+1), v(2j))) | UNORD(v(2j), v(2j+1))
//
// so a NaN anywhere in the window gives a NaN, as PyTorch's MaxPool2d, and
// without one the result is VMAXPS's exact maximum. Zero lanes (padded
// channels) stay zero.

// poolURW is the output pixels of one step of the pool kernel: its
// 2*poolURW+1 column maxima fit with poolTemps scratch registers.
const poolURW = 4

const poolTemps = 4 // two loads, the unordered mask, the output

const poolName = "AVX2MaxPool3x3S2"

// General-purpose registers of the pool kernel.
var (
	poolSrc = [3]reg.Physical{reg.R8, reg.R9, reg.R10} // cursors into the three window rows
	poolDst = reg.R11                                  // output cursor
	poolPix = reg.RSI                                  // pixels left in the row
	poolRow = reg.R12                                  // row of the call
	poolTmp = reg.RDI
)

// poolFamily is AVX2MaxPool3x3S2. It has no table entry: package kernels
// calls it by name.
type poolFamily struct{}

func (poolFamily) emit(c *build.Context) error {
	if need := 2*poolURW + 1 + poolTemps; need > numVecRegs {
		return fmt.Errorf("%s: register budget: %d ymm > %d", poolName, need, numVecRegs)
	}
	poolKernel(c)
	return nil
}

func (poolFamily) table(*bytes.Buffer) {}

// poolKernel emits the pool kernel. Registers: Y0..Y(2*poolURW) hold the
// column maxima of a step (Y0 the one carried from the previous step),
// then the temporaries.
func poolKernel(c *build.Context) {
	label := func(s string) string { return poolName + "_" + s }
	col := func(i int) reg.VecPhysical { return ymm(i) }
	ld0, ld1, mask, out := ymm(2*poolURW+1), ymm(2*poolURW+2), ymm(2*poolURW+3), ymm(2*poolURW+4)
	pf := func(off int) operand.Mem { return operand.Mem{Base: regParams, Disp: off} }

	emitted.Begin(caps.Other)
	c.Function(poolName)
	c.Pragma("noescape")
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(p *PoolParams)")
	c.Doc(
		fmt.Sprintf("%s is the AVX2 max-pool kernel (the max-pool contract of the package", poolName),
		fmt.Sprintf("comment), block 8, %d output pixels a step. A NaN anywhere in a window gives", poolURW),
		"a NaN: VMAXPS alone would drop it, so an unordered compare (VCMPPS",
		"predicate 3) of each step's operands is OR'ed into its maximum (see gen/avx2).",
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
		at := func(k int) operand.Mem { return operand.Mem{Base: poolSrc[k], Disp: i * vecBytes} }
		c.VMOVUPS(at(0), ld0)
		c.VMOVUPS(at(1), ld1)
		c.VMAXPS(ld1, ld0, dst)
		c.VCMPPS(operand.U8(3), ld1, ld0, mask)
		c.VMAXPS(at(2), dst, dst)
		c.VORPS(mask, dst, dst)
	}
	// output stores output pixel k of the step from columns 2k..2k+2.
	output := func(k int) {
		a, b, d := col(2*k), col(2*k+1), col(2*k+2)
		c.VMAXPS(b, a, out)
		c.VCMPPS(operand.U8(3), b, a, mask)
		c.VMAXPS(d, out, out)
		c.VORPS(mask, out, out)
		c.VMOVUPS(out, operand.Mem{Base: poolDst, Disp: k * vecBytes})
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
	c.CMPQ(poolPix, imm(poolURW))
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
	c.INCQ(poolRow) // next row, while fewer than Rows (0 is read as 1) are done
	c.CMPQ(poolRow, pf(asm.OffPoolRows))
	c.JL(operand.LabelRef(label("row")))
	c.VZEROUPPER()
	c.RET()
}
