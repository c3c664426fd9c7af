package block_test

import (
	"fmt"
	"math"

	"github.com/sbconv/sbconv/block"
)

// Load a spatial-bottleneck ResNet-20 that PyTorch saved as safetensors
// (here a small one from the repository's test data: width 16, SB in
// all three stages) and classify a batch of two 32x32 images.
func Example() {
	net, err := block.Load("../testdata/block/resnet20_sb123_w16_c10_32x32_b2_f32.safetensors",
		block.NetSpec{Arch: "resnet20", SB: []int{1, 2, 3}})
	if err != nil {
		panic(err)
	}
	const batch, h, w = 2, 32, 32
	images := make([]float32, batch*3*h*w) // NCHW
	for i := range images {
		b := i / (3 * h * w)
		images[i] = float32(math.Sin(float64(i) * 0.01 * float64(1+5*b)))
	}
	logits := make([]float32, batch*net.NumClasses())
	if err := net.Forward(logits, images, batch, h, w); err != nil {
		panic(err)
	}
	for b := 0; b < batch; b++ {
		best := 0
		row := logits[b*net.NumClasses() : (b+1)*net.NumClasses()]
		for k, v := range row {
			if v > row[best] {
				best = k
			}
		}
		fmt.Printf("image %d: class %d of %d (logit %.2f)\n", b, best, net.NumClasses(), row[best])
	}
	// Output:
	// image 0: class 6 of 10 (logit 1.96)
	// image 1: class 6 of 10 (logit 2.48)
}
