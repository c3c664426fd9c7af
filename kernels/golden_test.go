package kernels_test

// Golden tests: PyTorch's own Conv2d and ConvTranspose2d outputs, checked
// through the public API only (layout.FromNCHW, kernels.NewConv2D,
// kernels.NewConvTranspose2D, Forward with an Epilogue, Tensor.NCHW).
//
// The data is testdata/golden/cases.bin.gz, written by
// testdata/golden/gen.py (PyTorch 1.13, float32, CPU) and committed, so
// running the tests never needs PyTorch. Regenerate it with
//
//	/usr/bin/python3 testdata/golden/gen.py
//
// File format (after gunzip), all integers little-endian (gen.py's
// docstring says the same):
//
//	header:  8 bytes  magic "SBGOLD1\n"
//	         uint32   format version (1)
//	         uint32   number of cases
//	each case:
//	         uint8    kind: 0 = Conv2d, 1 = ConvTranspose2d
//	         uint8    flags: bit 0 bias, bit 1 residual, bit 2 ReLU
//	         int32 x 15: N, InC, OutC, H, W, KH, KW, SH, SW, PH, PW,
//	                     OPH, OPW (output_padding, 0 for Conv2d), OH, OW
//	         float32 x N*InC*H*W       input, NCHW
//	         float32 x OutC*InC*KH*KW  weights, OIHW (Conv2d) or IOHW (ConvTranspose2d)
//	         float32 x OutC            bias, if flags bit 0
//	         float32 x N*OutC*OH*OW    residual, NCHW, if flags bit 1
//	         float32 x N*OutC*OH*OW    PyTorch's output, NCHW
//	trailer: 8 bytes  magic "SBGOLDE\n"
//
// and each output is relu?(conv(x, w) + bias + residual).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

const goldenFile = "../testdata/golden/cases.bin.gz"

var (
	goldenMagic   = []byte("SBGOLD1\n")
	goldenTrailer = []byte("SBGOLDE\n")
)

const goldenVersion = 1

// goldenDims is a case's shape header, in file order.
type goldenDims struct {
	N, InC, OutC, H, W, KH, KW, SH, SW, PH, PW, OPH, OPW, OH, OW int32
}

type goldenCase struct {
	index  int
	deconv bool
	relu   bool
	d      goldenDims
	x, w   []float32
	bias   []float32 // nil: none
	res    []float32 // nil: none
	want   []float32
}

func (c *goldenCase) kind() string {
	if c.deconv {
		return "convT"
	}
	return "conv"
}

// name is the subtest name: short, unique and enough to find the case.
func (c *goldenCase) name() string {
	d := c.d
	return fmt.Sprintf("%03d_%s_n%d_c%dto%d_%dx%dto%dx%d_k%dx%d_s%dx%d_p%dx%d",
		c.index, c.kind(), d.N, d.InC, d.OutC, d.H, d.W, d.OH, d.OW, d.KH, d.KW, d.SH, d.SW, d.PH, d.PW)
}

// String gives every parameter of the case, for failure messages.
func (c *goldenCase) String() string {
	d := c.d
	s := fmt.Sprintf("case %d: %s N=%d InC=%d OutC=%d in %dx%d out %dx%d kernel %dx%d stride %dx%d pad %dx%d",
		c.index, c.kind(), d.N, d.InC, d.OutC, d.H, d.W, d.OH, d.OW, d.KH, d.KW, d.SH, d.SW, d.PH, d.PW)
	if c.deconv {
		s += fmt.Sprintf(" output_padding %dx%d", d.OPH, d.OPW)
	}
	return s + fmt.Sprintf(" bias=%v residual=%v relu=%v", c.bias != nil, c.res != nil, c.relu)
}

func (c *goldenCase) spec() kernels.ConvSpec {
	d := c.d
	return kernels.ConvSpec{InC: int(d.InC), OutC: int(d.OutC), KH: int(d.KH), KW: int(d.KW),
		StrideH: int(d.SH), StrideW: int(d.SW), PadH: int(d.PH), PadW: int(d.PW)}
}

