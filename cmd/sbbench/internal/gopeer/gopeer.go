// Package gopeer is what a Go program computes convolutions with today,
// for sbbench to measure sbconv against: im2col + gonum's blas32.Gemm
// (pure Go, no cgo), on plain NCHW float32 tensors.
//
// A convolution unrolls each image's receptive fields into a column matrix
// (im2col: InC*K*K rows, one column per output pixel; a 1x1 stride-1
// convolution uses the image itself) and multiplies the weights (OutC x
// InC*K*K, PyTorch's OIHW as it is) by it. A transposed convolution
// multiplies the weights transposed once at build time (OutC*K*K x InC) by
// the input and scatters the product into the output (col2im): Caffe's
// and PyTorch's CPU fallback, the textbook way. Bias, residual and ReLU
// are one pass over the output after the GEMM; BatchNorm is folded into
// the weights when a block is built, as package block folds it.
//
// Threads: gonum's Gemm splits a large product over GOMAXPROCS
// goroutines; im2col, col2im and the epilogues run on the calling
// goroutine. sbbench sets GOMAXPROCS to its -threads while it times
// this package.
//
// Layers, blocks and networks keep their scratch buffers between calls:
// they are not safe for concurrent use.
package gopeer

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Conv is a K x K convolution of InC to OutC channels with bias, computed
// as im2col + Gemm.
type Conv struct {
	InC, OutC, K, Stride, Pad int

	w    []float32 // OIHW: OutC rows of InC*K*K
	bias []float32
	col  []float32 // im2col scratch
}

// NewConv builds a convolution from PyTorch's OIHW weights and a bias of
// OutC values (nil: none).
func NewConv(inC, outC, k, stride, pad int, w, bias []float32) (*Conv, error) {
	if inC < 1 || outC < 1 || k < 1 || stride < 1 || pad < 0 || pad >= k {
		return nil, fmt.Errorf("gopeer: conv %d->%d k%d s%d p%d: bad geometry", inC, outC, k, stride, pad)
	}
	if len(w) != outC*inC*k*k {
		return nil, fmt.Errorf("gopeer: conv weights: %d values, want %d", len(w), outC*inC*k*k)
	}
	if bias == nil {
		bias = make([]float32, outC)
	}
	if len(bias) != outC {
		return nil, fmt.Errorf("gopeer: conv bias: %d values, want %d", len(bias), outC)
	}
	return &Conv{InC: inC, OutC: outC, K: k, Stride: stride, Pad: pad, w: w, bias: bias}, nil
}

// OutputSize is PyTorch's Conv2d output size.
func (c *Conv) OutputSize(h, w int) (oh, ow int) {
	return (h+2*c.Pad-c.K)/c.Stride + 1, (w+2*c.Pad-c.K)/c.Stride + 1
}

// Forward computes dst (n x OutC x oh x ow) from src (n x InC x h x w),
// adds res (the same shape as dst) if it is not nil, and applies ReLU if
// relu is set.
func (c *Conv) Forward(dst, src []float32, n, h, w int, res []float32, relu bool) {
	oh, ow := c.OutputSize(h, w)
	kk, pix := c.InC*c.K*c.K, oh*ow
	direct := c.K == 1 && c.Stride == 1 && c.Pad == 0
	if !direct && len(c.col) < kk*pix {
		c.col = make([]float32, kk*pix)
	}
	wm := blas32.General{Rows: c.OutC, Cols: kk, Stride: kk, Data: c.w}
	for i := 0; i < n; i++ {
		img := src[i*c.InC*h*w : (i+1)*c.InC*h*w]
		b := img
		if !direct {
			c.im2col(c.col[:kk*pix], img, h, w, oh, ow)
			b = c.col[:kk*pix]
		}
		out := dst[i*c.OutC*pix : (i+1)*c.OutC*pix]
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, wm,
			blas32.General{Rows: kk, Cols: pix, Stride: pix, Data: b}, 0,
			blas32.General{Rows: c.OutC, Cols: pix, Stride: pix, Data: out})
		var r []float32
		if res != nil {
			r = res[i*c.OutC*pix : (i+1)*c.OutC*pix]
		}
		epilogue(out, c.bias, r, pix, relu)
	}
}

// im2col writes col[(ic*K+ky)*K+kx][oy*ow+ox] = img[ic][oy*S-P+ky][ox*S-P+kx],
// zero in the padding.
func (c *Conv) im2col(col, img []float32, h, w, oh, ow int) {
	k, s, p := c.K, c.Stride, c.Pad
	row := 0
	for ic := 0; ic < c.InC; ic++ {
		plane := img[ic*h*w : (ic+1)*h*w]
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				out := col[row*oh*ow : (row+1)*oh*ow]
				row++
				for oy := 0; oy < oh; oy++ {
					iy := oy*s - p + ky
					line := out[oy*ow : (oy+1)*ow]
					if iy < 0 || iy >= h {
						clear(line)
						continue
					}
					in := plane[iy*w : (iy+1)*w]
					for ox := range line {
						ix := ox*s - p + kx
						if ix >= 0 && ix < w {
							line[ox] = in[ix]
						} else {
							line[ox] = 0
						}
					}
				}
			}
		}
	}
}

