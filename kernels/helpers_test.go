package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sbconv/sbconv/kernels/ref"
	"github.com/sbconv/sbconv/layout"
)

// forEachISA runs f once per microkernel set this binary and CPU can run,
// with that set dispatched (the crypto/internal/impl pattern), so every
// test of the public API covers every implementation.
func forEachISA(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	current()
	saved := selected.set.Load()
	defer selected.set.Store(saved)
	for _, s := range isaSets {
		if !s.usable {
			continue
		}
		selected.set.Store(s)
		t.Run(s.name, f)
	}
	selected.set.Store(saved)
}

const guardVal = float32(-1234.5)

// guarded returns a tensor whose Data sits inside a larger array filled
// with guard values, and a function that fails t if any guard changed
// (gonum's guardVector pattern): a kernel that writes one float outside its
// tensor is caught instead of corrupting memory silently.
func guarded(t *testing.T, n, c, h, w, block int) (*layout.Tensor, func()) {
	t.Helper()
	size, err := layout.Size(n, c, h, w, block)
	if err != nil {
		t.Fatal(err)
	}
	const g = 67 // guard floats on each side; not a multiple of any vector
	backing := make([]float32, size+2*g)
	for i := range backing {
		backing[i] = guardVal
	}
	data := backing[g : g+size : g+size]
	clear(data)
	ten := &layout.Tensor{N: n, C: c, H: h, W: w, Block: block, Data: data}
	return ten, func() {
		t.Helper()
		for i := 0; i < g; i++ {
			if backing[i] != guardVal {
				t.Fatalf("guard before dst overwritten at -%d: %v", g-i, backing[i])
			}
			if backing[g+size+i] != guardVal {
				t.Fatalf("guard after dst overwritten at +%d: %v", i, backing[g+size+i])
			}
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

// closeEnough compares with a relative tolerance scaled by the magnitude of
// the terms summed, since FMA order differs between implementations.
func closeEnough(got, want []float32, scale float64, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("length %d, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) != math.IsNaN(w) || math.Abs(g-w) > tol*(math.Abs(w)+scale) {
			return fmt.Errorf("element %d: got %v, want %v (diff %.3g)", i, g, w, math.Abs(g-w))
		}
	}
	return nil
}

// checkPadLanes fails if a tensor's padded channel lanes are not zero.
func checkPadLanes(t *testing.T, ten *layout.Tensor) {
	t.Helper()
	b := ten.Block
	if ten.C%b == 0 {
		return
	}
	cb := ten.ChannelBlocks()
	for n := 0; n < ten.N; n++ {
		base := ((n*cb + cb - 1) * ten.H) * ten.W * b
		for p := 0; p < ten.H*ten.W; p++ {
			for lane := ten.C % b; lane < b; lane++ {
				if v := ten.Data[base+p*b+lane]; v != 0 {
					t.Fatalf("padded lane %d of pixel %d (image %d) = %v, want 0", lane, p, n, v)
				}
			}
		}
	}
}

// convCase is one convolution or transposed convolution to check.
type convCase struct {
	n, inC, outC, h, w int
	kh, kw, sh, sw     int
	ph, pw             int
	oh, ow             int // transposed only: output size (0: minimum)
	bias, res, relu    bool
	block              int
}

func (c convCase) String() string {
	return fmt.Sprintf("n%d_c%d->%d_%dx%d_k%dx%d_s%dx%d_p%dx%d_o%dx%d_b%v_r%v_relu%v_blk%d",
		c.n, c.inC, c.outC, c.h, c.w, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, c.oh, c.ow, c.bias, c.res, c.relu, c.block)
}

func (c convCase) spec() ConvSpec {
	return ConvSpec{InC: c.inC, OutC: c.outC, KH: c.kh, KW: c.kw, StrideH: c.sh, StrideW: c.sw, PadH: c.ph, PadW: c.pw}
}

func (c convCase) refSpec() ref.Spec {
	return ref.Spec{N: c.n, InC: c.inC, OutC: c.outC, H: c.h, W: c.w, KH: c.kh, KW: c.kw, SH: c.sh, SW: c.sw, PH: c.ph, PW: c.pw}
}

// run checks the case through the public API against package ref, with
// guards around dst, and returns an error describing the first mismatch.
func (c convCase) run(t *testing.T, r *rand.Rand, deconv bool) {
	t.Helper()
	rs := c.refSpec()
	x := randSlice(r, c.n*c.inC*c.h*c.w)
	wts := randSlice(r, c.outC*c.inC*c.kh*c.kw)
	var bias []float32
	if c.bias {
		bias = randSlice(r, c.outC)
	}
	var oh, ow int
	if deconv {
		oh, ow = c.oh, c.ow
		if oh == 0 {
			oh, ow = rs.DeconvMin()
		}
	} else {
		oh, ow = rs.ConvOut()
	}
	var resNCHW []float32
	var ep Epilogue
	ep.ReLU = c.relu
	if c.res {
		resNCHW = randSlice(r, c.n*c.outC*oh*ow)
		rt, err := layout.FromNCHW(resNCHW, c.n, c.outC, oh, ow, c.block)
		if err != nil {
			t.Fatal(err)
		}
		ep.Residual = rt
	}
	src, err := layout.FromNCHW(x, c.n, c.inC, c.h, c.w, c.block)
	if err != nil {
		t.Fatal(err)
	}
	dst, check := guarded(t, c.n, c.outC, oh, ow, c.block)
	for i := range dst.Data {
		dst.Data[i] = float32(math.NaN()) // every value must be written
	}
	var want []float32
	var add func(dst, src *layout.Tensor, relu bool) error
	if deconv {
		d, err := NewConvTranspose2D(c.spec(), wts, bias, c.block)
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if err := d.Forward(dst, src, ep); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		want = ref.ConvTranspose2D(rs, oh, ow, x, wts, bias, resNCHW, c.relu)
		add = d.ForwardAdd
	} else {
		cv, err := NewConv2D(c.spec(), wts, bias, c.block)
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if err := cv.Forward(dst, src, ep); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		want, _, _ = ref.Conv2D(rs, x, wts, bias, resNCHW, c.relu)
		add = cv.ForwardAdd
	}
	check()
	checkPadLanes(t, dst)
	// Each output sums up to inC*kh*kw products of values in [-1, 1].
	scale := math.Sqrt(float64(c.inC * c.kh * c.kw))
	if err := closeEnough(dst.NCHW(), want, scale, 1e-5); err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	if c.res {
		checkForwardAdd(t, c, add, dst, src, ep.Residual)
	}
}

// checkForwardAdd runs add (a layer's ForwardAdd) on a guarded copy of
// res and requires what Forward wrote to dst with res as its residual, bit
// for bit: every path (tiles, phases, fused restores, borders, replays,
// threads, input-block chunks) must read each output value's residual
// before it stores that value, and store it once (a unit in chunks once a
// chunk, each chunk adding onto the one before).
func checkForwardAdd(t *testing.T, c convCase, add func(dst, src *layout.Tensor, relu bool) error, dst, src, res *layout.Tensor) {
	t.Helper()
	in, check := guarded(t, dst.N, dst.C, dst.H, dst.W, dst.Block)
	copy(in.Data, res.Data)
	if err := add(in, src, c.relu); err != nil {
		t.Fatalf("%v: ForwardAdd: %v", c, err)
	}
	check()
	for i, v := range in.Data {
		if math.Float32bits(v) != math.Float32bits(dst.Data[i]) {
			t.Fatalf("%v: ForwardAdd's value %d = %v, Forward's %v", c, i, v, dst.Data[i])
		}
	}
}
