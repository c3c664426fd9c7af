// Package layout holds sbconv's blocked tensor type and the conversions
// between it and PyTorch's plain layouts.
//
// # Activations: nChw{b}c
//
// A Tensor of logical shape (N, C, H, W) with channel block b (8 or 16)
// stores CB = ceil(C/b) blocks of b channels; within a block the b channels
// of one pixel are contiguous, so one SIMD register holds one pixel's block:
//
//	offset(n, c, h, w) = ((n*CB + c/b)*H + h)*W*b + w*b + c%b
//
// len(Data) = N*CB*H*W*b. The lanes of channels C..CB*b-1 are zero and every
// kernel keeps them zero.
//
// # Convolution weights: OIhw{b}i{b}o
//
// PyTorch's Conv2d weight is OIHW, w[oc][ic][kh][kw]. Packed for the
// kernels it becomes, with OCB = ceil(OutC/b) and ICB = ceil(InC/b),
//
//	offset(oc, ic, kh, kw) = ((((oc/b)*ICB + ic/b)*KH + kh)*KW + kw)*b*b + (ic%b)*b + oc%b
//
// so one input channel's weights for b output channels are one vector, and
// the weights of one (output block, input block) pair are a contiguous run
// of KH*KW*b*b floats. Entries for padded channels are zero.
//
// # Transposed-convolution weights, per output phase
//
// PyTorch's ConvTranspose2d weight is IOHW, w[ic][oc][kh][kw], and
// out[oh] += in[ih]*w[kh] where oh = ih*s - pad + kh. For the output rows of
// phase r = (oh+pad) mod s only the taps kh = r, r+s, r+2s, ... (nk of them)
// contribute, from input rows ih = (oh+pad-r)/s - j for tap kh = r + j*s.
// Flipping j (t = nk-1-j) turns each phase into an ordinary stride-1
// convolution over the low-resolution input whose taps read increasing
// input rows. PackDeconvPhase packs phase (rh, rw) into OIhw{b}i{b}o with
// nkh x nkw taps:
//
//	phase[oc][ic][t][u] = w[ic][oc][rh + (nkh-1-t)*s][rw + (nkw-1-u)*s]
//
// No zero is ever inserted into the input and no multiply touches one: the
// s*s phases together hold exactly the KH*KW taps of the kernel.
package layout

import (
	"fmt"
	"math"
)

// Tensor is a batch of feature maps in nChw{Block}c order (see the package
// comment for the offset formula).
type Tensor struct {
	N, C, H, W int       // logical shape
	Block      int       // channels per block: 8 or 16
	Data       []float32 // len N*ceil(C/Block)*H*W*Block
}

// ChannelBlocks returns ceil(C/Block), or 0 when t is nil or C or Block
// is not positive.
func (t *Tensor) ChannelBlocks() int {
	if t == nil || t.C <= 0 || t.Block <= 0 {
		return 0
	}
	return (t.C-1)/t.Block + 1 // ceil without overflow
}

// Offset returns the index in Data of logical element (n, c, h, w), or -1
// when t is nil, its shape or block is one Size rejects, or (n, c, h, w)
// lies outside the shape. It does not look at Data.
func (t *Tensor) Offset(n, c, h, w int) int {
	if t == nil || n < 0 || n >= t.N || c < 0 || c >= t.C || h < 0 || h >= t.H || w < 0 || w >= t.W {
		return -1
	}
	if _, err := Size(t.N, t.C, t.H, t.W, t.Block); err != nil {
		return -1
	}
	b := t.Block
	return ((n*t.ChannelBlocks()+c/b)*t.H+h)*t.W*b + w*b + c%b
}

// Len returns N*ceil(C/Block)*H*W*Block, the length Data must have, or 0
// when t is nil or its shape or block is one Size rejects (no Data is
// right for those).
func (t *Tensor) Len() int {
	if t == nil {
		return 0
	}
	n, err := Size(t.N, t.C, t.H, t.W, t.Block)
	if err != nil {
		return 0
	}
	return n
}

// MaxElements bounds every tensor and weight array sbconv accepts, so that
// no size or byte-offset computation can overflow int on any platform.
const MaxElements = min(1<<31-1, math.MaxInt/16)

// CheckBlock reports whether b is a channel block sbconv supports.
func CheckBlock(b int) error {
	if b != 8 && b != 16 {
		return fmt.Errorf("layout: block %d: must be 8 or 16", b)
	}
	return nil
}

