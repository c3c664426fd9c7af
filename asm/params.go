// Package asm holds sbconv's microkernels and their contract, and its
// functions trust their arguments: a kernel reads and writes wherever the
// pointers and strides of its Params say, so the promise that nothing a
// caller passes can touch memory outside its slices is made by the public
// API of packages kernels, layout and block, which validate everything,
// not by asm (asm.AVX2ConvO1Src1Dst1(&asm.Params{Pix: 1, OCB: 1, ICB: 1,
// KH: 1, KW: 1}) dereferences its nil pointers and faults). The assembly
// kernels, on platforms that have them, are produced by the generators in
// the nested gen/ module (never edit them by hand) for sbconv's own
// drivers in package kernels, not for direct use.
//
// # The microkernel contract
//
// One call computes Pix output pixels of one output row for OCB output
// channel blocks of b lanes (b = 8 or 16), summing over ICB input channel
// blocks and a KH x KW window of taps, and stores the result once through
// the fused epilogue:
//
//	for o := 0; o < OCB; o++ {
//		for p := 0; p < Pix; p++ {
//			for lane := 0; lane < b; lane++ {
//				acc := Bias[o*b+lane]
//				for c := 0; c < ICB; c++ {
//					for kh := 0; kh < KH; kh++ {
//						for kw := 0; kw < KW; kw++ {
//							for i := 0; i < b; i++ {
//								x := Src[p*SrcPix + c*SrcICB + kh*SrcRow + kw*SrcTap + i*4]
//								w := Wei[o*WeiOCB + c*WeiICB + kh*WeiRow + kw*b*b*4 + i*b*4 + lane*4]
//								acc += x * w
//							}
//						}
//					}
//				}
//				if Res != nil { acc += Res[o*DstOCB + p*DstPix + lane*4] }
//				if ReLU != 0 && acc < 0 { acc = 0 }
//				Dst[o*DstOCB + p*DstPix + lane*4] = acc
//			}
//		}
//	}
//
// (indices in bytes). Strides are runtime values, so the same contract
// serves a stride-s convolution (SrcPix = s*b*4, DstPix = b*4) and one
// output phase of a stride-s transposed convolution (SrcPix = b*4,
// DstPix = s*b*4). An implementation is free to walk the Pix pixels ur_w at
// a time with generated tails and to specialise on strides it knows; it may
// assume Pix, OCB, ICB, KH and KW are at least 1 and that every address the
// loop above forms lies inside its operand, which the Go drivers guarantee
// (borders are handled there by narrowing KH, KW and Pix, never by reading
// outside the input). Res and Dst have the same geometry.
//
// # Rows
//
// Rows, edges and prefetch are optional parts of the contract: a set's
// kernels implement each where the set's Caps says so (see "Sets" at the
// end), and the driver sets the fields of a part only for a set that has
// it.
//
// The kernels of a set with Caps.Rows loop over Rows output rows of the
// same shape in one call, both the convolution and the restore contract
// (package kernels' generic Go kernel does too): row r is the loop
// above with Src, Dst and Res moved by r*SrcRows, r*DstRows and r*DstRows
// bytes. A small map's rows are a few pixels each, so the driver's work
// per call (and the kernel's prologue) would otherwise weigh on a CIFAR
// restore that makes a call per 4-pixel row. Rows = 0 is read as 1.
//
// # Edges
//
// The convolution kernels of a set with Caps.Edges (its kernels for
// general windows: a 1x1 window never overhangs) also compute a row's
// border pixels, whose window overhangs the input by one column, in the
// same call as its interior, so that a 3x3 convolution with padding 1
// needs neither a zero-haloed copy of its input nor one-pixel calls. With
// EdgeL = 1 the row's pixel 0 skips tap kw = 0 and Src points at pixel
// 0's tap (0, 1) (the contract's Src is then Src - SrcTap, which is never
// read); with EdgeR = 1 the row's pixel Pix-1 skips tap kw = KW-1. The
// skipped columns are not read. KW >= 2 wherever a flag is set.
//
// The restore kernels of a set with Caps.RestoreEdges take them too, for
// the input column left of the row's first pair and right of its last
// one: with EdgeL = 1 (only where EMin < 0) pair 0's taps with e = EMin
// are skipped and Src points one column right of the contract's (at
// column EMin+1 of pair 0); with EdgeR = 1 (only where EMax > 0, and Pix
// even) the last pair's taps with e = EMax are skipped.
//
// # Prefetch
//
// Pf, PfEnd and PfOCB (plain addresses and a stride, never dereferenced)
// name weights a later call will use: the heads of a later work unit's
// output blocks, PfOCB bytes apart. While Pf < PfEnd, the convolution
// kernels (general and 1x1, rows and tiles) of a set with Caps.Prefetch
// (not its restore nor its stem kernels) prefetch into L2, after every
// tap step (1x1: every input block), the PfLines cache lines from
// Pf + o*PfOCB for each of their OCB output blocks o, and move Pf on by
// PfLines*64 bytes; they leave Pf, in the argument block, where they
// stopped, so that the driver spreads one range over many calls. The
// driver sets PfEnd at most the range's end minus both (OCB-1)*PfOCB and
// PfLines*64 - 1, so no line outside the range is named. A layer whose
// weights overflow the caches fetches the start of each of the next work
// unit's blocks from memory while it computes this one's (the 512-channel
// 7x7 layers: 9.4 MB each), so that the next call's streams, one a block,
// start from L2. Zero Pf and PfEnd mean none; other kernels ignore all
// three.
//
// The convolution kernels of a plan that prefetches ahead (AVX-512's
// three output blocks; see gen/x86) also prefetch their own weights:
// after reading input channel i's weights of each output block they
// prefetch the line PfAhead bytes past it, in the same block's run of
// taps and input blocks. Those lines are the call's own, the next
// group's, or past the end of the weights: the packed weights the driver
// makes (package layout) keep at least PfAhead bytes of capacity after
// their length, so that no named line lies outside their allocation.
// Weights passed from elsewhere need the same slack for that guarantee
// (a prefetch never faults and changes nothing).
//
// # Tiles
//
// A set may have tile kernels besides its convolution kernels
// (<set>TileKernel, named <set>ConvO<ocb>Src<s>Dst<d>W<w> and
// <set>Conv1x1O<ocb>Src<s>Dst<d>W<w>): the convolution contract with its
// Rows, Edges and Prefetch parts, for calls of Pix = w pixels a row (w =
// 2, 3 or 4, <set>TileWidths), that keep up to three rows' accumulators
// in registers and so walk the weights once for all of them, where a row
// kernel walks them once a row. A small map's rows are a few pixels
// (the reduce of a spatial bottleneck at rate 3 or 4, the phases of its
// restore), and there each weight vector would feed only 2-4 FMAs.
// Their "tap step" is one for up to three rows, which the prefetch part
// counts.
//
// The tile kernels for general windows also take the vertical edges: with
// EdgeT = e > 0 the call's row 0 skips taps kh < e and Src points at row
// 0's tap (e, 0) (the contract's Src is Src - e*SrcRow, which is never
// read); with EdgeB = e > 0 the call's row Rows-1 skips taps kh >= KH-e.
// EdgeT and EdgeB are below KH, and when the call has more than one row
// EdgeT + EdgeB <= KH (no tap row is skipped by two rows). So the rows of
// a 3x3 output whose window overhangs the input by one row above and
// below are one call, and the two rows of a 2x2 output under a 5x5
// window with padding 2. Other kernels never read EdgeT and EdgeB.
//
// # The fused stride-2 restore contract
//
// A restore kernel computes one output row of a stride-2 transposed
// convolution with a K-wide kernel and padding P in a single pass: both
// horizontal phases at once, so each input value broadcast feeds every tap
// that uses it, and the row is written once, in order. With output pixel
// x = 2j + q of the call (q = 0, 1), tap kw reaches it from input column
// j + (q+P-kw)/2 whenever q+P-kw is even (RestoreTap). One call:
//
//	for o := 0; o < OCB; o++ {
//	for x := 0; x < Pix; x++ {
//		j, q := x/2, x%2
//		for lane := 0; lane < b; lane++ {
//			acc := Bias[o*b+lane]
//			for c := 0; c < ICB; c++ {
//				for kh := 0; kh < KH; kh++ {
//					for kw := 0; kw < K; kw++ {
//						d, ok := RestoreTap(q, P, kw)
//						if !ok { continue }
//						e := d - EMin
//						for i := 0; i < b; i++ {
//							x := Src[(j+e)*b*4 + c*SrcICB + kh*SrcRow + i*4]
//							w := Wei[o*WeiOCB + c*WeiICB + kh*WeiRow + kw*b*b*4 + i*b*4 + lane*4]
//							acc += x * w
//						}
//					}
//				}
//			}
//			(residual, ReLU and the store as in the convolution contract,
//			 at Dst[o*DstOCB + x*b*4 + lane*4])
//		}
//	}
//	}
//
// Src points at input column EMin of pair 0 (EMin <= 0 <= EMax are the
// extreme column offsets, see RestoreSpan); KW must equal K, so WeiRow is
// K*b*b*4. SrcPix and DstPix are b*4 (unit strides); OCB is at most the
// family's number of kernels. The driver only calls
// it where every column read exists; the edges of a row go through the
// per-phase convolution kernels.
//
// # The stem contract
//
// A stem kernel is a convolution kernel whose input is a plain NCHW image
// (a network's first layer, over three channels) rather than channel
// blocks: the microkernel contract with one input float a pixel and
// channel where it has a block of b, so that no lane computes a padded
// channel or tap. One call computes the loop of the microkernel contract
// with the i loop gone:
//
//	x := Src[p*SrcPix + c*SrcICB + kh*SrcRow + kw*4]
//	w := Wei[o*WeiOCB + c*WeiICB + kh*WeiRow + kw*b*4 + lane*4]
//
// ICB counting the input channels, SrcPix = s*4 for its input pixel
// stride s, SrcTap = 4. The kernels loop over Rows rows as the Rows part
// says, take no edge flags (the driver reads the input from a
// zero-bordered copy) and do not prefetch. A set lists them as
// <set>Stem[ocb-1][si] for the input pixel strides <set>StemStrides[si],
// named <set>StemO<ocb>Src<s> (AVX512StemO2Src2: two output blocks,
// ResNet's stride-2 7x7 stem).
//
// # The max-pool contract
//
// A pool kernel computes output rows of a 3x3 stride-2 max pool over
// pixels of its set's block b (8 or 16; PyTorch's MaxPool2d(3, stride=2),
// the stem pool of the ImageNet ResNets), taking its arguments from a
// PoolParams. One call:
//
//	for r := 0; r < max(Rows, 1); r++ {
//		for j := 0; j < Pix; j++ {
//			for lane := 0; lane < b; lane++ {
//				m := -Inf
//				for _, s := range []unsafe.Pointer{Src0, Src1, Src2} {
//					for dx := 0; dx < 3; dx++ {
//						m = maxNaN(m, s[r*SrcRows + (2*j+dx)*b*4 + lane*4])
//					}
//				}
//				Dst[r*DstRows + j*b*4 + lane*4] = m
//			}
//		}
//	}
//
// (indices in bytes), where maxNaN is Go's max: the result is a NaN
// whenever any of the nine values is one, as in PyTorch. Which NaN is
// not specified (gen/x86's AVX2 kernel returns all ones, its AVX-512 one
// the sum of two window values, one a NaN), nor the sign of a zero
// maximum among -0 and +0. Pix >= 0 (0: nothing is read or written).
//
// The three sources are the window's input rows, each at the input column
// of output pixel 0's first window column; a window with fewer rows inside
// the input passes one twice (max is idempotent). The kernels never read
// outside the columns 0 .. 2*Pix of each row: the driver computes the
// output pixels whose window leaves the input (a row's first, and its
// last when the input width is odd) itself, and points Src0..Src2 at
// input column 2*j0-1 for a run starting at output pixel j0 >= 1.
//
// # The average-pool contract
//
// An average-pool kernel writes the mean of each plane's pixels, one
// vector of the set's block a pixel (package block's global average pool
// before a network's fc). It takes its arguments from an AvgPoolParams,
// in four interleaved float32 partial sums, as PyTorch's float32 mean
// sums, vector by vector (v(p, j) is pixel j of plane p, at Src +
// p*SrcPlane + j*b*4 bytes):
//
//	for p := 0; p < Planes; p++ {
//		s0, s1, s2, s3 := 0, 0, 0, 0
//		j := 0
//		for ; j+4 <= Pix; j += 4 {
//			s0 += v(p, j); s1 += v(p, j+1); s2 += v(p, j+2); s3 += v(p, j+3)
//		}
//		for ; j < Pix; j++ {
//			s0 += v(p, j)
//		}
//		Dst[p] = ((s0 + s1) + (s2 + s3)) * Scale // vector p, at Dst + p*b*4
//	}
//
// bit for bit, every lane alike. Planes >= 0, Pix >= 1, SrcPlane >=
// Pix*b*4, Dst overlaps no plane; the kernel reads and writes nothing
// else.
//
// # The pack contract
//
// A pack kernel gathers 8 strided source runs into 8 lanes of consecutive
// pixels, a transpose (package block's stem packs a network's NCHW input
// into a channel block this way, 8 lanes a call). It takes its arguments
// from a PackParams, counts and steps in floats:
//
//	for j := 0; j < N; j++ {
//		for l := 0; l < 8; l++ {
//			Out[j*OutStep + l] = Src[l][j*SrcStep]
//		}
//	}
//
// a copy, bit for bit. N >= 0 (0: nothing is read or written), SrcStep
// >= 1, OutStep >= 8, and Out overlaps no source. The kernel reads no
// float of a source outside Src[l][0 .. (N-1)*SrcStep] and writes none
// outside Out[j*OutStep .. j*OutStep+7] for j < N; it may write a pixel
// more than once (with the same value).
//
// # Sets: tables, capabilities and names
//
// A generator writes a set's kernels with a table file beside them, which
// is all package kernels needs besides a CPU check: <set>Conv and
// <set>Conv1x1 (below), <set>Restore (RestoreKernel), <set>URW (pixels a
// step by OCB), <set>MaxOCB, <set>Caps (the optional parts above that
// every kernel they speak for implements, as the generator derived them
// from the code it emitted), <set>MaxPool3x3S2, and <set>FMAPeak with
// <set>FMAPeakFLOPs, the floating-point operations of one iteration of
// that register-only FMA loop, which measures the core's peak. A set with
// a kernel of the pack contract lists it as <set>Pack (nil: none), named
// <set>Pack8 (8 lanes a call).
//
// An x86 set lists its kernel of the average-pool contract as
// <set>AvgPool, named <set>AvgPoolMean.
//
// A convolution kernel is named by its set, Conv (any window) or Conv1x1
// (KH = KW = 1), then O<ocb>, the output channel blocks a call (OCB),
// Src<s>, the input pixel stride, and Dst<d>, the output pixel stride,
// both in pixels (SrcPix = s*b*4, DstPix = d*b*4 bytes): AVX2ConvO2Src4Dst1
// is the 2-block kernel of a stride-4 convolution, NEONConv1x1O1Src1Dst2
// the 1-block, 1x1 kernel of one phase of a stride-2 transposed
// convolution. The tables <set>Conv[ocb-1][si][di] and <set>Conv1x1 list
// them, si and di indexing <set>SrcStrides and <set>DstStrides, and
// <set>Kernel(ocb, s, d, pw) looks one up. A restore
// kernel is named by its set, Restore, K<K> and P<P> (kernel width and
// padding), and O<ocb> where the set has kernels for several OCB.
package asm

