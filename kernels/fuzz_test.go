package kernels

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/sbconv/sbconv/kernels/ref"
	"github.com/sbconv/sbconv/layout"
)

// Fuzz targets for Conv2D and ConvTranspose2D. The fuzzer's bytes decode
// into one call: a spec, weights, bias, block, tensors, an epilogue, a
// thread count and an instruction set, plus at most one deliberate defect
// (a wrong block, a short Data, aliasing, ...). An independent legality
// predicate (fzCtorProblem, fzForwardProblem) decides whether the call is
// legal; the constructor and Forward must return an error exactly when it
// is not, must never panic, and a legal call must match package ref with
// guards around dst intact and src and the residual unchanged. Shapes stay
// small so an exec takes well under a millisecond to a few.
//
//	go test -run XXX -fuzz FuzzConv2D -fuzztime 60s ./kernels/
//	go test -run XXX -fuzz FuzzConvTranspose2D -fuzztime 60s ./kernels/

// fzArgs is one decoded fuzz input. Each field is one byte of the input,
// in field order (missing bytes take fzDefault's).
type fzArgs struct {
	N, InC, OutC, H, W     int
	KH, KW, SH, SW, PH, PW int
	// DH, DW: Conv2D: dst's size minus PyTorch's; ConvTranspose2D: the
	// output_padding added to the smallest output (legal: 0..stride-1).
	DH, DW  int
	Block   int
	Flags   int // fzBias | fzRes | fzReLU
	Bad     int // one of the fzBad defects, 0 for none
	Threads int // 1..3
	ISA     int // index into the usable sets, modulo their number
}

const (
	fzBias = 1 << iota
	fzRes
	fzReLU
)

// Defects applied on top of the decoded shape. Several are legal (dst next
// to src, the residual being src); the predicate judges the result, never
// the defect's name.
const (
	fzNone = iota
	fzSrcBlock
	fzDstBlock
	fzResBlock
	fzSrcShort
	fzDstLong
	fzResShort
	fzWeightsLong
	fzWeightsShort
	fzBiasLong
	fzBiasEmpty
	fzNilSrc
	fzNilDst
	fzNilLayer
	fzSrcC
	fzDstC
	fzDstN
	fzSrcN
	fzResH
	fzResC
	fzDstIsSrc
	fzDstOverlapsSrc
	fzDstAfterSrc
	fzResIsDst
	fzResOverlapsDst
	fzResIsSrc
	fzNumBad
)

// fzRange decodes one byte: values in [lo, hi] (as int8) are kept, so the
// fuzzer reaches every boundary; 127 and -128 stand for the extremes at127
// and atMin; anything else folds into the common range [foldLo, foldHi].
type fzRange struct {
	lo, hi         int
	foldLo, foldHi int
	at127, atMin   int
}

func (r fzRange) decode(b byte) int {
	switch v := int(int8(b)); {
	case v == 127:
		return r.at127
	case v == -128:
		return r.atMin
	case r.lo <= v && v <= r.hi:
		return v
	default:
		n := r.foldHi - r.foldLo + 1
		return r.foldLo + ((v%n)+n)%n
	}
}

func (r fzRange) encode(v int) byte {
	switch {
	case v == r.at127:
		return 127
	case v == r.atMin:
		return 0x80
	case r.lo <= v && v <= r.hi:
		return byte(int8(v))
	}
	panic(fmt.Sprintf("fuzz seed value %d outside [%d, %d]", v, r.lo, r.hi))
}

