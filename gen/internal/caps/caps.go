// Package caps derives a generated kernel set's asm.Caps from the code its
// generator emits, so that the flags package kernels reads are facts of
// that code: the functions that write a feature's instructions record it
// on the kernel being written (Now), and Caps sets a flag only where every
// kernel the flag speaks for has it.
package caps

import (
	"fmt"
	"slices"

	"github.com/sbconv/sbconv/asm"
)

// A Kind of kernel says which flags of asm.Caps speak for it.
type Kind int

const (
	Other   Kind = iota // max-pool and peak kernels: no flag
	Conv                // convolution kernels for general windows
	Conv1x1             // pointwise convolution kernels
	Restore             // fused stride-2 restore kernels
)

// Has is what one kernel's code implements of the optional parts of
// package asm's contract.
type Has struct {
	Kind     Kind
	Rows     bool // it loops over Params.Rows rows
	Edges    bool // it takes Params.EdgeL and EdgeR
	Prefetch bool // it prefetches Params.Pf..PfEnd
}

// A Record lists the kernels a generator has written, in order.
type Record struct{ ks []*Has }

// Begin records the start of a kernel of kind k and returns it.
func (r *Record) Begin(k Kind) *Has {
	r.ks = append(r.ks, &Has{Kind: k})
	return r.Now()
}

// Now returns the kernel being written (the last one begun).
func (r *Record) Now() *Has {
	if len(r.ks) == 0 {
		panic("caps: a feature recorded outside any kernel")
	}
	return r.ks[len(r.ks)-1]
}

// Caps returns the set's capabilities for channel block b and maxOCB
// output blocks a convolution call: Rows when every convolution and
// restore kernel loops over rows, Edges and Prefetch when every general
// convolution kernel takes the edge flags or prefetches, RestoreEdges when
// every restore kernel takes the edge flags, each only if at least one
// kernel of its kinds was written (a set without restore kernels may
// still batch rows).
func (r *Record) Caps(b, maxOCB int) asm.Caps {
	all := func(f func(*Has) bool, kinds ...Kind) bool {
		n := 0
		for _, h := range r.ks {
			if !slices.Contains(kinds, h.Kind) {
				continue
			}
			if !f(h) {
				return false
			}
			n++
		}
		return n > 0
	}
	rows := func(h *Has) bool { return h.Rows }
	edges := func(h *Has) bool { return h.Edges }
	prefetch := func(h *Has) bool { return h.Prefetch }
	return asm.Caps{
		Block:        b,
		MaxOCB:       maxOCB,
		Rows:         all(rows, Conv, Conv1x1, Restore),
		Edges:        all(edges, Conv),
		RestoreEdges: all(edges, Restore),
		Prefetch:     all(prefetch, Conv),
	}
}

// Decl returns the Go declaration of set's capabilities for its table
// file: `var <set>Caps = Caps{...}`, MaxOCB written as maxOCBConst.
func Decl(set, generator, maxOCBConst string, c asm.Caps) string {
	return fmt.Sprintf("// %sCaps is what the %s kernels implement beyond the base contracts, as\n"+
		"// %s emitted them (see Caps).\n"+
		"var %sCaps = Caps{Block: %d, MaxOCB: %s, Rows: %v, Edges: %v, RestoreEdges: %v, Prefetch: %v}\n",
		set, set, generator, set, c.Block, maxOCBConst, c.Rows, c.Edges, c.RestoreEdges, c.Prefetch)
}
