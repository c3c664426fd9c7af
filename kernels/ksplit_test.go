package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/layout"
)

// kSplitCases are layers above replayMaxFLOPs (replayed layers never
// split) whose units walk their weights more than once: tiles of a
// rate-4 reduce, row calls of a 3x3 layer on 7x7, a stride-3 reduce, the
// phases of a rate-4 restore, a 1x1 layer; with and without bias,
// residual and ReLU.
var kSplitCases = []struct {
	c      convCase
	deconv bool
}{
	{convCase{n: 2, inC: 64, outC: 80, h: 14, w: 14, kh: 5, kw: 5, sh: 4, sw: 4, ph: 2, pw: 2, bias: true, res: true, relu: true}, false},
	{convCase{n: 1, inC: 64, outC: 80, h: 7, w: 7, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, bias: true, relu: true}, false},
	{convCase{n: 2, inC: 64, outC: 96, h: 14, w: 13, kh: 3, kw: 3, sh: 3, sw: 3, ph: 1, pw: 1, res: true}, false},
	{convCase{n: 2, inC: 64, outC: 80, h: 4, w: 4, kh: 5, kw: 5, sh: 4, sw: 4, ph: 2, pw: 2, oh: 14, ow: 14, bias: true, res: true, relu: true}, true},
	{convCase{n: 3, inC: 64, outC: 80, h: 14, w: 14, kh: 1, kw: 1, sh: 1, sw: 1, bias: true, relu: true}, false},
}

// TestKSplit runs the kSplitCases with their units' input blocks split
// into chunks (one block a chunk; and 120 KB, which splits the first
// case's units unevenly with AVX-512, 1+1+2 blocks) on every set:
// against package ref, ForwardAdd bit for bit against Forward (the later
// chunks add onto what the earlier stored, in place too), the same bits
// on 1, 2 and 3 threads, and, so that the test knows the split ran,
// other bits than the unsplit sums somewhere (one block a chunk).
func TestKSplit(t *testing.T) {
	saved := kSplitBytes
	defer func() { kSplitBytes = saved }()
	defer SetThreads(Threads())
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		b := set.Block
		for _, budget := range []int{1, 120 << 10} {
			for i, kc := range kSplitCases {
				c := kc.c
				c.block = b
				kSplitBytes = budget
				SetThreads(1)
				c.run(t, rand.New(rand.NewPCG(uint64(i), 7)), kc.deconv)

				var outs []*layout.Tensor
				for _, threads := range []int{1, 2, 3, 1} {
					SetThreads(threads)
					if len(outs) == 3 {
						kSplitBytes = math.MaxInt // the unsplit sums last
					}
					outs = append(outs, kSplitRun(t, c, kc.deconv))
				}
				kSplitBytes = budget
				for k, o := range outs[1:3] {
					for j := range o.Data {
						if math.Float32bits(o.Data[j]) != math.Float32bits(outs[0].Data[j]) {
							t.Fatalf("%v, chunks of %d bytes: value %d on %d threads %v, on one %v", c, budget, j, k+2, o.Data[j], outs[0].Data[j])
						}
					}
				}
				if budget > 1 {
					continue // a set's units may fit in budget (NEON's, of two blocks)
				}
				differ := false
				for j := range outs[3].Data {
					differ = differ || math.Float32bits(outs[3].Data[j]) != math.Float32bits(outs[0].Data[j])
				}
				require.True(t, differ, "%v, chunks of %d bytes: the same bits as without chunks: did the split run?", c, budget)
			}
		}
	})
}

// kSplitRun runs case c on fixed random data and returns its output.
func kSplitRun(t *testing.T, c convCase, deconv bool) *layout.Tensor {
	t.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	x := mustTensor(t, r, c.n, c.inC, c.h, c.w, c.block)
	w, bias := randSlice(r, c.outC*c.inC*c.kh*c.kw), randSlice(r, c.outC)
	oh, ow := c.oh, c.ow
	var run func(y *layout.Tensor) error
	if deconv {
		d, err := NewConvTranspose2D(c.spec(), w, bias, c.block)
		require.NoError(t, err)
		run = func(y *layout.Tensor) error { return d.Forward(y, x, Epilogue{ReLU: c.relu}) }
	} else {
		cv, err := NewConv2D(c.spec(), w, bias, c.block)
		require.NoError(t, err)
		oh, ow, err = cv.OutputSize(c.h, c.w)
		require.NoError(t, err)
		run = func(y *layout.Tensor) error { return cv.Forward(y, x, Epilogue{ReLU: c.relu}) }
	}
	y, err := layout.New(c.n, c.outC, oh, ow, c.block)
	require.NoError(t, err)
	require.NoError(t, run(y))
	return y
}
