package gopeer

import (
	"runtime"
	"testing"

	"github.com/sbconv/sbconv/bench"
)

// The Go peer's benchmarks carry the names of package bench's (Block/...,
// Net/...), on the same weights and inputs, so that benchstat lines the
// two up (GOMAXPROCS=1: one thread on both sides, and the same names):
//
//	GOMAXPROCS=1 go test -run '^$' -bench 'Block$/basic/' -count 10 ./bench > sbconv.txt
//	GOMAXPROCS=1 go test -run '^$' -bench 'Block$/basic/' -count 10 ./cmd/sbbench/internal/gopeer > gonum.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -ignore pkg gonum.txt sbconv.txt

// BenchmarkBlock times the Go peer on every block of bench.BlockShapes,
// regular and spatial bottleneck.
func BenchmarkBlock(b *testing.B) {
	for _, s := range bench.BlockShapes {
		for _, sb := range []bool{false, true} {
			name := s.Name + "/regular"
			if sb {
				name = s.Name + "/sb"
			}
			var c *bench.Case
			b.Run(name, func(b *testing.B) {
				if c == nil {
					sc, err := bench.NewBlockCase(s, sb, 1)
					if err != nil {
						b.Fatal(err)
					}
					pb, err := NewBlock(sc.Weights, "", BlockSpec{Bottleneck: s.Bottleneck, SB: sb, InC: s.InC, Planes: s.Planes, Stride: s.Stride})
					if err != nil {
						b.Fatal(err)
					}
					oh, ow := pb.OutputSize(s.H, s.H)
					y := make([]float32, pb.OutC*oh*ow)
					c = &bench.Case{FLOPs: sc.FLOPs, Run: func() error { pb.Forward(y, sc.Input, 1, s.H, s.H); return nil }}
				}
				run(b, c)
			})
		}
	}
}

// BenchmarkNet times the Go peer on bench.NetShapes' networks, regular
// and with spatial bottlenecks in every stage.
func BenchmarkNet(b *testing.B) {
	for _, s := range bench.NetShapes {
		for _, sb := range []bool{false, true} {
			name := s.Name + "/regular"
			if sb {
				name = s.Name + "/sb"
			}
			var c *bench.Case
			b.Run(name, func(b *testing.B) {
				if c == nil {
					sc, net, err := bench.NewNetCase(s, sb, 1)
					if err != nil {
						b.Fatal(err)
					}
					pn, err := NewNet(sc.Weights, net)
					if err != nil {
						b.Fatal(err)
					}
					logits := make([]float32, pn.NumClasses())
					c = &bench.Case{FLOPs: sc.FLOPs, Run: func() error { pn.Forward(logits, sc.Input, 1, s.H, s.H); return nil }}
				}
				run(b, c)
			})
		}
	}
}

// run times c with bench.Benchmark over GOMAXPROCS cores (gonum's Gemm
// uses that many).
func run(b *testing.B, c *bench.Case) { bench.Benchmark(b, c, runtime.GOMAXPROCS(0)) }
