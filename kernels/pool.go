package kernels

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sbconv/sbconv/asm"
)

// Threads: one Forward call splits its work into units (batch image x
// channel-block group x pass x row chunk) that the calling goroutine and up
// to SetThreads-1 persistent workers take from an atomic counter. Workers
// are started once and kept; a call allocates nothing (its work record
// comes from a free list), and concurrent calls share the workers while
// each caller also works on its own units, so every call makes progress.

var threads atomic.Int32

// maxThreads caps SetThreads and SBCONV_THREADS.
const maxThreads = 1024

func init() { threads.Store(int32(defaultThreads())) }

// defaultThreads is SBCONV_THREADS when it holds a valid count, else
// GOMAXPROCS, capped at maxThreads. A valid count is a positive decimal
// integer, surrounding spaces allowed; counts over maxThreads, even past
// the int64 range, are capped at it. Anything else (empty, not a number,
// zero, negative) is ignored.
func defaultThreads() int {
	v := strings.TrimSpace(os.Getenv("SBCONV_THREADS"))
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err == nil && n > 0:
		return int(min(n, maxThreads))
	case errors.Is(err, strconv.ErrRange) && n > 0: // past MaxInt64: a count, just a huge one
		return maxThreads
	}
	return min(runtime.GOMAXPROCS(0), maxThreads)
}

// SetThreads sets how many goroutines one Forward call uses (the caller's
// included), capped at 1024. n <= 0 restores the default: SBCONV_THREADS
// if it holds a positive integer (capped likewise; other values are
// ignored), else GOMAXPROCS.
func SetThreads(n int) {
	if n <= 0 {
		n = defaultThreads()
	}
	threads.Store(int32(min(n, maxThreads)))
}

// Threads returns the number of goroutines a Forward call uses.
func Threads() int { return int(threads.Load()) }

// unitRunner is one Forward call's work, split into numbered units. prm is
// the running goroutine's own microkernel argument block: the microkernels
// are called through function values, so a block on the stack would escape
// and allocate at every call.
type unitRunner interface {
	runUnit(u int, prm *asm.Params)
}

// task is the shared record of one parallel call.
type task struct {
	r     unitRunner
	units int64
	next  atomic.Int64
	left  atomic.Int32 // workers still draining it
}

// drain runs units until none is left.
func (t *task) drain(prm *asm.Params) {
	for {
		u := t.next.Add(1) - 1
		if u >= t.units {
			return
		}
		t.r.runUnit(int(u), prm)
	}
}

var pool struct {
	mu      sync.Mutex
	workers int
	ch      chan *task
	free    freeList[task]
}

func init() { pool.ch = make(chan *task, 256) }

// spinWait is how long an idle worker keeps polling for the next task
// before it parks. Layers run back to back in inference, and waking a
// parked worker costs tens of microseconds, more than a small layer's
// share of the work; polling briefly, like OpenMP runtimes do, lets the
// next call find it awake.
const spinWait = 50 * time.Microsecond

func worker() {
	prm := new(asm.Params)
	for {
		t := nextTask()
		t.drain(prm)
		t.left.Add(-1)
	}
}

// nextTask polls the queue for up to spinWait, then blocks on it.
func nextTask() *task {
	deadline := time.Now().Add(spinWait)
	for time.Now().Before(deadline) {
		select {
		case t := <-pool.ch:
			return t
		default:
			runtime.Gosched()
		}
	}
	return <-pool.ch
}

// parallel runs r's units 0..units-1 on up to n goroutines and returns when
// all are done; prm is the calling goroutine's argument block.
func parallel(r unitRunner, units, n int, prm *asm.Params) {
	n = min(n, units)
	if n <= 1 {
		for u := 0; u < units; u++ {
			r.runUnit(u, prm)
		}
		return
	}
	pool.mu.Lock()
	for pool.workers < n-1 {
		go worker()
		pool.workers++
	}
	pool.mu.Unlock()
	t := pool.free.get()

	t.r, t.units = r, int64(units)
	t.next.Store(0)
	t.left.Store(int32(n - 1))
	for i := 0; i < n-1; i++ {
		pool.ch <- t
	}
	t.drain(prm)
	// Wait for the workers' last units by polling, not by parking: a
	// parked caller is woken on the finishing worker's P, which then runs
	// the caller's next layer while the worker waits in the queue for an
	// idle P to steal it, so every layer of a network would start on one
	// core (two-thread ResNet-18: 1.4x one thread with a WaitGroup here).
	for t.left.Load() > 0 {
		runtime.Gosched()
	}
	t.r = nil
	pool.free.put(t)
}
