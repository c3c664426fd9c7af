package main

import (
	"bytes"
	"fmt"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/gen/internal/caps"
	"github.com/sbconv/sbconv/gen/internal/emit"
)

const (
	block    = 8         // channels per block: two 4-lane registers
	vecBytes = block * 4 // bytes of one pixel's channel block
	tapBytes = block * block * 4
)

// convPlan is the register plan of one convolution kernel: ocb output
// channel blocks, urW pixels a step (see the package comment).
type convPlan struct{ ocb, urW int }

// convPlans: output channel blocks -> pixels per step. Both have at least
// 16 accumulators and at most 0.26 128-bit loads per FMLA; a third block
// (urW 3) would cost 0.375, and the driver splits a layer's blocks evenly
// into groups of at most NEONMaxOCB, so 2 keeps every call of a layer with
// an even block count on the 20-accumulator plan.
var convPlans = []convPlan{{ocb: 1, urW: 8}, {ocb: 2, urW: 5}}

const (
	numVRegs      = 32
	minAccs       = 8 // FMLA latency 4 cycles x 2 pipes
	maxWeiCursors = 4 // weight cursors R6-R9
)

func (pl convPlan) acc(o, j, h int) vreg { return v(2*(pl.urW*o+j) + h) }
func (pl convPlan) in(j int) vreg        { return v(2*pl.urW*pl.ocb + j) }
func (pl convPlan) wei(o, h int) vreg    { return v(2*pl.urW*pl.ocb + pl.urW + 2*o + h) }
func (pl convPlan) accs() int            { return 2 * pl.urW * pl.ocb }
func (pl convPlan) regs() int            { return pl.accs() + pl.urW + 2*pl.ocb }

// check asserts the register budget.
func (pl convPlan) check() error {
	switch {
	case pl.ocb < 1 || pl.ocb > maxWeiCursors:
		return fmt.Errorf("ocb %d: want 1..%d (one weight cursor each)", pl.ocb, maxWeiCursors)
	case pl.urW < 1:
		return fmt.Errorf("urW %d: want >= 1", pl.urW)
	case pl.regs() > numVRegs:
		return fmt.Errorf("register budget: %d accumulators + %d inputs + %d weights = %d > %d vector registers",
			pl.accs(), pl.urW, 2*pl.ocb, pl.regs(), numVRegs)
	case pl.accs() < minAccs:
		return fmt.Errorf("%d accumulators: fewer than the %d independent FMLA chains that hide the latency", pl.accs(), minAccs)
	}
	return nil
}

// The pixel strides generated, gen/x86's: input strides 1, and the
// reduce of a spatial-bottleneck block at rate r = 2, 3, 4, stride r, or
// r*2 at a stage entry (2, 4; 3, 6; 4, 8); output strides 1, and one
// phase of a stride-r transposed convolution, the restore at rate r (2,
// 3, 4).
var (
	srcStrides = []int{1, 2, 3, 4, 6, 8} // input pixel strides, in pixels
	dstStrides = []int{1, 2, 3, 4}       // output pixel strides, in pixels
)

// used reports whether the driver ever asks for input pixel stride s with
// output pixel stride d: a convolution writes every pixel (d = 1) and a
// transposed-convolution phase reads every pixel (s = 1), so no pair
// with both s > 1 and d > 1 occurs, and none is generated (9 of the 24
// pairs of srcStrides x dstStrides are).
func used(s, d int) bool { return s == 1 || d == 1 }

