// Command x86 generates sbconv's x86 microkernel sets into ../asm, one
// emitter for every set: a set is a configuration value (isa), not a copy
// of the code. It writes, for each set s of sets (avx2, avx512):
//
//	conv_<s>_amd64.s        the kernels
//	conv_<s>_amd64.go       their Go declarations (avo stubs)
//	table_<s>_amd64.go      the lookup tables the driver dispatches through,
//	                        <S>Caps and <S>FMAPeakFLOPs
//
// The sets:
//
//   - AVX2 + FMA: block 8 (nChw8c activations, OIhw8i8o weights), 16 ymm
//     registers; an input value is broadcast into a register
//     (VBROADCASTSS) that then feeds every output block's FMA.
//   - AVX-512 (F, DQ): block 16 (nChw16c, OIhw16i16o), 32 zmm registers;
//     an FMA of one output block takes its input value as an embedded
//     broadcast memory operand (VFMADD231PS.BCST, {1to16}), so no
//     register holds a broadcast and the tile is larger. On the Zen 5
//     core this was written on, FMAs with a broadcast memory operand ran
//     at the register-only FMA peak. Plans of two and three output blocks
//     broadcast into a register (convPlan.regBcast), since an embedded
//     broadcast loads the value again for every output block.
//
// What differs between them is in isa: the name prefix, the vector
// registers and their count (the budget every plan is checked against),
// the channel block, the broadcast form, the plans of each family and the
// size of the pool and peak kernels. Everything else (the prologue and row
// loop, the pixel loop, edge flags, the reduction loops, the epilogue,
// the tables) is one code.
//
// Each set also has <S>MaxPool3x3S2, the max-pool contract's kernel
// (pool.go), <S>FMAPeak, the register-only FMA loop whose time is the
// denominator of percent-of-peak, and <S>Pack8, the pack contract's
// kernel (pack.go: 8 strided runs into 8 lanes, the stem's input pack,
// 256-bit AVX code in both sets), listed in the table as <S>Pack, and
// <S>StemO<ocb>Src<s>, the stem contract's kernels (stem.go: the
// convolution kernel with one input float a tap, kernel.lanes = 1, over a
// network's NCHW input), listed as <S>Stem.
//
// And each has tile kernels, <S>ConvO<ocb>Src<s>Dst<d>W<w> and the 1x1
// <S>Conv1x1O<ocb>Src<s>Dst<d>W<w> (tile.go, listed as <S>Tile and
// <S>Tile1x1): the convolution kernel of the same emitter for rows of w =
// 2, 3 or 4 pixels, with up to three rows in one block (kernel.tileW), so
// that on a small map each weight vector feeds the FMAs of several rows;
// their general form also takes the vertical edge flags (asm's Tiles).
// AVX-512 (AMD EPYC Zen 5, one core): the 512-channel 3x3 stride-3
// reduce of a rate-3 block over 7x7 246-269 -> 147-168 us.
//
// <S>Caps, the set's capabilities (asm.Caps: rows, edge flags, restore
// edge flags, prefetch), is derived from the emitted code: prologue and
// prefetch record on the kernel being written what they emit
// (gen/internal/caps), and a flag is set only where every kernel it
// speaks for has the code. TestCaps pins the result.
//
// Run it with `go generate ./...` from the repository root, or
// `go run ./x86 -dir ../asm` from gen/. A test in this module renders the
// files in memory and fails on any difference from the committed ones
// (gen/internal/drift).
//
// Kernels come in families (family, as in gen/neon), each in a file of its
// own with its plans as data in the set's isa: conv.go (convPlans),
// restore.go (restorePlans), peak.go, pool.go and pack.go; frame.go is
// what the convolution and restore kernels share (prologue and row loop,
// pixel loop, edge flags, epilogue). A family checks its plans before it emits
// them: a register budget that does not fit is an error render returns
// (TestRegisterBudget), and adding a family is one more entry in
// families.
//
// Every convolution kernel implements the contract of package asm (one
// call: Pix output pixels of one row x OCB output channel blocks, summed
// over ICB input blocks and a KH x KW tap window, bias/residual/ReLU fused
// into one store). One parameterised function, convKernel, emits every
// variant:
//
//   - ocb output channel blocks (1, 2 or 3): oc_blk in oneDNN's terms;
//   - urW output pixels per step (the set's convPlans: 8, 6, 4 for AVX2;
//     16, 14, 9 for AVX-512), with a generated block for every size
//     1..urW and a pixel loop that splits the last 2*urW-1 pixels or
//     fewer into at most two near-equal blocks;
//   - the input pixel stride s (1, 2, 3, 4, 6 or 8 pixels: the reduce of
//     a spatial-bottleneck block at rate r is stride r, or 2r at a stage
//     entry) and the output pixel stride d (1 for a convolution; 2, 3 or
//     4 for one phase of a stride-r transposed convolution, which reads
//     at s = 1), both as immediate displacements (disp32 checks them;
//     only the pairs with s = 1 or d = 1 are generated, see used);
//   - any KH x KW window and any number of input blocks through runtime
//     tap and channel loops, and a pointwise form for 1x1 windows whose
//     reduction is a single loop over input blocks (ResNet's bottleneck
//     1x1 convolutions, and the 1x1 phases of the restores).
//
// A variant's name spells these out (kernelName): <S>Conv, or <S>Conv1x1
// for the pointwise form, then O<ocb> output channel blocks a call,
// Src<s> the input pixel stride and Dst<d> the output pixel stride, both
// in pixels. AVX2ConvO2Src4Dst1 is the general kernel for 2 output blocks
// reading every 4th input pixel and writing every output pixel (SrcPix =
// 4*32, DstPix = 32 bytes); AVX512Conv1x1O1Src1Dst2 the pointwise one
// that writes every other output pixel, one phase of a stride-2 restore.
//
// The register plan is oneDNN's jit_avx2_conv_kernel_f32 and
// jit_avx512_common_conv_kernel: accumulator (output block k, pixel j) is
// V(urW*k + j); the ocb weight vectors of the current input channel live
// in the next ocb registers; with a register broadcast (AVX2) one more
// register takes each broadcast input value (AVX-512: in plans with
// regBcast). So urW*ocb + ocb (+ 1) <=
// the set's register count, which convPlan.check asserts, with ocb-1 <= 2
// so that every output block's weights and outputs are one scaled index
// (scale 1 or 2) away. For each of the block's input channels the inner
// step loads ocb weight vectors and urW broadcasts (AVX2: VBROADCASTSS;
// AVX-512: inside the FMA, or VBROADCASTSS with regBcast) and issues
// urW*ocb FMAs. A block of t < urW pixels whose t*ocb accumulators are
// fewer than the 12 chains that hide the FMA latency spreads its input
// channels over several sets of accumulators (kernel.sets), in the
// registers its missing pixels leave free, and adds them up before the
// epilogue.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"math"
	"math/bits"
	"os"
	"strings"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
	"github.com/mmcloughlin/avo/reg"

	"github.com/sbconv/sbconv/gen/internal/caps"
	"github.com/sbconv/sbconv/gen/internal/emit"
)

