package block

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/kernels"
)

// pytorchAccepts reports whether PyTorch runs spec's network on an h x w
// input, written from PyTorch's own rules rather than package block's:
// Conv2d and MaxPool2d need an output of at least 1x1,
// (x + 2*pad - k)//stride + 1 >= 1 (floor division), and a
// ConvTranspose2d's output_size must lie in [(l-1)*r - 2*pad + k, that +
// r - 1] for an input of l (stride r, the spec's rate).
func pytorchAccepts(spec NetSpec, h, w int) bool {
	a := archs[spec.Arch]
	sb := map[int]bool{}
	for _, s := range spec.SB {
		sb[s] = true
	}
	floorDiv := func(x, y int) int {
		q := x / y
		if x%y != 0 && x < 0 {
			q--
		}
		return q
	}
	out := func(x, k, s, p int) int { return floorDiv(x+2*p-k, s) + 1 }
	for _, x := range []int{h, w} {
		if x < 1 {
			return false
		}
		if a.cifar {
			x = out(x, 3, 1, 1)
		} else {
			x = out(out(x, 7, 2, 3), 3, 2, 1)
		}
		if x < 1 {
			return false
		}
		for st := 1; st <= len(a.blocks); st++ {
			for i := 0; i < a.blocks[st-1]; i++ {
				s := 1
				if st > 1 && i == 0 {
					s = 2
				}
				next := out(x, 1, s, 0) // the shortcut's size: every branch must end there
				if sb[st] {
					// At rate r with the default kernels Kr = K, odd.
					r := rateOf(spec.Rate)
					k := r | 1
					l := out(x, k, r*s, (k-1)/2)
					lo := (l-1)*r - 2*((k-1)/2) + k
					if l < 1 || next < lo || next > lo+r-1 {
						return false
					}
				} else if out(x, 3, s, 1) != next {
					return false
				}
				x = next
			}
		}
	}
	return true
}

// sizeSweepCases are the networks the size sweep runs, regular and with
// every stage a spatial bottleneck, at width 1, which keeps the float64
// reference quick and still leaves padded channel lanes everywhere.
func sizeSweepCases() []NetSpec {
	var out []NetSpec
	for _, arch := range Archs() {
		a := archs[arch]
		all := make([]int, len(a.blocks))
		for i := range all {
			all[i] = i + 1
		}
		width := 1 // the reference's time grows as its square
		for _, sb := range [][]int{nil, all} {
			out = append(out, NetSpec{Arch: arch, SB: sb, Width: width})
		}
	}
	return out
}

const sweepClasses = 3

// sweepInput is a deterministic batch x 3 x h x w input.
func sweepInput(seed uint64, batch, h, w int) []float32 {
	rng := rand.New(rand.NewPCG(seed, uint64(h)<<32|uint64(w)))
	in := make([]float32, batch*3*h*w)
	for i := range in {
		in[i] = float32(rng.NormFloat64())
	}
	return in
}

// checkForwardSize runs net on a batch x 3 x h x w input: an error
// (never a panic) when PyTorch refuses the size, else the reference
// network's logits within 1e-4 of the largest. Sizes whose input would not
// fit in memory are tried with an empty input, which must be an error.
func checkForwardSize(t testing.TB, net *Net, p *params, spec NetSpec, batch, h, w int) {
	t.Helper()
	what := fmt.Sprintf("%s sb%v rate %d batch %d %dx%d on %s", spec.Arch, spec.SB, rateOf(spec.Rate), batch, h, w, kernels.ISA())
	small := batch >= 1 && batch <= 4 && h >= 1 && w >= 1 && h <= 64 && w <= 64
	logits := make([]float32, sweepClasses)
	if small {
		logits = make([]float32, batch*sweepClasses)
	}
	if !small || !pytorchAccepts(spec, h, w) {
		var in []float32
		if small {
			in = make([]float32, batch*3*h*w)
		}
		var err error
		require.NotPanics(t, func() { err = net.Forward(logits, in, batch, h, w) }, what)
		require.Error(t, err, what)
		return
	}
	in := sweepInput(uint64(batch), batch, h, w)
	want := p.net(spec, sweepClasses, in, batch, h, w)
	var err error
	require.NotPanics(t, func() { err = net.Forward(logits, in, batch, h, w) }, what)
	require.NoError(t, err, what)
	requireLogitsClose(t, logits, want, 1e-4, what)
}