// General-purpose register roles. Every register Go arm64 assembly lets
// a kernel use has one (R0-R26 less R18; TestRegisterRoles checks that no
// two roles share one): ICB and ReLU are read from Params once a block
// instead of being kept, which frees R24 and R25 for the row loop and the
// edge flags.
var (
	rParams    = x(0)  // *Params
	rSrcBase   = x(1)  // input of the current pixel group
	rDst       = x(2)  // output of the current pixel group
	rResDelta  = x(3)  // Res - Dst in bytes (the residual is addressed through the output)
	rPix       = x(4)  // pixels left
	rSrc       = x(5)  // input cursor in the reduction loops
	rICB       = x(10) // input-block counter
	rKH        = x(11) // kh counter; output cursor in the epilogue
	rKW        = x(12) // kw counter; residual cursor in the epilogue
	rWeiOCB    = x(13) // WeiOCB
	rDstOCB    = x(14) // DstOCB
	rSrcTap    = x(15) // SrcTap
	rSrcRowAdv = x(16) // SrcRow - KW*SrcTap: from past a row's taps to the next row
	rRes       = x(17) // Res (zero: no residual)
	rWeiRowAdv = x(19) // WeiRow - KW*tapBytes
	rSrcICBAdv = x(20) // SrcICB - KH*SrcRow (pointwise: SrcICB)
	rWeiICBAdv = x(21) // WeiICB - KH*WeiRow (pointwise: WeiICB)
	rKHn       = x(22) // KH
	rKWn       = x(23) // KW
	rRow       = x(24) // row of the call, 0 .. Rows-1
	rEdge      = x(25) // edge flags of the current block: bit 0 skip pixel 0's first tap, bit 1 pixel t-1's last
	rTmp       = x(26) // scratch
)

// rWei is the weight cursor of output block o.
func rWei(o int) gp { return x(6 + o) }

// convFamily is the direct-convolution microkernels of the asm contract.
type convFamily struct{}

func convName(ocb, s, d int, pointwise bool) string {
	if pointwise {
		return fmt.Sprintf("NEONConv1x1O%dSrc%dDst%d", ocb, s, d)
	}
	return fmt.Sprintf("NEONConvO%dSrc%dDst%d", ocb, s, d)
}

func (convFamily) emit() ([]text, error) {
	var ks []text
	for _, pw := range []bool{false, true} {
		for _, pl := range convPlans {
			if err := pl.check(); err != nil {
				return nil, fmt.Errorf("conv plan ocb=%d urW=%d: %w", pl.ocb, pl.urW, err)
			}
			for _, s := range srcStrides {
				for _, d := range dstStrides {
					if used(s, d) {
						ks = append(ks, convKernel(pl, s, d, pw))
					}
				}
			}
		}
	}
	return ks, nil
}

// kernel is one convolution kernel being emitted.
type kernel struct {
	p         *printer
	name      string
	pl        convPlan
	s, d      int
	pointwise bool
}

// convKernel returns the variant for plan pl, input pixel stride s, output
// pixel stride d (in pixels), general or pointwise.
func convKernel(pl convPlan, s, d int, pointwise bool) text {
	k := &kernel{name: convName(pl.ocb, s, d, pointwise), pl: pl, s: s, d: d, pointwise: pointwise}
	window, kind := "Pix, ICB, KH, KW >= 1", caps.Conv
	if pointwise {
		window, kind = "Pix, ICB >= 1 and KH = KW = 1 (a pointwise window: one loop over input blocks)", caps.Conv1x1
	}
	return text{
		name: k.name, kind: kind, sig: "p *Params", argSize: 8,
		doc: []string{
			fmt.Sprintf("%s is the NEON microkernel for %d output channel block(s), input pixel", k.name, pl.ocb),
			fmt.Sprintf("stride %d and output pixel stride %d (SrcPix = %d, DstPix = %d bytes), %d pixels a step.", s, d, s*vecBytes, d*vecBytes, pl.urW),
			"It computes the loop written out in the package comment, with OCB fixed",
			fmt.Sprintf("at %d, block 8, and %s.", pl.ocb, window),
		},
		emit: func(p *printer) { k.p = p; k.emit() },
	}
}

func (k *kernel) label(s string) string { return k.name + "_" + s }