// isa is the configuration of one x86 kernel set: everything the emitter
// needs to know about it.
type isa struct {
	name  string // prefix of every kernel and table name: AVX2, AVX512
	file  string // file name part: conv_<file>_amd64.s
	title string // what the docs call it: AVX2+FMA, AVX-512
	block int    // channels per block: the lanes of one vector register
	vecs  []reg.VecPhysical
	// embedded: each FMA takes its input value as an embedded broadcast
	// memory operand (VFMADD231PS.BCST), so no register holds it;
	// otherwise it is broadcast into a register first (VBROADCASTSS).
	embedded bool

	convPlans    []convPlan    // one per output block count, 1 up
	restorePlans []restorePlan // one per restore kernel width and padding
	// restoreMaxPix caps a restore block's output pixels (0: as many as
	// the registers hold), which bounds the code of its tails.
	restoreMaxPix int
	peakChains    int // independent FMA chains of <S>FMAPeak
	poolURW       int // output pixels a step of <S>MaxPool3x3S2
}

var (
	ymms = []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
		reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}
	zmms = []reg.VecPhysical{reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7,
		reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15,
		reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20, reg.Z21, reg.Z22, reg.Z23,
		reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31}
)

// sets are the x86 sets generated, each into files of its own.
var sets = []*isa{avx2, avx512}

var avx2 = &isa{
	name: "AVX2", file: "avx2", title: "AVX2+FMA", block: 8, vecs: ymms,
	convPlans:    []convPlan{{ocb: 1, urW: 8}, {ocb: 2, urW: 6}, {ocb: 3, urW: 4}},
	restorePlans: []restorePlan{{k: 2, pad: 0, ocbs: 1}, {k: 3, pad: 1, ocbs: 1}, {k: 4, pad: 1, ocbs: 1, chained: true}},
	peakChains:   12,
	poolURW:      4,
}

