package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/gen/internal/drift"
	"github.com/sbconv/sbconv/gen/internal/emit"
)

// TestGeneratedUpToDate: the committed NEON files are what the generator
// writes (see package drift; go test . -update rewrites them).
func TestGeneratedUpToDate(t *testing.T) {
	drift.Check(t, render, filepath.Join("..", "..", "asm"), "conv_neon_arm64.go", "conv_neon_arm64.s", "table_neon_arm64.go")
}

// TestRegisterRoles: no two general-purpose roles share a register, the
// weight cursors of the most output blocks a kernel may take included, so
// the row index and edge flags clobber nothing a block keeps.
func TestRegisterRoles(t *testing.T) {
	roles := map[string]gp{
		"Params": rParams, "SrcBase": rSrcBase, "Dst": rDst, "ResDelta": rResDelta, "Pix": rPix, "Src": rSrc,
		"ICB": rICB, "KH": rKH, "KW": rKW, "WeiOCB": rWeiOCB, "DstOCB": rDstOCB, "SrcTap": rSrcTap,
		"SrcRowAdv": rSrcRowAdv, "Res": rRes, "WeiRowAdv": rWeiRowAdv, "SrcICBAdv": rSrcICBAdv,
		"WeiICBAdv": rWeiICBAdv, "KHn": rKHn, "KWn": rKWn, "Row": rRow, "Edge": rEdge, "Tmp": rTmp,
	}
	for o := 0; o < maxWeiCursors; o++ {
		roles[fmt.Sprintf("Wei%d", o)] = rWei(o)
	}
	held := map[gp]string{}
	for name, r := range roles {
		if other, ok := held[r]; ok {
			t.Errorf("%v is both %s and %s", r, name, other)
		}
		held[r] = name
	}
}

// TestRegisterBudget: the committed plans fit, and a plan over the budget
// or with too few accumulators stops generation.
func TestRegisterBudget(t *testing.T) {
	for _, pl := range convPlans {
		if err := pl.check(); err != nil {
			t.Errorf("plan ocb=%d urW=%d: %v", pl.ocb, pl.urW, err)
		}
		if last := pl.wei(pl.ocb-1, 1); int(last) != pl.regs()-1 {
			t.Errorf("plan ocb=%d urW=%d: last weight register V%d, want V%d", pl.ocb, pl.urW, last, pl.regs()-1)
		}
	}
	for _, bad := range []convPlan{{ocb: 2, urW: 6}, {ocb: 3, urW: 4}, {ocb: 1, urW: 3}, {ocb: 5, urW: 1}} {
		if bad.check() == nil {
			t.Errorf("plan ocb=%d urW=%d (%d registers, %d accumulators) passed the check", bad.ocb, bad.urW, bad.regs(), bad.accs())
		}
		saved := convPlans
		convPlans = []convPlan{bad}
		_, err := render()
		convPlans = saved
		if err == nil {
			t.Errorf("plan ocb=%d urW=%d: generation did not fail", bad.ocb, bad.urW)
		}
	}
}

