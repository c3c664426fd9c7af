package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/sbconv/sbconv/block"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// streamInC is the input channels of the weight-stream layer: 1024, so
// that its weights are a few wide rows of output blocks whatever the size.
const streamInC = 1024

// streamConv is a 1x1 convolution of streamInC input channels with at
// least the given bytes of weights over a side x side map, and its
// tensors: at one pixel it does two FLOPs a weight it reads, so its time
// is the weights' stream.
type streamConv struct {
	conv     *kernels.Conv2D
	src, dst *layout.Tensor
	bytes    float64 // its weights, in bytes
}

func newStreamConv(bytes float64, side int) (*streamConv, error) {
	blk := kernels.Block()
	outC := max(1, int(math.Ceil(bytes/4/streamInC/float64(blk)))) * blk
	w := make([]float32, streamInC*outC)
	for i := range w {
		w[i] = float32(i%7) / 64
	}
	conv, err := kernels.NewConv2D(kernels.ConvSpec{InC: streamInC, OutC: outC, KH: 1, KW: 1, StrideH: 1, StrideW: 1}, w, nil, blk)
	if err != nil {
		return nil, err
	}
	src, err := layout.New(1, streamInC, side, side, blk)
	if err != nil {
		return nil, err
	}
	dst, err := layout.New(1, outC, side, side, blk)
	if err != nil {
		return nil, err
	}
	return &streamConv{conv: conv, src: src, dst: dst, bytes: float64(4 * len(w))}, nil
}

func (s *streamConv) run() error { return s.conv.Forward(s.dst, s.src, kernels.Epilogue{}) }

// WeightStream returns how long the kernels take to read the given bytes
// of weights once, call after call, on this process's threads: the
// fastest of five calls, after a warm-up, of a 1x1 convolution of 1024
// input channels over one pixel with that many bytes of weights (rounded
// up to whole output blocks), two FLOPs a weight read. Weights that stay
// in a cache between calls come at its speed, larger ones from memory,
// as a network's do when it runs call after call: a block or network
// that reads these bytes of weights (Case.WeightBytes) takes at least
// about this long at batch 1 (BenchmarkWeightStream has the bandwidths of
// 16 and 64 MB, and of small maps).
func WeightStream(bytes float64) (time.Duration, error) {
	s, err := newStreamConv(bytes, 1)
	if err != nil {
		return 0, err
	}
	if err := s.run(); err != nil {
		return 0, err
	}
	best := time.Duration(1<<63 - 1)
	for i := 0; i < 5; i++ {
		t := time.Now()
		if err := s.run(); err != nil {
			return 0, err
		}
		best = min(best, time.Since(t))
	}
	return time.Duration(float64(best) * bytes / s.bytes), nil
}

// weightBytes returns the bytes of the float32 convolution and linear
// weights of sd under the residual blocks' prefixes (conv1..conv3 and
// downsample.0 of each) and, for a network (net), its stem's conv1 and
// its fc: the weights one call reads, as PyTorch holds them (BatchNorm
// scales are folded into them, biases left out). sd holds only the keys
// a constructor took (RandomStateDict makes each up as it is asked for).
func weightBytes(sd *block.StateDict, net bool) float64 {
	n := 0
	add := func(key string) bool {
		shape, ok := sd.Shape(key)
		if !ok {
			return false
		}
		e := 1
		for _, d := range shape {
			e *= d
		}
		n += e
		return true
	}
	layers := func(prefix string) bool {
		found := false
		for _, l := range []string{"conv1", "conv2", "conv3", "downsample.0"} {
			if add(prefix + l + ".weight") {
				found = true
			}
		}
		return found
	}
	if !net {
		layers("")
		return 4 * float64(n)
	}
	add("conv1.weight")
	add("fc.weight")
	for stage := 1; stage <= 4; stage++ {
		// Blocks 0, 1, ... of the stage, up to the first it does not have.
		for i := 0; ; i++ {
			if !layers(fmt.Sprintf("layer%d.%d.", stage, i)) {
				break
			}
		}
	}
	return 4 * float64(n)
}
