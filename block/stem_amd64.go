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
