package main

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sbconv/sbconv/asm"
	"github.com/sbconv/sbconv/gen/internal/drift"
)

// TestGeneratedUpToDate: the committed files of every x86 set are what
// the generator writes (see package drift; go test . -update rewrites
// them).
func TestGeneratedUpToDate(t *testing.T) {
	drift.Check(t, renderAll(t), filepath.Join("..", "..", "asm"),
		"conv_avx2_amd64.go", "conv_avx2_amd64.s", "conv_avx512_amd64.go", "conv_avx512_amd64.s",
		"table_avx2_amd64.go", "table_avx512_amd64.go")
}

// rendered holds each set's render, made once for the tests that read the
// generated code (a render of both sets takes most of this package's
// test time).
var rendered = struct {
	sync.Mutex
	m map[*isa]setRender
}{m: map[*isa]setRender{}}

type setRender struct {
	g     *gen
	files map[string][]byte
}

// renderOf returns set's render with the generator's own configuration,
// rendering it on first use. Tests that change the configuration render
// for themselves.
func renderOf(t *testing.T, set *isa) setRender {
	t.Helper()
	rendered.Lock()
	defer rendered.Unlock()
	r, ok := rendered.m[set]
	if !ok {
		r.files = map[string][]byte{}
		g, err := set.render(r.files)
		if err != nil {
			t.Fatal(err)
		}
		r.g = g
		rendered.m[set] = r
	}
	return r
}

// renderAll is render (every set's files) through renderOf.
func renderAll(t *testing.T) func() (map[string][]byte, error) {
	return func() (map[string][]byte, error) {
		files := map[string][]byte{}
		for _, set := range sets {
			maps.Copy(files, renderOf(t, set).files)
		}
		return files, nil
	}
}

// TestCaps: the capabilities written into each set's table, derived from
// the emitted code, are every optional part of the contract. A change
// that drops one from some kernel turns the flag off for the whole set
// (the driver then works around it); this test makes that a decision.
func TestCaps(t *testing.T) {
	for _, tc := range []struct {
		set  *isa
		want asm.Caps
	}{
		{avx2, asm.Caps{Block: 8, MaxOCB: 3, Rows: true, Edges: true, RestoreEdges: true, Prefetch: true}},
		{avx512, asm.Caps{Block: 16, MaxOCB: 3, Rows: true, Edges: true, RestoreEdges: true, Prefetch: true}},
	} {
		g := renderOf(t, tc.set).g
		if got := g.emitted.Caps(g.block, g.maxConvOCB()); got != tc.want {
			t.Errorf("%s caps %+v, want %+v", tc.set.name, got, tc.want)
		}
	}
}

