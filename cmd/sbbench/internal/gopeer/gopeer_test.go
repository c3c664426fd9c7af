package gopeer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sbconv/sbconv/block"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/kernels/ref"
	"github.com/sbconv/sbconv/layout"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

// near fails t unless got and want agree within tol of want's largest
// magnitude.
func near(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale, worst float64
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range got {
		worst = max(worst, math.Abs(float64(got[i]-want[i])))
	}
	if worst > tol*max(scale, 1e-6) {
		t.Fatalf("%s: max error %g against a largest value of %g", what, worst, scale)
	}
}

// TestConvMatchesRef: every geometry the benchmarks use (3x3 stride 1 and
// 2, 1x1 stride 1 and 2, the 7x7 stem), odd sizes, a batch of two, with
// and without residual and ReLU.
func TestConvMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, g := range []struct{ in, out, k, s, p, h, w int }{
		{5, 7, 3, 1, 1, 9, 6}, {5, 7, 3, 2, 1, 9, 6}, {6, 3, 1, 1, 0, 5, 4}, {6, 3, 1, 2, 0, 5, 7}, {3, 4, 7, 2, 3, 15, 12},
	} {
		for _, epi := range []bool{false, true} {
			n := 2
			spec := ref.Spec{N: n, InC: g.in, OutC: g.out, H: g.h, W: g.w, KH: g.k, KW: g.k, SH: g.s, SW: g.s, PH: g.p, PW: g.p}
			x, w, b := randSlice(r, n*g.in*g.h*g.w), randSlice(r, g.out*g.in*g.k*g.k), randSlice(r, g.out)
			oh, ow := spec.ConvOut()
			var res []float32
			if epi {
				res = randSlice(r, n*g.out*oh*ow)
			}
			want, _, _ := ref.Conv2D(spec, x, w, b, res, epi)
			c, err := NewConv(g.in, g.out, g.k, g.s, g.p, w, b)
			if err != nil {
				t.Fatal(err)
			}
			if h, w := c.OutputSize(g.h, g.w); h != oh || w != ow {
				t.Fatalf("%+v: output %dx%d, want %dx%d", g, h, w, oh, ow)
			}
			got := make([]float32, len(want))
			c.Forward(got, x, n, g.h, g.w, res, epi)
			near(t, "conv", got, want, 1e-5)
		}
	}
}

// TestDeconvMatchesRef: the stride-2 restore at even and odd output sizes
// (7 -> 4 -> 7), with and without residual and ReLU.
func TestDeconvMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, g := range []struct{ in, out, h, w, oh, ow int }{{5, 7, 4, 3, 8, 6}, {6, 6, 4, 4, 7, 7}, {3, 9, 1, 2, 2, 3}} {
		for _, epi := range []bool{false, true} {
			n := 2
			spec := ref.Spec{N: n, InC: g.in, OutC: g.out, H: g.h, W: g.w, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1}
			x, w, b := randSlice(r, n*g.in*g.h*g.w), randSlice(r, g.in*g.out*9), randSlice(r, g.out)
			var res []float32
			if epi {
				res = randSlice(r, n*g.out*g.oh*g.ow)
			}
			want := ref.ConvTranspose2D(spec, g.oh, g.ow, x, w, b, res, epi)
			d, err := NewDeconv(g.in, g.out, 3, 2, 1, w, b)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, len(want))
			d.Forward(got, x, n, g.h, g.w, g.oh, g.ow, res, epi)
			near(t, "deconv", got, want, 1e-5)
		}
	}
}

func TestBadGeometry(t *testing.T) {
	if _, err := NewConv(3, 3, 3, 1, 1, make([]float32, 80), nil); err == nil {
		t.Fatal("short weights accepted")
	}
	if _, err := NewConv(3, 3, 3, 0, 1, make([]float32, 81), nil); err == nil {
		t.Fatal("stride 0 accepted")
	}
	if _, err := NewDeconv(3, 3, 3, 2, 1, make([]float32, 81), make([]float32, 2)); err == nil {
		t.Fatal("short bias accepted")
	}
}

