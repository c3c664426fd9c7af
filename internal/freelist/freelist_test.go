package freelist

import "testing"

// TestFreeListBounded: putAtMost keeps at most its limit, drain drops
// everything.
func TestFreeListBounded(t *testing.T) {
	var fl List[int]
	var held []*int
	for i := 0; i < 5; i++ {
		held = append(held, fl.Get())
	}
	for _, x := range held {
		fl.PutAtMost(x, 3)
	}
	if n := fl.Size(); n != 3 {
		t.Fatalf("kept %d records, want 3", n)
	}
	fl.Drain()
	if n := fl.Size(); n != 0 {
		t.Fatalf("kept %d records after drain, want 0", n)
	}
}
