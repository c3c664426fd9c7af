// Package intmath holds the integer rounding that sbconv's drivers and
// blocks share: the output-range arithmetic of convolutions and
// transposed convolutions divides possibly negative positions.
package intmath

// RoundUp returns x rounded up to a multiple of b, for x >= 0 and b > 0.
func RoundUp(x, b int) int { return (x + b - 1) / b * b }

// CeilDiv returns a/b rounded towards +Inf, for b > 0 and any a.
func CeilDiv(a, b int) int {
	if a >= 0 {
		return (a + b - 1) / b
	}
	return -((-a) / b)
}

// FloorDiv returns a/b rounded towards -Inf, for b > 0 and any a.
func FloorDiv(a, b int) int {
	if a >= 0 {
		return a / b
	}
	return -((-a + b - 1) / b)
}
