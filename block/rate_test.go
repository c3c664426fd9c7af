package block

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// rateBlockCase is one spatial-bottleneck block at a sampling rate with
// its kernel sizes (0: the default).
type rateBlockCase struct {
	bottleneck      bool
	rate, kr, k     int
	inC, planes, st int
	h, w            int
}

// rateBlockCases cover rates 3 and 4 with their default kernels at stage
// entries and inside stages, odd sizes included, every K from r to 2r-1
// (even ones at sizes they restore), and rate 2 with other kernels.
func rateBlockCases() []rateBlockCase {
	return []rateBlockCase{
		{false, 3, 0, 0, 8, 8, 1, 7, 7}, {false, 3, 0, 0, 6, 10, 2, 14, 13}, {false, 3, 0, 0, 5, 5, 1, 16, 15},
		{false, 4, 0, 0, 8, 8, 1, 9, 11}, {false, 4, 0, 0, 10, 12, 2, 29, 28}, {false, 4, 0, 0, 3, 3, 1, 1, 2},
		{false, 3, 5, 5, 8, 8, 1, 10, 8}, {false, 3, 3, 4, 8, 8, 1, 9, 9}, {false, 4, 3, 7, 8, 9, 2, 17, 19},
		{false, 4, 1, 6, 4, 4, 1, 10, 7}, {false, 4, 4, 4, 8, 8, 1, 12, 13}, {false, 2, 1, 2, 8, 8, 1, 8, 6},
		{true, 3, 0, 0, 12, 3, 1, 9, 8}, {true, 3, 0, 0, 16, 8, 2, 14, 11}, {true, 4, 0, 0, 12, 3, 1, 13, 9},
		{true, 4, 0, 0, 16, 5, 2, 27, 22}, {true, 3, 5, 4, 16, 4, 1, 11, 8}, {true, 4, 7, 5, 8, 4, 2, 20, 21},
	}
}

// newRateBlock builds c's block from sd.
func newRateBlock(sd *StateDict, c rateBlockCase) (Block, error) {
	if c.bottleneck {
		return NewSBBottleneck(sd, "b.", c.inC, c.planes, c.st, c.rate)
	}
	return NewSBBasic(sd, "b.", c.inC, c.planes, c.st, c.rate)
}

// TestRateBlocksMatchReference checks SBBasic and SBBottleneck at rates
// 2, 3 and 4 and several kernel sizes against the reference, through
// Forward, twice (the second call reuses the kept intermediates), and
// that they report their rate, kernels and FLOPs.
func TestRateBlocksMatchReference(t *testing.T) {
	for i, c := range rateBlockCases() {
		name := fmt.Sprintf("bottleneck=%v/r%d/kr%d/k%d/%d-%d/s%d/%dx%d", c.bottleneck, c.rate, c.kr, c.k, c.inC, c.planes, c.st, c.h, c.w)
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 13))
			p := &params{m: map[string]Param{}, rng: rng, rate: c.rate, kr: c.kr, k: c.k}
			const n = 2
			x := refMap{n, c.inC, c.h, c.w, make([]float32, n*c.inC*c.h*c.w)}
			for j := range x.d {
				x.d[j] = float32(rng.NormFloat64())
			}
			want := p.block(x, "b.", c.planes, c.st, c.bottleneck, true)
			sd, err := NewStateDict(p.m)
			require.NoError(t, err)
			b, err := newRateBlock(sd, c)
			require.NoError(t, err)
			require.Empty(t, sd.Unused())
			_, wkr, wk := p.sampling()
			type sampled interface {
				Rate() int
				KernelSizes() (int, int)
			}
			gotKr, gotK := b.(sampled).KernelSizes()
			assert.Equal(t, [3]int{c.rate, wkr, wk}, [3]int{b.(sampled).Rate(), gotKr, gotK})
			oh, ow, err := b.OutputSize(c.h, c.w)
			require.NoError(t, err)
			require.Equal(t, []int{want.c, want.h, want.w}, []int{b.OutChannels(), oh, ow})
			src, err := layout.FromNCHW(x.d, n, c.inC, c.h, c.w, kernels.Block())
			require.NoError(t, err)
			dst, err := layout.New(n, b.OutChannels(), oh, ow, kernels.Block())
			require.NoError(t, err)
			for rep := 0; rep < 2; rep++ {
				clear(dst.Data)
				require.NoError(t, b.Forward(dst, src))
				requireLogitsClose(t, dst.NCHW(), want.d, 1e-4, fmt.Sprintf("%s call %d", kernels.ISA(), rep))
			}
			assert.Zero(t, steadyAllocs(func() {
				if err := b.Forward(dst, src); err != nil {
					t.Fatal(err)
				}
			}), "allocations per Forward in the steady state")
			// FLOPs: the reduce's taps at its stride plus the restore's
			// real taps, and the layers of the block's Steps add up to it.
			assert.Greater(t, b.FLOPs(n, c.h, c.w), 0.0)
		})
	}
}

