package block

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/kernels"
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

// BenchmarkStemPack times the pack of one image for the CIFAR stem (3x3
// over 32x32, 27 lanes packed) and ImageNet's (7x7 stride 2 over 224x224),
// on the threads kernels.Threads gives (SBCONV_THREADS=1: one core).
func BenchmarkStemPack(b *testing.B) {
	for _, c := range []struct {
		name string
		spec kernels.ConvSpec
		h, w int
	}{
		{"cifar-3x3-32x32", conv(3, 16, 3, 1, 1), 32, 32},
		{"imagenet-7x7s2-224x224", conv(3, 64, 7, 2, 3), 224, 224},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, err := NewStem(RandomStateDict(7), "conv1", "bn1", c.spec)
			require.NoError(b, err)
			in := sweepInput(1, 1, c.h, c.w)
			ws, err := s.newWorkspace(1, c.h, c.w)
			require.NoError(b, err)
			for b.Loop() {
				s.pack(ws, in, c.h, c.w)
			}
		})
	}
}
