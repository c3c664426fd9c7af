package bench

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sbconv/sbconv/block"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// BlockShape is one residual block of a ResNet stage: inside the stage
// (stride 1, as many channels in as out) or at its entry (stride 2 from the
// previous stage's map and channels).
type BlockShape struct {
	Name       string
	Bottleneck bool // Bottleneck / SBBottleneck; else BasicBlock / SBBasic
	InC        int  // input channels
	Planes     int  // the block's planes (output channels, or a quarter of them for a bottleneck)
	Stride     int
	H          int // input size (square)
}

// BlockShapes are the blocks of CIFAR ResNet's and ImageNet ResNet-18/34's
// (basic) and ResNet-50's (bottleneck) stages, inside each stage and at
// each entry.
var BlockShapes = func() []BlockShape {
	var out []BlockShape
	for _, s := range PeerShapes {
		out = append(out, BlockShape{"basic/" + s.Name, false, s.C, s.C, 1, s.H})
		if s.Name != "cifar-16x32" && s.Name != "in-64x56" { // every stage but the first has an entry
			out = append(out, BlockShape{"basic/" + s.Name + "-entry", false, s.C / 2, s.C, 2, 2 * s.H})
		}
	}
	for _, s := range PeerShapes[3:] {
		p := s.C
		out = append(out, BlockShape{fmt.Sprintf("bottleneck/in-%dx%d", 4*p, s.H), true, 4 * p, p, 1, s.H})
		if s.H == 56 {
			out = append(out, BlockShape{fmt.Sprintf("bottleneck/in-%dx%d-entry", 4*p, s.H), true, p, p, 1, s.H})
		} else {
			out = append(out, BlockShape{fmt.Sprintf("bottleneck/in-%dx%d-entry", 4*p, s.H), true, 2 * p, p, 2, 2 * s.H})
		}
	}
	return out
}()

// NewBlockCase builds block shape s, regular or spatial bottleneck, with
// random weights, on a random n x InC x H x H input. FLOPs are the block's
// real ones (the restore's taps that reach the output).
func NewBlockCase(s BlockShape, sb bool, n int) (*Case, error) {
	rate := 0
	if sb {
		rate = 2
	}
	return newBlockCase(s, rate, n)
}

// NewSBBlockCase is NewBlockCase's spatial-bottleneck block at sampling
// rate (2, 3 or 4), with the kernel sizes block.RandomStateDict gives it
// (the smallest odd size at least rate: 3, 3, 5).
func NewSBBlockCase(s BlockShape, rate, n int) (*Case, error) {
	if rate < 2 {
		return nil, fmt.Errorf("bench: NewSBBlockCase: rate %d, want 2, 3 or 4", rate)
	}
	return newBlockCase(s, rate, n)
}

// newBlockCase builds s regular (rate 0) or as a spatial bottleneck at
// rate.
func newBlockCase(s BlockShape, rate, n int) (*Case, error) {
	sd := block.RandomStateDict(uint64(s.InC*1000 + s.H))
	sb := rate > 0
	var b block.Block
	var err error
	switch {
	case s.Bottleneck && sb:
		b, err = block.NewSBBottleneck(sd, "", s.InC, s.Planes, s.Stride, rate)
	case s.Bottleneck:
		b, err = block.NewBottleneck(sd, "", s.InC, s.Planes, s.Stride)
	case sb:
		b, err = block.NewSBBasic(sd, "", s.InC, s.Planes, s.Stride, rate)
	default:
		b, err = block.NewBasicBlock(sd, "", s.InC, s.Planes, s.Stride)
	}
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(uint64(s.InC), uint64(s.H)))
	in := randSlice(r, n*s.InC*s.H*s.H)
	x, err := layout.FromNCHW(in, n, s.InC, s.H, s.H, kernels.Block())
	if err != nil {
		return nil, err
	}
	oh, ow, err := b.OutputSize(s.H, s.H)
	if err != nil {
		return nil, err
	}
	y, err := layout.New(n, b.OutChannels(), oh, ow, kernels.Block())
	if err != nil {
		return nil, err
	}
	name := "regular"
	if sb {
		name = "sb"
	}
	return &Case{Name: name, Shape: Shape{s.Name, s.InC, s.H}, N: n, FLOPs: b.FLOPs(n, s.H, s.H),
		Run: func() error { return b.Forward(y, x) }, Input: in, Weights: sd, WeightBytes: weightBytes(sd, false)}, nil
}

// NetShape is a whole network at its input size.
type NetShape struct {
	Name    string // the architecture, as block.NetSpec.Arch
	Stages  int    // residual stages: 3 (CIFAR) or 4 (ImageNet)
	H       int    // input size (square)
	Classes int
	Width   int // stage 1's channels; 0: the architecture's own
}

