package kernels_test

import (
	"fmt"
	"log"

	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// A residual block's last layer, in place: ForwardAdd adds the 3x3
// convolution of y to the shortcut's map x and applies ReLU, x being
// both the residual and the output.
func ExampleConv2D_ForwardAdd() {
	const c, h = 2, 3
	block := kernels.Block()
	w := make([]float32, c*c*3*3) // OIHW: channel o sums channel o's 3x3 window
	for o := 0; o < c; o++ {
		for k := 0; k < 9; k++ {
			w[(o*c+o)*9+k] = 1
		}
	}
	conv, err := kernels.NewConv2D(kernels.ConvSpec{InC: c, OutC: c, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, w, nil, block)
	if err != nil {
		log.Fatal(err)
	}
	ones := make([]float32, c*h*h)
	shortcut := make([]float32, c*h*h)
	for i := range ones {
		ones[i] = 1
		shortcut[i] = -4 // channel 0 and 1 alike
	}
	y, err := layout.FromNCHW(ones, 1, c, h, h, block)
	if err != nil {
		log.Fatal(err)
	}
	x, err := layout.FromNCHW(shortcut, 1, c, h, h, block)
	if err != nil {
		log.Fatal(err)
	}
	if err := conv.ForwardAdd(x, y, true); err != nil { // x = relu(conv(y) + x)
		log.Fatal(err)
	}
	fmt.Println(x.NCHW()[:h*h])

	// Output:
	// [0 2 0 2 5 2 0 2 0]
}
