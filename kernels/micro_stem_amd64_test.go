//go:build !purego

package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sbconv/sbconv/asm"
)

// stemKernels returns the kernels of package asm's stem contract of the
// x86 set named set (package block's direct stem calls them), by output
// blocks and index into strides, or nil for a set without.
func stemKernels(set string) (table [][2]func(*asm.Params), strides []int) {
	switch set {
	case "avx2":
		return asm.AVX2Stem[:], asm.AVX2StemStrides[:]
	case "avx512":
		return asm.AVX512Stem[:], asm.AVX512StemStrides[:]
	}
	return nil, nil
}

// TestMicroStem calls every stem kernel of every x86 set this CPU runs,
// for each number of output blocks and input pixel stride, over Pix
// 1..convPix (every block size of the pixel loop, as a whole call and as
// either half of a split tail, then whole steps), windows 1x1 to 7x7 (the
// ResNet stems' 3x3 and 7x7 among them) over 1-3 input channels, in one
// row and in rows, residual and ReLU on and off, through the microkernel
// tester: the input is one float a channel and pixel, and every float the
// contract does not read is a NaN.
func TestMicroStem(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	ran := 0
	for _, set := range microSets() {
		table, strides := stemKernels(set.name)
		if table == nil {
			continue
		}
		if len(table) != set.MaxOCB {
			t.Fatalf("%s: stem kernels for %d output blocks, the set's MaxOCB is %d", set.name, len(table), set.MaxOCB)
		}
		for ocb := 1; ocb <= len(table); ocb++ {
			for si, sp := range strides {
				k := table[ocb-1][si]
				t.Run(fmt.Sprintf("%s/o%d_s%d", set.name, ocb, sp), func(t *testing.T) {
					ran++
					for _, win := range [][2]int{{1, 1}, {3, 3}, {4, 3}, {2, 5}, {7, 7}} {
						for icb := 1; icb <= 3; icb++ {
							for pix := 1; pix <= set.convPix(ocb); pix++ {
								flags := r.IntN(8)
								microCase{b: set.block, ocb: ocb, icb: icb, kh: win[0], kw: win[1], pix: pix, sp: sp, dp: 1,
									rows: 2 * (flags >> 2), res: flags&1 == 1, relu: flags&2 == 2, stem: true}.check(t, r, k)
							}
						}
					}
				})
			}
		}
	}
	if ran == 0 {
		t.Skip("no stem kernel runs on this CPU")
	}
}
