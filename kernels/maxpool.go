package kernels

import (
	"fmt"
	"github.com/sbconv/sbconv/internal/freelist"
	"runtime"
	"unsafe"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/internal/workers"
	"github.com/sbconv/sbconv/layout"
)

// poolKernel computes one call of package asm's max-pool contract.
type poolKernel = func(*asm.PoolParams)

// MaxPool3x3S2 computes PyTorch's MaxPool2d(kernel_size=3, stride=2,
// padding=1) of src into dst, the stem pool of the ImageNet ResNets: each
// output pixel (i, j) is, channel by channel, the maximum of the input
// pixels (2i+dy, 2j+dx), dy, dx in {-1, 0, 1}, that exist (the padding is
// -Inf, so it never wins). A NaN anywhere in a window gives a NaN, as in
// PyTorch; which of -0 and +0 a window of zeros gives is not specified.
// Padded channel lanes, zero in src, stay zero.
//
// dst must be src.N x src.C x ((src.H-1)/2+1) x ((src.W-1)/2+1) with
// src's block, and must not share memory with src. The pool kernel of
// the set serving src's block (the dispatched set, or for another block
// the best usable set built for it, as for the convolutions) computes
// each row's interior (block 8 on AVX2 and NEON); borders, blocks no such
// set serves and the generic set run in Go. The planes (image, channel
// block) split over Threads() goroutines when there are enough of them to
// pay. It allocates nothing in the steady state and is safe for
// concurrent use.
func MaxPool3x3S2(dst, src *layout.Tensor) error {
	set, err := current()
	if err != nil {
		return err
	}
	if err := src.Validate("kernels: src"); err != nil {
		return err
	}
	if err := dst.Validate("kernels: dst"); err != nil {
		return err
	}
	if dst.N != src.N {
		return fmt.Errorf("kernels: dst.N = %d, want src.N = %d", dst.N, src.N)
	}
	if dst.C != src.C {
		return fmt.Errorf("kernels: dst.C = %d, want src.C = %d", dst.C, src.C)
	}
	if dst.Block != src.Block {
		return fmt.Errorf("kernels: dst.Block = %d, want src.Block = %d", dst.Block, src.Block)
	}
	if oh, ow := poolOutSize(src.H), poolOutSize(src.W); dst.H != oh || dst.W != ow {
		return fmt.Errorf("kernels: dst is %dx%d, want %dx%d for a %dx%d input (3x3 max pool, stride 2, padding 1)",
			dst.H, dst.W, oh, ow, src.H, src.W)
	}
	if overlap(dst.Data, src.Data) {
		return fmt.Errorf("kernels: dst aliases src: in-place max pool is not supported")
	}
	kern := genericPoolKernel(src.Block)
	if ps := set.forBlock(src.Block); ps.pool != nil {
		kern = ps.pool
	}
	planes := src.N * src.ChannelBlocks()
	n := max(1, min(Threads(), planes, 4*len(src.Data)/minPoolBytesPerThread))
	r := poolFree.Get()
	r.dst, r.src, r.kern = dst, src, kern
	if cap(r.prm) < planes {
		r.prm = make([]asm.PoolParams, planes)
	}
	r.prm = r.prm[:planes]
	workers.Run(r, planes, n, &r.caller)
	// Keep no pointer into the caller's tensors (the kernel's arguments
	// point into them too), so a kept record holds no memory of theirs,
	// and as many records as calls usually run at once.
	r.dst, r.src, r.kern = nil, nil, nil
	clear(r.prm)
	poolFree.PutAtMost(r, max(runtime.GOMAXPROCS(0), Threads()))
	return nil
}

// poolOutSize is the output size of a 3x3 stride-2 pool with padding 1.
func poolOutSize(in int) int { return (in-1)/2 + 1 }

// minPoolBytesPerThread is the input a pool call reads per goroutine it
// uses: a pool is memory-bound, at several GB/s a core, so half a
// megabyte is some 50-100 us, a few times what waking a worker costs. A
// 64-channel 112x112 map (3.2 MB) may use 6.
var minPoolBytesPerThread = 1 << 19

// poolRun is one MaxPool3x3S2 call, a unit per plane (image, channel
// block). Records are recycled (poolFree), so a call allocates nothing
// once as many calls as ever ran at once have run.
type poolRun struct {
	dst, src *layout.Tensor
	kern     poolKernel
	prm      []asm.PoolParams // per unit: the kernel is called through a function value, so its argument lives here, not on the stack
	caller   asm.Params       // the calling goroutine's block for parallel (unused)
}

var poolFree freelist.List[poolRun]

