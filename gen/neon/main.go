// Command neon generates sbconv's arm64 NEON (ASIMD) microkernels (block
// 8: nChw8c activations, OIhw8i8o weights) into ../asm:
//
//	conv_neon_arm64.s        the kernels
//	conv_neon_arm64.go       their Go declarations
//	table_neon_arm64.go      the lookup tables the driver dispatches through,
//	                         NEONCaps and NEONFMAPeakFLOPs
//
// NEONCaps, the set's capabilities (asm.Caps), is derived from the emitted
// code as in gen/x86: rowStart records on the kernel being written whether
// it emits the row loop and takes the edge flags (gen/internal/caps), and
// TestCaps pins the result (rows and edges; no restore edges, no prefetch).
//
// Run it with `go generate ./...` from the repository root, or
// `go run ./neon -dir ../asm` from gen/. Tests in this module regenerate
// into a temporary folder and fail on any difference from the committed
// files, and assemble the committed file to check that every WORD-encoded
// instruction decodes to the mnemonic written beside it.
//
// avo has no arm64, so this is a small printer of our own (printer.go:
// op, label, comment, word, and typed helpers for the few instructions
// used). Kernels come in families (family below): one parameterised
// function per family emits every variant and the family writes its part
// of the Go table; adding a family is one more entry in families (its
// kernels' kind says which flags of NEONCaps speak for them).
//
// # The convolution family (conv.go)
//
// Every kernel implements the contract of package asm (one call: Pix
// output pixels of one row x OCB output channel blocks, summed over ICB
// input blocks and a KH x KW tap window, bias/residual/ReLU fused into one
// store of each output vector), for Rows rows a call (its "Rows" section;
// the restore family too), and the general ones take its edge flags.
// Variants:
//
//   - ocb output channel blocks, 1 or 2, with urW = 8 or 5 output pixels
//     per step, a generated block for every size 1..urW and a pixel loop
//     that splits the last 2*urW-1 pixels or fewer into at most two
//     near-equal blocks (gen/x86's loop);
//   - the input pixel stride s (1, 2, 3, 4, 6 or 8 pixels: the reduce of
//     a spatial-bottleneck block at rate r is stride r, or 2r at a stage
//     entry) and the output pixel stride d (1 for a convolution; 2, 3 or
//     4 for one phase of a stride-r transposed convolution) as immediate
//     offsets; d > 1 is asked for with s = 1 only. The printer asserts
//     every offset's form: LDR Q up to 7*8*32+16 = 1808 bytes (of
//     65520), the epilogue's LDP/STP Q up to 7*4*32 = 896 (of 1008) and
//     the pixel loop's ADD up to 8*8*32 = 2048 (of 4095);
//   - any KH x KW window and any number of input blocks through runtime
//     tap and channel loops, and a pointwise form for 1x1 windows whose
//     reduction is one loop over input blocks.
//
// Names follow gen/x86's (convName): NEONConv, or NEONConv1x1 for the
// pointwise form, then O<ocb> output channel blocks a call, Src<s> the
// input pixel stride and Dst<d> the output pixel stride, both in pixels:
// NEONConvO2Src1Dst2 takes 2 output blocks and writes every other output
// pixel (one phase of a stride-2 restore).
//
// # Rows and edges
//
// As in gen/x86, a row loop wraps the pixel loop: row rRow's input,
// output and pixel count are computed from Params at the top of each row,
// and the residual, addressed through the output, follows it. With EdgeL
// the row's input base goes one tap back (SrcTap) to the contract's Src.
// Each block of a general convolution sets rEdge: bit 0 when it starts
// the row and EdgeL, bit 1 when it ends the row and EdgeR. The tap loop
// then runs, in the first kw iteration with bit 0, a step without pixel 0
// (neither its input load nor its FMLAs), in the last with bit 1, a step
// without pixel t-1, so the padding column is never read; the skip steps
// use a subset of the full step's registers. A block with no flag, every
// block but a row's first and last, pays one CBZ a tap, against 156 and
// 191 instructions a tap of the two plans' whole steps; an edge block 5
// to 7.
//
// General-purpose registers: every one Go lets a kernel use (R0-R26 less
// R18) has a role, listed in conv.go; ICB and ReLU are read from Params
// once a block, which leaves R24 for the row index and R25 for the edge
// flags.
//
// # Register plan
//
// A block of 8 channels is two 4-lane registers. For ocb output blocks and
// urW pixels:
//
//	V0 .. V(2*urW*ocb-1)   accumulators: (block o, pixel j, half h) is V(2*(urW*o+j)+h)
//	next urW               inputs: pixel j's 4 input channels of the current half
//	next 2*ocb             weights: the 8 output lanes of one input channel, per block
//
// 2*urW*ocb + urW + 2*ocb <= 32 is asserted when generating: ocb 1 x urW 8
// uses 16 + 8 + 2 = 26 registers, ocb 2 x urW 5 uses 20 + 5 + 4 = 29. The
// inner step handles one tap: for each half of the 8 input channels it
// loads urW input vectors (LDR Q, 4 channels of one pixel each), then for
// each of the 4 channels of the half loads the ocb weight pairs (LDP Q) and
// issues 2*urW*ocb by-element FMLAs, `fmla acc, w, in.s[lane]`: the input
// channel is taken from the lane, so inputs are never broadcast.
//
// # Why it should run near the FMA peak of a Cortex-A76 / Neoverse N1
//
// Such a core has two 128-bit FP/ASIMD pipes, each taking one FMLA (by
// element or not) per cycle with 4 cycles of latency, and two load pipes
// of up to 128 bits each per cycle (an LDP Q takes both for a cycle); it
// decodes 4 instructions per cycle and renames registers, so reusing the
// input and weight registers costs nothing. Per input channel of a tap:
//
//	ocb  urW  FMLA  128-bit loads (weights + inputs/4)  loads/FMLA  instructions  FMLA cycles
//	 1    8    16         2 + 2    = 4                     0.25         ~19            8
//	 2    5    20         4 + 1.25 = 5.25                  0.26         ~23           10
//
// So the FMLAs keep both pipes busy while the load pipes run at about a
// quarter of their rate and decode at about 2.3 of its 4 instructions per
// cycle; the tap loop adds ocb+4 instructions per 8 channels (its edge
// test included). Latency: an FMLA chain needs 4 cycles x 2 pipes = 8
// independent accumulators; the full blocks have 16 and 20 (asserted >=
// 8), tails of t pixels have 2*t*ocb. What bounds the kernel is then the
// FMLA rate itself, provided weights come from L1 or L2: a weight vector
// is used by urW pixels, so streaming them needs 16*2/urW bytes per cycle
// (4 and 6.4), well inside what L2 delivers. Measured on no arm64
// hardware yet: this is an argument from instruction counts, to be
// checked with `go test -bench` on one.
//
// # The fused stride-2 restore family (restore.go)
//
// NEONRestoreK{K}P{P}O1 implements the second contract of package asm (one
// output row of a stride-2 transposed convolution, both horizontal phases
// at once) for (K, P) = (2, 0), (3, 1), (4, 1), one output block a call,
// with gen/x86's restore pixel loop: whole steps of an even number of
// pixels, then at most two blocks, of which only the last may be odd. The
// register plan of a block of t output pixels, asserted for every t up to
// maxPix:
//
//	V0 .. V(2t-1)        accumulators: (pixel x, half h) is V(2x+h)
//	next cols            inputs: the 4 channels of the current half of each input column the block reads
//	the rest, in pairs   weights: the 8 output lanes of one (tap, input channel), round robin
//
// maxPix is the most that fits with one weight pair: K=2 12 pixels (24 +
// 6 + 2 = 32 registers), K=3 11 (22 + 6 + 4, two pairs), K=4 11 (22 + 7 +
// 2); whole steps are 12, 10 and 10 pixels, 24, 20 and 20 accumulators.
// The inner step takes one kernel row of one input block: for each half
// of the 8 input channels it loads each input column once (LDR Q), then
// for each channel, tap by tap, loads the tap's weight pair (LDP Q) and
// issues the tap's sweep, `fmla acc, w, col.s[lane]` for both halves of
// every pixel the tap reaches (one of each output pair). Per input channel
// of a whole step:
//
//	K  step  FMLA  128-bit loads (weights + columns/4)  loads/FMLA  instructions  FMLA cycles
//	2   12    24          4 + 1.5  = 5.5                   0.23          ~28            12
//	3   10    30          6 + 1.5  = 7.5                   0.25          ~35            15
//	4   10    40          8 + 1.75 = 9.75                  0.24          ~46            20
//
// so, as for the convolutions, the two FMLA pipes of an A76 / N1 bound it:
// a quarter of the load rate, about 2.3 of the 4 instructions a cycle,
// and 4 loop instructions per kernel row of 8 channels.
//
// Why streamed weights and one block a call. By-element FMLA broadcasts
// nothing, so taking the taps one after another loads each weight vector
// once per channel, exactly as keeping all K in registers would, and frees
// 2K-2 registers for pixels (K=4: 11 pixels, not 9). A weight vector feeds
// one FMLA pair per output pair of the block, whatever the number of
// blocks, so weights cost 2/t loads per FMLA and only the pixels per block
// lower it; input columns are shared by the taps and cost little. Two
// blocks a call fit only 6 pixels (0.36 loads per FMLA), so the family
// takes one (its N is 1, and the driver calls it once per block). The
// generator handles any ocb: O2 and O3 forms, generated once and run under
// qemu, pass the contract tests; TestRestorePlans keeps the comparison.
//
// Latency. The odd pixels of K=3 and every pixel of K=4 take two taps, two
// dependent FMLAs per input channel. Taps alternate parity (tap kw and
// kw+1 reach different pixels), so a whole sweep, t FMLAs, lies between
// two FMLAs into one accumulator, and per channel the longest chain, 2 x 4
// = 8 cycles, is no longer than the K*t/2 cycles the block's FMLAs take
// on two pipes for every block of 6 pixels or more (K=2 and K=4: 4 or
// more). The pixel loop splits a span of 12 pixels or more (every fused
// row: the driver fuses rows 16 wide or more) into such blocks only, its
// last two blocks the even count nearest half the rest and that rest
// (TestRestoreBlocks), so no partial accumulators are needed.
//
// # The max-pool kernel (pool.go)
//
// NEONMaxPool3x3S2 implements package asm's max-pool contract (a 3x3
// stride-2 max pool over block-8 pixels, Rows rows a call): separable,
// each column's vertical maximum computed once and shared by the two
// output pixels that read it, 4 output pixels a step. FMAX propagates
// NaN, as PyTorch's max pool does.
//
// # The peak kernel (peak.go)
//
// NEONFMAPeak(n) runs n iterations of 24 independent register-only FMLA
// chains (192 floating-point operations an iteration, NEONFMAPeakFLOPs):
// 8 would cover two pipes of latency 4, 24 also cover cores with four
// pipes. package bench times it for the %peak column of `go test -bench`
// and sbbench.
package main

