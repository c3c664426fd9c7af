// Package golden reads the PyTorch golden convolution cases in
// testdata/golden/cases.bin.gz, for the tests that check sbconv against
// PyTorch (kernels/golden_test.go for the public API, kernels/ref's tests
// for the reference kernels everything else is checked against).
//
// The file is written by testdata/golden/gen.py (PyTorch 1.13, float32,
// CPU) and committed, so running the tests never needs PyTorch. Regenerate
// it with
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
//	         uint8    flags: bit 0 bias, bit 1 residual, bit 2 ReLU; other bits zero
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
//
// gen.py draws every input (x, weights, bias, residual) from U(-1, 1) and
// rounds it to a multiple of 2^-10, so products of two inputs are exact in
// float32 and sums of them are exact in float64; the outputs are PyTorch's
// float32 results, not rounded.
//
// [Load] checks everything it can: the magic, the version, a plausible
// count and plausible dimensions, known kind and flag bits, the stored
// output size against PyTorch's formula for the stored parameters, the
// trailer, and (by reading to the end) gzip's CRC-32 and length. Any
// error, a missing file included, is returned: callers fail on it, never
// skip.
package golden

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// RelPath is the golden file's path relative to the module root.
const RelPath = "testdata/golden/cases.bin.gz"

// Format constants.
var (
	Magic   = []byte("SBGOLD1\n")
	Trailer = []byte("SBGOLDE\n")
)

// Version is the only format version Load reads.
const Version = 1

// Kind is a case's operation.
type Kind uint8

const (
	Conv2D          Kind = 0 // torch.nn.functional.conv2d
	ConvTranspose2D Kind = 1 // torch.nn.functional.conv_transpose2d
)

