package layout

import (
	"math/rand/v2"
	"testing"
)

func TestRoundTripAndOffsets(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, block := range []int{8, 16} {
		for _, c := range []int{1, 5, 8, 9, 16, 17, 33} {
			n, h, w := 2, 3, 5
			src := make([]float32, n*c*h*w)
			for i := range src {
				src[i] = r.Float32() + 1 // never zero, so padded zeros are distinguishable
			}
			ten, err := FromNCHW(src, n, c, h, w, block)
			if err != nil {
				t.Fatal(err)
			}
			if len(ten.Data) != ten.Len() {
				t.Fatalf("len(Data) %d, Len() %d", len(ten.Data), ten.Len())
			}
			seen := make([]bool, len(ten.Data))
			for ni := 0; ni < n; ni++ {
				for ci := 0; ci < c; ci++ {
					for y := 0; y < h; y++ {
						for x := 0; x < w; x++ {
							// The package comment's formula, written out again.
							cb := (c + block - 1) / block
							off := ((ni*cb+ci/block)*h+y)*w*block + x*block + ci%block
							if got := ten.Offset(ni, ci, y, x); got != off {
								t.Fatalf("Offset = %d, formula %d", got, off)
							}
							if ten.Data[off] != src[((ni*c+ci)*h+y)*w+x] {
								t.Fatalf("c=%d block=%d: element (%d,%d,%d,%d) misplaced", c, block, ni, ci, y, x)
							}
							seen[off] = true
						}
					}
				}
			}
			for i, s := range seen {
				if !s && ten.Data[i] != 0 {
					t.Fatalf("padded lane %d = %v, want 0", i, ten.Data[i])
				}
			}
			back := ten.NCHW()
			for i := range src {
				if back[i] != src[i] {
					t.Fatalf("round trip differs at %d", i)
				}
			}
			into := make([]float32, len(src))
			if err := ten.NCHWInto(into); err != nil {
				t.Fatal(err)
			}
			if allocs := testing.AllocsPerRun(10, func() { _ = ten.NCHWInto(into); _ = ten.SetNCHW(src) }); allocs != 0 {
				t.Fatalf("NCHWInto+SetNCHW allocate %v times", allocs)
			}
		}
	}
}

// TestPackConv checks the OIhw{b}i{b}o formula element by element.
func TestPackConv(t *testing.T) {
	for _, block := range []int{8, 16} {
		oc, ic, kh, kw := 11, 19, 3, 2
		w := make([]float32, oc*ic*kh*kw)
		for i := range w {
			w[i] = float32(i + 1)
		}
		p, err := PackConv(w, oc, ic, kh, kw, block)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != ConvWeightsLen(oc, ic, kh, kw, block) {
			t.Fatalf("len %d, want %d", len(p), ConvWeightsLen(oc, ic, kh, kw, block))
		}
		nonzero := 0
		for _, v := range p {
			if v != 0 {
				nonzero++
			}
		}
		if nonzero != len(w) {
			t.Fatalf("%d nonzero packed values, want %d", nonzero, len(w))
		}
		ib := (ic + block - 1) / block
		for o := 0; o < oc; o++ {
			for i := 0; i < ic; i++ {
				for y := 0; y < kh; y++ {
					for x := 0; x < kw; x++ {
						off := ((((o/block)*ib+i/block)*kh+y)*kw+x)*block*block + (i%block)*block + o%block
						if p[off] != w[((o*ic+i)*kh+y)*kw+x] {
							t.Fatalf("weight (%d,%d,%d,%d) misplaced", o, i, y, x)
						}
					}
				}
			}
		}
	}
}

// TestDeconvPhasesPartitionTaps: the s*s phases hold every tap of the
// kernel exactly once, at the flipped position the package comment gives.
func TestDeconvPhasesPartitionTaps(t *testing.T) {
	for _, c := range []struct{ k, s int }{{3, 2}, {2, 2}, {4, 2}, {1, 2}, {5, 3}, {3, 1}, {7, 3}} {
		ic, oc, block := 3, 2, 8
		w := make([]float32, ic*oc*c.k*c.k)
		for i := range w {
			w[i] = float32(i + 1)
		}
		count := map[float32]int{}
		total := 0
		for rh := 0; rh < c.s; rh++ {
			for rw := 0; rw < c.s; rw++ {
				p, nkh, nkw, err := PackDeconvPhase(w, ic, oc, c.k, c.k, c.s, c.s, rh, rw, block)
				if err != nil {
					t.Fatal(err)
				}
				if nkh != PhaseTaps(c.k, c.s, rh) || nkw != PhaseTaps(c.k, c.s, rw) {
					t.Fatalf("taps %dx%d", nkh, nkw)
				}
				total += nkh * nkw
				for o := 0; o < oc; o++ {
					for i := 0; i < ic; i++ {
						for tt := 0; tt < nkh; tt++ {
							for u := 0; u < nkw; u++ {
								v := p[((tt*nkw+u)*block+i)*block+o]
								y, x := rh+(nkh-1-tt)*c.s, rw+(nkw-1-u)*c.s
								if want := w[((i*oc+o)*c.k+y)*c.k+x]; v != want {
									t.Fatalf("k%d s%d phase (%d,%d) tap (%d,%d): %v, want %v", c.k, c.s, rh, rw, tt, u, v, want)
								}
								count[v]++
							}
						}
					}
				}
			}
		}
		if total != c.k*c.k {
			t.Fatalf("k%d s%d: phases hold %d taps, want %d", c.k, c.s, total, c.k*c.k)
		}
		for _, v := range w {
			if count[v] != 1 {
				t.Fatalf("k%d s%d: weight %v appears %d times", c.k, c.s, v, count[v])
			}
		}
	}
}

// TestPackDeconvRows checks the row-phase packing element by element.
func TestPackDeconvRows(t *testing.T) {
	ic, oc, k, s, block := 3, 2, 4, 2, 8
	w := make([]float32, ic*oc*k*k)
	for i := range w {
		w[i] = float32(i + 1)
	}
	total := 0
	for rh := 0; rh < s; rh++ {
		p, nkh, err := PackDeconvRows(w, ic, oc, k, k, s, rh, block)
		if err != nil {
			t.Fatal(err)
		}
		total += nkh
		for o := 0; o < oc; o++ {
			for i := 0; i < ic; i++ {
				for tt := 0; tt < nkh; tt++ {
					for u := 0; u < k; u++ {
						got := p[((tt*k+u)*block+i)*block+o]
						if want := w[((i*oc+o)*k+rh+(nkh-1-tt)*s)*k+u]; got != want {
							t.Fatalf("rh %d tap (%d,%d): %v, want %v", rh, tt, u, got, want)
						}
					}
				}
			}
		}
	}
	if total != k {
		t.Fatalf("row phases hold %d vertical taps, want %d", total, k)
	}
	if _, _, err := PackDeconvRows(w, ic, oc, k, k, s, s, block); err == nil {
		t.Fatal("row phase = stride accepted")
	}
}
