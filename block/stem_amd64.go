//go:build !purego

package block

import (
	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/kernels"
)

// packSet names the generated pack kernel (package asm's pack contract)
// packRun8 calls: that of the dispatched x86 set, or none.
type packSet uint8

const (
	packGo     packSet = iota // none: packRun8's Go loop
	packAVX2                  // asm.AVX2Pack
	packAVX512                // asm.AVX512Pack
)

// dispatchedPack returns the pack kernel of the set package kernels
// dispatches (kernels.ISA: a set this CPU runs, or generic).
func dispatchedPack() packSet {
	switch kernels.ISA() {
	case "avx2":
		if asm.AVX2Pack != nil {
			return packAVX2
		}
	case "avx512":
		if asm.AVX512Pack != nil {
			return packAVX512
		}
	}
	return packGo
}

// packAsm calls kernel k (not packGo) by name, not through the table's
// function values: the kernels do not let p escape, so it stays on the
// caller's stack, which a call through a function value would not allow.
func packAsm(k packSet, p *asm.PackParams) {
	switch k {
	case packAVX2:
		asm.AVX2Pack8(p)
	case packAVX512:
		asm.AVX512Pack8(p)
	default:
		panic("block: no pack kernel")
	}
}

// dispatchedStem returns the kernels of package asm's stem contract of the
// set package kernels dispatches, by output blocks and input pixel
// stride: stemFor(ocb, sw) is nil where the set has none (a stride
// other than the generated ones), and stemFor itself is nil where the
// set has no stem kernels (generic), or its block is not blk.
func dispatchedStem(blk int) (stemFor func(ocb, sw int) func(*asm.Params), maxOCB int) {
	switch {
	case kernels.ISA() == "avx2" && blk == 8:
		return stemLookup(asm.AVX2Stem[:], asm.AVX2StemStrides[:])
	case kernels.ISA() == "avx512" && blk == 16:
		return stemLookup(asm.AVX512Stem[:], asm.AVX512StemStrides[:])
	}
	return nil, 0
}

// stemLookup returns the lookup of a set's stem table (by output blocks,
// then input stride as strides lists them) and its block counts. The x86
// sets share gen/x86's two strides, hence the table's row type.
func stemLookup(table [][2]func(*asm.Params), strides []int) (func(ocb, sw int) func(*asm.Params), int) {
	return func(ocb, sw int) func(*asm.Params) {
		for si, s := range strides {
			if s == sw && ocb >= 1 && ocb <= len(table) {
				return table[ocb-1][si]
			}
		}
		return nil
	}, len(table)
}

// avgPoolSet names the generated average-pool kernel globalAvgPool calls:
// that of the dispatched x86 set, or none.
type avgPoolSet uint8

const (
	avgPoolGo     avgPoolSet = iota // none: globalAvgPoolGo
	avgPoolAVX2                     // asm.AVX2AvgPoolMean
	avgPoolAVX512                   // asm.AVX512AvgPoolMean
)

// dispatchedAvgPool returns the average-pool kernel of the set package
// kernels dispatches, where its block is blk, or none.
func dispatchedAvgPool(blk int) avgPoolSet {
	switch {
	case kernels.ISA() == "avx2" && blk == 8 && asm.AVX2AvgPool != nil:
		return avgPoolAVX2
	case kernels.ISA() == "avx512" && blk == 16 && asm.AVX512AvgPool != nil:
		return avgPoolAVX512
	}
	return avgPoolGo
}

// avgPoolAsm calls kernel k (not avgPoolGo) by name, so that p stays on
// the caller's stack (see packAsm).
func avgPoolAsm(k avgPoolSet, p *asm.AvgPoolParams) {
	switch k {
	case avgPoolAVX2:
		asm.AVX2AvgPoolMean(p)
	case avgPoolAVX512:
		asm.AVX512AvgPoolMean(p)
	default:
		panic("block: no average-pool kernel")
	}
}
