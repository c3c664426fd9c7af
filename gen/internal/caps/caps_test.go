package caps

import (
	"testing"

	"github.com/sbconv/sbconv/asm"
)

// TestCaps: a flag is set only when every kernel of the kinds it speaks
// for has the feature, and at least one such kernel exists; kernels of
// other kinds never matter.
func TestCaps(t *testing.T) {
	full := func(r *Record) {
		*r.Begin(Conv) = Has{Kind: Conv, Rows: true, Edges: true, Prefetch: true}
		*r.Begin(Conv1x1) = Has{Kind: Conv1x1, Rows: true}
		*r.Begin(Restore) = Has{Kind: Restore, Rows: true, Edges: true}
		r.Begin(Other)
	}
	for _, c := range []struct {
		name  string
		build func(r *Record)
		want  asm.Caps
	}{
		{"all", full, asm.Caps{Block: 8, MaxOCB: 3, Rows: true, Edges: true, RestoreEdges: true, Prefetch: true}},
		{"none", func(r *Record) {}, asm.Caps{Block: 8, MaxOCB: 3}},
		{"a conv without edges", func(r *Record) {
			full(r)
			*r.Begin(Conv) = Has{Kind: Conv, Rows: true, Prefetch: true}
		}, asm.Caps{Block: 8, MaxOCB: 3, Rows: true, RestoreEdges: true, Prefetch: true}},
		{"a 1x1 without rows", func(r *Record) {
			full(r)
			r.Begin(Conv1x1)
		}, asm.Caps{Block: 8, MaxOCB: 3, Edges: true, RestoreEdges: true, Prefetch: true}},
		{"no restore kernel", func(r *Record) {
			*r.Begin(Conv) = Has{Kind: Conv, Rows: true, Edges: true, Prefetch: true}
			*r.Begin(Conv1x1) = Has{Kind: Conv1x1, Rows: true}
		}, asm.Caps{Block: 8, MaxOCB: 3, Rows: true, Edges: true, Prefetch: true}},
	} {
		var r Record
		c.build(&r)
		if got := r.Caps(8, 3); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
