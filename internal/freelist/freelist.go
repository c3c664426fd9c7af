// Package freelist holds the free lists that recycle call records, so that
// the steady state of a Forward call allocates nothing.
package freelist

import (
	"runtime"
	"sync/atomic"
)

// List is a lock-guarded stack of records. Unlike sync.Pool it is not
// emptied by the garbage collector, so the steady state never allocates.
//
// The lock spins and yields rather than parking: a goroutine that parks
// on a sync.Mutex takes a wait record (sudog) from the runtime, which
// allocates one when its per-P cache runs dry, as it does when several
// goroutines of a network's side-by-side images contend for the same
// layer's list (one allocation in a few hundred Forward calls under load).
// A critical section here is a few loads and stores.
type List[T any] struct {
	mu    spinLock
	items []*T
}

// spinLock is a lock whose waiters yield the processor between tries and
// never park.
type spinLock struct{ held atomic.Bool }

func (l *spinLock) Lock() {
	for !l.held.CompareAndSwap(false, true) {
		runtime.Gosched()
	}
}

func (l *spinLock) Unlock() { l.held.Store(false) }

// Get returns a kept record, or a new one.
func (fl *List[T]) Get() *T {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if k := len(fl.items); k > 0 {
		x := fl.items[k-1]
		fl.items = fl.items[:k-1]
		return x
	}
	return new(T)
}

// Put keeps x for a later Get.
func (fl *List[T]) Put(x *T) {
	fl.mu.Lock()
	fl.items = append(fl.items, x)
	fl.mu.Unlock()
}

// PutAtMost is put, but keeps at most limit records: past it x is
// dropped for the garbage collector.
func (fl *List[T]) PutAtMost(x *T, limit int) {
	fl.mu.Lock()
	if len(fl.items) < limit {
		fl.items = append(fl.items, x)
	}
	fl.mu.Unlock()
}

// Drain drops every kept record.
func (fl *List[T]) Drain() {
	fl.mu.Lock()
	clear(fl.items)
	fl.items = nil
	fl.mu.Unlock()
}

// Size returns the number of kept records.
func (fl *List[T]) Size() int {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return len(fl.items)
}

// Kept returns the kept records, a copy of the list (for tests that check
// what a record holds between calls).
func (fl *List[T]) Kept() []*T {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return append([]*T(nil), fl.items...)
}
