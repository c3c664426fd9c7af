package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/layout"
)

// TestPrefetchUnits checks, for convolutions and phase-decomposed
// transposed convolutions over several batch sizes and thread counts,
// that each unit's calls are given exactly the weights of the unit its
// goroutine takes next (unit u + 1), or nothing where that unit
// does not exist or has the same weights; and that Forward with prefetch
// forced on gives the same output as with it off.
func TestPrefetchUnits(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 13))
		b := Block()
		total := 0
		for _, c := range []struct {
			deconv           bool
			ch, h, w, oh, ow int
			stride           int
		}{
			{false, 48, 9, 7, 9, 7, 1}, {false, 48, 9, 7, 5, 4, 2}, {false, 24, 6, 6, 3, 3, 2},
			{false, 48, 9, 9, 3, 3, 4}, {false, 40, 13, 13, 4, 4, 4},
			{true, 48, 4, 4, 7, 7, 2}, {true, 40, 3, 5, 6, 10, 2},
		} {
			spec := ConvSpec{InC: c.ch, OutC: c.ch, KH: 3, KW: 3, StrideH: c.stride, StrideW: c.stride, PadH: 1, PadW: 1}
			w, bias := randSlice(r, c.ch*c.ch*9), randSlice(r, c.ch)
			var l *layer
			var fwdOf func(dst, src *layout.Tensor) error
			ow := c.ow
			if c.deconv {
				d, err := NewConvTranspose2D(spec, w, bias, b)
				if err != nil {
					t.Fatal(err)
				}
				l, fwdOf = &d.l, func(dst, src *layout.Tensor) error { return d.Forward(dst, src, Epilogue{}) }
			} else {
				cv, err := NewConv2D(spec, w, bias, b)
				if err != nil {
					t.Fatal(err)
				}
				l, fwdOf = &cv.l, func(dst, src *layout.Tensor) error { return cv.Forward(dst, src, Epilogue{}) }
			}
			for _, n := range []int{1, 2} {
				src, _ := layout.New(n, c.ch, c.h, c.w, b)
				dst, _ := layout.New(n, c.ch, c.oh, ow, b)
				if err := src.SetNCHW(randSlice(r, n*c.ch*c.h*c.w)); err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("deconv%v_c%d_%dx%d_to_%dx%d_n%d", c.deconv, c.ch, c.h, c.w, c.oh, ow, n)
				pl := l.planFor(src, dst)
				if pl.kind == fusedRestore || !pl.halo.none() {
					t.Fatalf("%s: the test wants row calls on src itself (path %v, halo %d+%d)", name, pl.kind, pl.halo.left, pl.halo.right)
				}
				for threads := 1; threads <= 3; threads++ {
					total += checkPrefetchUnits(t, fmt.Sprintf("%s_threads%d", name, threads), l, pl, src, dst, threads)
				}
				saved := l.path.prefetch
				l.path.prefetch = false
				if err := fwdOf(dst, src); err != nil {
					t.Fatal(err)
				}
				want := append([]float32(nil), dst.Data...)
				l.path.prefetch = true
				err := fwdOf(dst, src)
				l.path.prefetch = saved
				if err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if math.Float32bits(dst.Data[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: element %d = %v with prefetch, %v without", name, i, dst.Data[i], want[i])
					}
				}
			}
		}
		if total == 0 {
			t.Fatal("no unit of any case prefetches")
		}
	})
}

func checkPrefetchUnits(t *testing.T, name string, l *layer, pl *plan, src, dst *layout.Tensor, threads int) (prefetched int) {
	t.Helper()
	f := &fwd{l: l, pl: pl, dst: dst, src: src, sdata: src.Data, sh: src.H, sw: src.W}
	units := f.split(threads)
	const group = asm.PfLines * 64
	for u := 0; u < units; u++ {
		n, pi, o0, o1, _ := f.unit(u)
		pi, _ = f.unitPass(pi)
		var rc rowCall
		f.newRowCall(&rc, pi, n, o0, o1)
		f.prefetchNext(&rc, u)
		next := u + 1
		if next >= units {
			if rc.pf != 0 {
				t.Fatalf("%s: unit %d of %d prefetches, but unit %d does not exist", name, u, units, next)
			}
			continue
		}
		_, npi, no0, no1, _ := f.unit(next)
		npi, _ = f.unitPass(npi)
		p := &l.passes[npi]
		if npi == pi && no0 == o0 {
			if rc.pf != 0 {
				t.Fatalf("%s: unit %d prefetches its own weights", name, u)
			}
			continue
		}
		per := l.icb * p.kh * p.kw * l.block * l.block
		w := p.wei[no0*per : no1*per]
		lo, hi := uintptr(unsafe.Pointer(&w[0])), uintptr(unsafe.Pointer(&w[0]))+uintptr(4*len(w))
		if rc.pf != lo || rc.pfEnd+group-1 != hi {
			t.Fatalf("%s: unit %d prefetches [%#x, %#x+%d), want unit %d's weights [%#x, %#x)",
				name, u, rc.pf, rc.pfEnd, group-1, next, lo, hi)
		}
		prefetched++
	}
	return prefetched
}
