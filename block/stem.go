package block

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/internal/intmath"
	"github.com/sbconv/sbconv/internal/workers"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// Stem is a network's first convolution (with its BatchNorm folded and
// ReLU) over an input of few channels, such as an image's three. Padded to
// a whole channel block, three channels would make the kernels compute
// 2.7x (block 8) or 5.3x (block 16) the real FLOPs. Where the dispatched
// set has kernels of package asm's stem contract for the column stride
// (AVX2 and AVX-512, strides 1 and 2: every ResNet stem), Stem reads the
// NCHW input directly, one input float a tap step broadcast into every
// lane of its output blocks, and computes only the real convolution's
// multiplies (see stemDirect). Elsewhere (NEON, generic, other strides)
// it packs channels x taps into the reduction dimension: it reads the
// plain NCHW input and writes
//
//	packed[(c*KW + kw)][y][j] = in[c][y][j*s + kw - pad]   (zero outside)
//
// a tensor of C*KW channels and the output's width, over which the
// convolution is KH x 1 with stride (s, 1) and padding (pad, 0). Or R
// rows are packed too (R, Stem.r, is the row stride s or all KH rows),
//
//	packed[((c*R + q)*KW + kw)][i][j] = in[c][i*s + q - pad][j*s + kw - pad]
//
// and the convolution is ceil(KH/R) x 1 with stride 1 and no padding
// (1x1 for R = KH), tap t reading row q of packed row i+t, input row
// (i+t)*s + q - pad = i*s + kh - pad for kh = t*R + q (a zero weight where
// kh >= KH). Every multiply the kernels do is one of the real
// convolution's, but for the lanes that round C*R*KW up to the channel
// block and the taps past KH: 24/21 for a 7x7 kernel over three channels
// (block 8, R = 1), 32/27 for a 3x3 one (R = 3), 48*4/(42*3.5) for the
// 7x7 at block 16 (R = 2).
type Stem struct {
	spec kernels.ConvSpec // the real convolution
	r    int              // rows packed per lane group: 1, the row stride, or KH
	conv *kernels.Conv2D  // over the packed input
	// direct, where the dispatched set has kernels of package asm's
	// stem contract for the stem's column stride, computes the stem
	// from the NCHW input instead of packing it (see stemDirect).
	direct *stemDirect
	cache  shapeCache[*stemWS]
}

// NewStem builds the stem convolution conv (Conv2d without bias, OIHW)
// followed by BatchNorm bn (folded) and ReLU, from the state_dict keys
// conv+".weight" and bn's.
func NewStem(sd *StateDict, conv, bn string, spec kernels.ConvSpec) (*Stem, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("block: %s: %w", conv, err)
	}
	if spec.InC*spec.KH*spec.KW > kernels.MaxChannels { // cannot overflow: each is within its kernels limit
		return nil, fmt.Errorf("block: %s: stem %dx%d over %d channels: want at most %d channel-taps",
			conv, spec.KH, spec.KW, spec.InC, kernels.MaxChannels)
	}
	w, b, err := foldedConv(sd, conv, bn, spec, false)
	if err != nil {
		return nil, err
	}
	s := &Stem{spec: spec}
	blk := kernels.Block()
	s.r = stemRows(spec, blk)
	inner := kernels.ConvSpec{InC: spec.InC * spec.KW, OutC: spec.OutC, KH: spec.KH, KW: 1,
		StrideH: spec.StrideH, StrideW: 1, PadH: spec.PadH}
	if s.r > 1 {
		inner = kernels.ConvSpec{InC: spec.InC * s.r * spec.KW, OutC: spec.OutC, KH: intmath.CeilDiv(spec.KH, s.r), KW: 1,
			StrideH: 1, StrideW: 1}
	}
	// Repack OIHW [o][c][kh][kw] to the inner convolution's OIHW
	// [o][(c*R + kh%R)*KW + kw][kh/R].
	pw := make([]float32, inner.OutC*inner.InC*inner.KH)
	for o := 0; o < spec.OutC; o++ {
		for c := 0; c < spec.InC; c++ {
			for kh := 0; kh < spec.KH; kh++ {
				for kw := 0; kw < spec.KW; kw++ {
					ch := (c*s.r+kh%s.r)*spec.KW + kw
					pw[(o*inner.InC+ch)*inner.KH+kh/s.r] = w[((o*spec.InC+c)*spec.KH+kh)*spec.KW+kw]
				}
			}
		}
	}
	if s.conv, err = kernels.NewConv2D(inner, pw, b, blk); err != nil {
		return nil, fmt.Errorf("block: %s: %w", conv, err)
	}
	s.direct = newStemDirect(spec, w, b, blk)
	return s, nil
}

