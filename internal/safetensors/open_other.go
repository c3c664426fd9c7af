//go:build !unix

package safetensors

// openNonblock: only unix has FIFOs that block open(2).
const openNonblock = 0
