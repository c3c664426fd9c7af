package kernels

import (
	"math"
	"math/bits"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// threadsEnvCases: SBCONV_THREADS values and the count they must give
// (0: the default, GOMAXPROCS). init used to store the parsed value in an
// int32 unchecked, so 4294967298 (2^32 + 2) gave 2 threads and 5000 gave
// 5000, past SetThreads' cap of 1024.
var threadsEnvCases = []struct {
	env  string
	want int
}{
	{"4294967298", maxThreads},
	{"5000", maxThreads},
	{"99999999999999999999", maxThreads}, // past int64
	{"1024", 1024},
	{"3", 3},
	{" 6 ", 6},
	{"abc", 0},
	{"-3", 0},
	{"0", 0},
	{"-99999999999999999999", 0},
	{"2.5", 0},
	{"", 0},
}

func wantThreads(want int) int {
	if want == 0 {
		return min(runtime.GOMAXPROCS(0), maxThreads)
	}
	return want
}

// TestThreadsEnv checks what init makes of SBCONV_THREADS, in a child
// process per value (init runs once), and that SetThreads(0) restores the
// same count.
func TestThreadsEnv(t *testing.T) {
	if os.Getenv(valChildEnv) == t.Name() {
		want, err := strconv.Atoi(os.Getenv("SBCONV_VALIDATE_THREADS_WANT"))
		if err != nil {
			t.Fatal(err)
		}
		env := os.Getenv("SBCONV_THREADS")
		if got := Threads(); got != wantThreads(want) {
			t.Fatalf("SBCONV_THREADS=%q: Threads() = %d at start, want %d", env, got, wantThreads(want))
		}
		SetThreads(7)
		SetThreads(0)
		if got := Threads(); got != wantThreads(want) {
			t.Fatalf("SBCONV_THREADS=%q: Threads() = %d after SetThreads(0), want %d", env, got, wantThreads(want))
		}
		return
	}
	for _, c := range threadsEnvCases {
		t.Run(strconv.Quote(c.env), func(t *testing.T) {
			valChild(t, "TestThreadsEnv", "SBCONV_THREADS="+c.env, "SBCONV_VALIDATE_THREADS_WANT="+strconv.Itoa(c.want))
		})
	}
}

// TestDefaultThreads checks the parser in this process.
func TestDefaultThreads(t *testing.T) {
	for _, c := range threadsEnvCases {
		t.Setenv("SBCONV_THREADS", c.env)
		if got := defaultThreads(); got != wantThreads(c.want) {
			t.Errorf("SBCONV_THREADS=%q: defaultThreads() = %d, want %d", c.env, got, wantThreads(c.want))
		}
	}
}

// TestSetThreadsCap: SetThreads caps at maxThreads, whatever n is.
func TestSetThreadsCap(t *testing.T) {
	defer SetThreads(Threads())
	for _, n := range []int{1, 2, 1024, 1025, math.MaxInt32, 1<<(bits.UintSize-2) + 2, math.MaxInt} {
		SetThreads(n)
		if got := Threads(); got != min(n, maxThreads) {
			t.Errorf("SetThreads(%d): Threads() = %d, want %d", n, got, min(n, maxThreads))
		}
	}
}
