package block

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/internal/workers"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// idleWorkspaces counts the workspaces n keeps, its stem's and blocks'
// included, and returns the input shapes n itself keeps, most recently
// used first.
func (n *Net) idleWorkspaces() (int, [][3]int) {
	total, keys := n.cache.idle()
	s, _ := n.stem.cache.idle()
	total += s
	for _, b := range n.blocks {
		k, _ := b.workspaces().idle()
		total += k
	}
	return total, keys
}

// TestShapeCacheBounds drives the cache directly: least recently used
// shapes go first, idle workspaces past the per-shape bound are dropped,
// release and a zero bound keep nothing.
func TestShapeCacheBounds(t *testing.T) {
	var c shapeCache[int]
	made := 0
	mk := func() (int, error) { made++; return made, nil }
	key := func(i int) [3]int { return [3]int{1, i, i} }
	c.setLimit(3, 2)
	for i := 1; i <= 5; i++ {
		require.NoError(t, c.with(key(i), mk, func(int) error { return nil }))
	}
	n, keys := c.idle()
	assert.Equal(t, 3, n)
	assert.Equal(t, [][3]int{key(5), key(4), key(3)}, keys)
	// Using shape 3 makes it the most recent: 4 is now the oldest and goes
	// when 6 comes.
	require.NoError(t, c.with(key(3), mk, func(int) error { return nil }))
	assert.Equal(t, 5, made, "shape 3's kept workspace was reused")
	require.NoError(t, c.with(key(6), mk, func(int) error { return nil }))
	_, keys = c.idle()
	assert.Equal(t, [][3]int{key(6), key(3), key(5)}, keys)

	// Five calls of one shape at once make five workspaces; two stay.
	var held []int
	for i := 0; i < 5; i++ {
		w, _, err := c.get(key(7), 1, mk)
		require.NoError(t, err)
		held = append(held, w)
	}
	for _, w := range held {
		c.put(key(7), w, -1)
	}
	n, keys = c.idle()
	assert.Equal(t, 2+1+1, n, "two of shape 7, one each of 6 and 3")
	assert.Equal(t, [][3]int{key(7), key(6), key(3)}, keys)

	// Lowering the bounds drops what they no longer allow.
	c.setLimit(1, 1)
	n, keys = c.idle()
	assert.Equal(t, 1, n)
	assert.Equal(t, [][3]int{key(7)}, keys)

	c.release()
	n, keys = c.idle()
	assert.Zero(t, n)
	assert.Empty(t, keys)

	c.setLimit(0, 0)
	require.NoError(t, c.with(key(1), mk, func(int) error { return nil }))
	n, _ = c.idle()
	assert.Zero(t, n, "shapes = 0 keeps nothing")

	// An error from mk is returned and nothing is kept.
	var d shapeCache[int]
	err := d.with(key(1), func() (int, error) { return 0, fmt.Errorf("no") }, func(int) error { return nil })
	require.EqualError(t, err, "no")
	n, _ = d.idle()
	assert.Zero(t, n)
}

// TestNetWorkspacesBounded: a network that sees 100 input sizes keeps the
// workspaces of the last DefaultWorkspaceShapes only, at most GOMAXPROCS
// each; Release drops them all; logits do not depend on what was kept.
func TestNetWorkspacesBounded(t *testing.T) {
	spec := NetSpec{Arch: "resnet18", SB: []int{2}, Width: 2}
	net, err := RandomNet(NetSpec{Arch: spec.Arch, SB: spec.SB, Width: spec.Width, NumClasses: 3}, 1)
	require.NoError(t, err)
	run := func(h, w int) []float32 {
		in := make([]float32, 3*h*w)
		for i := range in {
			in[i] = float32(i%13)/6 - 1
		}
		out := make([]float32, 3)
		require.NoError(t, net.Forward(out, in, 1, h, w))
		return out
	}
	first := run(9, 9)
	var keys [][3]int
	for i := 0; i < 100; i++ {
		h, w := 1+i%10, 1+i/10
		run(h, w)
		keys = append([][3]int{{1, h, w}}, keys...)
	}
	n, got := net.idleWorkspaces()
	assert.Equal(t, keys[:DefaultWorkspaceShapes], got, "the most recent shapes, newest first")
	assert.LessOrEqual(t, n, DefaultWorkspaceShapes*runtime.GOMAXPROCS(0))
	assert.Equal(t, DefaultWorkspaceShapes, n, "one call at a time keeps one workspace a shape")

	assert.Equal(t, first, run(9, 9), "a dropped shape's new workspace gives the same logits")
	net.Release()
	n, got = net.idleWorkspaces()
	assert.Zero(t, n)
	assert.Empty(t, got)
	assert.Equal(t, first, run(9, 9), "after Release")

	require.NoError(t, net.SetWorkspaceLimit(0, 0))
	assert.Equal(t, first, run(9, 9))
	n, _ = net.idleWorkspaces()
	assert.Zero(t, n, "SetWorkspaceLimit(0, 0) keeps nothing")

	// The stem and blocks run on their own keep workspaces too: the
	// Net's limit and Release reach them.
	require.NoError(t, net.SetWorkspaceLimit(2, 1))
	b := net.blocks[0]
	for _, hw := range []int{4, 5, 6} {
		src, err := layout.New(1, b.InChannels(), hw, hw, kernels.Block())
		require.NoError(t, err)
		dst, err := layout.New(1, b.OutChannels(), hw, hw, kernels.Block())
		require.NoError(t, err)
		require.NoError(t, b.Forward(dst, src))
		sdst, err := layout.New(1, net.stem.OutChannels(), (hw-1)/2+1, (hw-1)/2+1, kernels.Block())
		require.NoError(t, err)
		require.NoError(t, net.stem.Forward(sdst, make([]float32, 3*hw*hw), 1, hw, hw))
	}
	k, bkeys := b.workspaces().idle()
	assert.Equal(t, 2, k)
	assert.Equal(t, [][3]int{{1, 6, 6}, {1, 5, 5}}, bkeys)
	n, _ = net.idleWorkspaces()
	assert.Equal(t, 4, n, "two in block 0, two in the stem")
	net.Release()
	n, _ = net.idleWorkspaces()
	assert.Zero(t, n)
}

