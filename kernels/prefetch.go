package kernels

// This file decides which weights a unit's calls prefetch for the unit
// its goroutine takes next.

import (
	"unsafe"

	"github.com/sbconv/sbconv/asm"
)

// prefetchMinBytes is the size of a layer's weights from which its calls
// prefetch the next unit's weights. Smaller layers keep theirs in L2 or
// L3 from call to call, where the hardware's own prefetchers suffice:
// in-128x28's 0.6 MB layers measured the same with and without, and the
// 2.4 MB of in-256x14 gained 1-2%, in-512x7's 9.4 MB 20-25%.
const prefetchMinBytes = 1 << 20

// prefetchNext gives the calls of unit u (rc) the weights to prefetch
// (see Pf in package asm) of the unit its goroutine most likely takes
// next, u + 1 (the workers deal each goroutine a contiguous range of
// units), unless that unit does not exist or uses rc's own: the heads of
// its output blocks, PfOCB apart, Pf running over the first block's run.
// A call names lines in rc's OCB blocks from Pf, so PfEnd stops Pf where
// the last of them would leave the next pass's weights (the blocks past
// the next unit's own are the pass's later units), and no prefetched line
// lies outside them.
func (f *fwd) prefetchNext(rc *rowCall, u int) {
	l := f.l
	u++
	if u >= f.dst.N*f.unitPasses*f.groups*f.chunks {
		return
	}
	_, pi, o0, _, _ := f.unit(u)
	pi, _ = f.unitPass(pi)
	p := &l.passes[pi]
	if p == rc.p && o0 == rc.o0 {
		return
	}
	per := l.icb * p.kh * p.kw * l.block * l.block // floats an output block
	w := p.wei[o0*per:]
	end := min(per, len(w)-(rc.tmpl.OCB-1)*per) * 4 // bytes Pf may run over
	if end < asm.PfLines*64 {
		return
	}
	rc.pf = uintptr(unsafe.Pointer(&w[0]))
	rc.pfEnd = rc.pf + uintptr(end-(asm.PfLines*64-1))
	rc.tmpl.PfOCB = per * 4
}