var (
	fzBatch   = fzRange{-1, 3, 1, 2, layout.MaxElements + 1, wrapN}
	fzChan    = fzRange{-1, 40, 1, 24, MaxChannels + 1, MaxChannels}
	fzSize    = fzRange{-1, 14, 1, 10, layout.MaxElements + 1, math.MaxInt}
	fzKernel  = fzRange{-1, MaxKernel + 1, 1, 5, math.MaxInt, math.MinInt}
	fzStride  = fzRange{-1, MaxStride + 1, 1, 4, math.MaxInt, math.MinInt}
	fzPad     = fzRange{-1, MaxPad + 1, 0, 3, math.MaxInt, math.MinInt}
	fzDelta   = fzRange{-2, 17, 0, 0, math.MaxInt / 2, math.MinInt / 2}
	fzBlocks  = []int{0, 1, 4, 8, 16, 24, 32, -8}
	fzDefault = fzArgs{N: 1, InC: 3, OutC: 5, H: 6, W: 7, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, Block: 8, Threads: 1}
)

const fzFields = 19

func (a fzArgs) bytes() []byte {
	block := byte(int8(a.Block))
	if !fzIn(a.Block, fzBlocks) {
		panic(fmt.Sprintf("fuzz seed block %d", a.Block))
	}
	return []byte{
		fzBatch.encode(a.N), fzChan.encode(a.InC), fzChan.encode(a.OutC), fzSize.encode(a.H), fzSize.encode(a.W),
		fzKernel.encode(a.KH), fzKernel.encode(a.KW), fzStride.encode(a.SH), fzStride.encode(a.SW),
		fzPad.encode(a.PH), fzPad.encode(a.PW), fzDelta.encode(a.DH), fzDelta.encode(a.DW),
		block, byte(a.Flags), byte(a.Bad), byte(a.Threads - 1), byte(a.ISA),
		0, // spare: keeps old corpora decodable when a field is added
	}
}

func fzIn(v int, set []int) bool {
	for _, x := range set {
		if x == v {
			return true
		}
	}
	return false
}

// fzDecode turns fuzz bytes into a call. Channel counts shrink until the
// reference computation is cheap; the predicate judges the shrunk values.
func fzDecode(in []byte, deconv bool) fzArgs {
	def := fzDefault.bytes()
	b := func(i int) byte {
		if i < len(in) {
			return in[i]
		}
		return def[i]
	}
	a := fzArgs{
		N: fzBatch.decode(b(0)), InC: fzChan.decode(b(1)), OutC: fzChan.decode(b(2)),
		H: fzSize.decode(b(3)), W: fzSize.decode(b(4)),
		KH: fzKernel.decode(b(5)), KW: fzKernel.decode(b(6)),
		SH: fzStride.decode(b(7)), SW: fzStride.decode(b(8)),
		PH: fzPad.decode(b(9)), PW: fzPad.decode(b(10)),
		DH: fzDelta.decode(b(11)), DW: fzDelta.decode(b(12)),
		Flags: int(b(14)) & 7, Threads: 1 + int(b(16))%3, ISA: int(b(17)),
	}
	if v := int(int8(b(13))); fzIn(v, fzBlocks) {
		a.Block = v
	} else {
		a.Block = 8 << (v & 1)
	}
	if v := int(b(15)); v < fzNumBad {
		a.Bad = v
	}
	// A transposed convolution's output_padding folds into 0..stride-1.
	if deconv {
		if v := int(int8(b(11))); (v < fzDelta.lo || v > fzDelta.hi) && v != 127 && v != -128 && a.SH >= 1 && a.SH <= MaxStride {
			a.DH = ((v % a.SH) + a.SH) % a.SH
		}
		if v := int(int8(b(12))); (v < fzDelta.lo || v > fzDelta.hi) && v != 127 && v != -128 && a.SW >= 1 && a.SW <= MaxStride {
			a.DW = ((v % a.SW) + a.SW) % a.SW
		}
	}
	small := func(xs ...int) bool {
		for _, x := range xs {
			if x < -2 || x > 64 {
				return false
			}
		}
		return true
	}
	if small(a.N, a.InC, a.OutC, a.H, a.W, a.KH, a.KW, a.SH, a.SW, a.PH, a.PW) {
		pos := func(x int) int { return max(x, 1) }
		for {
			var work int
			if deconv {
				work = pos(a.N) * pos(a.InC) * pos(a.OutC) * pos(a.H) * pos(a.W) * pos(a.KH) * pos(a.KW)
			} else {
				oh := pos((a.H+2*a.PH-a.KH)/pos(a.SH) + 1)
				ow := pos((a.W+2*a.PW-a.KW)/pos(a.SW) + 1)
				work = pos(a.N) * pos(a.InC) * pos(a.OutC) * oh * ow * pos(a.KH) * pos(a.KW)
			}
			if work <= 1<<17 {
				break
			}
			switch {
			case a.InC >= a.OutC && a.InC > 1:
				a.InC = (a.InC + 1) / 2
			case a.OutC > 1:
				a.OutC = (a.OutC + 1) / 2
			case a.N > 1:
				a.N = 1
			default:
				return a
			}
		}
	}
	return a
}

