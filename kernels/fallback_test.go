package kernels

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/kernels/ref"
	"github.com/sbconv/sbconv/layout"
)

// fakeSets installs, for the test, a list of fake sets ahead of the
// generic one, best first: a block-16 set, an unusable block-8 set and a
// usable block-8 set, as a machine with a block-16 AVX-512 set beside
// AVX2 would have them. Their kernels are the generic ones, counting
// their calls. It returns the sets and the call counters of the usable
// ones (convolution, pool), and restores isaSets and the dispatched set
// when the test ends.
func fakeSets(t *testing.T) (s16, s8off, s8 *isaSet, calls16, calls8, pools8 *atomic.Int64) {
	t.Helper()
	current()
	savedSets, savedSel := isaSets, selected.set.Load()
	t.Cleanup(func() {
		isaSets = savedSets
		selected.set.Store(savedSel)
	})
	calls16, calls8, pools8 = new(atomic.Int64), new(atomic.Int64), new(atomic.Int64)
	k16 := func(p *asm.Params) { calls16.Add(1); genericRow16(p) }
	k8 := func(p *asm.Params) { calls8.Add(1); genericRow8(p) }
	s16 = &isaSet{name: "fake16", usable: true, Caps: asm.Caps{Block: 16, MaxOCB: 2, Rows: true, Edges: true},
		kernel: func(int, int, int, bool) microkernel { return k16 }}
	s8off = &isaSet{name: "fake8off", usable: false, Caps: asm.Caps{Block: 8, MaxOCB: 4, Rows: true, Edges: true},
		kernel: func(int, int, int, bool) microkernel {
			return func(*asm.Params) { t.Error("a kernel of an unusable set ran") }
		},
		pool: func(*asm.PoolParams) { t.Error("a pool kernel of an unusable set ran") }}
	s8 = &isaSet{name: "fake8", usable: true, Caps: asm.Caps{Block: 8, MaxOCB: 3, Rows: true, Edges: true},
		kernel: func(_, srcPix, _ int, _ bool) microkernel {
			if srcPix == 3 {
				return nil // a call shape the set has no kernel for
			}
			return k8
		},
		pool: func(p *asm.PoolParams) { pools8.Add(1); genericPool8(p) }}
	isaSets = []*isaSet{s16, s8off, s8, genericSet}
	return s16, s8off, s8, calls16, calls8, pools8
}

