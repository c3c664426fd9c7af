package block

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// outOfPlace computes net's logits as Forward does but with every block
// run out of place (Block.Forward's way, each into a map of its own) and
// on intermediates of its own (none shared with another block's, as a
// workspace shares them): the reference Forward's in-place blocks on
// shared maps must match bit for bit.
func outOfPlace(t *testing.T, net *Net, in []float32, batch, h, w int) []float32 {
	t.Helper()
	ws, err := net.newWorkspace(batch, h, w, true)
	require.NoError(t, err)
	require.NoError(t, net.stem.forward(ws.stem, ws.stemWS, in, h, w))
	x := ws.stem
	if ws.pooled != nil {
		require.NoError(t, maxPool3s2(ws.pooled, x))
		x = ws.pooled
	}
	h, w = x.H, x.W
	for i, b := range net.blocks {
		tmp, err := newTensors(batch, b.scratch(h, w))
		require.NoError(t, err)
		require.NoError(t, b.forward(ws.acts[i], x, tmp))
		x = ws.acts[i]
		h, w = x.H, x.W
	}
	globalAvgPool(ws.feat, x)
	require.NoError(t, net.fc.Forward(ws.logits, ws.feat, kernels.Epilogue{}))
	out := make([]float32, batch*net.NumClasses())
	require.NoError(t, ws.logits.NCHWInto(out))
	return out
}

// TestForwardInPlace: Forward runs each block in place, its last layer
// adding onto the residual's map (the input, or the projection's output);
// the logits are bit-identical to the blocks run out of place, for every
// block type with and without projections, at every rate, on one and two
// threads and side by side, on the dispatched set.
func TestForwardInPlace(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	for i, c := range []struct {
		spec        NetSpec
		batch, h, w int
	}{
		{NetSpec{Arch: "resnet20", Width: 8}, 1, 17, 15},
		{NetSpec{Arch: "resnet20", SB: []int{1, 2, 3}, Width: 8, Rate: 3}, 2, 19, 21},
		{NetSpec{Arch: "resnet32", SB: []int{2}, Width: 8, Rate: 4}, 3, 16, 16},
		{NetSpec{Arch: "resnet18", SB: []int{1, 3}, Width: 4}, 2, 33, 35},
		{NetSpec{Arch: "resnet18", Width: 4}, 1, 40, 40},
		{NetSpec{Arch: "resnet50", SB: []int{2, 4}, Width: 2, Rate: 3}, 2, 37, 41},
		{NetSpec{Arch: "resnet50", Width: 2}, 1, 32, 32},
	} {
		c.spec.NumClasses = 7
		net, err := RandomNet(c.spec, uint64(40+i))
		require.NoError(t, err)
		r := rand.New(rand.NewPCG(uint64(i), 5))
		in := make([]float32, c.batch*3*c.h*c.w)
		for j := range in {
			in[j] = r.Float32()*2 - 1
		}
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/sb%v/r%d/n%d/t%d", c.spec.Arch, c.spec.SB, c.spec.Rate, c.batch, threads), func(t *testing.T) {
				kernels.SetThreads(threads)
				want := outOfPlace(t, net, in, c.batch, c.h, c.w)
				got := make([]float32, len(want))
				for rep := 0; rep < 2; rep++ { // the second call on the workspace the first overwrote
					require.NoError(t, net.Forward(got, in, c.batch, c.h, c.w))
					for j := range got {
						if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
							t.Fatalf("call %d: logit %d = %v, out of place %v", rep, j, got[j], want[j])
						}
					}
				}
			})
		}
	}
}

// TestSharedMaps: a workspace's blocks share their maps of one shape (the
// k-th of a shape in one block is the k-th in every other), a block's own
// maps are distinct, and a projection's output (own) is never shared.
func TestSharedMaps(t *testing.T) {
	s := sharedMaps{batch: 2, maps: map[sharedKey]*layout.Tensor{}}
	a, b, p := [3]int{4, 5, 5}, [3]int{8, 3, 3}, [3]int{8, 3, 3}
	first, err := s.take([][3]int{a, a, p}, true)
	require.NoError(t, err)
	require.Len(t, first, 3)
	for _, m := range first {
		require.Equal(t, 2, m.N)
	}
	assert.NotSame(t, first[0], first[1], "two maps of one shape in one block")
	assert.Equal(t, [3]int{8, 3, 3}, [3]int{first[2].C, first[2].H, first[2].W})

	second, err := s.take([][3]int{b, a, a}, false)
	require.NoError(t, err)
	assert.Same(t, first[0], second[1], "the first map of a shape")
	assert.Same(t, first[1], second[2], "the second map of a shape")
	assert.NotSame(t, first[2], second[0], "a projection's output shared with another block's map")

	third, err := s.take([][3]int{b, p}, true)
	require.NoError(t, err)
	assert.Same(t, second[0], third[0])
	assert.NotSame(t, third[1], first[2], "two projections' outputs")
	assert.NotSame(t, third[1], third[0])

	_, err = s.take([][3]int{{1 << 20, 1 << 20, 1 << 20}}, false)
	require.Error(t, err)
}
