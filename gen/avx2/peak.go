package main

import (
	"bytes"
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"

	"github.com/sbconv/sbconv/gen/internal/caps"
)

// peakChains is the independent accumulator chains of AVX2FMAPeak:
// enough to cover the FMA latency on two ports.
const peakChains = 12

// peakFLOPs is the floating-point operations of one AVX2FMAPeak
// iteration, written into the table as AVX2FMAPeakFLOPs: each FMA is 8
// lanes x (multiply + add).
const peakFLOPs = peakChains * block * 2

// peakFamily is AVX2FMAPeak.
type peakFamily struct{}

func (peakFamily) emit(c *build.Context) error {
	if peakChains+2 > numVecRegs {
		return fmt.Errorf("AVX2FMAPeak: %d chains + 2 sources > %d ymm", peakChains, numVecRegs)
	}
	fmaPeak(c)
	return nil
}

// table writes AVX2FMAPeakFLOPs.
func (peakFamily) table(b *bytes.Buffer) {
	fmt.Fprintf(b, "// AVX2FMAPeakFLOPs is the floating-point operations of one AVX2FMAPeak iteration.\n")
	fmt.Fprintf(b, "const AVX2FMAPeakFLOPs = %d\n\n", peakFLOPs)
}

// fmaPeak emits a register-only FMA loop: peakChains independent
// accumulator chains and nothing else. Its time measures this CPU's AVX2
// FMA peak, the honest denominator of "percent of peak".
func fmaPeak(c *build.Context) {
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
