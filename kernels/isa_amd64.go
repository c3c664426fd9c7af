//go:build !purego

package kernels

import (
	"slices"

	"golang.org/x/sys/cpu"

	"github.com/sbconv/sbconv/asm"
)

// The AVX2+FMA set: generated microkernels for block 8 (package asm,
// generator gen/avx2), for 1-3 output channel blocks per call, input pixel
// strides 1, 2 and 4 and output pixel strides 1 (convolution) and 2 (a
// phase of a stride-2 transposed convolution), in a general and a 1x1
// form, all looping over Params.Rows rows and taking the edge flags, and
// the block-8 max-pool kernel of MaxPool3x3S2. Other call shapes fall back
// to the generic microkernel through the same driver.
func init() {
	registerISA(&isaSet{
		name:   "avx2",
		block:  8,
		maxOCB: asm.AVX2MaxOCB,
		usable: cpu.X86.HasAVX2 && cpu.X86.HasFMA,
		kernel: func(ocb, srcPix, dstPix int, pointwise bool) microkernel {
			si, di := slices.Index(asm.AVX2SrcStrides[:], srcPix), slices.Index(asm.AVX2DstStrides[:], dstPix)
			if ocb < 1 || ocb > asm.AVX2MaxOCB || si < 0 || di < 0 {
				return nil
			}
			if pointwise {
				return asm.AVX2Conv1x1[ocb-1][si][di]
			}
			return asm.AVX2Conv[ocb-1][si][di]
		},
		restore:      asm.AVX2Restore,
		rows:         true,
		edges:        true,
		restoreEdges: true,
		prefetch:     true,
		pool:         asm.AVX2MaxPool3x3S2,
	})
}