var avx512 = &isa{
	name: "AVX512", file: "avx512", title: "AVX-512", block: 16, vecs: zmms, embedded: true,
	// Two and three output blocks broadcast each input value into a
	// register once: as embedded broadcasts it was loaded once per output
	// block, 30 loads per 27 FMAs at 3x9, and the loads, not the FMAs,
	// set the pace. One thread, same-run peak, two rounds each:
	// conv3x3s1 in-256x14 1210-1214 -> 1027-1030 us (82-87% -> 100-104%),
	// in-64x56 1204-1222 -> 1075-1128 us, in-512x7 1323-1375 -> 1177-1294 us.
	// The three-block plan prefetches its own weights ahead (pfAhead,
	// see kernel.prefetchAhead).
	convPlans: []convPlan{{ocb: 1, urW: 16}, {ocb: 2, urW: 14, regBcast: true}, {ocb: 3, urW: 9, regBcast: true, pfAhead: true}},
	// The restores likewise: K=3's input column feeds three FMAs a block (2x9 -> 2x8
	// pixels): deconv_s2 in-64x56 364-411 -> 277-290 us, in-128x28
	// 400-404 -> 292-322 us, cifar-32x16 7.0-8.1 -> 5.4 us. K=2 and K=4
	// too (2x14 -> 2x13, 2x12 -> 2x11): BenchmarkUpsample (2 threads,
	// three rounds) k2-64x28 32-36% -> 46% of peak, k2-128x14 36-40% ->
	// 44-47%, k4-64x28 69-72% -> 82-87%, k4-128x14 63-69% -> 80-87%.
	restorePlans: []restorePlan{{k: 2, pad: 0, ocbs: 2, regBcast: true}, {k: 3, pad: 1, ocbs: 2, regBcast: true}, {k: 4, pad: 1, ocbs: 2, chained: true, regBcast: true}},
	// 16 pixels: whole 16- and 32-pixel rows, 56 as 16+16+12+12; the
	// 19-30 a block of one output block would fit double the code.
	restoreMaxPix: 16,
	peakChains:    24,
	poolURW:       4,
}

func (s *isa) numVecRegs() int { return len(s.vecs) }
func (s *isa) vecBytes() int   { return s.block * 4 } // bytes of one pixel's channel block
func (s *isa) tapBytes() int   { return s.block * s.block * 4 }

// log2 returns the exponent of x, a power of two.
func log2(x int) int {
	if x <= 0 || x&(x-1) != 0 {
		panic(fmt.Sprintf("%d is not a power of two", x))
	}
	return bits.TrailingZeros(uint(x))
}

// Named register roles (general purpose).
var (
	regParams   = reg.RAX // *Params
	regSrcBase  = reg.RBX // input of the current pixel group
	regDst      = reg.RCX // output of the current pixel group
	regResDelta = reg.RDX // Res - Dst in bytes (residual addressed through Dst)
	regPix      = reg.RSI // pixels left
	regSrc      = reg.R8  // input cursor in the reduction loops
	regWei      = reg.R9  // weight cursor in the reduction loops
	regICB      = reg.R10 // input-block counter; DstOCB in the epilogue
	regKH       = reg.R11 // kh counter
	regKW       = reg.R12 // kw counter
	regWeiOCB   = reg.R13 // bytes between output blocks of weights
	regTmp      = reg.RDI // scratch
	regRow      = reg.R14 // row of the call (ABI0 code may use R14: the ABI wrapper restores g)
	regEdge     = reg.R15 // edge flags of the current block (no global is read, so R15 is ours)
)

// field addresses a Params field through regParams. The offsets are the
// asm.Off* constants, which a test in package asm pins to the struct.
func field(off int) operand.Mem { return operand.Mem{Base: regParams, Disp: off} }

// gen is one set being generated: its configuration, the avo context its
// kernels go into, and what each kernel written so far implements of the
// optional parts of package asm's contract (prologue and prefetch note it
// as they emit the code; the table's <S>Caps is derived from it).
type gen struct {
	*isa
	c       *build.Context
	emitted caps.Record
}

// vec returns vector register i of the set.
func (g *gen) vec(i int) reg.VecPhysical { return g.vecs[i] }

// bcastRegs is the registers a plan spends on broadcasts: one, or none
// with embedded broadcasts.
func (s *isa) bcastRegs() int {
	if s.embedded {
		return 0
	}
	return 1
}

