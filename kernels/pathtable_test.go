package kernels

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sbconv/sbconv/layout"
)

// pathCase is one layer and input shape of TestPathTable.
type pathCase struct {
	name      string
	deconv    bool
	inC, outC int
	k, s, p   int
	h, w      int               // input size
	oh, ow    int               // transposed only: output size
	inf       bool              // one weight is +Inf: no haloed copy
	want      map[string]string // per set name: describePlan's line
}

// describePlan writes a plan as TestPathTable's table has it:
//
//	<kind> [pf] in place | halo <l>,<r> [fused <x0>-<x1>/<ow> <edges>] cols <pass>...
//
// where pf says the layer's calls prefetch, the fused span is the output
// pixels of a row the restore kernel computes (its first and last pair
// through its edge flags where edges says E), and each pass (its output
// phase, for a transposed layer) shows how its row calls reach its left
// and right border columns: E through the edge flags in the run's call,
// a digit n as n one-pixel calls with a narrowed window, . none there
// (interior, or a haloed copy). "in place" is the fact the table checks:
// no copy of the input is made.
func describePlan(l *layer, pl *plan) string {
	var b strings.Builder
	b.WriteString(pl.kind.String())
	if l.path.prefetch {
		b.WriteString(" pf")
	}
	if pl.halo.none() {
		b.WriteString(" in place")
	} else {
		fmt.Fprintf(&b, " halo %d,%d", pl.halo.left, pl.halo.right)
	}
	side := func(edge bool, calls int) string {
		switch {
		case edge && calls > 0:
			return fmt.Sprintf("E%d", calls)
		case edge:
			return "E"
		case calls > 0:
			return fmt.Sprint(calls)
		}
		return "."
	}
	if pl.kind == fusedRestore {
		r := pl.restore
		fmt.Fprintf(&b, " fused %d-%d/%d %s%s", r.x0, r.x1, pl.ow, side(r.edge.left, 0), side(r.edge.right, 0))
	}
	b.WriteString(" cols")
	for i := range pl.gm {
		gm, c := pl.gm[i], pl.cols[i]
		b.WriteString(" " + side(c.edge.left, c.jlo) + side(c.edge.right, gm.ncols-c.jhi))
	}
	return b.String()
}

// describeCaps writes the capability flags of a layer's path (its
// prefetch flag, which also depends on the weights' size, is
// describePlan's pf).
func describeCaps(pt path) string {
	s := fmt.Sprintf("%s maxOCB %d", pt.set.name, pt.MaxOCB)
	for _, f := range []struct {
		on   bool
		name string
	}{{pt.Rows, "multiRow"}, {pt.Edges, "convEdges"}, {pt.RestoreEdges, "restoreEdges"}, {pt.haloCopy, "haloCopy"}} {
		if f.on {
			s += " " + f.name
		}
	}
	return s
}

// pathCaps is the capability line (describeCaps) of a layer of the set's
// own block per set (less haloCopy where a weight is not finite).
var pathCaps = map[string]string{
	"generic": "generic maxOCB 4 multiRow convEdges",
	"avx2":    "avx2 maxOCB 3 multiRow convEdges restoreEdges haloCopy",
	"avx512":  "avx512 maxOCB 3 multiRow convEdges restoreEdges haloCopy",
	"neon":    "neon maxOCB 2 multiRow convEdges haloCopy",
}

