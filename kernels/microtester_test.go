package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"github.com/sbconv/sbconv/asm"
)

// The microkernel tester, in the manner of XNNPACK's
// GemmMicrokernelTester: a microCase describes one call of a microkernel,
// and its check method owns everything else. It lays out the operands with
// guards around each, builds the one asm.Params of the call, computes the
// expected output with microContract (the contracts of package asm written
// out literally in Go, in float64), poisons with NaN every input float the
// contract does not read and every output float it writes, calls the
// kernel, and compares:
//
//   - every output float the contract writes, within microTol (a NaN, a
//     value never written, fails);
//   - every other float of the output buffer (the guards, the pixels an
//     output stride of 2 skips, the gaps between rows), bit for bit;
//   - every input buffer, guards included, bit for bit (a kernel never
//     writes its inputs).
//
// A kernel that reads a float the contract does not (a column outside the
// window, the tap an edge pixel skips, the row after the last, a guard)
// reads a NaN and fails the first comparison. The micro tests below are
// tables of microCases, one t.Run subtest per kernel variant, so that -run
// selects one (for example -run 'TestMicroConv/avx2/o3_s2_d1_pwfalse').

// microTol is the one relative tolerance of every output comparison of
// the micro tests: a difference is allowed up to microTol*(|want| +
// sqrt(terms)) for a sum of terms products of values in [-1, 1].
const microTol = 1e-5

// microSet is one set of microkernels the tester calls directly: every
// usable assembly set, and the generic Go kernel at blocks 8 and 16.
type microSet struct {
	name  string
	block int
	*isaSet
	kernelFor func(ocb, sp, dp int, pw bool) microkernel
	// ocbs are the output block counts the tests call its kernels with:
	// every one for an assembly set (each count is a kernel of its own),
	// 1 and 2 for the generic kernel (one loop for all; its b = 16 sweep
	// is as slow as the rest together, under qemu too).
	ocbs []int
}

// convPix is the most pixels the sweeps call a convolution kernel for
// ocb output blocks with: 2*urW+1 for a set stepping urW pixels, which
// reaches every block size 1..urW as a whole call and as either half of
// a split tail (urW+1 .. 2*urW-1 pixels), then whole steps; at least 20
// (the generic kernel, which has no tiles, and the narrowest sets).
func (s microSet) convPix(ocb int) int {
	if ocb < len(s.urw) {
		return max(20, 2*s.urw[ocb]+1)
	}
	return 20
}

// restorePix is the most pixels the sweeps call restore kernel rk for
// ocb output blocks with: two whole blocks and a pair more, so that every
// block size and both halves of a split tail are reached; at least 30.
func restorePix(rk *asm.RestoreKernel, ocb int) int {
	return max(30, 2*rk.MaxPix[ocb-1]+2)
}

// microSets returns the sets the micro tests cover on this CPU. Under
// -race, whose checkptr sees Go code only, it is the generic kernel at
// block 8 with two output blocks, for its pointers: the tester's oracle
// over the whole table would take a minute there.
func microSets() []microSet {
	if raceBuild {
		return []microSet{{name: "generic8", block: 8, isaSet: genericSet,
			kernelFor: func(int, int, int, bool) microkernel { return genericRow8 }, ocbs: []int{2}}}
	}
	var sets []microSet
	for _, s := range isaSets {
		if !s.usable {
			continue
		}
		if s == genericSet {
			for _, b := range []int{8, 16} {
				sets = append(sets, microSet{
					name: fmt.Sprintf("generic%d", b), block: b, isaSet: s,
					kernelFor: func(int, int, int, bool) microkernel { return genericKernel(b) },
					ocbs:      []int{1, 2},
				})
			}
			continue
		}
		ms := microSet{name: s.name, block: s.Block, isaSet: s, kernelFor: s.kernel}
		for ocb := 1; ocb <= s.MaxOCB; ocb++ {
			ms.ocbs = append(ms.ocbs, ocb)
		}
		sets = append(sets, ms)
	}
	return sets
}

