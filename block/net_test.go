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

// randomNet writes a random state_dict for spec (classes logits) by
// walking the reference network once, and returns it with the reference's
// logits for a random n x 3 x h x w input.
func randomNet(t testing.TB, seed uint64, spec NetSpec, classes, n, h, w int) (*params, []float32, []float32) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	p := &params{m: map[string]Param{}, rng: rng}
	in := make([]float32, n*3*h*w)
	for i := range in {
		in[i] = float32(rng.NormFloat64())
	}
	want := p.net(spec, classes, in, n, h, w)
	p.rng = nil
	return p, in, want
}

// requireLogitsClose checks got against want within tol of the largest
// |want| (at least 1e-6): the kernels' FMA order differs from the
// reference's float64 sums.
// steadyAllocs returns the allocations per call of f in the steady
// state: after a few warm-up calls, averaged over 20. The warm-up matters
// when images run side by side on more goroutines than processors: a
// layer keeps one haloed input copy per call that ran at once, and when
// three goroutines first overlap in the same layer is a matter of timing,
// not of the first call. The average (truncated, as AllocsPerRun does)
// leaves out the rare wait record (sudog) the Go runtime allocates for a
// worker that parks; a Forward that allocates on every call still fails.
func steadyAllocs(f func()) float64 {
	for range 5 {
		f()
	}
	return testing.AllocsPerRun(20, f)
}

func requireLogitsClose(t testing.TB, got, want []float32, tol float64, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	scale := 1e-6
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= tol*scale) {
			require.Failf(t, "logits differ", "%s: logit %d = %v, want %v (|diff| %.3g > %.0e x max|logit| %.3g)",
				what, i, got[i], want[i], d, tol, scale)
		}
	}
}

// netCases are small networks of every architecture, regular, all
// spatial-bottleneck and mixed, at widths that leave padded channel lanes
// and at odd input sizes.
func netCases() []struct {
	spec       NetSpec
	classes    int
	n, h, w    int
	shortLabel string
} {
	type c = struct {
		spec       NetSpec
		classes    int
		n, h, w    int
		shortLabel string
	}
	var out []c
	for _, arch := range Archs() {
		a := archs[arch]
		stages := len(a.blocks)
		all := make([]int, stages)
		for i := range all {
			all[i] = i + 1
		}
		width, h, w := 6, 11, 9
		if !a.cifar {
			width, h, w = 5, 35, 29
		}
		if arch == "resnet110" || arch == "resnet56" || arch == "resnet44" {
			width, h, w = 3, 8, 7
		}
		for _, sb := range [][]int{nil, all, {2}} {
			out = append(out, c{NetSpec{Arch: arch, SB: sb, Width: width}, 7, 2, h, w, ""})
		}
	}
	return out
}

// TestNetMatchesReference builds every architecture from a random
// state_dict and checks its logits against the reference network (plain
// NCHW, float64, BatchNorm not folded).
func TestNetMatchesReference(t *testing.T) {
	for i, c := range netCases() {
		name := fmt.Sprintf("%s/sb%v/w%d/%dx%d", c.spec.Arch, c.spec.SB, c.spec.Width, c.h, c.w)
		t.Run(name, func(t *testing.T) {
			if testing.Short() && i%3 != 0 {
				t.Skip("short: one case in three")
			}
			p, in, want := randomNet(t, uint64(i), c.spec, c.classes, c.n, c.h, c.w)
			sd, err := NewStateDict(p.m)
			require.NoError(t, err)
			net, err := Build(sd, c.spec)
			require.NoError(t, err)
			require.Equal(t, c.classes, net.NumClasses())
			got := make([]float32, c.n*c.classes)
			require.NoError(t, net.Forward(got, in, c.n, c.h, c.w))
			requireLogitsClose(t, got, want, 1e-4, kernels.ISA())
		})
	}
}