// sweepSize reports whether the size sweep runs spec's network on an
// h x w input. It runs every size from 1x1 to 40x40 on ResNet-20 and -18
// (regular and spatial bottleneck); on the deeper ResNet-32/44/56/110 and
// -34/50, whose reference takes longer, the sizes with a side of at most
// 3 (where the stem's packing once failed) and one in seven of the others.
// A reduced sweep (the sizes with a side of at most 2 and the other up to
// 24, and one in 20 of the others up to 16x16) runs under -short, in TestEveryISA's
// children (the other microkernel sets, which run the same layers through
// the same Go drivers), under -race, and on arm64, where CI runs the
// tests under qemu-aarch64: each some 10-20 times slower.
func sweepSize(spec NetSpec, h, w int) bool {
	if testing.Short() || os.Getenv(isaChildEnv) != "" || raceBuild || runtime.GOARCH == "arm64" {
		return min(h, w) <= 2 && max(h, w) <= 24 || (h*41+w)%20 == 0 && max(h, w) <= 16
	}
	switch spec.Arch {
	case "resnet20", "resnet18":
		return true
	}
	return min(h, w) <= 3 || (h+w)%7 == 0
}

// TestForwardEverySize runs every architecture, regular and spatial
// bottleneck, on the input heights and widths from 1 to 40 sweepSize
// picks, against the float64 reference, and on sizes PyTorch refuses
// (zero, negative, too large to exist), which must be errors.
// TestEveryISA reruns it on every microkernel set.
func TestForwardEverySize(t *testing.T) {
	for i, spec := range sizeSweepCases() {
		t.Run(fmt.Sprintf("%s/sb%v", spec.Arch, spec.SB), func(t *testing.T) {
			p, _, _ := randomNet(t, uint64(i), spec, sweepClasses, 1, 8, 8)
			sd, err := NewStateDict(p.m)
			require.NoError(t, err)
			net, err := Build(sd, spec)
			require.NoError(t, err)
			for h := 1; h <= 40; h++ {
				for w := 1; w <= 40; w++ {
					if sweepSize(spec, h, w) {
						checkForwardSize(t, net, p, spec, 1, h, w)
					}
				}
			}
			checkForwardSize(t, net, p, spec, 2, 5, 3) // a batch of narrow images
			for _, bad := range []int{0, -1, -40, math.MinInt, math.MaxInt, 1 << 40} {
				checkForwardSize(t, net, p, spec, 1, bad, 5)
				checkForwardSize(t, net, p, spec, 1, 5, bad)
				checkForwardSize(t, net, p, spec, bad, 5, 5)
			}
		})
	}
}

// FuzzForwardSize runs a network (arch index; a mask whose low four bits
// are the spatial-bottleneck stages and whose next two the rate, 2 + that
// mod 3) on a batch x 3 x h x w input: never a panic; an error for every
// size PyTorch refuses, the reference's logits for every other.
func FuzzForwardSize(f *testing.F) {
	for _, s := range [][5]int{{0, 0, 1, 1, 1}, {5, 15, 224 / 32, 5, 1}, {2, 7, 3, 2, 2}, {7, 1, 0, 4, 1}, {3, 3, -1, 9, 1},
		{1, 0, 1 << 40, 1 << 40, 1}, {4, 0, 40, 40, 0}, {6, 2, 17, 33, 3},
		{0, 0x17, 13, 30, 1}, {2, 0x2f, 64, 11, 1}, {4, 0x1a, 9, 41, 2}} {
		f.Add(s[0], uint8(s[1]), s[2], s[3], s[4])
	}
	type built struct {
		net *Net
		p   *params
	}
	nets := map[string]built{}
	cases := sizeSweepCases()
	f.Fuzz(func(t *testing.T, arch int, mask uint8, h, w, batch int) {
		if arch < 0 {
			arch = -(arch + 1)
		}
		base := cases[2*(arch%(len(cases)/2))]
		spec := NetSpec{Arch: base.Arch, Width: base.Width}
		for st := 1; st <= len(archs[spec.Arch].blocks); st++ {
			if mask&(1<<(st-1)) != 0 {
				spec.SB = append(spec.SB, st)
			}
		}
		if spec.SB != nil {
			spec.Rate = 2 + int(mask>>4)%3
		}
		key := fmt.Sprint(spec.Arch, spec.SB, spec.Rate)
		b, ok := nets[key]
		if !ok {
			p, _, _ := randomNet(t, 1, spec, sweepClasses, 1, 8, 8)
			sd, err := NewStateDict(p.m)
			require.NoError(t, err)
			net, err := Build(sd, spec)
			require.NoError(t, err)
			b = built{net, p}
			nets[key] = b
		}
		checkForwardSize(t, b.net, b.p, spec, batch, h, w)
	})
}