// fzCall is one call built from fzArgs.
type fzCall struct {
	spec          ConvSpec
	block         int
	weights, bias []float32
	nilLayer      bool
	dst, src, res *layout.Tensor
	relu          bool
	guards        func() // checks the guards around dst; nil when dst has none
}

// fzTensor returns a tensor of the given shape filled from r (padded lanes
// zero), or, when the shape is illegal or too large for a test, a Tensor
// literal claiming the shape with 8 floats of Data.
func fzTensor(r *rand.Rand, n, c, h, w, block int) *layout.Tensor {
	size, err := layout.Size(n, c, h, w, block)
	if err != nil || size > 1<<20 {
		return &layout.Tensor{N: n, C: c, H: h, W: w, Block: block, Data: make([]float32, 8)}
	}
	x, err := layout.FromNCHW(randSlice(r, n*c*h*w), n, c, h, w, block)
	if err != nil {
		panic(err) // Size accepted the shape
	}
	return x
}

// fzCount returns n if 1 <= n <= 1<<20 (an array a test can allocate),
// else 1: a length that is wrong for any count that large.
func fzCount(n int) int {
	if n >= 1 && n <= 1<<20 {
		return n
	}
	return 1
}

// fzMul returns the product of xs when every factor is in 1..1<<20 and the
// product is at most 1<<20, else -1.
func fzMul(xs ...int) int {
	p := 1
	for _, x := range xs {
		if x < 1 || x > 1<<20 {
			return -1
		}
		p *= x
		if p > 1<<20 {
			return -1
		}
	}
	return p
}

func fzOtherBlock(b int) int {
	if b == 8 {
		return 16
	}
	return 8
}