func (k *kernel) emit() {
	p, pl := k.p, k.pl
	callInvariants(p)
	if k.pointwise {
		p.op("MOVD", mem(asm.OffSrcICB, rParams), rSrcICBAdv)
		p.op("MOVD", mem(asm.OffWeiICB, rParams), rWeiICBAdv)
	} else {
		// Cursor advances between rows and input blocks, computed once.
		p.op("MOVD", mem(asm.OffKH, rParams), rKHn)
		p.op("MOVD", mem(asm.OffKW, rParams), rKWn)
		p.op("MOVD", mem(asm.OffSrcTap, rParams), rSrcTap)
		p.op("MOVD", mem(asm.OffSrcRow, rParams), rSrcRowAdv)
		p.op("MUL", rKWn, rSrcTap, rTmp)
		p.op("SUB", rTmp, rSrcRowAdv, rSrcRowAdv)
		p.op("MOVD", mem(asm.OffWeiRow, rParams), rWeiRowAdv)
		p.op("LSL", "$8", rKWn, rTmp) // KW * tapBytes
		p.op("SUB", rTmp, rWeiRowAdv, rWeiRowAdv)
		p.op("MOVD", mem(asm.OffSrcRow, rParams), rTmp)
		p.op("MUL", rKHn, rTmp, rTmp)
		p.op("MOVD", mem(asm.OffSrcICB, rParams), rSrcICBAdv)
		p.op("SUB", rTmp, rSrcICBAdv, rSrcICBAdv)
		p.op("MOVD", mem(asm.OffWeiRow, rParams), rTmp)
		p.op("MUL", rKHn, rTmp, rTmp)
		p.op("MOVD", mem(asm.OffWeiICB, rParams), rWeiICBAdv)
		p.op("SUB", rTmp, rWeiICBAdv, rWeiICBAdv)
	}
	rowStart(p, k.label, !k.pointwise)

	// Pixel loop: whole urW steps while at least 2*urW pixels are left,
	// then the rest in one block (<= urW) or two near-equal blocks, so no
	// call ends in a sliver with too few accumulator chains to hide the
	// FMLA latency (9 pixels at urW 8 run as 5+4, not 8+1). The same loop
	// as gen/x86's.
	pixelLoop(p, k.label, pl.urW, pl.urW, func() {
		p.op("ADD", "$1", rPix, rTmp) // urW < pix < 2*urW: a block of ceil(pix/2)
		p.op("LSR", "$1", rTmp)
	}, k.emitBlock, func(t int) int { return t * k.s * vecBytes }, func(t int) int { return t * k.d * vecBytes })
}

// pixelLoop emits the loop over a row's Pix pixels and closes the row
// loop (rowEnd): whole blocks of step pixels while 2*step or more are
// left, then the rest as one block (at most maxPix pixels) or, above
// maxPix, two: split leaves the first one's size in rTmp, the second is
// what remains. block(t) emits a block of t pixels; srcBytes(t) and
// dstBytes(t) are how far one moves the input base and Dst.
func pixelLoop(p *printer, label func(string) string, step, maxPix int, split func(), block func(t int), srcBytes, dstBytes func(t int) int) {
	p.label(label("loop"))
	p.op("CMP", fmt.Sprintf("$%d", 2*step), rPix)
	p.op("BGE", label(fmt.Sprintf("blk%d", step)))
	p.op("CMP", fmt.Sprintf("$%d", maxPix), rPix)
	p.op("BLE", label("rest"))
	split()
	p.op("B", label("dispatch"))
	p.label(label("rest"))
	p.op("CBZ", rPix, label("done"))
	p.op("MOVD", rPix, rTmp)
	p.label(label("dispatch"))
	for t := maxPix; t >= 1; t-- {
		p.op("CMP", fmt.Sprintf("$%d", t), rTmp)
		p.op("BEQ", label(fmt.Sprintf("blk%d", t)))
	}
	p.op("B", label("done")) // unreachable: 1 <= t <= maxPix
	for t := maxPix; t >= 1; t-- {
		p.label(label(fmt.Sprintf("blk%d", t)))
		block(t)
		p.addImm(srcBytes(t), rSrcBase)
		p.addImm(dstBytes(t), rDst)
		p.op("SUB", fmt.Sprintf("$%d", t), rPix)
		p.op("B", label("loop"))
	}
	rowEnd(p, label)
}

