package block

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// TestStemPack checks the stem's packed input against the formula of
// Stem's doc comment, computed here element by element, for the CIFAR and
// ImageNet stems and odd kernels, strides and sizes (an input narrower than
// the kernel, a single column), a batch of two, with the generated pack
// kernel of the dispatched set where it has one (packRun8), and with the
// Go loop's 64-bit stores of little-endian machines and its lane-by-lane
// loop the others run.
func TestStemPack(t *testing.T) {
	specs := []kernels.ConvSpec{
		conv(3, 16, 3, 1, 1), conv(3, 64, 7, 2, 3), conv(3, 8, 5, 3, 2), conv(1, 8, 3, 2, 0), conv(2, 8, 1, 1, 0),
	}
	sizes := [][2]int{{32, 32}, {1, 1}, {5, 3}, {9, 1}, {13, 17}, {40, 23}}
	defer func(v bool) { littleEndian = v }(littleEndian)
	for _, spec := range specs {
		s, err := NewStem(RandomStateDict(7), "conv1", "bn1", spec)
		require.NoError(t, err)
		s.direct = nil // the packed path, which the direct one replaces where it has kernels
		ran := 0
		for _, hw := range sizes {
			h, wd := hw[0], hw[1]
			if _, _, err := s.OutputSize(h, wd); err != nil {
				continue
			}
			paths := []string{"le", "be"}
			if dispatchedPack() != packGo {
				paths = append(paths, "kernel")
			}
			for _, path := range paths {
				t.Run(fmt.Sprintf("%dx%d_s%d_c%d/%dx%d/%s", spec.KH, spec.KW, spec.StrideH, spec.InC, h, wd, path), func(t *testing.T) {
					littleEndian = path != "be"
					ran++
					const n = 2
					in := sweepInput(uint64(h*wd), n*spec.InC, h, wd)[:n*spec.InC*h*wd]
					ws, err := s.newWorkspace(n, h, wd)
					require.NoError(t, err)
					require.Equal(t, dispatchedPack(), ws.kernel)
					if path != "kernel" {
						ws.kernel = packGo
					}
					s.pack(ws, in, h, wd)
					p := ws.packed
					ch, ph, pw := s.packedShape(h, wd)
					b, cb := p.Block, p.ChannelBlocks()
					for img := 0; img < n; img++ {
						for c := 0; c < cb*b; c++ {
							for i := 0; i < ph; i++ {
								for j := 0; j < pw; j++ {
									want := float32(0)
									if c < ch {
										ci, q, kw := c/(s.r*spec.KW), c/spec.KW%s.r, c%spec.KW
										y, x := i*spec.StrideH+q-spec.PadH, j*spec.StrideW+kw-spec.PadW
										if s.r == 1 {
											y = i
										}
										if y >= 0 && y < h && x >= 0 && x < wd {
											want = in[((img*spec.InC+ci)*h+y)*wd+x]
										}
									}
									got := p.Data[((img*cb+c/b)*ph+i)*pw*b+j*b+c%b]
									if got != want {
										require.Equal(t, want, got, "image %d packed channel %d row %d column %d", img, c, i, j)
									}
								}
							}
						}
					}
				})
			}
		}
		require.Positive(t, ran, "no size of the %dx%d stem was packed", spec.KH, spec.KW)
	}
}

// stemBenchCases are the stems the benchmarks time: CIFAR's and ImageNet's.
var stemBenchCases = []struct {
	name string
	spec kernels.ConvSpec
	h, w int
}{
	{"cifar-3x3-32x32", conv(3, 16, 3, 1, 1), 32, 32},
	{"imagenet-7x7s2-224x224", conv(3, 64, 7, 2, 3), 224, 224},
}

// BenchmarkStemPack times the pack of one image for the CIFAR stem (3x3
// over 32x32, 27 lanes packed) and ImageNet's (7x7 stride 2 over 224x224),
// on the threads kernels.Threads gives (SBCONV_THREADS=1: one core).
func BenchmarkStemPack(b *testing.B) {
	for _, c := range stemBenchCases {
		b.Run(c.name, func(b *testing.B) {
			s, err := NewStem(RandomStateDict(7), "conv1", "bn1", c.spec)
			require.NoError(b, err)
			s.direct = nil
			in := sweepInput(1, 1, c.h, c.w)
			ws, err := s.newWorkspace(1, c.h, c.w)
			require.NoError(b, err)
			for b.Loop() {
				s.pack(ws, in, c.h, c.w)
			}
		})
	}
}