// TestBlocksMatchReference checks each exported block type on its own,
// through Forward, at stage-entry and in-stage shapes, odd sizes included.
func TestBlocksMatchReference(t *testing.T) {
	for i, c := range []struct {
		bottleneck, sb  bool
		inC, planes, st int
		h, w            int
	}{
		{false, false, 8, 8, 1, 9, 9}, {false, false, 6, 12, 2, 14, 13},
		{false, true, 8, 8, 1, 7, 7}, {false, true, 10, 12, 2, 14, 14}, {false, true, 5, 5, 1, 16, 15},
		{true, false, 12, 3, 1, 9, 8}, {true, false, 16, 8, 2, 7, 7},
		{true, true, 12, 3, 1, 9, 8}, {true, true, 16, 8, 2, 14, 11},
	} {
		name := fmt.Sprintf("bottleneck=%v/sb=%v/%d-%dx%d/s%d/%dx%d", c.bottleneck, c.sb, c.inC, c.planes, Expansion, c.st, c.h, c.w)
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			p := &params{m: map[string]Param{}, rng: rng}
			const n = 2
			x := refMap{n, c.inC, c.h, c.w, make([]float32, n*c.inC*c.h*c.w)}
			for j := range x.d {
				x.d[j] = float32(rng.NormFloat64())
			}
			want := p.block(x, "b.", c.planes, c.st, c.bottleneck, c.sb)
			sd, err := NewStateDict(p.m)
			require.NoError(t, err)
			var b Block
			switch {
			case c.bottleneck && c.sb:
				b, err = NewSBBottleneck(sd, "b.", c.inC, c.planes, c.st)
			case c.bottleneck:
				b, err = NewBottleneck(sd, "b.", c.inC, c.planes, c.st)
			case c.sb:
				b, err = NewSBBasic(sd, "b.", c.inC, c.planes, c.st)
			default:
				b, err = NewBasicBlock(sd, "b.", c.inC, c.planes, c.st)
			}
			require.NoError(t, err)
			require.Empty(t, sd.Unused())
			oh, ow, err := b.OutputSize(c.h, c.w)
			require.NoError(t, err)
			require.Equal(t, []int{want.c, want.h, want.w}, []int{b.OutChannels(), oh, ow})
			src, err := layout.FromNCHW(x.d, n, c.inC, c.h, c.w, kernels.Block())
			require.NoError(t, err)
			dst, err := layout.New(n, b.OutChannels(), oh, ow, kernels.Block())
			require.NoError(t, err)
			for rep := 0; rep < 2; rep++ { // the second call reuses the kept intermediates
				clear(dst.Data)
				require.NoError(t, b.Forward(dst, src))
				requireLogitsClose(t, dst.NCHW(), want.d, 1e-4, fmt.Sprintf("%s call %d", kernels.ISA(), rep))
			}
		})
	}
}

// TestForwardSteadyStateAllocs: once a shape has run, Forward allocates
// nothing.
func TestForwardSteadyStateAllocs(t *testing.T) {
	for _, spec := range []NetSpec{{Arch: "resnet20", SB: []int{1, 2, 3}, Width: 8}, {Arch: "resnet50", SB: []int{2}, Width: 4}} {
		t.Run(spec.Arch, func(t *testing.T) {
			h := 16
			if spec.Arch == "resnet50" {
				h = 40
			}
			p, in, _ := randomNet(t, 1, spec, 5, 1, h, h)
			sd, err := NewStateDict(p.m)
			require.NoError(t, err)
			net, err := Build(sd, spec)
			require.NoError(t, err)
			logits := make([]float32, 5)
			require.NoError(t, net.Forward(logits, in, 1, h, h))
			allocs := testing.AllocsPerRun(20, func() {
				if err := net.Forward(logits, in, 1, h, h); err != nil {
					t.Fatal(err)
				}
			})
			assert.Zero(t, allocs, "allocations per Forward in the steady state")
		})
	}
}

// TestConcurrentForward runs one network from many goroutines at two input
// sizes: every result is bit-identical to the sequential one.
func TestConcurrentForward(t *testing.T) {
	spec := NetSpec{Arch: "resnet18", SB: []int{1, 3}, Width: 4}
	p, _, _ := randomNet(t, 2, spec, 3, 1, 33, 33)
	sd, err := NewStateDict(p.m)
	require.NoError(t, err)
	net, err := Build(sd, spec)
	require.NoError(t, err)
	forwardConcurrently(t, net, [][3]int{{1, 33, 33}, {2, 40, 36}}, 9, 16, 4, nil)
}

