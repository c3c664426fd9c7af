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
// formed here stays inside its operand.
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

func genericRow(p *asm.Params, b int) {
	taps := p.KH * p.KW
	tapBytes := b * b * 4
	inBytes := b * 4 // weight bytes from one input channel to the next
	for o := 0; o < p.OCB; o++ {
		for g := 0; g < b; g += 8 {
			bias := (*[8]float32)(unsafe.Add(p.Bias, (o*b+g)*4))
			var wo unsafe.Pointer
			if taps > 0 {
				wo = unsafe.Add(p.Wei, o*p.WeiOCB+g*4)
			}
			for px := 0; px < p.Pix; px++ {
				a0, a1, a2, a3 := bias[0], bias[1], bias[2], bias[3]
				a4, a5, a6, a7 := bias[4], bias[5], bias[6], bias[7]
				if taps > 0 {
					sp := unsafe.Add(p.Src, px*p.SrcPix)
					for c := 0; c < p.ICB; c++ {
						for kh := 0; kh < p.KH; kh++ {
							for kw := 0; kw < p.KW; kw++ {
								s := unsafe.Add(sp, c*p.SrcICB+kh*p.SrcRow+kw*p.SrcTap)
								w := unsafe.Add(wo, c*p.WeiICB+kh*p.WeiRow+kw*tapBytes)
								for i := 0; i < b; i++ {
									x := *(*float32)(unsafe.Add(s, i*4))
									v := (*[8]float32)(unsafe.Add(w, i*inBytes))
									a0 += x * v[0]
									a1 += x * v[1]
									a2 += x * v[2]
									a3 += x * v[3]
									a4 += x * v[4]
									a5 += x * v[5]
									a6 += x * v[6]
									a7 += x * v[7]
								}
							}
						}
					}
				}
				off := o*p.DstOCB + px*p.DstPix + g*4
				if p.Res != nil {
					r := (*[8]float32)(unsafe.Add(p.Res, off))
					a0 += r[0]
					a1 += r[1]
					a2 += r[2]
					a3 += r[3]
					a4 += r[4]
					a5 += r[5]
					a6 += r[6]
					a7 += r[7]
				}
				if p.ReLU != 0 {
					a0, a1, a2, a3 = relu(a0), relu(a1), relu(a2), relu(a3)
					a4, a5, a6, a7 = relu(a4), relu(a5), relu(a6), relu(a7)
				}
				d := (*[8]float32)(unsafe.Add(p.Dst, off))
				d[0], d[1], d[2], d[3] = a0, a1, a2, a3
				d[4], d[5], d[6], d[7] = a4, a5, a6, a7
			}
		}
	}
}

// relu clamps negatives to zero and keeps NaN, as PyTorch's relu does.
func relu(x float32) float32 {
	if x < 0 {
		return 0
	}
	return x
}
