package asm

import (
	"testing"
	"unsafe"
)

// The generated assembly reads Params at the Off* constants; this pins them
// to the struct's real layout on 64-bit platforms (the only ones with
// assembly).
func TestParamsOffsets(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("offsets are defined for 64-bit platforms only")
	}
	var p Params
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"Src", unsafe.Offsetof(p.Src), OffSrc},
		{"Wei", unsafe.Offsetof(p.Wei), OffWei},
		{"Dst", unsafe.Offsetof(p.Dst), OffDst},
		{"Bias", unsafe.Offsetof(p.Bias), OffBias},
		{"Res", unsafe.Offsetof(p.Res), OffRes},
		{"Pix", unsafe.Offsetof(p.Pix), OffPix},
		{"OCB", unsafe.Offsetof(p.OCB), OffOCB},
		{"ICB", unsafe.Offsetof(p.ICB), OffICB},
		{"KH", unsafe.Offsetof(p.KH), OffKH},
		{"KW", unsafe.Offsetof(p.KW), OffKW},
		{"SrcICB", unsafe.Offsetof(p.SrcICB), OffSrcICB},
		{"SrcRow", unsafe.Offsetof(p.SrcRow), OffSrcRow},
		{"SrcTap", unsafe.Offsetof(p.SrcTap), OffSrcTap},
		{"SrcPix", unsafe.Offsetof(p.SrcPix), OffSrcPix},
		{"WeiOCB", unsafe.Offsetof(p.WeiOCB), OffWeiOCB},
		{"WeiICB", unsafe.Offsetof(p.WeiICB), OffWeiICB},
		{"WeiRow", unsafe.Offsetof(p.WeiRow), OffWeiRow},
		{"DstOCB", unsafe.Offsetof(p.DstOCB), OffDstOCB},
		{"DstPix", unsafe.Offsetof(p.DstPix), OffDstPix},
		{"ReLU", unsafe.Offsetof(p.ReLU), OffReLU},
		{"Rows", unsafe.Offsetof(p.Rows), OffRows},
		{"SrcRows", unsafe.Offsetof(p.SrcRows), OffSrcRows},
		{"DstRows", unsafe.Offsetof(p.DstRows), OffDstRows},
		{"EdgeL", unsafe.Offsetof(p.EdgeL), OffEdgeL},
		{"EdgeR", unsafe.Offsetof(p.EdgeR), OffEdgeR},
		{"Pf", unsafe.Offsetof(p.Pf), OffPf},
		{"PfEnd", unsafe.Offsetof(p.PfEnd), OffPfEnd},
		{"EdgeT", unsafe.Offsetof(p.EdgeT), OffEdgeT},
		{"EdgeB", unsafe.Offsetof(p.EdgeB), OffEdgeB},
		{"PfOCB", unsafe.Offsetof(p.PfOCB), OffPfOCB},
		{"sizeof", unsafe.Sizeof(p), SizeofParams},
	} {
		if c.got != c.want {
			t.Errorf("Params.%s at %d, constant says %d", c.name, c.got, c.want)
		}
	}
}

// TestPoolParamsOffsets pins the OffPool* constants to PoolParams.
func TestPoolParamsOffsets(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("offsets are defined for 64-bit platforms only")
	}
	var p PoolParams
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"Src0", unsafe.Offsetof(p.Src0), OffPoolSrc0},
		{"Src1", unsafe.Offsetof(p.Src1), OffPoolSrc1},
		{"Src2", unsafe.Offsetof(p.Src2), OffPoolSrc2},
		{"Dst", unsafe.Offsetof(p.Dst), OffPoolDst},
		{"Pix", unsafe.Offsetof(p.Pix), OffPoolPix},
		{"Rows", unsafe.Offsetof(p.Rows), OffPoolRows},
		{"SrcRows", unsafe.Offsetof(p.SrcRows), OffPoolSrcRows},
		{"DstRows", unsafe.Offsetof(p.DstRows), OffPoolDstRows},
		{"sizeof", unsafe.Sizeof(p), SizeofPoolParams},
	} {
		if c.got != c.want {
			t.Errorf("PoolParams.%s at %d, constant says %d", c.name, c.got, c.want)
		}
	}
}

// TestRestoreTap checks the tap rule against the transposed convolution
// it comes from: input column i, tap kw adds into output column
// 2i - pad + kw, and into no other.
func TestRestoreTap(t *testing.T) {
	for pad := 0; pad < 4; pad++ {
		for kw := 0; kw < 6; kw++ {
			for x := -6; x < 12; x++ {
				want, wantOK := 0, false
				for i := -8; i < 8; i++ {
					if 2*i-pad+kw == x {
						want, wantOK = i, true
					}
				}
				if col, ok := RestoreTap(x, pad, kw); ok != wantOK || col != want {
					t.Errorf("RestoreTap(%d, %d, %d) = %d, %v; want %d, %v", x, pad, kw, col, ok, want, wantOK)
				}
			}
		}
	}
}

// TestPackParamsOffsets pins the OffPack* constants to PackParams.
func TestPackParamsOffsets(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("offsets are defined for 64-bit platforms only")
	}
	var p PackParams
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"Out", unsafe.Offsetof(p.Out), OffPackOut},
		{"Src", unsafe.Offsetof(p.Src), OffPackSrc},
		{"Src[7]", unsafe.Offsetof(p.Src) + 7*unsafe.Sizeof(p.Src[0]), OffPackSrc + 7*8},
		{"N", unsafe.Offsetof(p.N), OffPackN},
		{"SrcStep", unsafe.Offsetof(p.SrcStep), OffPackSrcStep},
		{"OutStep", unsafe.Offsetof(p.OutStep), OffPackOutStep},
		{"sizeof", unsafe.Sizeof(p), SizeofPackParams},
	} {
		if c.got != c.want {
			t.Errorf("PackParams.%s at %d, constant says %d", c.name, c.got, c.want)
		}
	}
}

// TestAvgPoolParamsOffsets pins the OffAvgPool* constants to
// AvgPoolParams.
func TestAvgPoolParamsOffsets(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("offsets are defined for 64-bit platforms only")
	}
	var p AvgPoolParams
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"Src", unsafe.Offsetof(p.Src), OffAvgPoolSrc},
		{"Dst", unsafe.Offsetof(p.Dst), OffAvgPoolDst},
		{"Planes", unsafe.Offsetof(p.Planes), OffAvgPoolPlanes},
		{"Pix", unsafe.Offsetof(p.Pix), OffAvgPoolPix},
		{"SrcPlane", unsafe.Offsetof(p.SrcPlane), OffAvgPoolSrcPlane},
		{"Scale", unsafe.Offsetof(p.Scale), OffAvgPoolScale},
		{"sizeof", unsafe.Sizeof(p), SizeofAvgPoolParams},
	} {
		if c.got != c.want {
			t.Errorf("AvgPoolParams.%s at %d, constant says %d", c.name, c.got, c.want)
		}
	}
}
