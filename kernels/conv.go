// Package kernels is sbconv's compute API: 2-D convolution and transposed
// convolution on nChw{b}c tensors (package layout), with bias, residual add
// and ReLU fused into the single store of every output value.
//
// One Go driver does all tiling, border handling, phase decomposition and
// threading; what differs per instruction set is only the microkernel that
// computes a run of output pixels of one row for a few output channel
// blocks (see package asm for its contract). The set is chosen once, at the
// first constructor call, from the CPU's features (golang.org/x/sys/cpu),
// or forced with SBCONV_ISA=generic|avx2|avx512|neon. Building with
// -tags purego leaves out all assembly.
//
// A stride-s transposed convolution is computed as s*s phase convolutions
// over the low-resolution input (layout.PackDeconvPhase): no zero is
// inserted and no multiply touches one, so it costs what its taps cost.
//
// Layers are immutable once built and safe for concurrent Forward calls.
// Forward allocates nothing in the steady state. A call uses up to
// Threads() goroutines: SetThreads(n), or SBCONV_THREADS=n in the
// environment at start, a positive integer capped at 1024 (other values
// are ignored), else GOMAXPROCS.
package kernels

import (
	"fmt"

	"github.com/sbconv/sbconv/layout"
)

// Conv2D is a 2-D convolution with PyTorch's Conv2d semantics (dilation 1,
// groups 1), built once and applied with Forward.
type Conv2D struct {
	l layer
}

// NewConv2D builds a convolution from PyTorch Conv2d weights in OIHW order
// (len OutC*InC*KH*KW) and an optional bias (len OutC, or nil), for tensors
// with channel block block (8 or 16; Block() is the fast one here).
func NewConv2D(spec ConvSpec, weights, bias []float32, block int) (*Conv2D, error) {
	c := &Conv2D{}
	set, err := c.l.init(spec, weights, bias, block, "OIHW")
	if err != nil {
		return nil, err
	}
	packed, err := layout.PackConv(weights, spec.OutC, spec.InC, spec.KH, spec.KW, block)
	if err != nil {
		return nil, fmt.Errorf("kernels: %w", err)
	}
	c.l.passes = []pass{{wei: packed, kh: spec.KH, kw: spec.KW}}
	if err := c.l.choosePath(set, nil); err != nil {
		return nil, fmt.Errorf("kernels: %w", err)
	}
	return c, nil
}

// Release drops the zero-haloed input copies the layer keeps between
// Forward calls (at most GOMAXPROCS, or Threads() when that is more, each
// of the largest input it ran); the next call that needs one allocates it
// again. Calls running meanwhile keep theirs. Safe on a nil or zero
// Conv2D.
func (c *Conv2D) Release() {
	if c != nil {
		c.l.workspaces.Drain()
	}
}

// Spec returns the layer's specification.
func (c *Conv2D) Spec() ConvSpec {
	if c == nil {
		return ConvSpec{}
	}
	return c.l.spec
}

// OutputSize returns the output height and width for an h x w input, as
// PyTorch computes them, or an error when c was not built by NewConv2D
// (nil or the zero Conv2D), when h or w is not positive, when the input is
// smaller than the kernel after padding, or when a size does not fit in an
// int.
func (c *Conv2D) OutputSize(h, w int) (oh, ow int, err error) {
	if c == nil {
		return 0, 0, fmt.Errorf("kernels: OutputSize on a nil *Conv2D")
	}
	if !c.l.built() {
		return 0, 0, fmt.Errorf("kernels: OutputSize on a zero Conv2D: build it with NewConv2D")
	}
	s := c.l.spec
	if h <= 0 || w <= 0 {
		return 0, 0, fmt.Errorf("kernels: input size %dx%d must be positive", h, w)
	}
	oh, okH := convOut(h, s.KH, s.StrideH, s.PadH)
	ow, okW := convOut(w, s.KW, s.StrideW, s.PadW)
	if !okH || !okW {
		return 0, 0, fmt.Errorf("kernels: input %dx%d: the output size overflows int", h, w)
	}
	if oh < 1 || ow < 1 {
		return 0, 0, fmt.Errorf("kernels: input %dx%d padded by %dx%d is smaller than the %dx%d kernel",
			h, w, s.PadH, s.PadW, s.KH, s.KW)
	}
	return oh, ow, nil
}

// FLOPs returns the multiply-adds of one Forward call on an n x InC x h x w
// input, counted as two operations each (bias, residual and activation are
// not counted). It is computed in float64, so it never overflows: exact up
// to 2^53, correctly rounded products beyond. It is 0 when n is not
// positive or OutputSize(h, w) returns an error.
func (c *Conv2D) FLOPs(n, h, w int) float64 {
	if n <= 0 {
		return 0
	}
	oh, ow, err := c.OutputSize(h, w)
	if err != nil {
		return 0
	}
	s := c.l.spec
	return 2 * float64(n) * float64(s.OutC) * (float64(oh) * float64(ow)) * float64(s.InC*s.KH*s.KW)
}

// Forward computes dst = act(conv(src) + bias + ep.Residual). dst must have
// the shape OutputSize gives for src, and must not share memory with src or
// the residual.
func (c *Conv2D) Forward(dst, src *layout.Tensor, ep Epilogue) error {
	if c == nil {
		return fmt.Errorf("kernels: Forward on a nil *Conv2D")
	}
	if err := c.check(dst, src, ep); err != nil {
		return err
	}
	c.l.run(dst, src, ep)
	return nil
}

// ForwardAdd computes dst = act(conv(src) + bias + dst) in place: Forward
// with dst as its own residual (Epilogue{Residual: dst, ReLU: relu}), each
// output value read, added to and stored by the same kernel, so that a
// residual block's last layer writes into its shortcut's map rather than
// into a buffer of its own (a network's Forward runs its blocks so). dst
// must have the shape OutputSize gives for src, and must not share memory
// with src. The result is bit for bit Forward's with a copy of dst as the
// residual.
func (c *Conv2D) ForwardAdd(dst, src *layout.Tensor, relu bool) error {
	if c == nil {
		return fmt.Errorf("kernels: ForwardAdd on a nil *Conv2D")
	}
	if err := c.check(dst, src, Epilogue{}); err != nil {
		return err
	}
	c.l.run(dst, src, Epilogue{Residual: dst, ReLU: relu})
	return nil
}

// check validates a Forward or ForwardAdd call's tensors and sizes.
func (c *Conv2D) check(dst, src *layout.Tensor, ep Epilogue) error {
	s := c.l.spec
	if err := checkForward(dst, src, ep, s.InC, s.OutC, c.l.block); err != nil {
		return err
	}
	oh, ow, err := c.OutputSize(src.H, src.W)
	if err != nil {
		return err
	}
	if dst.H != oh || dst.W != ow {
		return fmt.Errorf("kernels: dst is %dx%d, want %dx%d for a %dx%d input", dst.H, dst.W, oh, ow, src.H, src.W)
	}
	return nil
}
