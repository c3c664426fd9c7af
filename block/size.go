package block

import (
	"fmt"

	"github.com/sbconv/sbconv/kernels"
)

// MaxWeights bounds the weights (convolutions, BatchNorm and fc, as
// PyTorch counts parameters and buffers) of a network RandomNet makes up
// (Build over RandomStateDict): 2^28, 1 GiB of float32, ten times
// ResNet-50's 25.6 million. A network past it, such as ResNet-18 at Width
// 1024 (2.8 billion), is refused by name before any weight is made up; so
// is one with a layer the kernels would refuse (kernels.ConvSpec.Validate),
// such as ResNet-20 at Width 20000, whose 3x3 convolutions alone would
// hold 3.6 billion weights. Weights a state_dict holds are not counted
// (they exist already); the block constructors and NewStem still refuse a
// layer the kernels would refuse before they fold its weights. Building a
// network holds about three copies of its weights at once (as read,
// folded, packed).
const MaxWeights = 1 << 28

// blockPlan is one residual block of a network: its state_dict prefix
// and its constructor's arguments.
type blockPlan struct {
	prefix              string
	inC, planes, stride int
	sb                  bool
	rate                int // the spatial bottleneck's sampling rate
}

// plan lists the blocks of architecture a at width (channels of stage 1)
// with spatial bottlenecks at sampling rate rate in the stages sb marks
// (sb[stage], 1-based).
func (a arch) plan(width int, sb []bool, rate int) []blockPlan {
	var out []blockPlan
	inC := width
	for st := 1; st <= len(a.blocks); st++ {
		planes := width << (st - 1)
		for i := 0; i < a.blocks[st-1]; i++ {
			stride := 1
			if st > 1 && i == 0 {
				stride = 2
			}
			out = append(out, blockPlan{prefix: fmt.Sprintf("layer%d.%d.", st, i), inC: inC, planes: planes, stride: stride, sb: sb[st], rate: rate})
			inC = planes
			if a.bottleneck {
				inC = Expansion * planes
			}
		}
	}
	return out
}

// stemSpec is the stem convolution of architecture a.
func (a arch) stemSpec(width int) kernels.ConvSpec {
	if a.cifar {
		return conv(3, width, 3, 1, 1)
	}
	return conv(3, width, 7, 2, 3)
}

// The convolutions of each kind of block, in the order of their
// state_dict names (conv1, conv2, ...); the constructors build these and
// checkNetSize counts them. The transposed convolution is the second of
// an SBBasic and the third of an SBBottleneck; g gives a spatial
// bottleneck's rate and kernel sizes.

func basicSpecs(inC, planes, stride int) []kernels.ConvSpec {
	return []kernels.ConvSpec{conv(inC, planes, 3, stride, 1), conv(planes, planes, 3, 1, 1)}
}

func sbBasicSpecs(inC, planes, stride int, g sampling) []kernels.ConvSpec {
	return []kernels.ConvSpec{g.reduceSpec(inC, planes, stride), g.restoreSpec(planes)}
}

func bottleneckSpecs(inC, planes, stride int) []kernels.ConvSpec {
	return []kernels.ConvSpec{conv(inC, planes, 1, 1, 0), conv(planes, planes, 3, stride, 1), conv(planes, Expansion*planes, 1, 1, 0)}
}

func sbBottleneckSpecs(inC, planes, stride int, g sampling) []kernels.ConvSpec {
	return []kernels.ConvSpec{conv(inC, planes, 1, 1, 0), g.reduceSpec(planes, planes, stride),
		g.restoreSpec(planes), conv(planes, Expansion*planes, 1, 1, 0)}
}

// shortcutSpec is the projection shortcut's convolution (downsample.0),
// which a block has wherever the stride or the channel count changes.
func shortcutSpec(inC, outC, stride int) (kernels.ConvSpec, bool) {
	return conv(inC, outC, 1, stride, 0), stride != 1 || inC != outC
}

// specs lists the block's convolutions and their names, the projection
// shortcut last; a spatial bottleneck's kernels are DefaultKernelSize's,
// as RandomStateDict makes them up.
func (p blockPlan) specs(bottleneck bool) ([]kernels.ConvSpec, []string) {
	var s []kernels.ConvSpec
	outC := p.planes
	g := sampling{rate: p.rate, kr: DefaultKernelSize(p.rate), k: DefaultKernelSize(p.rate)}
	switch {
	case bottleneck && p.sb:
		s = sbBottleneckSpecs(p.inC, p.planes, p.stride, g)
	case bottleneck:
		s = bottleneckSpecs(p.inC, p.planes, p.stride)
	case p.sb:
		s = sbBasicSpecs(p.inC, p.planes, p.stride, g)
	default:
		s = basicSpecs(p.inC, p.planes, p.stride)
	}
	if bottleneck {
		outC = Expansion * p.planes
	}
	names := make([]string, len(s))
	for i := range s {
		names[i] = fmt.Sprintf("%sconv%d", p.prefix, i+1)
	}
	if d, ok := shortcutSpec(p.inC, outC, p.stride); ok {
		s = append(s, d)
		names = append(names, p.prefix+"downsample.0")
	}
	return s, names
}

// checkNetSize refuses, before anything is allocated, a network (name
// for the messages, its architecture, SB stages, rate and width) whose
// layers the kernels would refuse or whose weights pass MaxWeights.
// classes 0 leaves fc out (its rows are not known yet).
func checkNetSize(name string, a arch, sb []bool, rate, width, classes int) error {
	_, err := netWeights(name, a, sb, rate, width, classes)
	return err
}

// netWeights counts the network's weights as its state_dict holds them
// (each convolution's and its BatchNorm's four vectors, fc's weight and
// bias; num_batches_tracked aside), or returns checkNetSize's error.
func netWeights(name string, a arch, sb []bool, rate, width, classes int) (int, error) {
	total := 0
	add := func(layer string, s kernels.ConvSpec, vectors int) error {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("block: %s at Width %d: %s (%dx%dx%dx%d): %w", name, width, layer, s.OutC, s.InC, s.KH, s.KW, err)
		}
		// Validate bounds each product by layout.MaxElements, and total
		// stays below MaxWeights plus one layer: no overflow.
		total += s.OutC*s.InC*s.KH*s.KW + vectors*s.OutC
		if total > MaxWeights {
			return fmt.Errorf("block: %s at Width %d has more than MaxWeights = %d weights (%s and the layers before it hold %d)",
				name, width, MaxWeights, layer, total)
		}
		return nil
	}
	if err := add("conv1", a.stemSpec(width), 4); err != nil {
		return 0, err
	}
	lastC := width
	for _, p := range a.plan(width, sb, rate) {
		specs, names := p.specs(a.bottleneck)
		for i, s := range specs {
			if err := add(names[i], s, 4); err != nil {
				return 0, err
			}
		}
		lastC = specs[len(specs)-1].OutC
	}
	if classes > 0 {
		if err := add("fc", conv(lastC, classes, 1, 1, 0), 1); err != nil {
			return 0, err
		}
	}
	return total, nil
}