// rateNetCases are small networks at rates 3 and 4, every kind of block,
// odd sizes where the restore's output_size matters.
func rateNetCases() []struct {
	spec    NetSpec
	n, h, w int
} {
	type c = struct {
		spec    NetSpec
		n, h, w int
	}
	return []c{
		{NetSpec{Arch: "resnet20", SB: []int{1, 2, 3}, Width: 6, Rate: 3}, 2, 17, 15},
		{NetSpec{Arch: "resnet20", SB: []int{2}, Width: 5, Rate: 4}, 1, 33, 31},
		{NetSpec{Arch: "resnet32", SB: []int{1, 3}, Width: 4, Rate: 4}, 1, 13, 19},
		{NetSpec{Arch: "resnet18", SB: []int{1, 2, 3, 4}, Width: 5, Rate: 3}, 2, 45, 37},
		{NetSpec{Arch: "resnet18", SB: []int{1, 3}, Width: 4, Rate: 4}, 1, 65, 57},
		{NetSpec{Arch: "resnet34", SB: []int{2, 4}, Width: 3, Rate: 3}, 1, 35, 29},
		{NetSpec{Arch: "resnet50", SB: []int{1, 2, 3, 4}, Width: 3, Rate: 4}, 1, 49, 41},
		{NetSpec{Arch: "resnet50", SB: []int{2, 3}, Width: 4, Rate: 3}, 2, 33, 35},
	}
}

// TestRateNetMatchesReference builds networks at rates 3 and 4 from the
// reference's random state_dict and checks their logits, FLOPs (less than
// the same network's at rate 2; Steps add up to them) and Spec.
func TestRateNetMatchesReference(t *testing.T) {
	for i, c := range rateNetCases() {
		t.Run(fmt.Sprintf("%s/sb%v/r%d/%dx%d", c.spec.Arch, c.spec.SB, c.spec.Rate, c.h, c.w), func(t *testing.T) {
			p, in, want := randomNet(t, uint64(100+i), c.spec, 7, c.n, c.h, c.w)
			sd, err := NewStateDict(p.m)
			require.NoError(t, err)
			net, err := Build(sd, c.spec)
			require.NoError(t, err)
			assert.Equal(t, c.spec.Rate, net.Spec().Rate)
			got := make([]float32, c.n*7)
			require.NoError(t, net.Forward(got, in, c.n, c.h, c.w))
			requireLogitsClose(t, got, want, 1e-4, kernels.ISA())

			steps, err := net.Steps(c.n, c.h, c.w)
			require.NoError(t, err)
			sum := 0.0
			for _, s := range steps {
				sum += s.FLOPs
			}
			assert.InDelta(t, net.FLOPs(c.n, c.h, c.w), sum, 1e-6*sum, "Steps' FLOPs add up to Net.FLOPs")
			var flops []float64
			for _, r := range []int{2, 3, 4} {
				s := c.spec
				s.Rate, s.NumClasses = r, 7
				other, err := RandomNet(s, 1)
				require.NoError(t, err)
				flops = append(flops, other.FLOPs(c.n, c.h, c.w))
			}
			// Per output pixel, rate r with Kr = K costs 2*K*K/(r*r)
			// taps: 4.5 at rate 2, 2 at rate 3, 3.1 at rate 4 with K = 5 (on
			// small maps the borders blur the last two).
			assert.Greater(t, flops[0], flops[1], "rate 2 vs 3")
		})
	}
}