func (k Kind) String() string {
	switch k {
	case Conv2D:
		return "conv"
	case ConvTranspose2D:
		return "convT"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Flags is a case's flags byte.
type Flags uint8

const (
	FlagBias     Flags = 1 << 0 // Case.Bias is present
	FlagResidual Flags = 1 << 1 // Case.Residual is present
	FlagReLU     Flags = 1 << 2 // ReLU applied last
)

// Case is one golden case: out = relu?(conv(X, Weight) + Bias + Residual).
type Case struct {
	Index int // position in the file, from 0
	Kind  Kind
	Flags Flags

	// Shape, in file order: batch, channels, input size, kernel, stride,
	// padding on each side, output_padding (0 for Conv2D) and output size.
	N, InC, OutC int
	H, W         int
	KH, KW       int
	SH, SW       int
	PH, PW       int
	OPH, OPW     int
	OH, OW       int

	X        []float32 // N*InC*H*W, NCHW
	Weight   []float32 // OIHW (Conv2D) or IOHW (ConvTranspose2D)
	Bias     []float32 // OutC; nil unless FlagBias
	Residual []float32 // N*OutC*OH*OW, NCHW; nil unless FlagResidual
	Want     []float32 // N*OutC*OH*OW, NCHW: PyTorch's output
}

// Committed loads the committed golden file (Path, then Load); an error
// says how to regenerate it. Tests never skip on one: the file is
// committed and the tests exist to use it.
func Committed() ([]Case, error) {
	path, err := Path()
	if err != nil {
		return nil, fmt.Errorf("golden data: %w", err)
	}
	cases, err := Load(path)
	if err != nil {
		return nil, fmt.Errorf("golden data: %w (regenerate with /usr/bin/python3 testdata/golden/gen.py)", err)
	}
	return cases, nil
}

// Counts returns how many of cases are Conv2d and ConvTranspose2d.
func Counts(cases []Case) (conv, deconv int) {
	for i := range cases {
		if cases[i].Deconv() {
			deconv++
		} else {
			conv++
		}
	}
	return conv, deconv
}

// Compare measures got, an NCHW output, against Want: it returns the
// worst normalized error |got-want|/(|want|+sqrt(Products())) (+Inf for a
// NaN) and, if any output's exceeds tol, an error naming the count and the
// first five by their NCHW coordinates.
func (c *Case) Compare(got []float32, tol float64) (worst float64, err error) {
	if len(got) != len(c.Want) {
		return math.Inf(1), fmt.Errorf("output has %d values, want %d", len(got), len(c.Want))
	}
	scale := math.Sqrt(float64(c.Products()))
	var msgs []string
	bad := 0
	for i, w := range c.Want {
		g := got[i]
		diff := math.Abs(float64(g) - float64(w))
		e := diff / (math.Abs(float64(w)) + scale)
		if math.IsNaN(float64(g)) || math.IsNaN(e) {
			e = math.Inf(1)
		}
		worst = max(worst, e)
		if e <= tol {
			continue
		}
		bad++
		if len(msgs) < 5 {
			x, y := i%c.OW, i/c.OW%c.OH
			ch, img := i/(c.OW*c.OH)%c.OutC, i/(c.OW*c.OH*c.OutC)
			msgs = append(msgs, fmt.Sprintf("  out[n=%d][c=%d][h=%d][w=%d] = %v, want %v (|diff| %.3g > %.3g)",
				img, ch, y, x, g, w, diff, tol*(math.Abs(float64(w))+scale)))
		}
	}
	if bad > 0 {
		return worst, fmt.Errorf("%d of %d outputs outside |got-want| <= %g*(|want|+sqrt(%d)):\n%s",
			bad, len(c.Want), tol, c.Products(), strings.Join(msgs, "\n"))
	}
	return worst, nil
}

// Deconv reports whether the case is a ConvTranspose2d.
func (c *Case) Deconv() bool { return c.Kind == ConvTranspose2D }

// ReLU reports whether ReLU is applied last.
func (c *Case) ReLU() bool { return c.Flags&FlagReLU != 0 }

// Products is the most multiply-adds summed into one output value: K in
// the tests' tolerances, which scale with sqrt(K).
func (c *Case) Products() int {
	if c.Deconv() {
		ceil := func(a, b int) int { return (a + b - 1) / b }
		return c.InC * ceil(c.KH, c.SH) * ceil(c.KW, c.SW)
	}
	return c.InC * c.KH * c.KW
}

// Name is a subtest name: short, unique and enough to find the case.
func (c *Case) Name() string {
	return fmt.Sprintf("%03d_%s_n%d_c%dto%d_%dx%dto%dx%d_k%dx%d_s%dx%d_p%dx%d",
		c.Index, c.Kind, c.N, c.InC, c.OutC, c.H, c.W, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.PH, c.PW)
}

// String gives every parameter of the case, for failure messages.
func (c *Case) String() string {
	s := fmt.Sprintf("case %d: %s N=%d InC=%d OutC=%d in %dx%d out %dx%d kernel %dx%d stride %dx%d pad %dx%d",
		c.Index, c.Kind, c.N, c.InC, c.OutC, c.H, c.W, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.PH, c.PW)
	if c.Deconv() {
		s += fmt.Sprintf(" output_padding %dx%d", c.OPH, c.OPW)
	}
	return s + fmt.Sprintf(" bias=%v residual=%v relu=%v", c.Bias != nil, c.Residual != nil, c.ReLU())
}

// Path returns the path of the golden file, RelPath under the module root,
// relative to the current directory (go test runs a package's tests in
// that package's directory, so this is relative to the calling package).
// The module root is the nearest directory at or above the current one
// that holds a go.mod.
func Path() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	rel := "."
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(rel, filepath.FromSlash(RelPath)), nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("golden: no go.mod in %s or any directory above it", wd)
		}
		dir, rel = parent, filepath.Join(rel, "..")
	}
}

// Load reads and checks the whole file at path. Any error, including a
// missing file (errors.Is(err, fs.ErrNotExist)), is returned.
func Load(path string) ([]Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cases, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cases, nil
}

// Read reads and checks a whole gzip-compressed golden file from r, to its
// end.
func Read(r io.Reader) ([]Case, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(zr)

	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(br, magic); err != nil || !bytes.Equal(magic, Magic) {
		return nil, fmt.Errorf("bad magic %q (%v)", magic, err)
	}
	var hdr struct{ Version, Count uint32 }
	if err := binary.Read(br, binary.LittleEndian, &hdr); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if hdr.Version != Version {
		return nil, fmt.Errorf("format version %d, want %d", hdr.Version, Version)
	}
	if hdr.Count == 0 || hdr.Count > 100000 {
		return nil, fmt.Errorf("implausible case count %d", hdr.Count)
	}

	cases := make([]Case, 0, hdr.Count)
	for i := 0; i < int(hdr.Count); i++ {
		c, err := readCase(br, i)
		if err != nil {
			return nil, fmt.Errorf("case %d: %w", i, err)
		}
		cases = append(cases, c)
	}
	trailer := make([]byte, len(Trailer))
	if _, err := io.ReadFull(br, trailer); err != nil || !bytes.Equal(trailer, Trailer) {
		return nil, fmt.Errorf("bad trailer %q after %d cases (%v)", trailer, len(cases), err)
	}
	// Reading to EOF makes gzip verify its CRC-32 and length.
	if n, err := io.Copy(io.Discard, br); err != nil || n != 0 {
		return nil, fmt.Errorf("%d bytes after the trailer (%v)", n, err)
	}
	return cases, nil
}

