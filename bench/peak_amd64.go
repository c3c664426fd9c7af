//go:build !purego

package bench

import (
	"golang.org/x/sys/cpu"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/kernels"
)

var (
	peakKernel       func(n int)
	peakKernelISA    string
	peakFLOPsPerIter float64
	peakMaxIters     = 2_000_000 // AVX2: 12M cycles on two FMA ports, 3-5 ms; AVX-512: 24M, about 8 ms on the Zen 5 core
)

// peakSets are the x86 peak kernels, widest first, each with the CPU
// check of its set (as in package kernels) and the FLOPs of one
// iteration, as gen/x86 emits it.
var peakSets = []struct {
	isa    string
	usable bool
	kernel func(n int)
	flops  float64
}{
	{"avx512", cpu.X86.HasAVX && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ, asm.AVX512FMAPeak, asm.AVX512FMAPeakFLOPs},
	{"avx2", cpu.X86.HasAVX2 && cpu.X86.HasFMA, asm.AVX2FMAPeak, asm.AVX2FMAPeakFLOPs},
}

// init picks the peak kernel of the dispatched set (SBCONV_ISA=avx2 on an
// AVX-512 machine measures the AVX2 peak, so its kernels' percentages
// compare the same instructions), or the widest usable one for a set
// without one (generic).
func init() {
	for _, want := range []string{kernels.ISA(), ""} {
		for _, p := range peakSets {
			if p.usable && (want == "" || p.isa == want) {
				peakKernel, peakKernelISA, peakFLOPsPerIter = p.kernel, p.isa, p.flops
				return
			}
		}
	}
}
