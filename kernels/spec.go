package kernels

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/sbconv/sbconv/internal/intmath"
	"github.com/sbconv/sbconv/layout"
)

// ConvSpec describes a 2-D convolution or transposed convolution: channel
// counts, kernel size, stride and symmetric zero padding (PyTorch's
// padding, applied on each side).
type ConvSpec struct {
	InC, OutC        int
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int // zero padding on each side
}

// Epilogue is what a Forward call fuses into its single store of each
// output value: out = act(conv + bias + Residual).
type Epilogue struct {
	Residual *layout.Tensor // added before the activation; nil for none
	ReLU     bool
}

// Limits on ConvSpec fields. Larger kernels, strides or pads are not
// convolutions anyone runs through a CPU kernel library; the limits keep
// every offset computation far from overflow.
const (
	MaxKernel   = 16 // KH, KW in 1..MaxKernel
	MaxStride   = 16 // StrideH, StrideW in 1..MaxStride
	MaxPad      = 16 // PadH, PadW in 0..MaxPad (output pixels that see only padding get bias, residual and activation)
	MaxChannels = layout.MaxChannels
)

func (s ConvSpec) validate() error {
	check := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("kernels: ConvSpec.%s = %d: must be in [%d, %d]", name, v, lo, hi)
		}
		return nil
	}
	for _, c := range []struct {
		name      string
		v, lo, hi int
	}{
		{"InC", s.InC, 1, MaxChannels},
		{"OutC", s.OutC, 1, MaxChannels},
		{"KH", s.KH, 1, MaxKernel},
		{"KW", s.KW, 1, MaxKernel},
		{"StrideH", s.StrideH, 1, MaxStride},
		{"StrideW", s.StrideW, 1, MaxStride},
		{"PadH", s.PadH, 0, MaxPad},
		{"PadW", s.PadW, 0, MaxPad},
	} {
		if err := check(c.name, c.v, c.lo, c.hi); err != nil {
			return err
		}
	}
	return nil
}

// Validate reports, without allocating anything, whether NewConv2D and
// NewConvTranspose2D accept spec's sizes: every field within its limit
// and the weights, packed in whole 16-channel blocks, within
// layout.MaxElements. A caller that makes weights up (or reads them) for
// a layer can run it first; the constructors run it too.
func (s ConvSpec) Validate() error {
	if err := s.validate(); err != nil {
		return err
	}
	if _, err := layout.MulCheck(layout.MaxElements, intmath.RoundUp(s.OutC, 16), intmath.RoundUp(s.InC, 16), s.KH, s.KW); err != nil {
		return fmt.Errorf("kernels: packed weights: %w", err)
	}
	return nil
}

// init validates what both constructors take (the dispatched set, the
// spec, the block, the weight and bias lengths in the given PyTorch order)
// and fills the fields they share; the caller adds its passes.
func (l *layer) init(spec ConvSpec, weights, bias []float32, block int, order string) (*isaSet, error) {
	set, err := current()
	if err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := layout.CheckBlock(block); err != nil {
		return nil, fmt.Errorf("kernels: %w", err)
	}
	if err := spec.checkWeights(weights, bias, order); err != nil {
		return nil, err
	}
	pb, err := layout.PackBias(bias, spec.OutC, block)
	if err != nil {
		return nil, fmt.Errorf("kernels: %w", err)
	}
	l.spec, l.block, l.bias = spec, block, pb
	l.icb, l.ocb = intmath.CeilDiv(spec.InC, block), intmath.CeilDiv(spec.OutC, block)
	return set, nil
}

// checkWeights validates the lengths of PyTorch-layout weights and bias.
func (s ConvSpec) checkWeights(weights, bias []float32, order string) error {
	want, err := layout.MulCheck(layout.MaxElements, s.OutC, s.InC, s.KH, s.KW)
	if err != nil {
		return fmt.Errorf("kernels: weights: %w", err)
	}
	if len(weights) != want {
		d0, d1 := s.OutC, s.InC
		if order == "IOHW" {
			d0, d1 = s.InC, s.OutC
		}
		return fmt.Errorf("kernels: len(weights) = %d, want %s %d*%d*%d*%d = %d",
			len(weights), order, d0, d1, s.KH, s.KW, want)
	}
	if bias != nil && len(bias) != s.OutC {
		return fmt.Errorf("kernels: len(bias) = %d, want OutC = %d (or nil)", len(bias), s.OutC)
	}
	return nil
}

