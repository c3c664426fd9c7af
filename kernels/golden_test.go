package kernels_test

// Golden tests: PyTorch's own Conv2d and ConvTranspose2d outputs, checked
// through the public API only (layout.FromNCHW, kernels.NewConv2D,
// kernels.NewConvTranspose2D, Forward with an Epilogue, Tensor.NCHW).
//
// The data is testdata/golden/cases.bin.gz, written by
// testdata/golden/gen.py (PyTorch 1.13, float32, CPU) and committed, so
// running the tests never needs PyTorch. internal/golden reads and checks
// it; its package comment documents the format. Each output is
// relu?(conv(x, w) + bias + residual). kernels/ref's tests check the
// reference kernels against the same file.

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"testing"

	"github.com/sbconv/sbconv/internal/golden"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// goldenSpec is the case's shape as a kernels.ConvSpec.
func goldenSpec(c *golden.Case) kernels.ConvSpec {
	return kernels.ConvSpec{InC: c.InC, OutC: c.OutC, KH: c.KH, KW: c.KW,
		StrideH: c.SH, StrideW: c.SW, PadH: c.PH, PadW: c.PW}
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
	cases, err := golden.Committed()
	if err != nil {
		t.Fatal(err)
	}
	nConv, nDeconv := golden.Counts(cases)
	t.Logf("%d golden cases (%d Conv2d, %d ConvTranspose2d), ISA %s", len(cases), nConv, nDeconv, kernels.ISA())

	for _, block := range []int{8, 16} {
		t.Run(fmt.Sprintf("block%d", block), func(t *testing.T) {
			worst, worstCase := 0.0, ""
			for i := range cases {
				c := &cases[i]
				t.Run(c.Name(), func(t *testing.T) {
					e := runGolden(t, c, block)
					if e > worst {
						worst, worstCase = e, c.Name()
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
func runGolden(t *testing.T, c *golden.Case, block int) float64 {
	t.Helper()
	n, inC, outC := c.N, c.InC, c.OutC
	oh, ow := c.OH, c.OW
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%v, block %d, ISA %s: %s", c, block, kernels.ISA(), fmt.Sprintf(format, args...))
	}

	src, err := layout.FromNCHW(c.X, n, inC, c.H, c.W, block)
	if err != nil {
		fail("src: %v", err)
	}
	// Every logical output starts as NaN, so one Forward does not write
	// shows up as a mismatch.
	nan := make([]float32, len(c.Want))
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	dst, err := layout.FromNCHW(nan, n, outC, oh, ow, block)
	if err != nil {
		fail("dst: %v", err)
	}
	var ep kernels.Epilogue
	ep.ReLU = c.ReLU()
	if c.Residual != nil {
		if ep.Residual, err = layout.FromNCHW(c.Residual, n, outC, oh, ow, block); err != nil {
			fail("residual: %v", err)
		}
	}
	srcBefore := append([]float32(nil), src.Data...)

	if c.Deconv() {
		l, err := kernels.NewConvTranspose2D(goldenSpec(c), c.Weight, c.Bias, block)
		if err != nil {
			fail("NewConvTranspose2D: %v", err)
		}
		if err := l.Forward(dst, src, ep); err != nil {
			fail("Forward: %v", err)
		}
	} else {
		l, err := kernels.NewConv2D(goldenSpec(c), c.Weight, c.Bias, block)
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
		if !equalBits(ep.Residual.NCHW(), c.Residual) {
			fail("Forward modified the residual")
		}
	}
	checkGoldenPadLanes(t, dst, fail)

	got := dst.NCHW()
	worst, err := c.Compare(got, goldenTol)
	if err != nil {
		fail("%v", err)
	}
	return worst
}

// checkGoldenPadLanes fails when a channel lane past C in dst is not zero
// (package layout: "The lanes of channels C..CB*b-1 are zero and every kernel keeps them zero"),
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
	_, err := golden.Load(filepath.Join(t.TempDir(), "missing.bin.gz"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("golden.Load of a missing file: err = %v, want fs.ErrNotExist", err)
	}
}