// callInvariants loads what every kernel keeps in registers for the whole
// call: the residual's distance from the output (the same for every row,
// both moving by DstRows) and the output-block strides.
func callInvariants(p *printer) {
	p.op("MOVD", "p+0(FP)", rParams)
	p.op("MOVD", mem(asm.OffDst, rParams), rDst)
	p.op("MOVD", mem(asm.OffRes, rParams), rRes)
	p.op("SUB", rDst, rRes, rResDelta)
	p.op("MOVD", mem(asm.OffWeiOCB, rParams), rWeiOCB)
	p.op("MOVD", mem(asm.OffDstOCB, rParams), rDstOCB)
}

// rowStart opens the loop over the call's Rows rows (package asm, "Rows";
// 0 is read as 1; rowEnd closes it): row rRow's input, output and pixel
// count, computed from Params each row. With edges (the kernel takes the
// edge flags: the general convolutions), an EdgeL call's Src is pixel 0's
// tap (0, 1), so the row's base goes one tap back to the contract's Src;
// pixel 0 never reads that tap.
func rowStart(p *printer, label func(string) string, edges bool) {
	emitted.Now().Rows, emitted.Now().Edges = true, edges
	p.op("MOVD", "ZR", rRow)
	p.label(label("row"))
	p.op("MOVD", mem(asm.OffSrcRows, rParams), rSrcBase)
	p.op("MUL", rRow, rSrcBase, rSrcBase)
	p.op("MOVD", mem(asm.OffSrc, rParams), rTmp)
	p.op("ADD", rTmp, rSrcBase)
	p.op("MOVD", mem(asm.OffDstRows, rParams), rDst)
	p.op("MUL", rRow, rDst, rDst)
	p.op("MOVD", mem(asm.OffDst, rParams), rTmp)
	p.op("ADD", rTmp, rDst)
	p.op("MOVD", mem(asm.OffPix, rParams), rPix)
	if edges {
		p.op("MOVD", mem(asm.OffEdgeL, rParams), rTmp)
		p.op("CBZ", rTmp, label("noedge"))
		p.op("SUB", rSrcTap, rSrcBase)
		p.label(label("noedge"))
	}
}

// rowEnd closes the pixel loop (its done label) and the row loop: the next
// row while fewer than Rows are done, else return.
func rowEnd(p *printer, label func(string) string) {
	p.label(label("done"))
	p.op("ADD", "$1", rRow)
	p.op("MOVD", mem(asm.OffRows, rParams), rTmp)
	p.op("CMP", rTmp, rRow)
	p.op("BLT", label("row"))
	p.op("RET")
}

