//go:build !purego

package kernels

import (
	"golang.org/x/sys/cpu"

	"github.com/sbconv/sbconv/asm"
)

// The AVX2+FMA set: the kernels gen/avx2 generates into package asm, with
// the block and capabilities it derived from them (asm.AVX2Caps). Call
// shapes without a kernel in its tables fall back to the generic
// microkernel through the same driver.
func init() {
	c := asm.AVX2Caps
	registerISA(&isaSet{
		name:         "avx2",
		block:        c.Block,
		maxOCB:       c.MaxOCB,
		usable:       cpu.X86.HasAVX2 && cpu.X86.HasFMA,
		kernel:       asm.AVX2Kernel,
		restore:      asm.AVX2Restore,
		rows:         c.Rows,
		edges:        c.Edges,
		restoreEdges: c.RestoreEdges,
		prefetch:     c.Prefetch,
		pool:         asm.AVX2MaxPool3x3S2,
	})
}
