package kernels

// This file merges the one-column phases of a transposed convolution: the
// column phases of one row phase whose windows are one column wide (every
// phase of a kernel as wide as its stride, the spatial bottleneck's
// rate-3 restore; three of the four of a rate-4 one with K = 5) read the
// same input column for their pixels of one output row, so one call
// computes them all, the phases as its output blocks.

import (
	"unsafe"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/layout"
)

// phaseGroup is a run of m >= 2 consecutive column phases of one row
// phase of a transposed convolution, passes first..first+m-1, each with a
// window one column wide and kh rows. Input column c then feeds output
// pixel (c - iwOff)*StrideW + owOff of every member's geometry, and the
// member k's pixel is member 0's plus k: one call of the convolution
// contract computes the m pixels as m output "blocks" DstOCB = one pixel
// apart, with the members' weights WeiOCB = one member's apart (packed
// into one array, whose slices the members' wei are) and their bias m
// times over (bias). A call so broadcasts each input value once for m
// phases, not once each: the 16-channel rate-3 restore of a CIFAR
// ResNet's first stage runs the 1x1 kernels of one output block on
// AVX-512, one FMA a broadcast apart (AMD EPYC Zen 5: 11 rows of 11
// pixels, three phases, 1.10 us in three calls a row, 0.90 us in one).
type phaseGroup struct {
	first, m int
	bias     []float32 // [ocb][m][block]: each output block's bias, m times
}

// minGroupCols is the fewest input columns that every member of a group
// computes for a plan to merge them: the columns only some members have
// (the first input column, whose outputs left of the row the first
// members lack, and the last one) take calls of their own, so a group of
// a 3x3 -> 7x7 rate-3 restore (one column shared) would make more calls
// than its phases.
const minGroupCols = 2

// phaseGroups finds the layer's phase groups (a transposed one's of one
// output block, on a set that takes maxOCB >= 2 output blocks a call) and
// packs each group's weights into one array, which its members' wei
// become slices of.
//
// With more output blocks the phases' own calls already share each
// broadcast among up to maxOCB blocks, and a group's calls (one an output
// block) walk the weights again for the first and last input columns,
// which not every member has: merged there too, rate-3 restores measured
// slower (AMD EPYC Zen 5, AVX-512, go test -bench RestoreRate, % of peak:
// cifar-32x16 87 -> 66, cifar-64x8 80 -> 64, in-256x14 85 -> 70), while
// the one-block cifar-16x32 went 70 -> 79-80.
func (l *layer) phaseGroups(maxOCB int) []phaseGroup {
	s := l.spec
	if !l.deconv || maxOCB < 2 || l.ocb != 1 {
		return nil
	}
	var gs []phaseGroup
	for rh := 0; rh < s.StrideH; rh++ {
		for rw := 0; rw < s.StrideW; {
			first := rh*s.StrideW + rw
			m := 0
			for rw+m < s.StrideW && m < min(maxOCB, maxGroup) {
				if p := &l.passes[first+m]; p.kw != 1 || p.kh < 1 {
					break
				}
				m++
			}
			if m < 2 {
				rw++
				continue
			}
			gs = append(gs, l.packGroup(first, m))
			rw += m
		}
	}
	return gs
}

// packGroup packs the weights of passes first..first+m-1 (of one row
// phase: the same kh, one column each, so the same size) into one array
// and makes each pass's wei its slice; member 0's slice's capacity covers
// the others, which its merged calls read, and the last's the slack of
// packed weights (layout.WeightSlack). It sets out the bias m times.
func (l *layer) packGroup(first, m int) phaseGroup {
	size := len(l.passes[first].wei)
	buf := make([]float32, m*size, m*size+layout.WeightSlack)
	for k := 0; k < m; k++ {
		p := &l.passes[first+k]
		copy(buf[k*size:], p.wei)
		p.wei = buf[k*size : (k+1)*size]
	}
	b := l.block
	g := phaseGroup{first: first, m: m, bias: make([]float32, l.ocb*m*b)}
	for o := 0; o < l.ocb; o++ {
		for k := 0; k < m; k++ {
			copy(g.bias[(o*m+k)*b:(o*m+k+1)*b], l.bias[o*b:(o+1)*b])
		}
	}
	return g
}

// unitPass is what one pass of the units computes (plan.ups): a pass, or
// a phase group, whose member k has whole windows at input columns
// [lo[k], hi[k]) (of the haloed input).
type unitPass struct {
	pass   int         // the pass, or the group's first member
	group  *phaseGroup // nil: the pass alone
	lo, hi [maxGroup]int
}

// maxGroup is the most phases a group merges.
const maxGroup = 4