// pathTable is TestPathTable's table: per shape, per set, the plan the
// driver makes under the halo cost model (see describePlan).
var pathTable = []pathCase{
	{name: "3x3 s1 64ch 56", inC: 64, outC: 64, k: 3, s: 1, p: 1, h: 56, w: 56, want: map[string]string{
		"generic": "conv in place cols EE",
		"avx2":    "conv in place cols EE",
		"avx512":  "conv in place cols EE",
		"neon":    "conv in place cols EE",
	}},
	{name: "3x3 s1 16ch 32", inC: 16, outC: 16, k: 3, s: 1, p: 1, h: 32, w: 32, want: map[string]string{
		"generic": "conv in place cols EE",
		"avx2":    "conv in place cols EE",
		"avx512":  "conv in place cols EE",
		"neon":    "conv in place cols EE",
	}},
	{name: "3x3 s1 16ch 7x9", inC: 16, outC: 16, k: 3, s: 1, p: 1, h: 7, w: 9, want: map[string]string{
		"generic": "conv in place cols EE",
		"avx2":    "conv in place cols EE",
		"avx512":  "conv in place cols EE",
		"neon":    "conv in place cols EE",
	}},
	{name: "3x3 s1 16ch 1x1", inC: 16, outC: 16, k: 3, s: 1, p: 1, h: 1, w: 1, want: map[string]string{
		"generic": "conv in place cols 1.",
		"avx2":    "conv halo 1,1 cols ..",
		"avx512":  "conv halo 1,1 cols ..",
		"neon":    "conv halo 1,1 cols ..",
	}},
	{name: "3x3 s1 16ch 1x2", inC: 16, outC: 16, k: 3, s: 1, p: 1, h: 1, w: 2, want: map[string]string{
		"generic": "conv in place cols 11",
		"avx2":    "conv halo 1,1 cols ..",
		"avx512":  "conv halo 1,1 cols ..",
		"neon":    "conv halo 1,1 cols ..",
	}},
	{name: "3x3 s1 16ch 1x2 Inf weight", inC: 16, outC: 16, k: 3, s: 1, p: 1, h: 1, w: 2, inf: true, want: map[string]string{
		"generic": "conv in place cols 11",
		"avx2":    "conv in place cols 11",
		"avx512":  "conv in place cols 11",
		"neon":    "conv in place cols 11",
	}},
	{name: "3x3 s2 64ch 56", inC: 64, outC: 64, k: 3, s: 2, p: 1, h: 56, w: 56, want: map[string]string{
		"generic": "conv in place cols E.",
		"avx2":    "conv in place cols E.",
		"avx512":  "conv in place cols E.",
		"neon":    "conv in place cols E.",
	}},
	{name: "3x3 s2 64ch 57", inC: 64, outC: 64, k: 3, s: 2, p: 1, h: 57, w: 57, want: map[string]string{
		"generic": "conv in place cols EE",
		"avx2":    "conv in place cols EE",
		"avx512":  "conv in place cols EE",
		"neon":    "conv in place cols EE",
	}},
	{name: "3x3 s2 16ch 8", inC: 16, outC: 16, k: 3, s: 2, p: 1, h: 8, w: 8, want: map[string]string{
		"generic": "conv in place cols E.",
		"avx2":    "conv in place cols E.",
		"avx512":  "conv in place cols E.",
		"neon":    "conv in place cols E.",
	}},
	{name: "3x3 s4 64ch 56", inC: 64, outC: 64, k: 3, s: 4, p: 1, h: 56, w: 56, want: map[string]string{
		"generic": "conv in place cols E.",
		"avx2":    "conv in place cols E.",
		"avx512":  "conv in place cols E.",
		"neon":    "conv in place cols E.",
	}},
	{name: "3x3 s4 64ch 57", inC: 64, outC: 64, k: 3, s: 4, p: 1, h: 57, w: 57, want: map[string]string{
		"generic": "conv in place cols EE",
		"avx2":    "conv in place cols EE",
		"avx512":  "conv in place cols EE",
		"neon":    "conv in place cols EE",
	}},
	{name: "3x3 s4 16ch 13", inC: 16, outC: 16, k: 3, s: 4, p: 1, h: 13, w: 13, want: map[string]string{
		"generic": "conv in place cols EE",
		"avx2":    "conv in place cols EE",
		"avx512":  "conv in place cols EE",
		"neon":    "conv in place cols EE",
	}},
	{name: "3x3 s3 64ch 56", inC: 64, outC: 64, k: 3, s: 3, p: 1, h: 56, w: 56, want: map[string]string{
		"generic": "conv in place cols E.",
		"avx2":    "conv in place cols E.",
		"avx512":  "conv in place cols E.",
		"neon":    "conv in place cols E.",
	}},
	{name: "3x3 s3 16ch 13", inC: 16, outC: 16, k: 3, s: 3, p: 1, h: 13, w: 13, want: map[string]string{
		"generic": "conv in place cols EE",
		"avx2":    "conv in place cols EE",
		"avx512":  "conv in place cols EE",
		"neon":    "conv in place cols EE",
	}},
	{name: "5x5 s3 16ch 14", inC: 16, outC: 16, k: 5, s: 3, p: 2, h: 14, w: 14, want: map[string]string{
		"generic": "conv in place cols 1E",
		"avx2":    "conv halo 2,1 cols ..",
		"avx512":  "conv halo 2,1 cols ..",
		"neon":    "conv halo 2,1 cols ..",
	}},
	{name: "3x3 s6 64ch 56", inC: 64, outC: 64, k: 3, s: 6, p: 1, h: 56, w: 56, want: map[string]string{
		"generic": "conv in place cols E.",
		"avx2":    "conv in place cols E.",
		"avx512":  "conv in place cols E.",
		"neon":    "conv in place cols E.",
	}},
	{name: "3x3 s6 16ch 13", inC: 16, outC: 16, k: 3, s: 6, p: 1, h: 13, w: 13, want: map[string]string{
		"generic": "conv in place cols EE",
		"avx2":    "conv in place cols EE",
		"avx512":  "conv in place cols EE",
		"neon":    "conv in place cols EE",
	}},
	{name: "3x3 s8 64ch 56", inC: 64, outC: 64, k: 3, s: 8, p: 1, h: 56, w: 56, want: map[string]string{
		"generic": "conv in place cols E.",
		"avx2":    "conv in place cols E.",
		"avx512":  "conv in place cols E.",
		"neon":    "conv in place cols E.",
	}},
	{name: "3x3 s8 16ch 17", inC: 16, outC: 16, k: 3, s: 8, p: 1, h: 17, w: 17, want: map[string]string{
		"generic": "conv in place cols EE",
		"avx2":    "conv in place cols EE",
		"avx512":  "conv in place cols EE",
		"neon":    "conv in place cols EE",
	}},
	{name: "3x3 s1 512ch 7", inC: 512, outC: 512, k: 3, s: 1, p: 1, h: 7, w: 7, want: map[string]string{
		"generic": "conv in place cols EE",
		"avx2":    "conv pf in place cols EE",
		"avx512":  "conv pf in place cols EE",
		"neon":    "conv in place cols EE",
	}},
	{name: "1x1 s1 64ch 56", inC: 64, outC: 256, k: 1, s: 1, p: 0, h: 56, w: 56, want: map[string]string{
		"generic": "conv in place cols ..",
		"avx2":    "conv in place cols ..",
		"avx512":  "conv in place cols ..",
		"neon":    "conv in place cols ..",
	}},
	{name: "1x1 s2 64ch 56", inC: 64, outC: 128, k: 1, s: 2, p: 0, h: 56, w: 56, want: map[string]string{
		"generic": "conv in place cols ..",
		"avx2":    "conv in place cols ..",
		"avx512":  "conv in place cols ..",
		"neon":    "conv in place cols ..",
	}},
	{name: "1x1 s1 1024ch 14", inC: 1024, outC: 512, k: 1, s: 1, p: 0, h: 14, w: 14, want: map[string]string{
		"generic": "conv in place cols ..",
		"avx2":    "conv pf in place cols ..",
		"avx512":  "conv pf in place cols ..",
		"neon":    "conv in place cols ..",
	}},
	{name: "7x7 s2 3ch 224", inC: 3, outC: 64, k: 7, s: 2, p: 3, h: 224, w: 224, want: map[string]string{
		"generic": "conv in place cols 21",
		"avx2":    "conv halo 3,2 cols ..",
		"avx512":  "conv halo 3,2 cols ..",
		"neon":    "conv halo 3,2 cols ..",
	}},
	{name: "7x7 s2 3ch 32", inC: 3, outC: 64, k: 7, s: 2, p: 3, h: 32, w: 32, want: map[string]string{
		"generic": "conv in place cols 21",
		"avx2":    "conv halo 3,2 cols ..",
		"avx512":  "conv halo 3,2 cols ..",
		"neon":    "conv halo 3,2 cols ..",
	}},
	{name: "7x7 s2 3ch 33", inC: 3, outC: 64, k: 7, s: 2, p: 3, h: 33, w: 33, want: map[string]string{
		"generic": "conv in place cols 22",
		"avx2":    "conv halo 3,3 cols ..",
		"avx512":  "conv halo 3,3 cols ..",
		"neon":    "conv halo 3,3 cols ..",
	}},
	{name: "restore k2 p0 64ch 28->56", deconv: true, inC: 64, outC: 64, k: 2, s: 2, p: 0, h: 28, w: 28, oh: 56, ow: 56, want: map[string]string{
		"generic": "phases in place cols .. .. .. ..",
		"avx2":    "fused in place fused 0-56/56 .. cols .. .. .. ..",
		"avx512":  "fused in place fused 0-56/56 .. cols .. .. .. ..",
		"neon":    "fused in place fused 0-56/56 .. cols .. .. .. ..",
	}},
	{name: "restore k2 p0 64ch 4->8", deconv: true, inC: 64, outC: 64, k: 2, s: 2, p: 0, h: 4, w: 4, oh: 8, ow: 8, want: map[string]string{
		"generic": "phases in place cols .. .. .. ..",
		"avx2":    "phases in place cols .. .. .. ..",
		"avx512":  "phases in place cols .. .. .. ..",
		"neon":    "phases in place cols .. .. .. ..",
	}},
	{name: "restore k2 p0 16ch 8->17", deconv: true, inC: 16, outC: 16, k: 2, s: 2, p: 0, h: 8, w: 8, oh: 17, ow: 17, want: map[string]string{
		"generic": "phases in place cols .1 .. .1 ..",
		"avx2":    "fused in place fused 0-16/17 .. cols .1 .. .1 ..",
		"avx512":  "fused in place fused 0-16/17 .. cols .1 .. .1 ..",
		"neon":    "fused in place fused 0-16/17 .. cols .1 .. .1 ..",
	}},
	{name: "restore k3 p1 64ch 28->56", deconv: true, inC: 64, outC: 64, k: 3, s: 2, p: 1, h: 28, w: 28, oh: 56, ow: 56, want: map[string]string{
		"generic": "phases in place cols .E .. .E ..",
		"avx2":    "fused in place fused 0-56/56 .E cols .E .. .E ..",
		"avx512":  "fused in place fused 0-56/56 .E cols .E .. .E ..",
		"neon":    "fused halo 0,1 fused 0-56/56 .. cols .. .. .. ..",
	}},
	{name: "restore k3 p1 64ch 28->55", deconv: true, inC: 64, outC: 64, k: 3, s: 2, p: 1, h: 28, w: 28, oh: 55, ow: 55, want: map[string]string{
		"generic": "phases in place cols .. .. .. ..",
		"avx2":    "fused in place fused 0-55/55 .. cols .. .. .. ..",
		"avx512":  "fused in place fused 0-55/55 .. cols .. .. .. ..",
		"neon":    "fused in place fused 0-55/55 .. cols .. .. .. ..",
	}},
	{name: "restore k3 p1 16ch 16->32", deconv: true, inC: 16, outC: 16, k: 3, s: 2, p: 1, h: 16, w: 16, oh: 32, ow: 32, want: map[string]string{
		"generic": "phases in place cols .E .. .E ..",
		"avx2":    "fused in place fused 0-32/32 .E cols .E .. .E ..",
		"avx512":  "fused in place fused 0-32/32 .E cols .E .. .E ..",
		"neon":    "fused halo 0,1 fused 0-32/32 .. cols .. .. .. ..",
	}},
	{name: "restore k3 p1 16ch 8->16", deconv: true, inC: 16, outC: 16, k: 3, s: 2, p: 1, h: 8, w: 8, oh: 16, ow: 16, want: map[string]string{
		"generic": "phases in place cols .E .. .E ..",
		"avx2":    "fused in place fused 0-16/16 .E cols .E .. .E ..",
		"avx512":  "fused in place fused 0-16/16 .E cols .E .. .E ..",
		"neon":    "fused halo 0,1 fused 0-16/16 .. cols .. .. .. ..",
	}},
	{name: "restore k3 p1 16ch 8->16 Inf weight", deconv: true, inC: 16, outC: 16, k: 3, s: 2, p: 1, h: 8, w: 8, oh: 16, ow: 16, inf: true, want: map[string]string{
		"generic": "phases in place cols .E .. .E ..",
		"avx2":    "fused in place fused 0-16/16 .E cols .E .. .E ..",
		"avx512":  "fused in place fused 0-16/16 .E cols .E .. .E ..",
		"neon":    "fused in place fused 0-14/16 .. cols .E .. .E ..",
	}},
	{name: "restore k3 p1 16ch 8->15", deconv: true, inC: 16, outC: 16, k: 3, s: 2, p: 1, h: 8, w: 8, oh: 15, ow: 15, want: map[string]string{
		"generic": "phases in place cols .. .. .. ..",
		"avx2":    "phases in place cols .. .. .. ..",
		"avx512":  "phases in place cols .. .. .. ..",
		"neon":    "phases in place cols .. .. .. ..",
	}},
	{name: "restore k3 p1 256ch 7->14", deconv: true, inC: 256, outC: 256, k: 3, s: 2, p: 1, h: 7, w: 7, oh: 14, ow: 14, want: map[string]string{
		"generic": "phases in place cols .E .. .E ..",
		"avx2":    "phases pf in place cols .E .. .E ..",
		"avx512":  "phases pf in place cols .E .. .E ..",
		"neon":    "phases in place cols .E .. .E ..",
	}},
	{name: "restore k3 p1 16ch 4->8", deconv: true, inC: 16, outC: 16, k: 3, s: 2, p: 1, h: 4, w: 4, oh: 8, ow: 8, want: map[string]string{
		"generic": "phases in place cols .E .. .E ..",
		"avx2":    "phases in place cols .E .. .E ..",
		"avx512":  "phases in place cols .E .. .E ..",
		"neon":    "phases in place cols .E .. .E ..",
	}},
	{name: "restore k3 p1 16ch 4x5->7x9", deconv: true, inC: 16, outC: 16, k: 3, s: 2, p: 1, h: 4, w: 5, oh: 7, ow: 9, want: map[string]string{
		"generic": "phases in place cols .. .. .. ..",
		"avx2":    "phases in place cols .. .. .. ..",
		"avx512":  "phases in place cols .. .. .. ..",
		"neon":    "phases in place cols .. .. .. ..",
	}},
	{name: "restore k3 p1 512ch 4->7", deconv: true, inC: 512, outC: 512, k: 3, s: 2, p: 1, h: 4, w: 4, oh: 7, ow: 7, want: map[string]string{
		"generic": "phases in place cols .. .. .. ..",
		"avx2":    "phases pf in place cols .. .. .. ..",
		"avx512":  "phases pf in place cols .. .. .. ..",
		"neon":    "phases in place cols .. .. .. ..",
	}},
	{name: "restore k4 p1 64ch 28->56", deconv: true, inC: 64, outC: 64, k: 4, s: 2, p: 1, h: 28, w: 28, oh: 56, ow: 56, want: map[string]string{
		"generic": "phases in place cols .E E. .E E.",
		"avx2":    "fused in place fused 0-56/56 EE cols .E E. .E E.",
		"avx512":  "fused in place fused 0-56/56 EE cols .E E. .E E.",
		"neon":    "fused halo 1,1 fused 0-56/56 .. cols .. .. .. ..",
	}},
	{name: "restore k4 p1 64ch 28->57", deconv: true, inC: 64, outC: 64, k: 4, s: 2, p: 1, h: 28, w: 28, oh: 57, ow: 57, want: map[string]string{
		"generic": "phases in place cols .E EE .E EE",
		"avx2":    "fused halo 1,2 fused 0-57/57 .. cols .. .. .. ..",
		"avx512":  "fused halo 1,2 fused 0-57/57 .. cols .. .. .. ..",
		"neon":    "fused halo 1,2 fused 0-57/57 .. cols .. .. .. ..",
	}},
	{name: "restore k4 p1 16ch 4->8", deconv: true, inC: 16, outC: 16, k: 4, s: 2, p: 1, h: 4, w: 4, oh: 8, ow: 8, want: map[string]string{
		"generic": "phases in place cols .E E. .E E.",
		"avx2":    "phases in place cols .E E. .E E.",
		"avx512":  "phases in place cols .E E. .E E.",
		"neon":    "phases in place cols .E E. .E E.",
	}},
	{name: "restore k4 p1 16ch 9->19", deconv: true, inC: 16, outC: 16, k: 4, s: 2, p: 1, h: 9, w: 9, oh: 19, ow: 19, want: map[string]string{
		"generic": "phases in place cols .E EE .E EE",
		"avx2":    "fused halo 1,2 fused 0-19/19 .. cols .. .. .. ..",
		"avx512":  "fused halo 1,2 fused 0-19/19 .. cols .. .. .. ..",
		"neon":    "fused halo 1,2 fused 0-19/19 .. cols .. .. .. ..",
	}},
	{name: "restore k3 s3 p1 64ch 19->56", deconv: true, inC: 64, outC: 64, k: 3, s: 3, p: 1, h: 19, w: 19, oh: 56, ow: 56, want: map[string]string{
		"generic": "phases in place cols .. .. .. .. .. .. .. .. ..",
		"avx2":    "phases in place cols .. .. .. .. .. .. .. .. ..",
		"avx512":  "phases in place cols .. .. .. .. .. .. .. .. ..",
		"neon":    "phases in place cols .. .. .. .. .. .. .. .. ..",
	}},
	{name: "restore k3 s3 p1 16ch 5->13", deconv: true, inC: 16, outC: 16, k: 3, s: 3, p: 1, h: 5, w: 5, oh: 13, ow: 13, want: map[string]string{
		"generic": "phases in place cols .. .. .. .. .. .. .. .. ..",
		"avx2":    "phases in place cols .. .. .. .. .. .. .. .. ..",
		"avx512":  "phases in place cols .. .. .. .. .. .. .. .. ..",
		"neon":    "phases in place cols .. .. .. .. .. .. .. .. ..",
	}},
	{name: "restore k5 s3 p2 16ch 6->16", deconv: true, inC: 16, outC: 16, k: 5, s: 3, p: 2, h: 6, w: 6, oh: 16, ow: 16, want: map[string]string{
		"generic": "phases in place cols .. .. .. .. .. .. .. .. ..",
		"avx2":    "phases in place cols .. .. .. .. .. .. .. .. ..",
		"avx512":  "phases in place cols .. .. .. .. .. .. .. .. ..",
		"neon":    "phases in place cols .. .. .. .. .. .. .. .. ..",
	}},
	{name: "restore k4 s4 p1 64ch 14->56", deconv: true, inC: 64, outC: 64, k: 4, s: 4, p: 1, h: 14, w: 14, oh: 56, ow: 56, want: map[string]string{
		"generic": "phases in place cols .1 .. .. .. .1 .. .. .. .1 .. .. .. .1 .. .. ..",
		"avx2":    "phases halo 0,1 cols .. .. .. .. .. .. .. .. .. .. .. .. .. .. .. ..",
		"avx512":  "phases halo 0,1 cols .. .. .. .. .. .. .. .. .. .. .. .. .. .. .. ..",
		"neon":    "phases halo 0,1 cols .. .. .. .. .. .. .. .. .. .. .. .. .. .. .. ..",
	}},
	{name: "restore k5 s4 p2 16ch 5->17", deconv: true, inC: 16, outC: 16, k: 5, s: 4, p: 2, h: 5, w: 5, oh: 17, ow: 17, want: map[string]string{
		"generic": "phases in place cols .. .. .. .. .. .. .. .. .. .. .. .. .. .. .. ..",
		"avx2":    "phases in place cols .. .. .. .. .. .. .. .. .. .. .. .. .. .. .. ..",
		"avx512":  "phases in place cols .. .. .. .. .. .. .. .. .. .. .. .. .. .. .. ..",
		"neon":    "phases in place cols .. .. .. .. .. .. .. .. .. .. .. .. .. .. .. ..",
	}},
	{name: "restore k7 s4 p3 16ch 4->13", deconv: true, inC: 16, outC: 16, k: 7, s: 4, p: 3, h: 4, w: 4, oh: 13, ow: 13, want: map[string]string{
		"generic": "phases in place cols .. .. .. .. .. .. .. .. .. .. .. .. .. .. .. ..",
		"avx2":    "phases in place cols .. .. .. .. .. .. .. .. .. .. .. .. .. .. .. ..",
		"avx512":  "phases in place cols .. .. .. .. .. .. .. .. .. .. .. .. .. .. .. ..",
		"neon":    "phases in place cols .. .. .. .. .. .. .. .. .. .. .. .. .. .. .. ..",
	}},
	{name: "restore k3 p0 16ch 16->33", deconv: true, inC: 16, outC: 16, k: 3, s: 2, p: 0, h: 16, w: 16, oh: 33, ow: 33, want: map[string]string{
		"generic": "phases in place cols EE .. EE ..",
		"avx2":    "phases in place cols EE .. EE ..",
		"avx512":  "phases in place cols EE .. EE ..",
		"neon":    "phases in place cols EE .. EE ..",
	}},
}

