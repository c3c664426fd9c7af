package kernels

import (
	"fmt"

	"github.com/sbconv/sbconv/layout"
)

// ConvTranspose2D is a 2-D transposed convolution with PyTorch's
// ConvTranspose2d semantics (dilation 1, groups 1). It never inserts zeros:
// it runs as StrideH*StrideW phase convolutions over the low-resolution
// input, each with only the taps that reach its output pixels.
type ConvTranspose2D struct {
	l layer
}

// NewConvTranspose2D builds a transposed convolution from PyTorch
// ConvTranspose2d weights in IOHW order (len InC*OutC*KH*KW) and an
// optional bias (len OutC, or nil), for tensors with channel block block.
func NewConvTranspose2D(spec ConvSpec, weights, bias []float32, block int) (*ConvTranspose2D, error) {
	d := &ConvTranspose2D{}
	d.l.deconv = true
	set, err := d.l.init(spec, weights, bias, block, "IOHW")
	if err != nil {
		return nil, err
	}
	for rh := 0; rh < spec.StrideH; rh++ {
		for rw := 0; rw < spec.StrideW; rw++ {
			w, nkh, nkw, err := layout.PackDeconvPhase(weights, spec.InC, spec.OutC, spec.KH, spec.KW,
				spec.StrideH, spec.StrideW, rh, rw, block)
			if err != nil {
				return nil, fmt.Errorf("kernels: %w", err)
			}
			d.l.passes = append(d.l.passes, pass{wei: w, kh: nkh, kw: nkw, rh: rh, rw: rw})
		}
	}
	if err := d.l.choosePath(set, weights); err != nil {
		return nil, fmt.Errorf("kernels: %w", err)
	}
	return d, nil
}

// Release drops the input copies the layer keeps between Forward calls,
// as Conv2D.Release does. Safe on a nil or zero ConvTranspose2D.
func (d *ConvTranspose2D) Release() {
	if d != nil {
		d.l.workspaces.Drain()
	}
}

// Spec returns the layer's specification.
func (d *ConvTranspose2D) Spec() ConvSpec {
	if d == nil {
		return ConvSpec{}
	}
	return d.l.spec
}

// OutputRange returns the legal output sizes for an h x w input: PyTorch's
// (h-1)*StrideH - 2*PadH + KH plus an output_padding of 0..StrideH-1, and
// likewise for the width. The destination tensor of Forward picks one. It
// returns an error when d was not built by NewConvTranspose2D (nil or the
// zero ConvTranspose2D), when h or w is not positive, when the output
// would be empty, or when maxH or maxW does not fit in an int; without an
// error, 1 <= minH <= maxH and 1 <= minW <= maxW.
func (d *ConvTranspose2D) OutputRange(h, w int) (minH, maxH, minW, maxW int, err error) {
	if d == nil {
		return 0, 0, 0, 0, fmt.Errorf("kernels: OutputRange on a nil *ConvTranspose2D")
	}
	if !d.l.built() {
		return 0, 0, 0, 0, fmt.Errorf("kernels: OutputRange on a zero ConvTranspose2D: build it with NewConvTranspose2D")
	}
	s := d.l.spec
	if h <= 0 || w <= 0 {
		return 0, 0, 0, 0, fmt.Errorf("kernels: input size %dx%d must be positive", h, w)
	}
	minH, maxH, okH := deconvOut(h, s.KH, s.StrideH, s.PadH)
	minW, maxW, okW := deconvOut(w, s.KW, s.StrideW, s.PadW)
	if !okH || !okW {
		return 0, 0, 0, 0, fmt.Errorf("kernels: input %dx%d: the output size overflows int", h, w)
	}
	if minH < 1 || minW < 1 {
		return 0, 0, 0, 0, fmt.Errorf("kernels: input %dx%d gives an empty output (%dx%d) with padding %dx%d",
			h, w, minH, minW, s.PadH, s.PadW)
	}
	return minH, maxH, minW, maxW, nil
}

// FLOPs returns the multiply-adds that reach the output of one Forward call
// from an n x InC x h x w input to an oh x ow output, two operations each.
// Only real taps count: this is the work of the equivalent direct
// computation, not of a zero-inserted one. It takes constant time (the
// taps are counted per axis in closed form), is computed in float64 (exact
// up to 2^53), and is 0 when d is nil or the zero ConvTranspose2D, or when
// n, h, w, oh or ow is not positive. Sizes outside OutputRange count the
// taps that land inside the oh x ow window.
func (d *ConvTranspose2D) FLOPs(n, h, w, oh, ow int) float64 {
	if d == nil || !d.l.built() || n <= 0 {
		return 0
	}
	s := d.l.spec
	return 2 * float64(n) * float64(s.InC) * float64(s.OutC) *
		deconvTaps(h, oh, s.KH, s.StrideH, s.PadH) * deconvTaps(w, ow, s.KW, s.StrideW, s.PadW)
}

// Forward computes dst = act(convT(src) + bias + ep.Residual) with the
// output size chosen by dst, exactly as PyTorch's output_size: dst.H and
// dst.W must lie in OutputRange(src.H, src.W). dst must not share memory
// with src or the residual.
func (d *ConvTranspose2D) Forward(dst, src *layout.Tensor, ep Epilogue) error {
	if d == nil {
		return fmt.Errorf("kernels: Forward on a nil *ConvTranspose2D")
	}
	if err := d.check(dst, src, ep); err != nil {
		return err
	}
	d.l.run(dst, src, ep)
	return nil
}

// ForwardAdd computes dst = act(convT(src) + bias + dst) in place, with
// the output size chosen by dst as in Forward: Forward with dst as its own
// residual (Epilogue{Residual: dst, ReLU: relu}), as Conv2D.ForwardAdd.
// A spatial bottleneck's restore, whose output values take few
// multiply-adds each, so reads one map and writes it back rather than
// reading the residual and writing a second map (SB ResNet-20 at rate 3:
// about 5% of its time, one AVX-512 core of an AMD EPYC Zen 5). dst must
// not share memory with src. The result is bit for bit Forward's with a
// copy of dst as the residual.
func (d *ConvTranspose2D) ForwardAdd(dst, src *layout.Tensor, relu bool) error {
	if d == nil {
		return fmt.Errorf("kernels: ForwardAdd on a nil *ConvTranspose2D")
	}
	if err := d.check(dst, src, Epilogue{}); err != nil {
		return err
	}
	d.l.run(dst, src, Epilogue{Residual: dst, ReLU: relu})
	return nil
}

// check validates a Forward or ForwardAdd call's tensors and sizes.
func (d *ConvTranspose2D) check(dst, src *layout.Tensor, ep Epilogue) error {
	s := d.l.spec
	if err := checkForward(dst, src, ep, s.InC, s.OutC, d.l.block); err != nil {
		return err
	}
	minH, maxH, minW, maxW, err := d.OutputRange(src.H, src.W)
	if err != nil {
		return err
	}
	if dst.H < minH || dst.H > maxH {
		return fmt.Errorf("kernels: dst.H = %d outside [%d, %d] for input height %d", dst.H, minH, maxH, src.H)
	}
	if dst.W < minW || dst.W > maxW {
		return fmt.Errorf("kernels: dst.W = %d outside [%d, %d] for input width %d", dst.W, minW, maxW, src.W)
	}
	return nil
}
