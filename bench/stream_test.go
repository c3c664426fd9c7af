package bench

import (
	"fmt"
	"testing"

	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// BenchmarkWeightStream measures how fast the kernels stream a layer's
// weights when nothing else bounds them: a 1x1 convolution of 1024 input
// channels over a single pixel, two FLOPs per weight read, with weights
// of 16 MB (inside a large last-level cache) and 64 MB (from memory on
// most machines; more than the L3 of the AMD EPYC Zen 5 core complex
// this was written on). It reports GB/s of weights: the bandwidth that
// bounds a layer whose weights outweigh its pixels at batch 1, such as
// the 7x7 stage of a spatial bottleneck at rate 4 (see the README's
// sampling rates). Its two FLOPs a weight keep it far from the FMA peak
// by construction.
//
//	SBCONV_THREADS=1 go test -run '^$' -bench WeightStream ./bench
func BenchmarkWeightStream(b *testing.B) {
	const inC = 1024
	blk := kernels.Block()
	for _, mb := range []int{16, 64} {
		b.Run(fmt.Sprintf("%dMB", mb), func(b *testing.B) {
			outC := mb << 20 / 4 / inC
			w := make([]float32, inC*outC)
			for i := range w {
				w[i] = float32(i%7) / 64
			}
			c, err := kernels.NewConv2D(kernels.ConvSpec{InC: inC, OutC: outC, KH: 1, KW: 1, StrideH: 1, StrideW: 1}, w, nil, blk)
			if err != nil {
				b.Fatal(err)
			}
			src, err := layout.New(1, inC, 1, 1, blk)
			if err != nil {
				b.Fatal(err)
			}
			dst, err := layout.New(1, outC, 1, 1, blk)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := c.Forward(dst, src, kernels.Epilogue{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(4*len(w))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}
