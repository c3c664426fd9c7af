package block

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/kernels"
)

// TestSideBySideBitIdentical: whether a batch runs its images side by side
// (batch >= threads), partly so (a remainder split layer by layer) or with
// every layer split, the logits are bit-identical to one thread's, and the
// steady state allocates nothing.
func TestSideBySideBitIdentical(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	for _, spec := range []NetSpec{
		{Arch: "resnet20", SB: []int{1, 2, 3}, Width: 8, NumClasses: 10},
		{Arch: "resnet20", Width: 8, NumClasses: 10},
		{Arch: "resnet18", SB: []int{2, 4}, Width: 4, NumClasses: 10},
	} {
		h := 16
		if spec.Arch == "resnet18" {
			h = 37
		}
		net, err := RandomNet(spec, 7)
		require.NoError(t, err)
		for _, batch := range []int{1, 2, 3, 5, 8} {
			in := make([]float32, batch*3*h*h)
			for i := range in {
				in[i] = float32((i*7919)%251)/64 - 2
			}
			kernels.SetThreads(1)
			want := make([]float32, batch*net.NumClasses())
			require.NoError(t, net.Forward(want, in, batch, h, h))
			for _, threads := range []int{2, 3, 4} {
				t.Run(fmt.Sprintf("%s/sb%v/batch%d/threads%d", spec.Arch, spec.SB, batch, threads), func(t *testing.T) {
					kernels.SetThreads(threads)
					got := make([]float32, len(want))
					require.NoError(t, net.Forward(got, in, batch, h, h))
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("logit %d: %v on %d threads, %v on one", i, got[i], threads, want[i])
						}
					}
					if testing.Short() {
						return
					}
					allocs := steadyAllocs(func() {
						if err := net.Forward(got, in, batch, h, h); err != nil {
							t.Fatal(err)
						}
					})
					assert.Zero(t, allocs, "allocations per Forward in the steady state")
				})
			}
		}
	}
}

// TestSidesSplit: side by side, every goroutine's group of images views
// its own part of every map; batches that do not divide evenly run layer
// by layer.
func TestSidesSplit(t *testing.T) {
	net, err := RandomNet(NetSpec{Arch: "resnet20", Width: 8, NumClasses: 10}, 1)
	require.NoError(t, err)
	for _, c := range []struct {
		batch, threads int
		side           bool
	}{{8, 2, true}, {5, 2, false}, {3, 3, true}, {7, 4, false}, {9, 2, false}, {1, 2, false}, {4, 1, false}, {6, 4, false}, {12, 3, true}} {
		assert.Equal(t, c.side, sideBySide(c.batch, c.threads), "batch %d threads %d", c.batch, c.threads)
		ws, err := net.newWorkspace(c.batch, 8, 8, false)
		require.NoError(t, err)
		s := net.sidesFor(ws, ws.stem, c.threads)
		if !c.side {
			assert.Nil(t, s, "batch %d threads %d", c.batch, c.threads)
			continue
		}
		require.NotNil(t, s)
		require.Len(t, s.groups, c.threads)
		images := c.batch / c.threads
		per := len(ws.stem.Data) / c.batch
		perOut := len(ws.out.Data) / c.batch
		for g, r := range s.groups {
			assert.Equal(t, images, r.x.N, "group %d", g)
			assert.Same(t, &ws.stem.Data[g*images*per], &r.x.Data[0], "group %d's input", g)
			// The group's blocks, run in place, leave its output in its
			// own part of the whole batch's output map.
			out := r.x
			for i, b := range net.blocks {
				out = b.out(out, r.tmp[i])
			}
			assert.Same(t, &ws.out.Data[g*images*perOut], &out.Data[0], "group %d's output", g)
			assert.Len(t, out.Data, images*perOut)
		}
	}
}