// A family is a set of kernels emitted by one parameterised function,
// with its part of the Go table: emit checks its plans (a register budget
// that does not fit is an error, not a kernel) and emits them.
type family interface {
	emit(g *gen) error
	table(g *gen, b *bytes.Buffer)
}

// families are emitted, and write their parts of the table after the
// set's MaxOCB and Caps, in this order.
var families = []family{convFamily{}, tileFamily{}, restoreFamily{}, peakFamily{}, poolFamily{}, packFamily{}, stemFamily{}, avgPoolFamily{}}

// argv is the command line written into every file's header: fixed, so
// regenerating elsewhere (the drift test's temporary folder) gives
// identical bytes.
var argv = []string{"go", "run", "./x86", "-dir", "../asm"}

// table writes the Go lookup table of the set's generated kernels.
func (g *gen) table() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by command: %s. DO NOT EDIT.\n\n", strings.Join(argv, " "))
	fmt.Fprintf(&b, "//go:build !purego\n\npackage asm\n\n")
	fmt.Fprintf(&b, "// %sMaxOCB is the most output channel blocks one %s microkernel call takes.\n", g.name, g.name)
	fmt.Fprintf(&b, "const %sMaxOCB = %d\n\n", g.name, g.maxConvOCB())
	fmt.Fprintf(&b, "%s\n", caps.Decl(g.name, "gen/x86", g.name+"MaxOCB", g.emitted.Caps(g.block, g.maxConvOCB())))
	for _, f := range families {
		f.table(g, &b)
	}
	return b.Bytes()
}

func main() { emit.Main(render) }

// render returns the generated files of every set by name.
func render() (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, s := range sets {
		if _, err := s.render(files); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// render adds the set's three files to files and returns the generator
// state it ended in (for TestCaps).
func (s *isa) render(files map[string][]byte) (*gen, error) {
	g := &gen{isa: s, c: build.NewContext()}
	g.c.Package("github.com/sbconv/sbconv/asm")
	g.c.ConstraintExpr("!purego")
	for _, f := range families {
		if err := emitSafely(g, f); err != nil {
			return nil, err
		}
	}
	pc := printer.Config{Argv: argv, Pkg: "asm"}
	var asmOut, stubOut bytes.Buffer
	cfg := &build.Config{
		ErrOut:    os.Stderr,
		MaxErrors: 10,
		Passes: []pass.Interface{
			pass.Compile,
			&pass.Output{Writer: nopCloser{&asmOut}, Printer: printer.NewGoAsm(pc)},
			&pass.Output{Writer: nopCloser{&stubOut}, Printer: printer.NewStubs(pc)},
		},
	}
	if build.Main(cfg, g.c) != 0 {
		return nil, fmt.Errorf("%s: avo failed", s.name)
	}
	tableSrc, err := format.Source(g.table())
	if err != nil {
		return nil, fmt.Errorf("%s: formatting the table: %w", s.name, err)
	}
	files["conv_"+s.file+"_amd64.s"] = asmOut.Bytes()
	files["conv_"+s.file+"_amd64.go"] = stubOut.Bytes()
	files["table_"+s.file+"_amd64.go"] = tableSrc
	return g, nil
}

// emitSafely runs f.emit, turning a panic of the emitting code (a broken
// invariant of this generator) into an error.
func emitSafely(g *gen, f family) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", g.name, r)
		}
	}()
	return f.emit(g)
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// imm returns x as an 8-bit immediate when it fits the sign-extended form,
// else as a 32-bit one (avo has no 16-bit form for 64-bit arithmetic). A
// 64-bit instruction sign-extends its 32-bit immediate, so x must be below
// 2^31: larger is a broken invariant of the generator (a panic, which
// emitSafely turns into render's error).
func imm(x uint64) operand.Constant {
	if x < 128 {
		return operand.U8(x)
	}
	if x > math.MaxInt32 {
		panic(fmt.Sprintf("immediate %d does not fit a sign-extended 32-bit immediate", x))
	}
	return operand.U32(x)
}

// disp32 returns x, a memory operand's displacement, asserting that it
// fits x86's largest form, a signed 32-bit disp32 (the assembler picks
// disp8, or AVX-512's compressed disp8*N, where it fits; only the code
// size depends on which). The strided operands' displacements, up to
// (urW-1)*s*b*4 plus a channel's offset (AVX-512 at input stride 8:
// 15*8*64 + 60 bytes), are checked through it.
func disp32(x int) int {
	if x < math.MinInt32 || x > math.MaxInt32 {
		panic(fmt.Sprintf("displacement %d does not fit a disp32", x))
	}
	return x
}
