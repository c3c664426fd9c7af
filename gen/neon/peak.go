package main

import (
	"bytes"
	"fmt"
)

// peakFamily is NEONFMAPeak, the denominator of "percent of peak": a loop
// of register-only FMLAs and nothing else.
type peakFamily struct{}

// peakChains is the number of independent FMLA chains of NEONFMAPeak. A
// Cortex-A76 / Neoverse N1 needs 2 pipes x latency 4 = 8 to keep its FMLA
// pipes busy; 24 also cover cores with four 128-bit FMLA pipes (Neoverse
// V1/V2, Apple M: 4 x 4 = 16) with room to spare, and the loop's SUBS and
// BNE are 2 instructions against 24.
const peakChains = 24

// peakFLOPs is the floating-point operations of one iteration: each FMLA
// is 4 lanes x (multiply + add).
const peakFLOPs = peakChains * 4 * 2

func (peakFamily) emit() ([]text, error) {
	if peakChains < minAccs || peakChains+2 > numVRegs {
		return nil, fmt.Errorf("peak: %d chains: want %d..%d", peakChains, minAccs, numVRegs-2)
	}
	return []text{{
		name: "NEONFMAPeak", sig: "n int", argSize: 8,
		doc: []string{
			fmt.Sprintf("NEONFMAPeak runs n iterations of %d independent 4-lane FMLAs", peakChains),
			fmt.Sprintf("(%d floating-point operations an iteration) on registers only.", peakFLOPs),
		},
		emit: emitPeak,
	}}, nil
}

func emitPeak(p *printer) {
	n := rPix
	a, b := v(peakChains), v(peakChains+1)
	p.op("MOVD", "n+0(FP)", n)
	for i := 0; i < peakChains+2; i++ {
		p.vzero(v(i))
	}
	p.op("CMP", "$0", n)
	p.op("BLE", "NEONFMAPeak_done")
	p.label("NEONFMAPeak_loop")
	for i := 0; i < peakChains; i++ {
		p.op("VFMLA", a.S4(), b.S4(), v(i).S4()) // V(i) += b * a
	}
	p.op("SUBS", "$1", n)
	p.op("BNE", "NEONFMAPeak_loop")
	p.label("NEONFMAPeak_done")
	p.op("RET")
}

func (peakFamily) table(b *bytes.Buffer) {
	fmt.Fprintf(b, "\n// NEONFMAPeakFLOPs is the floating-point operations of one NEONFMAPeak iteration.\n")
	fmt.Fprintf(b, "const NEONFMAPeakFLOPs = %d\n", peakFLOPs)
}