// TestRateBitIdenticalAndAllocs: at rates 3 and 4 the logits are
// bit-identical whatever the thread count and batch split, and the steady
// state allocates nothing.
func TestRateBitIdenticalAndAllocs(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	for _, c := range []struct {
		spec NetSpec
		h    int
	}{
		{NetSpec{Arch: "resnet20", SB: []int{1, 2, 3}, Width: 8, NumClasses: 10, Rate: 3}, 19},
		{NetSpec{Arch: "resnet18", SB: []int{1, 2, 3, 4}, Width: 4, NumClasses: 10, Rate: 4}, 41},
		{NetSpec{Arch: "resnet50", SB: []int{2, 3}, Width: 2, NumClasses: 10, Rate: 3}, 37},
	} {
		net, err := RandomNet(c.spec, 9)
		require.NoError(t, err)
		for _, batch := range []int{1, 2, 3} {
			in := make([]float32, batch*3*c.h*c.h)
			for i := range in {
				in[i] = float32((i*7919)%251)/64 - 2
			}
			kernels.SetThreads(1)
			want := make([]float32, batch*net.NumClasses())
			require.NoError(t, net.Forward(want, in, batch, c.h, c.h))
			for _, threads := range []int{2, 3, 4} {
				t.Run(fmt.Sprintf("%s/r%d/batch%d/threads%d", c.spec.Arch, c.spec.Rate, batch, threads), func(t *testing.T) {
					kernels.SetThreads(threads)
					got := make([]float32, len(want))
					require.NoError(t, net.Forward(got, in, batch, c.h, c.h))
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("logit %d: %v on %d threads, %v on one", i, got[i], threads, want[i])
						}
					}
					allocs := steadyAllocs(func() {
						if err := net.Forward(got, in, batch, c.h, c.h); err != nil {
							t.Fatal(err)
						}
					})
					assert.Zero(t, allocs, "allocations per Forward in the steady state")
				})
			}
		}
	}
}

