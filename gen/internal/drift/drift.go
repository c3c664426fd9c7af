// Package drift is the test every generator in gen/ runs: the files it
// renders must be, byte for byte, the ones committed in the asm package,
// so generated code cannot drift from its generator and nobody edits it
// by hand. On a difference it prints where the files part, as a short
// diff; `go test ./x86 ./neon -update` (from gen/) rewrites them instead, as
// `go generate ./...` from the repository root does.
package drift

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sbconv/sbconv/gen/internal/emit"
)

var update = flag.Bool("update", false, "rewrite the committed generated files with what the generator writes")

// Check renders the files and compares each with its namesake in dir
// (the asm package); want lists the names render must return.
func Check(t *testing.T, render emit.Render, dir string, want ...string) {
	t.Helper()
	files, err := render()
	if err != nil {
		t.Fatal(err)
	}
	if got := emit.Names(files); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("the generator writes %v, want %v", got, want)
	}
	if *update {
		if err := emit.Write(dir, files); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, name := range want {
		committed, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v (run go generate ./... from the repository root)", name, err)
			continue
		}
		if d := Diff(committed, files[name], 8); d != "" {
			t.Errorf("asm/%s differs from what the generator writes (- committed, + generated); "+
				"run go generate ./... from the repository root, or go test ./x86 ./neon -update from gen/:\n%s", name, d)
		}
	}
}

// Diff returns "" if a and b are equal, or else the first run of lines
// where they differ: the lines between their common head and tail, at
// most max of each side, with a line of context before and after, each
// line numbered. Generated files differ in runs, so this reads as a diff
// without the cost of one over 50,000 lines.
func Diff(a, b []byte, max int) string {
	if bytes.Equal(a, b) {
		return ""
	}
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	head := 0
	for head < len(al) && head < len(bl) && al[head] == bl[head] {
		head++
	}
	tail := 0
	for tail < len(al)-head && tail < len(bl)-head && al[len(al)-1-tail] == bl[len(bl)-1-tail] {
		tail++
	}
	var s strings.Builder
	if head > 0 {
		fmt.Fprintf(&s, "  %6d  %s\n", head, al[head-1])
	}
	side := func(sign string, lines []string) {
		for i, l := range lines[head : len(lines)-tail] {
			if i == max {
				fmt.Fprintf(&s, "%s    ... %d more lines\n", sign, len(lines)-tail-head-max)
				break
			}
			fmt.Fprintf(&s, "%s %6d  %s\n", sign, head+i+1, l)
		}
	}
	side("-", al)
	side("+", bl)
	if tail > 0 {
		fmt.Fprintf(&s, "  %6d  %s\n", len(al)-tail+1, al[len(al)-tail])
	}
	return s.String()
}
