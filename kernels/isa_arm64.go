//go:build !purego

package kernels

import (
	"slices"

	"golang.org/x/sys/cpu"

	"github.com/sbconv/sbconv/asm"
)

// The NEON (ASIMD) set: the kernels gen/neon generates into package asm,
// with the block and capabilities it derived from them (asm.NEONCaps).
// Call shapes without a kernel in its tables fall back to the generic
// microkernel through the same driver.
func init() {
	c := asm.NEONCaps
	registerISA(&isaSet{
		name:   "neon",
		block:  c.Block,
		maxOCB: c.MaxOCB,
		usable: cpu.ARM64.HasASIMD,
		kernel: func(ocb, srcPix, dstPix int, pointwise bool) microkernel {
			si, di := slices.Index(asm.NEONSrcStrides[:], srcPix), slices.Index(asm.NEONDstStrides[:], dstPix)
			if ocb < 1 || ocb > asm.NEONMaxOCB || si < 0 || di < 0 {
				return nil
			}
			if pointwise {
				return asm.NEONConv1x1[ocb-1][si][di]
			}
			return asm.NEONConv[ocb-1][si][di]
		},
		restore:      asm.NEONRestore,
		rows:         c.Rows,
		edges:        c.Edges,
		restoreEdges: c.RestoreEdges,
		prefetch:     c.Prefetch,
		pool:         asm.NEONMaxPool3x3S2,
	})
}