//go:generate go -C ../gen run ./x86 -dir ../asm
//go:generate go -C ../gen run ./neon -dir ../asm

import "unsafe"

// Params is the argument block of one microkernel call. Assembly reads it
// through a pointer at the offsets given by the Off* constants; a test
// checks them against unsafe.Offsetof, so reordering fields breaks the
// build's tests, not memory.
type Params struct {
	Src  unsafe.Pointer // input at pixel 0, tap (0, 0), channel block 0
	Wei  unsafe.Pointer // packed weights at output block 0, input block 0, tap (0, 0)
	Dst  unsafe.Pointer // output at pixel 0, output block 0
	Bias unsafe.Pointer // b*OCB bias values (zero where the layer has none)
	Res  unsafe.Pointer // residual with Dst's geometry, or nil

	Pix, OCB, ICB, KH, KW int // counts, all >= 1

	SrcICB, SrcRow, SrcTap, SrcPix int // input strides in bytes; SrcTap is b*4 (dilation 1), which a kernel may assume
	WeiOCB, WeiICB, WeiRow         int // weight strides in bytes (tap stride is b*b*4)
	DstOCB, DstPix                 int // output (and residual) strides in bytes
	ReLU                           int // 1: clamp negatives to zero after the residual

	// Rows output rows a call (0 is read as 1), row r at Src + r*SrcRows
	// and Dst (and Res) + r*DstRows; only for sets with Caps.Rows (see
	// the package comment).
	Rows, SrcRows, DstRows int

	// EdgeL, EdgeR 1: each row's first (last) pixel lies on the left
	// (right) border, its window's first (last) column in the padding:
	// only for sets with Caps.Edges (Caps.RestoreEdges for the restore
	// kernels), see the package comment.
	EdgeL, EdgeR int

	// Pf, PfEnd: weights of a later call to prefetch while this one
	// computes, PfLines cache lines a tap step at Pf + o*PfOCB for each
	// output block o while Pf < PfEnd; the kernel leaves Pf where it
	// stopped (see the package comment). PfOCB is the last field.
	Pf, PfEnd uintptr

	// EdgeT, EdgeB > 0: the call's first (last) row lies on the top
	// (bottom) border, its window's first EdgeT (last EdgeB) rows in
	// the padding: only for the tile kernels of a set (see the package
	// comment).
	EdgeT, EdgeB int

	// PfOCB: the bytes between the output blocks' weights that Pf names
	// (those of the unit it belongs to).
	PfOCB int
}

