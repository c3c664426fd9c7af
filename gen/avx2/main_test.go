package main

import (
	"path/filepath"
	"strings"
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
	if got := emitted.Caps(block, maxConvOCB()); got != want {
		t.Errorf("caps %+v, want %+v", got, want)
	}
}

// TestRegisterBudget: every generated plan fits its registers, and a plan
// that does not is an error naming it, not a kernel (nor an exit).
func TestRegisterBudget(t *testing.T) {
	if err := checkPlans(convPlans); err != nil {
		t.Fatal(err)
	}
	for _, pl := range restorePlans {
		if err := pl.check(); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []convPlan{{ocb: 3, urW: 5}, {ocb: 1, urW: 15}, {ocb: 4, urW: 3}, {ocb: 0, urW: 4}} {
		if err := bad.check(); err == nil {
			t.Errorf("conv plan %+v accepted", bad)
		}
	}
	if err := checkPlans([]convPlan{{ocb: 1, urW: 8}, {ocb: 3, urW: 4}}); err == nil {
		t.Error("conv plans with a hole accepted")
	}
	if err := (restorePlan{k: 15, pad: 7}).check(); err == nil || !strings.Contains(err.Error(), "AVX2RestoreK15P7") {
		t.Errorf("an oversized restore plan: %v", err)
	}
	// A family's error reaches render's caller.
	saved := convPlans
	convPlans = []convPlan{{ocb: 1, urW: 8}, {ocb: 2, urW: 7}}
	defer func() { convPlans = saved }()
	if _, err := render(); err == nil || !strings.Contains(err.Error(), "ocb=2 urW=7") {
		t.Errorf("render with an oversized plan: %v", err)
	}
}
