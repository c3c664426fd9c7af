//go:build !purego

package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// packSets are the x86 sets with a pack kernel this CPU runs, under the
// CPU checks package kernels dispatches them with.
func packSets() map[string]func(*PackParams) {
	sets := map[string]func(*PackParams){}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sets["avx2"] = AVX2Pack
	}
	if cpu.X86.HasAVX && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ {
		sets["avx512"] = AVX512Pack
	}
	return sets
}

// packGuard is the guard floats around every operand: two sentinel
// values, each a NaN with its own payload so a stray copy is seen bit for
// bit and tells which side it came from.
const packGuard = 24

var (
	srcSentinel = math.Float32frombits(0x7fc0_5eed)
	outSentinel = math.Float32frombits(0x7fc0_0bad)
)

// TestPackKernels calls each set's pack kernel for N = 0..40 pixels, at
// SrcStep 1, 2 (the vector paths) and 3 (the scalar loop), OutStep 8 and
// 16, and checks every lane of every pixel against the contract bit for
// bit. Each run, and the output, is exactly as long as the contract lets
// the kernel read (the (N-1)*SrcStep+1 floats of a run) or write (to
// pixel N-1's lane 7), inside a buffer whose other floats are sentinels
// that must neither be copied nor change (the output's lanes 8..OutStep-1
// included); where the operating system allows (packRegion), the tests
// repeat with every operand against a page nobody may touch, ending at it
// and starting after it, so that a read the kernel discards (the float
// past a SrcStep-2 run) faults too.
func TestPackKernels(t *testing.T) {
	sets := packSets()
	if len(sets) == 0 {
		t.Skip("no pack kernel runs on this CPU")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, kernel := range sets {
		for _, place := range packPlaces {
			t.Run(name+"/"+place, func(t *testing.T) {
				for _, srcStep := range []int{1, 2, 3} {
					for _, outStep := range []int{8, 16} {
						for n := 0; n <= 40; n++ {
							checkPack(t, kernel, rng, place, n, srcStep, outStep)
						}
					}
				}
			})
		}
	}
}

// packRegion is an operand of n floats, full[lo:lo+n], in a buffer full
// of sentinels; placed "guards", the sentinels are packGuard floats on
// either side; "end" and "start" (see packGuardPage) put it against an
// inaccessible page, after it or before it.
type packRegion struct {
	full []float32
	lo   int
}

func (r packRegion) ptr() unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(unsafe.SliceData(r.full)), 4*r.lo)
}

func newPackRegion(t *testing.T, place string, n int, sentinel float32) packRegion {
	var r packRegion
	switch place {
	case "guards":
		r = packRegion{full: make([]float32, n+2*packGuard), lo: packGuard}
	default:
		page := packGuardPage(t)
		r = packRegion{full: page}
		if place == "end" {
			r.lo = len(page) - n
		}
	}
	for i := range r.full {
		r.full[i] = sentinel
	}
	return r
}

func checkPack(t *testing.T, kernel func(*PackParams), rng *rand.Rand, place string, n, srcStep, outStep int) {
	t.Helper()
	what := fmt.Sprintf("N=%d SrcStep=%d OutStep=%d", n, srcStep, outStep)
	runLen, outLen := 0, 0
	if n > 0 {
		runLen, outLen = (n-1)*srcStep+1, (n-1)*outStep+8
	}
	p := PackParams{N: n, SrcStep: srcStep, OutStep: outStep}
	var runs [8]packRegion
	var copies [8][]float32
	for l := range runs {
		runs[l] = newPackRegion(t, place, runLen, srcSentinel)
		for i := range runLen {
			// Random bits, NaNs and denormals included: a copy keeps them all.
			runs[l].full[runs[l].lo+i] = math.Float32frombits(rng.Uint32())
		}
		copies[l] = append([]float32(nil), runs[l].full...)
		p.Src[l] = runs[l].ptr()
	}
	out := newPackRegion(t, place, outLen, outSentinel)
	p.Out = out.ptr()

	kernel(&p)

	for i, v := range out.full {
		want := outSentinel
		k := i - out.lo
		if j, l := k/outStep, k%outStep; k >= 0 && k < outLen && l < 8 {
			want = runs[l].full[runs[l].lo+j*srcStep]
		}
		if math.Float32bits(v) != math.Float32bits(want) {
			t.Fatalf("%s: output float %d (pixel %d lane %d) is %#08x, want %#08x (source sentinel %#08x, output sentinel %#08x)",
				what, k, k/outStep, k%outStep, math.Float32bits(v), math.Float32bits(want),
				math.Float32bits(srcSentinel), math.Float32bits(outSentinel))
		}
	}
	for l := range runs {
		for i, v := range runs[l].full {
			if math.Float32bits(v) != math.Float32bits(copies[l][i]) {
				t.Fatalf("%s: source %d float %d changed", what, l, i-runs[l].lo)
			}
		}
	}
	if p.N != n || p.SrcStep != srcStep || p.OutStep != outStep {
		t.Fatalf("%s: the kernel changed its argument block: %+v", what, p)
	}
}
