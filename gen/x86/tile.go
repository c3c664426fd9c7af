package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/mmcloughlin/avo/operand"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/gen/internal/emit"
)

// The tile family: convolution kernels for rows of a fixed width w (2, 3
// or 4 pixels) that keep several rows' accumulators in registers at
// once. They implement the convolution contract with its Rows part for
// Pix = w, as the row kernels do, but walk the weights once for up to
// tileRows rows: a row kernel re-reads every weight vector for each row,
// and on a small map (the reduce of a spatial bottleneck at rate 3 or 4
// over a 7x7 or 14x14 input, the phases of its restore over a 2x2 to 4x4
// input) a weight vector then feeds 2-4 FMAs a row, too few for the
// loads (from L2: a call's weights rarely fit L1). Same layer, same FLOPs,
// one AVX-512 core of the AMD EPYC Zen 5 (no padding): a 256-channel 5x5
// stride-4 convolution took 371-380 us with a 4x4 output and 257-260 us
// with a 1x16 one.
//
// Pixel j of a block of r rows is column j%w of row j/w: its input is
// at Src + (j/w)*SrcRows (SrcRows in regPix, an index register of scale
// 1 or 2, hence at most three rows a block) and its output at
// Dst + (j/w)*DstRows, each row stored through a base of its own. The
// edge flags apply to every row, as in the Rows contract: a tap step
// skips column 0 (EdgeL) or w-1 (EdgeR) of each row.

// tileWidths are the row widths the tile kernels are generated for.
var tileWidths = []int{2, 3, 4}

// maxTileRows is the most rows of a tile block: row q's input is
// q*SrcRows away through one index register (scale 1 or 2).
const maxTileRows = 3

// tileRows is the rows a block of plan pl's tile kernel for width w
// holds: as many as its urW accumulators a block take, at most
// maxTileRows. Below 2 the set has no tile kernel for (pl, w).
func tileRows(pl convPlan, w int) int { return min(maxTileRows, pl.urW/w) }

func (s *isa) tileName(ocb, src, dst, w int, pointwise bool) string {
	return s.kernelName(ocb, src, dst, pointwise) + fmt.Sprintf("W%d", w)
}

// tileFamily is the tile kernels: every plan, width with at least two
// rows a block, and stride pair the driver uses, general and 1x1.
type tileFamily struct{}

func (tileFamily) emit(g *gen) error {
	for _, pw := range []bool{false, true} {
		for _, pl := range g.convPlans {
			for _, w := range tileWidths {
				if tileRows(pl, w) < 2 {
					continue
				}
				for _, s := range srcStrides {
					for _, d := range dstStrides {
						if used(s, d) {
							g.tileKernel(pl, s, d, w, pw)
						}
					}
				}
			}
		}
	}
	return nil
}

// table writes <S>TileWidths, the <S>Tile and <S>Tile1x1 tables and
// their lookup <S>TileKernel.
func (tileFamily) table(g *gen, b *bytes.Buffer) {
	set := g.name
	fmt.Fprintf(b, "// %sTileWidths are the row widths (Pix) of the %s tile kernels, in\n", set, set)
	fmt.Fprintf(b, "// the order %sTile and %sTile1x1 index them.\n", set, set)
	fmt.Fprintf(b, "var %sTileWidths = [...]int%s\n", set, emit.IntList(tileWidths))
	for _, pw := range []bool{false, true} {
		table, what := set+"Tile", "any window"
		if pw {
			table, what = set+"Tile1x1", "a 1x1 window"
		}
		fmt.Fprintf(b, "\n// %s[ocb-1][si][di][wi] is the %s tile kernel for %s, ocb output\n", table, set, what)
		fmt.Fprintf(b, "// blocks, input pixel stride %sSrcStrides[si], output pixel stride\n", set)
		fmt.Fprintf(b, "// %sDstStrides[di] and rows of %sTileWidths[wi] pixels (Pix); nil where\n", set, set)
		fmt.Fprintf(b, "// the set has none.\n")
		elem := fmt.Sprintf("[len(%sTileWidths)]func(*Params)", set)
		emit.KernelTable(b, set, table, elem, len(g.convPlans), srcStrides, dstStrides, func(ocb, s, d int) string {
			pl := g.convPlans[ocb-1]
			names := make([]string, len(tileWidths))
			for j, w := range tileWidths {
				names[j] = "nil"
				if used(s, d) && tileRows(pl, w) >= 2 {
					names[j] = g.tileName(pl.ocb, s, d, w, pw)
				}
			}
			return "{" + strings.Join(names, ", ") + "}"
		})
	}
	fmt.Fprintf(b, "\n// %sTileKernel returns the %s tile kernel for ocb output blocks, input\n", set, set)
	fmt.Fprintf(b, "// pixel stride s, output pixel stride d (in pixels) and rows of w pixels,\n")
	fmt.Fprintf(b, "// the 1x1 form when pw is set, or nil where the set has none: a lookup in\n")
	fmt.Fprintf(b, "// %sTile and %sTile1x1.\n", set, set)
	fmt.Fprintf(b, "func %sTileKernel(ocb, s, d, w int, pw bool) func(*Params) {\n", set)
	fmt.Fprintf(b, "\tif ocb < 1 || ocb > %sMaxOCB {\n\t\treturn nil\n\t}\n", set)
	fmt.Fprintf(b, "\tfor si, sv := range %sSrcStrides {\n", set)
	fmt.Fprintf(b, "\t\tfor di, dv := range %sDstStrides {\n", set)
	fmt.Fprintf(b, "\t\t\tfor wi, wv := range %sTileWidths {\n", set)
	fmt.Fprintf(b, "\t\t\t\tif sv == s && dv == d && wv == w {\n")
	fmt.Fprintf(b, "\t\t\t\t\tif pw {\n\t\t\t\t\t\treturn %sTile1x1[ocb-1][si][di][wi]\n\t\t\t\t\t}\n", set)
	fmt.Fprintf(b, "\t\t\t\t\treturn %sTile[ocb-1][si][di][wi]\n", set)
	fmt.Fprintf(b, "\t\t\t\t}\n\t\t\t}\n\t\t}\n\t}\n\treturn nil\n}\n\n")
}