// stemRows returns how many rows the stem packs per lane group for
// channel block blk (see Stem): the row stride s where that computes no
// more lanes than packing none (it packs about the same data: s rows of
// C*KW lanes per output row either way), and all KH rows where that saves
// a third of the lanes of the better of those (KH/s times the data). Two
// cases measured on one AVX-512 core (block 16, ResNet's 7x7 stride-2
// stem over three channels, five alternating runs each): all 7 rows (160
// lanes, against 7x32) 28-58 GFLOP/s against 67-76 with none, when the
// rule asked a quarter, not a third; and 2 rows (4x48 lanes) 101-123
// GFLOP/s against 90-108 with none (7x32).
// Block 8 keeps R = 1 for the 7x7 stem (7x24 lanes against 4x48) and packs
// all rows for the 3x3 one (32 lanes against 3x16).
func stemRows(spec kernels.ConvSpec, blk int) int {
	lanes := func(r int) int {
		return intmath.RoundUp(spec.InC*r*spec.KW, blk) * intmath.CeilDiv(spec.KH, r)
	}
	r := 1
	if s := spec.StrideH; s > 1 && s < spec.KH && lanes(s) <= lanes(1) {
		r = s
	}
	if 3*lanes(spec.KH) <= 2*lanes(r) {
		r = spec.KH
	}
	return r
}

// OutputSize returns the stem's output size for an h x w input.
func (s *Stem) OutputSize(h, w int) (oh, ow int, err error) {
	if s == nil || s.conv == nil {
		return 0, 0, fmt.Errorf("block: a Stem not made by NewStem")
	}
	p := s.spec
	if h < 1 || w < 1 {
		return 0, 0, fmt.Errorf("block: input size %dx%d must be positive", h, w)
	}
	oh, okH := stemOut(h, p.KH, p.StrideH, p.PadH)
	ow, okW := stemOut(w, p.KW, p.StrideW, p.PadW)
	if !okH || !okW {
		return 0, 0, fmt.Errorf("block: input %dx%d: the stem's output size overflows int", h, w)
	}
	if oh < 1 || ow < 1 {
		return 0, 0, fmt.Errorf("block: input %dx%d padded by %d is smaller than the %dx%d stem", h, w, p.PadH, p.KH, p.KW)
	}
	return oh, ow, nil
}

// stemOut is (in + 2*pad - k)/stride + 1 along one axis for in >= 1 and
// the kernels' limits on k, stride and pad, without overflow: 0 when the
// padded input is smaller than k, false when the result passes MaxInt.
func stemOut(in, k, stride, pad int) (int, bool) {
	d := in - k // cannot overflow: 1 <= k <= kernels.MaxKernel
	if d < -2*pad {
		return 0, true
	}
	u := (uint(d) + uint(2*pad)) / uint(stride) // d + 2*pad, exact in uint
	if u >= math.MaxInt {
		return 0, false
	}
	return int(u) + 1, true
}

