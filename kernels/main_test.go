package kernels

import (
	"os"
	"testing"

	"github.com/sbconv/sbconv/internal/workers"
	"github.com/sbconv/sbconv/layout"
)

// productionMinFLOPs keeps the real threshold for TestThreadsFor.
var productionMinFLOPs, productionMinHeld = minFLOPsPerThread, minHeldFLOPsPerThread

// TestMain lets every call of the test binary split over as many threads
// as SetThreads allows, whatever its size: the tests' shapes are small, and
// the parallel paths (units, workers, halo copies) must be exercised by
// them all (sweeps, fuzz targets, concurrency and allocation tests).
func TestMain(m *testing.M) {
	minFLOPsPerThread, minHeldFLOPsPerThread = 0, 0
	os.Exit(m.Run())
}

// TestThreadsFor: small calls stay on one thread; large ones use them
// all; while the workers are held (a network call), small ones split too.
func TestThreadsFor(t *testing.T) {
	defer func(v, h float64) { minFLOPsPerThread, minHeldFLOPsPerThread = v, h }(minFLOPsPerThread, minHeldFLOPsPerThread)
	minFLOPsPerThread, minHeldFLOPsPerThread = productionMinFLOPs, productionMinHeld
	defer SetThreads(Threads())
	SetThreads(2)
	conv := func(c, h int) (*Conv2D, *ConvTranspose2D) {
		spec := ConvSpec{InC: c, OutC: c, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
		cv, err := NewConv2D(spec, make([]float32, c*c*9), nil, 8)
		if err != nil {
			t.Fatal(err)
		}
		spec.StrideH, spec.StrideW = 2, 2
		d, err := NewConvTranspose2D(spec, make([]float32, c*c*9), nil, 8)
		if err != nil {
			t.Fatal(err)
		}
		return cv, d
	}
	for _, c := range []struct {
		ch, h, want int
	}{{16, 32, 1}, {64, 8, 1}, {64, 56, 2}, {512, 7, 2}} {
		cv, d := conv(c.ch, c.h)
		x := &layout.Tensor{N: 1, C: c.ch, H: c.h, W: c.h, Block: 8}
		lo := &layout.Tensor{N: 1, C: c.ch, H: (c.h + 1) / 2, W: (c.h + 1) / 2, Block: 8}
		if got := cv.l.threadsFor(x, x); got != c.want {
			t.Errorf("conv %dx%d: %d threads, want %d", c.ch, c.h, got, c.want)
		}
		if got := d.l.threadsFor(lo, x); got != c.want {
			t.Errorf("restore %dx%d: %d threads, want %d", c.ch, c.h, got, c.want)
		}
	}
	workers.Hold(2)
	defer workers.Unhold()
	for _, c := range []struct {
		ch, h, want int
	}{{8, 4, 1}, {16, 8, 1}, {16, 16, 2}, {16, 32, 2}, {64, 2, 1}, {64, 4, 2}, {64, 8, 2}} {
		cv, _ := conv(c.ch, c.h)
		x := &layout.Tensor{N: 1, C: c.ch, H: c.h, W: c.h, Block: 8}
		if got := cv.l.threadsFor(x, x); got != c.want {
			t.Errorf("held: conv %dx%d: %d threads, want %d", c.ch, c.h, got, c.want)
		}
	}
	// Block 16 (AVX-512) does a FLOP in half the time: twice the work a
	// thread.
	for _, c := range []struct {
		ch, h, want int
	}{{16, 16, 1}, {32, 16, 2}, {64, 4, 1}, {64, 8, 2}} {
		spec := ConvSpec{InC: c.ch, OutC: c.ch, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
		cv, err := NewConv2D(spec, make([]float32, c.ch*c.ch*9), nil, 16)
		if err != nil {
			t.Fatal(err)
		}
		x := &layout.Tensor{N: 1, C: c.ch, H: c.h, W: c.h, Block: 16}
		if got := cv.l.threadsFor(x, x); got != c.want {
			t.Errorf("held, block 16: conv %dx%d: %d threads, want %d", c.ch, c.h, got, c.want)
		}
	}
}
