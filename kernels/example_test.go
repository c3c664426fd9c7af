package kernels_test

import (
	"fmt"
	"log"

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

	// Weights in PyTorch's own layouts; a bias may be nil.
	w1 := make([]float32, c*c*3*3) // Conv2d weight, OIHW
	w2 := make([]float32, c*c*3*3) // ConvTranspose2d weight, IOHW
	b1 := make([]float32, c)       // Conv2d bias
	for i := range w1 {
		w1[i], w2[i] = 0.01, -0.02
	}
	for i := range b1 {
		b1[i] = 0.05
	}
	block := kernels.Block() // the channel block the dispatched kernels want
	reduce, err := kernels.NewConv2D(spec, w1, b1, block)
	if err != nil {
		log.Fatal(err)
	}
	restore, err := kernels.NewConvTranspose2D(spec, w2, nil, block)
	if err != nil {
		log.Fatal(err)
	}

	input := make([]float32, c*h*h) // NCHW, batch 1
	for i := range input {
		input[i] = 1
	}
	x, err := layout.FromNCHW(input, 1, c, h, h, block) // NCHW -> nChw{b}c
	if err != nil {
		log.Fatal(err)
	}
	oh, ow, err := reduce.OutputSize(h, h)
	if err != nil {
		log.Fatal(err)
	}
	y, err := layout.New(1, c, oh, ow, block)
	if err != nil {
		log.Fatal(err)
	}
	z, err := layout.New(1, c, h, h, block) // the destination picks the restored size (PyTorch's output_size): 7, not 8
	if err != nil {
		log.Fatal(err)
	}

	if err := reduce.Forward(y, x, kernels.Epilogue{ReLU: true}); err != nil {
		log.Fatal(err)
	}
	if err := restore.Forward(z, y, kernels.Epilogue{Residual: x, ReLU: true}); err != nil {
		log.Fatal(err)
	}
	out := z.NCHW() // or z.NCHWInto(buf), which does not allocate
	fmt.Printf("%dx%d -> %dx%d -> %dx%d\n", h, h, oh, ow, z.H, z.W)
	fmt.Printf("channel 0, row 0: %.3f\n", out[:h])

	// Output:
	// 7x7 -> 4x4 -> 7x7
	// channel 0, row 0: [0.941 0.856 0.915 0.830 0.915 0.856 0.941]
}