func readCase(r io.Reader, index int) (Case, error) {
	c := Case{Index: index}
	var kf [2]uint8
	if err := binary.Read(r, binary.LittleEndian, &kf); err != nil {
		return c, err
	}
	c.Kind, c.Flags = Kind(kf[0]), Flags(kf[1])
	if c.Kind != Conv2D && c.Kind != ConvTranspose2D {
		return c, fmt.Errorf("kind %d", kf[0])
	}
	if c.Flags&^(FlagBias|FlagResidual|FlagReLU) != 0 {
		return c, fmt.Errorf("flags %#x", kf[1])
	}
	var d [15]int32
	if err := binary.Read(r, binary.LittleEndian, &d); err != nil {
		return c, err
	}
	for i, p := range []*int{&c.N, &c.InC, &c.OutC, &c.H, &c.W, &c.KH, &c.KW, &c.SH, &c.SW,
		&c.PH, &c.PW, &c.OPH, &c.OPW, &c.OH, &c.OW} {
		*p = int(d[i])
	}
	for _, v := range []int{c.N, c.InC, c.OutC, c.H, c.W, c.KH, c.KW, c.SH, c.SW, c.OH, c.OW} {
		if v < 1 || v > 4096 {
			return c, fmt.Errorf("implausible dimension %d in %s", v, c.dims())
		}
	}
	for _, v := range []int{c.PH, c.PW, c.OPH, c.OPW} {
		if v < 0 || v > 4096 {
			return c, fmt.Errorf("implausible padding %d in %s", v, c.dims())
		}
	}
	// The stored output size must be PyTorch's for the stored parameters.
	var oh, ow int
	if c.Deconv() {
		oh = (c.H-1)*c.SH - 2*c.PH + c.KH + c.OPH
		ow = (c.W-1)*c.SW - 2*c.PW + c.KW + c.OPW
	} else {
		if c.OPH != 0 || c.OPW != 0 {
			return c, fmt.Errorf("output_padding %dx%d on a Conv2d", c.OPH, c.OPW)
		}
		oh = (c.H+2*c.PH-c.KH)/c.SH + 1
		ow = (c.W+2*c.PW-c.KW)/c.SW + 1
	}
	if oh != c.OH || ow != c.OW {
		return c, fmt.Errorf("output %dx%d, but the parameters give %dx%d", c.OH, c.OW, oh, ow)
	}

	var err error
	read := func(dims ...int) []float32 {
		if err != nil {
			return nil
		}
		var s []float32
		s, err = readFloats(r, dims...)
		return s
	}
	c.X = read(c.N, c.InC, c.H, c.W)
	c.Weight = read(c.OutC, c.InC, c.KH, c.KW)
	if c.Flags&FlagBias != 0 {
		c.Bias = read(c.OutC)
	}
	if c.Flags&FlagResidual != 0 {
		c.Residual = read(c.N, c.OutC, c.OH, c.OW)
	}
	c.Want = read(c.N, c.OutC, c.OH, c.OW)
	return c, err
}

// dims formats the shape header for error messages.
func (c *Case) dims() string {
	return fmt.Sprintf("{N:%d InC:%d OutC:%d H:%d W:%d KH:%d KW:%d SH:%d SW:%d PH:%d PW:%d OPH:%d OPW:%d OH:%d OW:%d}",
		c.N, c.InC, c.OutC, c.H, c.W, c.KH, c.KW, c.SH, c.SW, c.PH, c.PW, c.OPH, c.OPW, c.OH, c.OW)
}

// readFloats reads an array of the product of dims float32s. Each dim is
// in [1, 4096] (checked), so the product is at most 2^48: computed in
// int64, it cannot overflow, and the limit is checked before it is
// converted to int (32 bits on some platforms).
func readFloats(r io.Reader, dims ...int) ([]float32, error) {
	size := int64(1)
	for _, d := range dims {
		size *= int64(d)
	}
	if size > 1<<26 {
		return nil, fmt.Errorf("implausible array of %d floats", size)
	}
	n := int(size)
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
