package kernels

// This file decides how many goroutines one Forward call uses (the
// thread policy; the workers themselves are in pool.go).

import (
	"github.com/sbconv/sbconv/layout"
)

// minFLOPsPerThread is the work below which another thread costs more
// than it saves: waking a parked worker and joining it takes tens of
// microseconds here, so a CIFAR-sized 3x3 layer (4.7 MFLOP, ~45 us on one
// core) ran slower on two threads (60 us) than on one.
var minFLOPsPerThread = 16e6

// threadsFor returns how many goroutines a call uses: SetThreads' count,
// or fewer when the call is too small to split profitably.
func (l *layer) threadsFor(src, dst *layout.Tensor) int {
	n := Threads()
	if n <= 1 {
		return 1
	}
	s := l.spec
	pixels := dst.H * dst.W // a convolution's outputs ...
	if l.path.kind != convPasses {
		pixels = src.H * src.W // ... or a transposed one's inputs, each through every tap
	}
	flops := 2 * float64(dst.N) * float64(pixels) * float64(s.KH*s.KW) *
		float64(l.icb*l.block) * float64(l.ocb*l.block)
	return max(1, min(n, int(flops/minFLOPsPerThread)))
}
