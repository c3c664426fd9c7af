package kernels

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strings"
	"testing"
	"time"
)

// The size helpers (OutputSize, OutputRange, FLOPs) must return exact
// results or an error (FLOPs: 0) for every argument: no division by a zero
// stride, no result wrapped through int overflow, no min > max, and no
// time that grows with the sizes.

// loopTaps is ConvTranspose2D.FLOPs' original per-axis count, one tap at
// a time: the definition deconvTaps must reproduce.
func loopTaps(in, out, k, st, pad int) float64 {
	var t float64
	for i := 0; i < in; i++ {
		for j := 0; j < k; j++ {
			if o := i*st - pad + j; o >= 0 && o < out {
				t++
			}
		}
	}
	return t
}

// TestDeconvTapsMatchesLoop sweeps every kernel, stride and pad ConvSpec
// allows, inputs of 1 to 17 pixels and every output size from below zero
// to past the largest legal one.
func TestDeconvTapsMatchesLoop(t *testing.T) {
	ins := []int{1, 2, 3, 5, 8, 17}
	if testing.Short() {
		ins = []int{1, 2, 5, 16}
	}
	calls := 0
	for k := 1; k <= MaxKernel; k++ {
		for st := 1; st <= MaxStride; st++ {
			for pad := 0; pad <= MaxPad; pad++ {
				for _, in := range ins {
					maxOut := (in-1)*st + k + st + 1
					for out := -2; out <= maxOut; out++ {
						got, want := deconvTaps(in, out, k, st, pad), loopTaps(in, out, k, st, pad)
						if got != want {
							t.Fatalf("deconvTaps(in %d, out %d, k %d, stride %d, pad %d) = %v, the loop counts %v",
								in, out, k, st, pad, got, want)
						}
						calls++
					}
				}
				// Degenerate inputs: nothing to count.
				for _, in := range []int{0, -1, math.MinInt} {
					if got := deconvTaps(in, 5, k, st, pad); got != 0 {
						t.Fatalf("deconvTaps(in %d, ...) = %v, want 0", in, got)
					}
				}
			}
		}
	}
	t.Logf("%d sizes checked", calls)
}