// PfLines is how many cache lines a kernel prefetches each tap step for
// each of its output blocks (see gen/x86 for the measurements).
const PfLines = 2

// PfAhead is how far past the weights it reads a kernel that prefetches
// ahead prefetches its own (see Prefetch above): 2 KB, a few hundred
// nanoseconds of a streaming layer's reads. 1 KB gained nothing and 4 KB
// less (see gen/x86).
const PfAhead = 2048

// Byte offsets of the Params fields, as the generated assembly uses them.
const (
	OffSrc       = 0
	OffWei       = 8
	OffDst       = 16
	OffBias      = 24
	OffRes       = 32
	OffPix       = 40
	OffOCB       = 48
	OffICB       = 56
	OffKH        = 64
	OffKW        = 72
	OffSrcICB    = 80
	OffSrcRow    = 88
	OffSrcTap    = 96
	OffSrcPix    = 104
	OffWeiOCB    = 112
	OffWeiICB    = 120
	OffWeiRow    = 128
	OffDstOCB    = 136
	OffDstPix    = 144
	OffReLU      = 152
	OffRows      = 160
	OffSrcRows   = 168
	OffDstRows   = 176
	OffEdgeL     = 184
	OffEdgeR     = 192
	OffPf        = 200
	OffPfEnd     = 208
	OffEdgeT     = 216
	OffEdgeB     = 224
	OffPfOCB     = 232
	SizeofParams = 240
)