// microCase is one microkernel call: the contract's counts and strides
// (in pixels), and the optional parts it uses. The tester derives every
// byte stride of the Params from them.
type microCase struct {
	b                int // channel block
	ocb, icb, kh, kw int // Params.OCB, ICB, KH, KW
	pix              int // Params.Pix
	sp, dp           int // input and output pixel strides (1 for a restore)
	// rows > 0 sets Params.Rows (and SrcRows, DstRows); 0 leaves the
	// fields zero, a one-row call.
	rows         int
	edgeL, edgeR int  // Params.EdgeL, EdgeR
	edgeT, edgeB int  // Params.EdgeT, EdgeB (tile kernels)
	res          bool // a residual ...
	resInPlace   bool // ... read from Dst itself
	relu         bool
	// restore, if set, makes this a call of the fused stride-2 restore
	// contract for restore's kernel width and padding (then kw is K).
	restore *asm.RestoreKernel
	// prefetch: also call the kernel with a prefetch range and check the
	// prefetch part of the contract.
	prefetch bool
	// tile: the kernel is a tile kernel, which takes a tap step for up to
	// three rows at once (the least Pf may move is per block of rows).
	tile bool
	// stem makes this a call of the stem contract: one input float a
	// pixel and input channel (plain NCHW input), not a block of b.
	stem bool
}

// lanes is the input floats of one pixel a tap step reads: the block, or
// 1 under the stem contract.
func (c microCase) lanes() int {
	if c.stem {
		return 1
	}
	return c.b
}

func (c microCase) String() string {
	s := fmt.Sprintf("ocb=%d icb=%d k=%dx%d pix=%d s%d d%d rows=%d edges=%d,%d,%d,%d res=%v inplace=%v relu=%v",
		c.ocb, c.icb, c.kh, c.kw, c.pix, c.sp, c.dp, c.rows, c.edgeL, c.edgeR, c.edgeT, c.edgeB, c.res, c.resInPlace, c.relu)
	if c.restore != nil {
		s = fmt.Sprintf("restore K%dP%d %s", c.restore.K, c.restore.Pad, s)
	}
	if c.stem {
		s = "stem " + s
	}
	return s
}

// microBuf is one operand: body floats between g guard floats on each
// side.
type microBuf struct {
	all  []float32
	body []float32
}

const microGuard = 37 // guard floats each side; not a multiple of any vector

func newMicroBuf(n int) microBuf {
	all := make([]float32, n+2*microGuard)
	return microBuf{all: all, body: all[microGuard : microGuard+n : microGuard+n]}
}

func (m microBuf) at(i int) unsafe.Pointer { return unsafe.Pointer(&m.body[i]) }

// microPoison is the NaN every input float the contract does not read
// holds, and every output float it writes before the call.
var microPoison = math.Float32frombits(0x7fc0_5bad)

// microMem is the memory microContract reads and writes: the operands'
// buffers, each with a record of which floats the contract touched. An
// address outside all of them is a bug of the tester's geometry.
type microMem struct {
	t       *testing.T
	regions []microRegion
	last    int // the region of the last access, tried first
}

type microRegion struct {
	name       string
	buf        []float32
	touched    []bool
	base, size uintptr
}

func (m *microMem) add(name string, buf []float32) {
	m.regions = append(m.regions, microRegion{name: name, buf: buf, touched: make([]bool, len(buf)),
		base: uintptr(unsafe.Pointer(&buf[0])), size: uintptr(4 * len(buf))})
}

// find returns the region and float index of address p + off.
func (m *microMem) find(p unsafe.Pointer, off int) (*microRegion, int) {
	a := uintptr(p) + uintptr(off)
	if r := &m.regions[m.last]; a-r.base < r.size && (a-r.base)%4 == 0 {
		return r, int(a-r.base) / 4
	}
	for i := range m.regions {
		if r := &m.regions[i]; a-r.base < r.size && (a-r.base)%4 == 0 {
			m.last = i
			return r, int(a-r.base) / 4
		}
	}
	m.t.Fatalf("the contract addresses %#x (%#x + %d), outside every operand: the tester's geometry is wrong", a, uintptr(p), off)
	return nil, 0
}

func (m *microMem) load(p unsafe.Pointer, off int) float64 {
	r, i := m.find(p, off)
	r.touched[i] = true
	return float64(r.buf[i])
}

func (m *microMem) store(p unsafe.Pointer, off int, v float64) {
	r, i := m.find(p, off)
	r.touched[i] = true
	r.buf[i] = float32(v)
}

func (m *microMem) region(name string) *microRegion {
	for i := range m.regions {
		if m.regions[i].name == name {
			return &m.regions[i]
		}
	}
	return nil
}

