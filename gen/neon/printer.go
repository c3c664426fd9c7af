package main

import (
	"bytes"
	"fmt"
	"strings"
)

// The printer: Go arm64 assembly as text, a line at a time, with typed
// helpers for the few instructions the kernels use. Instructions the Go
// assembler lacks (by-element FMLA, vector FADD and FMAX) are emitted as
// WORD with their GNU mnemonic in a comment; TestWordsDecode assembles the
// generated file and checks that `go tool objdump -gnu` decodes every
// WORD back to that comment.

// gp is a general-purpose register, R0-R26 less R18.
type gp int

// x returns general-purpose register n, refusing the ones Go reserves:
// R18 (platform), R27 (assembler scratch), R28 (g), R29 (frame pointer),
// R30 (link) and R31 (RSP/zero).
func x(n int) gp {
	if n < 0 || n == 18 || n > 26 {
		panic(fmt.Sprintf("R%d is reserved in Go arm64 assembly", n))
	}
	return gp(n)
}

func (r gp) String() string { return fmt.Sprintf("R%d", int(r)) }

// vreg is a 128-bit SIMD register, V0-V31 (F0-F31 in the load/store forms).
type vreg int

func v(n int) vreg {
	if n < 0 || n > 31 {
		panic(fmt.Sprintf("V%d: there are 32 vector registers", n))
	}
	return vreg(n)
}

func (r vreg) S4() string  { return fmt.Sprintf("V%d.S4", int(r)) }
func (r vreg) B16() string { return fmt.Sprintf("V%d.B16", int(r)) }
func (r vreg) F() string   { return fmt.Sprintf("F%d", int(r)) }

// mem is an immediate-offset memory operand.
func mem(off int, base gp) string {
	if off == 0 {
		return fmt.Sprintf("(%v)", base)
	}
	return fmt.Sprintf("%d(%v)", off, base)
}

type printer struct {
	b bytes.Buffer
}

func (p *printer) printf(format string, args ...any) { fmt.Fprintf(&p.b, format, args...) }

// op writes one instruction: its mnemonic and operands.
func (p *printer) op(mnemonic string, operands ...any) {
	if len(operands) == 0 {
		p.printf("\t%s\n", mnemonic)
		return
	}
	s := make([]string, len(operands))
	for i, o := range operands {
		s[i] = fmt.Sprint(o)
	}
	p.printf("\t%-6s %s\n", mnemonic, strings.Join(s, ", "))
}

func (p *printer) label(name string) { p.printf("\n%s:\n", name) }

func (p *printer) comment(format string, args ...any) {
	p.printf("\n\t// %s\n", fmt.Sprintf(format, args...))
}

// word writes an instruction the assembler does not know as its encoding,
// with the GNU-syntax mnemonic in a comment.
func (p *printer) word(enc uint32, mnemonic string) {
	p.printf("\tWORD   $0x%08x // %s\n", enc, mnemonic)
}

// Loads and stores. The immediate forms are asserted in range, so the
// assembler never materialises an offset through R27 in a hot loop.

// ldrq loads one 128-bit register (LDR Qt, [Xn, #off]).
func (p *printer) ldrq(off int, base gp, dst vreg) {
	if off < 0 || off > 65520 || off%16 != 0 {
		panic(fmt.Sprintf("LDR Q offset %d: want a multiple of 16 in [0, 65520]", off))
	}
	p.op("FMOVQ", mem(off, base), dst.F())
}

// ldpq loads two 128-bit registers (LDP Qt1, Qt2, [Xn, #off]).
func (p *printer) ldpq(off int, base gp, a, b vreg) {
	checkPairOffset(off)
	p.op("FLDPQ", mem(off, base), fmt.Sprintf("(%s, %s)", a.F(), b.F()))
}

// stpq stores two 128-bit registers (STP Qt1, Qt2, [Xn, #off]).
func (p *printer) stpq(a, b vreg, off int, base gp) {
	checkPairOffset(off)
	p.op("FSTPQ", fmt.Sprintf("(%s, %s)", a.F(), b.F()), mem(off, base))
}

// addImm adds an immediate to a register (ADD Xd, Xd, #imm), asserting the
// unshifted imm12 form: a larger constant the assembler would build in R27
// with extra instructions, or split in two ADDs.
func (p *printer) addImm(imm int, r gp) {
	if imm < 0 || imm > 4095 {
		panic(fmt.Sprintf("ADD immediate %d: want [0, 4095]", imm))
	}
	p.op("ADD", fmt.Sprintf("$%d", imm), r)
}

func checkPairOffset(off int) {
	if off < -1024 || off > 1008 || off%16 != 0 {
		panic(fmt.Sprintf("LDP/STP Q offset %d: want a multiple of 16 in [-1024, 1008]", off))
	}
}

func (p *printer) vmov(src, dst vreg) { p.op("VMOV", src.B16(), dst.B16()) }
func (p *printer) vzero(r vreg)       { p.op("VEOR", r.B16(), r.B16(), r.B16()) }

// WORD-encoded vector arithmetic on four float32 lanes.

// fmlaElem: d += n * m[lane] (FMLA Vd.4S, Vn.4S, Vm.S[lane]).
func (p *printer) fmlaElem(d, n, m vreg, lane int) {
	p.word(encFMLAElem(d, n, m, lane), fmt.Sprintf("fmla v%d.4s, v%d.4s, v%d.s[%d]", d, n, m, lane))
}

// fadd: d = n + m (FADD Vd.4S, Vn.4S, Vm.4S).
func (p *printer) fadd(d, n, m vreg) {
	p.word(enc3(0x4E20D400, d, n, m), fmt.Sprintf("fadd v%d.4s, v%d.4s, v%d.4s", d, n, m))
}

// fmax: d = max(n, m), NaN if either is NaN (FMAX Vd.4S, Vn.4S, Vm.4S).
func (p *printer) fmax(d, n, m vreg) {
	p.word(enc3(0x4E20F400, d, n, m), fmt.Sprintf("fmax v%d.4s, v%d.4s, v%d.4s", d, n, m))
}

// encFMLAElem encodes FMLA (by element), single precision, Q = 1:
// 0 1 0 0 1 1 1 1 1 0 L M Rm 0 0 0 1 H 0 Rn Rd, index = H:L, Vm = M:Rm.
func encFMLAElem(d, n, m vreg, lane int) uint32 {
	if lane < 0 || lane > 3 {
		panic(fmt.Sprintf("FMLA by element: lane %d of a .4S register", lane))
	}
	return 0x4F801000 | uint32(lane&1)<<21 | uint32(m)<<16 | uint32(lane>>1)<<11 | uint32(n)<<5 | uint32(d)
}

// enc3 encodes a three-register .4S instruction from its base.
func enc3(base uint32, d, n, m vreg) uint32 {
	return base | uint32(m)<<16 | uint32(n)<<5 | uint32(d)
}