// TestPathTable pins, for every usable set and a table of shapes (3x3
// convolutions with padding 1 at strides 1, 2, 3, 4, 6 and 8, a 5x5 at
// stride 3 (the reduces of rates 2-4), 1x1s, the 7x7 stride-2 stem,
// stride-2 restores of widths 2, 3 and 4 below and above the fused
// restore's minimum width, stride-3 and stride-4 restores (rates 3 and 4,
// kernel widths r to 2r-1), odd sizes, layers big enough to
// prefetch, weights with an Inf, which never take a haloed copy), which
// path the plan takes, whether it copies its input into a haloed
// workspace and how it computes every border column (see describePlan),
// for layers of the set's block. A change that turns a fast path off (an
// edge flag, the fused restore, the prefetch, the in-place read) changes
// a row here.
// SBCONV_PATHTABLE=print prints the plans instead, in the table's form.
func TestPathTable(t *testing.T) {
	defer func(m int) { haloMode = m }(haloMode)
	haloMode = haloModel
	print := os.Getenv("SBCONV_PATHTABLE") == "print"
	forEachISA(t, func(t *testing.T) {
		set, _ := current()
		for _, c := range pathTable {
			spec := ConvSpec{InC: c.inC, OutC: c.outC, KH: c.k, KW: c.k, StrideH: c.s, StrideW: c.s, PadH: c.p, PadW: c.p}
			var l *layer
			b := set.Block
			src := &layout.Tensor{N: 1, C: c.inC, H: c.h, W: c.w, Block: b}
			dst := &layout.Tensor{N: 1, C: c.outC, H: c.oh, W: c.ow, Block: b}
			w := make([]float32, c.inC*c.outC*c.k*c.k)
			if c.inf {
				w[len(w)/2] = posInf
			}
			if c.deconv {
				d, err := NewConvTranspose2D(spec, w, nil, b)
				if err != nil {
					t.Fatal(err)
				}
				l = &d.l
			} else {
				cv, err := NewConv2D(spec, w, nil, b)
				if err != nil {
					t.Fatal(err)
				}
				l = &cv.l
				if dst.H, dst.W, err = cv.OutputSize(c.h, c.w); err != nil {
					t.Fatal(err)
				}
			}
			wantCaps := pathCaps[set.name]
			if c.inf {
				wantCaps = strings.Replace(wantCaps, " haloCopy", "", 1)
			}
			if got, want := describeCaps(l.path), wantCaps; got != want {
				t.Errorf("%s: capabilities %q, want %q", c.name, got, want)
			}
			got := describePlan(l, l.planFor(src, dst))
			if print {
				fmt.Printf("%s\t%q: %q,\n", c.name, set.name, got)
				continue
			}
			want, ok := c.want[set.name]
			if !ok {
				t.Errorf("%s: no row for set %s: add %q", c.name, set.name, got)
				continue
			}
			if got != want {
				t.Errorf("%s:\n got %s\nwant %s", c.name, got, want)
			}
		}
	})
}
