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
// that each unit's calls are given the heads of the output blocks of the
// unit its goroutine takes next (unit u + 1: Pf over its first block's
// run, PfOCB its blocks' stride), or nothing where that unit does not
// exist or has the same weights; that no line a call names (in each of
// its blocks) lies past the next pass's weights, with calls of the unit's
// own blocks and of as many as a call takes; and that Forward with
// prefetch forced on gives the same output as with it off.
func TestPrefetchUnits(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 13))
		b := Block()
		total, clipped, short := 0, 0, 0
		for _, c := range []struct {
			deconv           bool
			ch, h, w, oh, ow int
			stride           int
		}{
			{false, 48, 9, 7, 9, 7, 1}, {false, 48, 9, 7, 5, 4, 2}, {false, 24, 6, 6, 3, 3, 2},
			{false, 48, 9, 9, 3, 3, 4}, {false, 40, 13, 13, 4, 4, 4},
			{true, 48, 4, 4, 7, 7, 2}, {true, 40, 3, 5, 6, 10, 2},
			// more blocks than a call takes, split into groups of fewer
			// (AVX-512 5 and 7, AVX2 10 and 14); one block of the set's
			// (0): fewer than a call can take
			{false, 80, 7, 7, 7, 7, 1}, {true, 112, 3, 3, 5, 5, 2}, {true, 0, 3, 4, 5, 7, 2},
		} {
			if c.ch == 0 {
				c.ch = b
			}
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
					p, c, s := checkPrefetchUnits(t, fmt.Sprintf("%s_threads%d", name, threads), l, pl, src, dst, threads)
					total, clipped, short = total+p, clipped+c, short+s
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
		t.Logf("%d units prefetch (%d for fewer blocks), %d do not", total, short, clipped)
		if total == 0 || clipped == 0 {
			t.Fatalf("%d units prefetch and %d do not, their lines leaving the pass: want both", total, clipped)
		}
		if short == 0 {
			t.Fatal("no unit prefetches for a next unit of fewer blocks than its calls")
		}
	})
}

func checkPrefetchUnits(t *testing.T, name string, l *layer, pl *plan, src, dst *layout.Tensor, threads int) (prefetched, clipped, short int) {
	t.Helper()
	f := &fwd{l: l, pl: pl, dst: dst, src: src, sdata: src.Data, sh: src.H, sw: src.W}
	units := f.split(threads)
	for u := 0; u < units; u++ {
		_, _, o0, o1, _ := f.unit(u)
		// The unit's own blocks, and as many as a call takes: where a call
		// has more blocks than the pass has left from the next unit on,
		// its lines must stop short (the pass's last units).
		for _, ocb := range []int{o1 - o0, l.path.MaxOCB} {
			p, c, s := checkPrefetchUnit(t, name, f, u, units, ocb)
			prefetched, clipped, short = prefetched+p, clipped+c, short+s
		}
	}
	return prefetched, clipped, short
}

// checkPrefetchUnit checks unit u's prefetch (see checkPrefetchUnits) with
// calls of ocb output blocks.
func checkPrefetchUnit(t *testing.T, name string, f *fwd, u, units, ocb int) (prefetched, clipped, short int) {
	t.Helper()
	l := f.l
	const group = asm.PfLines * 64
	n, pi, o0, o1, _ := f.unit(u)
	pi, _ = f.unitPass(pi)
	var rc rowCall
	f.newRowCall(&rc, pi, n, o0, o1)
	rc.tmpl.OCB = ocb
	f.prefetchNext(&rc, u)
	next := u + 1
	if next >= units {
		if rc.pf != 0 {
			t.Fatalf("%s: unit %d of %d prefetches, but unit %d does not exist", name, u, units, next)
		}
		return
	}
	_, npi, no0, no1, _ := f.unit(next)
	npi, _ = f.unitPass(npi)
	p := &l.passes[npi]
	if npi == pi && no0 == o0 {
		if rc.pf != 0 {
			t.Fatalf("%s: unit %d prefetches its own weights", name, u)
		}
		return
	}
	blockBytes := uintptr(4 * l.icb * p.kh * p.kw * l.block * l.block)
	lo := uintptr(unsafe.Pointer(&p.wei[0])) + uintptr(no0)*blockBytes
	passEnd := uintptr(unsafe.Pointer(&p.wei[0])) + uintptr(4*len(p.wei))
	// Pf runs over the next unit's first block, unless the lines of a
	// call's last block (ocb-1 blocks on, PfOCB apart) would then leave the
	// pass's weights.
	want := min(lo+blockBytes, passEnd-uintptr(ocb-1)*blockBytes)
	if want < lo+group {
		if rc.pf != 0 {
			t.Fatalf("%s: unit %d prefetches, but its %d blocks' lines from unit %d's would leave the pass", name, u, ocb, next)
		}
		return 0, 1, 0
	}
	if rc.pf != lo || rc.pfEnd+group-1 != want || uintptr(rc.tmpl.PfOCB) != blockBytes {
		t.Fatalf("%s: unit %d prefetches [%#x, %#x+%d) with blocks %d apart, want unit %d's first block [%#x, %#x), %d apart",
			name, u, rc.pf, rc.pfEnd, group-1, rc.tmpl.PfOCB, next, lo, want, blockBytes)
	}
	// The last line a call names: inside the pass's weights.
	if last := rc.pfEnd - 1 + uintptr(ocb-1)*uintptr(rc.tmpl.PfOCB) + group - 1; last >= passEnd {
		t.Fatalf("%s: unit %d names a line at %#x, past its next pass's weights [%#x, %#x)", name, u, last, lo, passEnd)
	}
	if no1-no0 < ocb {
		short = 1 // the next unit has fewer blocks: lines in the pass's next ones
	}
	return 1, 0, short
}
