package block

// This file runs a network's images side by side: when a call has at
// least as many images as threads, each thread runs the blocks on its own
// share of the images, with no synchronisation between layers, instead of
// all threads splitting every layer.

import (
	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/internal/workers"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// imageRange is the blocks' tensors of images [i0, i1) of a workspace:
// views into its maps (images are contiguous in nChw{b}c).
type imageRange struct {
	x    *layout.Tensor     // the first block's input
	acts []*layout.Tensor   // each block's output
	tmp  [][]*layout.Tensor // each block's intermediates
}

// sides is a workspace's split of its batch for side-by-side runs: one
// unit an image, dealt over threads goroutines. Every layer call then
// has one image, whatever the batch: a layer keeps the plan of the last
// shape it ran, and groups of two sizes would make it alternate.
type sides struct {
	threads int
	groups  []imageRange // image g
	errs    []error      // each image's
	net     *Net
	prm     asm.Params
}

// view returns images [i0, i1) of t.
func view(t *layout.Tensor, i0, i1 int) *layout.Tensor {
	per := len(t.Data) / t.N
	return &layout.Tensor{N: i1 - i0, C: t.C, H: t.H, W: t.W, Block: t.Block, Data: t.Data[i0*per : i1*per]}
}

func (ws *workspace) imageRange(x *layout.Tensor, i0, i1 int) imageRange {
	r := imageRange{x: view(x, i0, i1), acts: make([]*layout.Tensor, len(ws.acts)), tmp: make([][]*layout.Tensor, len(ws.tmp))}
	for i, a := range ws.acts {
		r.acts[i] = view(a, i0, i1)
		r.tmp[i] = make([]*layout.Tensor, len(ws.tmp[i]))
		for j, t := range ws.tmp[i] {
			r.tmp[i][j] = view(t, i0, i1)
		}
	}
	return r
}

// sideBySide reports whether a batch runs its images side by side on
// threads goroutines rather than splitting every layer: when every
// goroutine gets the same number of images, or when the batch is large
// enough (at least 4 images a goroutine) that the uneven last round
// costs at most a fifth. Side by side, a layer call is one image on one
// goroutine: no synchronisation between layers, no map shared between
// cores; splitting, every layer pays a join and moves rows between
// cores (two threads, AMD EPYC Zen 5: SB ResNet-20 at batch 8 1.2-1.6x
// one thread split layer by layer).
func sideBySide(batch, threads int) bool {
	return threads >= 2 && batch >= threads && (batch%threads == 0 || batch >= 4*threads)
}

// sidesFor returns ws's split (made once per workspace and thread count),
// or nil when the batch runs layer by layer (sideBySide).
func (n *Net) sidesFor(ws *workspace, x *layout.Tensor, threads int) *sides {
	if !sideBySide(x.N, threads) {
		return nil
	}
	if ws.sides == nil {
		s := &sides{net: n, groups: make([]imageRange, x.N), errs: make([]error, x.N)}
		for g := range s.groups {
			s.groups[g] = ws.imageRange(x, g, g+1)
		}
		ws.sides = s
	}
	ws.sides.threads = threads
	return ws.sides
}

// RunUnit runs image g through every block.
func (s *sides) RunUnit(g int, _ *asm.Params) {
	s.errs[g] = s.net.blocksOn(&s.groups[g])
}

// blocksOn runs the blocks over r's images.
func (n *Net) blocksOn(r *imageRange) error {
	x := r.x
	for i, b := range n.blocks {
		if err := b.forward(r.acts[i], x, r.tmp[i]); err != nil {
			return err
		}
		x = r.acts[i]
	}
	return nil
}

// runBlocks runs the blocks over ws's batch from x: the images side by
// side (sideBySide; each image's layers then find every other goroutine
// busy and run on their own), or every layer split over the threads.
func (n *Net) runBlocks(ws *workspace, x *layout.Tensor) error {
	s := n.sidesFor(ws, x, kernels.Threads())
	if s == nil {
		all := imageRange{x: x, acts: ws.acts, tmp: ws.tmp}
		return n.blocksOn(&all)
	}
	workers.Run(s, len(s.groups), s.threads, &s.prm)
	var first error
	for g, err := range s.errs {
		if first == nil {
			first = err
		}
		s.errs[g] = nil
	}
	return first
}
