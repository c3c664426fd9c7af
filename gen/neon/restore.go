package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/gen/internal/caps"
)

// restorePlan is the register plan of one fused stride-2 restore kernel
// (the second contract of package asm): kernel width k, padding pad, ocb
// output blocks a call, up to maxPix output pixels a block (see the
// package comment). Whole steps are maxPix rounded down to even.
type restorePlan struct{ k, pad, ocb, maxPix int }

// restorePlans are the restore kernels generated: K=3, P=1 is the spatial
// bottleneck's restore; K=2, P=0 and K=4, P=1 are the usual upsampling
// layers of U-Nets and decoders. Each takes one output block a call (the
// family's N is 1): a weight vector feeds one FMLA pair per output pair of
// the block whatever the number of blocks, so weight loads per FMLA are
// 2/pixels, and one block has room for the most pixels (12, 11, 11; two
// blocks would fit 6, 6, 6 and need 0.36 loads per FMLA instead of 0.24).
// Each maxPix is the largest that fits, which TestRestorePlans checks.
var restorePlans = []restorePlan{
	{k: 2, pad: 0, ocb: 1, maxPix: 12},
	{k: 3, pad: 1, ocb: 1, maxPix: 11},
	{k: 4, pad: 1, ocb: 1, maxPix: 11},
}

func (pl restorePlan) step() int { return pl.maxPix &^ 1 }

// A feed is one FMLA pair of a tap sweep: output pixel x of the block
// reads input column col (counted from the block's column EMin).
type feed struct{ x, col int }

// sweeps returns, for a block of t output pixels, the pixels each tap kw
// reaches (in pixel order) and the number of input columns the block
// reads (0..cols-1). Output pixel x = 2j+q takes tap kw from column
// j + e - EMin when asm.RestoreTap(q, pad, kw) gives e.
func (pl restorePlan) sweeps(t int) (taps [][]feed, cols int) {
	emin, _ := asm.RestoreSpan(pl.k, pl.pad)
	taps = make([][]feed, pl.k)
	for kw := 0; kw < pl.k; kw++ {
		for x := 0; x < t; x++ {
			j, q := x/2, x%2
			if e, ok := asm.RestoreTap(q, pl.pad, kw); ok {
				col := j + e - emin
				taps[kw] = append(taps[kw], feed{x, col})
				cols = max(cols, col+1)
			}
		}
	}
	return taps, cols
}

// The registers of a block of t pixels:
//
//	V0 .. V(2*t*ocb-1)   accumulators: (block o, pixel x, half h) is V(2*(t*o+x)+h)
//	next cols            inputs: input column c's 4 channels of the current half
//	the rest, in pairs   weights: the 8 output lanes of one (tap, channel, block),
//	                     taken round robin (at least one pair)
func (pl restorePlan) acc(t, o, x, h int) vreg { return v(2*(t*o+x) + h) }
func (pl restorePlan) in(t, c int) vreg        { return v(2*t*pl.ocb + c) }

// weiPairs returns the first register and the number of weight pairs of
// a block of t pixels.
func (pl restorePlan) weiPairs(t int) (first, n int) {
	_, cols := pl.sweeps(t)
	first = 2*t*pl.ocb + cols
	return first, (numVRegs - first) / 2
}

// check asserts the register budget of every block size, and enough
// accumulator chains in a whole step.
func (pl restorePlan) check() error {
	emin, emax := asm.RestoreSpan(pl.k, pl.pad)
	switch {
	case pl.k < 2 || pl.pad < 0 || pl.pad >= pl.k || emin > 0 || emax < 0:
		return fmt.Errorf("kernel width %d, padding %d: not a restore this family builds", pl.k, pl.pad)
	case pl.ocb < 1 || pl.ocb > maxWeiCursors:
		return fmt.Errorf("ocb %d: want 1..%d (one weight cursor each)", pl.ocb, maxWeiCursors)
	case pl.step() < 2:
		return fmt.Errorf("maxPix %d: no whole output pair fits", pl.maxPix)
	case 2*pl.step()*pl.ocb < minAccs:
		return fmt.Errorf("%d accumulators in a whole step: fewer than the %d independent FMLA chains that hide the latency",
			2*pl.step()*pl.ocb, minAccs)
	}
	for t := 1; t <= pl.maxPix; t++ {
		if first, n := pl.weiPairs(t); n < 1 {
			_, cols := pl.sweeps(t)
			return fmt.Errorf("register budget at %d pixels: %d accumulators + %d input columns + 2 weights = %d > %d vector registers",
				t, 2*t*pl.ocb, cols, first+2, numVRegs)
		}
	}
	return nil
}

// loadsPerFMLA returns the 128-bit loads per FMLA of a whole step: per
// input channel, 2 per (tap, block) weight vector and a quarter of the
// input columns, against K*step*ocb FMLAs.
func (pl restorePlan) loadsPerFMLA() float64 {
	_, cols := pl.sweeps(pl.step())
	return (float64(2*pl.k*pl.ocb) + float64(cols)/4) / float64(pl.k*pl.step()*pl.ocb)
}