// products is the most multiply-adds summed into one output value.
func (c *goldenCase) products() int {
	d := c.d
	if c.deconv {
		ceil := func(a, b int32) int { return int((a + b - 1) / b) }
		return int(d.InC) * ceil(d.KH, d.SH) * ceil(d.KW, d.SW)
	}
	return int(d.InC * d.KH * d.KW)
}

// readGolden reads and checks the whole file; any error, including a
// missing file, is returned (the test fails on it, never skips).
func readGolden(path string) ([]*goldenCase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := bufio.NewReader(zr)

	magic := make([]byte, len(goldenMagic))
	if _, err := io.ReadFull(r, magic); err != nil || !bytes.Equal(magic, goldenMagic) {
		return nil, fmt.Errorf("%s: bad magic %q (%v)", path, magic, err)
	}
	var hdr struct{ Version, Count uint32 }
	if err := binary.Read(r, binary.LittleEndian, &hdr); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	if hdr.Version != goldenVersion {
		return nil, fmt.Errorf("%s: format version %d, want %d", path, hdr.Version, goldenVersion)
	}
	if hdr.Count == 0 || hdr.Count > 100000 {
		return nil, fmt.Errorf("%s: implausible case count %d", path, hdr.Count)
	}

	cases := make([]*goldenCase, 0, hdr.Count)
	for i := 0; i < int(hdr.Count); i++ {
		c, err := readGoldenCase(r, i)
		if err != nil {
			return nil, fmt.Errorf("%s: case %d: %w", path, i, err)
		}
		cases = append(cases, c)
	}
	trailer := make([]byte, len(goldenTrailer))
	if _, err := io.ReadFull(r, trailer); err != nil || !bytes.Equal(trailer, goldenTrailer) {
		return nil, fmt.Errorf("%s: bad trailer %q after %d cases (%v)", path, trailer, len(cases), err)
	}
	// Reading to EOF makes gzip verify its CRC-32 and length.
	if n, err := io.Copy(io.Discard, r); err != nil || n != 0 {
		return nil, fmt.Errorf("%s: %d bytes after the trailer (%v)", path, n, err)
	}
	return cases, nil
}

func readGoldenCase(r io.Reader, index int) (*goldenCase, error) {
	var kf [2]uint8
	if err := binary.Read(r, binary.LittleEndian, &kf); err != nil {
		return nil, err
	}
	c := &goldenCase{index: index}
	switch kf[0] {
	case 0:
	case 1:
		c.deconv = true
	default:
		return nil, fmt.Errorf("kind %d", kf[0])
	}
	if kf[1]&^7 != 0 {
		return nil, fmt.Errorf("flags %#x", kf[1])
	}
	hasBias, hasRes := kf[1]&1 != 0, kf[1]&2 != 0
	c.relu = kf[1]&4 != 0
	if err := binary.Read(r, binary.LittleEndian, &c.d); err != nil {
		return nil, err
	}
	d := c.d
	for _, v := range []int32{d.N, d.InC, d.OutC, d.H, d.W, d.KH, d.KW, d.SH, d.SW, d.OH, d.OW} {
		if v < 1 || v > 4096 {
			return nil, fmt.Errorf("implausible dimension %d in %+v", v, d)
		}
	}
	for _, v := range []int32{d.PH, d.PW, d.OPH, d.OPW} {
		if v < 0 || v > 4096 {
			return nil, fmt.Errorf("implausible padding %d in %+v", v, d)
		}
	}
	// The stored output size must be PyTorch's for the stored parameters.
	var oh, ow int32
	if c.deconv {
		oh = (d.H-1)*d.SH - 2*d.PH + d.KH + d.OPH
		ow = (d.W-1)*d.SW - 2*d.PW + d.KW + d.OPW
	} else {
		if d.OPH != 0 || d.OPW != 0 {
			return nil, fmt.Errorf("output_padding %dx%d on a Conv2d", d.OPH, d.OPW)
		}
		oh = (d.H+2*d.PH-d.KH)/d.SH + 1
		ow = (d.W+2*d.PW-d.KW)/d.SW + 1
	}
	if oh != d.OH || ow != d.OW {
		return nil, fmt.Errorf("output %dx%d, but the parameters give %dx%d", d.OH, d.OW, oh, ow)
	}

	var err error
	read := func(n int32) []float32 {
		if err != nil {
			return nil
		}
		var s []float32
		s, err = readFloats(r, int(n))
		return s
	}
	out := d.N * d.OutC * d.OH * d.OW
	c.x = read(d.N * d.InC * d.H * d.W)
	c.w = read(d.OutC * d.InC * d.KH * d.KW)
	if hasBias {
		c.bias = read(d.OutC)
	}
	if hasRes {
		c.res = read(out)
	}
	c.want = read(out)
	return c, err
}

