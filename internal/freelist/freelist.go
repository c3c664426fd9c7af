// Package freelist holds the free lists that recycle call records, so that
// the steady state of a Forward call allocates nothing.
package freelist

import (
	"sync"
)

// List is a mutex-guarded stack of records. Unlike sync.Pool it is not
// emptied by the garbage collector, so the steady state never allocates.
type List[T any] struct {
	mu    sync.Mutex
	items []*T
}

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