// restoreFamily is the fused stride-2 restore kernels.
type restoreFamily struct{}

func restoreName(k, pad, ocb int) string { return fmt.Sprintf("NEONRestoreK%dP%dO%d", k, pad, ocb) }

func (restoreFamily) emit() ([]text, error) {
	var ks []text
	for _, g := range restoreGroups() {
		for o, pl := range g {
			if pl.ocb != o+1 {
				return nil, fmt.Errorf("restore K=%d P=%d: plans for ocb 1, 2, ... in order, got ocb %d at %d", pl.k, pl.pad, pl.ocb, o+1)
			}
			if err := pl.check(); err != nil {
				return nil, fmt.Errorf("restore plan K=%d P=%d ocb=%d maxPix=%d: %w", pl.k, pl.pad, pl.ocb, pl.maxPix, err)
			}
			ks = append(ks, restoreKernel(pl))
		}
	}
	return ks, nil
}

// restoreGroups returns restorePlans grouped by (K, Pad), in order: one
// RestoreKernel each.
func restoreGroups() [][]restorePlan {
	var groups [][]restorePlan
	at := map[[2]int]int{}
	for _, pl := range restorePlans {
		kk := [2]int{pl.k, pl.pad}
		i, ok := at[kk]
		if !ok {
			i = len(groups)
			at[kk] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], pl)
	}
	return groups
}

// restore is one restore kernel being emitted.
type restore struct {
	p    *printer
	name string
	pl   restorePlan
	n    int // weight loads so far, for the round robin over pairs
}

func restoreKernel(pl restorePlan) text {
	k := &restore{name: restoreName(pl.k, pl.pad, pl.ocb), pl: pl}
	emin, emax := asm.RestoreSpan(pl.k, pl.pad)
	return text{
		name: k.name, kind: caps.Restore, sig: "p *Params", argSize: 8,
		doc: []string{
			fmt.Sprintf("%s is the NEON fused stride-2 restore kernel for a %d-wide kernel with", k.name, pl.k),
			fmt.Sprintf("padding %d (input columns %d..%d of each output pair) and %d output block(s),", pl.pad, emin, emax, pl.ocb),
			fmt.Sprintf("up to %d output pixels a block. It computes the restore loop of the package", pl.maxPix),
			fmt.Sprintf("comment with OCB = %d, block 8, KW = %d and Pix, ICB, KH >= 1.", pl.ocb, pl.k),
		},
		emit: func(p *printer) { k.p = p; k.emit() },
	}
}

func (k *restore) label(s string) string { return k.name + "_" + s }

// General-purpose registers of the restore kernels, beyond the shared
// roles of conv.go.
var (
	rSrcRow = rSrcRowAdv // SrcRow: the next kernel row
	rWeiRow = rWeiRowAdv // WeiRow
)

func (k *restore) emit() {
	p, pl := k.p, k.pl
	callInvariants(p)
	p.op("MOVD", mem(asm.OffKH, rParams), rKHn)
	// Cursor advances: a kernel row on, and from past the KH rows of an
	// input block to the next block.
	p.op("MOVD", mem(asm.OffSrcRow, rParams), rSrcRow)
	p.op("MOVD", mem(asm.OffWeiRow, rParams), rWeiRow)
	p.op("MUL", rKHn, rSrcRow, rTmp)
	p.op("MOVD", mem(asm.OffSrcICB, rParams), rSrcICBAdv)
	p.op("SUB", rTmp, rSrcICBAdv, rSrcICBAdv)
	p.op("MUL", rKHn, rWeiRow, rTmp)
	p.op("MOVD", mem(asm.OffWeiICB, rParams), rWeiICBAdv)
	p.op("SUB", rTmp, rWeiICBAdv, rWeiICBAdv)
	rowStart(p, k.label, false)

	// Pixel loop (gen/x86's restore loop): whole steps (an even number of
	// pixels) while at least two are left, then at most two blocks: an even
	// one of about half the rest, and the last, which may end on an odd
	// pixel. So only the last block of a call is odd, and every block
	// before it advances the input by exactly t/2 columns. restoreBlocks
	// is the same loop in Go, for the tests.
	step := pl.step()
	pixelLoop(p, k.label, step, pl.maxPix, func() {
		// maxPix < pix < 2*step: first the even number nearest pix/2,
		// 2*floor((pix+1)/4) (gen/x86 rounds up instead; nearest keeps
		// both blocks of 12 or more pixels at 6 or more: 13 is 6+7, not
		// 8+5).
		p.op("ADD", "$1", rPix, rTmp)
		p.op("LSR", "$2", rTmp)
		p.op("LSL", "$1", rTmp)
	}, k.emitBlock, func(t int) int { return t / 2 * vecBytes }, func(t int) int { return t * vecBytes })
}

// restoreBlocks returns the blocks the pixel loop of plan pl splits pix
// output pixels into, in order.
func restoreBlocks(pl restorePlan, pix int) []int {
	var blocks []int
	for pix > 0 {
		t := pix
		switch {
		case pix >= 2*pl.step():
			t = pl.step()
		case pix > pl.maxPix:
			t = 2 * ((pix + 1) / 4)
		}
		blocks = append(blocks, t)
		pix -= t
	}
	return blocks
}