// tileKernel emits the tile kernel of plan pl for rows of w pixels.
func (g *gen) tileKernel(pl convPlan, s, d, w int, pointwise bool) {
	c := g.c
	ocb := pl.ocb
	k := g.newConvKernel(g.tileName(ocb, s, d, w, pointwise), pl, s, d, pointwise)
	k.tileW, k.tileMaxR = w, tileRows(pl, w)
	window := "ICB, KH, KW >= 1"
	if pointwise {
		window = "ICB >= 1 and KH = KW = 1"
	}
	vb := g.vecBytes()
	c.Doc(
		fmt.Sprintf("%s is the %s tile kernel for %d output channel block(s), input pixel", k.name, g.title, ocb),
		fmt.Sprintf("stride %d and output pixel stride %d (SrcPix = %d, DstPix = %d bytes), for rows of", s, d, s*vb, d*vb),
		fmt.Sprintf("Pix = %d pixels, up to %d rows a block. It computes the loop written out in the", w, tileRows(pl, w)),
		fmt.Sprintf("package comment over Rows rows, with OCB fixed at %d, block %d and %s.", ocb, g.block, window),
	)
	k.tileBody(tileRows(pl, w))
}

// tileBody emits a tile kernel after its doc: the prologue, then blocks
// of maxR rows while that many are left, and the last one to maxR-1
// rows as one block.
//
// regEdge holds the block's edge flags: bit 0 EdgeL and bit 1 EdgeR (every
// block is whole rows, each row's first and last pixel take them), bit 2
// for the call's first block under EdgeT, bit 3 for its last under EdgeB
// (tileEdgeSteps reads the counts from the argument block).
func (k *kernel) tileBody(maxR int) {
	c := k.c
	edges := !k.pointwise
	k.prologue(k.label, edges)
	c.MOVQ(field(asm.OffSrcRows), regPix) // row q of a block: q*SrcRows through the index register
	c.MOVQ(field(asm.OffWeiOCB), regWeiOCB)
	if edges {
		c.CMPQ(field(asm.OffEdgeT), imm(0))
		c.JE(operand.LabelRef(k.label("notop")))
		c.MOVQ(field(asm.OffEdgeT), regTmp) // the contract's Src: row 0's tap (0, 0), EdgeT rows up
		c.IMULQ(field(asm.OffSrcRow), regTmp)
		c.SUBQ(regTmp, regSrcBase)
		c.CMPQ(regRow, imm(0))
		c.JNE(operand.LabelRef(k.label("notop")))
		c.MOVQ(operand.U32(4), regEdge)
		c.JMP(operand.LabelRef(k.label("lr")))
		c.Label(k.label("notop"))
		c.XORQ(regEdge, regEdge)
		c.Label(k.label("lr"))
		c.MOVQ(field(asm.OffEdgeR), regTmp)
		c.SHLQ(imm(1), regTmp)
		c.ORQ(regTmp, regEdge)
		c.ORQ(field(asm.OffEdgeL), regEdge)
	}
	c.MOVQ(field(asm.OffRows), regTmp) // rows left: max(Rows, 1) - row
	c.CMPQ(regTmp, imm(1))
	c.JGE(operand.LabelRef(k.label("rows")))
	c.MOVQ(operand.U32(1), regTmp)
	c.Label(k.label("rows"))
	c.SUBQ(regRow, regTmp)
	for r := maxR; r >= 2; r-- {
		c.CMPQ(regTmp, imm(uint64(r)))
		c.JGE(operand.LabelRef(k.label(fmt.Sprintf("r%d", r))))
	}
	for r := 1; r <= maxR; r++ {
		if r > 1 {
			c.Label(k.label(fmt.Sprintf("r%d", r)))
		}
		k.tileR = r
		if edges {
			// The call's last block: r rows were left.
			nob := k.label(fmt.Sprintf("r%d_nobottom", r))
			c.CMPQ(field(asm.OffEdgeB), imm(0))
			c.JE(operand.LabelRef(nob))
			if r == maxR {
				c.CMPQ(regTmp, imm(uint64(r)))
				c.JNE(operand.LabelRef(nob))
			}
			c.ORQ(imm(8), regEdge)
			c.Label(nob)
		}
		k.emitBlock(r * k.tileW)
		c.ADDQ(imm(uint64(r)), regRow)
		c.CMPQ(regRow, field(asm.OffRows))
		c.JL(operand.LabelRef(k.label("row")))
		c.VZEROUPPER()
		c.RET()
	}
}

