//go:build !purego

package kernels

import (
	"golang.org/x/sys/cpu"

	"github.com/sbconv/sbconv/asm"
)

// The NEON (ASIMD) set: the kernels gen/neon generates into package asm,
// with the block and capabilities it derived from them (asm.NEONCaps).
// Call shapes without a kernel in its tables fall back to the generic
// microkernel through the same driver.
func init() {
	registerISA(&isaSet{
		name:    "neon",
		rank:    rankNEON,
		usable:  cpu.ARM64.HasASIMD,
		Caps:    asm.NEONCaps,
		kernel:  asm.NEONKernel,
		urw:     asm.NEONURW[:],
		restore: asm.NEONRestore,
		pool:    asm.NEONMaxPool3x3S2,
	})
}