func readFloats(r io.Reader, n int) ([]float32, error) {
	if n > 1<<26 {
		return nil, fmt.Errorf("implausible array of %d floats", n)
	}
	buf := make([]byte, 4*n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	s := make([]float32, n)
	for i := range s {
		s[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	return s, nil
}

// Tolerance. Every input (x, weights, bias, residual) is U(-1, 1), so each
// of the K products summed into an output has magnitude below 1 (about 1/3
// RMS) and the partial sums grow like sqrt(K)/3. PyTorch and sbconv add
// them in different orders (sbconv's kernels possibly with FMA), rounding to float32
// (unit u = 2^-24 ~ 6e-8): the difference is about u*K/3 for random
// rounding, which for the largest K here (40*7*7 = 1960) is ~4e-5, and so
// below 1e-4*sqrt(K) ~ 4e-3 with two orders of magnitude to spare; the
// |want| term covers the bias and residual added on top. Measured on this
// scale: PyTorch float32 vs float64 ~2e-7 (gen.py prints it), sbconv's
// generic kernels vs PyTorch ~4e-7 (this test logs it), 250 times inside
// the bound. A real bug (a missing, extra or misplaced
// tap, a wrong bias or residual channel, a missed ReLU) moves outputs by a
// whole product, typically 0.1-0.3, far outside it.
const goldenTol = 1e-4

func TestGoldenPyTorch(t *testing.T) {
	path := filepath.FromSlash(goldenFile)
	cases, err := readGolden(path)
	if err != nil {
		// Never skip: the file is committed and the test exists to use it.
		t.Fatalf("golden data: %v (regenerate with /usr/bin/python3 testdata/golden/gen.py)", err)
	}
	var nConv, nDeconv int
	for _, c := range cases {
		if c.deconv {
			nDeconv++
		} else {
			nConv++
		}
	}
	t.Logf("%d golden cases (%d Conv2d, %d ConvTranspose2d), ISA %s", len(cases), nConv, nDeconv, kernels.ISA())

	for _, block := range []int{8, 16} {
		t.Run(fmt.Sprintf("block%d", block), func(t *testing.T) {
			worst, worstCase := 0.0, ""
			for _, c := range cases {
				t.Run(c.name(), func(t *testing.T) {
					e := runGolden(t, c, block)
					if e > worst {
						worst, worstCase = e, c.name()
					}
				})
			}
			t.Logf("block %d, ISA %s: worst |got-want|/(|want|+sqrt(K)) = %.3g (%s), tolerance %g",
				block, kernels.ISA(), worst, worstCase, goldenTol)
		})
	}
}

// runGolden runs one case through the public API with channel block block,
// reports every mismatch (up to a few) with the case's parameters and the
// ISA, and returns the worst normalized error.
func runGolden(t *testing.T, c *goldenCase, block int) float64 {
	t.Helper()
	d := c.d
	n, inC, outC := int(d.N), int(d.InC), int(d.OutC)
	oh, ow := int(d.OH), int(d.OW)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%v, block %d, ISA %s: %s", c, block, kernels.ISA(), fmt.Sprintf(format, args...))
	}

	src, err := layout.FromNCHW(c.x, n, inC, int(d.H), int(d.W), block)
	if err != nil {
		fail("src: %v", err)
	}
	// Every logical output starts as NaN, so one Forward does not write
	// shows up as a mismatch.
	nan := make([]float32, len(c.want))
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	dst, err := layout.FromNCHW(nan, n, outC, oh, ow, block)
	if err != nil {
		fail("dst: %v", err)
	}
	var ep kernels.Epilogue
	ep.ReLU = c.relu
	if c.res != nil {
		if ep.Residual, err = layout.FromNCHW(c.res, n, outC, oh, ow, block); err != nil {
			fail("residual: %v", err)
		}
	}
	srcBefore := append([]float32(nil), src.Data...)

	if c.deconv {
		l, err := kernels.NewConvTranspose2D(c.spec(), c.w, c.bias, block)
		if err != nil {
			fail("NewConvTranspose2D: %v", err)
		}
		if err := l.Forward(dst, src, ep); err != nil {
			fail("Forward: %v", err)
		}
	} else {
		l, err := kernels.NewConv2D(c.spec(), c.w, c.bias, block)
		if err != nil {
			fail("NewConv2D: %v", err)
		}
		if err := l.Forward(dst, src, ep); err != nil {
			fail("Forward: %v", err)
		}
	}

	if !equalBits(src.Data, srcBefore) {
		fail("Forward modified src")
	}
	if ep.Residual != nil {
		if !equalBits(ep.Residual.NCHW(), c.res) {
			fail("Forward modified the residual")
		}
	}
	checkGoldenPadLanes(t, dst, fail)

	got := dst.NCHW()
	if len(got) != len(c.want) {
		fail("output has %d values, want %d", len(got), len(c.want))
	}
	scale := math.Sqrt(float64(c.products()))
	var worst float64
	var msgs []string
	bad := 0
	for i, w := range c.want {
		g := got[i]
		diff := math.Abs(float64(g) - float64(w))
		e := diff / (math.Abs(float64(w)) + scale)
		if math.IsNaN(float64(g)) || math.IsNaN(e) {
			e = math.Inf(1)
		}
		worst = max(worst, e)
		if e <= goldenTol {
			continue
		}
		bad++
		if len(msgs) < 5 {
			// Decode the NCHW index for the message.
			x := i % ow
			y := i / ow % oh
			ch := i / (ow * oh) % outC
			img := i / (ow * oh * outC)
			msgs = append(msgs, fmt.Sprintf("  out[n=%d][c=%d][h=%d][w=%d] = %v, want %v (|diff| %.3g > %.3g)",
				img, ch, y, x, g, w, diff, goldenTol*(math.Abs(float64(w))+scale)))
		}
	}
	if bad > 0 {
		fail("%d of %d outputs outside |got-want| <= %g*(|want|+sqrt(%d)):\n%s",
			bad, len(c.want), goldenTol, c.products(), strings.Join(msgs, "\n"))
	}
	return worst
}

// checkGoldenPadLanes fails when a channel lane past C in dst is not zero
// (DESIGN.md: "Channels past C are zero and stay zero after every kernel"),
// using the documented offset ((n*CB + c/b)*H + h)*W*b + w*b + c%b.
func checkGoldenPadLanes(t *testing.T, ten *layout.Tensor, fail func(string, ...any)) {
	t.Helper()
	b := ten.Block
	cb := (ten.C + b - 1) / b
	for n := 0; n < ten.N; n++ {
		for c := ten.C; c < cb*b; c++ {
			for p := 0; p < ten.H*ten.W; p++ {
				off := ((n*cb+c/b)*ten.H*ten.W+p)*b + c%b
				if v := ten.Data[off]; v != 0 {
					fail("padded channel %d of image %d, pixel %d is %v, want 0", c, n, p, v)
				}
			}
		}
	}
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestGoldenFileMissing checks that a missing file is an error, not an
// empty set of cases (the test must fail, never silently pass).
func TestGoldenFileMissing(t *testing.T) {
	_, err := readGolden(filepath.Join(t.TempDir(), "missing.bin.gz"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("readGolden of a missing file: err = %v, want os.ErrNotExist", err)
	}
}
