package block

import (
	"unsafe"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// poolOut is the output size of ImageNet ResNet's 3x3 stride-2 max pool
// with padding 1, (h+2-3)/2+1, for h >= 1: written (h-1)/2+1, which
// cannot overflow.
func poolOut(h int) int { return (h-1)/2 + 1 }

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
// dst (n x c x 1 x 1). Each lane sums in float32 over four interleaved
// partial sums (as PyTorch sums in float32): through the dispatched x86
// set's average-pool kernel (package asm's average-pool contract, the
// same sums in the same order) where it has one for src's block, else
// globalAvgPoolGo. The kernel took SB ResNet-20's 64x8x8 pool from about
// 1.5 us to 0.1 us on one AVX-512 core of the AMD EPYC Zen 5.
func globalAvgPool(dst, src *layout.Tensor) {
	b, hw := src.Block, src.H*src.W
	planes := src.N * src.ChannelBlocks()
	k := dispatchedAvgPool(b)
	if k == avgPoolGo || planes == 0 || hw == 0 {
		globalAvgPoolGo(dst, src)
		return
	}
	in, out := src.Data[:planes*hw*b], dst.Data[:planes*b] // the kernel reads and writes no more
	p := asm.AvgPoolParams{
		Src: unsafe.Pointer(unsafe.SliceData(in)), Dst: unsafe.Pointer(unsafe.SliceData(out)),
		Planes: planes, Pix: hw, SrcPlane: hw * b * 4, Scale: 1 / float32(hw),
	}
	avgPoolAsm(k, &p)
}

// globalAvgPoolGo is globalAvgPool in Go: a pixel block costs a few
// vector-width adds rather than a float64 conversion each.
func globalAvgPoolGo(dst, src *layout.Tensor) {
	b, hw := src.Block, src.H*src.W
	planes := src.N * src.ChannelBlocks()
	inv := 1 / float32(hw)
	for pl := 0; pl < planes; pl++ {
		in := src.Data[pl*hw*b : (pl+1)*hw*b]
		out := dst.Data[pl*b : (pl+1)*b]
		for l0 := 0; l0 < b; l0 += 8 {
			var s0, s1, s2, s3 [8]float32
			p := 0
			for ; p+4 <= hw; p += 4 {
				v0 := (*[8]float32)(in[p*b+l0:])
				v1 := (*[8]float32)(in[(p+1)*b+l0:])
				v2 := (*[8]float32)(in[(p+2)*b+l0:])
				v3 := (*[8]float32)(in[(p+3)*b+l0:])
				for l := range s0 {
					s0[l] += v0[l]
					s1[l] += v1[l]
					s2[l] += v2[l]
					s3[l] += v3[l]
				}
			}
			for ; p < hw; p++ {
				v := (*[8]float32)(in[p*b+l0:])
				for l := range s0 {
					s0[l] += v[l]
				}
			}
			for l := range s0 {
				out[l0+l] = ((s0[l] + s1[l]) + (s2[l] + s3[l])) * inv
			}
		}
	}
}
