package kernels_test

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEUseIsExample: the code under the README's "## Use" is
// example_test.go (everything after its package clause), so the snippet a
// user copies is the one go test compiles, runs and checks.
func TestREADMEUseIsExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Skipf("no README here: %v", err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	use, ok := section(string(readme), "## Use")
	if !ok {
		t.Fatal(`README.md has no "## Use" section`)
	}
	_, rest, ok := strings.Cut(use, "```go\n")
	if !ok {
		t.Fatal(`README.md's "## Use" has no go code block`)
	}
	code, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatal(`README.md's "## Use": the go code block is not closed`)
	}
	_, want, ok := strings.Cut(string(example), "package kernels_test\n")
	if !ok {
		t.Fatal("example_test.go: no package clause")
	}
	if got, want := strings.TrimSpace(code), strings.TrimSpace(want); got != want {
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("README.md's \"## Use\" code differs from kernels/example_test.go at line %d:\nREADME:  %q\nexample: %q\n(copy example_test.go, without its package clause, into the README)", i+1, g, w)
			}
		}
	}
	if !strings.Contains(use, "kernels/example_test.go") {
		t.Error(`README.md's "## Use" does not say where the code lives (kernels/example_test.go)`)
	}
}

// section returns the text of a README section, from its heading to the
// next heading of the same level.
func section(doc, heading string) (string, bool) {
	_, rest, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		return "", false
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest, true
}