// TestRateErrors: a bad rate, in NetSpec, a constructor's argument or a
// file's description, a bad kernel size, and a size an even K cannot
// restore are errors naming the value.
func TestRateErrors(t *testing.T) {
	for _, r := range []int{1, 5, -2, 8} {
		_, err := RandomNet(NetSpec{Arch: "resnet20", SB: []int{1}, Width: 4, NumClasses: 3, Rate: r}, 1)
		require.ErrorContains(t, err, fmt.Sprintf("NetSpec.Rate = %d", r))
		_, err = NewSBBasic(RandomStateDict(1), "b.", 4, 4, 1, r)
		require.ErrorContains(t, err, fmt.Sprintf("rate = %d", r))
		_, err = NewSBBottleneck(RandomStateDict(1), "b.", 16, 4, 1, r)
		require.ErrorContains(t, err, fmt.Sprintf("rate = %d", r))
	}
	_, err := NewSBBasic(RandomStateDict(1), "b.", 4, 4, 1, 3, 3)
	require.ErrorContains(t, err, "rate [3 3]")
	for _, r := range Rates() {
		b, err := NewSBBasic(RandomStateDict(1), "b.", 4, 4, 1, r)
		require.NoError(t, err)
		assert.Equal(t, r, b.Rate())
		kr, k := b.KernelSizes()
		assert.Equal(t, [2]int{DefaultKernelSize(r), DefaultKernelSize(r)}, [2]int{kr, k})
	}
	b, err := NewSBBasic(RandomStateDict(1), "b.", 4, 4, 1)
	require.NoError(t, err)
	assert.Equal(t, 2, b.Rate(), "no rate argument: 2")

	// Kernel sizes from the weights: non-square, out of range.
	weights := func(rate, kr, k int) map[string]Param {
		p := &params{m: map[string]Param{}, rng: rand.New(rand.NewPCG(1, 2)), rate: rate, kr: kr, k: k}
		x := refMap{1, 4, 9, 9, make([]float32, 4*81)}
		p.block(x, "b.", 4, 1, false, true)
		return p.m
	}
	for _, c := range []struct {
		rate, kr, k int
		key         string
		shape       []int
		want        []string
	}{
		{3, 3, 3, "b.conv1.weight", []int{4, 4, 3, 5}, []string{`"b.conv1.weight"`, "[4 4 3 5]", "square"}},
		{3, 3, 3, "b.conv2.weight", []int{4, 4, 4, 3}, []string{`"b.conv2.weight"`, "[4 4 4 3]", "square"}},
		{3, 3, 3, "b.conv2.weight", []int{4, 4, 6, 6}, []string{`"b.conv2.weight"`, "[4 4 6 6]", "kernel size 6 must be in [3, 5] at rate 3"}},
		{4, 5, 5, "b.conv2.weight", []int{4, 4, 3, 3}, []string{`"b.conv2.weight"`, "[4 4 3 3]", "kernel size 3 must be in [4, 7] at rate 4"}},
		{2, 3, 3, "b.conv2.weight", []int{4, 4, 4, 4}, []string{`"b.conv2.weight"`, "kernel size 4 must be in [2, 3] at rate 2"}},
		{3, 3, 3, "b.conv1.weight", []int{4, 4, 0, 0}, []string{`"b.conv1.weight"`, "kernel size 0 must be in [1, 16]"}},
		{3, 3, 3, "b.conv1.weight", []int{4, 4, 17, 17}, []string{`"b.conv1.weight"`, "kernel size 17 must be in [1, 16]"}},
	} {
		m := weights(c.rate, c.kr, c.k)
		n := 1
		for _, d := range c.shape {
			n *= d
		}
		m[c.key] = Param{Shape: c.shape, Data: make([]float32, n)}
		sd, err := NewStateDict(m)
		require.NoError(t, err)
		_, err = NewSBBasic(sd, "b.", 4, 4, 1, c.rate)
		require.Error(t, err, "%+v", c)
		for _, w := range c.want {
			assert.Contains(t, err.Error(), w)
		}
	}

	// Weights of one rate's kernels under another rate: rate 4 wants K in
	// [4, 7], and a rate-3 network's K = 3 is named.
	spec := NetSpec{Arch: "resnet20", SB: []int{2}, Width: 4, Rate: 3}
	p, _, _ := randomNet(t, 3, spec, 5, 1, 9, 9)
	sd, err := NewStateDict(p.m)
	require.NoError(t, err)
	_, err = Build(sd, NetSpec{Arch: "resnet20", SB: []int{2}, Width: 4, Rate: 4})
	require.ErrorContains(t, err, `"layer2.0.conv2.weight" has shape [8 8 3 3]`)
	require.ErrorContains(t, err, "at rate 4")

	// An even K restores only some sizes: Forward says which.
	ev := rateBlockCase{false, 3, 3, 4, 4, 4, 1, 7, 7} // (7-1) % 3 == 0: 3x3 restores to 8..10 only
	sd, err = NewStateDict(weights(ev.rate, ev.kr, ev.k))
	require.NoError(t, err)
	blk, err := newRateBlock(sd, ev)
	require.NoError(t, err)
	_, _, err = blk.OutputSize(7, 8)
	require.Error(t, err)
	for _, w := range []string{"b.conv2", "kernel 4, stride 3", "3x3 map only to 8..10 x 8..10", "not the shortcut's 7x8",
		"with Kr = 3 and K = 4 at rate 3 the block takes only sides whose output size n has (n-1) % 3 != 0"} {
		assert.Contains(t, err.Error(), w)
	}
	x, err := layout.New(1, 4, 7, 8, kernels.Block())
	require.NoError(t, err)
	y, err := layout.New(1, 4, 7, 8, kernels.Block())
	require.NoError(t, err)
	require.ErrorContains(t, blk.Forward(y, x), "not the shortcut's 7x8")
	assert.Zero(t, blk.FLOPs(1, 7, 8))
	_, _, err = blk.OutputSize(8, 9)
	require.NoError(t, err, "sizes with (size-1) %% 3 != 0 restore")

	// An even Kr leaves no map from a 1-pixel side.
	evr := rateBlockCase{false, 4, 4, 4, 4, 4, 1, 1, 5}
	sd, err = NewStateDict(weights(evr.rate, evr.kr, evr.k))
	require.NoError(t, err)
	blk, err = newRateBlock(sd, evr)
	require.NoError(t, err)
	_, _, err = blk.OutputSize(1, 5)
	require.ErrorContains(t, err, "b.conv1 (the reduce, kernel 4, stride 4) on a 1x5 input")
}

// TestRateDescription: a file describing a rate-3 or rate-4 network loads
// from a zero NetSpec at its rate; a NetSpec.Rate that disagrees is an
// error naming both; a rate outside 2..4 in the
// description is an error naming the key.
func TestRateDescription(t *testing.T) {
	for _, rate := range []int{3, 4} {
		spec := NetSpec{Arch: "resnet20", SB: []int{1, 3}, Width: 4, Rate: rate}
		const classes, h, w = 6, 13, 11
		p, in, want := randomNet(t, uint64(20+rate), spec, classes, 1, h, w)
		meta := describedMeta(spec, classes)
		meta["rate"] = fmt.Sprint(rate)
		path := writeFile(t, fmt.Sprintf("rate%d.safetensors", rate), stBytes(t, meta, f32Entries(p.m)))
		for _, s := range []NetSpec{{}, spec, {Rate: rate}} {
			net, err := Load(path, s)
			require.NoError(t, err)
			assert.Equal(t, rate, net.Spec().Rate)
			got := make([]float32, classes)
			require.NoError(t, net.Forward(got, in, 1, h, w))
			requireLogitsClose(t, got, want, 1e-4, fmt.Sprintf("rate %d file", rate))
		}
		for _, other := range []int{2, 7 - rate} {
			s := spec
			s.Rate = other
			_, err := Load(path, s)
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprintf("NetSpec.Rate = %d but the file describes Rate %d", other, rate))
		}
		for _, bad := range []string{"5", "1", "16"} {
			meta["rate"] = bad
			path := writeFile(t, "bad.safetensors", stBytes(t, meta, f32Entries(p.m)))
			_, err := Load(path, NetSpec{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), `"rate"`)
			assert.Contains(t, err.Error(), "2, 3 or 4")
		}
	}
}

