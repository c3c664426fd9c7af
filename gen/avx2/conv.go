package main

import (
	"bytes"
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/gen/internal/caps"
	"github.com/sbconv/sbconv/gen/internal/emit"
)

// The convolution family: the kernels of package asm's convolution
// contract (see the package comment for the variants and the register plan).

// convPlan is the register plan of the convolution kernels for ocb output
// channel blocks: urW pixels a step (see the package comment).
type convPlan struct{ ocb, urW int }

// convPlans are the variants generated, one per output block count from 1
// up (the table has no holes: checkPlans).
var convPlans = []convPlan{{ocb: 1, urW: 8}, {ocb: 2, urW: 6}, {ocb: 3, urW: 4}}

var (
	srcStrides = []int{1, 2, 4} // input pixel strides, in pixels
	dstStrides = []int{1, 2}    // output pixel strides, in pixels
)

// check returns an error unless the plan's registers fit: urW*ocb
// accumulators, ocb weight vectors and one broadcast in 16 ymm.
func (pl convPlan) check() error {
	if pl.ocb < 1 || pl.urW < 1 {
		return fmt.Errorf("conv plan %+v: ocb and urW must be at least 1", pl)
	}
	if need := pl.urW*pl.ocb + pl.ocb + 1; need > numVecRegs {
		return fmt.Errorf("conv plan ocb=%d urW=%d: register budget: %d accumulators + %d weights + 1 broadcast = %d > %d ymm",
			pl.ocb, pl.urW, pl.urW*pl.ocb, pl.ocb, need, numVecRegs)
	}
	return nil
}

// checkPlans checks every plan and that they are ocb 1, 2, ... in order.
func checkPlans(plans []convPlan) error {
	for i, pl := range plans {
		if pl.ocb != i+1 {
			return fmt.Errorf("conv plan %d is for %d output blocks, want %d", i, pl.ocb, i+1)
		}
		if err := pl.check(); err != nil {
			return err
		}
	}
	return nil
}

// maxConvOCB is the most output blocks a convolution kernel takes.
func maxConvOCB() int { return len(convPlans) }

// used reports whether the driver ever asks for input pixel stride s with
// output pixel stride d: a convolution writes every pixel (d = 1) and a
// transposed-convolution phase reads every pixel (s = 1), so s = d = 2
// and s = 4, d = 2 never occur and are not generated. Stride 4 is the
// 3x3 reduce of a spatial-bottleneck block at a stage entry (stride 2
// twice).
func used(s, d int) bool { return s == 1 || d == 1 }

type kernel struct {
	c              *build.Context
	name           string
	ocb, urW, s, d int
	pointwise      bool // KH = KW = 1: the reduction is one loop over input blocks
}

func kernelName(ocb, s, d int, pointwise bool) string {
	if pointwise {
		return fmt.Sprintf("AVX2Conv1x1O%dSrc%dDst%d", ocb, s, d)
	}
	return fmt.Sprintf("AVX2ConvO%dSrc%dDst%d", ocb, s, d)
}

// convFamily is the convolution kernels: every plan of convPlans at every
// stride pair the driver uses, in the general and the 1x1 form.
type convFamily struct{}

func (convFamily) emit(c *build.Context) error {
	if err := checkPlans(convPlans); err != nil {
		return err
	}
	for _, pw := range []bool{false, true} {
		for _, pl := range convPlans {
			for _, s := range srcStrides {
				for _, d := range dstStrides {
					if used(s, d) {
						convKernel(c, pl, s, d, pw)
					}
				}
			}
		}
	}
	return nil
}

// table writes AVX2URW, the stride lists and the AVX2Conv, AVX2Conv1x1
// tables with their lookup (emit.ConvTables).
func (convFamily) table(b *bytes.Buffer) {
	urw := make([]int, len(convPlans))
	for i, pl := range convPlans {
		urw[i] = pl.urW
	}
	emit.ConvTables(b, "AVX2", urw, srcStrides, dstStrides, func(o, s, d int, pw bool) string {
		if !used(s, d) {
			return ""
		}
		return kernelName(o, s, d, pw)
	})
	b.WriteString("\n")
}

