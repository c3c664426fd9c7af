package main

import (
	"path/filepath"
	"testing"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/gen/internal/drift"
)

// TestGeneratedUpToDate: the committed AVX2 files are what the generator
// writes (see package drift; go test . -update rewrites them).
func TestGeneratedUpToDate(t *testing.T) {
	drift.Check(t, render, filepath.Join("..", "..", "asm"), "conv_avx2_amd64.go", "conv_avx2_amd64.s", "table_avx2_amd64.go")
}

// TestCaps: the capabilities written into the table, derived from the
// emitted code, are every optional part of the contract. A change that
// drops one from some kernel turns the flag off for the whole set (the
// driver then works around it); this test makes that a decision.
func TestCaps(t *testing.T) {
	if _, err := render(); err != nil {
		t.Fatal(err)
	}
	want := asm.Caps{Block: 8, MaxOCB: 3, Rows: true, Edges: true, RestoreEdges: true, Prefetch: true}
	if got := emitted.Caps(block, len(ocbs)); got != want {
		t.Errorf("caps %+v, want %+v", got, want)
	}
}
