package kernels

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/sbconv/sbconv/kernels/ref"
	"github.com/sbconv/sbconv/layout"
)

// spatialBottleneck builds the two layers of a spatial-bottleneck basic
// block (3x3 stride-2 convolution, 3x3 stride-2 restore) for c channels.
func spatialBottleneck(t testing.TB, r *rand.Rand, c, block int) (*Conv2D, *ConvTranspose2D) {
	t.Helper()
	spec := ConvSpec{InC: c, OutC: c, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	conv, err := NewConv2D(spec, randSlice(r, c*c*9), randSlice(r, c), block)
	if err != nil {
		t.Fatal(err)
	}
	restore, err := NewConvTranspose2D(spec, randSlice(r, c*c*9), randSlice(r, c), block)
	if err != nil {
		t.Fatal(err)
	}
	return conv, restore
}

func mustTensor(t testing.TB, r *rand.Rand, n, c, h, w, block int) *layout.Tensor {
	t.Helper()
	ten, err := layout.FromNCHW(randSlice(r, n*c*h*w), n, c, h, w, block)
	if err != nil {
		t.Fatal(err)
	}
	return ten
}

// TestForwardAllocatesNothing: once the first calls have filled the free
// lists and started the workers, Forward allocates nothing, on one thread
// and on several.
func TestForwardAllocatesNothing(t *testing.T) {
	defer SetThreads(Threads())
	r := rand.New(rand.NewPCG(1, 1))
	conv, restore := spatialBottleneck(t, r, 20, 8)
	x := mustTensor(t, r, 2, 20, 13, 13, 8)
	y, _ := layout.New(2, 20, 7, 7, 8)
	z, _ := layout.New(2, 20, 13, 13, 8)
	for _, n := range []int{1, 3} {
		SetThreads(n)
		allocs := testing.AllocsPerRun(50, func() {
			if err := conv.Forward(y, x, Epilogue{ReLU: true}); err != nil {
				t.Fatal(err)
			}
			if err := restore.Forward(z, y, Epilogue{Residual: x, ReLU: true}); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("threads=%d: %v allocations per block, want 0", n, allocs)
		}
	}
}

// TestThreadsAgree: the split over threads changes nothing in the result
// (every output value is computed whole by one microkernel call).
func TestThreadsAgree(t *testing.T) {
	defer SetThreads(Threads())
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(2, 2))
		conv, restore := spatialBottleneck(t, r, 40, 8)
		x := mustTensor(t, r, 3, 40, 15, 15, 8)
		var ref []float32
		for _, n := range []int{1, 2, 3, 7, 64} {
			SetThreads(n)
			y, _ := layout.New(3, 40, 8, 8, 8)
			z, _ := layout.New(3, 40, 15, 15, 8)
			if err := conv.Forward(y, x, Epilogue{ReLU: true}); err != nil {
				t.Fatal(err)
			}
			if err := restore.Forward(z, y, Epilogue{Residual: x, ReLU: true}); err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref = z.Data
				continue
			}
			for i := range ref {
				if z.Data[i] != ref[i] {
					t.Fatalf("threads=%d: element %d = %v, one thread gave %v", n, i, z.Data[i], ref[i])
				}
			}
		}
	})
}

