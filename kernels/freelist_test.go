package kernels

import (
	"runtime"
	"testing"

	"github.com/sbconv/sbconv/layout"
)

// TestLayerReleasesHaloCopies: a layer that copies its input into a
// zero-haloed workspace keeps at most GOMAXPROCS of them, and Release
// drops them; results do not change.
func TestLayerReleasesHaloCopies(t *testing.T) {
	haloed := 0
	for _, spec := range []ConvSpec{
		{InC: 8, OutC: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
		{InC: 8, OutC: 16, KH: 7, KW: 7, StrideH: 2, StrideW: 2, PadH: 3, PadW: 3},
		{InC: 16, OutC: 8, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
	} {
		w := make([]float32, spec.OutC*spec.InC*spec.KH*spec.KW)
		for i := range w {
			w[i] = float32(i%7) - 3
		}
		c, err := NewConv2D(spec, w, nil, Block())
		if err != nil {
			t.Fatal(err)
		}
		src, err := layout.New(1, spec.InC, 13, 11, Block())
		if err != nil {
			t.Fatal(err)
		}
		for i := range src.Data {
			src.Data[i] = float32(i % 5)
		}
		oh, ow, err := c.OutputSize(13, 11)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := layout.New(1, spec.OutC, oh, ow, Block())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Forward(dst, src, Epilogue{}); err != nil {
			t.Fatal(err)
		}
		first := append([]float32(nil), dst.Data...)
		done := make(chan error, 16)
		for g := 0; g < 16; g++ {
			go func() {
				d, _ := layout.New(1, spec.OutC, oh, ow, Block())
				done <- c.Forward(d, src, Epilogue{})
			}()
		}
		for g := 0; g < 16; g++ {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		kept := c.l.workspaces.Size()
		if kept > runtime.GOMAXPROCS(0) {
			t.Errorf("%+v: %d halo copies kept, want at most GOMAXPROCS = %d", spec, kept, runtime.GOMAXPROCS(0))
		}
		if kept > 0 {
			haloed++
		}
		c.Release()
		if n := c.l.workspaces.Size(); n != 0 {
			t.Errorf("%+v: %d halo copies kept after Release", spec, n)
		}
		if err := c.Forward(dst, src, Epilogue{}); err != nil {
			t.Fatal(err)
		}
		for i := range first {
			if first[i] != dst.Data[i] {
				t.Fatalf("%+v: after Release, dst[%d] = %v, want %v", spec, i, dst.Data[i], first[i])
			}
		}
	}
	if haloed == 0 {
		t.Skipf("no layer here (%s) copies its input into a halo", ISA())
	}
}

// TestMaxPoolKeepsNoTensor: the records MaxPool3x3S2 recycles keep no
// pointer into a caller's tensors once the call returns (their kernel
// arguments once kept every tensor of the last calls alive), and at most
// GOMAXPROCS of them are kept.
func TestMaxPoolKeepsNoTensor(t *testing.T) {
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			src, _ := layout.New(2, 24, 9, 7, Block())
			dst, _ := layout.New(2, 24, 5, 4, Block())
			done <- MaxPool3x3S2(dst, src)
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	kept := poolFree.Kept()
	if len(kept) == 0 || len(kept) > runtime.GOMAXPROCS(0) {
		t.Errorf("%d pool records kept, want 1..GOMAXPROCS = %d", len(kept), runtime.GOMAXPROCS(0))
	}
	for i, r := range kept {
		if r.dst != nil || r.src != nil {
			t.Errorf("record %d keeps a tensor", i)
		}
		for j, p := range r.prm[:cap(r.prm)] {
			if p.Src0 != nil || p.Src1 != nil || p.Src2 != nil || p.Dst != nil {
				t.Errorf("record %d: kernel argument %d points into a caller's tensor", i, j)
				break
			}
		}
	}
}
