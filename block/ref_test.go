package block

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sbconv/sbconv/kernels/ref"
)

// A literal NCHW transcription of the networks, on the naive float64
// reference kernels, with BatchNorm applied as its own step (not folded):
// the oracle the block package is checked against wherever PyTorch is not
// at hand, and a second opinion beside the PyTorch golden files.

// refMap is a tensor in plain NCHW order.
type refMap struct {
	n, c, h, w int
	d          []float32
}

// params hands out the state_dict tensors the reference reads: from a
// fixed map, or (rng set) created at random on first use, so that walking
// the reference network once writes a whole random state_dict.
type params struct {
	m   map[string]Param
	rng *rand.Rand
	// The spatial bottlenecks' sampling rate (0: NetSpec.Rate in net,
	// else 2) and the kernel sizes of their reduce and restore (0: the
	// smallest odd size at least the rate).
	rate, kr, k int
}

// sampling returns the rate and kernel sizes of the spatial bottlenecks.
func (p *params) sampling() (r, kr, k int) {
	r, kr, k = p.rate, p.kr, p.k
	if r == 0 {
		r = 2
	}
	odd := r
	if odd%2 == 0 {
		odd++
	}
	if kr == 0 {
		kr = odd
	}
	if k == 0 {
		k = odd
	}
	return r, kr, k
}