// allocated returns the bytes f allocates (f runs on this goroutine, and
// nothing else of the test runs meanwhile).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestBuildRefusesHugeNetworks: a network whose layers the kernels would
// refuse, or whose weights pass MaxWeights, is an error naming it from
// RandomNet, and a layer the kernels would refuse one from the block
// constructors, before they allocate its weights (the sizes below once
// asked for terabytes).
func TestBuildRefusesHugeNetworks(t *testing.T) {
	for _, c := range []struct {
		spec NetSpec
		want []string
	}{
		{NetSpec{Arch: "resnet20", Width: 20000, NumClasses: 10}, []string{"resnet20 at Width 20000", "layer1.0.conv1", "20000x20000x3x3"}},
		{NetSpec{Arch: "resnet18", Width: 131072, NumClasses: 10}, []string{"resnet18 at Width 131072", "layer1.0.conv1"}},
		{NetSpec{Arch: "resnet50", Width: 4096, NumClasses: 10}, []string{"resnet50 at Width 4096", "MaxWeights"}},
		{NetSpec{Arch: "resnet18", Width: 1024, NumClasses: 10}, []string{"resnet18 at Width 1024", "MaxWeights"}},
		{NetSpec{Arch: "resnet110", SB: []int{1}, Width: 800, NumClasses: 10}, []string{"resnet110 at Width 800", "MaxWeights"}},
		{NetSpec{Arch: "resnet20", Width: 16, NumClasses: 1 << 21}, []string{"resnet20 at Width 16", "fc (2097152x64x1x1)", "OutC"}},
	} {
		t.Run(fmt.Sprint(c.spec), func(t *testing.T) {
			var err error
			bytes := allocated(func() { _, err = RandomNet(c.spec, 1) })
			require.Error(t, err)
			for _, w := range c.want {
				require.ErrorContains(t, err, w)
			}
			require.Less(t, bytes, uint64(1<<20), "RandomNet allocated before refusing")
			// Over weights in memory that do not fit the spec, Build
			// names the keys, and allocates megabytes at most, not the
			// network's weights.
			sd, err := NewStateDict(map[string]Param{"conv1.weight": {Shape: []int{2, 3, 3, 3}, Data: make([]float32, 54)}})
			require.NoError(t, err)
			bytes = allocated(func() { _, err = Build(sd, c.spec) })
			require.ErrorContains(t, err, "conv1.weight")
			require.Less(t, bytes, uint64(64<<20), "Build allocated before refusing")
		})
	}
	for _, mk := range []func(sd *StateDict) error{
		func(sd *StateDict) error { _, err := NewBasicBlock(sd, "b.", 20000, 20000, 1); return err },
		func(sd *StateDict) error { _, err := NewSBBasic(sd, "b.", 64, 20000, 2); return err },
		func(sd *StateDict) error { _, err := NewBottleneck(sd, "b.", 64, 20000, 1); return err },
		func(sd *StateDict) error { _, err := NewSBBottleneck(sd, "b.", 64, 20000, 2); return err },
		func(sd *StateDict) error {
			_, err := NewStem(sd, "conv1", "bn1", kernels.ConvSpec{InC: 3, OutC: 1 << 21, KH: 7, KW: 7, StrideH: 2, StrideW: 2, PadH: 3, PadW: 3})
			return err
		},
	} {
		var err error
		bytes := allocated(func() { err = mk(RandomStateDict(1)) })
		require.Error(t, err)
		require.Regexp(t, `b\.(conv[1-4]|downsample\.0)|conv1`, err.Error())
		require.Less(t, bytes, uint64(1<<20), "allocated before refusing: %v", err)
	}
}