// TestBuildErrors: every bad spec or state_dict is an error naming what
// is wrong.
func TestBuildErrors(t *testing.T) {
	spec := NetSpec{Arch: "resnet20", SB: []int{3}, Width: 4}
	p, _, _ := randomNet(t, 3, spec, 10, 1, 8, 8)
	build := func(mut func(m map[string]Param), s NetSpec) error {
		m := map[string]Param{}
		for k, v := range p.m {
			m[k] = v
		}
		if mut != nil {
			mut(m)
		}
		sd, err := NewStateDict(m)
		if err != nil {
			return err
		}
		_, err = Build(sd, s)
		return err
	}
	require.NoError(t, build(nil, spec))
	for _, c := range []struct {
		name string
		mut  func(m map[string]Param)
		spec NetSpec
		want []string
	}{
		{"unknown arch", nil, NetSpec{Arch: "resnet19"}, []string{"resnet19", "resnet20"}},
		{"stage 4 of a CIFAR net", nil, NetSpec{Arch: "resnet20", SB: []int{4}, Width: 4}, []string{"stage 4"}},
		{"stage twice", nil, NetSpec{Arch: "resnet20", SB: []int{3, 3}, Width: 4}, []string{"twice"}},
		{"negative width", nil, NetSpec{Arch: "resnet20", Width: -1}, []string{"Width = -1"}},
		{"negative classes", nil, NetSpec{Arch: "resnet20", SB: []int{3}, Width: 4, NumClasses: -2}, []string{"NumClasses = -2"}},
		{"wrong classes", nil, NetSpec{Arch: "resnet20", SB: []int{3}, Width: 4, NumClasses: 9}, []string{"fc.weight", "[10 16]", "[9 16]"}},
		{"wrong width", nil, NetSpec{Arch: "resnet20", SB: []int{3}, Width: 5}, []string{"conv1.weight", "[4 3 3 3]", "[5 3 3 3]"}},
		{"missing key", func(m map[string]Param) { delete(m, "layer2.1.bn1.running_var") }, spec,
			[]string{"missing", "layer2.1.bn1.running_var", "[8]"}},
		{"unexpected key", func(m map[string]Param) { m["layer1.0.conv1.bias"] = Param{Shape: []int{4}, Data: make([]float32, 4)} }, spec,
			[]string{"unexpected", "layer1.0.conv1.bias"}},
		{"mis-shaped key", func(m map[string]Param) { m["fc.bias"] = Param{Shape: []int{11}, Data: make([]float32, 11)} }, spec,
			[]string{"fc.bias", "[11]", "[10]"}},
		{"negative variance", func(m map[string]Param) {
			m["bn1.running_var"] = Param{Shape: []int{4}, Data: []float32{1, -1, 1, 1}}
		}, spec, []string{"bn1.running_var[1]"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := build(c.mut, c.spec)
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestBuildWrongBlocks: a regular spec over a spatial-bottleneck
// ResNet-50's weights finds the restore where it wants the last 1x1. (A basic
// spatial-bottleneck block's tensors have the shapes of a regular one's,
// so there, as in PyTorch, nothing can tell them apart.)
func TestBuildWrongBlocks(t *testing.T) {
	spec := NetSpec{Arch: "resnet50", SB: []int{4}, Width: 2}
	p, _, _ := randomNet(t, 5, spec, 3, 1, 33, 33)
	sd, err := NewStateDict(p.m)
	require.NoError(t, err)
	_, err = Build(sd, NetSpec{Arch: "resnet50", Width: 2})
	require.Error(t, err)
	for _, w := range []string{"layer4.0.conv3.weight", "[16 16 3 3]", "[64 16 1 1]"} {
		assert.Contains(t, err.Error(), w)
	}
}

// TestForwardErrors: bad lengths, sizes and batches are errors, and a map
// that would become empty is reported, not computed.
func TestForwardErrors(t *testing.T) {
	spec := NetSpec{Arch: "resnet18", Width: 4}
	p, _, _ := randomNet(t, 4, spec, 2, 1, 32, 32)
	sd, err := NewStateDict(p.m)
	require.NoError(t, err)
	net, err := Build(sd, spec)
	require.NoError(t, err)
	in := make([]float32, 3*32*32)
	logits := make([]float32, 2)
	require.NoError(t, net.Forward(logits, in, 1, 32, 32))
	for _, c := range []struct {
		logits, in  int
		batch, h, w int
		want        string
	}{
		{2, 3*32*32 - 1, 1, 32, 32, "len(input)"},
		{3, 3 * 32 * 32, 1, 32, 32, "len(logits)"},
		{2, 3 * 32 * 32, 0, 32, 32, "batch 0"},
		{2, 3 * 32 * 32, 1, 0, 32, "0x32"},
		{2, 3 * 32 * 32, -1, -32, 32, "batch -1"},
		{2, 0, 1, 1 << 40, 1 << 40, "input"},
	} {
		err := net.Forward(make([]float32, c.logits), make([]float32, c.in), c.batch, c.h, c.w)
		if assert.Error(t, err, "%+v", c) {
			assert.True(t, strings.Contains(err.Error(), c.want), "error %q does not name %q", err, c.want)
		}
	}
	var nilNet *Net
	assert.Error(t, nilNet.Forward(logits, in, 1, 32, 32))
}