func (p *params) get(key string, shape ...int) []float32 {
	if v, ok := p.m[key]; ok {
		return v.Data
	}
	if p.rng == nil {
		panic("reference: missing key " + key)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	d := make([]float32, n)
	switch {
	case len(shape) == 4: // convolution: kaiming-like, fan-in from dims 1..3 (OIHW) or 0,2,3 (IOHW)
		fan := shape[1] * shape[2] * shape[3]
		for i := range d {
			d[i] = float32(p.rng.NormFloat64() * math.Sqrt(2/float64(fan)))
		}
	case len(shape) == 2: // fc.weight
		for i := range d {
			d[i] = float32(p.rng.NormFloat64() / math.Sqrt(float64(shape[1])))
		}
	default:
		for i := range d {
			switch {
			case hasSuffix(key, ".running_var"):
				d[i] = float32(0.5 + 1.5*p.rng.Float64())
			case hasSuffix(key, ".weight"): // BatchNorm scale, kept small in each block's last BN
				d[i] = float32(0.3 + 0.7*p.rng.Float64())
			default:
				d[i] = float32(0.2 * p.rng.NormFloat64())
			}
		}
	}
	p.m[key] = Param{Shape: shape, Data: d}
	return d
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// bn applies BatchNorm prefix in eval mode, then res (if any) and ReLU.
func (p *params) bn(x refMap, prefix string, res *refMap, relu bool) refMap {
	g, b := p.get(prefix+".weight", x.c), p.get(prefix+".bias", x.c)
	m, v := p.get(prefix+".running_mean", x.c), p.get(prefix+".running_var", x.c)
	out := refMap{x.n, x.c, x.h, x.w, make([]float32, len(x.d))}
	hw := x.h * x.w
	for i, val := range x.d {
		c := i / hw % x.c
		y := (float64(val)-float64(m[c]))/math.Sqrt(float64(v[c])+BNEps)*float64(g[c]) + float64(b[c])
		if res != nil {
			y += float64(res.d[i])
		}
		if relu && y < 0 {
			y = 0
		}
		out.d[i] = float32(y)
	}
	return out
}

func (p *params) conv(x refMap, key string, out, k, stride, pad int) refMap {
	w := p.get(key+".weight", out, x.c, k, k)
	s := ref.Spec{N: x.n, InC: x.c, OutC: out, H: x.h, W: x.w, KH: k, KW: k, SH: stride, SW: stride, PH: pad, PW: pad}
	d, oh, ow := ref.Conv2D(s, x.d, w, nil, nil, false)
	return refMap{x.n, out, oh, ow, d}
}

// deconv is the spatial bottleneck's restore: ConvTranspose2d K x K,
// stride r, padding (K-1)/2, to oh x ow.
func (p *params) deconv(x refMap, key string, out, oh, ow int) refMap {
	r, _, k := p.sampling()
	w := p.get(key+".weight", x.c, out, k, k)
	s := ref.Spec{N: x.n, InC: x.c, OutC: out, H: x.h, W: x.w, KH: k, KW: k, SH: r, SW: r, PH: (k - 1) / 2, PW: (k - 1) / 2}
	return refMap{x.n, out, oh, ow, ref.ConvTranspose2D(s, oh, ow, x.d, w, nil, nil, false)}
}

// reduce is the spatial bottleneck's reduce: Conv2d Kr x Kr, stride
// r*stride, padding (Kr-1)/2.
func (p *params) reduce(x refMap, key string, out, stride int) refMap {
	r, kr, _ := p.sampling()
	return p.conv(x, key, out, kr, r*stride, (kr-1)/2)
}

// refBlock is one residual block of the reference network.
func (p *params) block(x refMap, prefix string, planes, stride int, bottleneck, sb bool) refMap {
	outC := planes
	if bottleneck {
		outC = Expansion * planes
	}
	oh, ow := (x.h-1)/stride+1, (x.w-1)/stride+1
	sc := x
	if stride != 1 || x.c != outC {
		sc = p.bn(p.conv(x, prefix+"downsample.0", outC, 1, stride, 0), prefix+"downsample.1", nil, false)
	}
	switch {
	case !bottleneck && !sb:
		y := p.bn(p.conv(x, prefix+"conv1", planes, 3, stride, 1), prefix+"bn1", nil, true)
		return p.bn(p.conv(y, prefix+"conv2", planes, 3, 1, 1), prefix+"bn2", &sc, true)
	case !bottleneck:
		y := p.bn(p.reduce(x, prefix+"conv1", planes, stride), prefix+"bn1", nil, true)
		return p.bn(p.deconv(y, prefix+"conv2", planes, oh, ow), prefix+"bn2", &sc, true)
	case !sb:
		y := p.bn(p.conv(x, prefix+"conv1", planes, 1, 1, 0), prefix+"bn1", nil, true)
		y = p.bn(p.conv(y, prefix+"conv2", planes, 3, stride, 1), prefix+"bn2", nil, true)
		return p.bn(p.conv(y, prefix+"conv3", outC, 1, 1, 0), prefix+"bn3", &sc, true)
	default:
		y := p.bn(p.conv(x, prefix+"conv1", planes, 1, 1, 0), prefix+"bn1", nil, true)
		y = p.bn(p.reduce(y, prefix+"conv2", planes, stride), prefix+"bn2", nil, true)
		y = p.bn(p.deconv(y, prefix+"conv3", planes, oh, ow), prefix+"bn3", nil, true)
		return p.bn(p.conv(y, prefix+"conv4", outC, 1, 1, 0), prefix+"bn4", &sc, true)
	}
}

// refNet runs the reference network spec on input (n x 3 x h x w) and
// returns the logits (n x classes).
func (p *params) net(spec NetSpec, classes int, input []float32, n, h, w int) []float32 {
	a := archs[spec.Arch]
	if spec.Rate != 0 {
		p.rate = spec.Rate
	}
	width := spec.Width
	if width == 0 {
		width = a.width
	}
	sb := map[int]bool{}
	for _, s := range spec.SB {
		sb[s] = true
	}
	x := refMap{n, 3, h, w, input}
	if a.cifar {
		x = p.bn(p.conv(x, "conv1", width, 3, 1, 1), "bn1", nil, true)
	} else {
		x = p.bn(p.conv(x, "conv1", width, 7, 2, 3), "bn1", nil, true)
		x = refMaxPool(x)
	}
	for st := 1; st <= len(a.blocks); st++ {
		for i := 0; i < a.blocks[st-1]; i++ {
			stride := 1
			if st > 1 && i == 0 {
				stride = 2
			}
			x = p.block(x, fmt.Sprintf("layer%d.%d.", st, i), width<<(st-1), stride, a.bottleneck, sb[st])
		}
	}
	fw, fb := p.get("fc.weight", classes, x.c), p.get("fc.bias", classes)
	out := make([]float32, n*classes)
	hw := x.h * x.w
	for b := 0; b < n; b++ {
		feat := make([]float64, x.c)
		for c := range feat {
			for _, v := range x.d[(b*x.c+c)*hw : (b*x.c+c+1)*hw] {
				feat[c] += float64(v)
			}
			feat[c] /= float64(hw)
		}
		for k := 0; k < classes; k++ {
			s := float64(fb[k])
			for c, f := range feat {
				s += f * float64(fw[k*x.c+c])
			}
			out[b*classes+k] = float32(s)
		}
	}
	return out
}

// refMaxPool is MaxPool2d(3, stride 2, padding 1), written out.
func refMaxPool(x refMap) refMap {
	oh, ow := (x.h-1)/2+1, (x.w-1)/2+1
	out := refMap{x.n, x.c, oh, ow, make([]float32, x.n*x.c*oh*ow)}
	for nc := 0; nc < x.n*x.c; nc++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				m := float32(math.Inf(-1))
				for y := 2*i - 1; y <= 2*i+1; y++ {
					for xx := 2*j - 1; xx <= 2*j+1; xx++ {
						if y >= 0 && y < x.h && xx >= 0 && xx < x.w {
							v := x.d[(nc*x.h+y)*x.w+xx]
							if v > m || v != v {
								m = v
							}
						}
					}
				}
				out.d[(nc*oh+i)*ow+j] = m
			}
		}
	}
	return out
}
