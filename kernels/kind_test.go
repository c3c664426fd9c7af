package kernels

import (
	"math"
	"testing"

	"github.com/sbconv/sbconv/layout"
)

// TestKindFor pins kindFor, the one place a call's kind is decided: a
// Conv2D always runs its convolution pass; a ConvTranspose2D runs the
// fused restore exactly where its set has a kernel for the layer, every
// row phase has taps and the output rows are minFusedWidth pixels or
// wider, else its phase passes. The layer's path.kind is the kind of its
// widest calls, and a plan's kind is kindFor's for its output width.
func TestKindFor(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		b := set.Block
		hasKernel := func(k, p int) bool {
			for _, rk := range set.restore {
				if rk.K == k && rk.Pad == p {
					return true
				}
			}
			return false
		}
		for _, c := range []struct {
			name   string
			deconv bool
			spec   ConvSpec
			fused  bool // the layer's widest calls run the fused restore
		}{
			{"conv 3x3 s1", false, ConvSpec{InC: 8, OutC: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},
			{"conv 3x3 s2", false, ConvSpec{InC: 8, OutC: 8, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, false},
			{"restore k3 s2 p1", true, ConvSpec{InC: 8, OutC: 8, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, hasKernel(3, 1)},
			{"restore k2 s2 p0", true, ConvSpec{InC: 8, OutC: 8, KH: 2, KW: 2, StrideH: 2, StrideW: 2, PadH: 0, PadW: 0}, hasKernel(2, 0)},
			{"restore k3 s3 p1 (no kernel for stride 3)", true, ConvSpec{InC: 8, OutC: 8, KH: 3, KW: 3, StrideH: 3, StrideW: 3, PadH: 1, PadW: 1}, false},
			{"restore k1x3 s2 p0,1 (a row phase without taps)", true, ConvSpec{InC: 8, OutC: 8, KH: 1, KW: 3, StrideH: 2, StrideW: 2, PadH: 0, PadW: 1}, false},
		} {
			w := make([]float32, c.spec.InC*c.spec.OutC*c.spec.KH*c.spec.KW)
			var l *layer
			if c.deconv {
				d, err := NewConvTranspose2D(c.spec, w, nil, b)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				l = &d.l
			} else {
				cv, err := NewConv2D(c.spec, w, nil, b)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				l = &cv.l
			}
			if got, want := l.path.kind, l.kindFor(math.MaxInt); got != want {
				t.Errorf("%s: path.kind %v, kindFor(MaxInt) %v", c.name, got, want)
			}
			for ow := 1; ow <= 2*minFusedWidth; ow++ {
				want := phasePasses
				switch {
				case !c.deconv:
					want = convPasses
				case c.fused && ow >= minFusedWidth:
					want = fusedRestore
				}
				if got := l.kindFor(ow); got != want {
					t.Errorf("%s: kindFor(%d) = %v, want %v", c.name, ow, got, want)
				}
			}
			if !c.deconv {
				continue
			}
			// The plan takes kindFor's kind on either side of the width rule.
			for _, iw := range []int{minFusedWidth/2 - 1, minFusedWidth / 2, minFusedWidth} {
				s := c.spec
				src := &layout.Tensor{N: 1, C: s.InC, H: 4, W: iw, Block: b}
				dst := &layout.Tensor{N: 1, C: s.OutC, H: (4-1)*s.StrideH - 2*s.PadH + s.KH, W: (iw-1)*s.StrideW - 2*s.PadW + s.KW, Block: b}
				if got, want := l.planFor(src, dst).kind, l.kindFor(dst.W); got != want {
					t.Errorf("%s: %dx%d -> %dx%d: plan kind %v, kindFor %v", c.name, src.H, src.W, dst.H, dst.W, got, want)
				}
			}
		}
	})
}
