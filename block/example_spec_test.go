package block_test

import (
	"fmt"

	"github.com/sbconv/sbconv/block"
)

// A file saved with python/sbconv_torch.py's save describes its network,
// so a zero NetSpec builds it, and a spec that contradicts the description
// is refused.
func ExampleStateDict_Spec() {
	const path = "../testdata/block/resnet32_sb2_w6_c7_17x17_b1_f32.safetensors"
	sd, err := block.ReadStateDict(path)
	if err != nil {
		panic(err)
	}
	spec, ok, err := sd.Spec()
	if err != nil {
		panic(err)
	}
	fmt.Printf("described: %v, %s with SB %v, width %d, %d classes\n", ok, spec.Arch, spec.SB, spec.Width, spec.NumClasses)

	net, err := block.Build(sd, block.NetSpec{})
	if err != nil {
		panic(err)
	}
	fmt.Printf("built: %+v\n", net.Spec())

	_, err = block.Load(path, block.NetSpec{Arch: "resnet32"}) // the regular network
	fmt.Println(err)
	// Output:
	// described: true, resnet32 with SB [2], width 6, 7 classes
	// built: {Arch:resnet32 SB:[2] Width:6 NumClasses:7 Rate:2}
	// block: ../testdata/block/resnet32_sb2_w6_c7_17x17_b1_f32.safetensors: NetSpec.SB = [] but the file describes SB [2] (its __metadata__); pass block.NetSpec{} to build what the file describes
}