// microContract computes one call of package asm's convolution contract
// (restore nil) or fused restore contract, with its rows and edges parts,
// as the package comment writes them (byte offsets from the Params'
// pointers), accumulating in float64. The one liberty: the lane loop is
// innermost in the sums, so an input float is loaded once for the b lanes
// it feeds; each lane still adds the same products in the contract's
// order.
func microContract(p *asm.Params, b, lanes int, restore *asm.RestoreKernel, m *microMem) {
	rows := max(p.Rows, 1)
	acc := make([]float64, b)
	for r := 0; r < rows; r++ {
		src := unsafe.Add(p.Src, r*p.SrcRows)
		dst := unsafe.Add(p.Dst, r*p.DstRows)
		var res unsafe.Pointer
		if p.Res != nil {
			res = unsafe.Add(p.Res, r*p.DstRows)
		}
		for o := 0; o < p.OCB; o++ {
			for x := 0; x < p.Pix; x++ {
				for lane := 0; lane < b; lane++ {
					acc[lane] = m.load(p.Bias, (o*b+lane)*4)
				}
				if restore == nil {
					microConvSum(p, b, lanes, src, o, x, r == 0, r == rows-1, acc, m)
				} else {
					microRestoreSum(p, b, restore.K, restore.Pad, src, o, x, acc, m)
				}
				for lane := 0; lane < b; lane++ {
					if res != nil {
						acc[lane] += m.load(res, o*p.DstOCB+x*p.DstPix+lane*4)
					}
					if p.ReLU != 0 && acc[lane] < 0 {
						acc[lane] = 0
					}
					m.store(dst, o*p.DstOCB+x*p.DstPix+lane*4, acc[lane])
				}
			}
		}
	}
}

// microConvSum adds the convolution contract's sums for output pixel x of
// block o to acc (one per lane), over lanes input floats a tap (b, or 1
// for the stem contract). With EdgeL the contract's Src is Src - SrcTap
// and pixel 0 skips tap 0; with EdgeR pixel Pix-1 skips tap KW-1. With
// EdgeT it is also Src - EdgeT*SrcRow, and the call's first row (first)
// skips tap rows kh < EdgeT; with EdgeB its last row (last) skips tap
// rows kh >= KH-EdgeB.
func microConvSum(p *asm.Params, b, lanes int, src unsafe.Pointer, o, x int, first, last bool, acc []float64, m *microMem) {
	base := 0 // the contract's Src - src, in bytes (never read where negative)
	if p.EdgeL != 0 {
		base -= p.SrcTap
	}
	base -= p.EdgeT * p.SrcRow
	for c := 0; c < p.ICB; c++ {
		for kh := 0; kh < p.KH; kh++ {
			if first && kh < p.EdgeT || last && kh >= p.KH-p.EdgeB {
				continue
			}
			for kw := 0; kw < p.KW; kw++ {
				if p.EdgeL != 0 && x == 0 && kw == 0 || p.EdgeR != 0 && x == p.Pix-1 && kw == p.KW-1 {
					continue
				}
				for i := 0; i < lanes; i++ {
					v := m.load(src, base+x*p.SrcPix+c*p.SrcICB+kh*p.SrcRow+kw*p.SrcTap+i*4)
					for lane := 0; lane < b; lane++ {
						acc[lane] += v * m.load(p.Wei, o*p.WeiOCB+c*p.WeiICB+kh*p.WeiRow+kw*lanes*b*4+i*b*4+lane*4)
					}
				}
			}
		}
	}
}

// microRestoreSum adds the fused restore contract's sums for output pixel
// x of block o to acc. With EdgeL, Src is one column right of the
// contract's and pair 0 skips its taps at e = EMin; with EdgeR the last
// pair skips those at e = EMax.
func microRestoreSum(p *asm.Params, b, k, pad int, src unsafe.Pointer, o, x int, acc []float64, m *microMem) {
	emin, emax := asm.RestoreSpan(k, pad)
	if p.EdgeL != 0 {
		src = unsafe.Add(src, -b*4)
	}
	j, q := x/2, x%2
	for c := 0; c < p.ICB; c++ {
		for kh := 0; kh < p.KH; kh++ {
			for kw := 0; kw < k; kw++ {
				d, ok := asm.RestoreTap(q, pad, kw)
				if !ok {
					continue
				}
				if p.EdgeL != 0 && j == 0 && d == emin || p.EdgeR != 0 && j == (p.Pix-1)/2 && d == emax {
					continue
				}
				e := d - emin
				for i := 0; i < b; i++ {
					v := m.load(src, (j+e)*b*4+c*p.SrcICB+kh*p.SrcRow+i*4)
					for lane := 0; lane < b; lane++ {
						acc[lane] += v * m.load(p.Wei, o*p.WeiOCB+c*p.WeiICB+kh*p.WeiRow+kw*b*b*4+i*b*4+lane*4)
					}
				}
			}
		}
	}
}