func fzBuild(t *testing.T, a fzArgs, seed uint64, deconv bool) *fzCall {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := &fzCall{
		spec: ConvSpec{InC: a.InC, OutC: a.OutC, KH: a.KH, KW: a.KW,
			StrideH: a.SH, StrideW: a.SW, PadH: a.PH, PadW: a.PW},
		block:    a.Block,
		nilLayer: a.Bad == fzNilLayer,
		relu:     a.Flags&fzReLU != 0,
	}
	nw := fzCount(fzMul(a.InC, a.OutC, a.KH, a.KW))
	switch a.Bad {
	case fzWeightsLong:
		nw++
	case fzWeightsShort:
		nw--
	}
	c.weights = randSlice(r, nw)
	if a.Flags&fzBias != 0 || a.Bad == fzBiasLong || a.Bad == fzBiasEmpty {
		nb := fzCount(a.OutC)
		switch a.Bad {
		case fzBiasLong:
			nb++
		case fzBiasEmpty:
			nb = 0
		}
		c.bias = randSlice(r, nb) // non-nil, even when empty
	}

	// dst's size: PyTorch's for the input, plus the fuzzed delta.
	oh, ow := 1, 1
	if small := func(xs ...int) bool {
		for _, x := range xs {
			if x < -1<<20 || x > 1<<20 {
				return false
			}
		}
		return true
	}; small(a.H, a.W, a.KH, a.KW, a.PH, a.PW, a.SH, a.SW) && a.SH > 0 && a.SW > 0 {
		if deconv {
			oh, ow = (a.H-1)*a.SH-2*a.PH+a.KH, (a.W-1)*a.SW-2*a.PW+a.KW
		} else if a.H+2*a.PH >= a.KH && a.W+2*a.PW >= a.KW {
			oh, ow = (a.H+2*a.PH-a.KH)/a.SH+1, (a.W+2*a.PW-a.KW)/a.SW+1
		}
	}
	oh, ow = max(oh, 1)+a.DH, max(ow, 1)+a.DW

	srcN, srcC, srcBlock := a.N, a.InC, a.Block
	dstN, dstC, dstBlock := a.N, a.OutC, a.Block
	resH, resC, resBlock := oh, a.OutC, a.Block
	switch a.Bad {
	case fzSrcBlock:
		srcBlock = fzOtherBlock(a.Block)
	case fzDstBlock:
		dstBlock = fzOtherBlock(a.Block)
	case fzResBlock:
		resBlock = fzOtherBlock(a.Block)
	case fzSrcC:
		srcC++
	case fzDstC:
		dstC++
	case fzDstN:
		dstN++
	case fzSrcN:
		srcN++
	case fzResH:
		resH++
	case fzResC:
		resC--
	}
	c.src = fzTensor(r, srcN, srcC, a.H, a.W, srcBlock)
	if size, err := layout.Size(dstN, dstC, oh, ow, dstBlock); err == nil && size <= 1<<20 {
		c.dst, c.guards = guarded(t, dstN, dstC, oh, ow, dstBlock)
		for i := range c.dst.Data {
			c.dst.Data[i] = float32(math.NaN()) // every value must be written
		}
	} else {
		c.dst = fzTensor(r, dstN, dstC, oh, ow, dstBlock)
	}
	switch a.Bad {
	case fzResBlock, fzResShort, fzResH, fzResC, fzResIsDst, fzResOverlapsDst, fzResIsSrc:
		c.res = fzTensor(r, dstN, resC, resH, ow, resBlock)
	default:
		if a.Flags&fzRes != 0 {
			c.res = fzTensor(r, dstN, resC, resH, ow, resBlock)
		}
	}

	switch a.Bad {
	case fzSrcShort:
		c.src.Data = c.src.Data[:len(c.src.Data)-1]
	case fzDstLong:
		c.dst.Data = append(c.dst.Data[:len(c.dst.Data):len(c.dst.Data)], 0)
		c.guards = nil
	case fzResShort:
		c.res.Data = c.res.Data[:len(c.res.Data)-1]
	case fzNilSrc:
		c.src = nil
	case fzNilDst:
		c.dst, c.guards = nil, nil
	case fzDstIsSrc:
		shareArray(&c.src, &c.dst, 0, 0)
		c.guards = nil
	case fzDstOverlapsSrc:
		shareArray(&c.src, &c.dst, 0, len(c.src.Data)-1)
		c.guards = nil
	case fzDstAfterSrc:
		shareArray(&c.src, &c.dst, 0, len(c.src.Data))
		c.guards = nil
	case fzResIsDst:
		c.res = c.dst
	case fzResOverlapsDst:
		shareArray(&c.dst, &c.res, 0, len(c.dst.Data)-1)
		c.guards = nil
	case fzResIsSrc:
		// The identity shortcut: legal when src has dst's shape.
		c.res = c.src
	}
	return c
}

// fzTensorProblem says what makes x an illegal tensor, or "".
func fzTensorProblem(x *layout.Tensor) string {
	if x == nil {
		return "nil"
	}
	if x.Block != 8 && x.Block != 16 {
		return fmt.Sprintf("block %d", x.Block)
	}
	if x.N <= 0 || x.C <= 0 || x.H <= 0 || x.W <= 0 {
		return fmt.Sprintf("shape %dx%dx%dx%d", x.N, x.C, x.H, x.W)
	}
	b := big.NewInt(int64(x.Block))
	cp := new(big.Int).Add(big.NewInt(int64(x.C)), new(big.Int).Sub(b, big.NewInt(1)))
	cp.Div(cp, b).Mul(cp, b)
	size := new(big.Int).Mul(big.NewInt(int64(x.N)), cp)
	size.Mul(size, big.NewInt(int64(x.H))).Mul(size, big.NewInt(int64(x.W)))
	if size.Cmp(big.NewInt(int64(len(x.Data)))) != 0 {
		return fmt.Sprintf("len(Data) %d, shape needs %v", len(x.Data), size)
	}
	return ""
}