// convKernel emits one variant of plan pl (checked).
func convKernel(c *build.Context, pl convPlan, s, d int, pointwise bool) {
	ocb := pl.ocb
	k := &kernel{c: c, name: kernelName(ocb, s, d, pointwise), ocb: ocb, urW: pl.urW, s: s, d: d, pointwise: pointwise}
	if pointwise {
		emitted.Begin(caps.Conv1x1)
	} else {
		emitted.Begin(caps.Conv)
	}
	c.Function(k.name)
	c.Pragma("noescape")
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(p *Params)")
	window := "Pix, ICB, KH, KW >= 1"
	if pointwise {
		window = "Pix, ICB >= 1 and KH = KW = 1 (a pointwise window: one loop over input blocks)"
	}
	c.Doc(
		fmt.Sprintf("%s is the AVX2+FMA microkernel for %d output channel block(s), input pixel", k.name, ocb),
		fmt.Sprintf("stride %d and output pixel stride %d (SrcPix = %d, DstPix = %d bytes), %d pixels a step.", s, d, s*vecBytes, d*vecBytes, k.urW),
		"It computes the loop written out in the package comment, with OCB fixed",
		fmt.Sprintf("at %d, block 8, and %s.", ocb, window),
	)

	prologue(c, k.label, !pointwise)
	c.MOVQ(field(asm.OffWeiOCB), regWeiOCB)
	// Whole urW steps while at least 2*urW pixels are left, then the rest
	// in one block (<= urW) or two near-equal blocks, so no call ends in a
	// sliver of a block with too few accumulator chains to hide the FMA
	// latency (8 pixels at urW 6 run as 4+4, not 6+2).
	pixelLoop(c, k.label, k.urW, k.urW, false, k.block,
		func(t int) int { return t * s * vecBytes }, func(t int) int { return t * d * vecBytes })
}

func (k *kernel) label(s string) string { return k.name + "_" + s }

func (k *kernel) acc(j, o int) reg.VecPhysical { return ymm(k.urW*o + j) }
func (k *kernel) wreg(o int) reg.VecPhysical   { return ymm(k.urW*k.ocb + o) }
func (k *kernel) bcast() reg.VecPhysical       { return ymm(k.urW*k.ocb + k.ocb) }

// weightAt addresses the weights of output block o, input channel i at the
// current tap: o*WeiOCB through the index register (scale 1 or 2).
func (k *kernel) weightAt(o, i int) operand.Mem {
	m := operand.Mem{Base: regWei, Disp: i * vecBytes}
	if o > 0 {
		m.Index, m.Scale = regWeiOCB, uint8(o)
	}
	return m
}

// block emits the whole reduction and epilogue for t pixels (t <= urW).
func (k *kernel) block(t int) {
	c := k.c
	id := fmt.Sprintf("t%d", t)
	c.Commentf("%d pixel(s) x %d output block(s)", t, k.ocb)

	// Accumulators start at the bias.
	c.MOVQ(field(asm.OffBias), regTmp)
	for o := 0; o < k.ocb; o++ {
		c.VMOVUPS(operand.Mem{Base: regTmp, Disp: o * vecBytes}, k.acc(0, o))
		for j := 1; j < t; j++ {
			c.VMOVAPS(k.acc(0, o), k.acc(j, o))
		}
	}

	if !k.pointwise {
		edgeFlags(c, k.label, id, t)
	}

	c.MOVQ(regSrcBase, regSrc)
	c.MOVQ(field(asm.OffWei), regWei)
	c.MOVQ(field(asm.OffICB), regICB)
	c.Label(k.label(id + "_icb"))
	if k.pointwise {
		k.step(t)
		c.ADDQ(field(asm.OffSrcICB), regSrc)
		c.ADDQ(field(asm.OffWeiICB), regWei)
		c.DECQ(regICB)
		c.JNZ(operand.LabelRef(k.label(id + "_icb")))
	} else {
		c.MOVQ(field(asm.OffKH), regKH)
		c.Label(k.label(id + "_kh"))
		c.MOVQ(field(asm.OffKW), regKW)
		c.Label(k.label(id + "_kw"))
		// A row's edge pixel skips the tap over the padding: the first
		// tap of pixel 0 (bit 0 of regEdge), the last of pixel t-1 (bit 1).
		c.TESTQ(regEdge, regEdge)
		c.JZ(operand.LabelRef(k.label(id + "_full")))
		c.CMPQ(regKW, field(asm.OffKW))
		c.JNE(operand.LabelRef(k.label(id + "_notfirst")))
		c.TESTQ(operand.U32(1), regEdge)
		c.JZ(operand.LabelRef(k.label(id + "_notfirst")))
		k.stepSkip(t, 0)
		c.JMP(operand.LabelRef(k.label(id + "_next")))
		c.Label(k.label(id + "_notfirst"))
		c.CMPQ(regKW, imm(1))
		c.JNE(operand.LabelRef(k.label(id + "_full")))
		c.TESTQ(operand.U32(2), regEdge)
		c.JZ(operand.LabelRef(k.label(id + "_full")))
		k.stepSkip(t, t-1)
		c.JMP(operand.LabelRef(k.label(id + "_next")))
		c.Label(k.label(id + "_full"))
		k.step(t)
		c.Label(k.label(id + "_next"))
		k.prefetch(id)
		c.ADDQ(imm(uint64(vecBytes)), regSrc)
		c.ADDQ(imm(uint64(tapBytes)), regWei)
		c.DECQ(regKW)
		c.JNZ(operand.LabelRef(k.label(id + "_kw")))
		// Next kernel row: back over the KW taps, on by one row.
		c.MOVQ(field(asm.OffKW), regTmp)
		c.SHLQ(imm(5), regTmp) // KW * vecBytes
		c.SUBQ(regTmp, regSrc)
		c.ADDQ(field(asm.OffSrcRow), regSrc)
		c.SHLQ(imm(3), regTmp) // KW * tapBytes
		c.SUBQ(regTmp, regWei)
		c.ADDQ(field(asm.OffWeiRow), regWei)
		c.DECQ(regKH)
		c.JNZ(operand.LabelRef(k.label(id + "_kh")))
		// Next input block: back over the KH rows, on by one block.
		nextInputBlock(c, k.label(id+"_icb"))
	}

	// Epilogue: residual, ReLU, one store per output vector.
	c.MOVQ(field(asm.OffDstOCB), regICB)
	var accs []reg.VecPhysical
	var at []func(base reg.Register) operand.Mem
	for o := 0; o < k.ocb; o++ {
		for j := 0; j < t; j++ {
			accs = append(accs, k.acc(j, o))
			at = append(at, func(base reg.Register) operand.Mem { return k.outAt(base, o, j) })
		}
	}
	epilogue(c, k.label, id, accs, at, k.wreg(0))
}