// groupUnits returns the units' passes of plan pl: each pass alone but
// the members of a phase group that all have minGroupCols input columns
// or more in their interiors; nil when no group merges (the units'
// passes are then the layer's).
func (l *layer) groupUnits(pl *plan) []unitPass {
	if pl.kind != phasePasses || len(l.groups) == 0 {
		return nil
	}
	var ups []unitPass
	merged := false
	for pi := 0; pi < len(l.passes); {
		var g *phaseGroup
		for i := range l.groups {
			if l.groups[i].first == pi {
				g = &l.groups[i]
			}
		}
		if g == nil {
			ups = append(ups, unitPass{pass: pi})
			pi++
			continue
		}
		up := unitPass{pass: pi, group: g}
		c0, c1 := -1<<30, 1<<30
		for k := 0; k < g.m; k++ {
			gm, c := &pl.gm[pi+k], &pl.cols[pi+k]
			up.lo[k], up.hi[k] = gm.iwOff+c.jlo, gm.iwOff+c.jhi
			if gm.nrows == 0 {
				up.hi[k] = up.lo[k]
			}
			c0, c1 = max(c0, up.lo[k]), min(c1, up.hi[k])
		}
		if c1-c0 < minGroupCols {
			for k := 0; k < g.m; k++ {
				ups = append(ups, unitPass{pass: pi + k})
			}
		} else {
			ups = append(ups, up)
			merged = true
		}
		pi += g.m
	}
	if !merged {
		return nil
	}
	return ups
}

// unitPass returns the pass of the units' pass pi (a group's first
// member), and the group's entry, or nil for a pass alone.
func (f *fwd) unitPass(pi int) (int, *unitPass) {
	if f.pl.ups == nil {
		return pi, nil
	}
	up := &f.pl.ups[pi]
	if up.group == nil {
		return up.pass, nil
	}
	return up.pass, up
}

// groupRows computes row chunk c of the phase group up for output blocks
// [o0, o1) of image n. Each member's pixels outside its interior (those
// only the bias reaches) go through its own pass; the interiors split
// into runs of input columns that the same members have, the members
// of a column being a contiguous run of the group (member k's output
// pixel at column c is c*StrideW + k + a constant, inside the output for
// c in a range that moves left as k grows). A run of one member is a
// call of its pass; a run of several, one call an output block, the
// members as the call's blocks.
func (f *fwd) groupRows(prm *asm.Params, up *unitPass, u, n, o0, o1, c int) {
	g := up.group
	var rec *[]recCall
	if f.rec != nil {
		rec = &f.rec.units[u]
	}
	var rc rowCall
	gm0 := &f.pl.gm[up.pass]
	lo, hi := c*gm0.nrows/f.chunks, (c+1)*gm0.nrows/f.chunks
	// Breakpoints: every member's interior bounds, in order.
	var cuts [2 * maxGroup]int
	nc := 0
	for k := 0; k < g.m; k++ {
		rc = rowCall{rec: rec}
		f.newRowCall(&rc, up.pass+k, n, o0, o1)
		j0, j1 := up.lo[k]-rc.gm.iwOff, up.hi[k]-rc.gm.iwOff
		if j0 > 0 {
			f.passRows(prm, &rc, lo, hi, 0, j0)
		}
		if j1 < rc.gm.ncols {
			f.passRows(prm, &rc, lo, hi, max(j0, j1), rc.gm.ncols)
		}
		for _, v := range [2]int{up.lo[k], up.hi[k]} {
			i := nc
			for i > 0 && cuts[i-1] > v {
				cuts[i] = cuts[i-1]
				i--
			}
			cuts[i] = v
			nc++
		}
	}
	b := f.l.block
	for i := 0; i+1 < nc; i++ {
		a, e := cuts[i], cuts[i+1]
		if e <= a {
			continue
		}
		ka, kb := g.m, 0 // the members with columns [a, e)
		for k := 0; k < g.m; k++ {
			if up.lo[k] <= a && e <= up.hi[k] {
				ka, kb = min(ka, k), max(kb, k+1)
			}
		}
		if kb <= ka {
			continue
		}
		if kb-ka == 1 {
			rc = rowCall{rec: rec}
			f.newRowCall(&rc, up.pass+ka, n, o0, o1)
			f.passRows(prm, &rc, lo, hi, a-rc.gm.iwOff, e-rc.gm.iwOff)
			continue
		}
		m := kb - ka
		for o := o0; o < o1; o++ {
			rc = rowCall{rec: rec}
			f.newRowCall(&rc, up.pass+ka, n, o, o+1)
			rc.kern, rc.tile = rc.p.kern[m], &rc.p.tile[m]
			t := &rc.tmpl
			t.OCB = m
			t.WeiOCB = 4 * len(rc.p.wei) // the next member's weights (packGroup)
			t.DstOCB = b * 4             // the next member's pixel
			t.Bias = unsafe.Pointer(&g.bias[(o*g.m+ka)*b])
			f.passRows(prm, &rc, lo, hi, a-rc.gm.iwOff, e-rc.gm.iwOff)
		}
	}
	f.clearPassLanes(up.pass, g.m, n, o1, c)
}
