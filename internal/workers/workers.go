// Package workers is sbconv's pool of worker goroutines: one parallel call
// splits its work into numbered units that the calling goroutine and up to
// n-1 workers take from an atomic counter. The kernels' layers, the stem's
// pack and the networks' image groups all run through Run.
//
// A call posts a task in one of a few slots with n-1 tickets; an idle
// worker polls the slots and joins a task by taking a ticket. A worker
// polls for spinWait after its last unit, or for as long as a Hold is in
// force (at most maxHeldSpin), and then parks until a call wakes it. A
// network call holds the workers for all of its layers, so that a layer
// of a few microseconds finds them awake: what a split then costs is
// SyncCost, measured by BenchmarkRun, not a wake-up (tens of microseconds).
//
// Workers are started when a call first asks for them and kept. A call
// allocates nothing (tasks come from a free list), and concurrent calls
// share the workers while each caller also works on its own units, so
// every call makes progress even when no worker is free.
package workers

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/internal/freelist"
)

// Runner is one parallel call's work, split into numbered units. prm is
// the running goroutine's own microkernel argument block: the microkernels
// are called through function values, so a block on the stack would escape
// and allocate at every call.
type Runner interface {
	RunUnit(u int, prm *asm.Params)
}

// task is the shared record of one parallel call. Its units are dealt
// out in n contiguous ranges, one per goroutine (the caller's is range 0,
// a worker's the number of its ticket): a goroutine runs its own range
// first and then takes units from the others' ends. Layer after layer the
// same goroutine so writes the same rows of a map and reads the rows it
// wrote, in its own core's cache (taking units from one shared counter,
// two threads ran a CIFAR layer 1.0x one thread: each row's lines moved
// between the cores every layer).
//
// A task keeps the slot it was given when it was made, for good: a call
// posts it by storing its tickets, the one atomic write a call makes on a
// line that the polling workers read. Everything else a call sets up is
// written with plain stores before that one, and the parts' counters are
// shared only once a worker has taken a ticket. Every line that moves
// between two cores costs a few hundred nanoseconds on a virtual machine
// (a store seen by the other core: about 450 ns on the 2-vCPU AMD EPYC
// Zen 5 of docs/scaling.md), so a call's cost is the number of such
// moves on its path, not its instructions.
type task struct {
	r       Runner
	parts   []part
	slot    int          // the slot the task owns, or -1 (it then runs alone)
	tickets atomic.Int32 // workers that may still join
	left    int32        // workers joined or still able to join, not yet done (atomic once posted)
}

// part is one goroutine's range of units, on a cache line of its own.
type part struct {
	next int64 // the next unit of the range not yet taken (atomic once posted)
	end  int64
	_    [48]byte
}

// drain runs range i's units, then the units left in the others.
func (t *task) drain(i int, prm *asm.Params) {
	n := len(t.parts)
	for k := 0; k < n; k++ {
		p := &t.parts[(i+k)%n]
		for {
			u := atomic.AddInt64(&p.next, 1) - 1
			if u >= p.end {
				break
			}
			t.r.RunUnit(int(u), prm)
		}
	}
}

// slots is how many tasks can be posted at once; a call whose task found
// no free slot runs its units alone (correct, only slower).
const slots = 64

const (
	// spinWait is how long an idle worker keeps polling for a task
	// before it parks, when no Hold is in force.
	spinWait = 50 * time.Microsecond
	// maxHeldSpin bounds the polling while a Hold is in force, so that a
	// holder that stops calling (or blocks) does not keep a core busy.
	maxHeldSpin = 2 * time.Millisecond
	// joinSpins is how many times a caller checks for its workers'
	// end before it yields the processor between checks.
	joinSpins = 4096
)

// line pads a counter to a cache line of its own, so that writing one
// does not take the others' line from the cores that read them.
type line struct {
	atomic.Int32
	_ [60]byte
}

var pool struct {
	mu      sync.Mutex // serializes starting workers and giving tasks slots
	started line       // workers started
	used    line       // slots given to tasks: the polled ones are tasks[:used]
	holds   line       // Holds in force
	parked  line       // workers parked or about to park
	tasks   [slots]atomic.Pointer[task]
	wake    chan struct{}
	free    freelist.List[task]
}

func init() { pool.wake = make(chan struct{}, 1024) }

