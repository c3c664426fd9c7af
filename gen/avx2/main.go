// Command avx2 generates sbconv's AVX2+FMA microkernels (block 8:
// nChw8c activations, OIhw8i8o weights) into ../asm:
//
//	conv_avx2_amd64.s        the kernels
//	conv_avx2_amd64.go       their Go declarations (avo stubs)
//	table_avx2_amd64.go      the lookup tables the driver dispatches through,
//	                         AVX2Caps and AVX2FMAPeakFLOPs
//
// It also emits AVX2MaxPool3x3S2, the max-pool contract's kernel (pool.go),
// and AVX2FMAPeak.
//
// AVX2Caps, the set's capabilities (asm.Caps: rows, edge flags, restore
// edge flags, prefetch), is derived from the emitted code: prologue and
// prefetch record on the kernel being written what they emit
// (gen/internal/caps), and a flag is set only where every kernel it
// speaks for has the code. TestCaps pins the result.
//
// Run it with `go generate ./...` from the repository root, or
// `go run ./avx2 -dir ../asm` from gen/. A test in this module renders the
// files in memory and fails on any difference from the committed ones
// (gen/internal/drift).
//
// Kernels come in families (family, as in gen/neon), each in a file of its
// own with its plans as data: conv.go (convPlans), restore.go
// (restorePlans), peak.go and pool.go; frame.go is what the convolution
// and restore kernels share (prologue and row loop, pixel loop, edge
// flags, epilogue). A family checks its plans before it emits them: a
// register budget that does not fit is an error render returns
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
//   - urW output pixels per step (8, 6, 4 for ocb 1, 2, 3), with a
//     generated block for every size 1..urW and a pixel loop that splits
//     the last 2*urW-1 pixels or fewer into at most two near-equal blocks;
//   - the input pixel stride s (1, 2 or 4 pixels) and the output pixel
//     stride d (1 for a convolution, 2 for one phase of a stride-2
//     transposed convolution), both as immediate displacements;
//   - any KH x KW window and any number of input blocks through runtime
//     tap and channel loops, and a pointwise form for 1x1 windows whose
//     reduction is a single loop over input blocks (ResNet's bottleneck
//     1x1 convolutions, and the 1x1 phases of stride-2 restores).
//
// A variant's name spells these out (kernelName): AVX2Conv, or AVX2Conv1x1
// for the pointwise form, then O<ocb> output channel blocks a call,
// Src<s> the input pixel stride and Dst<d> the output pixel stride, both
// in pixels. AVX2ConvO2Src4Dst1 is the general kernel for 2 output blocks
// reading every 4th input pixel and writing every output pixel (SrcPix =
// 4*32, DstPix = 32 bytes); AVX2Conv1x1O1Src1Dst2 the pointwise one that
// writes every other output pixel, one phase of a stride-2 restore.
//
// The register plan is oneDNN's jit_avx2_conv_kernel_f32: accumulator
// (output block k, pixel j) is Y(urW*k + j); the ocb weight vectors of the
// current input channel live in the next ocb registers; one register takes
// each broadcast input value. So urW*ocb + ocb + 1 <= 16, which
// convPlan.check asserts.
// For each of the 8 input channels of a block the inner step loads ocb
// weight vectors and urW broadcasts and issues urW*ocb FMAs.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"os"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
	"github.com/mmcloughlin/avo/reg"

	"github.com/sbconv/sbconv/gen/internal/caps"
	"github.com/sbconv/sbconv/gen/internal/emit"
)

const (
	block    = 8         // channels per block (one ymm register)
	vecBytes = block * 4 // bytes of one pixel's channel block
	tapBytes = block * block * 4

	numVecRegs = 16 // ymm registers, the budget every plan is checked against
)

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

func ymm(i int) reg.VecPhysical {
	return []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
		reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}[i]
}

// field addresses a Params field through regParams. The offsets are the
// asm.Off* constants, which a test in package asm pins to the struct.
func field(off int) operand.Mem { return operand.Mem{Base: regParams, Disp: off} }

// emitted records what each kernel written so far implements of the
// optional parts of package asm's contract (prologue and prefetch note it
// as they emit the code); the table's AVX2Caps is derived from it.
// generate resets it.
var emitted caps.Record

// A family is a set of kernels emitted by one parameterised function,
// with its part of the Go table: emit checks its plans (a register budget
// that does not fit is an error, not a kernel) and emits them.
type family interface {
	emit(c *build.Context) error
	table(b *bytes.Buffer)
}

// families are emitted, and write their parts of the table after the
// set's MaxOCB and Caps, in this order.
var families = []family{convFamily{}, restoreFamily{}, peakFamily{}, poolFamily{}}

// table writes the Go lookup table of the generated kernels.
func table() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by command: go run ./avx2 -dir ../asm. DO NOT EDIT.\n\n")
	fmt.Fprintf(&b, "//go:build !purego\n\npackage asm\n\n")
	fmt.Fprintf(&b, "// AVX2MaxOCB is the most output channel blocks one AVX2 microkernel call takes.\n")
	fmt.Fprintf(&b, "const AVX2MaxOCB = %d\n\n", maxConvOCB())
	fmt.Fprintf(&b, "%s\n", caps.Decl("AVX2", "gen/avx2", "AVX2MaxOCB", emitted.Caps(block, maxConvOCB())))
	for _, f := range families {
		f.table(&b)
	}
	return b.Bytes()
}

func main() { emit.Main(render) }

// render returns the three generated files by name.
func render() (map[string][]byte, error) {
	emitted = caps.Record{}
	c := build.NewContext()
	c.Package("github.com/sbconv/sbconv/asm")
	c.ConstraintExpr("!purego")
	for _, f := range families {
		if err := emitSafely(c, f); err != nil {
			return nil, err
		}
	}

	// A fixed command line in the header, so regenerating elsewhere (the
	// drift test's temporary folder) gives identical bytes.
	pc := printer.Config{Argv: []string{"go", "run", "./avx2", "-dir", "../asm"}, Pkg: "asm"}
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
	if build.Main(cfg, c) != 0 {
		return nil, fmt.Errorf("avo failed")
	}
	tableSrc, err := format.Source(table())
	if err != nil {
		return nil, fmt.Errorf("formatting the table: %w", err)
	}
	return map[string][]byte{
		"conv_avx2_amd64.s":   asmOut.Bytes(),
		"conv_avx2_amd64.go":  stubOut.Bytes(),
		"table_avx2_amd64.go": tableSrc,
	}, nil
}

// emitSafely runs f.emit, turning a panic of the emitting code (a broken
// invariant of this generator) into an error.
func emitSafely(c *build.Context, f family) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return f.emit(c)
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// imm returns x as an 8-bit immediate when it fits the sign-extended form,
// else as a 32-bit one (avo has no 16-bit form for 64-bit arithmetic).
func imm(x uint64) operand.Constant {
	if x < 128 {
		return operand.U8(x)
	}
	return operand.U32(x)
}
