//go:build !purego

package kernels

import (
	"slices"

	"golang.org/x/sys/cpu"

	"github.com/sbconv/sbconv/asm"
)

// The NEON (ASIMD) set: generated microkernels for block 8 (package asm,
// generator gen/neon), for 1-2 output channel blocks per call, input pixel
// strides 1, 2 and 4 and output pixel strides 1 (convolution) and 2 (a
// phase of a stride-2 transposed convolution), in a general and a 1x1
// form, and fused stride-2 restores for kernel widths 2, 3 and 4, all
// looping over Params.Rows rows, the general convolutions also taking the
// edge flags, and the block-8 max-pool kernel of MaxPool3x3S2. Other call
// shapes fall back to the generic microkernel through the same driver.
func init() {
	registerISA(&isaSet{
		name:   "neon",
		block:  8,
		maxOCB: asm.NEONMaxOCB,
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
		restore: asm.NEONRestore,
		rows:    true,
		edges:   true,
		pool:    asm.NEONMaxPool3x3S2,
	})
}