// Run runs r's units 0..units-1 on up to n goroutines, the caller's
// included, and returns when all are done; prm is the calling goroutine's
// argument block. Every unit runs exactly once, on whichever goroutine
// takes it; what a unit computes must not depend on which.
func Run(r Runner, units, n int, prm *asm.Params) {
	n = min(n, units)
	if n <= 1 {
		for u := 0; u < units; u++ {
			r.RunUnit(u, prm)
		}
		return
	}
	ensure(n - 1)
	t := pool.free.Get()
	if t.parts == nil {
		t.slot = giveSlot(t)
	}
	t.r = r
	if cap(t.parts) < n {
		t.parts = make([]part, n)
	}
	t.parts = t.parts[:n]
	for i := range t.parts {
		t.parts[i].next = int64(i * units / n)
		t.parts[i].end = int64((i + 1) * units / n)
	}
	if t.slot >= 0 {
		t.left = int32(n - 1)
		t.tickets.Store(int32(n - 1)) // posts t: the plain stores above are seen by whoever takes a ticket
		wakeParked(n - 1)
		watched()
	}
	t.drain(0, prm)
	// Take back the tickets no worker took, then wait for the workers
	// that joined by polling, not by parking: a parked caller is woken on
	// the finishing worker's P, which then runs the caller's next layer
	// while the worker waits for an idle P to steal it, so every layer of
	// a network would start on one core (two-thread ResNet-18: 1.4x one
	// thread with a WaitGroup here).
	if t.slot >= 0 {
		if k := t.tickets.Swap(0); k > 0 {
			atomic.AddInt32(&t.left, -k)
		}
		for spins := 0; atomic.LoadInt32(&t.left) > 0; spins++ {
			if spins >= joinSpins {
				runtime.Gosched()
			}
		}
	}
	t.r = nil
	pool.free.Put(t)
}

// The watch tells a caller whether anything was split while its call ran
// (Watch, Split), so that a network whose calls split nothing at a shape
// stops holding the workers for it: a held worker polls for nothing, on a
// core of its own, for the whole call and maxHeldSpin after it.
var watch struct {
	epoch line // bumped by every Watch
	seen  line // the epoch in force when a task was last posted
}

// watched records that a task was posted under the epoch in force. A
// posting call reads two lines that change once per watched call and
// writes one at most once per epoch, so that concurrent posters do not
// take a line from each other at every task.
func watched() {
	if e := watch.epoch.Load(); watch.seen.Load() != e {
		watch.seen.Store(e)
	}
}

// Watch starts watching for split calls and returns the token Split
// takes.
func Watch() int32 { return watch.epoch.Add(1) }

// Split reports whether a task may have been posted (a call split over
// goroutines) since Watch returned token: true when one was, and also
// whenever another Watch began meanwhile, since its posts cannot be told
// from the caller's. False means that nothing was split.
func Split(token int32) bool {
	return watch.epoch.Load() != token || watch.seen.Load() == token
}

// ensure starts workers until there are at least n.
func ensure(n int) {
	if int(pool.started.Load()) >= n {
		return
	}
	pool.mu.Lock()
	for int(pool.started.Load()) < n {
		go worker()
		pool.started.Add(1)
	}
	pool.mu.Unlock()
}

// giveSlot gives a new task a free slot for good and returns it, or -1
// when every slot is taken (then only its callers run it).
func giveSlot(t *task) int {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	i := int(pool.used.Load())
	if i == slots {
		return -1
	}
	pool.tasks[i].Store(t)
	pool.used.Store(int32(i + 1))
	return i
}

// claim takes a ticket of a posted task and returns the task and the
// range the ticket gives (its number, 1..n-1), or nil when no task has
// one left. A ticket is taken only while its call is in progress: the
// call stores the tickets after setting the task up and takes back the
// ones left before it returns.
func claim() (*task, int) {
	used := int(pool.used.Load())
	for i := 0; i < used; i++ {
		t := pool.tasks[i].Load()
		for k := t.tickets.Load(); k > 0; k = t.tickets.Load() {
			if t.tickets.CompareAndSwap(k, k-1) {
				return t, int(k)
			}
		}
	}
	return nil, 0
}

// Hold keeps the workers of an n-goroutine call polling between parallel
// calls until the matching Unhold, at most maxHeldSpin after each one's
// last unit: a network holds them for all of its layers. It wakes parked
// workers, so that they are polling when the first layer starts.
func Hold(n int) {
	pool.holds.Add(1)
	if n > 1 {
		ensure(n - 1)
		wakeParked(n - 1)
	}
}

