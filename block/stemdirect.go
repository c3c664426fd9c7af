package block

import (
	"fmt"
	"unsafe"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/internal/intmath"
	"github.com/sbconv/sbconv/internal/workers"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// stemDirect is the stem computed straight from the NCHW input by the
// dispatched set's kernels of package asm's stem contract, where it has
// them for the stem's column stride: each tap step is one input channel's
// float broadcast into every lane of its output block, so no lane computes
// a padded channel or tap (the packed path's 192 lanes for 147 taps of
// ResNet's 7x7 stem at block 16, 32 for 27 of CIFAR's 3x3), and nothing is
// packed: a call copies each image into a zero-bordered buffer (rows of
// w + 2*PadW floats, h + 2*PadH of them a channel), which the kernels read
// without edge cases.
type stemDirect struct {
	blk    int
	groups [][2]int            // output channel blocks [o0, o1) a kernel call computes
	kern   []func(*asm.Params) // the kernel of each group (its block count, the stem's column stride)
	wei    []float32           // [o][c][kh][kw][lane]: output block o, lane o*blk+lane (zero past OutC)
	bias   []float32           // by output channel, zero past OutC
}

// minStemFLOPsPerThread is the work a direct stem call gives each thread
// it uses, as kernels splits a held layer: CIFAR's 0.9 MFLOP stem runs on
// one, ResNet's 236 MFLOP one on every thread.
const minStemFLOPsPerThread = 2e6

// newStemDirect returns the direct stem for the real convolution spec with
// (folded) OIHW weights w and bias b, or nil where the dispatched set has
// no stem kernel for it.
func newStemDirect(spec kernels.ConvSpec, w, b []float32, blk int) *stemDirect {
	stemFor, maxOCB := dispatchedStem(blk)
	if stemFor == nil || maxOCB < 1 || stemFor(1, spec.StrideW) == nil {
		return nil
	}
	cb := intmath.CeilDiv(spec.OutC, blk)
	d := &stemDirect{blk: blk}
	// Near-equal groups of at most maxOCB blocks: 4 blocks (64 channels
	// at block 16) as 2+2, whose 14-pixel steps fill 112-pixel rows.
	ng := intmath.CeilDiv(cb, maxOCB)
	for g, o := 0, 0; g < ng; g++ {
		n := cb / ng
		if g < cb%ng {
			n++
		}
		k := stemFor(n, spec.StrideW)
		if k == nil {
			return nil
		}
		d.groups = append(d.groups, [2]int{o, o + n})
		d.kern = append(d.kern, k)
		o += n
	}
	taps := spec.InC * spec.KH * spec.KW
	d.wei = make([]float32, cb*taps*blk)
	for o := 0; o < spec.OutC; o++ {
		for t := 0; t < taps; t++ { // t = (c*KH + kh)*KW + kw, OIHW's order
			d.wei[(o/blk*taps+t)*blk+o%blk] = w[o*taps+t]
		}
	}
	d.bias = make([]float32, cb*blk)
	copy(d.bias, b)
	return d
}

// stemDirectRun is one direct call: units are first the padded copy's
// chunks of rows (image x channel x chunk of input rows), then, in a
// second Run, the kernel calls (image x group x chunk of output rows). The
// copy writes only the interior of each padded channel: its border keeps
// the zeros the workspace was allocated with, since a workspace only ever
// serves one input shape.
type stemDirectRun struct {
	s      *Stem
	ws     *stemWS
	dst    *layout.Tensor
	in     []float32
	h, w   int
	copy   bool // this Run copies rows, else it computes
	rows   int  // input rows a copy unit
	chunks int  // output row chunks a group
}

// stemCopyFloats is about the input a copy unit copies: whole rows, as
// many as make 16 KB (all of a CIFAR channel, 18 rows of ImageNet's), so
// that a unit is worth its dispatch. (The copy is a small part of a call
// either way: under 0.1 of CIFAR's 6 us on one AVX-512 core.)
const stemCopyFloats = 4096

// paddedShape is the zero-bordered copy of one image channel: rows and
// columns.
func (s *Stem) paddedShape(h, w int) (ph, pw int) {
	return h + 2*s.spec.PadH, w + 2*s.spec.PadW
}

// forwardDirect computes the stem through s.direct (see stemDirect) for
// in (already checked against n, h, w).
func (s *Stem) forwardDirect(dst *layout.Tensor, ws *stemWS, in []float32, h, w int) error {
	p := s.spec
	n := len(in) / (p.InC * h * w)
	oh, ow, err := s.OutputSize(h, w)
	if err != nil {
		return err
	}
	if err := dst.Validate("stem output"); err != nil {
		return fmt.Errorf("block: %w", err)
	}
	if dst.N != n || dst.C != p.OutC || dst.H != oh || dst.W != ow || dst.Block != s.direct.blk {
		return fmt.Errorf("block: stem output is %dx%dx%dx%d (block %d), want %dx%dx%dx%d (block %d)",
			dst.N, dst.C, dst.H, dst.W, dst.Block, n, p.OutC, oh, ow, s.direct.blk)
	}
	if ph, pw := s.paddedShape(h, w); len(ws.padded) != n*p.InC*ph*pw {
		return fmt.Errorf("block: stem workspace of %d floats for a %dx%dx%dx%d input", len(ws.padded), n, p.InC, h, w)
	}
	threads := min(kernels.Threads(), max(1, int(s.FLOPs(n, h, w)/minStemFLOPsPerThread)))
	r := &ws.direct
	rows := max(1, min(h, stemCopyFloats/w))
	*r = stemDirectRun{s: s, ws: ws, dst: dst, in: in, h: h, w: w, copy: true, rows: rows, chunks: 1}
	copyThreads := min(threads, max(1, 4*len(ws.padded)/minPackBytesPerThread))
	workers.Run(r, n*p.InC*intmath.CeilDiv(h, rows), copyThreads, &ws.prm)
	r.copy = false
	units := n * len(s.direct.groups)
	if threads > 1 {
		r.chunks = min(oh, intmath.CeilDiv(8*threads, units))
	}
	workers.Run(r, units*r.chunks, threads, &ws.prm)
	r.in, r.dst = nil, nil
	return nil
}

// RunUnit copies chunk u of input rows (copy) or runs kernel call u.
func (r *stemDirectRun) RunUnit(u int, prm *asm.Params) {
	s, ws := r.s, r.ws
	p := s.spec
	ph, pw := s.paddedShape(r.h, r.w)
	if r.copy {
		// u = (image*InC + c)*chunks + k: input rows k*rows on of the
		// plane into padded rows PadH further down.
		chunks := intmath.CeilDiv(r.h, r.rows)
		plane, y0 := u/chunks, u%chunks*r.rows
		for y := y0; y < min(y0+r.rows, r.h); y++ {
			at := plane*r.h + y
			copy(ws.padded[(plane*ph+y+p.PadH)*pw+p.PadW:][:r.w], r.in[at*r.w:(at+1)*r.w])
		}
		return
	}
	d := s.direct
	ng := len(d.groups)
	img, g, c := u/(ng*r.chunks), u/r.chunks%ng, u%r.chunks
	t := r.dst
	oh, ow := t.H, t.W
	y0, y1 := c*oh/r.chunks, (c+1)*oh/r.chunks
	if y0 == y1 {
		return
	}
	o0, o1 := d.groups[g][0], d.groups[g][1]
	b := d.blk
	taps := p.InC * p.KH * p.KW
	src := ws.padded[img*p.InC*ph*pw+y0*p.StrideH*pw:]
	out := t.Data[((img*t.ChannelBlocks()+o0)*oh+y0)*ow*b:]
	*prm = asm.Params{
		Src: unsafe.Pointer(&src[0]), Wei: unsafe.Pointer(&d.wei[o0*taps*b]),
		Dst: unsafe.Pointer(&out[0]), Bias: unsafe.Pointer(&d.bias[o0*b]),
		Pix: ow, OCB: o1 - o0, ICB: p.InC, KH: p.KH, KW: p.KW,
		SrcICB: ph * pw * 4, SrcRow: pw * 4, SrcTap: 4, SrcPix: p.StrideW * 4,
		WeiOCB: taps * b * 4, WeiICB: p.KH * p.KW * b * 4, WeiRow: p.KW * b * 4,
		DstOCB: oh * ow * b * 4, DstPix: b * 4, ReLU: 1,
		Rows: y1 - y0, SrcRows: p.StrideH * pw * 4, DstRows: ow * b * 4,
	}
	d.kern[g](prm)
	*prm = asm.Params{}
}