// Size returns n*ceil(c/block)*h*w*block, the number of floats of a
// blocked tensor, or an error naming the first bad dimension or the
// overflow.
func Size(n, c, h, w, block int) (int, error) {
	// Dimensions in [1, 2^15) with a legal block: the product fits in 60
	// bits, and the block (8 or 16) rounds c up by a mask (Forward
	// validates three tensors a call).
	if (block == 8 || block == 16) && n > 0 && c > 0 && h > 0 && w > 0 && n|c|h|w < 1<<15 {
		if p := n * ((c + block - 1) &^ (block - 1)) * h * w; p <= MaxElements {
			return p, nil
		}
	}
	if err := CheckBlock(block); err != nil {
		return 0, err
	}
	for _, d := range []struct {
		name string
		v    int
	}{{"N", n}, {"C", c}, {"H", h}, {"W", w}} {
		if d.v <= 0 {
			return 0, fmt.Errorf("layout: %s = %d: must be positive", d.name, d.v)
		}
		if d.v > MaxElements {
			return 0, fmt.Errorf("layout: %s = %d: overflows the limit of %d elements", d.name, d.v, MaxElements)
		}
	}
	cp := (c + block - 1) / block * block // cannot overflow: c <= MaxElements
	return MulCheck(MaxElements, n, cp, h, w)
}

// MulCheck returns the product of xs, or an error when it exceeds limit
// (all xs must be positive).
func MulCheck(limit int, xs ...int) (int, error) {
	p := 1
	for _, x := range xs {
		if x <= 0 {
			return 0, fmt.Errorf("layout: size factor %d is not positive", x)
		}
		if p > limit/x {
			return 0, fmt.Errorf("layout: size %d*%d*... overflows the limit of %d elements", p, x, limit)
		}
		p *= x
	}
	return p, nil
}

// New returns a zeroed tensor of logical shape (n, c, h, w) with channel
// block block.
func New(n, c, h, w, block int) (*Tensor, error) {
	size, err := Size(n, c, h, w, block)
	if err != nil {
		return nil, err
	}
	return &Tensor{N: n, C: c, H: h, W: w, Block: block, Data: make([]float32, size)}, nil
}

// Validate checks that t is non-nil, its shape and block are legal and
// len(Data) matches them. name is used in the error.
func (t *Tensor) Validate(name string) error {
	if t == nil {
		return fmt.Errorf("%s is nil", name)
	}
	size, err := Size(t.N, t.C, t.H, t.W, t.Block)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(t.Data) != size {
		return fmt.Errorf("%s: len(Data) = %d, want %d for shape %dx%dx%dx%d block %d",
			name, len(t.Data), size, t.N, t.C, t.H, t.W, t.Block)
	}
	return nil
}

// FromNCHW returns a new blocked tensor holding src, a plain NCHW array of
// n*c*h*w floats.
func FromNCHW(src []float32, n, c, h, w, block int) (*Tensor, error) {
	t, err := New(n, c, h, w, block)
	if err != nil {
		return nil, err
	}
	if err := t.SetNCHW(src); err != nil {
		return nil, err
	}
	return t, nil
}

// SetNCHW overwrites t with src, a plain NCHW array of N*C*H*W floats,
// without allocating. Padded channel lanes are set to zero.
func (t *Tensor) SetNCHW(src []float32) error {
	if err := t.Validate("tensor"); err != nil {
		return err
	}
	if want := t.N * t.C * t.H * t.W; len(src) != want {
		return fmt.Errorf("layout: len(src) = %d, want N*C*H*W = %d", len(src), want)
	}
	b, hw, cb := t.Block, t.H*t.W, t.ChannelBlocks()
	for n := 0; n < t.N; n++ {
		for blk := 0; blk < cb; blk++ {
			dst := t.Data[(n*cb+blk)*hw*b : (n*cb+blk+1)*hw*b]
			for lane := 0; lane < b; lane++ {
				c := blk*b + lane
				if c >= t.C {
					for p := 0; p < hw; p++ {
						dst[p*b+lane] = 0
					}
					continue
				}
				s := src[(n*t.C+c)*hw : (n*t.C+c+1)*hw]
				for p, v := range s {
					dst[p*b+lane] = v
				}
			}
		}
	}
	return nil
}

// NCHW returns the tensor's contents as a new plain NCHW slice, or nil
// when t is nil or malformed (Validate rejects it and NCHWInto returns
// that error).
func (t *Tensor) NCHW() []float32 {
	if t.Validate("tensor") != nil {
		return nil
	}
	out := make([]float32, t.N*t.C*t.H*t.W) // <= Len() <= MaxElements
	if t.NCHWInto(out) != nil {
		return nil // unreachable: t is valid and out has its length
	}
	return out
}

// NCHWInto writes the tensor's contents into dst, a plain NCHW slice of
// exactly N*C*H*W floats, without allocating.
func (t *Tensor) NCHWInto(dst []float32) error {
	if err := t.Validate("tensor"); err != nil {
		return err
	}
	if want := t.N * t.C * t.H * t.W; len(dst) != want {
		return fmt.Errorf("layout: len(dst) = %d, want N*C*H*W = %d", len(dst), want)
	}
	b, hw, cb := t.Block, t.H*t.W, t.ChannelBlocks()
	for n := 0; n < t.N; n++ {
		for c := 0; c < t.C; c++ {
			src := t.Data[(n*cb+c/b)*hw*b : (n*cb+c/b+1)*hw*b]
			d := dst[(n*t.C+c)*hw : (n*t.C+c+1)*hw]
			lane := c % b
			for p := range d {
				d[p] = src[p*b+lane]
			}
		}
	}
	return nil
}