func TestMaxPool(t *testing.T) {
	src := []float32{
		1, 2, 3, 4, 5,
		6, 7, 8, 9, 10,
		11, 12, 13, 14, 15,
	}
	dst := make([]float32, 2*3)
	oh, ow := MaxPool3x3S2(dst, src, 1, 3, 5)
	want := []float32{7, 9, 10, 12, 14, 15}
	if oh != 2 || ow != 3 {
		t.Fatalf("output %dx%d, want 2x3", oh, ow)
	}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("pool = %v, want %v", dst, want)
		}
	}
}

// TestBlocksMatchSbconv: the peer of every block type, at a stage's
// inside (stride 1) and entry (stride 2, channels doubled), computes what
// package block's block computes from the same state_dict.
func TestBlocksMatchSbconv(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, g := range []struct {
		bottleneck, sb   bool
		inC, planes, str int
		h                int
	}{
		{false, false, 8, 8, 1, 7}, {false, false, 8, 16, 2, 10},
		{false, true, 8, 8, 1, 7}, {false, true, 8, 16, 2, 10},
		{true, false, 32, 8, 1, 6}, {true, false, 16, 8, 2, 9},
		{true, true, 32, 8, 1, 7}, {true, true, 16, 8, 2, 9},
	} {
		sd := block.RandomStateDict(uint64(g.inC + g.h))
		var b block.Block
		var err error
		switch {
		case g.bottleneck && g.sb:
			b, err = block.NewSBBottleneck(sd, "", g.inC, g.planes, g.str)
		case g.bottleneck:
			b, err = block.NewBottleneck(sd, "", g.inC, g.planes, g.str)
		case g.sb:
			b, err = block.NewSBBasic(sd, "", g.inC, g.planes, g.str)
		default:
			b, err = block.NewBasicBlock(sd, "", g.inC, g.planes, g.str)
		}
		if err != nil {
			t.Fatal(err)
		}
		n := 2
		in := randSlice(r, n*g.inC*g.h*g.h)
		x, err := layout.FromNCHW(in, n, g.inC, g.h, g.h, kernels.Block())
		if err != nil {
			t.Fatal(err)
		}
		oh, ow, _ := b.OutputSize(g.h, g.h)
		y, _ := layout.New(n, b.OutChannels(), oh, ow, kernels.Block())
		if err := b.Forward(y, x); err != nil {
			t.Fatal(err)
		}
		spec, err := SpecOf(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := (BlockSpec{g.bottleneck, g.sb, g.inC, g.planes, g.str}); spec != want {
			t.Fatalf("SpecOf = %+v, want %+v", spec, want)
		}
		pb, err := NewBlock(sd, "", spec)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, n*b.OutChannels()*oh*ow)
		pb.Forward(got, in, n, g.h, g.h)
		pb.Forward(got, in, n, g.h, g.h) // again: the kept buffers give the same result
		near(t, "block", got, y.NCHW(), 1e-4)
	}
}

// TestNetsMatchSbconv: whole networks (CIFAR and ImageNet, basic and
// bottleneck, regular and spatial bottleneck) give package block's logits.
func TestNetsMatchSbconv(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, g := range []struct {
		arch string
		sb   []int
		h    int
	}{{"resnet20", nil, 12}, {"resnet20", []int{1, 2, 3}, 11}, {"resnet18", []int{2, 4}, 40}, {"resnet50", []int{1, 2, 3, 4}, 36}} {
		sd := block.RandomStateDict(9)
		net, err := block.Build(sd, block.NetSpec{Arch: g.arch, SB: g.sb, Width: 8, NumClasses: 5})
		if err != nil {
			t.Fatal(err)
		}
		n := 2
		in := randSlice(r, n*3*g.h*g.h)
		want := make([]float32, n*5)
		if err := net.Forward(want, in, n, g.h, g.h); err != nil {
			t.Fatal(err)
		}
		pn, err := NewNet(sd, net)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, n*pn.NumClasses())
		pn.Forward(got, in, n, g.h, g.h)
		near(t, g.arch, got, want, 1e-3)
	}
}