// fzShares reports whether two slices have an element in common.
func fzShares(a, b []float32) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	first := func(s []float32) uintptr { return uintptr(unsafe.Pointer(&s[0])) }
	last := func(s []float32) uintptr { return uintptr(unsafe.Pointer(&s[len(s)-1])) }
	return first(a) <= last(b) && first(b) <= last(a)
}

// fzCtorProblem says why the constructor must fail, or "".
func fzCtorProblem(c *fzCall) string {
	s := c.spec
	for _, f := range []struct {
		name      string
		v, lo, hi int
	}{
		{"InC", s.InC, 1, MaxChannels}, {"OutC", s.OutC, 1, MaxChannels},
		{"KH", s.KH, 1, MaxKernel}, {"KW", s.KW, 1, MaxKernel},
		{"StrideH", s.StrideH, 1, MaxStride}, {"StrideW", s.StrideW, 1, MaxStride},
		{"PadH", s.PadH, 0, MaxPad}, {"PadW", s.PadW, 0, MaxPad},
	} {
		if f.v < f.lo || f.v > f.hi {
			return fmt.Sprintf("%s = %d outside [%d, %d]", f.name, f.v, f.lo, f.hi)
		}
	}
	if c.block != 8 && c.block != 16 {
		return fmt.Sprintf("block %d", c.block)
	}
	// In range, so the product fits int64.
	if want := int64(s.InC) * int64(s.OutC) * int64(s.KH) * int64(s.KW); int64(len(c.weights)) != want {
		return fmt.Sprintf("len(weights) %d, want %d", len(c.weights), want)
	}
	if c.bias != nil && len(c.bias) != s.OutC {
		return fmt.Sprintf("len(bias) %d, want %d", len(c.bias), s.OutC)
	}
	return ""
}

// fzForwardProblem says why Forward must fail on a built layer, or "".
func fzForwardProblem(c *fzCall, deconv bool) string {
	s := c.spec
	if c.nilLayer {
		return "nil layer"
	}
	for _, x := range []struct {
		name string
		t    *layout.Tensor
	}{{"src", c.src}, {"dst", c.dst}} {
		if p := fzTensorProblem(x.t); p != "" {
			return x.name + ": " + p
		}
	}
	src, dst, res := c.src, c.dst, c.res
	switch {
	case src.C != s.InC:
		return "src.C != InC"
	case dst.C != s.OutC:
		return "dst.C != OutC"
	case src.Block != c.block || dst.Block != c.block:
		return "tensor block != layer block"
	case src.N != dst.N:
		return "src.N != dst.N"
	case fzShares(dst.Data, src.Data):
		return "dst shares memory with src"
	}
	if res != nil {
		if p := fzTensorProblem(res); p != "" {
			return "residual: " + p
		}
		if res.N != dst.N || res.C != dst.C || res.H != dst.H || res.W != dst.W || res.Block != dst.Block {
			return "residual shape != dst shape"
		}
		if fzShares(dst.Data, res.Data) {
			return "dst shares memory with the residual"
		}
	}
	// Valid tensors are allocated, so their sizes are small.
	if deconv {
		minH := (src.H-1)*s.StrideH - 2*s.PadH + s.KH
		minW := (src.W-1)*s.StrideW - 2*s.PadW + s.KW
		switch {
		case minH < 1 || minW < 1:
			return "empty output"
		case dst.H < minH || dst.H > minH+s.StrideH-1:
			return fmt.Sprintf("dst.H %d outside [%d, %d]", dst.H, minH, minH+s.StrideH-1)
		case dst.W < minW || dst.W > minW+s.StrideW-1:
			return fmt.Sprintf("dst.W %d outside [%d, %d]", dst.W, minW, minW+s.StrideW-1)
		}
		return ""
	}
	if src.H+2*s.PadH < s.KH || src.W+2*s.PadW < s.KW {
		return "input smaller than the kernel"
	}
	if oh, ow := (src.H+2*s.PadH-s.KH)/s.StrideH+1, (src.W+2*s.PadW-s.KW)/s.StrideW+1; dst.H != oh || dst.W != ow {
		return fmt.Sprintf("dst %dx%d, want %dx%d", dst.H, dst.W, oh, ow)
	}
	return ""
}

