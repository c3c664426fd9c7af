package bench

import (
	"fmt"
	"testing"
)

// BenchmarkWeightStream measures how fast the kernels stream a layer's
// weights when nothing else bounds them: a 1x1 convolution of 1024 input
// channels over a single pixel, two FLOPs per weight read, with weights
// of 16 MB (inside a large last-level cache) and 64 MB (from memory on
// most machines; more than the L3 of the AMD EPYC Zen 5 core complex
// this was written on). It reports GB/s of weights: the bandwidth that
// bounds a layer whose weights outweigh its pixels at batch 1, such as
// the 7x7 stage of a spatial bottleneck at rate 4 (see docs/rates.md,
// "Where memory sets the limit"). Its two FLOPs a weight keep it far
// from the FMA peak by construction.
//
// The 64MB-<p>px cases run the same 64 MB over a 2x2, 3x3 and 4x4 map (p
// = 4, 9, 16 pixels, 2p FLOPs a weight) and report GFLOP/s too: whether
// a core overlaps the weights' stream with the FMAs that use them, as
// a small map's layer at batch 1 needs (the stage-4 reduce of a rate-3
// block keeps 3x3 pixels). Where it does, the time is the longer of the
// stream's (GB/s as at 1 pixel) and the FMAs'; where it does not, their
// sum, and GB/s falls as the pixels grow long before GFLOP/s nears the
// peak.
//
//	SBCONV_THREADS=1 go test -run '^$' -bench WeightStream ./bench
func BenchmarkWeightStream(b *testing.B) {
	for _, c := range []struct{ mb, side int }{{16, 1}, {64, 1}, {64, 2}, {64, 3}, {64, 4}} {
		name := fmt.Sprintf("%dMB", c.mb)
		if c.side > 1 {
			name += fmt.Sprintf("-%dpx", c.side*c.side)
		}
		b.Run(name, func(b *testing.B) {
			s, err := newStreamConv(float64(c.mb<<20), c.side)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := s.run(); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(s.bytes/sec/1e9, "GB/s")
			if c.side > 1 {
				b.ReportMetric(2*s.bytes/4*float64(c.side*c.side)/sec/1e9, "GFLOP/s")
			}
		})
	}
}
