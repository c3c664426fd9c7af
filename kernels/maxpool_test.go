package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/layout"
)

// poolRefNCHW is PyTorch's MaxPool2d(3, stride=2, padding=1) written out
// on plain NCHW arrays: -Inf padding, and PyTorch's update rule
// (val > max || isnan(val)), so a NaN anywhere in a window wins.
func poolRefNCHW(x []float32, n, c, h, w int) (out []float32, oh, ow int) {
	oh, ow = (h+2-3)/2+1, (w+2-3)/2+1
	out = make([]float32, n*c*oh*ow)
	for p := 0; p < n*c; p++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				m := float32(math.Inf(-1))
				for dy := 0; dy < 3; dy++ {
					for dx := 0; dx < 3; dx++ {
						y, xx := 2*i-1+dy, 2*j-1+dx
						if y < 0 || y >= h || xx < 0 || xx >= w {
							continue // padding: -Inf never wins
						}
						if v := x[(p*h+y)*w+xx]; v > m || v != v {
							m = v
						}
					}
				}
				out[(p*oh+i)*ow+j] = m
			}
		}
	}
	return out, oh, ow
}

// samePool reports whether got matches want: both NaN, or equal (so -0
// and +0 match: which one a window of zeros gives is not specified).
func samePool(got, want float32) bool {
	if want != want {
		return got != got
	}
	return got == want
}

// poolInput returns n*c*h*w values in [-1, 1] with, at random positions,
// NaN, +Inf, -Inf and -0 (each about one in 40 when specials is set).
func poolInput(r *rand.Rand, size int, specials bool) []float32 {
	x := randSlice(r, size)
	if !specials {
		return x
	}
	neg0 := float32(math.Copysign(0, -1))
	for i := range x {
		switch r.IntN(40) {
		case 0:
			x[i] = float32(math.NaN())
		case 1:
			x[i] = float32(math.Inf(1))
		case 2:
			x[i] = float32(math.Inf(-1))
		case 3:
			x[i] = neg0
		}
	}
	return x
}

// checkPool runs MaxPool3x3S2 on one shape through the dispatched set and
// compares it with poolRefNCHW, with guards around dst, every float of
// dst (padded lanes included) preset to a value the pool never gives,
// and the padded lanes checked zero afterwards.
func checkPool(t *testing.T, r *rand.Rand, n, c, h, w, block int, specials bool) {
	t.Helper()
	name := fmt.Sprintf("n%d_c%d_%dx%d_blk%d", n, c, h, w, block)
	x := poolInput(r, n*c*h*w, specials)
	src, err := layout.FromNCHW(x, n, c, h, w, block)
	if err != nil {
		t.Fatal(err)
	}
	want, oh, ow := poolRefNCHW(x, n, c, h, w)
	dst, check := guarded(t, n, c, oh, ow, block)
	for i := range dst.Data {
		dst.Data[i] = 7777 // every value must be written
	}
	if err := MaxPool3x3S2(dst, src); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	check()
	checkPadLanes(t, dst)
	got := dst.NCHW()
	for i := range want {
		if !samePool(got[i], want[i]) {
			p, pix := i/(oh*ow), i%(oh*ow)
			t.Fatalf("%s: image %d channel %d pixel (%d, %d): got %v, want %v",
				name, p/c, p%c, pix/ow, pix%ow, got[i], want[i])
		}
	}
}

// TestMaxPoolSweep: every usable set, every height and width from 1 to
// 20 (odd and even; 1x1, 2x2, 3x3 among them), batches of 1 and 2,
// channel counts that are not multiples of the block, blocks 8 and 16,
// NaN, infinities and -0 at random positions, on one thread and on
// three (planes split over workers).
func TestMaxPoolSweep(t *testing.T) {
	defer SetThreads(Threads())
	defer func(v int) { minPoolBytesPerThread = v }(minPoolBytesPerThread)
	minPoolBytesPerThread = 1
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 7))
		chans := []int{3, 11, 20, 8}
		k := 0
		for _, block := range []int{8, 16} {
			for h := 1; h <= 20; h++ {
				for w := 1; w <= 20; w++ {
					k++
					SetThreads(1 + 2*(k%2))
					checkPool(t, r, 1+k%3%2, chans[k%len(chans)], h, w, block, k%4 != 0)
				}
			}
		}
	})
}