import (
	"bytes"
	"fmt"
	"go/format"

	"github.com/sbconv/sbconv/gen/internal/caps"
	"github.com/sbconv/sbconv/gen/internal/emit"
)

// A text is one generated TEXT symbol: a kernel, its Go declaration and
// its emitter.
type text struct {
	name    string
	kind    caps.Kind // which flags of asm.Caps speak for it (caps.Other: none)
	sig     string    // Go parameters, e.g. "p *Params"
	argSize int       // bytes of arguments, for the TEXT frame
	doc     []string  // comment of the Go declaration, one line each
	emit    func(p *printer)
}

// A family is a set of kernels generated by one parameterised function,
// with its part of the Go lookup table.
type family interface {
	emit() ([]text, error)
	table(b *bytes.Buffer)
}

var families = []family{convFamily{}, restoreFamily{}, peakFamily{}, poolFamily{}}

// emitted records what each kernel written so far implements of the
// optional parts of package asm's contract (rowStart notes it as it emits
// the code); the table's NEONCaps is derived from it. render resets it.
var emitted caps.Record

// argv is the command line written into the headers. It is fixed, so
// regenerating elsewhere (the drift test's temporary folder) gives
// identical bytes.
const argv = "go run ./neon -dir ../asm"

func main() { emit.Main(render) }