// FLOPs returns the real convolution's multiply-adds (two operations
// each) for an n x InC x h x w input, not the packed one's.
func (s *Stem) FLOPs(n, h, w int) float64 {
	oh, ow, err := s.OutputSize(h, w)
	if err != nil || n < 1 {
		return 0
	}
	p := s.spec
	return 2 * float64(n) * float64(p.OutC) * float64(oh) * float64(ow) * float64(p.InC*p.KH*p.KW)
}

// OutChannels returns the stem's output channels.
func (s *Stem) OutChannels() int {
	if s == nil {
		return 0
	}
	return s.spec.OutC
}

// packedShape is the packed input's (channels, height, width).
func (s *Stem) packedShape(h, w int) (c, ph, pw int) {
	oh, ow, _ := s.OutputSize(h, w)
	if s.r > 1 {
		return s.spec.InC * s.r * s.spec.KW, oh + intmath.CeilDiv(s.spec.KH, s.r) - 1, ow
	}
	return s.spec.InC * s.spec.KW, h, ow
}

// Forward computes dst = relu(bn(conv(in))) for in, a plain NCHW array of
// n x InC x h x w floats; dst is n x OutC x OutputSize(h, w).
func (s *Stem) Forward(dst *layout.Tensor, in []float32, n, h, w int) error {
	if err := s.checkInput(in, n, h, w); err != nil {
		return err
	}
	return s.cache.with([3]int{n, h, w}, func() (*stemWS, error) { return s.newWorkspace(n, h, w) },
		func(ws *stemWS) error { return s.forward(dst, ws, in, h, w) })
}

// Release drops the packed inputs the stem keeps for its Forward calls
// (see Net.SetWorkspaceLimit; a Net's Forward keeps its own) and the
// input copies its convolution keeps.
func (s *Stem) Release() {
	if s != nil {
		s.cache.release()
		s.conv.Release()
	}
}

func (s *Stem) checkInput(in []float32, n, h, w int) error {
	if s == nil || s.conv == nil {
		return fmt.Errorf("block: a Stem not made by NewStem")
	}
	if n < 1 {
		return fmt.Errorf("block: batch %d must be positive", n)
	}
	if _, _, err := s.OutputSize(h, w); err != nil {
		return err
	}
	want, err := layout.MulCheck(layout.MaxElements, n, s.spec.InC, h, w)
	if err != nil {
		return fmt.Errorf("block: input %dx%dx%dx%d: %w", n, s.spec.InC, h, w, err)
	}
	if len(in) != want {
		return fmt.Errorf("block: len(input) = %d, want batch*%d*h*w = %d*%d*%d*%d = %d",
			len(in), s.spec.InC, n, s.spec.InC, h, w, want)
	}
	return nil
}

func (s *Stem) newWorkspace(n, h, w int) (*stemWS, error) {
	if s.direct != nil {
		ph, pw := s.paddedShape(h, w)
		size, err := layout.MulCheck(layout.MaxElements, n, s.spec.InC, ph, pw)
		if err != nil {
			return nil, fmt.Errorf("block: stem: padded input %dx%dx%dx%d: %w", n, s.spec.InC, ph, pw, err)
		}
		return &stemWS{padded: make([]float32, size)}, nil
	}
	c, ph, pw := s.packedShape(h, w)
	t, err := layout.New(n, c, ph, pw, kernels.Block())
	if err != nil {
		return nil, fmt.Errorf("block: stem: %w", err)
	}
	ws := &stemWS{packed: t, zero: make([]float32, pw*s.spec.StrideW+1), lanes: s.lanes(c, w, pw), kernel: dispatchedPack()}
	ws.rows, ws.edges = s.rows(ws.lanes, t.ChannelBlocks(), t.Block, ph, pw, h, w)
	return ws, nil
}

// forward packs in (already checked against n, h, w) and runs the inner
// convolution.
func (s *Stem) forward(dst *layout.Tensor, ws *stemWS, in []float32, h, w int) error {
	if s.direct != nil {
		return s.forwardDirect(dst, ws, in, h, w)
	}
	s.pack(ws, in, h, w)
	return s.conv.Forward(dst, ws.packed, kernels.Epilogue{ReLU: true})
}

