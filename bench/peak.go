package bench

import (
	"sort"
	"sync"
	"time"
)

// Peak measures this CPU core's float32 FMA peak in GFLOP/s with the
// widest generated peak kernel this binary has (register-only FMA chains,
// see gen/avx2), as the median of a few short runs, and names the
// instruction set it used. It returns 0 and "" where no peak kernel is
// built (purego, or a CPU without one): percent-of-peak is then not
// reported rather than guessed.
func Peak() (gflops float64, isa string) {
	peakOnce.Do(func() {
		if peakKernel == nil {
			return
		}
		peakISA = peakKernelISA
		peakKernel(1_000_000) // wake the core up to its working clock
		var runs []float64
		for i := 0; i < 7; i++ {
			const n = 2_000_000
			start := time.Now()
			peakKernel(n)
			runs = append(runs, n*peakFLOPsPerIter/time.Since(start).Seconds()/1e9)
		}
		sort.Float64s(runs)
		peakGF = runs[len(runs)/2]
	})
	return peakGF, peakISA
}

var (
	peakOnce sync.Once
	peakGF   float64
	peakISA  string
)