// checkForward validates the tensors of a Forward call against the layer's
// channels and block and against each other. The spatial sizes are the
// caller's (Conv2D or ConvTranspose2D) to check.
func checkForward(dst, src *layout.Tensor, ep Epilogue, inC, outC, block int) error {
	if err := src.Validate("kernels: src"); err != nil {
		return err
	}
	if err := dst.Validate("kernels: dst"); err != nil {
		return err
	}
	if src.C != inC {
		return fmt.Errorf("kernels: src.C = %d, want InC = %d", src.C, inC)
	}
	if dst.C != outC {
		return fmt.Errorf("kernels: dst.C = %d, want OutC = %d", dst.C, outC)
	}
	if src.Block != block {
		return fmt.Errorf("kernels: src.Block = %d, want the layer's block %d", src.Block, block)
	}
	if dst.Block != block {
		return fmt.Errorf("kernels: dst.Block = %d, want the layer's block %d", dst.Block, block)
	}
	if dst.N != src.N {
		return fmt.Errorf("kernels: dst.N = %d, want src.N = %d", dst.N, src.N)
	}
	if overlap(dst.Data, src.Data) {
		return fmt.Errorf("kernels: dst aliases src: in-place convolution is not supported")
	}
	if r := ep.Residual; r != nil {
		if err := r.Validate("kernels: Epilogue.Residual"); err != nil {
			return err
		}
		if r.N != dst.N || r.C != dst.C || r.H != dst.H || r.W != dst.W || r.Block != dst.Block {
			return fmt.Errorf("kernels: Epilogue.Residual is %dx%dx%dx%d block %d, want dst's %dx%dx%dx%d block %d",
				r.N, r.C, r.H, r.W, r.Block, dst.N, dst.C, dst.H, dst.W, dst.Block)
		}
		if overlap(dst.Data, r.Data) {
			return fmt.Errorf("kernels: dst aliases Epilogue.Residual")
		}
	}
	return nil
}

// overlap reports whether two slices share any element.
func overlap(a, b []float32) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	a0 := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	a1 := a0 + uintptr(len(a))*4
	b1 := b0 + uintptr(len(b))*4
	return a0 < b1 && b0 < a1
}

// built reports whether the layer came from a constructor: the zero Conv2D
// and ConvTranspose2D have no block (and an all-zero spec).
func (l *layer) built() bool { return l.block != 0 }

// convOut returns PyTorch's output size (in+2p-k)/s+1 of a convolution
// along one axis, for in >= 1 and a validated kernel k, stride s and pad p
// (ConvSpec's limits): 0 when the padded input is smaller than the kernel,
// and false when the size does not fit in an int.
func convOut(in, k, s, p int) (int, bool) {
	if in-k < -2*p { // in - k cannot overflow: k <= MaxKernel
		return 0, true
	}
	u := (uint(in) + uint(2*p) - uint(k)) / uint(s) // in+2p <= MaxInt+2*MaxPad fits in a uint
	if u >= math.MaxInt {
		return 0, false
	}
	return int(u) + 1, true
}

// deconvOut returns the smallest and largest output sizes of a transposed
// convolution along one axis, (in-1)*s - 2p + k and that plus s-1, for
// in >= 1 and a validated kernel k, stride s and pad p, and false when the
// largest does not fit in an int.
func deconvOut(in, k, s, p int) (lo, hi int, ok bool) {
	lo, okLo := affine(in-1, s, k-2*p)
	hi, okHi := affine(in-1, s, k-2*p+s-1)
	return lo, hi, okLo && okHi
}

// affine returns x*s + a for x >= 0 and s >= 1, and whether the exact
// result fits in an int (a is small: |a| <= 64).
func affine(x, s, a int) (int, bool) {
	if a >= 0 {
		if x > (math.MaxInt-a)/s {
			return 0, false
		}
		return x*s + a, true
	}
	// x*s may pass MaxInt by up to -a and still land in range: in uint,
	// MaxInt - a fits.
	lim := (uint(math.MaxInt) + uint(-a)) / uint(s)
	if uint(x) > lim {
		return 0, false
	}
	return int(uint(x)*uint(s) - uint(-a)), true
}

// deconvTaps counts the (input index i in [0, in), tap j in [0, k)) pairs
// of a transposed convolution along one axis (stride st, pad pad) whose
// output index i*st - pad + j lies in [0, out): tap j reaches the inputs
// with pad-j <= i*st < out+pad-j, a range counted in closed form, so the
// count costs O(k) whatever in and out are. 0 when a size is not positive.
func deconvTaps(in, out, k, st, pad int) float64 {
	if in <= 0 || out <= 0 || k <= 0 || st <= 0 {
		return 0
	}
	var t float64
	for j := 0; j < k; j++ {
		c := pad - j                         // |c| <= MaxKernel + MaxPad
		lo := max(0, intmath.CeilDiv(c, st)) // the first i with i*st >= c
		// The first i with i*st >= out + c is q + e; compare it with in
		// without forming out + c or q + e, either of which can overflow.
		q, e := out/st, intmath.CeilDiv(out%st+c, st)
		hi := in
		if q-in < -e {
			hi = q + e // < in
		}
		if hi > lo {
			t += float64(hi - lo)
		}
	}
	return t
}