// stemWS is the stem's workspace for one input shape: the packed input,
// a row of zeros for the lanes and rows that read nothing, and where each
// packed channel reads from.
type stemWS struct {
	packed *layout.Tensor
	zero   []float32
	lanes  []stemLane // one per packed channel
	rows   []stemRow  // one per channel block and packed row (block*ph + row)
	edges  []stemEdge // the floats the rows copy one by one
	run    stemPack   // the pack of the call using the workspace
	prm    asm.Params // the caller's argument block for workers.Run
	kernel packSet    // the generated pack kernel packRun8 calls, or packGo

	// The direct path's (Stem.direct): the zero-bordered input copy
	// (image, channel, row, column; see paddedShape), and the call.
	padded []float32
	direct stemDirectRun
}

// stemLane says where packed channel c*KW+kw (or (c*KH+kh)*KW+kw) reads:
// pixel j of a packed row comes from input column j*StrideW + off of
// channel c, for lo <= j <= hi (elsewhere the padding: zero).
type stemLane struct {
	c, kh, off, lo, hi int
}

func (s *Stem) lanes(channels, w, pw int) []stemLane {
	p := s.spec
	out := make([]stemLane, channels)
	for ch := range out {
		c, kh, kw := ch/(s.r*p.KW), ch/p.KW%s.r, ch%p.KW
		off := kw - p.PadW
		out[ch] = stemLane{c: c, kh: kh, off: off,
			lo: max(0, intmath.CeilDiv(-off, p.StrideW)), hi: min(pw-1, intmath.FloorDiv(w-1-off, p.StrideW))}
	}
	return out
}

// stemRow is what one packed row of one channel block reads, worked out
// once per input shape (a row of a call then does no more than copy):
// pixels j0..j1 are those every reading lane has inside the input (j0 >
// j1: none), lane l reads them from image offset at[l] on (-1: zeros), and
// the row's other pixels inside the input, lane by lane, are the stemEdges
// edges[e0:e1] of the workspace.
type stemRow struct {
	at     [16]int32
	j0, j1 int32
	e0, e1 int32
}

// stemEdge is one float a row copies alone: out[o] (in the row of its
// channel block) = img[src] (in its image's input).
type stemEdge struct {
	o, src int32
}

// rows returns the row plans (one per channel block and packed row, block*ph
// + row) and the edges they list.
func (s *Stem) rows(lanes []stemLane, cb, b, ph, pw, h, w int) ([]stemRow, []stemEdge) {
	p := s.spec
	out := make([]stemRow, cb*ph)
	var edges []stemEdge
	var src [16]int // lane l's source row in an image, or -1
	for blk := 0; blk < cb; blk++ {
		for i := 0; i < ph; i++ {
			r := &out[blk*ph+i]
			j0, j1 := 0, pw-1
			for l := range src[:b] {
				src[l] = -1
				ch := blk*b + l
				if ch >= len(lanes) {
					continue
				}
				ln := &lanes[ch]
				y := i
				if s.r > 1 {
					y = i*p.StrideH + ln.kh - p.PadH
				}
				if y < 0 || y >= h || ln.lo > ln.hi {
					continue
				}
				src[l] = (ln.c*h + y) * w // < MaxElements: fits an int32
				j0, j1 = max(j0, ln.lo), min(j1, ln.hi)
			}
			if j0 > j1 { // no pixel every lane reads: lane by lane
				j0, j1 = pw, pw-1
			}
			r.j0, r.j1 = int32(j0), int32(j1)
			r.e0 = int32(len(edges))
			for l := range src[:b] {
				r.at[l] = -1
				if src[l] < 0 {
					continue
				}
				ln := &lanes[blk*b+l]
				x := src[l] + ln.off // + j*StrideW: pixel j's float, >= 0 for j >= lo
				if j0 <= j1 {
					r.at[l] = int32(x + j0*p.StrideW)
				}
				for j := ln.lo; j <= ln.hi; j++ {
					if j < j0 || j > j1 {
						edges = append(edges, stemEdge{o: int32(j*b + l), src: int32(x + j*p.StrideW)})
					}
				}
			}
			r.e1 = int32(len(edges))
		}
	}
	return out, edges
}