// TestConcurrentForward: one layer used by many goroutines at once, each
// with several threads, gives every caller the single-threaded answer.
func TestConcurrentForward(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(1)
	r := rand.New(rand.NewPCG(3, 3))
	conv, restore := spatialBottleneck(t, r, 24, 8)
	const callers = 8
	xs := make([]*layout.Tensor, callers)
	want := make([][]float32, callers)
	for i := range xs {
		xs[i] = mustTensor(t, r, 1, 24, 11, 11, 8)
		y, _ := layout.New(1, 24, 6, 6, 8)
		z, _ := layout.New(1, 24, 11, 11, 8)
		if err := conv.Forward(y, xs[i], Epilogue{ReLU: true}); err != nil {
			t.Fatal(err)
		}
		if err := restore.Forward(z, y, Epilogue{Residual: xs[i]}); err != nil {
			t.Fatal(err)
		}
		want[i] = z.Data
	}
	SetThreads(3)
	var wg sync.WaitGroup
	errs := make(chan string, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			y, _ := layout.New(1, 24, 6, 6, 8)
			z, _ := layout.New(1, 24, 11, 11, 8)
			for rep := 0; rep < 20; rep++ {
				if err := conv.Forward(y, xs[i], Epilogue{ReLU: true}); err != nil {
					errs <- err.Error()
					return
				}
				if err := restore.Forward(z, y, Epilogue{Residual: xs[i]}); err != nil {
					errs <- err.Error()
					return
				}
				for j := range z.Data {
					if z.Data[j] != want[i][j] {
						errs <- "concurrent result differs from the sequential one"
						return
					}
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestNilLayerMethods: every method of a nil layer returns an error or a
// zero value instead of panicking.
func TestNilLayerMethods(t *testing.T) {
	var c *Conv2D
	var d *ConvTranspose2D
	if _, _, err := c.OutputSize(8, 8); err == nil {
		t.Error("nil Conv2D.OutputSize: no error")
	}
	if _, _, _, _, err := d.OutputRange(8, 8); err == nil {
		t.Error("nil ConvTranspose2D.OutputRange: no error")
	}
	if c.FLOPs(1, 8, 8) != 0 || d.FLOPs(1, 4, 4, 8, 8) != 0 || c.Spec() != (ConvSpec{}) || d.Spec() != (ConvSpec{}) {
		t.Error("nil layer methods returned non-zero values")
	}
}

// TestShapeChanges: a layer keeps a plan of the last shape it ran (see
// plan); calls that alternate shapes, one after another and from several
// goroutines at once, must each get their own shape's result, through the
// phase passes (narrow rows) and the fused restore (rows of 16 or more).
func TestShapeChanges(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		defer SetThreads(Threads())
		SetThreads(2)
		r := rand.New(rand.NewPCG(5, 5))
		const c = 16
		wts, bias := randSlice(r, c*c*9), randSlice(r, c)
		spec := ConvSpec{InC: c, OutC: c, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
		conv, err := NewConv2D(spec, wts, bias, 8)
		if err != nil {
			t.Fatal(err)
		}
		restore, err := NewConvTranspose2D(spec, wts, bias, 8)
		if err != nil {
			t.Fatal(err)
		}
		type shape struct{ h, w, lh, lw int } // full size; low-resolution size
		shapes := []shape{{8, 8, 4, 4}, {7, 9, 4, 5}, {32, 34, 16, 17}, {16, 16, 8, 8}, {33, 17, 17, 9}}
		check := func(r *rand.Rand, s shape) error {
			x := randSlice(r, c*s.h*s.w)
			lo := randSlice(r, c*s.lh*s.lw)
			rs := ref.Spec{N: 1, InC: c, OutC: c, H: s.h, W: s.w, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1}
			wantY, _, _ := ref.Conv2D(rs, x, wts, bias, nil, true)
			rs.H, rs.W = s.lh, s.lw
			wantZ := ref.ConvTranspose2D(rs, s.h, s.w, lo, wts, bias, x, true)
			xt, _ := layout.FromNCHW(x, 1, c, s.h, s.w, 8)
			lt, _ := layout.FromNCHW(lo, 1, c, s.lh, s.lw, 8)
			y, _ := layout.New(1, c, s.lh, s.lw, 8)
			z, _ := layout.New(1, c, s.h, s.w, 8)
			if err := conv.Forward(y, xt, Epilogue{ReLU: true}); err != nil {
				return err
			}
			if err := restore.Forward(z, lt, Epilogue{Residual: xt, ReLU: true}); err != nil {
				return err
			}
			if err := closeEnough(y.NCHW(), wantY, 12, 1e-5); err != nil {
				return fmt.Errorf("conv %v: %v", s, err)
			}
			if err := closeEnough(z.NCHW(), wantZ, 12, 1e-5); err != nil {
				return fmt.Errorf("restore %v: %v", s, err)
			}
			return nil
		}
		for _, i := range []int{0, 1, 2, 0, 3, 2, 4, 1} {
			if err := check(r, shapes[i]); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(shapes))
		for i := range shapes {
			wg.Add(1)
			go func(r *rand.Rand, s shape) {
				defer wg.Done()
				for rep := 0; rep < 5; rep++ {
					if err := check(r, s); err != nil {
						errs <- err
						return
					}
				}
			}(rand.New(rand.NewPCG(6, uint64(i))), shapes[i])
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}
