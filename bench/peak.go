package bench

import (
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/sbconv/sbconv/internal/workers"
)

// LineRoundTrip is the mean time, over 2000 rounds, a store of one
// goroutine takes to be seen by another spinning on another core and an
// answer to come back (two cache lines moved between the cores): what the
// workers' synchronisation between two layers is made of. A virtual
// machine's vCPUs may sit in one core complex at one time and in two at
// another (200 vs 920-970 ns on the 2-vCPU AMD EPYC Zen 5 of
// docs/scaling.md), and how well small layers split follows it. It is 0
// when GOMAXPROCS is below 2.
func LineRoundTrip() time.Duration { return workers.LineRoundTrip(2000) }

// Peak measures the float32 FMA peak of threads cores together, in
// GFLOP/s, with the widest generated peak kernel this binary has
// (register-only FMA chains, see gen/x86 and gen/neon) running on
// threads locked OS threads at once, as the fastest of seven short runs,
// and names the instruction set it used. Several busy cores run at a
// lower clock than one, so a multi-threaded result is compared with the
// multi-core peak, not with threads times the single-core one. It
// returns 0 and "" where no peak kernel is built (purego, or a CPU without
// one): percent-of-peak is then not reported rather than guessed. Results
// are cached per thread count; RemeasurePeak raises them.
func Peak(threads int) (gflops float64, isa string) {
	peakMu.Lock()
	gf, ok := peakCache[max(threads, 1)]
	peakMu.Unlock()
	if ok {
		return gf, peakKernelISA
	}
	return RemeasurePeak(threads)
}

// RemeasurePeak measures the peak of threads cores again and keeps the
// greater of that and what Peak had (a ceiling measured on a shared
// machine is only ever too low); it returns the new value. A program that
// times for many seconds calls it now and then, so that a burst of other
// tenants' work during the first measurement does not put its kernels
// above 100% of the peak.
func RemeasurePeak(threads int) (gflops float64, isa string) {
	threads = max(threads, 1)
	peakMu.Lock()
	defer peakMu.Unlock()
	if peakKernel == nil {
		return 0, ""
	}
	peakCache[threads] = max(peakCache[threads], measurePeak(threads))
	return peakCache[threads], peakKernelISA
}

// measurePeak is one measurement of the peak (peakMu held).
func measurePeak(threads int) float64 {
	run := func(n int) time.Duration {
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
		return max(time.Since(start), time.Nanosecond)
	}
	// Warm-up, which wakes the cores up to their working clock and sizes
	// the runs: loops of doubling length up to half of peakMaxIters, or
	// until one takes half of peakRunTime on a slower machine.
	n := 1 << 12
	d := run(n)
	for n < peakMaxIters/2 && d < peakRunTime/2 {
		n *= 2
		d = run(n)
	}
	// Runs of peakMaxIters, which take a few milliseconds on the cores the
	// kernels are written for; fewer where peakRunTime cuts them short
	// (emulators, such as qemu for the arm64 tests).
	n = min(peakMaxIters, int(float64(n)*float64(peakRunTime)/float64(d)))
	var runs []float64
	for i := 0; i < 7; i++ {
		d := run(n)
		runs = append(runs, float64(threads)*float64(n)*peakFLOPsPerIter/d.Seconds()/1e9)
	}
	// The fastest run: a peak is a ceiling, and other tenants' work only
	// ever slows a run down (a median taken in a busy minute once put the
	// peak 25% low and the kernels above 100% of it).
	sort.Float64s(runs)
	return runs[len(runs)-1]
}

// peakRunTime bounds one timed run of Peak. It is well above what
// peakMaxIters take natively (2-5 ms), so on real hardware every run has
// peakMaxIters iterations; it only shortens runs under emulation.
const peakRunTime = 10 * time.Millisecond

var (
	peakMu    sync.Mutex
	peakCache = map[int]float64{}
)
