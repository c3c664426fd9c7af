package main

import (
	"bytes"
	"fmt"

	"github.com/sbconv/sbconv/asm"
)

// poolFamily is NEONMaxPool3x3S2, the kernel of package asm's max-pool
// contract: output rows of a 3x3 stride-2 max pool over block-8 pixels,
// the ImageNet ResNets' stem pool.
//
// It is separable, as gen/x86's: each input column c of the window rows
// gets its vertical maximum v(c) once (three LDP Q and four FMAX, two a
// half), and output pixel j is the maximum of v(2j), v(2j+1), v(2j+2)
// (four FMAX), so v(2j+2) is carried to pixel j+1 and a pixel costs two
// new columns: 6 LDP Q, 12 FMAX and one STP Q, against ~3.2 MB of input
// on a 64-channel 112x112 map that memory delivers more slowly. FMAX
// returns a NaN when either operand is one, so a NaN anywhere in the
// window gives a NaN, as in PyTorch, with no extra instruction.
type poolFamily struct{}

// poolURW is the output pixels of one step: its 2*poolURW+1 column maxima
// (two registers each) and the scratch registers fit in 32.
const poolURW = 4

const poolName = "NEONMaxPool3x3S2"

// General-purpose registers of the pool kernel (its own plan: no other
// kernel's roles apply).
var (
	pParams = x(0)
	pSrc    = [3]gp{x(1), x(2), x(3)} // cursors into the three window rows
	pDst    = x(4)                    // output cursor
	pPix    = x(5)                    // pixels left in the row
	pRow    = x(6)                    // row of the call
	pTmp    = x(7)
)

// Vector registers: column maximum i is V(2i), V(2i+1) (i = 0 carried
// from the previous step), then two load pairs and the output pair.
func poolCol(i, h int) vreg  { return v(2*i + h) }
func poolLoad(k, h int) vreg { return v(2*(2*poolURW+1) + 2*k + h) }
func poolOut(h int) vreg     { return v(2*(2*poolURW+1) + 4 + h) }

func (poolFamily) emit() ([]text, error) {
	if last := int(poolOut(1)); last >= numVRegs {
		return nil, fmt.Errorf("%s: register budget: V%d", poolName, last)
	}
	return []text{{
		name: poolName, sig: "p *PoolParams", argSize: 8,
		doc: []string{
			fmt.Sprintf("%s is the NEON max-pool kernel (the max-pool contract of the package", poolName),
			fmt.Sprintf("comment), block 8, %d output pixels a step. FMAX propagates NaN, so a NaN", poolURW),
			"anywhere in a window gives a NaN.",
		},
		emit: emitPool,
	}}, nil
}

func emitPool(p *printer) {
	label := func(s string) string { return poolName + "_" + s }
	srcOff := [3]int{asm.OffPoolSrc0, asm.OffPoolSrc1, asm.OffPoolSrc2}
	p.op("MOVD", "p+0(FP)", pParams)
	p.op("MOVD", "ZR", pRow)
	p.label(label("row"))
	p.op("MOVD", mem(asm.OffPoolSrcRows, pParams), pTmp)
	p.op("MUL", pRow, pTmp, pTmp)
	for k, r := range pSrc {
		p.op("MOVD", mem(srcOff[k], pParams), r)
		p.op("ADD", pTmp, r)
	}
	p.op("MOVD", mem(asm.OffPoolDstRows, pParams), pTmp)
	p.op("MUL", pRow, pTmp, pTmp)
	p.op("MOVD", mem(asm.OffPoolDst, pParams), pDst)
	p.op("ADD", pTmp, pDst)
	p.op("MOVD", mem(asm.OffPoolPix, pParams), pPix)
	p.op("CBZ", pPix, label("rowdone"))

	// column computes v(i) (columns counted from the cursors) into
	// column register pair c.
	column := func(i, c int) {
		p.ldpq(i*vecBytes, pSrc[0], poolCol(c, 0), poolCol(c, 1))
		p.ldpq(i*vecBytes, pSrc[1], poolLoad(0, 0), poolLoad(0, 1))
		p.ldpq(i*vecBytes, pSrc[2], poolLoad(1, 0), poolLoad(1, 1))
		for h := 0; h < 2; h++ {
			p.fmax(poolCol(c, h), poolCol(c, h), poolLoad(0, h))
		}
		for h := 0; h < 2; h++ {
			p.fmax(poolCol(c, h), poolCol(c, h), poolLoad(1, h))
		}
	}
	// output stores output pixel k of the step from columns 2k..2k+2.
	output := func(k int) {
		for h := 0; h < 2; h++ {
			p.fmax(poolOut(h), poolCol(2*k, h), poolCol(2*k+1, h))
		}
		for h := 0; h < 2; h++ {
			p.fmax(poolOut(h), poolOut(h), poolCol(2*k+2, h))
		}
		p.stpq(poolOut(0), poolOut(1), k*vecBytes, pDst)
	}
	carry := func(from int) {
		for h := 0; h < 2; h++ {
			p.vmov(poolCol(from, h), poolCol(0, h))
		}
	}
	advance := func(pix int) {
		for _, r := range pSrc {
			p.op("ADD", fmt.Sprintf("$%d", 2*pix*vecBytes), r)
		}
		p.op("ADD", fmt.Sprintf("$%d", pix*vecBytes), pDst)
		p.op("SUB", fmt.Sprintf("$%d", pix), pPix)
	}

	column(0, 0)
	p.label(label("step"))
	p.op("CMP", fmt.Sprintf("$%d", poolURW), pPix)
	p.op("BLT", label("tail"))
	p.comment("%d output pixels", poolURW)
	for k := 0; k < poolURW; k++ {
		column(2*k+1, 2*k+1)
		column(2*k+2, 2*k+2)
		output(k)
	}
	carry(2 * poolURW)
	advance(poolURW)
	p.op("B", label("step"))

	p.label(label("tail"))
	p.op("CBZ", pPix, label("rowdone"))
	p.comment("one output pixel")
	column(1, 1)
	column(2, 2)
	output(0)
	carry(2)
	advance(1)
	p.op("B", label("tail"))

	p.label(label("rowdone"))
	p.op("ADD", "$1", pRow) // next row, while fewer than Rows (0 is read as 1) are done
	p.op("MOVD", mem(asm.OffPoolRows, pParams), pTmp)
	p.op("CMP", pTmp, pRow)
	p.op("BLT", label("row"))
	p.op("RET")
}

func (poolFamily) table(b *bytes.Buffer) {}
