package bench

import (
	"testing"

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
			b.Run(w+"/"+s.Name, func(b *testing.B) {
				c, err := NewCase(w, s, 1, kernels.Block())
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Run(); err != nil {
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
	if _, err := NewCase("nope", PeerShapes[0], 1, 8); err == nil {
		t.Fatal("unknown workload accepted")
	}
}
