//go:build !purego

package kernels

import (
	"golang.org/x/sys/cpu"

	"github.com/sbconv/sbconv/asm"
)

// The x86 sets: the kernels gen/x86 generates into package asm, with the
// block and capabilities it derived from them (asm.AVX2Caps,
// asm.AVX512Caps). Call shapes without a kernel in a set's tables fall
// back to the generic microkernel through the same driver.
func init() {
	registerISA(x86Set("avx2", rankAVX2, asm.AVX2Caps, cpu.X86.HasAVX2 && cpu.X86.HasFMA,
		asm.AVX2Kernel, asm.AVX2TileKernel, asm.AVX2URW[:], asm.AVX2Restore, asm.AVX2MaxPool3x3S2))
	// Every subset the generated code's "Requires:" lines name (AVX,
	// AVX512F, AVX512DQ, and MMX+ for PREFETCHT1, which every x86-64 CPU
	// has, as for avx2); x/sys/cpu reports them only where the OS saves
	// the opmask and ZMM state.
	registerISA(x86Set("avx512", rankAVX512, asm.AVX512Caps,
		cpu.X86.HasAVX && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ,
		asm.AVX512Kernel, asm.AVX512TileKernel, asm.AVX512URW[:], asm.AVX512Restore, asm.AVX512MaxPool3x3S2))
}

// x86Set is the isaSet of a generated x86 set.
func x86Set(name string, rank int, c asm.Caps, usable bool, kernel func(ocb, s, d int, pw bool) func(*asm.Params),
	tile func(ocb, s, d, w int, pw bool) func(*asm.Params), urw []int, restore []asm.RestoreKernel, pool poolKernel) *isaSet {
	return &isaSet{name: name, rank: rank, usable: usable, Caps: c, kernel: kernel, tile: tile, urw: urw, restore: restore, pool: pool}
}