// render returns the generated files by name.
func render() (map[string][]byte, error) {
	header := fmt.Sprintf("// Code generated by command: %s. DO NOT EDIT.\n\n//go:build !purego\n\n", argv)
	var asm printer
	asm.printf("%s#include \"textflag.h\"\n", header)
	var decl, table bytes.Buffer
	decl.WriteString(header + "package asm\n")
	table.WriteString(header + "package asm\n")
	emitted = caps.Record{}
	for _, f := range families {
		ks, err := f.emit()
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			asm.printf("\n// func %s(%s)\n// Requires: ASIMD\n", k.name, k.sig)
			asm.printf("TEXT ·%s(SB), NOSPLIT, $0-%d\n", k.name, k.argSize)
			emitted.Begin(k.kind)
			if err := emitSafely(&asm, k); err != nil {
				return nil, err
			}
			decl.WriteString("\n")
			for _, line := range k.doc {
				fmt.Fprintf(&decl, "// %s\n", line)
			}
			fmt.Fprintf(&decl, "//\n//go:noescape\nfunc %s(%s)\n", k.name, k.sig)
		}
		f.table(&table)
	}
	fmt.Fprintf(&table, "\n%s", caps.Decl("NEON", "gen/neon", "NEONMaxOCB", emitted.Caps(block, maxConvOCB())))
	out := map[string][]byte{"conv_neon_arm64.s": asm.b.Bytes()}
	for name, src := range map[string][]byte{"conv_neon_arm64.go": decl.Bytes(), "table_neon_arm64.go": table.Bytes()} {
		formatted, err := format.Source(src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = formatted
	}
	return out, nil
}

// emitSafely runs k.emit, turning a failed assertion of the printer (an
// out-of-range offset, a reserved register) into an error that names k.
func emitSafely(p *printer, k text) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", k.name, r)
		}
	}()
	k.emit(p)
	return nil
}