// tileAt returns row q and column c of pixel j of the block being
// emitted: a tile kernel's pixels are its rows' columns in order, a row
// kernel's one row.
func (k *kernel) tileAt(j int) (q, col int) {
	if k.tileW == 0 {
		return 0, j
	}
	return j / k.tileW, j % k.tileW
}

// tileEdgeSteps emits one tap step of a tile block of t pixels (tileR
// rows) in a kernel that takes the edge flags (see tileBody for
// regEdge): at the first EdgeT tap rows, row 0 skips them; at the last
// EdgeB, row tileR-1; and at the first and last tap column each row's
// first or last pixel, as in edgeSteps. regTmp is free here (the
// prefetch after the step sets it anew).
func (k *kernel) tileEdgeSteps(id string, t int) {
	c := k.c
	next, full := k.label(id+"_next"), k.label(id+"_full")
	c.TESTQ(regEdge, regEdge)
	c.JZ(operand.LabelRef(full))
	// columns emits the steps of one tap row with row skipRow left out:
	// the column edges, then the whole row (full when no row is skipped).
	columns := func(v string, skipRow int) {
		c.CMPQ(regKW, field(asm.OffKW))
		c.JNE(operand.LabelRef(k.label(id + v + "_notfirst")))
		c.TESTQ(operand.U32(1), regEdge)
		c.JZ(operand.LabelRef(k.label(id + v + "_notfirst")))
		k.step(t, skipRow, 0)
		c.JMP(operand.LabelRef(next))
		c.Label(k.label(id + v + "_notfirst"))
		c.CMPQ(regKW, imm(1))
		c.JNE(operand.LabelRef(k.label(id + v + "_notlast")))
		c.TESTQ(operand.U32(2), regEdge)
		c.JZ(operand.LabelRef(k.label(id + v + "_notlast")))
		k.step(t, skipRow, k.tileW-1)
		c.JMP(operand.LabelRef(next))
		c.Label(k.label(id + v + "_notlast"))
		if skipRow < 0 {
			c.JMP(operand.LabelRef(full))
			return
		}
		k.step(t, skipRow, -1)
		c.JMP(operand.LabelRef(next))
	}
	// Tap row KH-regKH is one of the first EdgeT when regKH+EdgeT > KH,
	// one of the last EdgeB when regKH <= EdgeB.
	c.TESTQ(operand.U32(4), regEdge)
	c.JZ(operand.LabelRef(k.label(id + "_nottop")))
	c.MOVQ(regKH, regTmp)
	c.ADDQ(field(asm.OffEdgeT), regTmp)
	c.CMPQ(regTmp, field(asm.OffKH))
	c.JLE(operand.LabelRef(k.label(id + "_nottop")))
	columns("_top", 0)
	c.Label(k.label(id + "_nottop"))
	c.TESTQ(operand.U32(8), regEdge)
	c.JZ(operand.LabelRef(k.label(id + "_mid")))
	c.CMPQ(regKH, field(asm.OffEdgeB))
	c.JG(operand.LabelRef(k.label(id + "_mid")))
	columns("_bottom", k.tileR-1)
	c.Label(k.label(id + "_mid"))
	columns("_mid", -1)
	c.Label(full)
	k.step(t, -1, -1)
	c.Label(next)
}