// PoolParams is the argument block of one max-pool kernel call (the
// max-pool contract of the package comment). Assembly reads it at the
// OffPool* offsets, which a test pins to the struct.
type PoolParams struct {
	Src0, Src1, Src2 unsafe.Pointer // the window's three input rows at output pixel 0's first column (repeats allowed)
	Dst              unsafe.Pointer // output pixel 0

	Pix int // output pixels a row, >= 0

	// Rows rows a call (0 is read as 1): row r reads every source moved
	// by r*SrcRows bytes and writes Dst + r*DstRows.
	Rows, SrcRows, DstRows int
}

// Byte offsets of the PoolParams fields, as the generated assembly uses
// them.
const (
	OffPoolSrc0      = 0
	OffPoolSrc1      = 8
	OffPoolSrc2      = 16
	OffPoolDst       = 24
	OffPoolPix       = 32
	OffPoolRows      = 40
	OffPoolSrcRows   = 48
	OffPoolDstRows   = 56
	SizeofPoolParams = 64
)

// PackParams is the argument block of one pack kernel call (the pack
// contract of the package comment): for j < N and l < 8, float
// Out[j*OutStep+l] = float Src[l][j*SrcStep], counts and steps in floats.
// Assembly reads it at the OffPack* offsets, which a test pins to the
// struct.
type PackParams struct {
	Out unsafe.Pointer    // pixel 0's lane 0
	Src [8]unsafe.Pointer // lane l's run at pixel 0

	N       int // pixels, >= 0
	SrcStep int // floats between a run's pixels, >= 1
	OutStep int // floats between output pixels, >= 8
}

