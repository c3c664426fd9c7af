package block

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/kernels"
)

// pytorchAccepts reports whether PyTorch runs spec's network on an h x w
// input, written from PyTorch's own rules rather than package block's:
// Conv2d and MaxPool2d need an output of at least 1x1,
// (x + 2*pad - k)//stride + 1 >= 1 (floor division), and a
// ConvTranspose2d's output_size must lie in [(l-1)*2 - 2 + 3, that + 1]
// for an input of l.
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
					l := out(x, 3, 2*s, 1)
					if l < 1 || next < 2*l-1 || next > 2*l {
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
	what := fmt.Sprintf("%s sb%v batch %d %dx%d on %s", spec.Arch, spec.SB, batch, h, w, kernels.ISA())
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
// Under -short, and in TestEveryISA's children (the other microkernel
// sets, which run the same layers through the same Go drivers), the
// sizes with a side of at most 2 and one in 25 of the others.
func sweepSize(spec NetSpec, h, w int) bool {
	if testing.Short() || os.Getenv(isaChildEnv) != "" {
		return min(h, w) <= 2 || (h*41+w)%25 == 0
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

// FuzzForwardSize runs a network (arch index, a mask of spatial-bottleneck
// stages) on a batch x 3 x h x w input: never a panic; an error for every
// size PyTorch refuses, the reference's logits for every other.
func FuzzForwardSize(f *testing.F) {
	for _, s := range [][5]int{{0, 0, 1, 1, 1}, {5, 15, 224 / 32, 5, 1}, {2, 7, 3, 2, 2}, {7, 1, 0, 4, 1}, {3, 3, -1, 9, 1},
		{1, 0, 1 << 40, 1 << 40, 1}, {4, 0, 40, 40, 0}, {6, 2, 17, 33, 3}} {
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
		key := fmt.Sprint(spec.Arch, spec.SB)
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
