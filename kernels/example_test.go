package kernels_test

import (
	"fmt"

	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// A spatial bottleneck on a 7x7 map: a 3x3 stride-2 convolution keeps a
// quarter of the pixels (7 -> 4), and the stride-2 transposed convolution
// restores the size the destination asks for (4 -> 7), adding the input
// as the residual and applying ReLU in the same store.
func Example() {
	const c, h = 8, 7
	spec := kernels.ConvSpec{InC: c, OutC: c, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}

	// Weights in PyTorch's own layouts: Conv2d OIHW, ConvTranspose2d IOHW.
	w1 := make([]float32, c*c*3*3)
	w2 := make([]float32, c*c*3*3)
	for i := range w1 {
		w1[i] = 0.01
		w2[i] = -0.02
	}
	block := kernels.Block()
	reduce, err := kernels.NewConv2D(spec, w1, nil, block)
	if err != nil {
		panic(err)
	}
	restore, err := kernels.NewConvTranspose2D(spec, w2, nil, block)
	if err != nil {
		panic(err)
	}

	input := make([]float32, c*h*h) // NCHW, batch 1
	for i := range input {
		input[i] = 1
	}
	x, _ := layout.FromNCHW(input, 1, c, h, h, block)
	oh, ow, _ := reduce.OutputSize(h, h)
	y, _ := layout.New(1, c, oh, ow, block)
	z, _ := layout.New(1, c, h, h, block) // the restored size: 7, not 8

	if err := reduce.Forward(y, x, kernels.Epilogue{ReLU: true}); err != nil {
		panic(err)
	}
	if err := restore.Forward(z, y, kernels.Epilogue{Residual: x, ReLU: true}); err != nil {
		panic(err)
	}
	out := z.NCHW()
	fmt.Printf("%dx%d -> %dx%d -> %dx%d\n", h, h, oh, ow, z.H, z.W)
	fmt.Printf("channel 0, row 0: %.3f\n", out[:h])

	// Output:
	// 7x7 -> 4x4 -> 7x7
	// channel 0, row 0: [0.949 0.872 0.923 0.846 0.923 0.872 0.949]
}
