package kernels

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/layout"
)

// TestWeightSlack: a kernel that prefetches its own weights ahead names
// lines up to asm.PfAhead bytes past the weights it reads (see package
// asm, "Prefetch"), so every weight array the driver hands a kernel keeps
// that much capacity past its length: the passes of convolutions and of
// transposed convolutions at rates 2-4 (phase groups included, whose
// members are slices of one array), the fused restore's row passes, and
// biasOnly's zero tap.
func TestWeightSlack(t *testing.T) {
	require.GreaterOrEqual(t, layout.WeightSlack*4, asm.PfAhead, "layout.WeightSlack floats against asm.PfAhead bytes")
	slack := asm.PfAhead / 4
	require.GreaterOrEqual(t, len(zeros)-16*16, slack, "biasOnly's zero tap")
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		b := set.Block
		rows, groups := 0, 0
		check := func(what string, w []float32) {
			if len(w) > 0 {
				require.GreaterOrEqual(t, cap(w)-len(w), slack, "%s: capacity past the weights", what)
			}
		}
		for _, c := range []struct {
			k, s, p, inC, outC int
			deconv             bool
		}{
			{3, 1, 1, 2 * b, 3 * b, false}, {1, 1, 0, b, b, false}, {3, 2, 1, 3, b + 1, false}, {5, 4, 2, b, 3 * b, false},
			{3, 2, 1, b, b, true}, {3, 3, 1, b, b, true}, {5, 4, 2, b, 1, true}, {4, 4, 1, 3 * b, 3 * b, true},
			{2, 2, 0, b, 2 * b, true}, {7, 4, 3, b, b, true}, {4, 2, 1, 2 * b, b, true},
		} {
			spec := ConvSpec{InC: c.inC, OutC: c.outC, KH: c.k, KW: c.k, StrideH: c.s, StrideW: c.s, PadH: c.p, PadW: c.p}
			what := fmt.Sprintf("%+v", c)
			var l *layer
			if c.deconv {
				d, err := NewConvTranspose2D(spec, make([]float32, c.inC*c.outC*c.k*c.k), nil, b)
				require.NoError(t, err, what)
				l = &d.l
			} else {
				cv, err := NewConv2D(spec, make([]float32, c.inC*c.outC*c.k*c.k), nil, b)
				require.NoError(t, err, what)
				l = &cv.l
			}
			for i := range l.passes {
				check(fmt.Sprintf("%s pass %d", what, i), l.passes[i].wei)
			}
			for i := range l.rowPasses {
				check(fmt.Sprintf("%s row pass %d", what, i), l.rowPasses[i].wei)
			}
			rows += len(l.rowPasses)
			groups += len(l.groups)
		}
		if set != genericSet {
			// The cases reach the fused restore's row passes and phase
			// groups, whose weights are packed apart from the passes'.
			require.Positive(t, rows, "no case has row passes")
			require.Positive(t, groups, "no case has phase groups")
		}
	})
}