// TestRegisterBudget: every generated plan fits its set's registers, and
// a plan that does not is an error naming it, not a kernel (nor an exit).
func TestRegisterBudget(t *testing.T) {
	for _, s := range sets {
		if err := s.checkPlans(s.convPlans); err != nil {
			t.Fatal(err)
		}
		for _, pl := range s.restorePlans {
			if err := s.checkRestore(pl); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, bad := range []struct {
		set *isa
		pl  convPlan
	}{
		{avx2, convPlan{ocb: 3, urW: 5}}, {avx2, convPlan{ocb: 1, urW: 15}}, {avx2, convPlan{ocb: 0, urW: 4}},
		{avx512, convPlan{ocb: 1, urW: 32}}, {avx512, convPlan{ocb: 2, urW: 16}}, {avx512, convPlan{ocb: 3, urW: 10}},
		// Output block 3 is no scale (1 or 2) of the block stride away.
		{avx2, convPlan{ocb: 4, urW: 2}}, {avx512, convPlan{ocb: 4, urW: 6}},
	} {
		if err := bad.set.check(bad.pl); err == nil {
			t.Errorf("%s conv plan %+v accepted", bad.set.name, bad.pl)
		}
	}
	// AVX2 spends a register on the broadcast; AVX-512 does not.
	if err := avx512.check(convPlan{ocb: 1, urW: 31}); err != nil {
		t.Errorf("AVX-512 ocb 1 x urW 31 (32 registers, embedded broadcasts): %v", err)
	}
	// A register broadcast costs AVX-512 a register too.
	if err := avx512.check(convPlan{ocb: 3, urW: 9, regBcast: true}); err != nil {
		t.Errorf("AVX-512 ocb 3 x urW 9 with a broadcast register (31 registers): %v", err)
	}
	if err := avx512.check(convPlan{ocb: 1, urW: 31, regBcast: true}); err == nil {
		t.Error("AVX-512 ocb 1 x urW 31 with a broadcast register (33 registers) accepted")
	}
	if err := avx2.check(convPlan{ocb: 1, urW: 15}); err == nil {
		t.Error("AVX2 ocb 1 x urW 15 (15 + 1 weights + 1 broadcast = 17 registers) accepted")
	}
	if err := avx2.checkPlans([]convPlan{{ocb: 1, urW: 8}, {ocb: 3, urW: 4}}); err == nil {
		t.Error("conv plans with a hole accepted")
	}
	if err := avx2.checkRestore(restorePlan{k: 15, pad: 7, ocbs: 1}); err == nil || !strings.Contains(err.Error(), "AVX2RestoreK15P7") {
		t.Errorf("an oversized restore plan: %v", err)
	}
	if err := avx512.checkRestore(restorePlan{k: 3, pad: 1, ocbs: 4}); err == nil || !strings.Contains(err.Error(), "AVX512RestoreK3P1O4") {
		t.Errorf("a restore plan of 4 output blocks: %v", err)
	}
	// A family's error reaches render's caller.
	saved := avx2.convPlans
	avx2.convPlans = []convPlan{{ocb: 1, urW: 8}, {ocb: 2, urW: 7}}
	defer func() { avx2.convPlans = saved }()
	if _, err := render(); err == nil || !strings.Contains(err.Error(), "ocb=2 urW=7") {
		t.Errorf("render with an oversized plan: %v", err)
	}
}

// TestRequires pins the instruction subsets avo lists in the "Requires:"
// lines of each set's kernels: package kernels checks exactly these (MMX+,
// PREFETCHT1's, is in every x86-64 CPU) before it dispatches a set, so an
// instruction from another subset (AVX512BW, say) must fail here until
// the CPU check in kernels/isa_amd64.go names it too.
func TestRequires(t *testing.T) {
	files, err := renderAll(t)()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"conv_avx2_amd64.s":   "AVX FMA3 MMX+",
		"conv_avx512_amd64.s": "AVX AVX512DQ AVX512F MMX+",
	} {
		subsets := map[string]bool{}
		for _, line := range strings.Split(string(files[name]), "\n") {
			if rest, ok := strings.CutPrefix(line, "// Requires: "); ok {
				for _, s := range strings.Split(rest, ", ") {
					subsets[s] = true
				}
			}
		}
		var got []string
		for s := range subsets {
			got = append(got, s)
		}
		slices.Sort(got)
		if strings.Join(got, " ") != want {
			t.Errorf("%s requires %v, want %s", name, got, want)
		}
	}
}

// TestStrideLimits: the strides generated are input up to 8 pixels and
// output up to 4, and a displacement or immediate x86 cannot encode (a
// disp32, a sign-extended imm32) is render's error, not the assembler's:
// input stride 2^24 puts AVX2's pixel 1 at 2^24*32 bytes and its 8-pixel
// step at 2^32.
func TestStrideLimits(t *testing.T) {
	if got := srcStrides[len(srcStrides)-1]; got != 8 {
		t.Errorf("largest input stride %d, want 8 (rate 4 at a stage entry)", got)
	}
	if got := dstStrides[len(dstStrides)-1]; got != 4 {
		t.Errorf("largest output stride %d, want 4 (a rate-4 restore's phases)", got)
	}
	// TestGeneratedUpToDate renders them.
	for _, f := range []func(){
		func() { disp32(1 << 31) },
		func() { disp32(-1<<31 - 1) },
		func() { imm(1 << 31) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("an operand x86 cannot encode was accepted")
				}
			}()
			f()
		}()
	}
	saved := srcStrides
	defer func() { srcStrides = saved }()
	srcStrides = []int{1 << 24}
	if _, err := avx2.render(map[string][]byte{}); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("input stride 2^24: render error %v, want one saying what does not fit", err)
	}
}