// TestStemForward checks Stem.Forward against the convolution computed
// here in float64 from the folded weights (ReLU(bias + sum)), on the
// direct path where the dispatched set has stem kernels (strides 1 and 2)
// and on the packed path, for the CIFAR and ImageNet stems and odd ones
// (output channels that leave lanes of the last block empty, more output
// blocks than one kernel call takes, a kernel wider than tall, no
// padding, stride 3 which has no direct kernel), sizes down to a single
// pixel, batches of 1-3 on one and on two threads. Every lane past the
// output channels must be zero.
func TestStemForward(t *testing.T) {
	specs := []kernels.ConvSpec{
		conv(3, 16, 3, 1, 1), conv(3, 64, 7, 2, 3), conv(3, 24, 5, 2, 2), conv(1, 8, 3, 2, 0),
		conv(2, 72, 1, 1, 0), conv(3, 8, 5, 3, 2), conv(3, 136, 3, 1, 1),
		{InC: 3, OutC: 16, KH: 2, KW: 4, StrideH: 1, StrideW: 2, PadH: 1, PadW: 2},
	}
	sizes := [][2]int{{32, 32}, {1, 1}, {5, 3}, {13, 17}, {40, 23}}
	defer kernels.SetThreads(kernels.Threads())
	for _, spec := range specs {
		sd := RandomStateDict(11)
		s, err := NewStem(sd, "conv1", "bn1", spec)
		require.NoError(t, err)
		direct := s.direct
		if _, maxOCB := dispatchedStem(kernels.Block()); maxOCB > 0 && spec.StrideW <= 2 {
			require.NotNil(t, direct, "the dispatched set %s has stem kernels: stride %d must run direct", kernels.ISA(), spec.StrideW)
		}
		w, bias, err := foldedConv(sd, "conv1", "bn1", spec, false)
		require.NoError(t, err)
		for _, hw := range sizes {
			h, wd := hw[0], hw[1]
			oh, ow, err := s.OutputSize(h, wd)
			if err != nil {
				continue
			}
			for _, path := range []string{"direct", "packed"} {
				if path == "direct" && direct == nil {
					continue
				}
				for _, threads := range []int{1, 2} {
					for n := 1; n <= 3; n += 2 {
						name := fmt.Sprintf("%dx%d_s%d_c%d_o%d/%dx%d/%s/t%d/n%d", spec.KH, spec.KW, spec.StrideW, spec.InC, spec.OutC, h, wd, path, threads, n)
						t.Run(name, func(t *testing.T) {
							kernels.SetThreads(threads)
							st, err := NewStem(sd, "conv1", "bn1", spec)
							require.NoError(t, err)
							if path == "packed" {
								st.direct = nil
							}
							in := sweepInput(uint64(n*h*wd), n*spec.InC, h, wd)[:n*spec.InC*h*wd]
							dst, err := layout.New(n, spec.OutC, oh, ow, kernels.Block())
							require.NoError(t, err)
							for i := range dst.Data {
								dst.Data[i] = float32(math.NaN())
							}
							require.NoError(t, st.Forward(dst, in, n, h, wd))
							b, cb := dst.Block, dst.ChannelBlocks()
							taps := spec.InC * spec.KH * spec.KW
							for img := 0; img < n; img++ {
								for o := 0; o < cb*b; o++ {
									for y := 0; y < oh; y++ {
										for x := 0; x < ow; x++ {
											got := dst.Data[((img*cb+o/b)*oh+y)*ow*b+x*b+o%b]
											if o >= spec.OutC {
												if got != 0 {
													require.Zero(t, got, "image %d lane %d (past %d channels) row %d column %d", img, o, spec.OutC, y, x)
												}
												continue
											}
											want := float64(bias[o])
											for c := 0; c < spec.InC; c++ {
												for kh := 0; kh < spec.KH; kh++ {
													for kw := 0; kw < spec.KW; kw++ {
														iy, ix := y*spec.StrideH+kh-spec.PadH, x*spec.StrideW+kw-spec.PadW
														if iy >= 0 && iy < h && ix >= 0 && ix < wd {
															want += float64(w[((o*spec.InC+c)*spec.KH+kh)*spec.KW+kw]) * float64(in[((img*spec.InC+c)*h+iy)*wd+ix])
														}
													}
												}
											}
											want = max(want, 0)
											if d := math.Abs(float64(got) - want); !(d <= 1e-5*(math.Abs(want)+math.Sqrt(float64(taps)))) {
												require.InDelta(t, want, got, 1e-5*(math.Abs(want)+math.Sqrt(float64(taps))), "image %d channel %d row %d column %d", img, o, y, x)
											}
										}
									}
								}
							}
						})
					}
				}
			}
		}
	}
}

// BenchmarkStem times Stem.Forward of one image for the CIFAR stem (3x3
// over 32x32) and ImageNet's (7x7 stride 2 over 224x224), on the direct
// path where the dispatched set has stem kernels and on the packed path,
// on the threads kernels.Threads gives (SBCONV_THREADS=1: one core), with
// the real convolution's GFLOP/s.
func BenchmarkStem(b *testing.B) {
	for _, c := range stemBenchCases {
		for _, path := range []string{"direct", "packed"} {
			b.Run(c.name+"/"+path, func(b *testing.B) {
				s, err := NewStem(RandomStateDict(7), "conv1", "bn1", c.spec)
				require.NoError(b, err)
				if path == "packed" {
					s.direct = nil
				} else if s.direct == nil {
					b.Skipf("no stem kernels in the dispatched set %s", kernels.ISA())
				}
				oh, ow, err := s.OutputSize(c.h, c.w)
				require.NoError(b, err)
				dst, err := layout.New(1, c.spec.OutC, oh, ow, kernels.Block())
				require.NoError(b, err)
				in := sweepInput(1, c.spec.InC, c.h, c.w)[:c.spec.InC*c.h*c.w]
				for b.Loop() {
					if err := s.Forward(dst, in, 1, c.h, c.w); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(s.FLOPs(1, c.h, c.w)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
