package kernels_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/block"
	"github.com/sbconv/sbconv/kernels"
)

// TestScalingModelLayers checks the scaling model's layer lists against
// the networks package block builds: the same convolutions in the same
// order with the same FLOPs as Net.Steps (batch 1), and the same total as
// Net.FLOPs at batch 1 and 8, regular and with spatial bottlenecks at
// rates 2, 3 and 4 (ResNet-18 only under -race).
func TestScalingModelLayers(t *testing.T) {
	archs := []string{"resnet18", "resnet50"}
	if kernels.ScalingModelRace {
		archs = archs[:1]
	}
	for _, arch := range archs {
		for _, rate := range []int{0, 2, 3, 4} { // 0: the regular network
			sb := rate > 0
			spec := block.NetSpec{Arch: arch, NumClasses: 1000, Rate: rate}
			if sb {
				spec.SB = []int{1, 2, 3, 4}
			}
			net, err := block.RandomNet(spec, 1)
			require.NoError(t, err)
			steps, err := net.Steps(1, 224, 224)
			require.NoError(t, err)
			var names []string
			var flops []float64
			for _, s := range steps {
				if s.Name != "maxpool" && s.Name != "avgpool" {
					names = append(names, s.Name)
					flops = append(flops, s.FLOPs)
				}
			}
			gotNames, gotFLOPs := kernels.ScalingModelSteps(arch, sb, rate, 1)
			require.Equal(t, names, gotNames, "%s rate %d", arch, rate)
			require.Equal(t, flops, gotFLOPs, "%s rate %d", arch, rate)
			for _, batch := range []int{1, 8} {
				_, f := kernels.ScalingModelSteps(arch, sb, rate, batch)
				var sum float64
				for _, x := range f {
					sum += x
				}
				require.InEpsilon(t, net.FLOPs(batch, 224, 224), sum, 1e-12, "%s rate %d batch %d", arch, rate, batch)
			}
			net.Release()
		}
	}
}