// TestSetWorkspaceLimitErrors: bounds out of range are errors naming the
// value.
func TestSetWorkspaceLimitErrors(t *testing.T) {
	net, err := RandomNet(NetSpec{Arch: "resnet20", Width: 2, NumClasses: 2}, 1)
	require.NoError(t, err)
	for _, c := range []struct {
		shapes, per int
		want        string
	}{
		{-1, 1, "shapes = -1"},
		{MaxWorkspaceLimit + 1, 1, fmt.Sprintf("shapes = %d", MaxWorkspaceLimit+1)},
		{1, -3, "perShape = -3"},
		{1, math.MaxInt, fmt.Sprintf("perShape = %d", math.MaxInt)},
	} {
		assert.ErrorContains(t, net.SetWorkspaceLimit(c.shapes, c.per), c.want)
	}
	require.NoError(t, net.SetWorkspaceLimit(MaxWorkspaceLimit, MaxWorkspaceLimit))
	var nilNet *Net
	assert.Error(t, nilNet.SetWorkspaceLimit(1, 1))
	assert.NotPanics(t, nilNet.Release)
	assert.NotPanics(t, (&Net{}).Release)
	assert.NotPanics(t, (*Stem)(nil).Release)
	assert.NotPanics(t, (*BasicBlock)(nil).Release)
}

// TestConcurrentForwardEvicting runs one network from many goroutines
// over more input sizes than it keeps, so workspaces are dropped and made
// while other calls run (and Release runs among them): every result is
// bit-identical to the sequential one, and what is kept stays within the
// bounds.
func TestConcurrentForwardEvicting(t *testing.T) {
	net, err := RandomNet(NetSpec{Arch: "resnet20", SB: []int{1, 3}, Width: 3, NumClasses: 4}, 3)
	require.NoError(t, err)
	require.NoError(t, net.SetWorkspaceLimit(2, 2))
	sizes := [][3]int{{1, 8, 8}, {2, 7, 9}, {1, 12, 5}, {3, 4, 4}, {1, 1, 2}}
	forwardConcurrently(t, net, sizes, 11, 12, 6, func(g, r int) {
		if g == 0 && r == 3 {
			net.Release()
		}
	})
	n, keys := net.idleWorkspaces()
	assert.LessOrEqual(t, n, 2*2)
	assert.LessOrEqual(t, len(keys), 2)
}

// forwardConcurrently runs net sequentially on a random input of each
// size (batch, h, w), then from goroutines goroutines, rounds calls each
// over the sizes in turn, and requires every result bit-identical to the
// sequential one. after(g, r) runs after goroutine g's call r.
func forwardConcurrently(t *testing.T, net *Net, sizes [][3]int, seed uint64, goroutines, rounds int, after func(g, r int)) {
	t.Helper()
	classes := net.NumClasses()
	inputs := make([][]float32, len(sizes))
	wants := make([][]float32, len(sizes))
	for i, s := range sizes {
		rng := rand.New(rand.NewPCG(uint64(i), seed))
		inputs[i] = make([]float32, s[0]*3*s[1]*s[2])
		for j := range inputs[i] {
			inputs[i][j] = float32(rng.NormFloat64())
		}
		wants[i] = make([]float32, s[0]*classes)
		require.NoError(t, net.Forward(wants[i], inputs[i], s[0], s[1], s[2]))
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				i := (g*3 + r) % len(sizes)
				s := sizes[i]
				got := make([]float32, s[0]*classes)
				if err := net.Forward(got, inputs[i], s[0], s[1], s[2]); err != nil {
					errs <- err
					return
				}
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(wants[i][j]) {
						errs <- fmt.Errorf("goroutine %d size %v: logit %d = %v, want %v", g, s, j, got[j], wants[i][j])
						return
					}
				}
				if after != nil {
					after(g, r)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCacheHold: a shape's calls hold the workers until one of them
// splits nothing while holding them; a call that splits makes the next
// hold again, and a new thread count starts over.
func TestCacheHold(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	kernels.SetThreads(2)
	var c shapeCache[int]
	mk := func() (int, error) { return 0, nil }
	prm := new(asm.Params)
	call := func(split bool) (held bool) {
		require.NoError(t, c.with([3]int{1, 8, 8}, mk, func(int) error {
			held = workers.Held()
			if split {
				workers.Run(nopRunner{}, 4, 2, prm)
			}
			return nil
		}))
		return held
	}
	assert.True(t, call(false), "a new shape's first call holds")
	assert.False(t, call(false), "after a call that split nothing")
	assert.False(t, call(true), "still quiet")
	assert.True(t, call(false), "after a call that split while not held")
	assert.False(t, call(false))
	kernels.SetThreads(3)
	assert.True(t, call(true), "a new thread count holds")
	assert.True(t, call(false), "after a call that split")
	assert.False(t, call(false))
	kernels.SetThreads(1)
	assert.False(t, call(false), "one thread never holds")
}

type nopRunner struct{}

func (nopRunner) RunUnit(int, *asm.Params) {}
