package intmath

import (
	"math"
	"testing"
)

// TestAgainstFloat compares with float64 rounding over a range of
// numerators of both signs and several divisors.
func TestAgainstFloat(t *testing.T) {
	for b := 1; b <= 17; b++ {
		for a := -70; a <= 70; a++ {
			if got, want := CeilDiv(a, b), int(math.Ceil(float64(a)/float64(b))); got != want {
				t.Errorf("CeilDiv(%d, %d) = %d, want %d", a, b, got, want)
			}
			if got, want := FloorDiv(a, b), int(math.Floor(float64(a)/float64(b))); got != want {
				t.Errorf("FloorDiv(%d, %d) = %d, want %d", a, b, got, want)
			}
			if a >= 0 {
				if got, want := RoundUp(a, b), b*int(math.Ceil(float64(a)/float64(b))); got != want {
					t.Errorf("RoundUp(%d, %d) = %d, want %d", a, b, got, want)
				}
			}
		}
	}
}
