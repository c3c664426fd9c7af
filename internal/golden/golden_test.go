package golden

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawCase is one case as written to the file.
type rawCase struct {
	kind, flags uint8
	dims        [15]int32 // N, InC, OutC, H, W, KH, KW, SH, SW, PH, PW, OPH, OPW, OH, OW
	floats      [][]float32
}

func (c rawCase) bytes() []byte {
	var b bytes.Buffer
	b.Write([]byte{c.kind, c.flags})
	binary.Write(&b, binary.LittleEndian, c.dims)
	for _, f := range c.floats {
		binary.Write(&b, binary.LittleEndian, f)
	}
	return b.Bytes()
}

// file returns the uncompressed file: header, cases, trailer.
func file(cases ...rawCase) []byte {
	var b bytes.Buffer
	b.Write(Magic)
	binary.Write(&b, binary.LittleEndian, [2]uint32{Version, uint32(len(cases))})
	for _, c := range cases {
		b.Write(c.bytes())
	}
	b.Write(Trailer)
	return b.Bytes()
}

func gz(raw []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(raw)
	w.Close()
	return b.Bytes()
}

func fill(n int, start float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = start + float32(i)
	}
	return s
}

// convCase: Conv2d, N=1, 2 -> 3 channels, 4x5 input, 3x3 kernel, stride
// 2x1, padding 1x0: output (4+2-3)/2+1 = 2 by (5-3)/1+1 = 3; bias,
// residual and ReLU.
func convCase() rawCase {
	return rawCase{kind: 0, flags: 7,
		dims: [15]int32{1, 2, 3, 4, 5, 3, 3, 2, 1, 1, 0, 0, 0, 2, 3},
		floats: [][]float32{fill(1*2*4*5, 0), fill(3*2*3*3, 100), fill(3, 200),
			fill(1*3*2*3, 300), fill(1*3*2*3, 400)}}
}

// deconvCase: ConvTranspose2d, N=2, 3 -> 1 channels, 2x3 input, 3x2
// kernel, stride 2x3, padding 1x0, output_padding 1x2: output
// (2-1)*2-2+3+1 = 4 by (3-1)*3-0+2+2 = 10; no bias, no residual, no ReLU.
func deconvCase() rawCase {
	return rawCase{kind: 1, flags: 0,
		dims:   [15]int32{2, 3, 1, 2, 3, 3, 2, 2, 3, 1, 0, 1, 2, 4, 10},
		floats: [][]float32{fill(2*3*2*3, 0), fill(1*3*3*2, 50), fill(2*1*4*10, 500)}}
}

func TestReadRoundTrip(t *testing.T) {
	cases, err := Read(bytes.NewReader(gz(file(convCase(), deconvCase()))))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 2 {
		t.Fatalf("%d cases, want 2", len(cases))
	}
	c, d := &cases[0], &cases[1]
	if c.Index != 0 || c.Kind != Conv2D || c.Flags != 7 || !c.ReLU() || c.Deconv() ||
		c.N != 1 || c.InC != 2 || c.OutC != 3 || c.H != 4 || c.W != 5 || c.KH != 3 || c.KW != 3 ||
		c.SH != 2 || c.SW != 1 || c.PH != 1 || c.PW != 0 || c.OPH != 0 || c.OPW != 0 || c.OH != 2 || c.OW != 3 {
		t.Errorf("conv case: %v, flags %d", c, c.Flags)
	}
	for _, a := range []struct {
		name string
		got  []float32
		n    int
		v0   float32
	}{{"X", c.X, 40, 0}, {"Weight", c.Weight, 54, 100}, {"Bias", c.Bias, 3, 200},
		{"Residual", c.Residual, 18, 300}, {"Want", c.Want, 18, 400}} {
		if len(a.got) != a.n || a.got[0] != a.v0 || a.got[a.n-1] != a.v0+float32(a.n-1) {
			t.Errorf("conv case %s: %d values %v.., want %d from %v", a.name, len(a.got), a.got[:min(len(a.got), 3)], a.n, a.v0)
		}
	}
	if c.Products() != 2*3*3 {
		t.Errorf("conv Products() = %d, want 18", c.Products())
	}
	if d.Index != 1 || d.Kind != ConvTranspose2D || !d.Deconv() || d.ReLU() || d.Bias != nil || d.Residual != nil ||
		d.N != 2 || d.InC != 3 || d.OutC != 1 || d.OPH != 1 || d.OPW != 2 || d.OH != 4 || d.OW != 10 ||
		len(d.X) != 36 || len(d.Weight) != 18 || d.Weight[0] != 50 || len(d.Want) != 80 || d.Want[79] != 579 {
		t.Errorf("deconv case: %v", d)
	}
	// ceil(3/2)*ceil(2/3) = 2 taps per input channel reach an output.
	if d.Products() != 3*2*1 {
		t.Errorf("deconv Products() = %d, want 6", d.Products())
	}
	if got, want := d.Name(), "001_convT_n2_c3to1_2x3to4x10_k3x2_s2x3_p1x0"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if s := d.String(); !strings.Contains(s, "output_padding 1x2") || !strings.Contains(s, "bias=false residual=false relu=false") {
		t.Errorf("String() = %q", s)
	}
}