// pack writes the packed input of an h x w image (see Stem). Positions
// that fall in the padding, and lanes past the packed channels, are written
// with zeros or not at all: they keep the zeros the tensor was allocated
// with, since a packed tensor only ever serves one input shape.
//
// Each output row is one pass over its pixels that writes all b lanes of a
// pixel at once, lane l reading its own source row at column
// j*s + off(l); the few pixels at either end whose window leaves the input
// for some lane are copied float by float (the row plan's edges). The
// rows are packed on the call's threads (one unit a row), one for each
// minPackBytesPerThread of packed input.
func (s *Stem) pack(ws *stemWS, in []float32, h, w int) {
	t := ws.packed
	ws.run = stemPack{s: s, ws: ws, in: in, h: h, w: w}
	rows := t.N * t.ChannelBlocks() * t.H
	workers.Run(&ws.run, rows, min(kernels.Threads(), max(1, 4*len(t.Data)/minPackBytesPerThread)), &ws.prm)
	ws.run.in = nil
}

// minPackBytesPerThread is the packed input a pack writes per goroutine
// it uses. One core of the AMD EPYC Zen 5 packed CIFAR's 128 KB in 6.1 us
// alone and in 10.8 us on two threads (a worker woken), and ResNet's 2.4
// MB 7x7 one in 97 us alone and 54 us on two; the CIFAR pack split while
// held also kept the whole network from running on one core (see
// shapeCache.with).
const minPackBytesPerThread = 1 << 19

// stemPack is one call's pack, one unit a packed row: units are image x
// channel block x row, on every thread of the call.
type stemPack struct {
	s    *Stem
	ws   *stemWS
	in   []float32
	h, w int
}

// RunUnit packs row u (see pack).
func (r *stemPack) RunUnit(u int, _ *asm.Params) {
	s, ws, h, w := r.s, r.ws, r.h, r.w
	t := ws.packed
	p := s.spec
	b, pw := t.Block, t.W
	n, k := u/len(ws.rows), u%len(ws.rows) // u = (n*cb + block)*ph + row, k the row's plan
	row := &ws.rows[k]
	img := r.in[n*p.InC*h*w : (n+1)*p.InC*h*w]
	out := t.Data[u*pw*b : (u+1)*pw*b]
	for _, e := range ws.edges[row.e0:row.e1] {
		out[e.o] = img[e.src]
	}
	j0, j1 := int(row.j0), int(row.j1)
	if j0 > j1 {
		return
	}
	for g := 0; g < b; g += 8 { // lanes g..g+7 of each pixel
		packRun8(out[j0*b+g:j1*b+g+8], img, ws.zero, (*[8]int32)(row.at[g:g+8]), j1-j0+1, p.StrideW, b, ws.kernel)
	}
}