// TestRestorePlans: every committed restore plan fits, takes the most
// pixels that fit, keeps the loads per FMLA of a whole step at or under
// 0.25, and beats the largest two-block plan on loads per FMLA (the
// reason the family takes one block a call); plans that break the budget,
// the accumulator floor, the tap offsets or the ocb order stop generation.
func TestRestorePlans(t *testing.T) {
	for _, pl := range restorePlans {
		name := fmt.Sprintf("K%dP%d ocb=%d maxPix=%d", pl.k, pl.pad, pl.ocb, pl.maxPix)
		if err := pl.check(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		bigger := pl
		bigger.maxPix++
		if bigger.check() == nil {
			t.Errorf("%s: %d pixels fit too", name, bigger.maxPix)
		}
		if l := pl.loadsPerFMLA(); l > 0.25 {
			t.Errorf("%s: %.3f loads per FMLA, want <= 0.25", name, l)
		}
		two := restorePlan{k: pl.k, pad: pl.pad, ocb: 2, maxPix: 2}
		for next := two; next.check() == nil; next.maxPix++ {
			two = next
		}
		if two.check() != nil || two.loadsPerFMLA() <= pl.loadsPerFMLA() {
			t.Errorf("%s: %.3f loads per FMLA; two blocks x %d pixels: %.3f", name, pl.loadsPerFMLA(), two.maxPix, two.loadsPerFMLA())
		}
		t.Logf("%s: %d accumulators a step, %.3f loads per FMLA (two blocks: %d pixels, %.3f)",
			name, 2*pl.step()*pl.ocb, pl.loadsPerFMLA(), two.maxPix, two.loadsPerFMLA())
	}
	for _, bad := range [][]restorePlan{
		{{k: 4, pad: 1, ocb: 1, maxPix: 12}},                                    // 24 + 8 + 2 = 34 registers
		{{k: 3, pad: 1, ocb: 1, maxPix: 11}, {k: 3, pad: 1, ocb: 2, maxPix: 7}}, // 28 + 5 + 2 = 35
		{{k: 2, pad: 0, ocb: 1, maxPix: 3}},                                     // 4 accumulators a step
		{{k: 5, pad: 2, ocb: 1, maxPix: 8}},                                     // tap 4's weights beyond an LDP offset
		{{k: 3, pad: 1, ocb: 2, maxPix: 6}},                                     // no one-block kernel before it
		{{k: 2, pad: 2, ocb: 1, maxPix: 8}},                                     // pad >= K: not a restore (EMin > 0)
	} {
		saved := restorePlans
		restorePlans = bad
		_, err := render()
		restorePlans = saved
		if err == nil {
			t.Errorf("plans %+v: generation did not fail", bad)
		}
	}
}

// TestRestoreBlocks: the pixel loop covers any count with blocks of
// 1..maxPix pixels, only the last of them odd, and every block of a span
// of 12 pixels or more (every fused row: the driver fuses rows of 16 or
// more) issues its FMLAs of one input channel in no fewer cycles on two
// pipes (K*t/2) than the longest accumulator chain takes (4 cycles a tap
// of one pixel), so latency never bounds it.
func TestRestoreBlocks(t *testing.T) {
	for _, pl := range restorePlans {
		taps := 0
		for q := 0; q < 2; q++ {
			n := 0
			for kw := 0; kw < pl.k; kw++ {
				if _, ok := asm.RestoreTap(q, pl.pad, kw); ok {
					n++
				}
			}
			taps = max(taps, n)
		}
		for pix := 1; pix <= 300; pix++ {
			blocks := restoreBlocks(pl, pix)
			sum := 0
			for i, b := range blocks {
				sum += b
				if b < 1 || b > pl.maxPix || (b%2 == 1 && i != len(blocks)-1) {
					t.Fatalf("K%d pix=%d: blocks %v", pl.k, pix, blocks)
				}
				if pix >= 12 && pl.k*b*pl.ocb < 2*4*taps {
					t.Errorf("K%d pix=%d: blocks %v: a block of %d is latency-bound", pl.k, pix, blocks, b)
				}
			}
			if sum != pix {
				t.Fatalf("K%d pix=%d: blocks %v", pl.k, pix, blocks)
			}
		}
	}
}

// TestOffsetsAsserted: an immediate the instruction cannot encode stops
// generation instead of reaching the assembler (which would build it in
// R27, a hidden instruction in the loop).
func TestOffsetsAsserted(t *testing.T) {
	for _, f := range []func(p *printer){
		func(p *printer) { p.ldpq(1024, x(1), v(0), v(1)) },
		func(p *printer) { p.stpq(v(0), v(1), 8, x(1)) },
		func(p *printer) { p.ldrq(-16, x(1), v(0)) },
		func(p *printer) { p.addImm(4096, x(1)) },
		func(p *printer) { p.addImm(-1, x(1)) },
		func(p *printer) { p.fmlaElem(v(0), v(1), v(2), 4) },
		func(p *printer) { x(18) },
		func(p *printer) { x(27) },
		func(p *printer) { v(32) },
	} {
		if err := emitSafely(new(printer), text{name: "bad", emit: f}); err == nil {
			t.Errorf("an illegal operand was accepted")
		}
	}
}

// TestStrideLimits: the strides generated (input up to 8 pixels, output
// up to 4) fit the immediate forms of every set's unroll, and the printer's
// assertions, not the assembler, stop a stride that does not: input
// stride 16 makes the 8-pixel step's ADD 8*16*32 = 4096 bytes (over
// 4095), output stride 5 the epilogue's STP Q of pixel 7 7*5*32 = 1120
// bytes (over 1008).
func TestStrideLimits(t *testing.T) {
	if got := srcStrides[len(srcStrides)-1]; got != 8 {
		t.Errorf("largest input stride %d, want 8 (rate 4 at a stage entry)", got)
	}
	if got := dstStrides[len(dstStrides)-1]; got != 4 {
		t.Errorf("largest output stride %d, want 4 (a rate-4 restore's phases)", got)
	}
	if _, err := render(); err != nil {
		t.Fatal(err)
	}
	savedS, savedD := srcStrides, dstStrides
	defer func() { srcStrides, dstStrides = savedS, savedD }()
	for _, c := range []struct {
		s, d []int
		want string
	}{
		{[]int{1, 16}, []int{1}, "ADD immediate 4096"},
		{[]int{1}, []int{1, 5}, "LDP/STP Q offset 1120"},
	} {
		srcStrides, dstStrides = c.s, c.d
		if _, err := render(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("strides %v, %v: render error %v, want one naming %q", c.s, c.d, err, c.want)
		}
	}
}

// objdumpLine is one instruction of `go tool objdump -gnu`: the source
// line, the encoding, and the GNU syntax after the comment marker.
var objdumpLine = regexp.MustCompile(`^\s+conv_neon_arm64\.s:(\d+)\s+0x[0-9a-f]+\s+([0-9a-f]{8})\s+(.*?)\s*// (.*?)\s*$`)

var wordLine = regexp.MustCompile(`^\tWORD\s+\$0x([0-9a-f]{8}) // (.*)$`)

// TestWordsDecode assembles the generated file for arm64 with the Go
// toolchain and disassembles it: every WORD must decode to the mnemonic in
// its comment, nothing may be undecodable, and no instruction may touch a
// register Go reserves (R18, R27 as the assembler's scratch for large
// offsets, R28-R30).
func TestWordsDecode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the assembler")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	dir := t.TempDir()
	files, err := render()
	if err == nil {
		err = emit.Write(dir, files)
	}
	if err != nil {
		t.Fatal(err)
	}
	goroot, err := exec.Command(goBin, "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "conv_neon_arm64.s")
	obj := filepath.Join(dir, "conv_neon_arm64.o")
	run := func(args ...string) []byte {
		cmd := exec.Command(goBin, args...)
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	run("tool", "asm", "-I", filepath.Join(strings.TrimSpace(string(goroot)), "pkg", "include"),
		"-p", "github.com/sbconv/sbconv/asm", "-o", obj, src)
	dump := run("tool", "objdump", "-gnu", obj)

	decoded := map[int][2]string{} // source line -> encoding, GNU syntax
	sc := bufio.NewScanner(bytes.NewReader(dump))
	reserved := regexp.MustCompile(`\b(x18|w18|x27|w27|x28|w28|x29|w29|x30|w30)\b`)
	n := 0
	for sc.Scan() {
		m := objdumpLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n++
		line, _ := strconv.Atoi(m[1])
		gnu := m[4]
		if m[3] == "?" || gnu == "?" {
			t.Errorf("line %d: %s does not decode", line, m[2])
		}
		if reserved.MatchString(gnu) {
			t.Errorf("line %d: %s uses a reserved register", line, gnu)
		}
		decoded[line] = [2]string{m[2], gnu}
	}
	if n == 0 {
		t.Fatalf("no instructions in the objdump output:\n%.2000s", dump)
	}

	text, _ := os.ReadFile(src)
	words := 0
	for i, l := range strings.Split(string(text), "\n") {
		m := wordLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		words++
		d, ok := decoded[i+1]
		switch {
		case !ok:
			t.Errorf("line %d: %q not in the disassembly", i+1, l)
		case d[0] != m[1]:
			t.Errorf("line %d: assembled as %s, written %s", i+1, d[0], m[1])
		case d[1] != m[2]:
			t.Errorf("line %d: WORD $0x%s decodes to %q, the comment says %q", i+1, m[1], d[1], m[2])
		}
	}
	if words == 0 {
		t.Fatal("no WORD lines in the generated file")
	}
	t.Logf("%d instructions, %d WORD-encoded ones checked", n, words)
}

// TestCaps: the capabilities written into the table, derived from the
// emitted code: rows everywhere and the edge flags in the general
// convolutions; no restore edges and no prefetch (not implemented). A
// change to them is a decision this test makes visible.
func TestCaps(t *testing.T) {
	if _, err := render(); err != nil {
		t.Fatal(err)
	}
	want := asm.Caps{Block: 8, MaxOCB: 2, Rows: true, Edges: true}
	if got := emitted.Caps(block, maxConvOCB()); got != want {
		t.Errorf("caps %+v, want %+v", got, want)
	}
}
