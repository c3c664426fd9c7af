package layout

import (
	"fmt"
	"math"
	"runtime/debug"
	"testing"
)

// The helpers on Tensor and the size functions must give an error or a
// documented, sane result for every receiver and argument, never a panic:
// a nil *Tensor, the zero Tensor, and hand-built tensors whose shape or
// block New would have refused.

// noPanic runs f and fails t with the panic's stack if it panics.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	var stack []byte
	p := func() (p any) {
		defer func() {
			if p = recover(); p != nil {
				stack = debug.Stack()
			}
		}()
		f()
		return nil
	}()
	if p != nil {
		t.Fatalf("%s panicked: %v\n%s", what, p, stack)
	}
}

// malformed are tensors no constructor returns: Validate rejects each.
func malformed() map[string]*Tensor {
	return map[string]*Tensor{
		"nil":             nil,
		"zero":            {},
		"block 0":         {N: 1, C: 3, H: 2, W: 2},
		"block -8":        {N: 1, C: 3, H: 2, W: 2, Block: -8},
		"block 4":         {N: 1, C: 3, H: 2, W: 2, Block: 4, Data: make([]float32, 16)},
		"C 0":             {N: 1, H: 2, W: 2, Block: 8},
		"C -1":            {N: 1, C: -1, H: 2, W: 2, Block: 8},
		"C MaxInt":        {N: 1, C: math.MaxInt, H: 1, W: 1, Block: 8},
		"N MinInt":        {N: math.MinInt, C: 8, H: 1, W: 1, Block: 8},
		"overflowing":     {N: 1 << 20, C: 1 << 20, H: 1 << 20, W: 1 << 20, Block: 8},
		"Data too short":  {N: 1, C: 3, H: 2, W: 2, Block: 8, Data: make([]float32, 31)},
		"Data absent":     {N: 1, C: 3, H: 2, W: 2, Block: 8},
		"MaxInt all over": {N: math.MaxInt, C: math.MaxInt, H: math.MaxInt, W: math.MaxInt, Block: math.MaxInt},
	}
}

func TestTensorHelpersMalformed(t *testing.T) {
	for name, x := range malformed() {
		t.Run(name, func(t *testing.T) {
			_, sizeErr := Size(-1, 0, 0, 0, 0)
			if x != nil {
				_, sizeErr = Size(x.N, x.C, x.H, x.W, x.Block)
			}
			noPanic(t, "ChannelBlocks", func() {
				cb := x.ChannelBlocks()
				if x == nil || x.C <= 0 || x.Block <= 0 {
					if cb != 0 {
						t.Errorf("ChannelBlocks() = %d, want 0", cb)
					}
				} else if want := x.C/x.Block + min(1, x.C%x.Block); cb != want {
					t.Errorf("ChannelBlocks() = %d, want ceil(%d/%d) = %d", cb, x.C, x.Block, want)
				}
			})
			noPanic(t, "Len", func() {
				if n := x.Len(); sizeErr != nil && n != 0 {
					t.Errorf("Len() = %d for a shape Size rejects (%v), want 0", n, sizeErr)
				}
			})
			noPanic(t, "Offset", func() {
				for _, c := range [][4]int{{0, 0, 0, 0}, {0, 1, 1, 1}, {-1, 0, 0, 0}, {math.MaxInt, math.MaxInt, math.MaxInt, math.MaxInt}} {
					if off := x.Offset(c[0], c[1], c[2], c[3]); sizeErr != nil && off != -1 {
						t.Errorf("Offset%v = %d for a shape Size rejects, want -1", c, off)
					}
				}
			})
			noPanic(t, "NCHW", func() {
				if out := x.NCHW(); x.Validate("x") != nil && out != nil {
					t.Errorf("NCHW() = %d floats for a tensor Validate rejects, want nil", len(out))
				}
			})
			noPanic(t, "NCHWInto", func() {
				if err := x.NCHWInto(make([]float32, 12)); err == nil {
					t.Error("NCHWInto accepted a malformed tensor")
				}
			})
			noPanic(t, "SetNCHW", func() {
				if err := x.SetNCHW(make([]float32, 12)); err == nil {
					t.Error("SetNCHW accepted a malformed tensor")
				}
			})
			noPanic(t, "Validate", func() {
				if err := x.Validate("x"); err == nil {
					t.Error("Validate accepted a malformed tensor")
				}
			})
		})
	}
}

// TestOffsetOutside: coordinates outside the shape have no index; Offset
// says -1 rather than an index into some other element (or past Data).
func TestOffsetOutside(t *testing.T) {
	x, err := New(2, 3, 4, 5, 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][4]int{
		{2, 0, 0, 0}, {0, 3, 0, 0}, {0, 0, 4, 0}, {0, 0, 0, 5},
		{-1, 0, 0, 0}, {0, -1, 0, 0}, {0, 0, -1, 0}, {0, 0, 0, -1},
		{math.MinInt, 0, 0, 0}, {0, math.MaxInt, 0, 0},
	} {
		if off := x.Offset(c[0], c[1], c[2], c[3]); off != -1 {
			t.Errorf("Offset%v = %d outside shape 2x3x4x5, want -1", c, off)
		}
	}
	if off, want := x.Offset(1, 2, 3, 4), ((1*1+0)*4+3)*5*8+4*8+2; off != want {
		t.Errorf("Offset(1, 2, 3, 4) = %d, want %d", off, want)
	}
}

// TestConvWeightsLenInvalid: no packed array exists for a non-positive
// size, an illegal block or a length past MaxElements; ConvWeightsLen says
// 0 (it used to divide by a zero block and wrap on huge sizes).
func TestConvWeightsLenInvalid(t *testing.T) {
	for _, c := range [][5]int{
		{0, 0, 0, 0, 0},
		{8, 8, 3, 3, 0},
		{8, 8, 3, 3, -8},
		{8, 8, 3, 3, 4},
		{0, 8, 3, 3, 8},
		{8, -1, 3, 3, 8},
		{8, 8, 0, 3, 8},
		{8, 8, 3, -3, 8},
		{math.MaxInt, 8, 3, 3, 8},
		{1 << 20, 1 << 20, 16, 16, 16},
		{math.MinInt, math.MinInt, math.MinInt, math.MinInt, 8},
	} {
		var got int
		noPanic(t, fmt.Sprint("ConvWeightsLen", c), func() { got = ConvWeightsLen(c[0], c[1], c[2], c[3], c[4]) })
		if got != 0 {
			t.Errorf("ConvWeightsLen%v = %d, want 0", c, got)
		}
	}
	if got := ConvWeightsLen(9, 17, 3, 2, 8); got != 2*3*3*2*64 {
		t.Errorf("ConvWeightsLen(9, 17, 3, 2, 8) = %d, want %d", got, 2*3*3*2*64)
	}
}
