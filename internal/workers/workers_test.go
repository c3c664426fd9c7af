package workers

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/asm"
)

// countRunner counts the runs of every unit and the goroutines (argument
// blocks) that ran them.
type countRunner struct {
	runs []atomic.Int32
	mu   sync.Mutex
	prms map[*asm.Params]bool
	work time.Duration
}

func newCount(units int, work time.Duration) *countRunner {
	return &countRunner{runs: make([]atomic.Int32, units), prms: map[*asm.Params]bool{}, work: work}
}

func (c *countRunner) RunUnit(u int, prm *asm.Params) {
	c.runs[u].Add(1)
	c.mu.Lock()
	c.prms[prm] = true
	c.mu.Unlock()
	for t := time.Now(); time.Since(t) < c.work; {
	}
}

func (c *countRunner) check(t *testing.T, what string) {
	t.Helper()
	for u := range c.runs {
		require.EqualValues(t, 1, c.runs[u].Load(), "%s: unit %d", what, u)
	}
}

// TestRunEveryUnitOnce: whatever the units, goroutines, holds and parked
// workers, every unit runs exactly once and Run returns after all.
func TestRunEveryUnitOnce(t *testing.T) {
	prm := new(asm.Params)
	for _, units := range []int{0, 1, 2, 3, 7, 64, 1000} {
		for _, n := range []int{-1, 0, 1, 2, 3, 8, 33} {
			c := newCount(units, 0)
			Run(c, units, n, prm)
			c.check(t, fmt.Sprintf("units %d n %d", units, n))
		}
	}
}

// TestRunUsesWorkers: units long enough that the caller cannot run them
// all before a worker joins are spread over more than one goroutine, also
// after the workers have parked (woken by the call) and while held.
func TestRunUsesWorkers(t *testing.T) {
	prm := new(asm.Params)
	for _, hold := range []bool{false, true} {
		if hold {
			Hold(2)
		}
		time.Sleep(4 * maxHeldSpin) // every worker parked
		c := newCount(40, 200*time.Microsecond)
		Run(c, 40, 2, prm)
		c.check(t, "after parking")
		assert.Len(t, c.prms, 2, "hold %v: goroutines that ran units", hold)
		if hold {
			Unhold()
		}
	}
}

// TestRunConcurrent: callers at once (more than there are slots, with
// nested calls inside units) each see all their units run once.
func TestRunConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 2*slots+3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prm := new(asm.Params)
			for i := 0; i < 5; i++ {
				c := newCount(17+g%5, 0)
				Run(c, len(c.runs), 1+g%4, prm)
				c.check(t, "concurrent")
				nested := &nestRunner{inner: make([]*countRunner, 3)}
				for k := range nested.inner {
					nested.inner[k] = newCount(9, 0)
				}
				Run(nested, 3, 3, prm)
				for _, in := range nested.inner {
					in.check(t, "nested")
				}
			}
		}()
	}
	wg.Wait()
}

type nestRunner struct{ inner []*countRunner }

func (r *nestRunner) RunUnit(u int, prm *asm.Params) {
	Run(r.inner[u], len(r.inner[u].runs), 2, prm)
}

// TestRunAllocs: a call allocates nothing once its task record exists.
func TestRunAllocs(t *testing.T) {
	c := newCount(8, 0)
	prm := new(asm.Params)
	Run(c, 8, 2, prm)
	allocs := testing.AllocsPerRun(100, func() {
		for i := range c.runs {
			c.runs[i].Store(0)
		}
		Run(c, 8, 2, prm)
	})
	assert.Zero(t, allocs)
}

// nopUnits is a unit that does nothing: BenchmarkRun times Run alone.
type nopUnits struct{}

func (nopUnits) RunUnit(int, *asm.Params) {}

// BenchmarkRun measures what splitting a call costs: ns/op is one Run of
// 2n units that do nothing on n goroutines, with the workers polling
// (held), or after gap of the caller's own work without a Hold, so that
// the workers have parked and every call wakes them (the gap is
// subtracted). On a 2-core AMD EPYC (Zen 5): n1 about 5 ns, n2/held
// 450-500 (440-680 when a call also freed a slot and counted its posts),
// n2/gap100us 3100-4600; the channel-fed pool this package replaced took
// 1370 ns for n2 with its workers polling.
//
//	go test -run '^$' -bench Run ./internal/workers
func BenchmarkRun(b *testing.B) {
	for _, c := range []struct {
		name string
		n    int
		hold bool
		gap  time.Duration
	}{{"n1", 1, true, 0}, {"n2/held", 2, true, 0}, {"n2/held-gap20us", 2, true, 20 * time.Microsecond},
		{"n2/gap100us", 2, false, 100 * time.Microsecond}} {
		b.Run(c.name, func(b *testing.B) {
			prm := new(asm.Params)
			if c.hold {
				Hold(c.n)
				defer Unhold()
			}
			Run(nopUnits{}, 2*c.n, c.n, prm)
			var gaps time.Duration
			for b.Loop() {
				Run(nopUnits{}, 2*c.n, c.n, prm)
				if c.gap > 0 {
					t := time.Now()
					for time.Since(t) < c.gap {
					}
					gaps += time.Since(t)
				}
			}
			b.ReportMetric(float64((b.Elapsed()-gaps).Nanoseconds())/float64(b.N), "ns-sync/op")
		})
	}
}

// BenchmarkLineTransfer reports LineRoundTrip: what a parallel call's
// synchronisation is made of (ns/op: one round trip, two stores each seen
// by the other core).
func BenchmarkLineTransfer(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs GOMAXPROCS of at least 2: the two goroutines spin")
	}
	d := LineRoundTrip(b.N)
	b.ReportMetric(float64(d.Nanoseconds()), "ns/op")
}

// TestLineRoundTrip: a positive time with two processors, 0 with one.
func TestLineRoundTrip(t *testing.T) {
	if runtime.GOMAXPROCS(0) >= 2 {
		assert.Positive(t, LineRoundTrip(100))
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	assert.Zero(t, LineRoundTrip(100))
}

// TestWatchSplit: Split reports a posted task since Watch, and any Watch
// begun meanwhile; a call that runs alone (one goroutine, or one unit)
// is not a split.
func TestWatchSplit(t *testing.T) {
	prm := new(asm.Params)
	tok := Watch()
	Run(newCount(8, 0), 8, 1, prm)
	Run(newCount(1, 0), 1, 4, prm)
	require.False(t, Split(tok), "calls on one goroutine")
	Run(newCount(8, 0), 8, 2, prm)
	require.True(t, Split(tok), "a call split over two goroutines")
	tok = Watch()
	require.False(t, Split(tok), "a new watch")
	other := Watch()
	require.True(t, Split(tok), "another watch began meanwhile")
	require.False(t, Split(other))
}
