package kernels

import (
	"unsafe"

	"github.com/sbconv/sbconv/asm"
)

// The generic microkernel: the contract of package asm in portable Go,
// register-blocked as one output pixel by eight lanes (eight scalar
// accumulators the compiler keeps in registers), so each broadcast input
// value feeds eight multiply-adds and weights stream from L1 in order.
// Addresses come from the driver, which guarantees them in range; Go's
// checkptr instrumentation (go test -race) verifies that every pointer
// formed here stays inside its operand. It takes the row loop and the edge
// flags of package asm.
//
// Unlike the assembly kernels it also accepts KH or KW = 0 (then Src and
// Wei are not read): the drivers use it for output pixels whose window lies
// wholly in the padding.

func genericRow8(p *asm.Params)  { genericRow(p, 8) }
func genericRow16(p *asm.Params) { genericRow(p, 16) }

// genericKernel returns the generic microkernel for channel block b.
func genericKernel(b int) func(*asm.Params) {
	if b == 16 {
		return genericRow16
	}
	return genericRow8
}

// genericRow runs the contract's row loop (see package asm) over
// genericRow1.
func genericRow(p *asm.Params, b int) {
	if p.Rows <= 1 {
		genericRow1(p, b)
		return
	}
	q := *p
	for r := 0; r < p.Rows; r++ {
		if p.KH*p.KW > 0 { // Src is nil for a window wholly in the padding
			q.Src = unsafe.Add(p.Src, r*p.SrcRows)
		}
		q.Dst = unsafe.Add(p.Dst, r*p.DstRows)
		if p.Res != nil {
			q.Res = unsafe.Add(p.Res, r*p.DstRows)
		}
		genericRow1(&q, b)
	}
}

// genericRow1 computes one row of the contract.
func genericRow1(p *asm.Params, b int) {
	taps := p.KH * p.KW
	for o := 0; o < p.OCB; o++ {
		for g := 0; g < b; g += 8 {
			bias := (*[8]float32)(unsafe.Add(p.Bias, (o*b+g)*4))
			for px := 0; px < p.Pix; px++ {
				acc := *bias
				if taps > 0 {
					// Taps [kw0, kw1) of the window; with EdgeL, Src is
					// pixel 0's tap 1, so pixel px's tap kw0 is kw0-1 taps on.
					kw0, kw1 := 0, p.KW
					if px == 0 && p.EdgeL != 0 {
						kw0 = 1
					}
					if px == p.Pix-1 && p.EdgeR != 0 {
						kw1 = p.KW - 1
					}
					s := unsafe.Add(p.Src, px*p.SrcPix+(kw0-p.EdgeL)*p.SrcTap)
					dot8(p, s, unsafe.Add(p.Wei, o*p.WeiOCB+g*4), b, kw0, kw1, &acc)
				}
				off := o*p.DstOCB + px*p.DstPix + g*4
				if p.Res != nil {
					r := (*[8]float32)(unsafe.Add(p.Res, off))
					for i := range acc {
						acc[i] += r[i]
					}
				}
				if p.ReLU != 0 {
					for i := range acc {
						acc[i] = relu(acc[i])
					}
				}
				*(*[8]float32)(unsafe.Add(p.Dst, off)) = acc
			}
		}
	}
}

// dot8 adds to acc the products of one output pixel's window (ICB blocks x
// KH x taps [kw0, kw1) x b input channels, from s at tap kw0) with eight
// output lanes of weights (from w at tap 0). It is a function of its own so that its loop nest has
// few live values, and it takes two input channels a step (b is even), so
// each accumulator chain waits on one dependent add per two products.
func dot8(p *asm.Params, s, w unsafe.Pointer, b, kw0, kw1 int, acc *[8]float32) {
	a0, a1, a2, a3 := acc[0], acc[1], acc[2], acc[3]
	a4, a5, a6, a7 := acc[4], acc[5], acc[6], acc[7]
	tapBytes, inBytes := b*b*4, b*4
	for c := 0; c < p.ICB; c++ {
		for kh := 0; kh < p.KH; kh++ {
			sr := unsafe.Add(s, c*p.SrcICB+kh*p.SrcRow)
			wr := unsafe.Add(w, c*p.WeiICB+kh*p.WeiRow)
			for kw := kw0; kw < kw1; kw++ {
				st := unsafe.Add(sr, (kw-kw0)*p.SrcTap)
				wt := unsafe.Add(wr, kw*tapBytes)
				for i := 0; i < b; i += 2 {
					x := *(*float32)(unsafe.Add(st, i*4))
					y := *(*float32)(unsafe.Add(st, i*4+4))
					v := (*[8]float32)(unsafe.Add(wt, i*inBytes))
					u := (*[8]float32)(unsafe.Add(wt, i*inBytes+inBytes))
					a0 += x*v[0] + y*u[0]
					a1 += x*v[1] + y*u[1]
					a2 += x*v[2] + y*u[2]
					a3 += x*v[3] + y*u[3]
					a4 += x*v[4] + y*u[4]
					a5 += x*v[5] + y*u[5]
					a6 += x*v[6] + y*u[6]
					a7 += x*v[7] + y*u[7]
				}
			}
		}
	}
	acc[0], acc[1], acc[2], acc[3] = a0, a1, a2, a3
	acc[4], acc[5], acc[6], acc[7] = a4, a5, a6, a7
}

// relu clamps negatives to zero and keeps NaN, as PyTorch's relu does.
func relu(x float32) float32 {
	if x < 0 {
		return 0
	}
	return x
}
