//go:build !purego

package bench

import (
	"golang.org/x/sys/cpu"

	"github.com/sbconv/sbconv/asm"
)

var (
	peakKernel       func(n int)
	peakKernelISA    string
	peakFLOPsPerIter float64 = asm.NEONFMAPeakFLOPs // one asm.NEONFMAPeak iteration, as gen/neon emits it
	peakMaxIters             = 1_000_000            // 12M cycles on two FMLA pipes: 4-5 ms at 2.5-3 GHz
)

func init() {
	if cpu.ARM64.HasASIMD {
		peakKernel, peakKernelISA = asm.NEONFMAPeak, "neon"
	}
}
