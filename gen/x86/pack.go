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

// The pack kernel (the pack contract of package asm): 8 strided source
// runs into 8 lanes of consecutive pixels, which package block's stem
// uses to pack a network's NCHW input into its channel blocks.
//
// It is 256-bit code in every set (AVX only: the AVX-512 set emits the
// same instructions under its own name), since a call writes 8 lanes; a
// 16-lane block is two calls. A step is 4 pixels x 8 lanes, an 8x4
// transpose that stays inside 128-bit lanes: row k of the step (k < 4) is
// source k's 4 pixels in the low half and source k+4's in the high half
// (a 16-byte load and a VINSERTF128 from memory), and two VUNPCKLPS/HPS
// pairs and four VSHUFPS turn those four rows into the four output pixels,
// lanes 0-3 low and 4-7 high, each one 32-byte store. At SrcStep 2 a half
// row is two 16-byte loads (4 pixels at every other float) whose even
// floats one more VSHUFPS keeps. Per 4 pixels: 8 (SrcStep 2: 16) loads,
// 8 (12) shuffles and 4 stores, where the scalar copy does 32 loads and
// 32 stores.
//
// The steps never read past the contract's last float
// Src[l][(N-1)*SrcStep]: whole steps run while more than 4 pixels are
// left, and the last 1..4 pixels are one more step moved back onto the
// last 4 pixels (rewriting up to 3 pixels with the same values). At
// SrcStep 2 a step's loads reach one float past its last pixel, so the
// whole steps end while more than 4 pixels are left (each reads within the
// next pixel's float) and the last step loads from one float earlier and
// keeps the odd floats; it needs a step before it (N >= 5). Fewer pixels
// (N < 4 at SrcStep 1, N < 5 at 2) and every other SrcStep go through a
// scalar loop, 8 32-bit moves a pixel.

func (s *isa) packName() string { return s.name + "Pack8" }

// General-purpose registers of the pack kernel: the eight runs (never
// moved: packIdx indexes them all), the output cursor, OutStep and
// 3*OutStep in bytes (packOB3 is SrcStep in bytes in the scalar loop),
// the pixels left, and the PackParams pointer, then scratch.
var (
	packSrc  = [8]reg.Physical{reg.R8, reg.R9, reg.R10, reg.R11, reg.R12, reg.R13, reg.R14, reg.R15}
	packIdx  = reg.RSI
	packOut  = reg.RDI
	packOB   = reg.RBX
	packOB3  = reg.RCX
	packLeft = reg.RDX
	packTmp  = reg.RAX
)

// packFamily is <S>Pack8, listed in the table as <S>Pack.
type packFamily struct{}

func (packFamily) emit(g *gen) error {
	if g.numVecRegs() < 8 {
		return fmt.Errorf("%s: register budget: 8 vector registers > %d", g.packName(), g.numVecRegs())
	}
	g.packKernel()
	return nil
}

func (packFamily) table(g *gen, b *bytes.Buffer) {
	fmt.Fprintf(b, "// %sPack is the %s kernel of the pack contract (see PackParams), 8 lanes a call.\n", g.name, g.name)
	fmt.Fprintf(b, "var %sPack = %s\n\n", g.name, g.packName())
}

// packKernel emits <S>Pack8.
func (g *gen) packKernel() {
	c := g.c
	name := g.packName()
	label := func(s string) string { return name + "_" + s }
	ref := func(s string) operand.LabelRef { return operand.LabelRef(label(s)) }
	pf := func(off int) operand.Mem { return operand.Mem{Base: packTmp, Disp: off} }

	g.emitted.Begin(caps.Other)
	c.Function(name)
	c.Pragma("noescape")
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(p *PackParams)")
	c.Doc(
		fmt.Sprintf("%s is the %s kernel of the pack contract (see the package comment):", name, g.title),
		"steps of 4 pixels x 8 lanes, an in-lane transpose of 16-byte loads paired by",
		"VINSERTF128, at SrcStep 1 and 2; other steps and short runs copy float by float",
		"(see gen/x86).",
	)
	c.Load(c.Param("p"), packTmp)
	c.MOVQ(pf(asm.OffPackN), packLeft)
	c.TESTQ(packLeft, packLeft)
	c.JLE(ref("done"))
	c.MOVQ(pf(asm.OffPackOut), packOut)
	for l, r := range packSrc {
		c.MOVQ(pf(asm.OffPackSrc+8*l), r)
	}
	c.MOVQ(pf(asm.OffPackOutStep), packOB)
	c.SHLQ(imm(2), packOB)
	c.XORQ(packIdx, packIdx)
	c.MOVQ(pf(asm.OffPackSrcStep), packOB3)
	c.CMPQ(packOB3, imm(1))
	c.JNE(ref("s2"))
	g.packSteps(label, 1)
	c.Label(label("s2"))
	c.CMPQ(packOB3, imm(2))
	c.JNE(ref("scalar"))
	g.packSteps(label, 2)

	c.Label(label("scalar"))
	c.SHLQ(imm(2), packOB3)
	c.Label(label("pixel"))
	for l, r := range packSrc {
		c.MOVL(operand.Mem{Base: r, Index: packIdx, Scale: 1}, packTmp.As32())
		c.MOVL(packTmp.As32(), operand.Mem{Base: packOut, Disp: 4 * l})
	}
	c.ADDQ(packOB3, packIdx)
	c.ADDQ(packOB, packOut)
	c.DECQ(packLeft)
	c.JNZ(ref("pixel"))
	c.Label(label("done"))
	c.VZEROUPPER()
	c.RET()
}