// TestNetWeightsCount: the size check counts exactly the weights Build
// reads, for every architecture, regular and spatial bottleneck, at every
// rate (so the layer list it checks is the one Build builds), and
// MaxWeights is the line between accepted and refused.
func TestNetWeightsCount(t *testing.T) {
	// The sweep's networks, and networks at rates 3 and 4 (whose default
	// restore at rate 4 is 5x5).
	specs := append(sizeSweepCases(), NetSpec{Arch: "resnet20", SB: []int{1, 2, 3}, Rate: 3},
		NetSpec{Arch: "resnet18", SB: []int{2, 4}, Rate: 4}, NetSpec{Arch: "resnet50", SB: []int{1, 2, 3, 4}, Rate: 4})
	for _, spec := range specs {
		spec.Width = 3
		spec.NumClasses = 7
		sd := RandomStateDict(1)
		_, err := Build(sd, spec)
		require.NoError(t, err)
		read := 0
		for _, p := range sd.params {
			read += len(p.Data)
		}
		a := archs[spec.Arch]
		sb := make([]bool, len(a.blocks)+1)
		for _, s := range spec.SB {
			sb[s] = true
		}
		n, err := netWeights(spec.Arch, a, sb, rateOf(spec.Rate), spec.Width, spec.NumClasses)
		require.NoError(t, err)
		require.Equal(t, read, n, "%+v", spec)
	}
	// The widest ResNet-50 within MaxWeights, found by bisection on the
	// count; one channel more is refused.
	a := archs["resnet50"]
	sb := make([]bool, 5)
	lo, hi := 64, 4096
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if _, err := netWeights("resnet50", a, sb, 2, mid, 1000); err == nil {
			lo = mid
		} else {
			hi = mid
		}
	}
	n, err := netWeights("resnet50", a, sb, 2, lo, 1000)
	require.NoError(t, err)
	require.LessOrEqual(t, n, MaxWeights)
	require.ErrorContains(t, checkNetSize("resnet50", a, sb, 2, lo+1, 1000), "MaxWeights")
	t.Logf("widest ResNet-50 accepted: Width %d, %d weights", lo, n)
}

// TestSizeHelpersExtremes calls every OutputSize and FLOPs of package
// block with the extreme sizes: never a panic, an error or an exact size,
// FLOPs finite and not negative (0 for a size refused).
func TestSizeHelpersExtremes(t *testing.T) {
	extremes := []int{math.MinInt, -1, 0, 1, 2, 3, 1 << 40, math.MaxInt - 1, math.MaxInt}
	for _, arch := range []string{"resnet20", "resnet50"} {
		net, err := RandomNet(NetSpec{Arch: arch, SB: []int{2}, Width: 2, NumClasses: 2}, 1)
		require.NoError(t, err)
		a := archs[arch]
		k, s, pad := 3, 1, 1
		if !a.cifar {
			k, s, pad = 7, 2, 3
		}
		for _, h := range extremes {
			for _, w := range extremes {
				oh, ow, err := net.stem.OutputSize(h, w)
				if h < 1 || w < 1 {
					require.Error(t, err, "stem %dx%d", h, w)
				} else {
					require.NoError(t, err, "stem %dx%d", h, w)
					// (x + 2*pad - k)/s + 1 in uint, which holds it exactly.
					exact := func(x int) int { return int((uint(x)+uint(2*pad)-uint(k))/uint(s)) + 1 }
					require.Equal(t, [2]int{exact(h), exact(w)}, [2]int{oh, ow}, "stem %dx%d", h, w)
				}
				for _, b := range net.blocks[:2] {
					oh, ow, err := b.OutputSize(h, w)
					if h < 1 || w < 1 {
						require.Error(t, err)
					} else {
						require.NoError(t, err)
						require.Equal(t, [2]int{(h-1)/b.Stride() + 1, (w-1)/b.Stride() + 1}, [2]int{oh, ow})
					}
				}
				for _, n := range extremes {
					for _, f := range []float64{net.stem.FLOPs(n, h, w), net.blocks[0].FLOPs(n, h, w), net.FLOPs(n, h, w)} {
						require.False(t, math.IsNaN(f) || math.IsInf(f, 0) || f < 0, "FLOPs(%d, %d, %d) = %v", n, h, w, f)
						if n < 1 || h < 1 || w < 1 {
							require.Zero(t, f, "FLOPs(%d, %d, %d)", n, h, w)
						}
					}
				}
				if h >= 1 {
					require.Equal(t, int((uint(h)+2-3)/2)+1, poolOut(h), "poolOut(%d)", h)
				}
				_, err = net.Steps(1, h, w)
				if h > 1<<20 || w > 1<<20 || h < 1 || w < 1 {
					require.Error(t, err, "Steps(1, %d, %d)", h, w)
				}
			}
		}
	}
}
