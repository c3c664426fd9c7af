package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sbconv/sbconv/asm"
)

// TestGeneratedUpToDate regenerates the AVX2 kernels into a temporary
// folder and fails on any difference from the committed files: generated
// code cannot drift from its generator, and nobody edits it by hand.
func TestGeneratedUpToDate(t *testing.T) {
	dir := t.TempDir()
	if err := generate(dir); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 3 {
		t.Fatalf("generated %d files, want 3", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		got, _ := os.ReadFile(f)
		want, err := os.ReadFile(filepath.Join("..", "..", "asm", name))
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./... from the repository root)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("asm/%s differs from what the generator writes: run go generate ./... from the repository root", name)
		}
	}
}

// TestOffsetsMatch: the generator's Params offsets are package asm's.
func TestOffsetsMatch(t *testing.T) {
	for _, c := range []struct {
		name      string
		gen, want int
	}{
		{"Src", offSrc, asm.OffSrc}, {"Wei", offWei, asm.OffWei}, {"Dst", offDst, asm.OffDst},
		{"Bias", offBias, asm.OffBias}, {"Res", offRes, asm.OffRes}, {"Pix", offPix, asm.OffPix},
		{"OCB", offOCB, asm.OffOCB}, {"ICB", offICB, asm.OffICB}, {"KH", offKH, asm.OffKH},
		{"KW", offKW, asm.OffKW}, {"SrcICB", offSrcICB, asm.OffSrcICB}, {"SrcRow", offSrcRow, asm.OffSrcRow},
		{"WeiOCB", offWeiOCB, asm.OffWeiOCB}, {"WeiICB", offWeiICB, asm.OffWeiICB},
		{"WeiRow", offWeiRow, asm.OffWeiRow}, {"DstOCB", offDstOCB, asm.OffDstOCB}, {"ReLU", offReLU, asm.OffReLU},
		{"Rows", offRows, asm.OffRows}, {"SrcRows", offSrcRows, asm.OffSrcRows}, {"DstRows", offDstRows, asm.OffDstRows},
		{"EdgeL", offEdgeL, asm.OffEdgeL}, {"EdgeR", offEdgeR, asm.OffEdgeR},
		{"Pf", offPf, asm.OffPf}, {"PfEnd", offPfEnd, asm.OffPfEnd},
	} {
		if c.gen != c.want {
			t.Errorf("%s: generator uses offset %d, package asm says %d", c.name, c.gen, c.want)
		}
	}
}

// TestPoolOffsetsMatch: the generator's PoolParams offsets are package asm's.
func TestPoolOffsetsMatch(t *testing.T) {
	for _, c := range []struct {
		name      string
		gen, want int
	}{
		{"Src0", offPoolSrc0, asm.OffPoolSrc0}, {"Src1", offPoolSrc1, asm.OffPoolSrc1},
		{"Src2", offPoolSrc2, asm.OffPoolSrc2}, {"Dst", offPoolDst, asm.OffPoolDst},
		{"Pix", offPoolPix, asm.OffPoolPix}, {"Rows", offPoolRows, asm.OffPoolRows},
		{"SrcRows", offPoolSrcRows, asm.OffPoolSrcRows}, {"DstRows", offPoolDstRows, asm.OffPoolDstRows},
	} {
		if c.gen != c.want {
			t.Errorf("%s: generator uses offset %d, package asm says %d", c.name, c.gen, c.want)
		}
	}
}

// TestCaps: the capabilities written into the table, derived from the
// emitted code, are every optional part of the contract. A change that
// drops one from some kernel turns the flag off for the whole set (the
// driver then works around it); this test makes that a decision.
func TestCaps(t *testing.T) {
	if err := generate(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	want := asm.Caps{Block: 8, MaxOCB: 3, Rows: true, Edges: true, RestoreEdges: true, Prefetch: true}
	if got := emitted.Caps(block, len(ocbs)); got != want {
		t.Errorf("caps %+v, want %+v", got, want)
	}
}
