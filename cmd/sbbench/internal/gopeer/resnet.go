package gopeer

import (
	"fmt"
	"math"

	"github.com/sbconv/sbconv/block"
)

// layer is a convolution or a transposed convolution inside a block.
type layer struct {
	conv   *Conv
	deconv *Deconv // restores the block's output size
}

func (l layer) outC() int {
	if l.conv != nil {
		return l.conv.OutC
	}
	return l.deconv.OutC
}

// Block is a residual block of package block (BasicBlock, SBBasic,
// Bottleneck or SBBottleneck) computed with this package's layers: each
// layer but the last is followed by ReLU, the last adds the shortcut and
// applies ReLU.
type Block struct {
	InC, OutC, Stride int

	layers []layer
	down   *Conv       // projection shortcut; nil: identity
	bufs   [][]float32 // per layer output, then the shortcut's
}

// BlockSpec names a residual block of package block: BasicBlock, SBBasic,
// Bottleneck or SBBottleneck, with its input channels, planes (output
// channels, or a quarter of them for a bottleneck) and stride.
type BlockSpec struct {
	Bottleneck, SB bool
	InC, Planes    int
	Stride         int
}

// SpecOf returns the spec of a block package block built.
func SpecOf(b block.Block) (BlockSpec, error) {
	s := BlockSpec{InC: b.InChannels(), Planes: b.OutChannels(), Stride: b.Stride()}
	switch b.(type) {
	case *block.BasicBlock:
	case *block.SBBasic:
		s.SB = true
	case *block.Bottleneck:
		s.Bottleneck, s.Planes = true, s.Planes/block.Expansion
	case *block.SBBottleneck:
		s.Bottleneck, s.SB, s.Planes = true, true, s.Planes/block.Expansion
	default:
		return s, fmt.Errorf("gopeer: block of type %T", b)
	}
	return s, nil
}

