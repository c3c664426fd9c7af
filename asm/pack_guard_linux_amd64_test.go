//go:build !purego

package asm

import (
	"syscall"
	"testing"
	"unsafe"
)

// packPlaces are where checkPack puts its operands: between sentinels,
// and against an inaccessible page, ending at it and starting after it.
var packPlaces = []string{"guards", "end", "start"}

// packGuardPage returns a page of floats between two pages mapped with no
// access, so that a load or store one float outside it faults; it is
// unmapped when the test ends.
func packGuardPage(t *testing.T) []float32 {
	t.Helper()
	ps := syscall.Getpagesize()
	m, err := syscall.Mmap(-1, 0, 3*ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Munmap(m) })
	if err := syscall.Mprotect(m[:ps], syscall.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	if err := syscall.Mprotect(m[2*ps:], syscall.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&m[ps])), ps/4)
}
