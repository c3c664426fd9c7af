package main

import (
	"bytes"
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/operand"

	"github.com/sbconv/sbconv/gen/internal/caps"
)

// peakFLOPs is the floating-point operations of one <S>FMAPeak
// iteration, written into the table as <S>FMAPeakFLOPs: each FMA is
// block lanes x (multiply + add).
func (s *isa) peakFLOPs() int { return s.peakChains * s.block * 2 }

func (s *isa) peakName() string { return s.name + "FMAPeak" }

// peakFamily is <S>FMAPeak: peakChains independent accumulator chains,
// enough to cover the FMA latency on two ports (12 on AVX2; AVX-512's 24
// measured at the peak of a C loop on the same core).
type peakFamily struct{}

func (peakFamily) emit(g *gen) error {
	if g.peakChains+2 > g.numVecRegs() {
		return fmt.Errorf("%s: %d chains + 2 sources > %d vector registers", g.peakName(), g.peakChains, g.numVecRegs())
	}
	g.fmaPeak()
	return nil
}

// table writes <S>FMAPeakFLOPs.
func (peakFamily) table(g *gen, b *bytes.Buffer) {
	fmt.Fprintf(b, "// %sFMAPeakFLOPs is the floating-point operations of one %s iteration.\n", g.name, g.peakName())
	fmt.Fprintf(b, "const %sFMAPeakFLOPs = %d\n\n", g.name, g.peakFLOPs())
}

// fmaPeak emits a register-only FMA loop: peakChains independent
// accumulator chains and nothing else. Its time measures this CPU's FMA
// peak with the set's vectors, the honest denominator of "percent of
// peak".
func (g *gen) fmaPeak() {
	c := g.c
	name := g.peakName()
	g.emitted.Begin(caps.Other)
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(n int)")
	c.Doc(
		fmt.Sprintf("%s runs n iterations of %d independent %d-lane FMAs", name, g.peakChains, g.block),
		fmt.Sprintf("(%d floating-point operations an iteration, %sFMAPeakFLOPs) on registers only.", g.peakFLOPs(), g.name),
	)
	n := regPix
	c.Load(c.Param("n"), n)
	for i := 0; i < g.peakChains+2; i++ {
		c.VXORPS(g.vec(i), g.vec(i), g.vec(i))
	}
	c.TESTQ(n, n)
	c.JLE(operand.LabelRef(name + "_done"))
	c.Label(name + "_loop")
	for i := 0; i < g.peakChains; i++ {
		c.VFMADD231PS(g.vec(g.peakChains), g.vec(g.peakChains+1), g.vec(i))
	}
	c.DECQ(n)
	c.JNZ(operand.LabelRef(name + "_loop"))
	c.Label(name + "_done")
	c.VZEROUPPER()
	c.RET()
}