// epilogue adds the per-channel bias and the residual to out (channels of
// pix values) and applies ReLU.
func epilogue(out, bias, res []float32, pix int, relu bool) {
	for ch, b := range bias {
		o := out[ch*pix : (ch+1)*pix]
		var r []float32
		if res != nil {
			r = res[ch*pix : (ch+1)*pix]
		}
		for j := range o {
			v := o[j] + b
			if r != nil {
				v += r[j]
			}
			if relu && v < 0 {
				v = 0
			}
			o[j] = v
		}
	}
}

// Deconv is a K x K transposed convolution of InC to OutC channels with
// bias (PyTorch's ConvTranspose2d), computed as Gemm + col2im.
type Deconv struct {
	InC, OutC, K, Stride, Pad int

	wt   []float32 // the IOHW weights transposed: OutC*K*K rows of InC
	bias []float32
	col  []float32 // the Gemm's product, OutC*K*K x h*w
}

// NewDeconv builds a transposed convolution from PyTorch's IOHW weights
// and a bias of OutC values (nil: none).
func NewDeconv(inC, outC, k, stride, pad int, w, bias []float32) (*Deconv, error) {
	if inC < 1 || outC < 1 || k < 1 || stride < 1 || pad < 0 || pad >= k {
		return nil, fmt.Errorf("gopeer: deconv %d->%d k%d s%d p%d: bad geometry", inC, outC, k, stride, pad)
	}
	kk := outC * k * k
	if len(w) != inC*kk {
		return nil, fmt.Errorf("gopeer: deconv weights: %d values, want %d", len(w), inC*kk)
	}
	if bias == nil {
		bias = make([]float32, outC)
	}
	if len(bias) != outC {
		return nil, fmt.Errorf("gopeer: deconv bias: %d values, want %d", len(bias), outC)
	}
	wt := make([]float32, len(w))
	for i := 0; i < inC; i++ {
		for j := 0; j < kk; j++ {
			wt[j*inC+i] = w[i*kk+j]
		}
	}
	return &Deconv{InC: inC, OutC: outC, K: k, Stride: stride, Pad: pad, wt: wt, bias: bias}, nil
}

// Forward computes dst (n x OutC x oh x ow, the output size PyTorch's
// output_size picks) from src (n x InC x h x w), adds res (dst's shape) if
// it is not nil, and applies ReLU if relu is set.
func (d *Deconv) Forward(dst, src []float32, n, h, w, oh, ow int, res []float32, relu bool) {
	kk, pix, opix := d.OutC*d.K*d.K, h*w, oh*ow
	if len(d.col) < kk*pix {
		d.col = make([]float32, kk*pix)
	}
	col := d.col[:kk*pix]
	wm := blas32.General{Rows: kk, Cols: d.InC, Stride: d.InC, Data: d.wt}
	for i := 0; i < n; i++ {
		img := src[i*d.InC*pix : (i+1)*d.InC*pix]
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, wm,
			blas32.General{Rows: d.InC, Cols: pix, Stride: pix, Data: img}, 0,
			blas32.General{Rows: kk, Cols: pix, Stride: pix, Data: col})
		out := dst[i*d.OutC*opix : (i+1)*d.OutC*opix]
		clear(out)
		d.col2im(out, col, h, w, oh, ow)
		var r []float32
		if res != nil {
			r = res[i*d.OutC*opix : (i+1)*d.OutC*opix]
		}
		epilogue(out, d.bias, r, opix, relu)
	}
}

// col2im adds col[(oc*K+ky)*K+kx][iy*w+ix] to out[oc][iy*S-P+ky][ix*S-P+kx]
// wherever that lies inside the output.
func (d *Deconv) col2im(out, col []float32, h, w, oh, ow int) {
	k, s, p := d.K, d.Stride, d.Pad
	row := 0
	for oc := 0; oc < d.OutC; oc++ {
		plane := out[oc*oh*ow : (oc+1)*oh*ow]
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				in := col[row*h*w : (row+1)*h*w]
				row++
				for iy := 0; iy < h; iy++ {
					oy := iy*s - p + ky
					if oy < 0 || oy >= oh {
						continue
					}
					line := plane[oy*ow : (oy+1)*ow]
					src := in[iy*w : (iy+1)*w]
					for ix, v := range src {
						if ox := ix*s - p + kx; ox >= 0 && ox < ow {
							line[ox] += v
						}
					}
				}
			}
		}
	}
}

// MaxPool3x3S2 is PyTorch's MaxPool2d(3, stride=2, padding=1) over n x c
// planes of h x w into dst (oh x ow = (h-1)/2+1 x (w-1)/2+1).
func MaxPool3x3S2(dst, src []float32, nc, h, w int) (oh, ow int) {
	oh, ow = (h-1)/2+1, (w-1)/2+1
	for p := 0; p < nc; p++ {
		in, out := src[p*h*w:(p+1)*h*w], dst[p*oh*ow:(p+1)*oh*ow]
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				m := float32(math.Inf(-1))
				for y := max(0, 2*oy-1); y <= min(h-1, 2*oy+1); y++ {
					for x := max(0, 2*ox-1); x <= min(w-1, 2*ox+1); x++ {
						m = max(m, in[y*w+x])
					}
				}
				out[oy*ow+ox] = m
			}
		}
	}
	return oh, ow
}