// terms is the number of products in one output's sum, for the tolerance.
func (c microCase) terms() int { return c.icb * c.kh * c.kw * c.lanes() }

// check runs the case on kernel k and fails t on any difference from the
// contract (see the tester's comment above).
func (c microCase) check(t *testing.T, r *rand.Rand, k microkernel) {
	t.Helper()
	b, n, li := c.b, max(c.rows, 1), c.lanes() // li: input floats a pixel
	// Input: per input block, per output row, kh rows of iw columns and a
	// spare row; the contract's column 0 is column 1 of a row, so a
	// kernel reading left of it, right of its last column or below its
	// last row reads a float the contract does not.
	var iw int
	if c.restore != nil {
		emin, emax := asm.RestoreSpan(c.restore.K, c.restore.Pad)
		iw = 1 + (c.pix-1)/2 + emax - emin + 1 + 1
	} else {
		iw = 1 + (c.pix-1)*c.sp + c.kw + 1
	}
	srcRows := (c.kh + 1) * iw * li // floats from one output row's input rows to the next's
	src := newMicroBuf(c.icb * n * srcRows)
	wei := newMicroBuf(c.ocb * c.icb * c.kh * c.kw * li * b)
	bias := newMicroBuf(c.ocb * b)
	// Output: per output block, per row, ow pixels and a 3-pixel gap.
	ow := (c.pix-1)*c.dp + 1
	dstRows := (ow + 3) * b
	size := c.ocb * n * dstRows
	for _, buf := range []microBuf{src, wei, bias} {
		for i := range buf.body {
			buf.body[i] = float32(r.Float64()*2 - 1)
		}
	}
	// init is the output buffer before the call: guardVal everywhere but
	// for an in-place residual, which the body holds.
	init := newMicroBuf(size)
	for i := range init.all {
		init.all[i] = guardVal
	}
	var res microBuf
	switch {
	case c.resInPlace:
		for i := range init.body {
			init.body[i] = float32(r.Float64()*2 - 1)
		}
	case c.res:
		res = newMicroBuf(size)
		for i := range res.body {
			res.body[i] = float32(r.Float64()*2 - 1)
		}
	}
	want := newMicroBuf(size)
	copy(want.all, init.all)

	params := func(dst microBuf) *asm.Params {
		s := 1 + c.edgeL  // column of pixel 0's tap 0, one right under EdgeL
		s += c.edgeT * iw // and EdgeT rows down
		p := &asm.Params{
			Src: src.at(s * li), Wei: wei.at(0), Dst: dst.at(0), Bias: bias.at(0),
			Pix: c.pix, OCB: c.ocb, ICB: c.icb, KH: c.kh, KW: c.kw,
			SrcICB: n * srcRows * 4, SrcRow: iw * li * 4, SrcTap: li * 4, SrcPix: c.sp * li * 4,
			WeiOCB: c.icb * c.kh * c.kw * li * b * 4, WeiICB: c.kh * c.kw * li * b * 4, WeiRow: c.kw * li * b * 4,
			DstOCB: n * dstRows * 4, DstPix: c.dp * b * 4,
			EdgeL: c.edgeL, EdgeR: c.edgeR, EdgeT: c.edgeT, EdgeB: c.edgeB,
		}
		if c.rows > 0 {
			p.Rows, p.SrcRows, p.DstRows = c.rows, srcRows*4, dstRows*4
		}
		switch {
		case c.resInPlace:
			p.Res = p.Dst
		case c.res:
			p.Res = res.at(0)
		}
		if c.relu {
			p.ReLU = 1
		}
		return p
	}

	// The operands the contract may read, by name, and the output.
	type operand struct {
		name string
		buf  microBuf
	}
	inputs := []operand{{"src", src}, {"wei", wei}, {"bias", bias}}
	if c.res && !c.resInPlace {
		inputs = append(inputs, operand{"res", res})
	}
	m := &microMem{t: t}
	for _, in := range inputs {
		m.add(in.name, in.buf.all)
	}
	m.add("dst", want.all)
	microContract(params(want), b, li, c.restore, m)

	// Poison what the contract does not read, keep the inputs to check
	// them after the call, and poison every output float it writes.
	saved := make([][]float32, len(inputs))
	for j, in := range inputs {
		for i, read := range m.region(in.name).touched {
			if !read {
				in.buf.all[i] = microPoison
			}
		}
		saved[j] = append([]float32(nil), in.buf.all...)
	}
	written := m.region("dst").touched
	got := newMicroBuf(size)
	fresh := func() {
		copy(got.all, init.all)
		if !c.resInPlace {
			for i, w := range written {
				if w {
					got.all[i] = microPoison
				}
			}
		}
	}
	fresh()
	p := params(got)
	k(p)
	if p.Pf != 0 {
		t.Fatalf("%v: Pf = %#x after a call without a prefetch range, want 0", c, p.Pf)
	}
	// where names output float i (of got.all) by block, row, pixel and
	// lane, or as a guard.
	where := func(i int) string {
		i -= microGuard
		if i < 0 || i >= size {
			return fmt.Sprintf("guard float %d", i)
		}
		blk, rest := i/(n*dstRows), i%(n*dstRows)
		return fmt.Sprintf("output block %d row %d pixel %d lane %d", blk, rest/dstRows, rest%dstRows/b, rest%b)
	}
	terms := float64(c.terms())
	for i := range got.all {
		gv, wv := float64(got.all[i]), float64(want.all[i])
		if !written[i] {
			if math.Float32bits(got.all[i]) != math.Float32bits(init.all[i]) {
				t.Fatalf("%v: %s (not the contract's) = %v, want %v untouched", c, where(i), gv, init.all[i])
			}
			continue
		}
		if math.IsNaN(gv) || math.IsNaN(wv) || math.Abs(gv-wv) > microTol*(math.Abs(wv)+math.Sqrt(terms)) {
			t.Fatalf("%v: %s = %v, contract %v", c, where(i), gv, wv)
		}
	}
	for j, in := range inputs {
		for i, v := range in.buf.all {
			if math.Float32bits(v) != math.Float32bits(saved[j][i]) {
				t.Fatalf("%v: float %d of input %s written: %v", c, i-microGuard, in.name, v)
			}
		}
	}
	if c.prefetch {
		c.checkPrefetch(t, k, params, got, fresh, where)
	}
}