// TestFallbackByBlock: a layer whose block is not the dispatched set's
// runs on the best usable set built for its block that is not better
// than the dispatched one (the generic kernel only where there is none,
// or where that set has no kernel for a call shape), with that set's
// capabilities; the max pool too.
func TestFallbackByBlock(t *testing.T) {
	s16, _, s8, calls16, calls8, pools8 := fakeSets(t)
	for _, c := range []struct {
		from  *isaSet
		block int
		want  *isaSet
	}{
		{s16, 16, s16}, {s16, 8, s8}, // past the unusable block-8 set
		{s8, 8, s8}, {s8, 16, genericSet}, // s16 is better than a forced s8
		{genericSet, 8, genericSet}, {genericSet, 16, genericSet},
	} {
		if got := c.from.forBlock(c.block); got != c.want {
			t.Errorf("%s.forBlock(%d) = %s, want %s", c.from.name, c.block, got.name, c.want.name)
		}
	}
	ptr := func(k microkernel) uintptr { return reflect.ValueOf(k).Pointer() }
	for _, c := range []struct {
		from          *isaSet
		block, srcPix int
		want          microkernel
	}{
		{s16, 16, 1, s16.kernel(1, 1, 1, false)},
		{s16, 8, 1, s8.kernel(1, 1, 1, false)},
		{s16, 8, 3, genericRow8}, // s8 has none for stride 3
		{s8, 16, 1, genericRow16},
		{genericSet, 16, 1, genericRow16},
	} {
		if got := c.from.kernelFor(c.block, 1, c.srcPix, 1, false); ptr(got) != ptr(c.want) {
			t.Errorf("%s.kernelFor(block %d, stride %d): not the wanted kernel", c.from.name, c.block, c.srcPix)
		}
	}

	// End to end with s16 dispatched: a block-8 layer runs on s8's
	// kernels with s8's capabilities, a block-16 one on s16's.
	selected.set.Store(s16)
	r := rand.New(rand.NewPCG(21, 21))
	for _, c := range []struct {
		block   int
		set     *isaSet
		calls   *atomic.Int64
		maxOCB  int
		stride  int
		generic bool
	}{
		{8, s8, calls8, 3, 1, false}, {8, s8, calls8, 3, 3, true}, {16, s16, calls16, 2, 1, false},
	} {
		const ic, oc, h, w = 12, 40, 9, 11
		spec := ConvSpec{InC: ic, OutC: oc, KH: 3, KW: 3, StrideH: c.stride, StrideW: c.stride, PadH: 1, PadW: 1}
		x, wts, bias := randSlice(r, ic*h*w), randSlice(r, oc*ic*9), randSlice(r, oc)
		cv, err := NewConv2D(spec, wts, bias, c.block)
		if err != nil {
			t.Fatal(err)
		}
		if cv.l.path.set != c.set || cv.l.path.MaxOCB != c.maxOCB || cv.l.path.haloCopy != true {
			t.Errorf("block %d: path set %s maxOCB %d haloCopy %v, want %s %d true",
				c.block, cv.l.path.set.name, cv.l.path.MaxOCB, cv.l.path.haloCopy, c.set.name, c.maxOCB)
		}
		rs := ref.Spec{N: 1, InC: ic, OutC: oc, H: h, W: w, KH: 3, KW: 3, SH: c.stride, SW: c.stride, PH: 1, PW: 1}
		want, oh, ow := ref.Conv2D(rs, x, wts, bias, nil, false)
		src, _ := layout.FromNCHW(x, 1, ic, h, w, c.block)
		dst, _ := layout.New(1, oc, oh, ow, c.block)
		before := c.calls.Load()
		if err := cv.Forward(dst, src, Epilogue{}); err != nil {
			t.Fatal(err)
		}
		if ran := c.calls.Load() > before; ran == c.generic {
			t.Errorf("block %d stride %d: %s's kernels ran: %v, want %v", c.block, c.stride, c.set.name, ran, !c.generic)
		}
		if err := closeEnough(dst.NCHW(), want, 6, 1e-5); err != nil {
			t.Errorf("block %d stride %d: %v", c.block, c.stride, err)
		}
	}
	src, _ := layout.New(1, 8, 9, 9, 8)
	dst, _ := layout.New(1, 8, 5, 5, 8)
	if err := MaxPool3x3S2(dst, src); err != nil {
		t.Fatal(err)
	}
	if pools8.Load() == 0 {
		t.Error("block-8 max pool with fake16 dispatched: fake8's pool kernel did not run")
	}
}

// TestISARank: registerISA keeps isaSets in rank order whatever order the
// sets register in (a later set of an equal rank after the earlier one),
// generic last; and the built-in sets are so ordered.
func TestISARank(t *testing.T) {
	saved := isaSets
	t.Cleanup(func() { isaSets = saved })
	isaSets = []*isaSet{genericSet}
	a := &isaSet{name: "a", rank: 20}
	b := &isaSet{name: "b", rank: 30}
	c := &isaSet{name: "c", rank: 20}
	for _, s := range []*isaSet{a, b, c} {
		registerISA(s)
	}
	var got []string
	for _, s := range isaSets {
		got = append(got, s.name)
	}
	if strings.Join(got, " ") != "b a c generic" {
		t.Errorf("isaSets %v, want [b a c generic]", got)
	}
	for i, s := range saved {
		if i > 0 && s.rank > saved[i-1].rank {
			t.Errorf("built-in sets: %s (rank %d) after %s (rank %d)", s.name, s.rank, saved[i-1].name, saved[i-1].rank)
		}
	}
	if saved[len(saved)-1] != genericSet {
		t.Error("generic is not the last set")
	}
}
