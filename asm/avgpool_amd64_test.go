//go:build !purego

package asm

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// avgPoolSets are the x86 sets with an average-pool kernel this CPU runs,
// by block, under the CPU checks package kernels dispatches them with.
func avgPoolSets() map[string]struct {
	k     func(*AvgPoolParams)
	block int
} {
	sets := map[string]struct {
		k     func(*AvgPoolParams)
		block int
	}{}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sets["avx2"] = struct {
			k     func(*AvgPoolParams)
			block int
		}{AVX2AvgPool, 8}
	}
	if cpu.X86.HasAVX && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ {
		sets["avx512"] = struct {
			k     func(*AvgPoolParams)
			block int
		}{AVX512AvgPool, 16}
	}
	return sets
}

// TestAvgPoolKernels calls each set's average-pool kernel for Pix =
// 1..70 (every tail of its four-pixel step, and many steps) and Planes =
// 0..3, planes a pixel apart beyond their own (SrcPlane > Pix*b*4, the
// gap filled with sentinels the kernel must not read), and checks every
// output float against the contract, computed in Go in its order, bit
// for bit, with sentinels before and after the output that must not
// change. Inputs include negative zeros, so a kernel that starts its
// sums at anything but +0 or adds in another order shows.
func TestAvgPoolKernels(t *testing.T) {
	sets := avgPoolSets()
	if len(sets) == 0 {
		t.Skip("no average-pool kernel runs on this CPU")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for name, set := range sets {
		t.Run(name, func(t *testing.T) {
			b := set.block
			for planes := 0; planes <= 3; planes++ {
				for pix := 1; pix <= 70; pix++ {
					stride := (pix + 1) * b // floats from one plane to the next: one pixel of gap
					src := make([]float32, max(planes, 1)*stride)
					for i := range src {
						switch {
						case i%stride >= pix*b:
							src[i] = srcSentinel
						case rng.IntN(16) == 0:
							src[i] = float32(math.Copysign(0, -1))
						default:
							src[i] = float32(rng.Float64()*2 - 1)
						}
					}
					const guard = 16
					dst := make([]float32, guard+planes*b+guard)
					for i := range dst {
						dst[i] = outSentinel
					}
					scale := 1 / float32(pix)
					p := AvgPoolParams{
						Src: unsafe.Pointer(&src[0]), Dst: unsafe.Pointer(&dst[guard]),
						Planes: planes, Pix: pix, SrcPlane: stride * 4, Scale: scale,
					}
					set.k(&p)
					for i, v := range dst {
						o := i - guard
						want := outSentinel
						if o >= 0 && o < planes*b {
							pl, l := o/b, o%b
							v := func(j int) float32 { return src[pl*stride+j*b+l] }
							var s0, s1, s2, s3 float32
							j := 0
							for ; j+4 <= pix; j += 4 {
								s0 += v(j)
								s1 += v(j + 1)
								s2 += v(j + 2)
								s3 += v(j + 3)
							}
							for ; j < pix; j++ {
								s0 += v(j)
							}
							want = ((s0 + s1) + (s2 + s3)) * scale
						}
						if math.Float32bits(v) != math.Float32bits(want) {
							t.Fatalf("planes %d pix %d: float %d of dst (plane %d lane %d) is %v (%#x), want %v (%#x)",
								planes, pix, o, o/b, o%b, v, math.Float32bits(v), want, math.Float32bits(want))
						}
					}
				}
			}
		})
	}
}