// TestMaxPoolResNetStem: the ImageNet stem's pool, 64 channels 112x112 ->
// 56x56, and a batch of odd-sized maps, on every usable set.
func TestMaxPoolResNetStem(t *testing.T) {
	defer SetThreads(Threads())
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(8, 8))
		for _, threads := range []int{1, 4} {
			SetThreads(threads)
			checkPool(t, r, 1, 64, 112, 112, 8, true)
			checkPool(t, r, 3, 40, 57, 31, 8, true)
			checkPool(t, r, 2, 24, 33, 34, 16, true)
		}
	})
}

// TestMaxPoolUsesSetKernel: every assembly set has a pool kernel for its
// block (8 or 16: the blocks of the contract); the generic set the Go
// ones.
func TestMaxPoolUsesSetKernel(t *testing.T) {
	for _, s := range isaSets {
		if (s.pool != nil) != (s != genericSet) {
			t.Errorf("%s: pool kernel set: %v", s.name, s.pool != nil)
		}
		if s.pool != nil && s.Block != 8 && s.Block != 16 {
			t.Errorf("%s: pool kernel for block %d, want 8 or 16", s.name, s.Block)
		}
	}
}

// poolContractRef is package asm's max-pool contract written out for
// block b, from Go slices at the same offsets the kernel's pointers have.
func poolContractRef(dst []float32, src [3][]float32, pix, rows, srcRows, dstRows, b int) {
	for r := 0; r < max(rows, 1); r++ {
		for j := 0; j < pix; j++ {
			for lane := 0; lane < b; lane++ {
				m := float32(math.Inf(-1))
				for k := 0; k < 3; k++ {
					for dx := 0; dx < 3; dx++ {
						if v := src[k][r*srcRows+(2*j+dx)*b+lane]; v > m || v != v {
							m = v
						}
					}
				}
				dst[r*dstRows+j*b+lane] = m
			}
		}
	}
}

// poolKernels are the max-pool kernels to test directly: every usable
// set's and the generic ones, with their blocks.
func poolKernels() (names []string, ks []poolKernel, blocks []int) {
	for _, s := range isaSets {
		if s.usable && s.pool != nil {
			names, ks, blocks = append(names, s.name), append(ks, s.pool), append(blocks, s.Block)
		}
	}
	return append(names, "generic8", "generic16"), append(ks, genericPool8, genericPool16), append(blocks, 8, 16)
}

// TestPoolKernelsMatchContract calls each pool kernel directly with
// PoolParams against poolContractRef: Pix 0..21 (every tail of a 4-pixel
// step, several steps), 0-3 rows (0 is one), source rows apart from each
// other or repeated, row strides with gaps. Guards around dst and in the
// gaps between its rows catch any write outside the contract; the source
// columns outside it are NaN, so any read of them shows in the result
// (in the runs without NaN inside the contract's columns).
func TestPoolKernelsMatchContract(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	names, ks, blocks := poolKernels()
	for ki, kern := range ks {
		b := blocks[ki]
		for pix := 0; pix <= 21; pix++ {
			for rows := 0; rows <= 3; rows++ {
				for mode := 0; mode < 4; mode++ {
					name := fmt.Sprintf("%s/pix%d_rows%d_mode%d", names[ki], pix, rows, mode)
					checkPoolKernel(t, r, name, kern, b, pix, rows, mode)
				}
			}
		}
	}
}

