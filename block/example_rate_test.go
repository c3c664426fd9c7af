package block_test

import (
	"fmt"

	"github.com/sbconv/sbconv/block"
)

// A network trained at sampling rate 3 (one pixel in nine kept between a
// block's reduce and its restore) loads like any other: the file records
// its rate, and a NetSpec.Rate that contradicts it is refused. RandomNet
// builds the same architecture at every rate, to see what each costs: at
// rate 4 the default 5x5 kernels (block.RandomStateDict's; PyTorch's
// sbconv_torch.ResNet picks the same) spend more taps than rate 3's 3x3
// ones save. go run ./cmd/sbbench -tables rates times them.
func ExampleNetSpec_rate() {
	const path = "../testdata/block/resnet20_sb123r3_w6_c10_33x31_b1_f32.safetensors"
	net, err := block.Load(path, block.NetSpec{})
	if err != nil {
		panic(err)
	}
	fmt.Printf("loaded: %+v\n", net.Spec())

	_, err = block.Load(path, block.NetSpec{Arch: "resnet20", SB: []int{1, 2, 3}, Rate: 4})
	fmt.Println(err)

	regular, err := block.RandomNet(block.NetSpec{Arch: "resnet20", NumClasses: 10}, 1)
	if err != nil {
		panic(err)
	}
	full := regular.FLOPs(1, 32, 32)
	for _, rate := range []int{2, 3, 4} {
		sb, err := block.RandomNet(block.NetSpec{Arch: "resnet20", SB: []int{1, 2, 3}, NumClasses: 10, Rate: rate}, 1)
		if err != nil {
			panic(err)
		}
		fmt.Printf("rate %d: %.2fx fewer FLOPs than the regular ResNet-20\n", rate, full/sb.FLOPs(1, 32, 32))
	}
	// Output:
	// loaded: {Arch:resnet20 SB:[1 2 3] Width:6 NumClasses:10 Rate:3}
	// block: ../testdata/block/resnet20_sb123r3_w6_c10_33x31_b1_f32.safetensors: NetSpec.Rate = 4 but the file describes Rate 3 (its __metadata__); pass block.NetSpec{} to build what the file describes
	// rate 2: 3.99x fewer FLOPs than the regular ResNet-20
	// rate 3: 7.34x fewer FLOPs than the regular ResNet-20
	// rate 4: 5.94x fewer FLOPs than the regular ResNet-20
}