// emitBlock emits the whole reduction and epilogue for t pixels (t <= urW).
func (k *kernel) emitBlock(t int) {
	p, pl := k.p, k.pl
	id := fmt.Sprintf("t%d_", t)
	p.comment("%d pixel(s) x %d output block(s): accumulators start at the bias", t, pl.ocb)
	p.op("MOVD", mem(asm.OffBias, rParams), rTmp)
	for o := 0; o < pl.ocb; o++ {
		p.ldpq(o*vecBytes, rTmp, pl.acc(o, 0, 0), pl.acc(o, 0, 1))
	}
	sets := k.sets(t)
	for o := 0; o < pl.ocb; o++ {
		for j := 1; j < t; j++ {
			for h := 0; h < 2; h++ {
				p.vmov(pl.acc(o, 0, h), pl.acc(o, j, h))
			}
		}
		for j := t; j < t*sets; j++ { // the extra sets (see sets) start at zero
			for h := 0; h < 2; h++ {
				p.vzero(pl.acc(o, j, h))
			}
		}
	}
	if !k.pointwise {
		if !emitted.Now().Edges {
			panic("edge flags tested in a kernel whose rowStart does not take them")
		}
		// Edge flags: bit 0 when this block starts the row and EdgeL,
		// bit 1 when it ends the row and EdgeR.
		p.op("MOVD", "ZR", rEdge)
		p.op("MOVD", mem(asm.OffPix, rParams), rTmp)
		p.op("CMP", rTmp, rPix)
		p.op("BNE", k.label(id+"notleft"))
		p.op("MOVD", mem(asm.OffEdgeL, rParams), rEdge)
		p.label(k.label(id + "notleft"))
		p.op("CMP", fmt.Sprintf("$%d", t), rPix)
		p.op("BNE", k.label(id+"notright"))
		p.op("MOVD", mem(asm.OffEdgeR, rParams), rTmp)
		p.op("ORR", rTmp.String()+"<<1", rEdge)
		p.label(k.label(id + "notright"))
	}
	p.op("MOVD", rSrcBase, rSrc)
	p.op("MOVD", mem(asm.OffWei, rParams), rWei(0))
	for o := 1; o < pl.ocb; o++ {
		p.op("ADD", rWeiOCB, rWei(o-1), rWei(o))
	}
	p.op("MOVD", mem(asm.OffICB, rParams), rICB)
	p.label(k.label(id + "icb"))
	if k.pointwise {
		k.step(t, -1)
		p.op("ADD", rSrcICBAdv, rSrc)
		for o := 0; o < pl.ocb; o++ {
			p.op("ADD", rWeiICBAdv, rWei(o))
		}
		p.op("SUBS", "$1", rICB)
		p.op("BNE", k.label(id+"icb"))
	} else {
		p.op("MOVD", rKHn, rKH)
		p.label(k.label(id + "kh"))
		p.op("MOVD", rKWn, rKW)
		p.label(k.label(id + "kw"))
		// A row's edge pixel skips the tap over the padding: the first
		// tap (rKW = KW) of pixel 0 with bit 0 of rEdge, the last (rKW =
		// 1) of pixel t-1 with bit 1. KW >= 2 wherever a flag is set, so
		// the two are different iterations. A block with no flag (every
		// block but a row's first and last) pays one CBZ a tap.
		p.op("CBZ", rEdge, k.label(id+"full"))
		p.op("CMP", rKWn, rKW)
		p.op("BNE", k.label(id+"notfirst"))
		p.op("TBZ", "$0", rEdge, k.label(id+"notfirst"))
		k.step(t, 0)
		p.op("B", k.label(id+"next"))
		p.label(k.label(id + "notfirst"))
		p.op("CMP", "$1", rKW)
		p.op("BNE", k.label(id+"full"))
		p.op("TBZ", "$1", rEdge, k.label(id+"full"))
		k.step(t, t-1)
		p.op("B", k.label(id+"next"))
		p.label(k.label(id + "full"))
		k.step(t, -1)
		p.label(k.label(id + "next"))
		p.op("ADD", rSrcTap, rSrc)
		for o := 0; o < pl.ocb; o++ {
			p.op("ADD", fmt.Sprintf("$%d", tapBytes), rWei(o))
		}
		p.op("SUBS", "$1", rKW)
		p.op("BNE", k.label(id+"kw"))
		p.op("ADD", rSrcRowAdv, rSrc)
		for o := 0; o < pl.ocb; o++ {
			p.op("ADD", rWeiRowAdv, rWei(o))
		}
		p.op("SUBS", "$1", rKH)
		p.op("BNE", k.label(id+"kh"))
		p.op("ADD", rSrcICBAdv, rSrc)
		for o := 0; o < pl.ocb; o++ {
			p.op("ADD", rWeiICBAdv, rWei(o))
		}
		p.op("SUBS", "$1", rICB)
		p.op("BNE", k.label(id+"icb"))
	}

	// The extra sets summed into the first; then the epilogue: the input
	// and weight registers are free now, pairs of them take the residual.
	for j := t; j < t*sets; j++ {
		for o := 0; o < pl.ocb; o++ {
			for h := 0; h < 2; h++ {
				p.fadd(pl.acc(o, j%t, h), pl.acc(o, j%t, h), pl.acc(o, j, h))
			}
		}
	}
	epilogue(p, func(s string) string { return k.label(id + s) }, pl.ocb, t, k.d*vecBytes, pl.acc, pl.in, (pl.urW+2*pl.ocb)/2)
}

