//go:build !race

package kernels

// raceBuild is true under -race, whose instrumentation (checkptr among
// it) sees Go code only.
const raceBuild = false
