package drift

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	if d := Diff([]byte("a\nb\n"), []byte("a\nb\n"), 8); d != "" {
		t.Errorf("equal files: diff %q, want none", d)
	}
	d := Diff([]byte("x\ny\nold\nz\n"), []byte("x\ny\nnew1\nnew2\nz\n"), 8)
	for _, want := range []string{"       2  y\n", "-      3  old\n", "+      3  new1\n", "+      4  new2\n", "       4  z\n"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	long := strings.Repeat("l\n", 20)
	if d := Diff([]byte("a\n"+long), []byte("b\n"+long+"extra\n"), 3); !strings.Contains(d, "... ") {
		t.Errorf("a long run is not cut:\n%s", d)
	}
}