// step emits one tap: for each half of the 8 input channels, the t input
// vectors, then per channel the weight pair of each output block and
// 2*t*ocb by-element FMLAs taking the channel from its input lane. Pixel
// skip (0 or t-1; -1 for none) is left out, its input neither loaded nor
// used: the tap of an edge pixel that lies in the padding. It needs no
// register the full step does not (a lone pixel's skip step is empty,
// only its weights' cursors move on).
func (k *kernel) step(t, skip int) {
	p, pl := k.p, k.pl
	if skip >= 0 && t == 1 {
		return
	}
	sets := k.sets(t)
	for h := 0; h < 2; h++ {
		for j := 0; j < t; j++ {
			if j != skip {
				p.ldrq(j*k.s*vecBytes+h*16, rSrc, pl.in(j))
			}
		}
		for lane := 0; lane < 4; lane++ {
			i := 4*h + lane
			set := t * (i % sets) // input channel i's accumulators: pixel set+j's
			for o := 0; o < pl.ocb; o++ {
				p.ldpq(i*vecBytes, rWei(o), pl.wei(o, 0), pl.wei(o, 1))
			}
			for j := 0; j < t; j++ {
				if j == skip {
					continue
				}
				for o := 0; o < pl.ocb; o++ {
					for hh := 0; hh < 2; hh++ {
						p.fmlaElem(pl.acc(o, set+j, hh), pl.wei(o, hh), pl.in(j), lane)
					}
				}
			}
		}
	}
}

// minChains is how many independent FMLA chains keep a core's FMA pipes
// busy: a latency of 4 cycles times 2 pipes (Neoverse N1, V1 and V2).
const minChains = 8

// sets returns how many accumulator sets a block of t pixels sums into,
// as in gen/x86: 1 where its 2*t*ocb accumulators are chains enough,
// else as many as reach minChains and fit in the accumulators the
// plan's urW-t missing pixels leave free, at most one an input channel.
// Input channel i goes to set i % sets, and the sets are added up before
// the epilogue.
func (k *kernel) sets(t int) int {
	n := 2 * t * k.pl.ocb
	return max(1, min((minChains+n-1)/n, k.pl.urW/t, 8))
}

// maxConvOCB is the most output blocks a convolution kernel takes.
func maxConvOCB() int {
	maxOCB := 0
	for _, pl := range convPlans {
		maxOCB = max(maxOCB, pl.ocb)
	}
	return maxOCB
}

// table writes the Go lookup table of the convolution kernels.
func (convFamily) table(b *bytes.Buffer) {
	maxOCB := maxConvOCB()
	fmt.Fprintf(b, "\n// NEONMaxOCB is the most output channel blocks one NEON microkernel call takes.\n")
	fmt.Fprintf(b, "const NEONMaxOCB = %d\n\n", maxOCB)
	urw := make([]int, maxOCB)
	for o := 1; o <= maxOCB; o++ {
		urw[o-1] = planFor(o).urW
	}
	emit.ConvTables(b, "NEON", urw, srcStrides, dstStrides, func(o, s, d int, pw bool) string {
		if !used(s, d) {
			return ""
		}
		return convName(o, s, d, pw)
	})
}

// planFor returns the plan for ocb output blocks; every count up to the
// largest must have one, so the table has no holes.
func planFor(ocb int) convPlan {
	for _, pl := range convPlans {
		if pl.ocb == ocb {
			return pl
		}
	}
	panic(fmt.Sprintf("no conv plan for %d output blocks", ocb))
}
