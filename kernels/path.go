package kernels

// This file decides, once per layer at construction, which kernels its
// calls reach and what they can do.

// initKernels picks each pass's microkernels from the dispatched set.
func (l *layer) initKernels(set *isaSet) {
	l.isa = set
	caps := set // what the kernels the calls reach can do
	if set.block != l.block {
		caps = genericSet // kernelFor falls back to it for every call
	}
	weights := 0
	for i := range l.passes {
		weights += 4 * len(l.passes[i].wei)
	}
	l.maxOCB = caps.maxOCB
	l.multiRow, l.edges, l.restEdge = caps.rows, caps.edges, caps.restoreEdges
	l.prefetch = caps.prefetch && weights >= prefetchMinBytes
	for i := range l.passes {
		p := &l.passes[i]
		sp, dp := l.spec.StrideW, 1
		if l.deconv {
			sp, dp = 1, l.spec.StrideW
		}
		p.kern = make([]microkernel, l.maxOCB+1)
		for o := 1; o <= l.maxOCB; o++ {
			p.kern[o] = set.kernelFor(l.block, o, sp, dp, p.kh == 1 && p.kw == 1)
		}
	}
}

// fastKernels reports whether the layer runs an assembly set, for which
// border pixels (one-pixel calls) are much slower than interior runs. The
// generic kernel computes a pixel at a time anyway and skips the copy.
func (l *layer) fastKernels() bool {
	return l.isa != genericSet && l.isa.block == l.block
}
