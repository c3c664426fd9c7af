package block

import (
	"github.com/sbconv/sbconv/layout"
)

// poolOut is the output size of ImageNet ResNet's 3x3 stride-2 max pool
// with padding 1.
func poolOut(h int) int { return (h+2-3)/2 + 1 }

// maxPool3s2 computes PyTorch's MaxPool2d(3, stride=2, padding=1) of src
// into dst (n x c x poolOut(h) x poolOut(w)), block by block: each output
// pixel is the lane-wise maximum of the input pixels of its window that
// exist (the padding is -Inf, so it never wins). NaN propagates, as in
// PyTorch. Padded channel lanes are zero in src, so they stay zero.
func maxPool3s2(dst, src *layout.Tensor) {
	b, ih, iw, oh, ow := src.Block, src.H, src.W, dst.H, dst.W
	planes := src.N * src.ChannelBlocks()
	for pl := 0; pl < planes; pl++ {
		in := src.Data[pl*ih*iw*b : (pl+1)*ih*iw*b]
		out := dst.Data[pl*oh*ow*b : (pl+1)*oh*ow*b]
		for i := 0; i < oh; i++ {
			y0, y1 := max(0, 2*i-1), min(ih-1, 2*i+1)
			o := out[i*ow*b : (i+1)*ow*b]
			for j := 0; j < ow; j++ {
				x0, x1 := max(0, 2*j-1), min(iw-1, 2*j+1)
				acc := o[j*b : (j+1)*b]
				copy(acc, in[(y0*iw+x0)*b:(y0*iw+x0+1)*b])
				for y := y0; y <= y1; y++ {
					for x := x0; x <= x1; x++ {
						v := in[(y*iw+x)*b : (y*iw+x+1)*b]
						for l := range acc {
							acc[l] = max(acc[l], v[l])
						}
					}
				}
			}
		}
	}
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