// TestRateEverySize runs networks at rates 3 and 4 on small input sizes
// against the reference, and PyTorch's refusals as errors (the maps must
// stay at least 1x1 at rate r).
func TestRateEverySize(t *testing.T) {
	for i, spec := range []NetSpec{
		{Arch: "resnet20", SB: []int{1, 2, 3}, Width: 1, Rate: 3},
		{Arch: "resnet18", SB: []int{1, 2, 3, 4}, Width: 1, Rate: 4},
		{Arch: "resnet50", SB: []int{1, 2, 3, 4}, Width: 1, Rate: 3},
	} {
		t.Run(fmt.Sprintf("%s/r%d", spec.Arch, spec.Rate), func(t *testing.T) {
			p, _, _ := randomNet(t, uint64(i), spec, sweepClasses, 1, 8, 8)
			sd, err := NewStateDict(p.m)
			require.NoError(t, err)
			net, err := Build(sd, spec)
			require.NoError(t, err)
			limit := 24
			if testing.Short() {
				limit = 10
			}
			for h := 1; h <= limit; h++ {
				for w := 1; w <= limit; w++ {
					if h <= 3 || w <= 3 || (h*7+w)%5 == 0 {
						checkForwardSize(t, net, p, spec, 1, h, w)
					}
				}
			}
			for _, bad := range []int{0, -1, math.MaxInt} {
				checkForwardSize(t, net, p, spec, 1, bad, 5)
			}
		})
	}
}

// TestRateSizesAsPyTorch: for every rate, stride and kernel parity, a
// block's OutputSize refuses exactly the sizes PyTorch refuses (written
// from PyTorch's formulas: Conv2d's floor((n + 2p - k)/stride) + 1 >= 1,
// ConvTranspose2d's output_size within r sizes of (l-1)*r - 2q + K), and
// the rule its message states holds for every size.
func TestRateSizesAsPyTorch(t *testing.T) {
	floorDiv := func(x, y int) int {
		q := x / y
		if x%y != 0 && x < 0 {
			q--
		}
		return q
	}
	for _, r := range Rates() {
		for _, s := range []int{1, 2} {
			for _, kr := range []int{1, 2, 3, 4, 5} {
				for k := r; k <= 2*r-1; k++ {
					p := &params{m: map[string]Param{}, rng: rand.New(rand.NewPCG(uint64(r), uint64(k))), rate: r, kr: kr, k: k}
					p.block(refMap{1, 4, 16, 16, make([]float32, 4*256)}, "b.", 4, s, false, true)
					sd, err := NewStateDict(p.m)
					require.NoError(t, err)
					b, err := NewSBBasic(sd, "b.", 4, 4, s, r)
					require.NoError(t, err)
					for n := 1; n <= 3*r*s+3; n++ {
						l := floorDiv(n+2*((kr-1)/2)-kr, r*s) + 1
						out := (n-1)/s + 1
						lo := (l-1)*r - 2*((k-1)/2) + k
						accepts := l >= 1 && out >= lo && out <= lo+r-1
						_, _, err := b.OutputSize(n, n)
						what := fmt.Sprintf("rate %d stride %d Kr %d K %d side %d", r, s, kr, k, n)
						if accepts {
							require.NoError(t, err, what)
							continue
						}
						require.Error(t, err, what)
						if l < 1 {
							continue
						}
						var holds bool
						msg := err.Error()
						switch {
						case strings.Contains(msg, "output size n has (n-1)"):
							holds = (out-1)%r != 0
						case strings.Contains(msg, "input sides n with (n-1)"):
							holds = (n-1)%(r*s) != 0
						case strings.Contains(msg, "input sides n >= 2 with (n-2)"):
							holds = (n-2)%(r*s) != 0
						default:
							t.Fatalf("%s: no rule in %q", what, msg)
						}
						require.False(t, holds, "%s: refused, but the rule it states holds: %s", what, msg)
					}
				}
			}
		}
	}
}
