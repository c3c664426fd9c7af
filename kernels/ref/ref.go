// Package ref holds naive, obviously correct NCHW convolution kernels: the
// ground truth every other sbconv path is tested against. They follow
// PyTorch's definitions literally (the transposed convolution scatters each
// input pixel through the whole kernel) and accumulate in float64. They are
// slow on purpose and check nothing but what they need to stay in bounds:
// callers pass consistent shapes.
package ref

// Spec is the shape of one convolution: a batch of N inputs of InC x H x W,
// OutC output channels, a KH x KW kernel, strides SH, SW and zero padding
// PH, PW on each side.
type Spec struct {
	N, InC, OutC int
	H, W         int
	KH, KW       int
	SH, SW       int
	PH, PW       int
}

// ConvOut returns PyTorch's Conv2d output size for the spec.
func (s Spec) ConvOut() (oh, ow int) {
	return (s.H+2*s.PH-s.KH)/s.SH + 1, (s.W+2*s.PW-s.KW)/s.SW + 1
}

// DeconvMin returns the smallest ConvTranspose2d output size for the spec
// (output_padding 0); output_padding may add up to stride-1 to each.
func (s Spec) DeconvMin() (oh, ow int) {
	return (s.H-1)*s.SH - 2*s.PH + s.KH, (s.W-1)*s.SW - 2*s.PW + s.KW
}

// Conv2D returns act(conv2d(src, weight) + bias + res) in NCHW, with weight
// in OIHW. bias (length OutC) and res (the output's shape) may be nil.
func Conv2D(s Spec, src, weight, bias, res []float32, relu bool) (out []float32, oh, ow int) {
	oh, ow = s.ConvOut()
	acc := make([]float64, s.N*s.OutC*oh*ow)
	for n := 0; n < s.N; n++ {
		for oc := 0; oc < s.OutC; oc++ {
			for y := 0; y < oh; y++ {
				for x := 0; x < ow; x++ {
					var sum float64
					for ic := 0; ic < s.InC; ic++ {
						for kh := 0; kh < s.KH; kh++ {
							iy := y*s.SH - s.PH + kh
							if iy < 0 || iy >= s.H {
								continue
							}
							for kw := 0; kw < s.KW; kw++ {
								ix := x*s.SW - s.PW + kw
								if ix < 0 || ix >= s.W {
									continue
								}
								v := src[((n*s.InC+ic)*s.H+iy)*s.W+ix]
								k := weight[((oc*s.InC+ic)*s.KH+kh)*s.KW+kw]
								sum += float64(v) * float64(k)
							}
						}
					}
					acc[((n*s.OutC+oc)*oh+y)*ow+x] = sum
				}
			}
		}
	}
	return finish(acc, s.N, s.OutC, oh*ow, bias, res, relu), oh, ow
}

// ConvTranspose2D returns act(conv_transpose2d(src, weight) + bias + res)
// in NCHW with output size oh x ow (PyTorch's output_size), weight in IOHW.
// Each input pixel is scattered through the whole kernel:
// out[oy][ox] += in[iy][ix] * w[kh][kw] where oy = iy*SH - PH + kh and
// ox = ix*SW - PW + kw.
func ConvTranspose2D(s Spec, oh, ow int, src, weight, bias, res []float32, relu bool) []float32 {
	acc := make([]float64, s.N*s.OutC*oh*ow)
	for n := 0; n < s.N; n++ {
		for ic := 0; ic < s.InC; ic++ {
			for iy := 0; iy < s.H; iy++ {
				for ix := 0; ix < s.W; ix++ {
					v := float64(src[((n*s.InC+ic)*s.H+iy)*s.W+ix])
					for oc := 0; oc < s.OutC; oc++ {
						for kh := 0; kh < s.KH; kh++ {
							oy := iy*s.SH - s.PH + kh
							if oy < 0 || oy >= oh {
								continue
							}
							for kw := 0; kw < s.KW; kw++ {
								ox := ix*s.SW - s.PW + kw
								if ox < 0 || ox >= ow {
									continue
								}
								k := float64(weight[((ic*s.OutC+oc)*s.KH+kh)*s.KW+kw])
								acc[((n*s.OutC+oc)*oh+oy)*ow+ox] += v * k
							}
						}
					}
				}
			}
		}
	}
	return finish(acc, s.N, s.OutC, oh*ow, bias, res, relu)
}

// finish adds bias and residual, applies ReLU and rounds to float32.
func finish(acc []float64, n, c, hw int, bias, res []float32, relu bool) []float32 {
	out := make([]float32, len(acc))
	for i, v := range acc {
		if bias != nil {
			v += float64(bias[(i/hw)%c])
		}
		if res != nil {
			v += float64(res[i])
		}
		if relu && v < 0 {
			v = 0
		}
		out[i] = float32(v)
	}
	return out
}