// NewBlock builds the peer of the block package block builds for spec
// from sd under prefix (for example "layer2.0."), from the same keys of
// sd, with BatchNorm folded the way package block folds it.
func NewBlock(sd *block.StateDict, prefix string, spec BlockSpec) (*Block, error) {
	inC, outC, s, p := spec.InC, spec.Planes, spec.Stride, spec.Planes
	if spec.Bottleneck {
		outC *= block.Expansion
	}
	if inC < 1 || p < 1 || (s != 1 && s != 2) {
		return nil, fmt.Errorf("gopeer: %sblock %+v: bad geometry", prefix, spec)
	}
	pb := &Block{InC: inC, OutC: outC, Stride: s}
	conv := func(name, bn string, in, out, k, stride, pad int) error {
		w, bias, err := foldedWeights(sd, prefix+name, prefix+bn, in, out, k, false)
		if err != nil {
			return err
		}
		c, err := NewConv(in, out, k, stride, pad, w, bias)
		pb.layers = append(pb.layers, layer{conv: c})
		return err
	}
	deconv := func(name, bn string, c int) error {
		w, bias, err := foldedWeights(sd, prefix+name, prefix+bn, c, c, 3, true)
		if err != nil {
			return err
		}
		d, err := NewDeconv(c, c, 3, 2, 1, w, bias)
		pb.layers = append(pb.layers, layer{deconv: d})
		return err
	}
	var err error
	switch {
	case !spec.Bottleneck && !spec.SB:
		if err = conv("conv1", "bn1", inC, p, 3, s, 1); err == nil {
			err = conv("conv2", "bn2", p, p, 3, 1, 1)
		}
	case !spec.Bottleneck:
		if err = conv("conv1", "bn1", inC, p, 3, 2*s, 1); err == nil {
			err = deconv("conv2", "bn2", p)
		}
	case !spec.SB:
		if err = conv("conv1", "bn1", inC, p, 1, 1, 0); err == nil {
			if err = conv("conv2", "bn2", p, p, 3, s, 1); err == nil {
				err = conv("conv3", "bn3", p, outC, 1, 1, 0)
			}
		}
	default:
		if err = conv("conv1", "bn1", inC, p, 1, 1, 0); err == nil {
			if err = conv("conv2", "bn2", p, p, 3, 2*s, 1); err == nil {
				if err = deconv("conv3", "bn3", p); err == nil {
					err = conv("conv4", "bn4", p, outC, 1, 1, 0)
				}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if s != 1 || inC != outC {
		w, bias, err := foldedWeights(sd, prefix+"downsample.0", prefix+"downsample.1", inC, outC, 1, false)
		if err != nil {
			return nil, err
		}
		if pb.down, err = NewConv(inC, outC, 1, s, 0, w, bias); err != nil {
			return nil, err
		}
	}
	return pb, nil
}

// OutputSize is the shortcut's: (h-1)/Stride+1 by (w-1)/Stride+1.
func (b *Block) OutputSize(h, w int) (oh, ow int) {
	return (h-1)/b.Stride + 1, (w-1)/b.Stride + 1
}

// Forward computes dst (n x OutC x oh x ow) from src (n x InC x h x w).
func (b *Block) Forward(dst, src []float32, n, h, w int) {
	oh, ow := b.OutputSize(h, w)
	if len(b.bufs) != len(b.layers)+1 {
		b.bufs = make([][]float32, len(b.layers)+1)
	}
	res := src
	if b.down != nil {
		res = grow(&b.bufs[len(b.layers)], n*b.OutC*oh*ow)
		b.down.Forward(res, src, n, h, w, nil, false)
	}
	x, xh, xw := src, h, w
	for i, l := range b.layers {
		last := i == len(b.layers)-1
		var yh, yw int
		if l.conv != nil {
			yh, yw = l.conv.OutputSize(xh, xw)
		} else {
			yh, yw = oh, ow
		}
		y := dst
		if !last {
			y = grow(&b.bufs[i], n*l.outC()*yh*yw)
		}
		var r []float32
		if last {
			r = res
		}
		if l.conv != nil {
			l.conv.Forward(y, x, n, xh, xw, r, true)
		} else {
			l.deconv.Forward(y, x, n, xh, xw, yh, yw, r, true)
		}
		x, xh, xw = y, yh, yw
	}
}

func grow(buf *[]float32, n int) []float32 {
	if len(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}

// Net is a whole ResNet of package block computed with this package:
// stem (convolution, BatchNorm folded, ReLU; a 3x3 max pool on ImageNet
// networks), the residual blocks, global average pooling and the fully
// connected classifier.
type Net struct {
	stem    *Conv
	pool    bool
	blocks  []*Block
	fcW     []float32 // classes x C
	fcB     []float32
	classes int
	bufs    [3][]float32
}

// NewNet builds the peer of net, which package block built from sd
// (block.Build), from the same keys of sd.
func NewNet(sd *block.StateDict, net *block.Net) (*Net, error) {
	blocks := net.Blocks()
	if len(blocks) == 0 {
		return nil, fmt.Errorf("gopeer: a network without blocks")
	}
	// Stage 1 starts at the first block; every later stage starts with a
	// stride-2 block. CIFAR networks have 3 stages and a 3x3 stem,
	// ImageNet ones 4, a 7x7 stride-2 stem and a max pool.
	stages := 1
	for _, b := range blocks[1:] {
		if b.Stride() == 2 {
			stages++
		}
	}
	width := blocks[0].InChannels()
	k, s, p := 7, 2, 3
	if stages == 3 {
		k, s, p = 3, 1, 1
	}
	w, bias, err := foldedWeights(sd, "conv1", "bn1", 3, width, k, false)
	if err != nil {
		return nil, err
	}
	pn := &Net{pool: stages == 4, classes: net.NumClasses()}
	if pn.stem, err = NewConv(3, width, k, s, p, w, bias); err != nil {
		return nil, err
	}
	stage, idx := 1, 0
	for i, b := range blocks {
		if i > 0 && b.Stride() == 2 {
			stage, idx = stage+1, 0
		}
		spec, err := SpecOf(b)
		if err != nil {
			return nil, err
		}
		pb, err := NewBlock(sd, fmt.Sprintf("layer%d.%d.", stage, idx), spec)
		if err != nil {
			return nil, err
		}
		pn.blocks = append(pn.blocks, pb)
		idx++
	}
	c := blocks[len(blocks)-1].OutChannels()
	if pn.fcW, err = sd.Take("fc.weight", pn.classes, c); err != nil {
		return nil, err
	}
	if pn.fcB, err = sd.Take("fc.bias", pn.classes); err != nil {
		return nil, err
	}
	return pn, nil
}

// NumClasses returns the number of logits per image.
func (n *Net) NumClasses() int { return n.classes }

// Forward computes the logits (batch x NumClasses) of input (batch x 3 x
// h x w, NCHW).
func (n *Net) Forward(logits, input []float32, batch, h, w int) {
	c := n.stem.OutC
	oh, ow := n.stem.OutputSize(h, w)
	x := grow(&n.bufs[0], batch*c*oh*ow)
	n.stem.Forward(x, input, batch, h, w, nil, true)
	h, w = oh, ow
	cur := 0
	if n.pool {
		ph, pw := (h-1)/2+1, (w-1)/2+1
		y := grow(&n.bufs[1], batch*c*ph*pw)
		MaxPool3x3S2(y, x, batch*c, h, w)
		x, h, w, cur = y, ph, pw, 1
	}
	for _, b := range n.blocks {
		oh, ow := b.OutputSize(h, w)
		next := (cur + 1) % 3 // a block reads one buffer and writes another
		y := grow(&n.bufs[next], batch*b.OutC*oh*ow)
		b.Forward(y, x, batch, h, w)
		x, h, w, c, cur = y, oh, ow, b.OutC, next
	}
	for i := 0; i < batch; i++ {
		for cls := 0; cls < n.classes; cls++ {
			var acc float64
			row := n.fcW[cls*c : (cls+1)*c]
			for ch, wv := range row {
				plane := x[(i*c+ch)*h*w : (i*c+ch+1)*h*w]
				var sum float32
				for _, v := range plane {
					sum += v
				}
				acc += float64(wv) * float64(sum/float32(h*w))
			}
			logits[i*n.classes+cls] = float32(acc) + n.fcB[cls]
		}
	}
}

// foldedWeights reads conv's weights (OIHW, or IOHW when transposed) and
// BatchNorm bn (eval mode, eps block.BNEps) and returns the weights scaled
// by bn and the bias bn leaves.
func foldedWeights(sd *block.StateDict, conv, bn string, in, out, k int, transposed bool) (w, bias []float32, err error) {
	d0, d1 := out, in
	if transposed {
		d0, d1 = in, out
	}
	raw, err := sd.Take(conv+".weight", d0, d1, k, k)
	if err != nil {
		return nil, nil, err
	}
	var g, b, m, v []float32
	for _, p := range []struct {
		name string
		dst  *[]float32
	}{{"weight", &g}, {"bias", &b}, {"running_mean", &m}, {"running_var", &v}} {
		if *p.dst, err = sd.Take(bn+"."+p.name, out); err != nil {
			return nil, nil, err
		}
	}
	scale := make([]float64, out)
	bias = make([]float32, out)
	for o := range scale {
		scale[o] = float64(g[o]) / math.Sqrt(float64(v[o])+block.BNEps)
		bias[o] = float32(float64(b[o]) - float64(m[o])*scale[o])
	}
	w = make([]float32, len(raw))
	for i := 0; i < d0; i++ {
		for j := 0; j < d1; j++ {
			o := i
			if transposed {
				o = j
			}
			for t := 0; t < k*k; t++ {
				idx := (i*d1+j)*k*k + t
				w[idx] = float32(float64(raw[idx]) * scale[o])
			}
		}
	}
	return w, bias, nil
}
