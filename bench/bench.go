// Package bench builds the workloads sbconv is measured on: the layers and
// blocks of ResNet's stages at the shapes of bench/peers (the peer
// programs for oneDNN, XNNPACK and PyTorch time exactly these), so that
// `go test -bench` and cmd/sbbench report numbers that line up with the
// peers' tables column for column.
//
// FLOPs follow the peers' convention: a 3x3 convolution producing an
// oh x ow map of C channels from C channels counts 2*C*C*9*oh*ow, and the
// stride-2 restore counts the same as the stride-2 convolution it inverts
// (2*C*C*9*hr*hr with hr = ceil(h/2)), which is exactly its real work on
// even maps and slightly more than it on odd ones.
package bench

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/sbconv/sbconv/block"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/kernels/ref"
	"github.com/sbconv/sbconv/layout"
)

// Shape is one ResNet stage: C channels on an H x H map.
type Shape struct {
	Name string
	C, H int
}

// PeerShapes are the stage shapes of bench/peers: CIFAR ResNet's three
// stages and ImageNet ResNet's four.
var PeerShapes = []Shape{
	{"cifar-16x32", 16, 32}, {"cifar-32x16", 32, 16}, {"cifar-64x8", 64, 8},
	{"in-64x56", 64, 56}, {"in-128x28", 128, 28}, {"in-256x14", 256, 14}, {"in-512x7", 512, 7},
}

// Workload names, as the peers' columns call them.
const (
	Conv3x3S1 = "conv3x3s1" // 3x3 stride-1 convolution, bias + ReLU
	Conv3x3S2 = "conv3x3s2" // 3x3 stride-2 convolution, bias + ReLU
	DeconvS2  = "deconv_s2" // 3x3 stride-2 transposed convolution restoring h, bias + ReLU
	BasicBlk  = "basicblk"  // two 3x3 stride-1 convolutions, residual add, ReLU
	SBBlock   = "sb_block"  // 3x3 stride-2 convolution, stride-2 restore, residual add, ReLU
)

// Workloads lists the workload names in table order.
var Workloads = []string{Conv3x3S1, Conv3x3S2, DeconvS2, BasicBlk, SBBlock}

// Case is a built workload: Run computes it once.
type Case struct {
	Name  string  // workload
	Shape Shape   // stage shape
	N     int     // batch
	FLOPs float64 // per Run, peers' convention
	Run   func() error

	// What a peer implementation needs to compute the same function
	// (cmd/sbbench's Go peer does): the input in NCHW order and, for
	// blocks and networks, the state_dict they were built from (every key
	// they took is in it). Nil where a case does not set them.
	Input   []float32
	Weights *block.StateDict

	// WeightBytes is the bytes of float32 weights one Run reads, for
	// blocks and networks: their convolutions' and classifier's, as the
	// state_dict holds them (BatchNorm folded in, biases left out). A call
	// reads all of them at any batch; at batch 1, where they outgrow the
	// caches, their stream from memory (WeightStream) bounds the time. 0
	// where a case does not set it.
	WeightBytes float64
}

// half is the map size after a stride-2 3x3 convolution with padding 1.
func half(h int) int { return (h + 1) / 2 }

func conv3x3(r *rand.Rand, c, stride, block int) (*kernels.Conv2D, error) {
	spec := kernels.ConvSpec{InC: c, OutC: c, KH: 3, KW: 3, StrideH: stride, StrideW: stride, PadH: 1, PadW: 1}
	return kernels.NewConv2D(spec, randSlice(r, c*c*9), randSlice(r, c), block)
}

func deconv3x3(r *rand.Rand, c, block int) (*kernels.ConvTranspose2D, error) {
	spec := kernels.ConvSpec{InC: c, OutC: c, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	return kernels.NewConvTranspose2D(spec, randSlice(r, c*c*9), randSlice(r, c), block)
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2-1) * 0.1
	}
	return s
}