// Unhold ends a Hold.
func Unhold() { pool.holds.Add(-1) }

// Held reports whether a Hold is in force: a parallel call then costs
// about SyncCost, else it may pay a wake-up.
func Held() bool { return pool.holds.Load() > 0 }

// SyncCost is what one Run on two goroutines costs beyond its units with
// the workers held (BenchmarkRun's n2/held: 450-500 ns on a 2-core AMD
// EPYC Zen 5, about one BenchmarkLineTransfer round trip, rounded up: a
// worker's range also starts a line transfer after the caller's);
// WakeCost is what it costs when they have parked (n2/gap100us: 3.1-4.6 us
// there, more on a busy scheduler). The kernels' thread policy and the
// scaling model use them.
const (
	SyncCost = 700 * time.Nanosecond
	WakeCost = 5 * time.Microsecond
)

// wakeParked wakes up to k parked workers.
func wakeParked(k int) {
	for ; k > 0; k-- {
		p := pool.parked.Load()
		if p <= 0 {
			return
		}
		if pool.parked.CompareAndSwap(p, p-1) {
			select {
			case pool.wake <- struct{}{}:
			default: // as many tokens wait as there are workers: enough
			}
		}
	}
}

func worker() {
	prm := new(asm.Params)
	for {
		t, i := poll()
		if t == nil {
			t, i = park()
		}
		if t == nil {
			continue
		}
		t.drain(i, prm)
		atomic.AddInt32(&t.left, -1)
	}
}

// pollBurst is how many times poll checks the slots between yields: a
// check is a few atomic loads, a yield a trip through the scheduler.
const pollBurst = 64

// poll checks the slots for a ticket until it takes one, or until it has
// polled for spinWait (maxHeldSpin while a Hold is in force).
func poll() (*task, int) {
	start := time.Now()
	for {
		for range pollBurst {
			if t, i := claim(); t != nil {
				return t, i
			}
		}
		runtime.Gosched()
		limit := spinWait
		if pool.holds.Load() > 0 {
			limit = maxHeldSpin
		}
		if time.Since(start) > limit {
			return nil, 0
		}
	}
}

// park blocks until a call wakes the worker, and returns nil; or, when a
// task was posted while it was about to park, takes a ticket and returns
// it. (A caller that posts reads the parked count after posting, and a
// parking worker checks the slots after counting itself parked, so one of
// the two sees the other.)
func park() (*task, int) {
	pool.parked.Add(1)
	if t, i := claim(); t != nil {
		// Uncount itself, unless a caller already did and sent a token,
		// which the next park then takes (and polls again).
		for p := pool.parked.Load(); p > 0; p = pool.parked.Load() {
			if pool.parked.CompareAndSwap(p, p-1) {
				break
			}
		}
		return t, i
	}
	<-pool.wake
	return nil, 0
}

// LineRoundTrip measures what this package's synchronisation is made of
// on this machine: two goroutines take turns storing a counter on a cache
// line of their own and spinning until they see the other's, rounds
// times, and the mean round trip (two stores each seen by the other core)
// is returned. It is 0 when GOMAXPROCS is below 2: the two goroutines
// must spin at once. Virtual machines place their vCPUs anew now and then:
// on the 2-vCPU AMD EPYC Zen 5 of docs/scaling.md it was 200 ns at some
// times and 920-970 ns at others, and small layers split well only in the
// first case.
func LineRoundTrip(rounds int) time.Duration {
	if runtime.GOMAXPROCS(0) < 2 || rounds <= 0 {
		return 0
	}
	var ping, pong struct {
		v atomic.Int64
		_ [56]byte
	}
	wait := func(l *atomic.Int64, i int64) {
		for spins := 0; l.Load() != i; spins++ {
			if spins&(1<<16-1) == 1<<16-1 {
				runtime.Gosched() // the other goroutine may wait for a processor
			}
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := int64(1); i <= int64(rounds); i++ {
			wait(&ping.v, i)
			pong.v.Store(i)
		}
	}()
	start := time.Now()
	for i := int64(1); i <= int64(rounds); i++ {
		ping.v.Store(i)
		wait(&pong.v, i)
	}
	d := time.Since(start)
	<-done
	return d / time.Duration(rounds)
}
