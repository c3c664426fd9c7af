package bench

import (
	"testing"

	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// BenchmarkMaxPool times the ImageNet ResNets' stem pool,
// MaxPool2d(3, stride=2, padding=1) of 64 channels 112x112 -> 56x56, on
// the dispatched set, and reports the bytes it moves (input read once,
// output written once) per second. The threads are SBCONV_THREADS'
// (GOMAXPROCS by default):
//
//	SBCONV_THREADS=1 go test -run '^$' -bench MaxPool -count 6 ./bench
func BenchmarkMaxPool(b *testing.B) {
	block := kernels.Block()
	src, err := layout.New(1, 64, 112, 112, block)
	if err != nil {
		b.Fatal(err)
	}
	for i := range src.Data {
		src.Data[i] = float32(i%97)/16 - 3
	}
	dst, err := layout.New(1, 64, 56, 56, block)
	if err != nil {
		b.Fatal(err)
	}
	if err := kernels.MaxPool3x3S2(dst, src); err != nil {
		b.Fatal(err)
	}
	bytes := 4 * float64(len(src.Data)+len(dst.Data))
	for b.Loop() {
		if err := kernels.MaxPool3x3S2(dst, src); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}