// littleEndian: the lanes of a pixel are stored two at a time, as one
// 64-bit word whose low half is the first lane.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// packRun8 writes 8 lanes of n pixels ob floats apart (the block: 8, or
// 16 in two calls), lane l of pixel j at out[j*ob+l] from img[at[l] +
// j*sw], or zero where at[l] < 0 (from zero, a run of zeros). It checks
// once that every run lies inside img (or zero) and out holds (n-1)*ob+8
// floats; then
//
//   - on amd64 with a generated set dispatched (kernels.ISA() avx2 or
//     avx512; not with SBCONV_ISA=generic, nor under -tags purego), the
//     set's kernel of package asm's pack contract does the copy (k, see
//     dispatchedPack): at sw 1 and 2 a transpose of 4 pixels x 8 lanes in
//     vector registers, other strides and short runs float by float (see
//     gen/x86);
//   - elsewhere (arm64, purego, generic) the loop below, which reads
//     through pointers without a bounds check per load: the compiler
//     cannot prove j*sw in range. (At block 16 a loop over the lanes with a
//     bounds check on every load had ResNet's 7x7 stem at 84-96 GFLOP/s,
//     against 101-109 in two calls of this, five alternating runs on one
//     AVX-512 core.) It stores two lanes as one 64-bit word (four stores a
//     pixel instead of eight) and keeps the eight source pointers in
//     registers.
//
// BenchmarkStemPack, one core of a Zen 5, one run each, CIFAR's stem (32
// lanes of 32x32 pixels) and ResNet's 7x7 one (24 lanes of 224x112, AVX2
// layout): the Go loop with per-lane slicing in RunUnit 12.5 and 142 us
// (AVX-512 layout 11.2 and 143); with the kernel 10.9 and 118 us, when
// RunUnit without the copies still took 6.6 and 39 us; with the row plans
// listing each run's offset and the edge floats (stemRow) and one division
// a row, 6.9 and 98 us (AVX-512 layout 6.3 and 102), the Go loop 9.2 and
// 121 us with the same plans. What is left of the 7x7 stem is mostly its
// 2.4 MB of packed input leaving the caches.
func packRun8(out, img, zero []float32, at *[8]int32, n, sw, ob int, k packSet) {
	last := (n - 1) * sw
	_ = zero[last] // bounds: a run of zeros
	var r [8]unsafe.Pointer
	for l := range r {
		r[l] = unsafe.Pointer(unsafe.SliceData(zero))
		if a := int(at[l]); a >= 0 {
			_ = img[a+last] // bounds: the whole run, img[a : a+last+1]
			r[l] = unsafe.Add(unsafe.Pointer(unsafe.SliceData(img)), 4*a)
		}
	}
	out = out[:(n-1)*ob+8]
	if k != packGo {
		p := asm.PackParams{Out: unsafe.Pointer(unsafe.SliceData(out)), Src: r, N: n, SrcStep: sw, OutStep: ob}
		packAsm(k, &p)
		return
	}
	step := uintptr(sw) * 4
	if !littleEndian {
		for j := 0; j < n; j++ {
			o := (*[8]float32)(out[j*ob : j*ob+8])
			x := uintptr(j) * step
			for l := range o {
				o[l] = *(*float32)(unsafe.Add(r[l], x))
			}
		}
		return
	}
	r0, r1, r2, r3, r4, r5, r6, r7 := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
	o := unsafe.Pointer(unsafe.SliceData(out)) // out[j*ob : j*ob+8], in range above
	ostep := uintptr(ob) * 4
	// n >= 1; o is not moved past the last pixel, which may be past out's
	// allocation (checkptr, -race).
	for x, end := uintptr(0), uintptr(n)*step; ; {
		*(*uint64)(o) = uint64(*(*uint32)(unsafe.Add(r0, x))) | uint64(*(*uint32)(unsafe.Add(r1, x)))<<32
		*(*uint64)(unsafe.Add(o, 8)) = uint64(*(*uint32)(unsafe.Add(r2, x))) | uint64(*(*uint32)(unsafe.Add(r3, x)))<<32
		*(*uint64)(unsafe.Add(o, 16)) = uint64(*(*uint32)(unsafe.Add(r4, x))) | uint64(*(*uint32)(unsafe.Add(r5, x)))<<32
		*(*uint64)(unsafe.Add(o, 24)) = uint64(*(*uint32)(unsafe.Add(r6, x))) | uint64(*(*uint32)(unsafe.Add(r7, x)))<<32
		if x += step; x >= end {
			break
		}
		o = unsafe.Add(o, ostep)
	}
}