// TestPrefetchAhead: the convolution kernels of AVX-512's three-block
// plan (the one plan with pfAhead) prefetch, for every line of weights a
// step loads, the line asm.PfAhead bytes past it, and no other kernel
// prefetches through the weight cursor. Dropping the prefetch of one
// output block, or giving another plan the flag, fails it.
func TestPrefetchAhead(t *testing.T) {
	wei := regexp.MustCompile(`^\s*(VMOVUPS|PREFETCHT0)\s+(-?\d*)\(` + regWei.Asm() + `\)(\S*?)(, \S+)?$`)
	for _, set := range sets {
		var text []byte
		for name, b := range renderOf(t, set).files {
			if strings.HasSuffix(name, ".s") {
				text = b
			}
		}
		// The decision: AVX-512's three-block plan only (see
		// kernel.prefetchAhead for the measurements).
		ahead := map[int]bool{3: set == avx512}
		checked := 0
		for _, fn := range strings.Split(string(text), "\nTEXT ")[1:] {
			name := fn[strings.Index(fn, "·")+len("·") : strings.Index(fn, "(SB)")]
			loads, pfs := map[string]int{}, map[string]int{}
			for _, line := range strings.Split(fn, "\n") {
				m := wei.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				d := 0
				if m[2] != "" {
					d, _ = strconv.Atoi(m[2])
				}
				if m[1] == "VMOVUPS" {
					if d%64 == 0 {
						loads[fmt.Sprint(d+asm.PfAhead, m[3])]++
					}
				} else {
					pfs[fmt.Sprint(d, m[3])]++
				}
			}
			ocb := 0 // stems, restores, pools: no weight stream of this kind
			if rest, ok := strings.CutPrefix(name, set.name+"Conv"); ok {
				rest = strings.TrimPrefix(rest, "1x1")
				if _, err := fmt.Sscanf(rest, "O%d", &ocb); err != nil {
					t.Fatalf("%s: no output block count in the name", name)
				}
			}
			if ocb > 0 && ahead[ocb] {
				checked++
				if len(loads) == 0 || !maps.Equal(loads, pfs) {
					t.Errorf("%s: weight lines loaded (at +PfAhead) %v, prefetched %v", name, loads, pfs)
				}
			} else if len(pfs) > 0 {
				t.Errorf("%s: prefetches its weights ahead %v, but its plan does not", name, pfs)
			}
		}
		if set == avx512 && checked == 0 {
			t.Errorf("%s: no kernel prefetches ahead", set.name)
		}
	}
}

// TestPrefetchNext: every Pf block of every kernel that takes Pf (see
// kernel.prefetch) names asm.PfLines lines, 64 bytes apart from Pf, for
// each of the kernel's output blocks, stepping from one block's to the
// next by PfOCB, and moves Pf on by PfLines lines. Dropping one block's
// lines, or a step, fails it; package kernels checks what the blocks
// compute and where Pf stops.
func TestPrefetchNext(t *testing.T) {
	ocbOf := regexp.MustCompile(`(?:Conv|Conv1x1)O(\d)Src`)
	for _, set := range sets {
		var text []byte
		for name, b := range renderOf(t, set).files {
			if strings.HasSuffix(name, ".s") {
				text = b
			}
		}
		blocks := 0
		for _, fn := range strings.Split(string(text), "\nTEXT ")[1:] {
			name := fn[strings.Index(fn, "·")+len("·") : strings.Index(fn, "(SB)")]
			m := ocbOf.FindStringSubmatch(name)
			for _, blk := range strings.Split(fn, fmt.Sprintf("%d(AX), DI\n", asm.OffPf))[1:] {
				blk = blk[:strings.Index(blk, "_nopf:")]
				if m == nil {
					t.Fatalf("%s: %s prefetches, but its name gives no output blocks", set.name, name)
				}
				ocb, _ := strconv.Atoi(m[1])
				var got []string
				for _, line := range strings.Split(blk, "\n") {
					if f := strings.Fields(line); len(f) > 0 && (f[0] == "PREFETCHT1" || f[0] == "ADDQ") {
						got = append(got, strings.Join(f, " "))
					}
				}
				var want []string
				for o := 0; o < ocb; o++ {
					if o > 0 {
						want = append(want, fmt.Sprintf("ADDQ %d(AX), DI", asm.OffPfOCB))
					}
					for i := 0; i < asm.PfLines; i++ {
						want = append(want, strings.Replace(fmt.Sprintf("PREFETCHT1 %d(DI)", 64*i), " 0(", " (", 1))
					}
				}
				want = append(want, fmt.Sprintf("ADDQ $0x%08x, %d(AX)", 64*asm.PfLines, asm.OffPf))
				if strings.Join(got, "; ") != strings.Join(want, "; ") {
					t.Fatalf("%s: a Pf block of %s is\n\t%s\nwant\n\t%s", set.name, name, strings.Join(got, "; "), strings.Join(want, "; "))
				}
				blocks++
			}
		}
		if blocks == 0 {
			t.Errorf("%s: no kernel prefetches from Pf", set.name)
		}
		t.Logf("%s: %d Pf blocks", set.name, blocks)
	}
}
