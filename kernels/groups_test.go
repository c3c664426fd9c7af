package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/layout"
)

// TestPhaseGroupsFound: a transposed convolution of one output block
// groups the column phases whose windows are one column wide (consecutive
// runs, at most the set's MaxOCB and maxGroup a group); one of two output
// blocks, or none one column wide, has none.
func TestPhaseGroupsFound(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		b := set.Block
		most := min(set.MaxOCB, maxGroup)
		for _, c := range []struct {
			k, s, p, outC int
			runs          [][2]int // runs of one-column phases: first pass, length
		}{
			{3, 3, 1, b, [][2]int{{0, 3}, {3, 3}, {6, 3}}},
			{5, 4, 2, b - 1, [][2]int{{1, 3}, {5, 3}, {9, 3}, {13, 3}}}, // phase 0 of each row has two taps
			{4, 4, 1, b, [][2]int{{0, 4}, {4, 4}, {8, 4}, {12, 4}}},
			{2, 2, 0, 1, [][2]int{{0, 2}, {2, 2}}},
			{3, 2, 1, b, nil}, // one one-column phase a row
			{3, 3, 1, b + 1, nil},
		} {
			spec := ConvSpec{InC: 3, OutC: c.outC, KH: c.k, KW: c.k, StrideH: c.s, StrideW: c.s, PadH: c.p, PadW: c.p}
			d, err := NewConvTranspose2D(spec, make([]float32, 3*c.outC*c.k*c.k), nil, b)
			require.NoError(t, err)
			var got, want [][2]int
			for _, g := range d.l.groups {
				got = append(got, [2]int{g.first, g.m})
			}
			for _, run := range c.runs { // groups of the most a call takes, while two are left
				for f, n := run[0], run[1]; n >= 2; {
					m := min(n, most)
					if m < 2 {
						break
					}
					want = append(want, [2]int{f, m})
					f, n = f+m, n-m
				}
			}
			assert.Equal(t, want, got, "%+v", c)
		}
	})
}

// TestPhaseGroupCalls: the rate-3 restore of one output block from 11x11
// to 32x32 computes every output pixel in calls of two or three phases
// (the first input column's outputs from the second phase on, then the
// ten columns every phase has), each phase an output block one pixel
// after the last, never in a call of one phase; and from 3x3 to 7x7,
// where only one input column has all three phases, in the phase calls.
func TestPhaseGroupCalls(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		if set.MaxOCB < 3 {
			t.Skip("the set takes fewer than three output blocks a call")
		}
		defer SetThreads(Threads())
		SetThreads(1)
		b := set.Block
		r := rand.New(rand.NewPCG(21, 21))
		spec := ConvSpec{InC: b, OutC: b, KH: 3, KW: 3, StrideH: 3, StrideW: 3, PadH: 1, PadW: 1}
		for _, c := range []struct{ in, out, merged int }{{11, 32, 32 * 32}, {3, 7, 0}} {
			d, err := NewConvTranspose2D(spec, randSlice(r, b*b*9), nil, b)
			require.NoError(t, err)
			var merged, single int
			wrap := func(k microkernel) microkernel {
				if k == nil {
					return nil
				}
				return func(prm *asm.Params) {
					rows := max(prm.Rows, 1)
					if prm.OCB > 1 {
						assert.Equal(t, b*4, prm.DstOCB, "a merged call's blocks are the next pixels")
						merged += prm.Pix * rows * prm.OCB
					} else {
						single += prm.Pix * rows
					}
					k(prm)
				}
			}
			for i := range d.l.passes {
				p := &d.l.passes[i]
				for o := range p.kern {
					p.kern[o] = wrap(p.kern[o])
					for w := range p.tile[o] {
						p.tile[o][w] = wrap(p.tile[o][w])
					}
				}
			}
			x, y := mustTensor(t, r, 1, b, c.in, c.in, b), mustTensor(t, r, 1, b, c.out, c.out, b)
			require.NoError(t, d.Forward(y, x, Epilogue{}))
			assert.Equal(t, c.merged, merged, "%dx%d: pixels of merged calls", c.in, c.in)
			assert.Equal(t, c.out*c.out-c.merged, single, "%dx%d: pixels of one-phase calls", c.in, c.in)
		}
	})
}

// TestPhaseGroupsThreadsBitwise: restores with merged phase groups (rates
// 2-4, one output block with and without padded lanes, two images) give
// the same output bit for bit on 1, 2 and 3 threads, every border
// strategy, and match package ref (through guarded outputs, on 1 and 2
// threads).
func TestPhaseGroupsThreadsBitwise(t *testing.T) {
	defer func() { haloMode = haloModel }()
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		defer SetThreads(Threads())
		b := set.Block
		r := rand.New(rand.NewPCG(22, 22))
		for _, c := range []struct{ k, s, p, in, out, outC int }{
			{3, 3, 1, 11, 32, b}, {3, 3, 1, 6, 16, b - 3}, {3, 3, 1, 5, 15, b}, {5, 4, 2, 8, 32, b},
			{5, 4, 2, 4, 16, b - 1}, {4, 4, 1, 5, 19, b}, {2, 2, 0, 7, 14, b}, {3, 3, 0, 4, 12, b},
		} {
			spec := ConvSpec{InC: 2 * b, OutC: c.outC, KH: c.k, KW: c.k, StrideH: c.s, StrideW: c.s, PadH: c.p, PadW: c.p}
			w, bias := randSlice(r, 2*b*c.outC*c.k*c.k), randSlice(r, c.outC)
			x := mustTensor(t, r, 2, 2*b, c.in, c.in, b)
			res := mustTensor(t, r, 2, c.outC, c.out, c.out, b)
			for _, mode := range []int{haloModel, haloNever, haloAlways} {
				haloMode = mode
				for _, n := range []int{1, 2} {
					SetThreads(n)
					cc := convCase{n: 2, inC: 2 * b, outC: c.outC, h: c.in, w: c.in, kh: c.k, kw: c.k, sh: c.s, sw: c.s,
						ph: c.p, pw: c.p, oh: c.out, ow: c.out, bias: true, res: true, relu: true, block: b}
					cc.run(t, r, true)
				}
				d, err := NewConvTranspose2D(spec, w, bias, b)
				require.NoError(t, err)
				var first *layout.Tensor
				for _, n := range []int{1, 2, 3} {
					SetThreads(n)
					y, err := layout.New(2, c.outC, c.out, c.out, b)
					require.NoError(t, err)
					require.NoError(t, d.Forward(y, x, Epilogue{ReLU: true, Residual: res}))
					if first == nil {
						first = y
						continue
					}
					for i := range y.Data {
						if math.Float32bits(y.Data[i]) != math.Float32bits(first.Data[i]) {
							t.Fatalf("%+v halo mode %d: float %d on %d threads %v, on one %v", c, mode, i, n, y.Data[i], first.Data[i])
						}
					}
				}
			}
		}
	})
}
