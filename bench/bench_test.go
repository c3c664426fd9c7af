package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/sbconv/sbconv/block"
	"github.com/sbconv/sbconv/kernels"
)

// BenchmarkPeerShapes times every workload on every peer shape on the
// dispatched microkernels, reporting GFLOP/s (peers' FLOP convention) so
// benchstat compares runs. One thread unless SBCONV_THREADS says otherwise:
//
//	SBCONV_THREADS=1 go test -bench PeerShapes -count 6 ./bench | tee new.txt
func BenchmarkPeerShapes(b *testing.B) {
	for _, w := range Workloads {
		for _, s := range PeerShapes {
			c, err := NewCase(w, s, 1, kernels.Block())
			if err != nil {
				b.Fatal(err)
			}
			b.Run(w+"/"+s.Name, func(b *testing.B) { runCase(b, c) })
		}
	}
}

// BenchmarkPointwise times ResNet-50's 1x1 convolutions at 56x56.
func BenchmarkPointwise(b *testing.B) {
	for _, p := range PointwiseShapes {
		c, err := NewPointwiseCase(p, 1, kernels.Block())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(p.Name, func(b *testing.B) { runCase(b, c) })
	}
}

// BenchmarkUpsample times the stride-2 restore fast paths (kernel 2, 3, 4).
func BenchmarkUpsample(b *testing.B) {
	for _, u := range UpsampleShapes {
		c, err := NewUpsampleCase(u, 1, kernels.Block())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(u.Name, func(b *testing.B) { runCase(b, c) })
	}
}

// BenchmarkRestoreRate times the restore of a spatial-bottleneck block at
// sampling rates 2, 3 and 4 (kernel 3, 3, 5: block.RandomStateDict's
// sizes) on every stage shape, from the reduce's output to the full map:
// GFLOP/s by the taps that reach the output, %peak of one core's FMA peak
// (or of kernels.Threads() cores').
func BenchmarkRestoreRate(b *testing.B) {
	for _, s := range PeerShapes {
		for _, r := range []int{2, 3, 4} {
			c, err := NewRestoreCase(s, r, block.DefaultKernelSize(r), 1, kernels.Block())
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/r%d", s.Name, r), func(b *testing.B) { runCase(b, c) })
		}
	}
}

// BenchmarkSpatialBottleneck times the regular basic block and the
// spatial-bottleneck block of each stage shape (the peers' blocks: C to C
// channels, stride 1) in alternating rounds of warm runs, and reports the
// median round's speedup beside the FLOP ratio (4 on even maps, 3.06 on
// 7x7). ns/op is one run of each block; building the blocks and warming
// them up is outside the timer.
func BenchmarkSpatialBottleneck(b *testing.B) {
	for _, s := range PeerShapes {
		reg, err := NewCase(BasicBlk, s, 1, kernels.Block())
		if err != nil {
			b.Fatal(err)
		}
		sb, err := NewCase(SBBlock, s, 1, kernels.Block())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s.Name, func(b *testing.B) { runSpeedup(b, reg, sb) })
	}
}

// runCase times c with Benchmark over as many cores as kernels.Threads().
func runCase(b *testing.B, c *Case) { Benchmark(b, c, kernels.Threads()) }

// BenchmarkFMAPeak reports the core's FMA peak as the benchmarks see it.
func BenchmarkFMAPeak(b *testing.B) {
	peak, isa := Peak(1)
	if peak == 0 {
		b.Skip("no peak kernel in this build")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		peakKernel(100_000)
	}
	b.ReportMetric(float64(b.N)*100_000*peakFLOPsPerIter/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.Logf("peak kernel: %s", isa)
}

// BenchmarkReference times the naive NCHW reference on the CIFAR shapes
// (the ImageNet ones take seconds per call), the baseline for the generic
// microkernel's speedup.
func BenchmarkReference(b *testing.B) {
	for _, w := range []string{Conv3x3S1, Conv3x3S2, DeconvS2} {
		for _, s := range PeerShapes[:3] {
			b.Run(w+"/"+s.Name, func(b *testing.B) {
				c, err := NewRefCase(w, s, 1)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := c.Run(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(c.FLOPs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestCasesRun builds and runs every workload once on a small batch, so the
// benchmark harness itself is tested.
func TestCasesRun(t *testing.T) {
	for _, w := range Workloads {
		c, err := NewCase(w, Shape{"tiny", 9, 7}, 2, kernels.Block())
		if err != nil {
			t.Fatalf("%s: %v", w, err)
		}
		if err := c.Run(); err != nil {
			t.Fatalf("%s: %v", w, err)
		}
		if c.FLOPs <= 0 {
			t.Fatalf("%s: FLOPs %v", w, c.FLOPs)
		}
	}
	for _, u := range UpsampleShapes {
		c, err := NewUpsampleCase(Upsample{u.Name, 9, 5, u.K, u.Pad}, 2, kernels.Block())
		if err != nil || c.Run() != nil || c.FLOPs <= 0 {
			t.Fatalf("%s: %v", u.Name, err)
		}
	}
	for _, p := range PointwiseShapes {
		c, err := NewPointwiseCase(Pointwise{p.Name, p.InC / 16, p.OutC / 16, 5}, 2, kernels.Block())
		if err != nil || c.Run() != nil || c.FLOPs <= 0 {
			t.Fatalf("%s: %v", p.Name, err)
		}
	}
	if _, err := NewCase("nope", PeerShapes[0], 1, 8); err == nil {
		t.Fatal("unknown workload accepted")
	}
}

// TestSample: a sample runs its case at least once, and for at least
// minTime.
func TestSample(t *testing.T) {
	runs := 0
	c := &Case{Run: func() error { runs++; time.Sleep(100 * time.Microsecond); return nil }}
	if d, err := Sample(c, 0); err != nil || runs != 1 || d <= 0 {
		t.Fatalf("Sample(0) = %v, %v after %d runs", d, err, runs)
	}
	// Over a minimum time it runs until minTime has passed, and no run
	// but the last starts past it (Sample's clock starts before the first
	// run does). Only orderings of times are checked, which no scheduling
	// delay can upset.
	var starts []time.Time
	c = &Case{Run: func() error { starts = append(starts, time.Now()); time.Sleep(100 * time.Microsecond); return nil }}
	const minTime = 2 * time.Millisecond
	begin := time.Now()
	d, err := Sample(c, minTime)
	took := time.Since(begin)
	if err != nil || len(starts) == 0 || d <= 0 || d > took || took < minTime {
		t.Fatalf("Sample(2ms) = %v, %v after %d runs in %v", d, err, len(starts), took)
	}
	for i := 1; i < len(starts)-1; i++ {
		if dt := starts[i].Sub(starts[0]); dt >= minTime {
			t.Fatalf("run %d of %d started %v after the first, past the minimum time", i+1, len(starts), dt)
		}
	}
	if got := Median([]time.Duration{3, 1, 2}); got != 2 {
		t.Fatalf("Median = %v", got)
	}
}