// checkPrefetch calls k again with a prefetch range (the driver's PfEnd
// convention, see package asm) and checks that
//   - the output is bit for bit the output without one (the prefetch code,
//     which steps from one block's lines to the next by PfOCB, clobbers
//     no live register);
//   - Pf moves on by PfLines lines a tap step: at least one pixel block's
//     steps a row, at most one pixel's;
//   - Pf stops at PfEnd, which a kernel that ignored PfEnd would pass.
func (c microCase) checkPrefetch(t *testing.T, k microkernel, params func(microBuf) *asm.Params, got microBuf, fresh func(), where func(int) string) {
	t.Helper()
	first := append([]float32(nil), got.all...)
	pfBuf := make([]float32, 1<<16)
	base := uintptr(unsafe.Pointer(&pfBuf[0]))
	const group = asm.PfLines * 64
	const pfOCB = 4096 // the blocks' heads a call's lines name (driver: the next unit's WeiOCB)
	call := func(pfEnd uintptr) uintptr {
		fresh()
		p := params(got)
		p.Pf, p.PfEnd, p.PfOCB = base, pfEnd, pfOCB
		k(p)
		return p.Pf
	}
	pf := call(base + uintptr(len(pfBuf)*4-(c.ocb-1)*pfOCB-(group-1)))
	for i := range got.all {
		if math.Float32bits(got.all[i]) != math.Float32bits(first[i]) {
			t.Fatalf("%v: %s = %v with a prefetch range, %v without", c, where(i), got.all[i], first[i])
		}
	}
	steps := max(c.rows, 1) * c.icb * c.kh * c.kw // tap steps of one pixel block a row
	least := steps
	if c.tile {
		least = (max(c.rows, 1) + 2) / 3 * c.icb * c.kh * c.kw // one block of up to three rows
	}
	if adv := int(pf - base); adv%group != 0 || adv < least*group || adv > c.pix*steps*group {
		t.Fatalf("%v: Pf moved %d bytes, want a multiple of %d in [%d, %d]", c, adv, group, least*group, c.pix*steps*group)
	}
	if pf = call(base + 3*group - (group - 1)); pf != base+3*group {
		t.Fatalf("%v: Pf moved %d bytes through a 3-step range, want %d", c, int(pf-base), 3*group)
	}
	runtime.KeepAlive(pfBuf)
}
