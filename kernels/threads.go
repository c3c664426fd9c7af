package kernels

// This file decides how many goroutines one Forward call uses (the
// thread policy; the workers themselves are package internal/workers).

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/sbconv/sbconv/internal/workers"
	"github.com/sbconv/sbconv/layout"
)

var threads atomic.Int32

// maxThreads caps SetThreads and SBCONV_THREADS.
const maxThreads = 1024

func init() { threads.Store(int32(defaultThreads())) }

// defaultThreads is SBCONV_THREADS when it holds a valid count, else
// GOMAXPROCS, capped at maxThreads. A valid count is a positive decimal
// integer, surrounding spaces allowed; counts over maxThreads, even past
// the int64 range, are capped at it. Anything else (empty, not a number,
// zero, negative) is ignored.
func defaultThreads() int {
	v := strings.TrimSpace(os.Getenv("SBCONV_THREADS"))
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err == nil && n > 0:
		return int(min(n, maxThreads))
	case errors.Is(err, strconv.ErrRange) && n > 0: // past MaxInt64: a count, just a huge one
		return maxThreads
	}
	return min(runtime.GOMAXPROCS(0), maxThreads)
}

// SetThreads sets how many goroutines one Forward call uses (the caller's
// included), capped at 1024. n <= 0 restores the default: SBCONV_THREADS
// if it holds a positive integer (capped likewise; other values are
// ignored), else GOMAXPROCS.
func SetThreads(n int) {
	if n <= 0 {
		n = defaultThreads()
	}
	threads.Store(int32(min(n, maxThreads)))
}

// Threads returns the number of goroutines a Forward call uses.
func Threads() int { return int(threads.Load()) }

// minFLOPsPerThread is the work below which another thread costs more
// than it saves when the workers may have parked: waking one and joining
// it costs workers.WakeCost (about 4-5 us here, tens of microseconds with
// a busy scheduler), so a CIFAR-sized 3x3 layer (4.7 MFLOP, ~45 us on one
// core) ran slower on two threads (60 us) than on one.
var minFLOPsPerThread = 16e6

// minHeldFLOPsPerThread is the same while a network holds the workers
// (workers.Hold), for a layer of channel block 8 (AVX2, NEON, generic;
// heldPerThread scales it with the block): a split then costs
// workers.SyncCost, about one cache line's round trip between the cores
// (bench.LineRoundTrip), and the split layer runs a little slower per
// FLOP where its threads' row bands share input rows. Measured on the
// 2-vCPU AMD EPYC Zen 5 (five rounds each, the units in row bands), AVX2:
// with 5e5 the CIFAR networks' 1.2 MFLOP spatial-bottleneck layers
// split, and two threads ran SB ResNet-20/56 at batch 1 1.60/1.64-1.66x
// one thread while a line's round trip took 200 ns, 1.01-1.09x while it
// took 920-970 ns (the vCPUs move); with 1e6 and above those layers stay
// on one thread (0.87-1.00x either way). AVX-512, twice as fast a FLOP,
// with the round trip at 900-1000 ns: 0.81-0.88x with 5e5, 0.94-0.99x
// with 1e6 (ResNet-18 the same with either).
var minHeldFLOPsPerThread = 5e5

// heldPerThread is the held threshold for a layer of channel block
// block: base (minHeldFLOPsPerThread) for block 8, twice that for AVX-512's
// 16, whose FMAs do twice the work in the same time, so that a split is
// worth the same time of work per thread on every set.
func heldPerThread(base float64, block int) float64 { return base * float64(block) / 8 }

// threadsFor returns how many goroutines a call uses: SetThreads' count,
// or fewer when the call is too small to split profitably.
func (l *layer) threadsFor(src, dst *layout.Tensor) int {
	n := Threads()
	if n <= 1 {
		return 1
	}
	per := minFLOPsPerThread
	if workers.Held() {
		per = heldPerThread(minHeldFLOPsPerThread, l.block)
	}
	return l.threadsWith(n, per, src, dst)
}

// threadsWith is threadsFor for a thread count n and a threshold of per
// FLOPs a thread (the scaling model's test asks it for counts this
// machine does not have).
func (l *layer) threadsWith(n int, per float64, src, dst *layout.Tensor) int {
	if n <= 1 {
		return 1
	}
	if per <= 0 {
		return n
	}
	return max(1, min(n, int(l.callFLOPs(src, dst)/per)))
}

// callFLOPs is a call's work as the kernels do it (padded channels and
// every tap included): what threadsFor and split weigh.
func (l *layer) callFLOPs(src, dst *layout.Tensor) float64 {
	s := l.spec
	pixels := dst.H * dst.W // a convolution's outputs ...
	if l.path.kind != convPasses {
		pixels = src.H * src.W // ... or a transposed one's inputs, each through every tap
	}
	return 2 * float64(dst.N) * float64(pixels) * float64(s.KH*s.KW) *
		float64(l.icb*l.block) * float64(l.ocb*l.block)
}