// step emits the 8 input channels of one tap: for each, ocb weight loads,
// then per pixel one broadcast and ocb FMAs.
func (k *kernel) step(t int) {
	c := k.c
	for i := 0; i < block; i++ {
		for o := 0; o < k.ocb; o++ {
			c.VMOVUPS(k.weightAt(o, i), k.wreg(o))
		}
		for j := 0; j < t; j++ {
			c.VBROADCASTSS(operand.Mem{Base: regSrc, Disp: j*k.s*vecBytes + i*4}, k.bcast())
			for o := 0; o < k.ocb; o++ {
				c.VFMADD231PS(k.wreg(o), k.bcast(), k.acc(j, o))
			}
		}
	}
}

// prefetch emits, after a tap step, the prefetch of asm.PfLines lines
// from Pf into L2 while Pf < PfEnd, and moves Pf on in the argument block
// (see package asm). On in-512x7's spatial-bottleneck block this took the
// fastest of 15 samples from 1450-1816 us to 1203-1288 us (six rounds,
// alternating builds): its 9.4 MB layers stream their weights from
// memory, and without it each output-block group's first row waited for
// them. PREFETCHT1 and T2 measured alike and T0 7-25% slower; 3 or 6
// lines a step (T1) were 5-15% slower than 4, and so were 2 or 8 (T0)
// than 4 (T0).
func (k *kernel) prefetch(id string) {
	c := k.c
	emitted.Now().Prefetch = true
	c.MOVQ(field(asm.OffPf), regTmp)
	c.CMPQ(regTmp, field(asm.OffPfEnd))
	c.JAE(operand.LabelRef(k.label(id + "_nopf")))
	for i := 0; i < asm.PfLines; i++ {
		c.PREFETCHT1(operand.Mem{Base: regTmp, Disp: 64 * i})
	}
	c.ADDQ(imm(64*asm.PfLines), field(asm.OffPf))
	c.Label(k.label(id + "_nopf"))
}

// stepSkip is step without pixel skip's broadcast and FMAs: the tap of an
// edge pixel that lies in the padding (nothing at all for a lone pixel).
func (k *kernel) stepSkip(t, skip int) {
	c := k.c
	if t == 1 {
		return
	}
	for i := 0; i < block; i++ {
		for o := 0; o < k.ocb; o++ {
			c.VMOVUPS(k.weightAt(o, i), k.wreg(o))
		}
		for j := 0; j < t; j++ {
			if j == skip {
				continue
			}
			c.VBROADCASTSS(operand.Mem{Base: regSrc, Disp: j*k.s*vecBytes + i*4}, k.bcast())
			for o := 0; o < k.ocb; o++ {
				c.VFMADD231PS(k.wreg(o), k.bcast(), k.acc(j, o))
			}
		}
	}
}

// outAt addresses output (or residual, through base) block o, pixel j:
// o*DstOCB through regICB (which holds DstOCB in the epilogue).
func (k *kernel) outAt(base reg.Register, o, j int) operand.Mem {
	m := operand.Mem{Base: base, Disp: j * k.d * vecBytes}
	if o > 0 {
		m.Index, m.Scale = regICB, uint8(o)
	}
	return m
}
