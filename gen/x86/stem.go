package main

import (
	"bytes"
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/sbconv/sbconv/asm"

	"github.com/sbconv/sbconv/gen/internal/caps"
)

// The stem family (the stem contract of package asm): a network's first
// convolution read straight from its plain NCHW input, a channel of which
// is an input "block" of one float. It is the convolution kernel with one
// input lane a tap where the convolution contract has a block (kernel.lanes
// = 1): the same register plans, pixel loop, row loop and epilogue, the
// same tap and channel loops over runtime KH, KW and ICB (here the input
// channels), each tap step loading ocb weight vectors and one input float
// per pixel (broadcast) for t*ocb FMAs. No lane of a vector computes a
// padded channel or tap: ResNet's 7x7 stem over three channels is 147 tap
// steps of real FMAs, where packing channels x taps into 16-lane blocks
// computed 192 lanes for them (package block's Stem).
//
// At stride 1, where the registers hold a block's accumulators, three
// weight vectors an output block and a broadcast (one output block on
// either set), a call with KW = 3 takes a shared reduction instead
// (sharedReduction): each input column broadcast once for the three
// pixels it is a tap of. The 3x3 stem of the CIFAR ResNets (16 output
// channels, one block on AVX-512) so loads a float for three FMAs, not
// for each: on one AVX-512 core of an AMD EPYC Zen 5, ResNet-20's stem
// (3 -> 16 channels, 32x32) 6.6-6.7 -> 4.8 us a call.
//
// The input is never read outside the window: the driver copies each
// image into a zero-bordered buffer, so the kernels take no edge flags,
// and with a few KB of weights they do not prefetch. Strides: the 3x3
// stride-1 stem of the CIFAR networks and the 7x7 stride-2 one of the
// ImageNet ResNets (stemStrides); the output pixel stride is 1.
var stemStrides = []int{1, 2}

func (s *isa) stemName(ocb, src int) string { return fmt.Sprintf("%sStemO%dSrc%d", s.name, ocb, src) }

// stemFamily is <S>StemO<ocb>Src<s>, listed in the table as <S>Stem.
type stemFamily struct{}

func (stemFamily) emit(g *gen) error {
	if err := g.checkPlans(g.convPlans); err != nil {
		return err
	}
	for _, pl := range g.convPlans {
		for _, s := range stemStrides {
			g.stemKernel(pl, s)
		}
	}
	return nil
}

func (stemFamily) table(g *gen, b *bytes.Buffer) {
	fmt.Fprintf(b, "// %sStemStrides are the input pixel strides of the %s stem kernels, in\n", g.name, g.name)
	fmt.Fprintf(b, "// the order %sStem indexes them.\n", g.name)
	fmt.Fprintf(b, "var %sStemStrides = [...]int{", g.name)
	for i, s := range stemStrides {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "%d", s)
	}
	b.WriteString("}\n\n")
	fmt.Fprintf(b, "// %sStem[ocb-1][si] is the %s kernel of the stem contract for ocb\n", g.name, g.name)
	fmt.Fprintf(b, "// output blocks and input pixel stride %sStemStrides[si].\n", g.name)
	fmt.Fprintf(b, "var %sStem = [%sMaxOCB][len(%sStemStrides)]func(*Params){\n", g.name, g.name, g.name)
	for _, pl := range g.convPlans {
		b.WriteString("\t{")
		for i, s := range stemStrides {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(g.stemName(pl.ocb, s))
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n\n")
}

// stemKernel emits the stem kernel of plan pl (checked) at input pixel
// stride s.
func (g *gen) stemKernel(pl convPlan, s int) {
	c := g.c
	k := &kernel{gen: g, name: g.stemName(pl.ocb, s), ocb: pl.ocb, urW: pl.urW, s: s, d: 1,
		regBcast: pl.regBcast || !g.embedded, lanes: 1}
	if g.shares(pl, s) {
		k.shareKW = stemShareKW
	}
	g.emitted.Begin(caps.Other)
	c.Function(k.name)
	c.Pragma("noescape")
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(p *Params)")
	c.Doc(
		fmt.Sprintf("%s is the %s kernel of the stem contract for %d output channel block(s)", k.name, g.title, pl.ocb),
		fmt.Sprintf("and input pixel stride %d (SrcPix = %d bytes), %d pixels a step: one input", s, 4*s, pl.urW),
		"float a channel and tap, from a plain NCHW input (see the package comment).",
	)
	k.body()
}

// stemShareKW is the window width whose stride-1 stem kernels share each
// input column's broadcast among the taps it feeds (CIFAR's 3x3 stem).
const stemShareKW = 3

// shares reports whether the stem kernel of plan pl at input stride s
// has the shared reduction: stride 1, and the registers for its urW*ocb
// accumulators, stemShareKW weight vectors a block and one broadcast.
func (s *isa) shares(pl convPlan, stride int) bool {
	return stride == 1 && pl.urW*pl.ocb+stemShareKW*pl.ocb+1 <= s.numVecRegs()
}

// sharedReduction emits the reduction of a stem block of t pixels at
// stride 1 for KW = k.shareKW: for each input channel and kernel row, the
// row's KW weight vectors of each output block into registers, then each
// of the t+KW-1 input columns the block reads broadcast once into a
// register and multiplied into every pixel it is a tap of (column x is
// tap kw of pixel x-kw). The general reduction broadcasts a column once
// per tap, one FMA each: the CIFAR stem (16 output channels, one block
// on AVX-512) so loaded as many floats as it did FMAs.
func (k *kernel) sharedReduction(id string, t int) {
	c := k.c
	kw := k.shareKW
	w := func(o, tap int) reg.VecPhysical { return k.vec(k.urW*k.ocb + o*kw + tap) }
	bc := k.vec(k.urW*k.ocb + k.ocb*kw)
	k.openTapLoops(k.label(id+"_sicb"), k.label(id+"_skh"))
	for o := 0; o < k.ocb; o++ {
		for tap := 0; tap < kw; tap++ {
			c.VMOVUPS(scaled(regWei, regWeiOCB, tap*k.tapBytes(), o), w(o, tap))
		}
	}
	for x := 0; x < t+kw-1; x++ {
		c.VBROADCASTSS(operand.Mem{Base: regSrc, Disp: disp32(x * k.inPixBytes())}, bc)
		for tap := 0; tap < kw; tap++ {
			if j := x - tap; j >= 0 && j < t {
				for o := 0; o < k.ocb; o++ {
					c.VFMADD231PS(w(o, tap), bc, k.acc(j, o))
				}
			}
		}
	}
	c.ADDQ(field(asm.OffSrcRow), regSrc)
	c.ADDQ(field(asm.OffWeiRow), regWei)
	c.DECQ(regKH)
	c.JNZ(operand.LabelRef(k.label(id + "_skh")))
	k.nextInputBlock(k.label(id + "_sicb"))
}