// checkPoolKernel runs one kernel call. mode bit 0: NaN and infinities
// inside the contract's columns (else finite values, infinities and -0,
// and NaN outside); bit 1: Src1 repeats Src0.
func checkPoolKernel(t *testing.T, r *rand.Rand, name string, kern poolKernel, b, pix, rows, mode int) {
	t.Helper()
	nr := max(rows, 1)
	cols := 2*pix + 1
	srcRow := (cols + 3) * b // floats between rows: a gap of 3 pixels
	const lead = 2           // pixels before column 0, outside the contract
	outside := float32(math.NaN())
	if mode&1 == 1 {
		outside = float32(math.Inf(-1)) // reads outside cannot be told here
	}
	var src [3][]float32
	var backing [3][]float32
	for k := range src {
		backing[k] = make([]float32, lead*b+nr*srcRow+b)
		for i := range backing[k] {
			backing[k][i] = outside
		}
		src[k] = backing[k][lead*b:]
		for row := 0; row < nr; row++ {
			for i := 0; i < cols*b; i++ {
				v := float32(r.Float64()*2 - 1)
				switch r.IntN(30) {
				case 0:
					v = float32(math.Inf(1))
				case 1:
					v = float32(math.Inf(-1))
				case 2:
					v = float32(math.Copysign(0, -1))
				case 3:
					if mode&1 == 1 {
						v = float32(math.NaN())
					}
				}
				src[k][row*srcRow+i] = v
			}
		}
	}
	if mode&2 == 2 {
		src[1] = src[0]
	}
	dstRow := pix*b + 5 // a gap of 5 floats between rows
	const g = 37
	dback := make([]float32, g+nr*dstRow+g)
	for i := range dback {
		dback[i] = guardVal
	}
	dst := dback[g : g+nr*dstRow]
	want := make([]float32, len(dst))
	copy(want, dst)
	poolContractRef(want, src, pix, rows, srcRow, dstRow, b)

	prm := &asm.PoolParams{
		Src0: unsafe.Pointer(&src[0][0]), Src1: unsafe.Pointer(&src[1][0]), Src2: unsafe.Pointer(&src[2][0]),
		Dst: unsafe.Pointer(&dback[g]), Pix: pix, Rows: rows, SrcRows: srcRow * 4, DstRows: dstRow * 4,
	}
	kern(prm)
	for i := range dback {
		if (i < g || i >= g+len(dst)) && dback[i] != guardVal {
			t.Fatalf("%s: guard at %d overwritten: %v", name, i-g, dback[i])
		}
	}
	for i := range dst {
		if !samePool(dst[i], want[i]) {
			t.Fatalf("%s: row %d float %d: got %v, want %v", name, i/dstRow, i%dstRow, dst[i], want[i])
		}
	}
}

// TestPoolKernelsNaNEverywhere: a single NaN at each position of each
// window (every source row, every column of a 9-pixel row: two steps and
// a tail) makes exactly the outputs whose windows hold it NaN, on every
// kernel, in every lane.
func TestPoolKernelsNaNEverywhere(t *testing.T) {
	names, ks, blocks := poolKernels()
	const pix = 9
	for ki, kern := range ks {
		b := blocks[ki]
		cols := 2*pix + 1
		for k := 0; k < 3; k++ {
			for c := 0; c < cols; c++ {
				lane := (c + k) % b
				var src [3][]float32
				for kk := range src {
					src[kk] = make([]float32, cols*b)
					for i := range src[kk] {
						src[kk][i] = float32(i%7) - 3
					}
				}
				src[k][c*b+lane] = float32(math.NaN())
				dst := make([]float32, pix*b)
				kern(&asm.PoolParams{
					Src0: unsafe.Pointer(&src[0][0]), Src1: unsafe.Pointer(&src[1][0]), Src2: unsafe.Pointer(&src[2][0]),
					Dst: unsafe.Pointer(&dst[0]), Pix: pix, Rows: 1,
				})
				for j := 0; j < pix; j++ {
					for l := 0; l < b; l++ {
						isNaN := dst[j*b+l] != dst[j*b+l]
						if wantNaN := l == lane && c >= 2*j && c <= 2*j+2; isNaN != wantNaN {
							t.Fatalf("%s: NaN in row %d column %d lane %d: output %d lane %d is %v",
								names[ki], k, c, lane, j, l, dst[j*b+l])
						}
					}
				}
			}
		}
	}
}

