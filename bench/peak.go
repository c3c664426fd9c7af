package bench

import (
	"runtime"
	"sort"
	"sync"
	"time"
)

// Peak measures the float32 FMA peak of threads cores together, in
// GFLOP/s, with the widest generated peak kernel this binary has
// (register-only FMA chains, see gen/avx2) running on threads locked OS
// threads at once, as the median of a few short runs, and names the
// instruction set it used. Several busy cores run at a lower clock than
// one, so a multi-threaded result is compared with the multi-core peak,
// not with threads times the single-core one. It returns 0 and "" where
// no peak kernel is built (purego, or a CPU without one): percent-of-peak
// is then not reported rather than guessed. Results are cached per thread
// count.
func Peak(threads int) (gflops float64, isa string) {
	threads = max(threads, 1)
	peakMu.Lock()
	defer peakMu.Unlock()
	if peakKernel == nil {
		return 0, ""
	}
	if gf, ok := peakCache[threads]; ok {
		return gf, peakKernelISA
	}
	run := func(n int) float64 {
		var wg sync.WaitGroup
		start := time.Now()
		for i := 0; i < threads; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				peakKernel(n)
			}()
		}
		wg.Wait()
		return float64(threads) * float64(n) * peakFLOPsPerIter / time.Since(start).Seconds() / 1e9
	}
	run(1_000_000) // wake the cores up to their working clock
	var runs []float64
	for i := 0; i < 7; i++ {
		runs = append(runs, run(2_000_000))
	}
	sort.Float64s(runs)
	peakCache[threads] = runs[len(runs)/2]
	return peakCache[threads], peakKernelISA
}

var (
	peakMu    sync.Mutex
	peakCache = map[int]float64{}
)
