package bench

import "testing"

// TestPeak: where a peak kernel is built for this CPU (AVX2 on amd64, NEON
// on arm64) Peak measures it and names it; elsewhere it reports nothing.
func TestPeak(t *testing.T) {
	gf, isa := Peak(1)
	if peakKernel == nil {
		if gf != 0 || isa != "" {
			t.Fatalf("no peak kernel, but Peak says %v GFLOP/s (%q)", gf, isa)
		}
		t.Skip("no peak kernel in this build")
	}
	if gf <= 0 || isa == "" || isa != peakKernelISA {
		t.Fatalf("Peak(1) = %v GFLOP/s (%q), want a measurement of the %q kernel", gf, isa, peakKernelISA)
	}
	t.Logf("peak: %.1f GFLOP/s (%s)", gf, isa)
}
