//go:build !purego

package bench

import (
	"golang.org/x/sys/cpu"

	"github.com/sbconv/sbconv/asm"
)

var (
	peakKernel       func(n int)
	peakKernelISA    string
	peakFLOPsPerIter float64 = asm.AVX2FMAPeakFLOPs // one asm.AVX2FMAPeak iteration, as gen/avx2 emits it
	peakMaxIters             = 2_000_000            // 12M cycles on two FMA ports: 3-5 ms
)

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		peakKernel, peakKernelISA = asm.AVX2FMAPeak, "avx2"
	}
}