// fzSnapshot copies a tensor's Data bit for bit (nil for a nil tensor).
func fzSnapshot(x *layout.Tensor) []uint32 {
	if x == nil {
		return nil
	}
	out := make([]uint32, len(x.Data))
	for i, v := range x.Data {
		out[i] = math.Float32bits(v)
	}
	return out
}

func fzSame(x *layout.Tensor, snap []uint32) bool {
	if x == nil {
		return true
	}
	for i, v := range x.Data {
		if math.Float32bits(v) != snap[i] {
			return false
		}
	}
	return true
}

// fzRun builds, judges and runs one fuzz input.
func fzRun(t *testing.T, in []byte, seed uint64, deconv bool) {
	a := fzDecode(in, deconv)
	c := fzBuild(t, a, seed, deconv)
	t.Logf("%+v seed %d", a, seed)

	current()
	var usable []*isaSet
	for _, s := range isaSets {
		if s.usable {
			usable = append(usable, s)
		}
	}
	saved, threads := selected.set.Load(), Threads()
	defer func() {
		selected.set.Store(saved)
		SetThreads(threads)
	}()
	selected.set.Store(usable[a.ISA%len(usable)])
	SetThreads(a.Threads)

	srcSnap, dstSnap, resSnap := fzSnapshot(c.src), fzSnapshot(c.dst), fzSnapshot(c.res)
	var fwd func(dst, src *layout.Tensor, ep Epilogue) error
	p, stack, ctorErr := callSafely(func() error {
		if deconv {
			d, err := NewConvTranspose2D(c.spec, c.weights, c.bias, c.block)
			if err == nil {
				if c.nilLayer {
					d = nil
				}
				fwd = d.Forward
			}
			return err
		}
		cv, err := NewConv2D(c.spec, c.weights, c.bias, c.block)
		if err == nil {
			if c.nilLayer {
				cv = nil
			}
			fwd = cv.Forward
		}
		return err
	})
	if p != nil {
		t.Fatalf("constructor panicked on %+v: %v\n%s", c.spec, p, stack)
	}
	checkErr := func(what string, err error, problem string) {
		t.Helper()
		switch {
		case err == nil && problem != "":
			t.Fatalf("%s accepted an illegal call (%s)", what, problem)
		case err != nil && problem == "":
			t.Fatalf("%s rejected a legal call: %v", what, err)
		case err != nil && !strings.HasPrefix(err.Error(), "kernels: "):
			t.Fatalf("%s error %q does not start with \"kernels: \"", what, err)
		}
	}
	checkErr("constructor", ctorErr, fzCtorProblem(c))
	if ctorErr != nil {
		return
	}
	ep := Epilogue{Residual: c.res, ReLU: c.relu}
	p, stack, err := callSafely(func() error { return fwd(c.dst, c.src, ep) })
	if p != nil {
		t.Fatalf("Forward panicked: %v\n%s", p, stack)
	}
	checkErr("Forward", err, fzForwardProblem(c, deconv))
	if !fzSame(c.src, srcSnap) || !fzSame(c.res, resSnap) {
		t.Fatalf("Forward (error %v) changed src or the residual", err)
	}
	if err != nil {
		if !fzSame(c.dst, dstSnap) {
			t.Fatalf("Forward wrote dst before returning error %v", err)
		}
		return
	}

	if c.guards != nil {
		c.guards()
	}
	checkPadLanes(t, c.dst)
	s := c.spec
	cc := convCase{n: c.src.N, inC: s.InC, outC: s.OutC, h: c.src.H, w: c.src.W,
		kh: s.KH, kw: s.KW, sh: s.StrideH, sw: s.StrideW, ph: s.PadH, pw: s.PadW, block: c.block}
	var resNCHW []float32
	if c.res != nil {
		resNCHW = c.res.NCHW()
	}
	var want []float32
	if deconv {
		want = ref.ConvTranspose2D(cc.refSpec(), c.dst.H, c.dst.W, c.src.NCHW(), c.weights, c.bias, resNCHW, c.relu)
	} else {
		want, _, _ = ref.Conv2D(cc.refSpec(), c.src.NCHW(), c.weights, c.bias, resNCHW, c.relu)
	}
	if err := closeEnough(c.dst.NCHW(), want, math.Sqrt(float64(s.InC*s.KH*s.KW)), 1e-5); err != nil {
		t.Fatalf("%v (dst %dx%d): %v", cc, c.dst.H, c.dst.W, err)
	}
}

