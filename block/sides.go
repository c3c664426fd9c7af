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
	x   *layout.Tensor     // the first block's input
	tmp [][]*layout.Tensor // each block's intermediates
}

// sides is a workspace's split of its batch for side-by-side runs: one
// unit a goroutine, each batch/threads images. Every layer call then
// has the same batch: a layer keeps the plan of the last shape it ran,
// and groups of two sizes would make it alternate. A group is not one
// image: a call reads its layer's weights once for all of its images,
// and ResNet-18's 45 MB of weights read once an image made SB ResNet-18
// at batch 8 1.55x one thread on two, against 1.85-1.94x split layer by
// layer (AMD EPYC Zen 5).
type sides struct {
	threads int
	groups  []imageRange // group g: images [g*per, (g+1)*per)
	errs    []error      // each group's
	net     *Net
	prm     asm.Params
}

// view returns images [i0, i1) of t.
func view(t *layout.Tensor, i0, i1 int) *layout.Tensor {
	per := len(t.Data) / t.N
	return &layout.Tensor{N: i1 - i0, C: t.C, H: t.H, W: t.W, Block: t.Block, Data: t.Data[i0*per : i1*per]}
}

func (ws *workspace) imageRange(x *layout.Tensor, i0, i1 int) imageRange {
	r := imageRange{x: view(x, i0, i1), tmp: make([][]*layout.Tensor, len(ws.tmp))}
	for i := range ws.tmp {
		r.tmp[i] = make([]*layout.Tensor, len(ws.tmp[i]))
		for j, t := range ws.tmp[i] {
			r.tmp[i][j] = view(t, i0, i1)
		}
	}
	return r
}

// sideBySide reports whether a batch runs its images side by side on
// threads goroutines rather than splitting every layer: when every
// goroutine gets the same number of images. Side by side, a layer call
// runs on one goroutine: no join between layers, no map shared between
// cores; split, every layer pays a join and moves rows between cores
// (two threads, AMD EPYC Zen 5, batch 8: SB ResNet-20 1.2-1.6x one
// thread split layer by layer, 1.7x side by side; SB ResNet-56 1.3x and
// 2.0x).
func sideBySide(batch, threads int) bool {
	return threads >= 2 && batch >= threads && batch%threads == 0
}

// sidesFor returns ws's split for threads goroutines (made once per
// workspace and thread count), or nil when the batch runs layer by layer
// (sideBySide).
func (n *Net) sidesFor(ws *workspace, x *layout.Tensor, threads int) *sides {
	if !sideBySide(x.N, threads) {
		return nil
	}
	if ws.sides == nil || ws.sides.threads != threads {
		per := x.N / threads
		s := &sides{threads: threads, net: n, groups: make([]imageRange, threads), errs: make([]error, threads)}
		for g := range s.groups {
			s.groups[g] = ws.imageRange(x, g*per, (g+1)*per)
		}
		ws.sides = s
	}
	return ws.sides
}

// RunUnit runs group g's images through every block.
func (s *sides) RunUnit(g int, _ *asm.Params) {
	s.errs[g] = s.net.blocksOn(&s.groups[g])
}

// blocksOn runs the blocks over r's images, each in place (forward with
// dst nil): a block's last layer adds its output to its residual where
// that lies, its input or its projection's output, so that it reads and
// writes one map instead of reading one and writing a second (SB
// ResNet-20 at rate 3 about 5% faster, SB ResNet-18 2-5%, the regular
// networks within noise; AMD EPYC Zen 5, one AVX-512 core). The blocks'
// last output is then where out says (workspace.out).
func (n *Net) blocksOn(r *imageRange) error {
	x := r.x
	for i, b := range n.blocks {
		if err := b.forward(nil, x, r.tmp[i]); err != nil {
			return err
		}
		x = b.out(x, r.tmp[i])
	}
	return nil
}

// runBlocks runs the blocks over ws's batch from x: the images side by
// side (sideBySide; each image's layers then find every other goroutine
// busy and run on their own), or every layer split over the threads.
func (n *Net) runBlocks(ws *workspace, x *layout.Tensor) error {
	s := n.sidesFor(ws, x, kernels.Threads())
	if s == nil {
		all := imageRange{x: x, tmp: ws.tmp}
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
