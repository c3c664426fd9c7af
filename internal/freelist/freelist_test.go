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

// TestFreeListConcurrent: records taken and put back by many goroutines
// at once are never handed out twice and all come back.
func TestFreeListConcurrent(t *testing.T) {
	var fl List[int]
	const goroutines, rounds = 16, 2000
	done := make(chan bool)
	for g := 0; g < goroutines; g++ {
		go func() {
			ok := true
			for r := 0; r < rounds; r++ {
				x := fl.Get()
				*x++
				if *x != 1 { // another goroutine holds the same record
					ok = false
				}
				*x--
				fl.Put(x)
			}
			done <- ok
		}()
	}
	for g := 0; g < goroutines; g++ {
		if !<-done {
			t.Fatal("a record was handed to two goroutines at once")
		}
	}
	if n := fl.Size(); n < 1 || n > goroutines {
		t.Fatalf("kept %d records, want 1..%d", n, goroutines)
	}
}
