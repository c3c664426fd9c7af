package main

import "github.com/sbconv/sbconv/asm"

// epilogue emits the fused epilogue of a convolution or restore block:
// the residual (at Dst + rResDelta, where Res is set), ReLU (where
// Params.ReLU is set) and one STP per output vector pair, for ocb output
// blocks of t pixels dstStep bytes apart. acc(o, j, h) is half h of pixel
// j of block o; tmp(0..2*pairs-1) are free registers, taken in pairs for
// the residual, tmp(0) for the zero. label names the block's labels.
func epilogue(p *printer, label func(string) string, ocb, t, dstStep int, acc func(o, j, h int) vreg, tmp func(int) vreg, pairs int) {
	p.comment("epilogue: residual, ReLU, store")
	p.op("CBZ", rRes, label("relu")) // Res itself: Res == Dst gives a zero delta
	p.op("ADD", rResDelta, rDst, rKW)
	n := 0
	for o := 0; o < ocb; o++ {
		if o > 0 {
			p.op("ADD", rDstOCB, rKW)
		}
		for j := 0; j < t; j++ {
			a, b := tmp(n%pairs*2), tmp(n%pairs*2+1)
			n++
			p.ldpq(j*dstStep, rKW, a, b)
			p.fadd(acc(o, j, 0), acc(o, j, 0), a)
			p.fadd(acc(o, j, 1), acc(o, j, 1), b)
		}
	}
	p.label(label("relu"))
	p.op("MOVD", mem(asm.OffReLU, rParams), rTmp)
	p.op("CBZ", rTmp, label("store"))
	zero := tmp(0)
	p.vzero(zero)
	for o := 0; o < ocb; o++ {
		for j := 0; j < t; j++ {
			for h := 0; h < 2; h++ {
				// max(acc, 0): NaN stays NaN, as in PyTorch's relu.
				p.fmax(acc(o, j, h), acc(o, j, h), zero)
			}
		}
	}
	p.label(label("store"))
	p.op("MOVD", rDst, rKH)
	for o := 0; o < ocb; o++ {
		if o > 0 {
			p.op("ADD", rDstOCB, rKH)
		}
		for j := 0; j < t; j++ {
			p.stpq(acc(o, j, 0), acc(o, j, 1), j*dstStep, rKH)
		}
	}
}