// NewCase builds workload name at shape s for batch n with the given
// channel block (kernels.Block() for the fast path).
func NewCase(name string, s Shape, n, block int) (*Case, error) {
	r := rand.New(rand.NewPCG(uint64(s.C), uint64(s.H)))
	c, h, hr := s.C, s.H, half(s.H)
	newT := func(h int) (*layout.Tensor, error) {
		t, err := layout.New(n, c, h, h, block)
		if err != nil {
			return nil, err
		}
		return t, t.SetNCHW(randSlice(r, n*c*h*h))
	}
	x, err := newT(h)
	if err != nil {
		return nil, err
	}
	full := 2 * float64(n) * float64(c*c*9) * float64(h*h)
	halfF := 2 * float64(n) * float64(c*c*9) * float64(hr*hr)
	relu := kernels.Epilogue{ReLU: true}
	cs := &Case{Name: name, Shape: s, N: n}
	switch name {
	case Conv3x3S1, Conv3x3S2:
		stride, oh, f := 1, h, full
		if name == Conv3x3S2 {
			stride, oh, f = 2, hr, halfF
		}
		conv, err := conv3x3(r, c, stride, block)
		if err != nil {
			return nil, err
		}
		y, err := newT(oh)
		if err != nil {
			return nil, err
		}
		cs.FLOPs = f
		cs.Run = func() error { return conv.Forward(y, x, relu) }
	case DeconvS2:
		d, err := deconv3x3(r, c, block)
		if err != nil {
			return nil, err
		}
		lo, err := newT(hr)
		if err != nil {
			return nil, err
		}
		cs.FLOPs = halfF
		cs.Run = func() error { return d.Forward(x, lo, relu) }
	case BasicBlk:
		c1, err := conv3x3(r, c, 1, block)
		if err != nil {
			return nil, err
		}
		c2, err := conv3x3(r, c, 1, block)
		if err != nil {
			return nil, err
		}
		y, _ := newT(h)
		z, err := newT(h)
		if err != nil {
			return nil, err
		}
		cs.FLOPs = 2 * full
		cs.Run = func() error {
			if err := c1.Forward(y, x, relu); err != nil {
				return err
			}
			return c2.Forward(z, y, kernels.Epilogue{Residual: x, ReLU: true})
		}
	case SBBlock:
		c1, err := conv3x3(r, c, 2, block)
		if err != nil {
			return nil, err
		}
		d, err := deconv3x3(r, c, block)
		if err != nil {
			return nil, err
		}
		y, _ := newT(hr)
		z, err := newT(h)
		if err != nil {
			return nil, err
		}
		cs.FLOPs = 2 * halfF
		cs.Run = func() error {
			if err := c1.Forward(y, x, relu); err != nil {
				return err
			}
			return d.Forward(z, y, kernels.Epilogue{Residual: x, ReLU: true})
		}
	default:
		return nil, fmt.Errorf("bench: unknown workload %q", name)
	}
	return cs, nil
}

// Time runs c once to warm up, then reps samples of at least minTime
// each, and returns the median time of one run.
func Time(c *Case, reps int, minTime time.Duration) (time.Duration, error) {
	if err := c.Run(); err != nil { // warm-up: caches, workers, free lists
		return 0, err
	}
	var samples []time.Duration
	for i := 0; i < reps; i++ {
		d, err := sample(c, minTime)
		if err != nil {
			return 0, err
		}
		samples = append(samples, d)
	}
	return median(samples), nil
}

// Comparison is what Compare measured.
type Comparison struct {
	A, B      time.Duration // median times of one run
	Ratio     float64       // median of the per-pair ratios A/B
	BestA     time.Duration // fastest samples
	BestB     time.Duration
	BestRatio float64 // BestA / BestB
}

// Compare times a and b in alternating samples of at least minTime each,
// reps of each. Alternating keeps a ratio honest on a shared machine whose
// speed drifts by tens of percent within a minute: both sides of each pair
// ran in the same fraction of a second. Interference from other tenants
// only ever slows a sample down, so the fastest samples of each side are
// the least disturbed; their ratio is reported beside the median one.
func Compare(a, b *Case, reps int, minTime time.Duration) (Comparison, error) {
	for _, c := range []*Case{a, b} {
		if err := c.Run(); err != nil {
			return Comparison{}, err
		}
	}
	var sa, sb []time.Duration
	var ratios []float64
	cmp := Comparison{BestA: 1<<63 - 1, BestB: 1<<63 - 1}
	for i := 0; i < reps; i++ {
		da, err := sample(a, minTime)
		if err != nil {
			return Comparison{}, err
		}
		db, err := sample(b, minTime)
		if err != nil {
			return Comparison{}, err
		}
		sa, sb = append(sa, da), append(sb, db)
		ratios = append(ratios, float64(da)/float64(db))
		cmp.BestA, cmp.BestB = min(cmp.BestA, da), min(cmp.BestB, db)
	}
	sort.Float64s(ratios)
	cmp.A, cmp.B, cmp.Ratio = median(sa), median(sb), ratios[len(ratios)/2]
	cmp.BestRatio = float64(cmp.BestA) / float64(cmp.BestB)
	return cmp, nil
}