// NetShapes are the networks sbbench and the benchmarks time: CIFAR
// ResNet-20 and -56 at 32x32, ImageNet ResNet-18, -34 and -50 at 224x224.
var NetShapes = []NetShape{
	{Name: "resnet20", Stages: 3, H: 32, Classes: 10}, {Name: "resnet56", Stages: 3, H: 32, Classes: 10},
	{Name: "resnet18", Stages: 4, H: 224, Classes: 1000}, {Name: "resnet34", Stages: 4, H: 224, Classes: 1000},
	{Name: "resnet50", Stages: 4, H: 224, Classes: 1000},
}

// NetSpec returns the spec of s, regular or with spatial bottlenecks in
// every stage.
func (s NetShape) NetSpec(sb bool) block.NetSpec {
	spec := block.NetSpec{Arch: s.Name, NumClasses: s.Classes, Width: s.Width}
	if sb {
		for i := 1; i <= s.Stages; i++ {
			spec.SB = append(spec.SB, i)
		}
	}
	return spec
}

// NewNetCase builds network s, regular or spatial bottleneck in every
// stage, with random weights (block.RandomNet's), on a random batch-n
// input.
func NewNetCase(s NetShape, sb bool, n int) (*Case, *block.Net, error) {
	return newNetCase(s, s.NetSpec(sb), sb, n)
}

// NewSBNetCase is NewNetCase's spatial-bottleneck network at sampling
// rate (2, 3 or 4; NetSpec.Rate), with the kernel sizes
// block.RandomStateDict gives it (3, 3, 5).
func NewSBNetCase(s NetShape, rate, n int) (*Case, *block.Net, error) {
	if rate < 2 {
		return nil, nil, fmt.Errorf("bench: NewSBNetCase: rate %d, want 2, 3 or 4", rate)
	}
	spec := s.NetSpec(true)
	spec.Rate = rate
	return newNetCase(s, spec, true, n)
}

func newNetCase(s NetShape, spec block.NetSpec, sb bool, n int) (*Case, *block.Net, error) {
	sd := block.RandomStateDict(uint64(s.H))
	net, err := block.Build(sd, spec)
	if err != nil {
		return nil, nil, err
	}
	r := rand.New(rand.NewPCG(3, uint64(s.H)))
	in := randSlice(r, n*3*s.H*s.H)
	logits := make([]float32, n*net.NumClasses())
	name := "regular"
	if sb {
		name = "sb"
	}
	return &Case{Name: name, Shape: Shape{s.Name, 3, s.H}, N: n, FLOPs: net.FLOPs(n, s.H, s.H),
		Run: func() error { return net.Forward(logits, in, n, s.H, s.H) }, Input: in, Weights: sd,
		WeightBytes: weightBytes(sd, true)}, net, nil
}

// StepTimes times each step alone: the fastest of reps samples of at
// least minTime each (warm caches, as a single-layer benchmark sees them).
func StepTimes(steps []block.Step, reps int, minTime time.Duration) ([]time.Duration, error) {
	out := make([]time.Duration, len(steps))
	for i, st := range steps {
		c := &Case{Run: st.Run}
		if err := c.Run(); err != nil {
			return nil, fmt.Errorf("%s: %w", st.Name, err)
		}
		best := time.Duration(1<<63 - 1)
		for r := 0; r < reps; r++ {
			d, err := sample(c, minTime)
			if err != nil {
				return nil, err
			}
			best = min(best, d)
		}
		out[i] = best
	}
	return out, nil
}

// flushBytes is the buffer ColdStepTimes walks through before each sample:
// four times a 32 MiB L3 (one Zen 5 CCD's; larger caches need more).
const flushBytes = 128 << 20

// ColdStepTimes times each step alone with cold caches: the fastest of
// reps single calls, each after writing a line of every 64 bytes of a
// 128 MiB buffer, so that the step's weights and maps come from memory.
// A network whose weights exceed the caches (ResNet-18's 47 MB) reads each
// layer's weights from memory too, while its maps stay warm from the layer
// before, so its time lies between the sums of StepTimes and of these.
func ColdStepTimes(steps []block.Step, reps int) ([]time.Duration, error) {
	flush := make([]byte, flushBytes)
	out := make([]time.Duration, len(steps))
	for i, st := range steps {
		best := time.Duration(1<<63 - 1)
		for r := 0; r < max(1, reps); r++ {
			for j := 0; j < len(flush); j += 64 {
				flush[j]++
			}
			start := time.Now()
			if err := st.Run(); err != nil {
				return nil, fmt.Errorf("%s: %w", st.Name, err)
			}
			best = min(best, time.Since(start))
		}
		out[i] = best
	}
	return out, nil
}
