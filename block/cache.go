package block

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/sbconv/sbconv/internal/workers"
	"github.com/sbconv/sbconv/kernels"
)

// Workspace bounds. A network (and a block or stem run on its own) keeps
// the intermediate tensors of a Forward call when the call returns, so
// that the next call of the same input shape (batch, height, width)
// allocates nothing. What it keeps is bounded: the workspaces of at most
// DefaultWorkspaceShapes input shapes, the least recently used shape
// dropped first, and for each shape at most GOMAXPROCS idle workspaces
// (as many as calls usually run at once); a call that finds none idle
// allocates its own, and one returned past the bound is dropped for the
// garbage collector. SetWorkspaceLimit changes the bounds and Release
// drops everything kept.
const (
	DefaultWorkspaceShapes = 4
	// MaxWorkspaceLimit bounds both arguments of SetWorkspaceLimit.
	MaxWorkspaceLimit = 1 << 16
)

// shapeCache keeps the idle workspaces of the input shapes (batch,
// height, width) a network or block saw last, within the bounds above.
// The zero value uses the default bounds. Safe for concurrent use.
type shapeCache[T any] struct {
	mu       sync.Mutex
	shapes   []shapeFree[T] // most recently used first
	limited  bool           // SetWorkspaceLimit was called: maxShapes and perShape hold
	maxShape int            // shapes kept
	perShape int            // idle workspaces kept per shape; 0: GOMAXPROCS
}

// shapeFree is one input shape's idle workspaces.
type shapeFree[T any] struct {
	key  [3]int
	free []T
	// quiet is the thread count at which the shape's last call split
	// nothing while it held the workers (workers.Split), or 0: its calls
	// at that count then run without holding them.
	quiet int
}

// limits returns the bounds in force. c.mu is held.
func (c *shapeCache[T]) limits() (shapes, perShape int) {
	shapes, perShape = DefaultWorkspaceShapes, 0
	if c.limited {
		shapes, perShape = c.maxShape, c.perShape
	}
	if perShape == 0 {
		perShape = runtime.GOMAXPROCS(0)
	}
	return shapes, perShape
}

// touch moves key's entry to the front (adding it when absent and add is
// set, then dropping the least recently used past the bound) and returns
// its index, 0, or -1 when absent. c.mu is held.
func (c *shapeCache[T]) touch(key [3]int, add bool) int {
	i := 0
	for i < len(c.shapes) && c.shapes[i].key != key {
		i++
	}
	if i == len(c.shapes) {
		if !add {
			return -1
		}
		c.shapes = append(c.shapes, shapeFree[T]{key: key})
	}
	e := c.shapes[i]
	copy(c.shapes[1:i+1], c.shapes[:i])
	c.shapes[0] = e
	c.trim()
	if len(c.shapes) == 0 {
		return -1
	}
	return 0
}

// trim drops the shapes and idle workspaces past the bounds. c.mu is held.
func (c *shapeCache[T]) trim() {
	shapes, perShape := c.limits()
	for i := shapes; i < len(c.shapes); i++ {
		clear(c.shapes[i].free)
		c.shapes[i] = shapeFree[T]{}
	}
	c.shapes = c.shapes[:min(len(c.shapes), shapes)]
	for i := range c.shapes {
		if f := c.shapes[i].free; len(f) > perShape {
			clear(f[perShape:])
			c.shapes[i].free = f[:perShape]
		}
	}
}

// get returns an idle workspace of key, or a new one from mk, and
// whether a call on threads goroutines should hold the workers.
func (c *shapeCache[T]) get(key [3]int, threads int, mk func() (T, error)) (T, bool, error) {
	c.mu.Lock()
	hold := threads > 1
	if i := c.touch(key, false); i >= 0 {
		hold = hold && c.shapes[i].quiet != threads
		if f := c.shapes[i].free; len(f) > 0 {
			t := f[len(f)-1]
			var zero T
			f[len(f)-1] = zero
			c.shapes[i].free = f[:len(f)-1]
			c.mu.Unlock()
			return t, hold, nil
		}
	}
	c.mu.Unlock()
	t, err := mk()
	return t, hold, err
}

// put keeps t as an idle workspace of key, within the bounds, and
// records quiet: the thread count at which the call split nothing while
// holding the workers, or 0.
func (c *shapeCache[T]) put(key [3]int, t T, quiet int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.touch(key, true)
	if i < 0 {
		return
	}
	if quiet >= 0 {
		c.shapes[i].quiet = quiet
	}
	_, perShape := c.limits()
	if len(c.shapes[i].free) < perShape {
		c.shapes[i].free = append(c.shapes[i].free, t)
	}
}

// with runs f on a workspace of key (an idle one, or a new one from mk)
// and then keeps it: the one sequence every Forward follows. The workers
// are held for the call (workers.Hold), so that its layers find them
// polling rather than parked, and small layers split too; unless the
// shape's last call at this thread count split nothing while holding
// them (workers.Split). A held worker that is given nothing polls on a
// core of its own for the whole call and 2 ms after it: SB ResNet-20 at
// batch 1, whose layers all stay on one thread on AVX-512, ran at
// 1.99 cores busy and slower than on one thread (AMD EPYC Zen 5). A call
// that is not held splits no more than a held one (the thresholds are
// higher), so a quiet shape stays quiet; one that split anyway (another
// call's Hold lowers the thresholds for all), or ran beside other calls,
// makes the next call hold again. The logits do not depend on any of it.
func (c *shapeCache[T]) with(key [3]int, mk func() (T, error), f func(T) error) error {
	threads := kernels.Threads()
	ws, hold, err := c.get(key, threads, mk)
	if err != nil {
		return err
	}
	if hold {
		workers.Hold(threads)
	}
	token := workers.Watch()
	err = f(ws)
	if hold {
		workers.Unhold()
	}
	quiet := 0 // split, or maybe (another call watched meanwhile): hold next time
	if !workers.Split(token) && threads > 1 {
		quiet = threads
		if !hold {
			quiet = -1 // keep what is known
		}
	}
	c.put(key, ws, quiet)
	return err
}

// setLimit sets the bounds (see SetWorkspaceLimit) and drops what they
// no longer allow.
func (c *shapeCache[T]) setLimit(shapes, perShape int) {
	c.mu.Lock()
	c.limited, c.maxShape, c.perShape = true, shapes, perShape
	c.trim()
	c.mu.Unlock()
}

// release drops every idle workspace.
func (c *shapeCache[T]) release() {
	c.mu.Lock()
	clear(c.shapes)
	c.shapes = nil
	c.mu.Unlock()
}

// idle returns the number of idle workspaces kept and the shapes they
// are kept for, most recently used first (for tests).
func (c *shapeCache[T]) idle() (n int, keys [][3]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.shapes {
		n += len(e.free)
		keys = append(keys, e.key)
	}
	return n, keys
}

// checkWorkspaceLimit validates SetWorkspaceLimit's arguments.
func checkWorkspaceLimit(shapes, perShape int) error {
	if shapes < 0 || shapes > MaxWorkspaceLimit {
		return fmt.Errorf("block: SetWorkspaceLimit: shapes = %d: must be in [0, %d] (0 keeps no workspace)", shapes, MaxWorkspaceLimit)
	}
	if perShape < 0 || perShape > MaxWorkspaceLimit {
		return fmt.Errorf("block: SetWorkspaceLimit: perShape = %d: must be in [0, %d] (0 means GOMAXPROCS)", perShape, MaxWorkspaceLimit)
	}
	return nil
}
