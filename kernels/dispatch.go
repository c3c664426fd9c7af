package kernels

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sbconv/sbconv/asm"
)

// microkernel computes one call of the contract in package asm.
type microkernel = func(*asm.Params)

// isaSet is what differs per instruction set: its microkernels. Everything
// else (tiling, borders, phases, threads, epilogue selection) is the shared
// driver.
type isaSet struct {
	name   string
	rank   int  // dispatch order: the usable set of the highest rank is the default
	usable bool // the CPU (and the build) can run it
	// Caps is the set's block (Block: the channel block its microkernels
	// are built for), MaxOCB (the most output channel blocks one call
	// takes) and capabilities: a generated set's are its generator's
	// value (asm.AVX2Caps, asm.AVX512Caps, asm.NEONCaps), derived from its
	// code, as they are (see asm.Caps). The generic set's rows and edges
	// hold for the generic kernel every set falls back to.
	asm.Caps
	// kernel returns the microkernel for ocb output channel blocks
	// (1 <= ocb <= MaxOCB) at input pixel stride srcPix and output pixel
	// stride dstPix (in pixels), for a pass whose every window is 1x1 when
	// pointwise is set, or nil where the set has none, in which case the
	// driver uses the generic microkernel for that call shape.
	kernel func(ocb, srcPix, dstPix int, pointwise bool) microkernel
	// tile returns the set's tile kernel for ocb output blocks, the
	// strides and rows of w pixels (the convolution contract with Rows for
	// Pix = w, several rows' accumulators in registers at once), or nil
	// where it has none; a nil tile means none at all.
	tile func(ocb, srcPix, dstPix, w int, pointwise bool) microkernel
	// urw[ocb] is the pixels a step of its kernels for ocb output blocks
	// (<set>URW; nil for the generic kernel, which takes one at a time):
	// the tests sweep every tail of these tiles.
	urw []int
	// restore lists the set's fused stride-2 restore kernels (the second
	// contract of package asm), by kernel width and padding.
	restore []asm.RestoreKernel
	// pool is its kernel of package asm's max-pool contract for its
	// block, or nil (MaxPool3x3S2 then runs the portable Go one).
	pool poolKernel
}

// genericSet is always available: the portable Go microkernel, block 8.
var genericSet = &isaSet{
	name:   "generic",
	rank:   rankGeneric,
	usable: true,
	Caps:   asm.Caps{Block: 8, MaxOCB: 4, Rows: true, Edges: true},
	kernel: func(int, int, int, bool) microkernel { return genericRow8 },
}

// The sets' ranks, best first: a set is dispatched by default when it
// is the usable one of the highest rank, whatever order the isa_*.go
// files register in.
const (
	rankAVX512  = 30
	rankAVX2    = 20
	rankNEON    = 20
	rankGeneric = 0
)

// isaSets lists the sets built into this binary, best (highest rank)
// first; files built for an architecture add theirs in init functions.
// generic is always last.
var isaSets = []*isaSet{genericSet}

// registerISA adds a set in rank order, ahead of every set of a lower
// rank (the generic one included).
//
//lint:ignore U1000 called only by the isa_*.go files, which -tags purego and other architectures leave out
func registerISA(s *isaSet) {
	i := 0
	for i < len(isaSets) && isaSets[i].rank >= s.rank {
		i++
	}
	isaSets = append(isaSets[:i:i], append([]*isaSet{s}, isaSets[i:]...)...)
}

var selected struct {
	once sync.Once
	set  atomic.Pointer[isaSet]
	err  error // an unsatisfiable SBCONV_ISA request
}

// selectISA picks the set from SBCONV_ISA, or the best usable one.
func selectISA(want string) (*isaSet, error) {
	want = strings.ToLower(strings.TrimSpace(want))
	if want == "" {
		for _, s := range isaSets {
			if s.usable {
				return s, nil
			}
		}
		return genericSet, nil
	}
	var names []string
	for _, s := range isaSets {
		names = append(names, s.name)
		if s.name == want {
			if !s.usable {
				return nil, fmt.Errorf("kernels: SBCONV_ISA=%s: this CPU cannot run it", want)
			}
			return s, nil
		}
	}
	known := map[string]bool{"generic": true, "avx2": true, "avx512": true, "neon": true}
	if known[want] {
		return nil, fmt.Errorf("kernels: SBCONV_ISA=%s: not built into this binary (built: %s)", want, strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("kernels: SBCONV_ISA=%q: unknown (want one of generic, avx2, avx512, neon)", want)
}

// current returns the dispatched set, choosing it on first use.
func current() (*isaSet, error) {
	selected.once.Do(func() {
		s, err := selectISA(os.Getenv("SBCONV_ISA"))
		if err != nil {
			selected.err = err
			s = genericSet
		}
		selected.set.Store(s)
	})
	if selected.err != nil {
		return nil, selected.err
	}
	return selected.set.Load(), nil
}

// ISA reports the microkernel set in use: "avx512", "avx2", "neon" or
// "generic". It is "generic" too when SBCONV_ISA asked for a set that
// cannot run here; constructors then return that error (see ISAError).
func ISA() string {
	current()
	return selected.set.Load().name
}

// ISAError returns the error of an SBCONV_ISA request this binary or CPU
// cannot honour, or nil.
func ISAError() error {
	_, err := current()
	return err
}

// Block returns the channel block the dispatched microkernels want: build
// tensors and layers with it for the fast path. Layers with another legal
// block still compute correctly, with the generic microkernel.
func Block() int {
	current()
	return selected.set.Load().Block
}

// ISAs lists the microkernel sets built into this binary that this CPU can
// run, best first.
func ISAs() []string {
	var out []string
	for _, s := range isaSets {
		if s.usable {
			out = append(out, s.name)
		}
	}
	return out
}

// maxTileW is the widest row a set's tile kernel takes (asm's
// <set>TileWidths are 2, 3 and 4).
const maxTileW = 4

// tileFor returns the tile kernel of the set for block at its arguments
// (see isaSet.tile), or nil where it has none: the driver then runs the
// row kernel.
func (s *isaSet) tileFor(block, ocb, srcPix, dstPix, w int, pointwise bool) microkernel {
	t := s.forBlock(block)
	if t == genericSet || t.tile == nil || w < 2 || w > maxTileW {
		return nil
	}
	return t.tile(ocb, srcPix, dstPix, w, pointwise)
}

// kernelFor returns the microkernel for a call shape of a layer of
// channel block block while s is dispatched: that of the set serving the
// block (s itself, or the best usable set after s built for the block:
// forBlock), falling back to the generic one for the block where that set
// has none.
func (s *isaSet) kernelFor(block, ocb, srcPix, dstPix int, pointwise bool) microkernel {
	if t := s.forBlock(block); t != genericSet {
		if k := t.kernel(ocb, srcPix, dstPix, pointwise); k != nil {
			return k
		}
	}
	return genericKernel(block)
}
