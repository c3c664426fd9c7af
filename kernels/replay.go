package kernels

// This file keeps, for a small layer's plan, the record of every
// microkernel call its units made, so that later calls of the same shape
// replay them instead of working them out again.

import (
	"sync/atomic"
	"unsafe"

	"github.com/sbconv/sbconv/asm"
)

// replayMaxFLOPs is the largest call (callFLOPs) whose plan records its
// microkernel calls for replay. A CIFAR layer, or a spatial bottleneck's
// restore at rate 3 or 4, is a few hundred thousand FLOPs in 10-40
// calls of 2-11 pixels, and working each call out (the unit, the row
// runs, tiles and borders, the argument block) cost 45-70 ns a call
// against 70-150 ns in the kernel: a third of a 64-channel 2x2 -> 8x8
// restore (AMD EPYC Zen 5, AVX-512). Larger layers make fewer, longer
// calls, and their records would be larger.
const replayMaxFLOPs = 4e6

// maxReplayThreads is the largest thread count a plan keeps a record for
// (one record per count: the split into units depends on it).
const maxReplayThreads = 8

// replay is a record of every microkernel call of one call of a plan's
// shape on one thread count, unit by unit.
type replay struct {
	units [][]recCall
}

// recCall is one microkernel call: the kernel and its argument block as
// the driver built it, with Src, Dst and Res cleared and kept as float
// offsets into the input the kernels read (f.sdata; src < 0: Src is in
// prm, the zeros of biasOnly) and the output (the residual at the same
// offset). The weights, bias and prefetch addresses are the layer's own
// and stay as they are.
type recCall struct {
	k        microkernel
	prm      asm.Params
	src, dst int
}

// replays are a plan's records, by thread count - 1.
type replays [maxReplayThreads]atomic.Pointer[replay]

// startReplay sets f up, once split has divided the call into units for
// n threads, to replay the plan's record for n (f.rep) or to record one
// (f.rec), where the plan keeps records (plan.replay: decided with the
// plan, once a shape).
func (f *fwd) startReplay(n, units int) {
	if !f.pl.replay || n > maxReplayThreads {
		return
	}
	if r := f.pl.replays[n-1].Load(); r != nil && len(r.units) == units {
		f.rep = r
		return
	}
	f.rec = &replay{units: make([][]recCall, units)}
}

// endReplay keeps the record f made, for the calls after it.
func (f *fwd) endReplay() {
	if f.rec != nil {
		f.pl.replays[f.threads-1].Store(f.rec)
	}
}

// invoke calls kernel k for rc's unit, recording the call when f records.
func (f *fwd) invoke(rc *rowCall, k microkernel, prm *asm.Params) {
	if rc.rec != nil {
		c := recCall{k: k, prm: *prm, src: -1}
		sd := uintptr(unsafe.Pointer(unsafe.SliceData(f.sdata)))
		if s := uintptr(prm.Src); s >= sd && s < sd+uintptr(len(f.sdata))*4 {
			c.src, c.prm.Src = int(s-sd)/4, nil
		}
		c.dst = int(uintptr(prm.Dst)-uintptr(unsafe.Pointer(unsafe.SliceData(f.dst.Data)))) / 4
		c.prm.Dst, c.prm.Res = nil, nil
		*rc.rec = append(*rc.rec, c)
	}
	k(prm)
}

// replayCalls makes the recorded calls of a unit on f's tensors.
func (f *fwd) replayCalls(prm *asm.Params, calls []recCall) {
	src := unsafe.Pointer(unsafe.SliceData(f.sdata))
	dst := unsafe.Pointer(unsafe.SliceData(f.dst.Data))
	var res unsafe.Pointer
	if f.res != nil {
		res = unsafe.Pointer(unsafe.SliceData(f.res.Data))
	}
	for i := range calls {
		c := &calls[i]
		*prm = c.prm
		prm.ReLU = f.relu
		if c.src >= 0 {
			prm.Src = unsafe.Add(src, c.src*4)
		}
		prm.Dst = unsafe.Add(dst, c.dst*4)
		if res != nil {
			prm.Res = unsafe.Add(res, c.dst*4)
		}
		c.k(prm)
	}
}