// emitBlock emits the whole reduction and epilogue for t output pixels.
func (k *restore) emitBlock(t int) {
	p, pl := k.p, k.pl
	id := fmt.Sprintf("t%d_", t)
	p.comment("%d output pixel(s) x %d output block(s): accumulators start at the bias", t, pl.ocb)
	p.op("MOVD", mem(asm.OffBias, rParams), rTmp)
	for o := 0; o < pl.ocb; o++ {
		p.ldpq(o*vecBytes, rTmp, pl.acc(t, o, 0, 0), pl.acc(t, o, 0, 1))
	}
	for o := 0; o < pl.ocb; o++ {
		for x := 1; x < t; x++ {
			for h := 0; h < 2; h++ {
				p.vmov(pl.acc(t, o, 0, h), pl.acc(t, o, x, h))
			}
		}
	}
	p.op("MOVD", rSrcBase, rSrc)
	p.op("MOVD", mem(asm.OffWei, rParams), rWei(0))
	for o := 1; o < pl.ocb; o++ {
		p.op("ADD", rWeiOCB, rWei(o-1), rWei(o))
	}
	p.op("MOVD", mem(asm.OffICB, rParams), rICB)
	p.label(k.label(id + "icb"))
	p.op("MOVD", rKHn, rKH)
	p.label(k.label(id + "kh"))
	k.step(t)
	p.op("ADD", rSrcRow, rSrc)
	for o := 0; o < pl.ocb; o++ {
		p.op("ADD", rWeiRow, rWei(o))
	}
	p.op("SUBS", "$1", rKH)
	p.op("BNE", k.label(id+"kh"))
	p.op("ADD", rSrcICBAdv, rSrc)
	for o := 0; o < pl.ocb; o++ {
		p.op("ADD", rWeiICBAdv, rWei(o))
	}
	p.op("SUBS", "$1", rICB)
	p.op("BNE", k.label(id+"icb"))

	// Epilogue, left to right: the input and weight registers are free,
	// pairs of them take the residual.
	epilogue(p, func(s string) string { return k.label(id + s) }, pl.ocb, t, vecBytes,
		func(o, x, h int) vreg { return pl.acc(t, o, x, h) }, func(c int) vreg { return pl.in(t, c) }, (numVRegs-2*t*pl.ocb)/2)
}

// step emits one kernel row of one input block for t output pixels: for
// each half of the 8 input channels, the input columns the block reads
// (one LDR Q each), then per channel, tap by tap, the weight pair of each
// output block and the FMLA pairs of the tap's sweep, taking the channel
// from its input lane. Taps alternate parity (kw and kw+1 reach different
// output pixels), so a full sweep of t FMLAs separates two FMLAs into the
// same accumulator.
func (k *restore) step(t int) {
	p, pl := k.p, k.pl
	taps, cols := pl.sweeps(t)
	read := make([]bool, cols)
	for _, sw := range taps {
		for _, f := range sw {
			read[f.col] = true
		}
	}
	first, pairs := pl.weiPairs(t)
	for h := 0; h < 2; h++ {
		for c := 0; c < cols; c++ {
			if read[c] {
				p.ldrq(c*vecBytes+h*16, rSrc, pl.in(t, c))
			}
		}
		for lane := 0; lane < 4; lane++ {
			i := 4*h + lane
			for kw, sw := range taps {
				if len(sw) == 0 {
					continue
				}
				for o := 0; o < pl.ocb; o++ {
					w0 := v(first + 2*(k.n%pairs))
					w1 := v(first + 2*(k.n%pairs) + 1)
					k.n++
					p.ldpq(kw*tapBytes+i*vecBytes, rWei(o), w0, w1)
					for _, f := range sw {
						p.fmlaElem(pl.acc(t, o, f.x, 0), w0, pl.in(t, f.col), lane)
						p.fmlaElem(pl.acc(t, o, f.x, 1), w1, pl.in(t, f.col), lane)
					}
				}
			}
		}
	}
}

// table writes the NEONRestore list.
func (restoreFamily) table(b *bytes.Buffer) {
	fmt.Fprintf(b, "\n// NEONRestore lists the fused stride-2 restore kernels; Fn[ocb-1] takes ocb\n")
	fmt.Fprintf(b, "// output blocks a call and MaxPix[ocb-1] output pixels a block.\n")
	fmt.Fprintf(b, "var NEONRestore = []RestoreKernel{\n")
	for _, g := range restoreGroups() {
		var fns, pix []string
		for _, pl := range g {
			fns = append(fns, restoreName(pl.k, pl.pad, pl.ocb))
			pix = append(pix, fmt.Sprint(pl.maxPix))
		}
		fmt.Fprintf(b, "\t{K: %d, Pad: %d, MaxPix: []int{%s}, Fn: []func(*Params){%s}},\n",
			g[0].k, g[0].pad, strings.Join(pix, ", "), strings.Join(fns, ", "))
	}
	fmt.Fprintf(b, "}\n")
}