// packSteps emits the vector path of SrcStep s (1 or 2), entered with
// packOB3 = s: the whole steps, the last step and a jump to done; too
// short a run jumps to scalar.
func (g *gen) packSteps(label func(string) string, s int) {
	c := g.c
	ref := func(x string) operand.LabelRef { return operand.LabelRef(label(x)) }
	id := fmt.Sprintf("s%d", s)
	minPix := 4 // N >= 4 at SrcStep 1; N >= 5 at 2, so that the last step has one before it
	if s == 2 {
		minPix = 5
	}
	c.CMPQ(packLeft, imm(uint64(minPix)))
	c.JL(ref("scalar"))
	c.LEAQ(operand.Mem{Base: packOB, Index: packOB, Scale: 2}, packOB3)
	c.Label(label(id + "_loop"))
	c.CMPQ(packLeft, imm(4))
	c.JLE(ref(id + "_last"))
	g.packStep(s, 0, 0x88)
	c.ADDQ(imm(uint64(4*s*4)), packIdx)
	c.LEAQ(operand.Mem{Base: packOut, Index: packOB, Scale: 4}, packOut)
	c.SUBQ(imm(4), packLeft)
	c.JMP(ref(id + "_loop"))

	c.Label(label(id + "_last"))
	c.Commentf("the last 1..4 pixels: one step moved back by 4-left pixels")
	c.MOVQ(packLeft, packTmp)
	c.SUBQ(imm(4), packTmp) // -(4-left)
	c.LEAQ(operand.Mem{Base: packIdx, Index: packTmp, Scale: uint8(4 * s)}, packIdx)
	c.IMULQ(packOB, packTmp)
	c.ADDQ(packTmp, packOut)
	if s == 1 {
		g.packStep(1, 0, 0)
	} else {
		g.packStep(2, -4, 0xDD) // from one float earlier: the odd floats
	}
	c.JMP(ref("done"))
}

// packStep emits one step of 4 pixels from byte disp past each run's
// pixel (packIdx); at SrcStep 2 VSHUFPS with keep (0x88: the even floats,
// 0xDD: the odd ones) picks every other float of the 8 loaded.
func (g *gen) packStep(s, disp int, keep uint8) {
	c := g.c
	y := func(i int) reg.VecPhysical { return ymms[i] }
	x := []reg.VecPhysical{reg.X0, reg.X1, reg.X2, reg.X3, reg.X4, reg.X5, reg.X6, reg.X7}
	at := func(l, off int) operand.Mem {
		return operand.Mem{Base: packSrc[l], Index: packIdx, Scale: 1, Disp: disp + off}
	}
	// halfRows loads rows k of 4 floats from offset off into vector v.
	halfRow := func(k, off, v int) {
		c.VMOVUPS(at(k, off), x[v])
		c.VINSERTF128(operand.U8(1), at(k+4, off), y(v), y(v))
	}
	for k := 0; k < 4; k++ {
		halfRow(k, 0, k)
		if s == 2 {
			halfRow(k, 16, k+4)
			c.VSHUFPS(operand.U8(keep), y(k+4), y(k), y(k))
		}
	}
	// Rows 0..3 hold [src k: pixels 0-3 | src k+4: pixels 0-3].
	c.VUNPCKLPS(y(1), y(0), y(4)) // 0p0 1p0 0p1 1p1 | 4p0 5p0 4p1 5p1
	c.VUNPCKHPS(y(1), y(0), y(5)) // pixels 2, 3
	c.VUNPCKLPS(y(3), y(2), y(6)) // 2p0 3p0 2p1 3p1 | 6p0 7p0 6p1 7p1
	c.VUNPCKHPS(y(3), y(2), y(7))
	c.VSHUFPS(operand.U8(0x44), y(6), y(4), y(0)) // pixel 0: lanes 0-3 | 4-7
	c.VSHUFPS(operand.U8(0xEE), y(6), y(4), y(1))
	c.VSHUFPS(operand.U8(0x44), y(7), y(5), y(2))
	c.VSHUFPS(operand.U8(0xEE), y(7), y(5), y(3))
	c.VMOVUPS(y(0), operand.Mem{Base: packOut})
	c.VMOVUPS(y(1), operand.Mem{Base: packOut, Index: packOB, Scale: 1})
	c.VMOVUPS(y(2), operand.Mem{Base: packOut, Index: packOB, Scale: 2})
	c.VMOVUPS(y(3), operand.Mem{Base: packOut, Index: packOB3, Scale: 1})
}
