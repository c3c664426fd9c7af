package block

import (
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// poolOut is the output size of ImageNet ResNet's 3x3 stride-2 max pool
// with padding 1.
func poolOut(h int) int { return (h+2-3)/2 + 1 }

// maxPool3s2 computes PyTorch's MaxPool2d(3, stride=2, padding=1) of src
// into dst (n x c x poolOut(h) x poolOut(w)) through kernels.MaxPool3x3S2:
// each output pixel is the lane-wise maximum of the input pixels of its
// window that exist (the padding is -Inf, so it never wins). NaN
// propagates, as in PyTorch. Padded channel lanes are zero in src, so
// they stay zero. The error is only for tensors that do not fit, which
// the workspace rules out.
func maxPool3s2(dst, src *layout.Tensor) error {
	return kernels.MaxPool3x3S2(dst, src)
}

// globalAvgPool writes the mean over each channel's pixels of src into
// dst (n x c x 1 x 1), summing in float64.
func globalAvgPool(dst, src *layout.Tensor) {
	b, hw := src.Block, src.H*src.W
	planes := src.N * src.ChannelBlocks()
	inv := 1 / float64(hw)
	var sum [16]float64
	for pl := 0; pl < planes; pl++ {
		in := src.Data[pl*hw*b : (pl+1)*hw*b]
		s := sum[:b]
		clear(s)
		for p := 0; p < hw; p++ {
			v := in[p*b : (p+1)*b]
			for l := range s {
				s[l] += float64(v[l])
			}
		}
		out := dst.Data[pl*b : (pl+1)*b]
		for l := range out {
			out[l] = float32(s[l] * inv)
		}
	}
}