// RunUnit pools plane u: the rows' interiors through the kernel (the top
// row, the rows whose windows lie inside the input in one call, and with
// an odd height the bottom row), then the border pixels in Go.
func (r *poolRun) RunUnit(u int, _ *asm.Params) {
	src, dst := r.src, r.dst
	b, ih, iw, oh, ow := src.Block, src.H, src.W, dst.H, dst.W
	in := src.Data[u*ih*iw*b : (u+1)*ih*iw*b]
	out := dst.Data[u*oh*ow*b : (u+1)*oh*ow*b]
	// Output columns [1, jhi) read input columns 1 .. 2*jhi-1; column 0's
	// window starts left of the input and, with an odd width, the last
	// one's ends right of it.
	jhi := ow
	if iw%2 == 1 {
		jhi = ow - 1
	}
	prm := &r.prm[u]
	// group computes output rows [i, i+rows), whose windows read input
	// rows y+2k (y the first output row's three).
	group := func(i, rows int, y [3]int) {
		if jhi > 1 {
			last := (y[2]+2*(rows-1))*iw + 2*jhi // one past the last input pixel read
			_ = in[last*b-1]
			prm.Src0 = unsafe.Pointer(&in[(y[0]*iw+1)*b])
			prm.Src1 = unsafe.Pointer(&in[(y[1]*iw+1)*b])
			prm.Src2 = unsafe.Pointer(&in[(y[2]*iw+1)*b])
			prm.Dst = unsafe.Pointer(&out[(i*ow+1)*b])
			prm.Pix, prm.Rows = jhi-1, rows
			prm.SrcRows, prm.DstRows = 2*iw*b*4, ow*b*4
			r.kern(prm)
		}
		for k := 0; k < rows; k++ {
			yk := [3]int{y[0] + 2*k, y[1] + 2*k, y[2] + 2*k}
			row := out[(i+k)*ow*b : (i+k+1)*ow*b]
			poolBorder(row[:b], in, yk, iw, b, 0, min(1, iw-1))
			if jhi < ow && ow > 1 {
				poolBorder(row[(ow-1)*b:], in, yk, iw, b, iw-2, iw-1)
			}
		}
	}
	group(0, 1, [3]int{0, 0, min(1, ih-1)})
	ihi := oh // output rows [1, ihi) have three input rows
	if ih%2 == 1 {
		ihi = oh - 1
	}
	if ihi > 1 {
		group(1, ihi-1, [3]int{1, 2, 3})
	}
	if ihi < oh && oh > 1 {
		i := oh - 1
		group(i, 1, [3]int{2*i - 1, 2 * i, 2 * i})
	}
}

// poolBorder writes into o (b floats) the maximum over input rows y and
// columns x0..x1 of the plane in (width iw).
func poolBorder(o, in []float32, y [3]int, iw, b, x0, x1 int) {
	o = o[:b]
	copy(o, in[(y[0]*iw+x0)*b:])
	for _, yy := range y {
		for x := x0; x <= x1; x++ {
			v := in[(yy*iw+x)*b : (yy*iw+x+1)*b]
			for l := range o {
				o[l] = max(o[l], v[l])
			}
		}
	}
}

// genericPoolKernel returns the portable max-pool kernel for block b.
func genericPoolKernel(b int) poolKernel {
	if b == 16 {
		return genericPool16
	}
	return genericPool8
}

func genericPool8(p *asm.PoolParams)  { genericPool(p, 8) }
func genericPool16(p *asm.PoolParams) { genericPool(p, 16) }

// genericPool is package asm's max-pool contract in Go for block b (8 or
// 16), separable as the assembly kernels are: each input column's
// vertical maximum once, the last of a pixel's three carried to the next.
// Go's max propagates NaN.
func genericPool(p *asm.PoolParams, b int) {
	if p.Pix <= 0 {
		return
	}
	n := (2*p.Pix + 1) * b
	for r := 0; r < max(p.Rows, 1); r++ {
		off := r * p.SrcRows
		s0 := unsafe.Slice((*float32)(unsafe.Add(p.Src0, off)), n)
		s1 := unsafe.Slice((*float32)(unsafe.Add(p.Src1, off)), n)
		s2 := unsafe.Slice((*float32)(unsafe.Add(p.Src2, off)), n)
		d := unsafe.Slice((*float32)(unsafe.Add(p.Dst, r*p.DstRows)), p.Pix*b)
		poolRow(d, s0, s1, s2, b)
	}
}

// poolRow computes one row of the contract from its three source rows.
func poolRow(d, s0, s1, s2 []float32, b int) {
	var carry [16]float32
	c := carry[:b]
	for l := range c {
		c[l] = max(s0[l], s1[l], s2[l])
	}
	for j := 0; j < len(d)/b; j++ {
		o := d[j*b : (j+1)*b]
		x, y := (2*j+1)*b, (2*j+2)*b
		a0, a1, a2 := s0[x:x+b], s1[x:x+b], s2[x:x+b]
		b0, b1, b2 := s0[y:y+b], s1[y:y+b], s2[y:y+b]
		a0, a1, a2, b0, b1, b2, c = a0[:len(o)], a1[:len(o)], a2[:len(o)], b0[:len(o)], b1[:len(o)], b2[:len(o)], c[:len(o)]
		for l := range o {
			m1 := max(a0[l], a1[l], a2[l])
			m2 := max(b0[l], b1[l], b2[l])
			o[l] = max(c[l], m1, m2)
			c[l] = m2
		}
	}
}
