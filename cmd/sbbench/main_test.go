package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunPrintsTable runs the command on the smallest shape with one short
// sample and checks the table has its header and a row with every column.
func TestRunPrintsTable(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, []string{"-shapes", "cifar-64", "-reps", "1", "-mintime", "1ms"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("want 4 header lines and 1 row, got:\n%s", out.String())
	}
	if !strings.Contains(lines[3], "deconv_s2") {
		t.Fatalf("header lacks deconv_s2: %q", lines[3])
	}
	if f := strings.Fields(lines[4]); len(f) != 15 || f[0] != "cifar-64x8" {
		t.Fatalf("row %q: want 15 fields starting with cifar-64x8", lines[4])
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-n", "0"}, {"-threads", "-1"}, {"-reps", "0"}, {"-bogus"}} {
		if err := run(&bytes.Buffer{}, args); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