// AvgPoolParams is the argument block of one average-pool kernel call
// (the average-pool contract of the package comment). Assembly reads it
// at the OffAvgPool* offsets, which a test pins to the struct.
type AvgPoolParams struct {
	Src, Dst unsafe.Pointer // plane 0's pixel 0; the mean of plane 0

	Planes   int     // planes, >= 0
	Pix      int     // pixels a plane, >= 1
	SrcPlane int     // bytes from one plane to the next
	Scale    float32 // the sums' factor: 1/Pix for a mean
}

// Byte offsets of the AvgPoolParams fields, as the generated assembly
// uses them.
const (
	OffAvgPoolSrc       = 0
	OffAvgPoolDst       = 8
	OffAvgPoolPlanes    = 16
	OffAvgPoolPix       = 24
	OffAvgPoolSrcPlane  = 32
	OffAvgPoolScale     = 40
	SizeofAvgPoolParams = 48
)

// Byte offsets of the PackParams fields, as the generated assembly uses
// them (Src[l] at OffPackSrc + 8*l).
const (
	OffPackOut       = 0
	OffPackSrc       = 8
	OffPackN         = 72
	OffPackSrcStep   = 80
	OffPackOutStep   = 88
	SizeofPackParams = 96
)

// RestoreTap is the tap rule of a stride-2 transposed convolution with
// padding pad, written here once for the generators, the drivers and the
// tests: output column x (out[x] += in[i]*w[kw] where x = 2i - pad + kw)
// takes tap kw if and only if x+pad-kw is even, that is when kw has the
// parity (x+pad) mod 2 of x's column phase, and it then reads input column
// i = (x+pad-kw)/2. Counted from an output pair, x = 2j + q (q = 0, 1)
// reads column j + e with e = (q+pad-kw)/2: RestoreTap(q, pad, kw) is the
// offset e of the restore contract in the package comment.
func RestoreTap(x, pad, kw int) (col int, ok bool) {
	d := x + pad - kw
	if d%2 != 0 {
		return 0, false
	}
	return d / 2, true
}