// TestMaxPoolValidation: bad tensors are refused with an error naming
// the bad value, never a panic.
func TestMaxPoolValidation(t *testing.T) {
	src := valTensor(t, 2, 12, 9, 10, 8)
	ok := func(n, c, h, w, block int) *layout.Tensor {
		d, err := layout.New(n, c, h, w, block)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	short := ok(2, 12, 5, 5, 8)
	short.Data = short.Data[:len(short.Data)-1]
	one := valTensor(t, 1, 8, 1, 1, 8)
	half := ok(2, 12, 5, 5, 8)
	// A 1x8x2x1 input over src's first 16 floats, and a 1x8x1x1 output
	// over its second pixel.
	pair := &layout.Tensor{N: 1, C: 8, H: 2, W: 1, Block: 8, Data: src.Data[0:16]}
	inside := &layout.Tensor{N: 1, C: 8, H: 1, W: 1, Block: 8, Data: src.Data[8:16]}
	runValCases(t, []valCase{
		{"legal", func() error { return MaxPool3x3S2(ok(2, 12, 5, 5, 8), src) }, nil},
		{"legal 1x1", func() error { return MaxPool3x3S2(ok(1, 8, 1, 1, 8), one) }, nil},
		{"nil dst", func() error { return MaxPool3x3S2(nil, src) }, []string{"dst", "nil"}},
		{"nil src", func() error { return MaxPool3x3S2(half, nil) }, []string{"src", "nil"}},
		{"short dst", func() error { return MaxPool3x3S2(short, src) }, []string{"dst", fmt.Sprintf("len(Data) = %d", len(short.Data))}},
		{"bad block", func() error {
			return MaxPool3x3S2(&layout.Tensor{N: 2, C: 12, H: 5, W: 5, Block: 4, Data: make([]float32, 600)}, src)
		}, []string{"dst", "block 4"}},
		{"N", func() error { return MaxPool3x3S2(ok(1, 12, 5, 5, 8), src) }, []string{"dst.N = 1", "src.N = 2"}},
		{"C", func() error { return MaxPool3x3S2(ok(2, 13, 5, 5, 8), src) }, []string{"dst.C = 13", "src.C = 12"}},
		{"Block", func() error { return MaxPool3x3S2(ok(2, 12, 5, 5, 16), src) }, []string{"dst.Block = 16", "src.Block = 8"}},
		{"H", func() error { return MaxPool3x3S2(ok(2, 12, 4, 5, 8), src) }, []string{"dst is 4x5", "want 5x5", "9x10"}},
		{"W", func() error { return MaxPool3x3S2(ok(2, 12, 5, 6, 8), src) }, []string{"dst is 5x6", "want 5x5"}},
		{"in place", func() error { return MaxPool3x3S2(one, one) }, []string{"aliases"}},
		{"overlap", func() error { return MaxPool3x3S2(inside, pair) }, []string{"aliases"}},
	})
}

// TestMaxPoolAllocatesNothing: the steady state allocates nothing, on
// one thread and on several.
func TestMaxPoolAllocatesNothing(t *testing.T) {
	defer SetThreads(Threads())
	defer func(v int) { minPoolBytesPerThread = v }(minPoolBytesPerThread)
	minPoolBytesPerThread = 1
	r := rand.New(rand.NewPCG(3, 3))
	forEachISA(t, func(t *testing.T) {
		for _, block := range []int{8, 16} {
			src := mustTensor(t, r, 2, 40, 23, 24, block)
			dst, _ := layout.New(2, 40, 12, 12, block)
			for _, n := range []int{1, 3} {
				SetThreads(n)
				allocs := testing.AllocsPerRun(50, func() {
					if err := MaxPool3x3S2(dst, src); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Errorf("block %d threads=%d: %v allocations a call, want 0", block, n, allocs)
				}
			}
		}
	})
}

// TestMaxPoolConcurrent: concurrent calls on shared workers each give
// the reference result.
func TestMaxPoolConcurrent(t *testing.T) {
	defer SetThreads(Threads())
	defer func(v int) { minPoolBytesPerThread = v }(minPoolBytesPerThread)
	minPoolBytesPerThread = 1
	SetThreads(3)
	r := rand.New(rand.NewPCG(4, 4))
	x := poolInput(r, 2*24*30*29, true)
	src, err := layout.FromNCHW(x, 2, 24, 30, 29, 8)
	if err != nil {
		t.Fatal(err)
	}
	want, oh, ow := poolRefNCHW(x, 2, 24, 30, 29)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst, _ := layout.New(2, 24, oh, ow, 8)
			for it := 0; it < 20; it++ {
				if err := MaxPool3x3S2(dst, src); err != nil {
					errs <- err
					return
				}
				got := dst.NCHW()
				for i := range want {
					if !samePool(got[i], want[i]) {
						errs <- fmt.Errorf("goroutine %d: element %d: got %v, want %v", g, i, got[i], want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