// TestConvTransposeFLOPsMatchesLoop checks the public FLOPs of built
// layers against the loop's count on every output size around the legal
// range, so that the closed form changed no result.
func TestConvTransposeFLOPsMatchesLoop(t *testing.T) {
	for _, s := range []ConvSpec{
		{InC: 3, OutC: 5, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
		{InC: 8, OutC: 8, KH: 4, KW: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0},
		{InC: 1, OutC: 9, KH: 1, KW: 5, StrideH: 3, StrideW: 4, PadH: 0, PadW: 2},
		{InC: 2, OutC: 2, KH: 16, KW: 7, StrideH: 16, StrideW: 5, PadH: 16, PadW: 3},
	} {
		d := buildDeconv(t, s)
		for n := 0; n <= 2; n++ {
			for h := 1; h <= 6; h++ {
				for oh := -1; oh <= (h-1)*s.StrideH+s.KH+s.StrideH; oh++ {
					w, ow := h+1, (h)*s.StrideW+s.KW-2*s.PadW
					want := 2 * float64(n) * float64(s.InC) * float64(s.OutC) *
						loopTaps(h, oh, s.KH, s.StrideH, s.PadH) * loopTaps(w, ow, s.KW, s.StrideW, s.PadW)
					if got := d.FLOPs(n, h, w, oh, ow); got != want {
						t.Fatalf("%+v: FLOPs(%d, %d, %d, %d, %d) = %v, the loop counts %v", s, n, h, w, oh, ow, got, want)
					}
				}
			}
		}
	}
}

// TestConvTransposeFLOPsHuge: the count takes constant time. The loop it
// replaces took 1.6 s at h = 2^30, so at 2^40 it would run for half an
// hour; the closed form must answer at once, and exactly: a 3x3 stride-2
// pad-1 restore to its smallest output (2h-1) loses one tap at each end.
func TestConvTransposeFLOPsHuge(t *testing.T) {
	s := ConvSpec{InC: 64, OutC: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	d := buildDeconv(t, s)
	h := 1 << (bits.UintSize - 24) // 2^40 on 64-bit platforms
	done := make(chan float64, 1)
	go func() { done <- d.FLOPs(1, h, 3, 2*h-1, 5) }()
	select {
	case got := <-done:
		want := 2 * 64 * 32 * float64(3*h-2) * float64(3*3-2)
		if got != want {
			t.Fatalf("FLOPs(1, %d, 3, %d, 5) = %v, want %v", h, 2*h-1, got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("FLOPs(1, %d, ...) did not return within 10 s: the count is not closed-form", h)
	}
	// The largest sizes there are: every count finite, never negative.
	for _, v := range [][5]int{
		{math.MaxInt, math.MaxInt, math.MaxInt, math.MaxInt, math.MaxInt},
		{1, math.MaxInt, 1, math.MaxInt, 1},
		{1, math.MaxInt, 1, math.MaxInt - 1, 1},
		{1, 1, 1, math.MaxInt, math.MaxInt},
		{math.MinInt, 3, 3, 5, 5},
		{1, math.MinInt, 3, 5, 5},
		{1, 3, 3, math.MinInt, 5},
	} {
		got := d.FLOPs(v[0], v[1], v[2], v[3], v[4])
		if got < 0 || math.IsInf(got, 0) || math.IsNaN(got) {
			t.Errorf("FLOPs%v = %v", v, got)
		}
	}
}

// TestConvFLOPsHuge: Conv2D.FLOPs formed oh*ow in int, which wraps at
// 2^64 (to 0 for a 2^32 x 2^32 stride-1 output on 64-bit platforms,
// negative for others). It must be the exact count, correctly rounded.
func TestConvFLOPsHuge(t *testing.T) {
	s := ConvSpec{InC: 16, OutC: 24, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	c := buildConv(t, s)
	half := 1 << (bits.UintSize / 2) // 2^32 on 64-bit platforms: oh*ow = 2^64
	for _, hw := range [][2]int{{half, half}, {half + 1, half - 1}, {3 * half / 2, 3 * half / 2}, {math.MaxInt, math.MaxInt - 1}, {math.MaxInt - 1, 7}} {
		for _, n := range []int{1, 3, math.MaxInt} {
			oh, ow, err := c.OutputSize(hw[0], hw[1])
			if err != nil {
				t.Fatalf("OutputSize(%d, %d): %v", hw[0], hw[1], err)
			}
			exact := new(big.Int).SetInt64(2)
			for _, f := range []int{n, s.OutC, oh, ow, s.InC, s.KH, s.KW} {
				exact.Mul(exact, big.NewInt(int64(f)))
			}
			want, _ := new(big.Float).SetInt(exact).Float64()
			got := c.FLOPs(n, hw[0], hw[1])
			if got <= 0 || math.Abs(got-want) > 1e-14*want {
				t.Errorf("FLOPs(%d, %d, %d) = %v, want %v", n, hw[0], hw[1], got, want)
			}
		}
	}
	for _, v := range [][3]int{{0, 5, 5}, {-1, 5, 5}, {math.MinInt, 5, 5}, {1, 0, 5}, {1, 5, math.MinInt}} {
		if got := c.FLOPs(v[0], v[1], v[2]); got != 0 {
			t.Errorf("FLOPs%v = %v, want 0", v, got)
		}
	}
}

// TestOutputSizeExact compares OutputSize and OutputRange with exact
// integer arithmetic near and at the int limit: each returns the exact
// size or an error, and OutputRange never min > max without an error.
func TestOutputSizeExact(t *testing.T) {
	bigAxis := func(in, k, s, p int) *big.Int { // (in + 2p - k)/s + 1, in >= k - 2p
		v := big.NewInt(int64(in))
		v.Add(v, big.NewInt(int64(2*p-k)))
		v.Quo(v, big.NewInt(int64(s)))
		return v.Add(v, big.NewInt(1))
	}
	bigDeconv := func(in, k, s, p, extra int) *big.Int { // (in-1)*s - 2p + k + extra
		v := big.NewInt(int64(in - 1))
		v.Mul(v, big.NewInt(int64(s)))
		return v.Add(v, big.NewInt(int64(k-2*p+extra)))
	}
	maxInt := big.NewInt(math.MaxInt)
	for _, s := range []ConvSpec{
		{InC: 1, OutC: 1, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
		{InC: 1, OutC: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1},
		{InC: 1, OutC: 1, KH: 1, KW: 16, StrideH: 1, StrideW: 16, PadH: 16, PadW: 0},
		{InC: 1, OutC: 1, KH: 16, KW: 2, StrideH: 3, StrideW: 1, PadH: 0, PadW: 16},
		{InC: 1, OutC: 1, KH: 4, KW: 4, StrideH: 16, StrideW: 2, PadH: 1, PadW: 1},
	} {
		c, d := buildConv(t, s), buildDeconv(t, s)
		var sizes []int
		for _, base := range []int{math.MaxInt, math.MaxInt / s.StrideH, math.MaxInt / s.StrideW, 1 << 62, 1 << 31, 40} {
			for delta := -40; delta <= 40; delta++ {
				if v := base + delta; v > 0 && (delta <= 0 || base+delta > base) {
					sizes = append(sizes, v)
				}
			}
		}
		for _, h := range sizes {
			w := h
			name := fmt.Sprintf("%+v h=w=%d", s, h)
			oh, ow, err := c.OutputSize(h, w)
			if h-s.KH < -2*s.PadH || w-s.KW < -2*s.PadW {
				if err == nil {
					t.Errorf("%s: OutputSize = %dx%d for an input smaller than the kernel", name, oh, ow)
				}
			} else {
				eh, ew := bigAxis(h, s.KH, s.StrideH, s.PadH), bigAxis(w, s.KW, s.StrideW, s.PadW)
				fits := eh.Cmp(maxInt) <= 0 && ew.Cmp(maxInt) <= 0
				switch {
				case fits && err != nil:
					t.Errorf("%s: OutputSize: %v, want %v x %v", name, err, eh, ew)
				case fits && (int64(oh) != eh.Int64() || int64(ow) != ew.Int64()):
					t.Errorf("%s: OutputSize = %dx%d, want %vx%v", name, oh, ow, eh, ew)
				case !fits && err == nil:
					t.Errorf("%s: OutputSize = %dx%d, but %vx%v overflows int", name, oh, ow, eh, ew)
				}
			}
			minH, maxH, minW, maxW, err := d.OutputRange(h, w)
			lo, hi := bigDeconv(h, s.KH, s.StrideH, s.PadH, 0), bigDeconv(h, s.KH, s.StrideH, s.PadH, s.StrideH-1)
			loW, hiW := bigDeconv(w, s.KW, s.StrideW, s.PadW, 0), bigDeconv(w, s.KW, s.StrideW, s.PadW, s.StrideW-1)
			fits := hi.Cmp(maxInt) <= 0 && hiW.Cmp(maxInt) <= 0 && lo.Sign() > 0 && loW.Sign() > 0
			switch {
			case err == nil && (minH < 1 || minH > maxH || minW < 1 || minW > maxW):
				t.Errorf("%s: OutputRange = [%d, %d] x [%d, %d] with a nil error", name, minH, maxH, minW, maxW)
			case fits && err != nil:
				t.Errorf("%s: OutputRange: %v, want [%v, %v] x [%v, %v]", name, err, lo, hi, loW, hiW)
			case fits && (int64(minH) != lo.Int64() || int64(maxH) != hi.Int64() || int64(minW) != loW.Int64() || int64(maxW) != hiW.Int64()):
				t.Errorf("%s: OutputRange = [%d, %d] x [%d, %d], want [%v, %v] x [%v, %v]", name, minH, maxH, minW, maxW, lo, hi, loW, hiW)
			case !fits && err == nil:
				t.Errorf("%s: OutputRange = [%d, %d] x [%d, %d], but [%v, %v] x [%v, %v] does not fit", name, minH, maxH, minW, maxW, lo, hi, loW, hiW)
			}
		}
	}
	// The case of the issue: a maximum past MaxInt used to wrap below the
	// minimum, with a nil error.
	d := buildDeconv(t, ConvSpec{InC: 1, OutC: 1, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1})
	if bits.UintSize == 64 {
		if minH, maxH, _, _, err := d.OutputRange(1<<(bits.UintSize-2), 1<<(bits.UintSize-2)); err == nil {
			t.Errorf("OutputRange(2^62, 2^62) = [%d, %d], want an overflow error", minH, maxH)
		}
	}
}

// TestZeroLayerSizes: the zero Conv2D and ConvTranspose2D (not built by a
// constructor: every spec field 0) divided by a zero stride; they must
// report an error (FLOPs: 0).
func TestZeroLayerSizes(t *testing.T) {
	var c Conv2D
	var d ConvTranspose2D
	for _, hw := range [][2]int{{1, 1}, {7, 7}, {0, 0}, {math.MaxInt, math.MaxInt}} {
		if oh, ow, err := c.OutputSize(hw[0], hw[1]); err == nil {
			t.Errorf("zero Conv2D: OutputSize(%d, %d) = %dx%d, want an error", hw[0], hw[1], oh, ow)
		}
		if f := c.FLOPs(1, hw[0], hw[1]); f != 0 {
			t.Errorf("zero Conv2D: FLOPs(1, %d, %d) = %v, want 0", hw[0], hw[1], f)
		}
		if a, b, e, f, err := d.OutputRange(hw[0], hw[1]); err == nil {
			t.Errorf("zero ConvTranspose2D: OutputRange(%d, %d) = %d %d %d %d, want an error", hw[0], hw[1], a, b, e, f)
		}
		if f := d.FLOPs(1, hw[0], hw[1], 2*hw[0], 2*hw[1]); f != 0 {
			t.Errorf("zero ConvTranspose2D: FLOPs = %v, want 0", f)
		}
	}
}

func buildConv(t *testing.T, s ConvSpec) *Conv2D {
	t.Helper()
	c, err := NewConv2D(s, make([]float32, s.OutC*s.InC*s.KH*s.KW), nil, 8)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func buildDeconv(t *testing.T, s ConvSpec) *ConvTranspose2D {
	t.Helper()
	d, err := NewConvTranspose2D(s, make([]float32, s.OutC*s.InC*s.KH*s.KW), nil, 8)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestConvSpecValidate: Validate refuses exactly what the constructors
// refuse for their sizes, without weights to pass, and names the field or
// the packed weights.
func TestConvSpecValidate(t *testing.T) {
	ok := ConvSpec{InC: 3, OutC: 20, KH: 3, KW: 3, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0}
	if err := ok.Validate(); err != nil {
		t.Fatalf("%+v: %v", ok, err)
	}
	w := make([]float32, 3*20*3*3)
	if _, err := NewConv2D(ok, w, nil, 8); err != nil {
		t.Fatalf("NewConv2D refuses what Validate accepts: %v", err)
	}
	for _, c := range []struct {
		spec ConvSpec
		want string
	}{
		{ConvSpec{InC: 0, OutC: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1}, "InC = 0"},
		{ConvSpec{InC: 1, OutC: MaxChannels + 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1}, "OutC"},
		{ConvSpec{InC: 1, OutC: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1, PadW: -1}, "PadW = -1"},
		// resnet20 at width 20000: 20000*20000*9 weights, each side
		// within MaxChannels.
		{ConvSpec{InC: 20000, OutC: 20000, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, "packed weights"},
		{ConvSpec{InC: 1 << 20, OutC: 1 << 20, KH: 16, KW: 16, StrideH: 1, StrideW: 1}, "packed weights"},
	} {
		err := c.spec.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: Validate() = %v, want an error naming %q", c.spec, err, c.want)
		}
		if _, cerr := NewConv2D(c.spec, nil, nil, 8); cerr == nil || cerr.Error() != err.Error() {
			t.Errorf("%+v: NewConv2D's error %v is not Validate's %v", c.spec, cerr, err)
		}
	}
}