// RestoreSpan returns the extreme input column offsets a restore pair
// reads, relative to its pair index: RestoreTap(q, pad, kw) over q = 0, 1
// and the k taps that reach q.
func RestoreSpan(k, pad int) (emin, emax int) {
	emin, emax = 1<<30, -(1 << 30)
	for q := 0; q < 2; q++ {
		for kw := 0; kw < k; kw++ {
			if e, ok := RestoreTap(q, pad, kw); ok {
				emin, emax = min(emin, e), max(emax, e)
			}
		}
	}
	return emin, emax
}

// Caps is what a generated kernel set implements beyond the base
// contracts of the package comment. Each generator derives its set's from
// the code it emits and writes it beside the set's tables (AVX2Caps,
// NEONCaps), so a flag is set only where every kernel it speaks for has
// that code; package kernels hands the flags to its driver as they are.
type Caps struct {
	Block  int // the channel block b every kernel of the set is built for
	MaxOCB int // the most output channel blocks one convolution call takes

	// Rows: every convolution and restore kernel loops over Params.Rows
	// rows (see Rows), so the driver may batch a layer's rows.
	Rows bool
	// Edges: the convolution kernels for general windows take EdgeL and
	// EdgeR (see Edges), so the driver computes a row's border pixels in
	// its call, without a zero-haloed copy of the input.
	Edges bool
	// RestoreEdges: the restore kernels take EdgeL and EdgeR too.
	RestoreEdges bool
	// Prefetch: the convolution kernels for general windows prefetch
	// Pf..PfEnd (see Prefetch), so the driver may hand them the weights
	// of its next work unit.
	Prefetch bool
}

// RestoreKernel is a family of generated fused stride-2 restore kernels
// for one kernel width and padding.
type RestoreKernel struct {
	K, Pad int             // kernel width and padding it is built for
	MaxPix []int           // MaxPix[ocb-1]: most output pixels in one block
	Fn     []func(*Params) // Fn[ocb-1] takes ocb output blocks a call
}
