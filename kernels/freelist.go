package kernels

// This file holds the free lists that recycle call records, so that the
// steady state allocates nothing.

import (
	"sync"
)

// fwdFree recycles call records, so that a Forward call allocates nothing
// once as many calls as ever run at once have run.
var fwdFree freeList[fwd]

// freeList is a mutex-guarded stack of records. Unlike sync.Pool it is not
// emptied by the garbage collector, so the steady state never allocates.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

func (fl *freeList[T]) get() *T {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if k := len(fl.items); k > 0 {
		x := fl.items[k-1]
		fl.items = fl.items[:k-1]
		return x
	}
	return new(T)
}

func (fl *freeList[T]) put(x *T) {
	fl.mu.Lock()
	fl.items = append(fl.items, x)
	fl.mu.Unlock()
}

// putAtMost is put, but keeps at most limit records: past it x is
// dropped for the garbage collector.
func (fl *freeList[T]) putAtMost(x *T, limit int) {
	fl.mu.Lock()
	if len(fl.items) < limit {
		fl.items = append(fl.items, x)
	}
	fl.mu.Unlock()
}

// drain drops every kept record.
func (fl *freeList[T]) drain() {
	fl.mu.Lock()
	clear(fl.items)
	fl.items = nil
	fl.mu.Unlock()
}

// size returns the number of kept records.
func (fl *freeList[T]) size() int {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return len(fl.items)
}
