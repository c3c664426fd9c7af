package bench

import "testing"

// Benchmark times c in a `go test -bench` benchmark after one warm-up run
// and reports GFLOP/s and, where a peak kernel is built, the percentage
// of the FMA peak of cores cores, measured in the same process: again at
// every call, keeping the greatest value (RemeasurePeak), so that one
// disturbed measurement cannot put a kernel above 100%. The library's
// benchmarks pass kernels.Threads(); the Go peer's, GOMAXPROCS.
func Benchmark(b *testing.B, c *Case, cores int) {
	peak, _ := RemeasurePeak(cores)
	if err := c.Run(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Run(); err != nil {
			b.Fatal(err)
		}
	}
	gf := c.FLOPs * float64(b.N) / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(gf, "GFLOP/s")
	if peak > 0 {
		b.ReportMetric(100*gf/peak, "%peak")
	}
}