// TestReadRejects checks every check Read makes: each corruption of a
// valid file must be an error, with a message that says what is wrong.
func TestReadRejects(t *testing.T) {
	good := file(convCase(), deconvCase())
	caseAt := len(Magic) + 8 // offset of case 0
	dimsAt := caseAt + 2     // its dims
	dim := func(i int) int { return dimsAt + 4*i }
	set32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b }
	}
	for _, tc := range []struct {
		name, want string
		edit       func([]byte) []byte // on the uncompressed file
	}{
		{"magic", "bad magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"short", "bad magic", func(b []byte) []byte { return b[:4] }},
		{"version", "format version 2", set32(len(Magic), 2)},
		{"count 0", "case count 0", set32(len(Magic)+4, 0)},
		{"count huge", "case count", set32(len(Magic)+4, 1<<30)},
		{"count too high", "case 2", set32(len(Magic)+4, 3)},
		{"count too low", "bad trailer", set32(len(Magic)+4, 1)},
		{"kind", "kind 2", func(b []byte) []byte { b[caseAt] = 2; return b }},
		{"flags", "flags 0xf", func(b []byte) []byte { b[caseAt+1] = 15; return b }},
		{"dimension 0", "implausible dimension 0", set32(dim(1), 0)},
		{"dimension huge", "implausible dimension 5000", set32(dim(7), 5000)},
		{"negative padding", "implausible padding -1", set32(dim(9), math.MaxUint32)},
		{"output_padding on conv", "output_padding 0x1 on a Conv2d", set32(dim(12), 1)},
		{"conv OH", "output 3x3, but the parameters give 2x3", set32(dim(13), 3)},
		{"conv OW", "output 2x4, but the parameters give 2x3", set32(dim(14), 4)},
		{"deconv OH", "case 1: output 5x10, but the parameters give 4x10",
			set32(len(file(convCase()))-len(Trailer)+2+4*13, 5)},
		{"truncated", "case 1: unexpected EOF", func(b []byte) []byte {
			return b[:len(b)-len(Trailer)-2]
		}},
		{"trailer", "bad trailer", func(b []byte) []byte { b[len(b)-2] = 'X'; return b }},
		{"no trailer", "bad trailer", func(b []byte) []byte { return b[:len(b)-len(Trailer)] }},
		{"after trailer", "1 bytes after the trailer", func(b []byte) []byte { return append(b, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.edit(append([]byte(nil), good...))
			_, err := Read(bytes.NewReader(gz(raw)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestReadChecksum checks that Read reads to the end, so gzip verifies its
// CRC-32 and length: a file whose data is intact but whose checksum is not
// must be an error.
func TestReadChecksum(t *testing.T) {
	z := gz(file(convCase(), deconvCase()))
	for _, tc := range []struct {
		name string
		off  int // into the gzip footer: CRC-32, then length
	}{{"crc", 8}, {"length", 4}} {
		t.Run(tc.name, func(t *testing.T) {
			bad := append([]byte(nil), z...)
			bad[len(bad)-tc.off] ^= 1
			if _, err := Read(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), gzip.ErrChecksum.Error()) {
				t.Errorf("err = %v, want %v", err, gzip.ErrChecksum)
			}
		})
	}
	if _, err := Read(bytes.NewReader(file(convCase()))); err == nil {
		t.Error("uncompressed file: no error")
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.bin.gz"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadErrorNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.bin.gz")
	if err := os.WriteFile(path, gz([]byte("nonsense")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.HasPrefix(err.Error(), path+": bad magic") {
		t.Fatalf("err = %v, want %s: bad magic ...", err, path)
	}
}

func TestPath(t *testing.T) {
	// Here, in internal/golden, the module root is two levels up.
	got, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.FromSlash("../../testdata/golden/cases.bin.gz"); got != want {
		t.Errorf("Path() = %q, want %q", got, want)
	}

	// In a module of our own, from a directory below its root and from
	// the root itself.
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{
		sub:  "../../../testdata/golden/cases.bin.gz",
		root: "testdata/golden/cases.bin.gz",
	} {
		t.Chdir(dir)
		got, err := Path()
		if err != nil {
			t.Fatal(err)
		}
		if got != filepath.FromSlash(want) {
			t.Errorf("Path() in %s = %q, want %q", dir, got, want)
		}
	}
}

// TestCommittedFile loads the real file and checks what the package
// comment says of it: a few dozen cases of each kind, and every input a
// multiple of 2^-10 in [-1, 1] (so sums of products are exact in float64,
// which kernels/ref's tolerance argument uses).
func TestCommittedFile(t *testing.T) {
	path, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	cases, err := Load(path)
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 testdata/golden/gen.py)", err)
	}
	var kinds [2]int
	for i := range cases {
		c := &cases[i]
		kinds[c.Kind]++
		if c.Index != i {
			t.Fatalf("case %d has Index %d", i, c.Index)
		}
		for _, in := range [][]float32{c.X, c.Weight, c.Bias, c.Residual} {
			for _, v := range in {
				if q := float64(v) * 1024; q != math.Trunc(q) || math.Abs(float64(v)) > 1 {
					t.Fatalf("%v: input %v is not a multiple of 2^-10 in [-1, 1]", c, v)
				}
			}
		}
	}
	t.Logf("%s: %d cases (%d Conv2d, %d ConvTranspose2d)", path, len(cases), kinds[0], kinds[1])
	if conv, deconv := Counts(cases); conv != kinds[0] || deconv != kinds[1] {
		t.Errorf("Counts: %d, %d; want %d, %d", conv, deconv, kinds[0], kinds[1])
	}
	if again, err := Committed(); err != nil || len(again) != len(cases) {
		t.Errorf("Committed: %d cases, %v; want %d", len(again), err, len(cases))
	}
	if kinds[0] < 10 || kinds[1] < 10 {
		t.Errorf("%d Conv2d and %d ConvTranspose2d cases; want at least 10 of each", kinds[0], kinds[1])
	}
}

// TestCompare: equal outputs pass with no error, an output past the
// tolerance is named by its NCHW coordinates, a NaN is an infinite error,
// and a short output is an error.
func TestCompare(t *testing.T) {
	c := &Case{Kind: Conv2D, N: 1, InC: 1, OutC: 2, KH: 1, KW: 1, OH: 2, OW: 3, Want: fill(12, 0)}
	got := append([]float32(nil), c.Want...)
	if worst, err := c.Compare(got, 1e-5); err != nil || worst != 0 {
		t.Fatalf("equal: worst %v, err %v", worst, err)
	}
	got[10] += 0.5 // channel 1, row 1, column 1
	worst, err := c.Compare(got, 1e-5)
	if err == nil || !strings.Contains(err.Error(), "out[n=0][c=1][h=1][w=1]") || worst <= 1e-5 {
		t.Fatalf("one off: worst %v, err %v", worst, err)
	}
	got[10] = float32(math.NaN())
	if worst, err := c.Compare(got, 1e-5); err == nil || !math.IsInf(worst, 1) {
		t.Fatalf("NaN: worst %v, err %v", worst, err)
	}
	if _, err := c.Compare(got[:5], 1e-5); err == nil {
		t.Fatal("a short output passed")
	}
}