// fzSeeds are the corpus both targets start from: legal shapes that reach
// the driver's paths (borders, interior runs, padded lanes, phases without
// taps, windows wholly in the padding, several threads) and one call per
// kind of illegal argument.
func fzSeeds(deconv bool) []fzArgs {
	base := fzDefault
	if deconv {
		// The spatial bottleneck's restore: 3x3, stride 2, padding 1.
		base = fzArgs{N: 1, InC: 5, OutC: 3, H: 4, W: 5, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, Block: 8, Threads: 1}
	}
	with := func(f func(a *fzArgs)) fzArgs {
		a := base
		f(&a)
		return a
	}
	seeds := []fzArgs{
		base,
		with(func(a *fzArgs) { a.Flags = fzBias | fzRes | fzReLU; a.Threads = 3 }),
		with(func(a *fzArgs) { a.Block = 16; a.InC, a.OutC = 17, 33; a.H, a.W = 3, 4; a.Flags = fzRes }),
		with(func(a *fzArgs) { a.InC, a.OutC = 8, 8; a.Flags = fzBias; a.N = 2; a.Threads = 2 }),
		with(func(a *fzArgs) { a.InC, a.OutC = 1, 40; a.H, a.W = 14, 13 }),
		with(func(a *fzArgs) { a.KH, a.KW, a.PH, a.PW = 1, 1, 0, 0 }),
		with(func(a *fzArgs) { a.KH, a.KW, a.SH, a.SW, a.PH, a.PW = 5, 2, 3, 4, 2, 0 }),
		with(func(a *fzArgs) { a.KH, a.KW, a.PH, a.PW = 1, 1, 3, 3; a.Flags = fzBias | fzRes }),        // pixels that see only padding
		with(func(a *fzArgs) { a.KH, a.KW, a.SH, a.SW, a.PH, a.PW = 16, 16, 16, 16, 16, 16; a.H = 3 }), // the limits
		with(func(a *fzArgs) { a.Bad = fzDstAfterSrc }),
		with(func(a *fzArgs) { a.Bad = fzResIsSrc; a.InC = a.OutC }),
	}
	if deconv {
		seeds = append(seeds,
			with(func(a *fzArgs) { a.H, a.W, a.DH, a.DW = 4, 4, 0, 0 }),                     // 4 -> 7
			with(func(a *fzArgs) { a.KH, a.KW, a.SH, a.SW, a.PH, a.PW = 1, 2, 2, 3, 0, 0 }), // phases without taps
			with(func(a *fzArgs) { a.KH, a.KW, a.SH, a.SW, a.PH, a.PW, a.DH, a.DW = 4, 4, 4, 3, 3, 1, 3, 2 }),
			with(func(a *fzArgs) { a.KH, a.SH, a.SW, a.DH, a.InC = 3, 1, 1, 0, a.OutC; a.Bad = fzResIsSrc }), // identity shortcut
			with(func(a *fzArgs) { a.DH = 2 }),                                                               // output_padding = stride
			with(func(a *fzArgs) { a.DW = -1 }),                                                              // below the smallest output
			with(func(a *fzArgs) { a.KH, a.SH, a.PH, a.H, a.DH = 1, 1, 1, 2, 0 }),                            // empty output
		)
	} else {
		seeds = append(seeds,
			with(func(a *fzArgs) { a.KH, a.KW, a.SH, a.SW = 3, 3, 2, 2; a.H, a.W = 7, 7 }), // 7 -> 4
			with(func(a *fzArgs) { a.DH = 1 }),
			with(func(a *fzArgs) { a.DW = -1 }),
			with(func(a *fzArgs) { a.KH, a.PH, a.H = 5, 0, 4 }), // input smaller than the kernel
		)
	}
	for bad := 1; bad < fzNumBad; bad++ {
		seeds = append(seeds, with(func(a *fzArgs) { a.Bad = bad; a.Flags = fzBias }))
	}
	for _, f := range []func(a *fzArgs){
		func(a *fzArgs) { a.N = 0 }, func(a *fzArgs) { a.N = -1 },
		func(a *fzArgs) { a.InC = 0 }, func(a *fzArgs) { a.OutC = -1 },
		func(a *fzArgs) { a.InC = MaxChannels + 1 }, func(a *fzArgs) { a.OutC = MaxChannels },
		func(a *fzArgs) { a.H = 0 }, func(a *fzArgs) { a.W = -1 }, func(a *fzArgs) { a.H = math.MaxInt },
		func(a *fzArgs) { a.W = layout.MaxElements + 1 }, func(a *fzArgs) { a.N = wrapN },
		func(a *fzArgs) { a.KH = 0 }, func(a *fzArgs) { a.KW = MaxKernel + 1 }, func(a *fzArgs) { a.KH = math.MinInt },
		func(a *fzArgs) { a.SH = 0 }, func(a *fzArgs) { a.SW = MaxStride + 1 }, func(a *fzArgs) { a.SW = math.MaxInt },
		func(a *fzArgs) { a.PH = -1 }, func(a *fzArgs) { a.PW = MaxPad + 1 }, func(a *fzArgs) { a.PH = math.MinInt },
		func(a *fzArgs) { a.Block = 0 }, func(a *fzArgs) { a.Block = 4 }, func(a *fzArgs) { a.Block = 32 },
		func(a *fzArgs) { a.DH = math.MaxInt / 2 }, func(a *fzArgs) { a.DW = math.MinInt / 2 },
	} {
		seeds = append(seeds, with(f))
	}
	return seeds
}

func fzFuzz(f *testing.F, deconv bool) {
	for i, a := range fzSeeds(deconv) {
		f.Add(a.bytes(), uint64(i))
	}
	// Random bytes, as the fuzzer's mutations make them.
	r := rand.New(rand.NewPCG(15, 16))
	for i := 0; i < 16; i++ {
		b := make([]byte, fzFields)
		for j := range b {
			b[j] = byte(r.UintN(256))
		}
		f.Add(b, r.Uint64())
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) { fzRun(t, in, seed, deconv) })
}

func FuzzConv2D(f *testing.F)          { fzFuzz(f, false) }
func FuzzConvTranspose2D(f *testing.F) { fzFuzz(f, true) }

// TestFuzzSeedsRoundTrip checks that every seed decodes to itself, so the
// corpus means what fzSeeds says.
func TestFuzzSeedsRoundTrip(t *testing.T) {
	for _, deconv := range []bool{false, true} {
		for _, a := range fzSeeds(deconv) {
			if got := fzDecode(a.bytes(), deconv); got != a {
				t.Errorf("deconv=%v: seed %+v decodes to %+v", deconv, a, got)
			}
		}
	}
}