// Sample returns the mean time of c's runs over at least minTime (at
// least one run): one sample, for programs that schedule their own
// (cmd/sbbench alternates the cases of a row in rounds).
func Sample(c *Case, minTime time.Duration) (time.Duration, error) {
	return sample(c, minTime)
}

// Median returns the median of s (the upper one of an even count), or 0
// for none.
func Median(s []time.Duration) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return median(s)
}

// sample returns the mean time of c's runs over at least minTime.
func sample(c *Case, minTime time.Duration) (time.Duration, error) {
	iters := 0
	start := time.Now()
	for time.Since(start) < minTime || iters == 0 {
		if err := c.Run(); err != nil {
			return 0, err
		}
		iters++
	}
	return time.Since(start) / time.Duration(iters), nil
}

func median(s []time.Duration) time.Duration {
	s = append([]time.Duration(nil), s...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// NewRefCase builds a single-layer workload (Conv3x3S1, Conv3x3S2 or
// DeconvS2) on the naive NCHW reference of kernels/ref, the baseline the
// microkernels are measured against.
func NewRefCase(name string, s Shape, n int) (*Case, error) {
	r := rand.New(rand.NewPCG(uint64(s.C), uint64(s.H)))
	c, h, hr := s.C, s.H, half(s.H)
	w, b := randSlice(r, c*c*9), randSlice(r, c)
	cs := &Case{Name: name, Shape: s, N: n, FLOPs: 2 * float64(n) * float64(c*c*9) * float64(hr*hr)}
	switch name {
	case Conv3x3S1, Conv3x3S2:
		stride := 1
		if name == Conv3x3S2 {
			stride = 2
		} else {
			cs.FLOPs = 2 * float64(n) * float64(c*c*9) * float64(h*h)
		}
		x := randSlice(r, n*c*h*h)
		spec := ref.Spec{N: n, InC: c, OutC: c, H: h, W: h, KH: 3, KW: 3, SH: stride, SW: stride, PH: 1, PW: 1}
		cs.Run = func() error { ref.Conv2D(spec, x, w, b, nil, true); return nil }
	case DeconvS2:
		x := randSlice(r, n*c*hr*hr)
		spec := ref.Spec{N: n, InC: c, OutC: c, H: hr, W: hr, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1}
		cs.Run = func() error { ref.ConvTranspose2D(spec, h, h, x, w, b, nil, true); return nil }
	default:
		return nil, fmt.Errorf("bench: no reference for workload %q", name)
	}
	return cs, nil
}

// Pointwise is a 1x1 convolution shape: InC -> OutC channels on an H x H map.
type Pointwise struct {
	Name      string
	InC, OutC int
	H         int
}

// PointwiseShapes are ResNet-50's first-stage bottleneck 1x1 convolutions.
var PointwiseShapes = []Pointwise{
	{"in-256to64x56", 256, 64, 56},
	{"in-64to256x56", 64, 256, 56},
}

// NewPointwiseCase builds a 1x1 stride-1 convolution with bias and ReLU.
func NewPointwiseCase(p Pointwise, n, block int) (*Case, error) {
	r := rand.New(rand.NewPCG(uint64(p.InC), uint64(p.OutC)))
	spec := kernels.ConvSpec{InC: p.InC, OutC: p.OutC, KH: 1, KW: 1, StrideH: 1, StrideW: 1}
	conv, err := kernels.NewConv2D(spec, randSlice(r, p.InC*p.OutC), randSlice(r, p.OutC), block)
	if err != nil {
		return nil, err
	}
	x, err := layout.FromNCHW(randSlice(r, n*p.InC*p.H*p.H), n, p.InC, p.H, p.H, block)
	if err != nil {
		return nil, err
	}
	y, err := layout.New(n, p.OutC, p.H, p.H, block)
	if err != nil {
		return nil, err
	}
	return &Case{
		Name:  "conv1x1",
		Shape: Shape{Name: p.Name, C: p.InC, H: p.H},
		N:     n,
		FLOPs: 2 * float64(n) * float64(p.InC*p.OutC) * float64(p.H*p.H),
		Run:   func() error { return conv.Forward(y, x, kernels.Epilogue{ReLU: true}) },
	}, nil
}

// Upsample is a stride-2 transposed convolution as U-Nets and decoders
// use it: C -> C channels from an H x H map to 2H x 2H (kernel 2 pad 0,
// kernel 4 pad 1) or 2H-1 -> 2H with output_padding (kernel 3 pad 1).
type Upsample struct {
	Name   string
	C, H   int // channels, input size
	K, Pad int
}

// UpsampleShapes are the restore fast paths at a decoder's middle stages.
var UpsampleShapes = []Upsample{
	{"k2-64x28", 64, 28, 2, 0}, {"k3-64x28", 64, 28, 3, 1}, {"k4-64x28", 64, 28, 4, 1},
	{"k2-128x14", 128, 14, 2, 0}, {"k3-128x14", 128, 14, 3, 1}, {"k4-128x14", 128, 14, 4, 1},
}

// NewUpsampleCase builds u with bias and ReLU; FLOPs are the real taps
// (ConvTranspose2D.FLOPs), the output 2H x 2H.
func NewUpsampleCase(u Upsample, n, block int) (*Case, error) {
	r := rand.New(rand.NewPCG(uint64(u.C), uint64(u.K)))
	spec := kernels.ConvSpec{InC: u.C, OutC: u.C, KH: u.K, KW: u.K, StrideH: 2, StrideW: 2, PadH: u.Pad, PadW: u.Pad}
	d, err := kernels.NewConvTranspose2D(spec, randSlice(r, u.C*u.C*u.K*u.K), randSlice(r, u.C), block)
	if err != nil {
		return nil, err
	}
	x, err := layout.FromNCHW(randSlice(r, n*u.C*u.H*u.H), n, u.C, u.H, u.H, block)
	if err != nil {
		return nil, err
	}
	y, err := layout.New(n, u.C, 2*u.H, 2*u.H, block)
	if err != nil {
		return nil, err
	}
	return &Case{
		Name:  "upsample",
		Shape: Shape{Name: u.Name, C: u.C, H: u.H},
		N:     n,
		FLOPs: d.FLOPs(n, u.H, u.H, 2*u.H, 2*u.H),
		Run:   func() error { return d.Forward(y, x, kernels.Epilogue{ReLU: true}) },
	}, nil
}

// NewRestoreCase builds the restore of a spatial-bottleneck block at
// sampling rate r on stage shape s: a ConvTranspose2D of s.C channels,
// kernel k, stride r, padding (k-1)/2, from the reduce's output
// ((s.H-1)/r+1 square) to s.H x s.H, with bias and ReLU. FLOPs are the
// taps that reach the output (ConvTranspose2D.FLOPs).
func NewRestoreCase(s Shape, r, k, n, block int) (*Case, error) {
	rng := rand.New(rand.NewPCG(uint64(s.C), uint64(r*16+k)))
	spec := kernels.ConvSpec{InC: s.C, OutC: s.C, KH: k, KW: k, StrideH: r, StrideW: r, PadH: (k - 1) / 2, PadW: (k - 1) / 2}
	d, err := kernels.NewConvTranspose2D(spec, randSlice(rng, s.C*s.C*k*k), randSlice(rng, s.C), block)
	if err != nil {
		return nil, err
	}
	lo := (s.H-1)/r + 1
	x, err := layout.FromNCHW(randSlice(rng, n*s.C*lo*lo), n, s.C, lo, lo, block)
	if err != nil {
		return nil, err
	}
	y, err := layout.New(n, s.C, s.H, s.H, block)
	if err != nil {
		return nil, err
	}
	return &Case{
		Name:  fmt.Sprintf("restore-r%d-k%d", r, k),
		Shape: s,
		N:     n,
		FLOPs: d.FLOPs(n, lo, lo, s.H, s.H),
		Run:   func() error { return d.Forward(y, x, kernels.Epilogue{ReLU: true}) },
	}, nil
}
