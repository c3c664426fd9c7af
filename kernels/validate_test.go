package kernels

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sbconv/sbconv/internal/intmath"
	"github.com/sbconv/sbconv/kernels/ref"
	"github.com/sbconv/sbconv/layout"
)

// The argument-validation contract (README.md, "Use"): every constructor
// and Forward validates its arguments and returns an error that names the
// offending value; no input may panic or make a kernel read or write
// outside its slices. Each case below is one bad (or borderline legal)
// call; a panic is reported with its stack, an accepted illegal call and
// an error that does not name the bad value are failures.

// valCase is one call that must return an error containing every string of
// want, or succeed when want is nil.
type valCase struct {
	name string
	call func() error
	want []string
}

// callSafely runs f and returns the panic and its stack, or f's error.
func callSafely(f func() error) (panicked any, stack []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked, stack = p, debug.Stack()
		}
	}()
	return nil, nil, f()
}

func runValCases(t *testing.T, cases []valCase) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("duplicate case name %q", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			p, stack, err := callSafely(c.call)
			if p != nil {
				t.Fatalf("panicked instead of returning an error: %v\n%s", p, stack)
			}
			if c.want == nil {
				if err != nil {
					t.Fatalf("legal call returned an error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error naming %q", c.want)
			}
			for _, s := range c.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
}

// valTensor returns an (n, c, h, w) tensor with deterministic random
// contents and zero padded lanes.
func valTensor(t *testing.T, n, c, h, w, block int) *layout.Tensor {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n*1000+c), uint64(h*1000+w)))
	ten, err := layout.FromNCHW(randSlice(r, n*c*h*w), n, c, h, w, block)
	if err != nil {
		t.Fatal(err)
	}
	return ten
}

// wrapN is a batch size whose product with 8 channels wraps around int to
// exactly 8: N*8 = 2^UintSize + 8. A size check that multiplies without an
// overflow test accepts it with len(Data) = 8.
const wrapN = 1<<(bits.UintSize-3) + 1

// valLayer is a built layer and one legal geometry for it.
type valLayer struct {
	name         string
	fwd          func(dst, src *layout.Tensor, ep Epilogue) error
	add          func(dst, src *layout.Tensor, relu bool) error // its ForwardAdd
	n, inC, outC int
	h, w, oh, ow int
	block        int
}

// valTensors are the tensors of one Forward call.
type valTensors struct{ dst, src, res *layout.Tensor }

func (L valLayer) tensors(t *testing.T) valTensors {
	dst, err := layout.New(L.n, L.outC, L.oh, L.ow, L.block)
	if err != nil {
		t.Fatal(err)
	}
	return valTensors{
		dst: dst,
		src: valTensor(t, L.n, L.inC, L.h, L.w, L.block),
		res: valTensor(t, L.n, L.outC, L.oh, L.ow, L.block),
	}
}

// forwardCases returns the Forward cases every layer shares: tensors that
// are nil, malformed, of the wrong shape or block, or that alias. With
// inPlace they are ForwardAdd's, which has no residual of its own (dst is
// its residual): the residual's cases are left out.
func forwardCases(t *testing.T, L valLayer, inPlace bool) []valCase {
	var cases []valCase
	add := func(name string, want []string, mutate func(ts *valTensors)) {
		cases = append(cases, valCase{name: name, want: want, call: func() error {
			ts := L.tensors(t)
			mutate(&ts)
			if inPlace {
				return L.add(ts.dst, ts.src, true)
			}
			return L.fwd(ts.dst, ts.src, Epilogue{Residual: ts.res, ReLU: true})
		}})
	}
	// addRes adds a case about the residual, which ForwardAdd does not
	// have (dst is its residual).
	addRes := func(name string, want []string, mutate func(ts *valTensors)) {
		if !inPlace {
			add(name, want, mutate)
		}
	}
	srcSize := L.n * intmath.CeilDiv(L.inC, L.block) * L.block * L.h * L.w
	dstSize := L.n * intmath.CeilDiv(L.outC, L.block) * L.block * L.oh * L.ow
	other := 24 - L.block // the other legal block

	add("legal", nil, func(*valTensors) {})
	addRes("legal nil residual", nil, func(ts *valTensors) { ts.res = nil })
	add("nil src", []string{"src", "nil"}, func(ts *valTensors) { ts.src = nil })
	add("nil dst", []string{"dst", "nil"}, func(ts *valTensors) { ts.dst = nil })
	add("nil src and dst", []string{"nil"}, func(ts *valTensors) { ts.src, ts.dst = nil, nil })

	roles := []struct {
		name string // as the error must name it
		get  func(ts *valTensors) **layout.Tensor
		size int
	}{
		{"src", func(ts *valTensors) **layout.Tensor { return &ts.src }, srcSize},
		{"dst", func(ts *valTensors) **layout.Tensor { return &ts.dst }, dstSize},
		{"Residual", func(ts *valTensors) **layout.Tensor { return &ts.res }, dstSize},
	}
	for _, role := range roles {
		field := func(label string, want string, set func(x *layout.Tensor)) {
			name, wants, mutate := role.name+" "+label, []string{role.name, want}, func(ts *valTensors) { set(*role.get(ts)) }
			if role.name == "Residual" {
				addRes(name, wants, mutate)
			} else {
				add(name, wants, mutate)
			}
		}
		for _, v := range []int{0, -1} {
			field(fmt.Sprintf("N=%d", v), fmt.Sprintf("N = %d", v), func(x *layout.Tensor) { x.N = v })
			field(fmt.Sprintf("C=%d", v), fmt.Sprintf("C = %d", v), func(x *layout.Tensor) { x.C = v })
			field(fmt.Sprintf("H=%d", v), fmt.Sprintf("H = %d", v), func(x *layout.Tensor) { x.H = v })
			field(fmt.Sprintf("W=%d", v), fmt.Sprintf("W = %d", v), func(x *layout.Tensor) { x.W = v })
		}
		field("C=MinInt", fmt.Sprintf("C = %d", math.MinInt), func(x *layout.Tensor) { x.C = math.MinInt })
		// C rounded up to the block overflows int.
		field("C=MaxInt", "overflow", func(x *layout.Tensor) { x.C = math.MaxInt })
		for _, b := range []int{0, 4, 32, -8, 24} {
			field(fmt.Sprintf("Block=%d", b), fmt.Sprintf("block %d", b), func(x *layout.Tensor) { x.Block = b })
		}
		field("Data short", fmt.Sprintf("len(Data) = %d", role.size-1), func(x *layout.Tensor) { x.Data = x.Data[:len(x.Data)-1] })
		field("Data long", fmt.Sprintf("len(Data) = %d", role.size+1), func(x *layout.Tensor) { x.Data = append(x.Data, 0) })
		field("Data nil", "len(Data) = 0", func(x *layout.Tensor) { x.Data = nil })
		// Sizes whose product overflows int: a Tensor literal can claim
		// any shape, whatever its Data holds.
		field("overflowing shape", "overflow", func(x *layout.Tensor) {
			*x = layout.Tensor{N: 1 << 20, C: 1 << 20, H: 1 << 20, W: 1 << 20, Block: x.Block, Data: make([]float32, 16)}
		})
		field("shape wrapping to len(Data)", "overflow", func(x *layout.Tensor) {
			*x = layout.Tensor{N: wrapN, C: 8, H: 1, W: 1, Block: 8, Data: make([]float32, 8)}
		})
		field("huge H short Data", "overflow", func(x *layout.Tensor) {
			x.H = math.MaxInt
		})
	}

	// Shape and block mismatches between the tensors and the layer.
	add("src.C", []string{fmt.Sprintf("src.C = %d", L.inC+1)}, func(ts *valTensors) {
		ts.src = valTensor(t, L.n, L.inC+1, L.h, L.w, L.block)
	})
	add("dst.C", []string{fmt.Sprintf("dst.C = %d", L.outC+1)}, func(ts *valTensors) {
		ts.dst = valTensor(t, L.n, L.outC+1, L.oh, L.ow, L.block)
		ts.res = nil
	})
	add("dst.N", []string{fmt.Sprintf("dst.N = %d", L.n+1)}, func(ts *valTensors) {
		ts.dst = valTensor(t, L.n+1, L.outC, L.oh, L.ow, L.block)
		ts.res = nil
	})
	add("src.N", []string{"N", fmt.Sprint(L.n + 1)}, func(ts *valTensors) {
		ts.src = valTensor(t, L.n+1, L.inC, L.h, L.w, L.block)
	})
	add("src.Block", []string{fmt.Sprintf("src.Block = %d", other)}, func(ts *valTensors) {
		ts.src = valTensor(t, L.n, L.inC, L.h, L.w, other)
	})
	add("dst.Block", []string{fmt.Sprintf("dst.Block = %d", other)}, func(ts *valTensors) {
		ts.dst = valTensor(t, L.n, L.outC, L.oh, L.ow, other)
		ts.res = nil
	})
	for _, d := range []struct {
		name          string
		n, c, h, w, b int
	}{
		{"N", 1, 0, 0, 0, 0}, {"C", 0, 1, 0, 0, 0}, {"H", 0, 0, 1, 0, 0}, {"W", 0, 0, 0, 1, 0},
		{"C-1", 0, -1, 0, 0, 0}, {"Block", 0, 0, 0, 0, other - L.block},
	} {
		addRes("Residual."+d.name, []string{"Residual"}, func(ts *valTensors) {
			ts.res = valTensor(t, L.n+d.n, L.outC+d.c, L.oh+d.h, L.ow+d.w, L.block+d.b)
		})
	}

	// Aliasing: dst may share no element with src or the residual; src and
	// the residual are only read, and tensors next to each other in one
	// array are fine.
	place := shareArray
	aliasSrc := []string{"dst", "alias", "src"}
	add("dst is src's array", aliasSrc, func(ts *valTensors) { place(&ts.dst, &ts.src, 0, 0) })
	add("dst overlaps src's last element", aliasSrc, func(ts *valTensors) { place(&ts.src, &ts.dst, 0, srcSize-1) })
	add("dst overlaps src's first element", aliasSrc, func(ts *valTensors) { place(&ts.dst, &ts.src, 0, dstSize-1) })
	if dstSize > srcSize+2 {
		add("src inside dst", aliasSrc, func(ts *valTensors) { place(&ts.dst, &ts.src, 0, 1) })
	} else if srcSize > dstSize+2 {
		add("dst inside src", aliasSrc, func(ts *valTensors) { place(&ts.src, &ts.dst, 0, 1) })
	}
	add("dst right after src (legal)", nil, func(ts *valTensors) { place(&ts.src, &ts.dst, 0, srcSize) })
	add("src right after dst (legal)", nil, func(ts *valTensors) { place(&ts.dst, &ts.src, 0, dstSize) })
	aliasRes := []string{"dst", "Residual"}
	addRes("Residual is dst", aliasRes, func(ts *valTensors) { ts.res = ts.dst })
	addRes("Residual shares dst's Data", aliasRes, func(ts *valTensors) {
		r := *ts.dst
		ts.res = &r
	})
	addRes("Residual overlaps dst's last element", aliasRes, func(ts *valTensors) { place(&ts.dst, &ts.res, 0, dstSize-1) })
	addRes("Residual overlaps dst's first element", aliasRes, func(ts *valTensors) { place(&ts.res, &ts.dst, 0, dstSize-1) })
	addRes("Residual right after dst (legal)", nil, func(ts *valTensors) { place(&ts.dst, &ts.res, 0, dstSize) })
	addRes("Residual right after src (legal)", nil, func(ts *valTensors) { place(&ts.src, &ts.res, 0, srcSize) })
	addRes("Residual overlaps src (legal)", nil, func(ts *valTensors) { place(&ts.src, &ts.res, 0, 1) })
	return cases
}

// shareArray replaces *a and *b with copies whose Data lie in one new
// array, at offsets aOff and bOff (in floats), with their contents copied
// (b's last where they overlap).
func shareArray(a, b **layout.Tensor, aOff, bOff int) {
	na, nb := len((*a).Data), len((*b).Data)
	backing := make([]float32, max(aOff+na, bOff+nb))
	copy(backing[aOff:], (*a).Data)
	copy(backing[bOff:], (*b).Data)
	x, y := **a, **b
	x.Data, y.Data = backing[aOff:aOff+na:aOff+na], backing[bOff:bOff+nb:bOff+nb]
	*a, *b = &x, &y
}

// valConvLayer is a 3 -> 5 channel 3x3 convolution with strides 2x1 and
// padding 1x0: a 7x9 input gives a 4x7 output.
func valConvLayer(t *testing.T, block int) (*Conv2D, valLayer) {
	spec := ConvSpec{InC: 3, OutC: 5, KH: 3, KW: 3, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0}
	r := rand.New(rand.NewPCG(1, 1))
	c, err := NewConv2D(spec, randSlice(r, 5*3*3*3), randSlice(r, 5), block)
	if err != nil {
		t.Fatal(err)
	}
	return c, valLayer{name: "Conv2D", fwd: c.Forward, add: c.ForwardAdd, n: 2, inC: 3, outC: 5, h: 7, w: 9, oh: 4, ow: 7, block: block}
}

// valDeconvLayer is a 5 -> 3 channel 3x3 transposed convolution with
// stride 2 and padding 1: a 4x5 input gives 7..8 x 9..10 outputs.
func valDeconvLayer(t *testing.T, block int) (*ConvTranspose2D, valLayer) {
	spec := ConvSpec{InC: 5, OutC: 3, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	r := rand.New(rand.NewPCG(2, 2))
	d, err := NewConvTranspose2D(spec, randSlice(r, 5*3*3*3), randSlice(r, 3), block)
	if err != nil {
		t.Fatal(err)
	}
	return d, valLayer{name: "ConvTranspose2D", fwd: d.Forward, add: d.ForwardAdd, n: 2, inC: 5, outC: 3, h: 4, w: 5, oh: 8, ow: 9, block: block}
}

func TestValidateConv2DForward(t *testing.T) {
	for _, block := range []int{8, 16} {
		t.Run(fmt.Sprint("block", block), func(t *testing.T) {
			c, L := valConvLayer(t, block)
			cases := forwardCases(t, L, false)
			sized := func(name string, want []string, h, w, oh, ow int) {
				cases = append(cases, valCase{name: name, want: want, call: func() error {
					dst, err := layout.New(L.n, L.outC, oh, ow, block)
					if err != nil {
						t.Fatal(err)
					}
					return c.Forward(dst, valTensor(t, L.n, L.inC, h, w, block), Epilogue{})
				}})
			}
			// The output must be exactly PyTorch's size: 4x7 for 7x9.
			sized("dst 3x7", []string{"dst", "3x7"}, 7, 9, 3, 7)
			sized("dst 5x7", []string{"dst", "5x7"}, 7, 9, 5, 7)
			sized("dst 4x6", []string{"dst", "4x6"}, 7, 9, 4, 6)
			sized("dst 4x8", []string{"dst", "4x8"}, 7, 9, 4, 8)
			sized("dst 7x9 (input size)", []string{"dst", "7x9"}, 7, 9, 7, 9)
			sized("8x9 input gives 4x7 too", nil, 8, 9, 4, 7)
			// Input smaller than the kernel after padding: width 2 with
			// no padding against a kernel 3 wide.
			sized("input narrower than kernel", []string{"7x2", "3x3"}, 7, 2, 4, 1)
			sized("input 1x3 (legal: padding makes 3 rows)", nil, 1, 3, 1, 1)
			var nilConv *Conv2D
			cases = append(cases,
				valCase{name: "nil *Conv2D", want: []string{"nil", "Conv2D"}, call: func() error {
					ts := L.tensors(t)
					return nilConv.Forward(ts.dst, ts.src, Epilogue{})
				}},
				valCase{name: "zero Conv2D", want: []string{"kernels"}, call: func() error {
					ts := L.tensors(t)
					return new(Conv2D).Forward(ts.dst, ts.src, Epilogue{})
				}})
			runValCases(t, cases)
		})
	}
}

func TestValidateConvTranspose2DForward(t *testing.T) {
	for _, block := range []int{8, 16} {
		t.Run(fmt.Sprint("block", block), func(t *testing.T) {
			d, L := valDeconvLayer(t, block)
			cases := forwardCases(t, L, false)
			sized := func(name string, want []string, oh, ow int) {
				cases = append(cases, valCase{name: name, want: want, call: func() error {
					dst, err := layout.New(L.n, L.outC, oh, ow, block)
					if err != nil {
						t.Fatal(err)
					}
					return d.Forward(dst, valTensor(t, L.n, L.inC, L.h, L.w, block), Epilogue{})
				}})
			}
			// A 4x5 input allows PyTorch's output_size in [7, 8] x [9, 10].
			sized("dst 7x9 (legal)", nil, 7, 9)
			sized("dst 8x10 (legal)", nil, 8, 10)
			sized("dst 7x10 (legal)", nil, 7, 10)
			sized("dst.H 6", []string{"dst.H = 6"}, 6, 9)
			sized("dst.H 9", []string{"dst.H = 9"}, 9, 9)
			sized("dst.W 8", []string{"dst.W = 8"}, 7, 8)
			sized("dst.W 11", []string{"dst.W = 11"}, 8, 11)
			sized("dst.H 1", []string{"dst.H = 1"}, 1, 9)
			sized("dst.H 16 (zero-inserted size)", []string{"dst.H = 16"}, 16, 9)
			var nilDeconv *ConvTranspose2D
			cases = append(cases,
				valCase{name: "nil *ConvTranspose2D", want: []string{"nil", "ConvTranspose2D"}, call: func() error {
					ts := L.tensors(t)
					return nilDeconv.Forward(ts.dst, ts.src, Epilogue{})
				}},
				valCase{name: "zero ConvTranspose2D", want: []string{"kernels"}, call: func() error {
					ts := L.tensors(t)
					return new(ConvTranspose2D).Forward(ts.dst, ts.src, Epilogue{})
				}})

			// Outputs that would be empty: (H-1)*s - 2p + k < 1.
			for _, e := range []struct {
				k, s, p, h int
			}{{1, 1, 1, 2}, {1, 2, 1, 1}, {3, 1, 2, 2}, {2, 3, 16, 5}} {
				spec := ConvSpec{InC: 2, OutC: 2, KH: e.k, KW: e.k, StrideH: e.s, StrideW: e.s, PadH: e.p, PadW: e.p}
				cases = append(cases, valCase{
					name: fmt.Sprintf("empty output k%d s%d p%d h%d", e.k, e.s, e.p, e.h),
					want: []string{"empty"},
					call: func() error {
						d, err := NewConvTranspose2D(spec, make([]float32, 4*e.k*e.k), nil, block)
						if err != nil {
							return fmt.Errorf("constructor: %w", err)
						}
						dst, err := layout.New(1, 2, 1, 1, block)
						if err != nil {
							t.Fatal(err)
						}
						return d.Forward(dst, valTensor(t, 1, 2, e.h, e.h, block), Epilogue{})
					}})
			}
			runValCases(t, cases)
		})
	}
}

// TestValidateLayerBlock checks tensors of one legal block against a layer
// built for the other.
// TestValidateForwardAdd: ForwardAdd validates src and dst as Forward
// does (dst is its residual, so the residual's own cases do not apply),
// rejects a src that shares memory with dst, and sizes as Forward.
func TestValidateForwardAdd(t *testing.T) {
	for _, block := range []int{8, 16} {
		t.Run(fmt.Sprint("block", block), func(t *testing.T) {
			c, cl := valConvLayer(t, block)
			d, dl := valDeconvLayer(t, block)
			var cases []valCase
			for _, L := range []valLayer{cl, dl} {
				for _, vc := range forwardCases(t, L, true) {
					vc.name = L.name + " " + vc.name
					cases = append(cases, vc)
				}
			}
			sized := func(name string, want []string, add func(dst, src *layout.Tensor, relu bool) error, L valLayer, oh, ow int) {
				cases = append(cases, valCase{name: name, want: want, call: func() error {
					dst := valTensor(t, L.n, L.outC, oh, ow, block)
					return add(dst, valTensor(t, L.n, L.inC, L.h, L.w, block), false)
				}})
			}
			sized("Conv2D dst 3x7", []string{"dst", "3x7"}, c.ForwardAdd, cl, 3, 7)
			sized("ConvTranspose2D dst.H 9", []string{"dst.H = 9"}, d.ForwardAdd, dl, 9, 9)
			sized("ConvTranspose2D dst 7x10 (legal)", nil, d.ForwardAdd, dl, 7, 10)
			var nilConv *Conv2D
			var nilDeconv *ConvTranspose2D
			cases = append(cases,
				valCase{name: "nil *Conv2D", want: []string{"nil", "Conv2D", "ForwardAdd"}, call: func() error {
					ts := cl.tensors(t)
					return nilConv.ForwardAdd(ts.dst, ts.src, true)
				}},
				valCase{name: "zero Conv2D", want: []string{"kernels"}, call: func() error {
					ts := cl.tensors(t)
					return new(Conv2D).ForwardAdd(ts.dst, ts.src, true)
				}},
				valCase{name: "nil *ConvTranspose2D", want: []string{"nil", "ConvTranspose2D", "ForwardAdd"}, call: func() error {
					ts := dl.tensors(t)
					return nilDeconv.ForwardAdd(ts.dst, ts.src, true)
				}},
				valCase{name: "zero ConvTranspose2D", want: []string{"kernels"}, call: func() error {
					ts := dl.tensors(t)
					return new(ConvTranspose2D).ForwardAdd(ts.dst, ts.src, true)
				}})
			runValCases(t, cases)
		})
	}
}

func TestValidateLayerBlock(t *testing.T) {
	c, _ := valConvLayer(t, 16)
	d, _ := valDeconvLayer(t, 16)
	runValCases(t, []valCase{
		{name: "Conv2D block 16, tensors 8", want: []string{"Block = 8"}, call: func() error {
			dst, _ := layout.New(2, 5, 4, 7, 8)
			return c.Forward(dst, valTensor(t, 2, 3, 7, 9, 8), Epilogue{})
		}},
		{name: "ConvTranspose2D block 16, tensors 8", want: []string{"Block = 8"}, call: func() error {
			dst, _ := layout.New(2, 3, 8, 9, 8)
			return d.Forward(dst, valTensor(t, 2, 5, 4, 5, 8), Epilogue{})
		}},
	})
}

// TestValidateConstructors covers NewConv2D and NewConvTranspose2D: specs
// out of range, illegal blocks, weight and bias lengths, and channel
// counts whose weight arrays overflow.
func TestValidateConstructors(t *testing.T) {
	base := ConvSpec{InC: 3, OutC: 5, KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0}
	nw := 3 * 5 * 3 * 2
	ctors := []struct {
		name string
		make func(ConvSpec, []float32, []float32, int) error
	}{
		{"Conv2D", func(s ConvSpec, w, b []float32, blk int) error { _, err := NewConv2D(s, w, b, blk); return err }},
		{"ConvTranspose2D", func(s ConvSpec, w, b []float32, blk int) error {
			_, err := NewConvTranspose2D(s, w, b, blk)
			return err
		}},
	}
	for _, ct := range ctors {
		t.Run(ct.name, func(t *testing.T) {
			var cases []valCase
			add := func(name string, want []string, spec ConvSpec, w, b []float32, block int) {
				cases = append(cases, valCase{name: name, want: want, call: func() error { return ct.make(spec, w, b, block) }})
			}
			w, b := make([]float32, nw), make([]float32, 5)
			add("legal", nil, base, w, b, 8)
			add("legal block 16", nil, base, w, b, 16)
			add("legal nil bias", nil, base, w, nil, 8)
			for _, blk := range []int{0, 4, 32, -8, 24, 1} {
				add(fmt.Sprint("block ", blk), []string{fmt.Sprintf("block %d", blk)}, base, w, b, blk)
			}
			add("weights nil", []string{"len(weights) = 0"}, base, nil, b, 8)
			add("weights short", []string{fmt.Sprintf("len(weights) = %d", nw-1)}, base, w[:nw-1], b, 8)
			add("weights long", []string{fmt.Sprintf("len(weights) = %d", nw+1)}, base, make([]float32, nw+1), b, 8)
			add("bias short", []string{"len(bias) = 4"}, base, w, b[:4], 8)
			add("bias long", []string{"len(bias) = 6"}, base, w, make([]float32, 6), 8)
			add("bias empty, not nil", []string{"len(bias) = 0"}, base, w, []float32{}, 8)

			fields := []struct {
				name   string
				set    func(*ConvSpec, int)
				lo, hi int
			}{
				{"InC", func(s *ConvSpec, v int) { s.InC = v }, 1, MaxChannels},
				{"OutC", func(s *ConvSpec, v int) { s.OutC = v }, 1, MaxChannels},
				{"KH", func(s *ConvSpec, v int) { s.KH = v }, 1, MaxKernel},
				{"KW", func(s *ConvSpec, v int) { s.KW = v }, 1, MaxKernel},
				{"StrideH", func(s *ConvSpec, v int) { s.StrideH = v }, 1, MaxStride},
				{"StrideW", func(s *ConvSpec, v int) { s.StrideW = v }, 1, MaxStride},
				{"PadH", func(s *ConvSpec, v int) { s.PadH = v }, 0, MaxPad},
				{"PadW", func(s *ConvSpec, v int) { s.PadW = v }, 0, MaxPad},
			}
			for _, f := range fields {
				for _, v := range []int{f.lo - 1, f.hi + 1, math.MinInt, math.MaxInt, f.lo - 2} {
					s := base
					f.set(&s, v)
					add(fmt.Sprintf("%s=%d", f.name, v), []string{fmt.Sprintf("ConvSpec.%s = %d", f.name, v)}, s, w, b, 8)
				}
			}
			// Largest legal kernel, stride and padding.
			big := ConvSpec{InC: 1, OutC: 1, KH: MaxKernel, KW: MaxKernel, StrideH: MaxStride, StrideW: MaxStride, PadH: MaxPad, PadW: MaxPad}
			add("largest kernel, stride, padding", nil, big, make([]float32, MaxKernel*MaxKernel), nil, 8)
			// Channel counts in range whose weight arrays overflow.
			huge := ConvSpec{InC: MaxChannels, OutC: MaxChannels, KH: MaxKernel, KW: MaxKernel, StrideH: 1, StrideW: 1}
			add("MaxChannels x MaxChannels x 16x16 weights", []string{"weights", "overflow"}, huge, w, nil, 8)
			huge.KH, huge.KW = 1, 1
			add("MaxChannels x MaxChannels weights", []string{"weights", "overflow"}, huge, w, nil, 8)
			runValCases(t, cases)
		})
	}
}

// TestValidateLayout covers the exported constructors, conversions and
// packers of package layout.
func TestValidateLayout(t *testing.T) {
	good := func() *layout.Tensor { return valTensor(t, 2, 3, 4, 5, 8) }
	nchw := make([]float32, 2*3*4*5)
	var cases []valCase
	add := func(name string, want []string, call func() error) {
		cases = append(cases, valCase{name: name, want: want, call: call})
	}
	newT := func(n, c, h, w, b int) func() error {
		return func() error { _, err := layout.New(n, c, h, w, b); return err }
	}
	add("New legal", nil, newT(1, 3, 4, 5, 8))
	for _, b := range []int{0, 4, 32, -8, 24} {
		add(fmt.Sprint("New block ", b), []string{fmt.Sprintf("block %d", b)}, newT(1, 3, 4, 5, b))
	}
	for _, v := range []int{0, -1, math.MinInt} {
		add(fmt.Sprint("New N ", v), []string{fmt.Sprintf("N = %d", v)}, newT(v, 3, 4, 5, 8))
		add(fmt.Sprint("New C ", v), []string{fmt.Sprintf("C = %d", v)}, newT(1, v, 4, 5, 8))
		add(fmt.Sprint("New H ", v), []string{fmt.Sprintf("H = %d", v)}, newT(1, 3, v, 5, 8))
		add(fmt.Sprint("New W ", v), []string{fmt.Sprintf("W = %d", v)}, newT(1, 3, 4, v, 8))
	}
	add("New overflow", []string{"overflow"}, newT(1<<20, 1<<20, 1<<20, 1<<20, 8))
	add("New wrapping size", []string{"overflow"}, newT(wrapN, 8, 1, 1, 8))
	add("New C MaxInt", []string{"overflow"}, newT(1, math.MaxInt, 1, 1, 8))
	add("New beyond MaxElements", []string{"overflow"}, newT(1, 8, layout.MaxElements/8+1, 1, 8))

	fromNCHW := func(src []float32, n, c, h, w, b int) func() error {
		return func() error { _, err := layout.FromNCHW(src, n, c, h, w, b); return err }
	}
	add("FromNCHW legal", nil, fromNCHW(nchw, 2, 3, 4, 5, 8))
	add("FromNCHW src short", []string{"len(src) = 119"}, fromNCHW(nchw[:119], 2, 3, 4, 5, 8))
	add("FromNCHW src long", []string{"len(src) = 121"}, fromNCHW(make([]float32, 121), 2, 3, 4, 5, 8))
	add("FromNCHW src nil", []string{"len(src) = 0"}, fromNCHW(nil, 2, 3, 4, 5, 8))
	add("FromNCHW C 0", []string{"C = 0"}, fromNCHW(nil, 2, 0, 4, 5, 8))
	add("FromNCHW block 4", []string{"block 4"}, fromNCHW(nchw, 2, 3, 4, 5, 4))
	add("FromNCHW overflow", []string{"overflow"}, fromNCHW(nchw, 1<<20, 1<<20, 1<<20, 1<<20, 8))

	// NCHWInto and SetNCHW on malformed tensors and wrong lengths.
	conv := []struct {
		name string
		f    func(x *layout.Tensor, s []float32) error
		arg  string
	}{
		{"NCHWInto", (*layout.Tensor).NCHWInto, "dst"},
		{"SetNCHW", (*layout.Tensor).SetNCHW, "src"},
	}
	for _, cv := range conv {
		with := func(name string, want []string, mutate func(x *layout.Tensor) *layout.Tensor, s []float32) {
			add(cv.name+" "+name, want, func() error { return cv.f(mutate(good()), s) })
		}
		same := func(x *layout.Tensor) *layout.Tensor { return x }
		with("legal", nil, same, make([]float32, 120))
		with("len 119", []string{fmt.Sprintf("len(%s) = 119", cv.arg)}, same, make([]float32, 119))
		with("len 121", []string{fmt.Sprintf("len(%s) = 121", cv.arg)}, same, make([]float32, 121))
		with("nil slice", []string{fmt.Sprintf("len(%s) = 0", cv.arg)}, same, nil)
		with("nil tensor", []string{"nil"}, func(*layout.Tensor) *layout.Tensor { return nil }, make([]float32, 120))
		with("Block 0", []string{"block 0"}, func(x *layout.Tensor) *layout.Tensor { x.Block = 0; return x }, make([]float32, 120))
		with("Block 4", []string{"block 4"}, func(x *layout.Tensor) *layout.Tensor { x.Block = 4; return x }, make([]float32, 120))
		with("C 0", []string{"C = 0"}, func(x *layout.Tensor) *layout.Tensor { x.C = 0; return x }, nil)
		with("H -1", []string{"H = -1"}, func(x *layout.Tensor) *layout.Tensor { x.H = -1; return x }, make([]float32, 120))
		with("Data short", []string{"len(Data) = 255"}, func(x *layout.Tensor) *layout.Tensor { x.Data = x.Data[:255]; return x }, make([]float32, 120))
		with("C 9 with Data for 3", []string{"len(Data)"}, func(x *layout.Tensor) *layout.Tensor { x.C = 9; return x }, make([]float32, 2*9*4*5))
		with("overflowing shape", []string{"overflow"}, func(x *layout.Tensor) *layout.Tensor {
			return &layout.Tensor{N: 1 << 20, C: 1 << 20, H: 1 << 20, W: 1 << 20, Block: 8, Data: x.Data}
		}, make([]float32, 120))
		with("shape wrapping to len(Data)", []string{"overflow"}, func(x *layout.Tensor) *layout.Tensor {
			return &layout.Tensor{N: wrapN, C: 1, H: 1, W: 1, Block: 8, Data: make([]float32, 8)}
		}, make([]float32, 8))
	}

	// Weight packing.
	w := make([]float32, 5*3*3*2)
	packConv := func(w []float32, o, i, kh, kw, b int) func() error {
		return func() error { _, err := layout.PackConv(w, o, i, kh, kw, b); return err }
	}
	add("PackConv legal", nil, packConv(w, 5, 3, 3, 2, 8))
	add("PackConv block 0", []string{"block 0"}, packConv(w, 5, 3, 3, 2, 0))
	add("PackConv block 32", []string{"block 32"}, packConv(w, 5, 3, 3, 2, 32))
	add("PackConv O 0", []string{"O = 0"}, packConv(w, 0, 3, 3, 2, 8))
	add("PackConv I -1", []string{"I = -1"}, packConv(w, 5, -1, 3, 2, 8))
	add("PackConv KH 0", []string{"KH = 0"}, packConv(w, 5, 3, 0, 2, 8))
	add("PackConv KW -2", []string{"KW = -2"}, packConv(w, 5, 3, 3, -2, 8))
	add("PackConv short", []string{"len(weights) = 89"}, packConv(w[:89], 5, 3, 3, 2, 8))
	add("PackConv nil", []string{"len(weights) = 0"}, packConv(nil, 5, 3, 3, 2, 8))
	add("PackConv overflow", []string{"overflow"}, packConv(w, 1<<20, 1<<20, 1<<20, 1<<20, 8))
	add("PackConv wrapping size", []string{"overflow"}, packConv(make([]float32, 8), wrapN, 8, 1, 1, 8))
	add("PackConv MaxInt channels", []string{"overflow"}, packConv(w, math.MaxInt, 1, 1, 1, 8))

	pd := func(w []float32, i, o, kh, kw, sh, sw, rh, rw, b int) func() error {
		return func() error { _, _, _, err := layout.PackDeconvPhase(w, i, o, kh, kw, sh, sw, rh, rw, b); return err }
	}
	add("PackDeconvPhase legal", nil, pd(w, 3, 5, 3, 2, 2, 2, 1, 1, 8))
	add("PackDeconvPhase phase without taps (legal)", nil, pd(w, 3, 5, 3, 2, 4, 4, 3, 3, 8))
	add("PackDeconvPhase block 4", []string{"block 4"}, pd(w, 3, 5, 3, 2, 2, 2, 0, 0, 4))
	add("PackDeconvPhase I 0", []string{"I = 0"}, pd(w, 0, 5, 3, 2, 2, 2, 0, 0, 8))
	add("PackDeconvPhase O 0", []string{"O = 0"}, pd(w, 3, 0, 3, 2, 2, 2, 0, 0, 8))
	add("PackDeconvPhase KW 0", []string{"KW = 0"}, pd(w, 3, 5, 3, 0, 2, 2, 0, 0, 8))
	add("PackDeconvPhase short", []string{"len(weights) = 89"}, pd(w[:89], 3, 5, 3, 2, 2, 2, 0, 0, 8))
	add("PackDeconvPhase stride 0", []string{"stride", "0"}, pd(w, 3, 5, 3, 2, 0, 2, 0, 0, 8))
	add("PackDeconvPhase stride -1", []string{"stride", "-1"}, pd(w, 3, 5, 3, 2, 2, -1, 0, 0, 8))
	add("PackDeconvPhase phase -1", []string{"phase", "-1"}, pd(w, 3, 5, 3, 2, 2, 2, -1, 0, 8))
	add("PackDeconvPhase phase = stride", []string{"phase", "2"}, pd(w, 3, 5, 3, 2, 2, 2, 0, 2, 8))
	add("PackDeconvPhase overflow", []string{"overflow"}, pd(w, 1<<20, 1<<20, 1<<20, 1<<20, 1, 1, 0, 0, 8))

	pb := func(b []float32, c, block int) func() error {
		return func() error { _, err := layout.PackBias(b, c, block); return err }
	}
	add("PackBias legal", nil, pb(make([]float32, 5), 5, 8))
	add("PackBias legal nil", nil, pb(nil, 5, 16))
	add("PackBias block 0", []string{"block 0"}, pb(nil, 5, 0))
	add("PackBias block 24", []string{"block 24"}, pb(nil, 5, 24))
	add("PackBias channels 0", []string{"0"}, pb(nil, 0, 8))
	add("PackBias channels -1", []string{"-1"}, pb(nil, -1, 8))
	add("PackBias len 4", []string{"len(bias) = 4"}, pb(make([]float32, 4), 5, 8))
	add("PackBias empty, not nil", []string{"len(bias) = 0"}, pb([]float32{}, 5, 8))
	// A channel count whose round-up to the block overflows int.
	add("PackBias channels MaxInt", []string{"layout"}, pb(nil, math.MaxInt, 8))
	runValCases(t, cases)
}

// TestPackDeconvPhaseHugeStride: a stride near MaxInt is either rejected
// with an error naming the stride or packed correctly (kernel tap r is the
// only tap of phase r); (k - r + s - 1)/s must not overflow into a
// negative tap count.
func TestPackDeconvPhaseHugeStride(t *testing.T) {
	w := make([]float32, 3*3)
	for i := range w {
		w[i] = float32(i + 1)
	}
	for _, s := range []int{math.MaxInt, math.MaxInt - 1, math.MaxInt / 2} {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			var packed []float32
			var nkh, nkw int
			p, stack, err := callSafely(func() error {
				var err error
				packed, nkh, nkw, err = layout.PackDeconvPhase(w, 1, 1, 3, 3, s, 1, 0, 0, 8)
				return err
			})
			if p != nil {
				t.Fatalf("PackDeconvPhase(w, 1, 1, 3, 3, sh=%d, sw=1, 0, 0, 8) panicked: %v\n%s", s, p, stack)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "stride") {
					t.Fatalf("error %q does not name the stride", err)
				}
				return
			}
			if nkh != 1 || nkw != 3 || len(packed) != 3*64 {
				t.Fatalf("got %d x %d taps, %d floats; want 1 x 3 taps, 192 floats", nkh, nkw, len(packed))
			}
		})
	}
}

// valChildEnv marks a test binary started by valChild.
const valChildEnv = "SBCONV_VALIDATE_CHILD"

// valChild reruns test name in a new process with env added, for what can
// kill a process (an allocation the machine cannot satisfy) or depends on
// state fixed at the first call (SBCONV_ISA). It fails t with the child's
// output unless the child passes.
func valChild(t *testing.T, name string, env ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a child process")
	}
	args := []string{"-test.run=^" + name + "$", "-test.count=1", "-test.v"}
	start := func(prog string, args ...string) ([]byte, error) {
		cmd := exec.Command(prog, args...)
		cmd.Env = append(append(os.Environ(), valChildEnv+"="+name), env...)
		return cmd.CombinedOutput()
	}
	out, err := start(os.Args[0], args...)
	if emu := emulator(); errors.Is(err, syscall.ENOEXEC) && emu != "" {
		// A cross-built test binary running under user-mode emulation
		// (go test -exec qemu-aarch64) on a host without a binfmt handler
		// cannot start a copy of itself directly: start it through the
		// same emulator.
		out, err = start(emu, append([]string{os.Args[0]}, args...)...)
	}
	if err != nil {
		tail := string(out)
		if len(tail) > 4000 {
			tail = tail[:4000] + "\n..."
		}
		t.Fatalf("child %s (%v) failed: %v\n%s", name, env, err, tail)
	}
	if !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("child %s (%v) did not run the test:\n%s", name, env, out)
	}
}

// emulator returns the path of the qemu user-mode emulator for this
// binary's architecture, or "" when there is none on PATH.
func emulator() string {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i386"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	path, err := exec.LookPath("qemu-" + arch)
	if err != nil {
		return ""
	}
	return path
}

// TestPackBiasHugeChannels: a channel count past layout.MaxElements must be
// an error, not an allocation that kills the process ("fatal error:
// runtime: out of memory" cannot be recovered), so each count runs in a
// child process.
func TestPackBiasHugeChannels(t *testing.T) {
	if os.Getenv(valChildEnv) == t.Name() {
		c, err := strconv.Atoi(os.Getenv("SBCONV_VALIDATE_C"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := layout.PackBias(nil, c, 8); err == nil {
			t.Fatalf("PackBias(nil, %d, 8) accepted a bias of more than MaxElements = %d floats", c, layout.MaxElements)
		}
		return
	}
	if bits.UintSize != 64 {
		t.Skip("the count below is for 64-bit platforms")
	}
	// 1<<40 floats (4 TiB): far past MaxElements, and too much to map, so
	// the runtime throws at once instead of zeroing gigabytes. (A count
	// just past MaxElements, 1<<31, is accepted too, but takes seconds to
	// allocate.)
	valChild(t, t.Name(), "SBCONV_VALIDATE_C="+fmt.Sprint(1<<(bits.UintSize-24)))
}

// TestSelectISA checks the SBCONV_ISA parser: "" picks the best usable set,
// a known set is accepted when built and usable, and anything else is an
// error that names the request.
func TestSelectISA(t *testing.T) {
	current()
	for _, want := range []string{"", "generic", "avx2", "avx512", "neon", "bogus", "AVX3", "generic,avx2"} {
		t.Run(fmt.Sprintf("%q", want), func(t *testing.T) {
			var s *isaSet
			p, stack, err := callSafely(func() error {
				var err error
				s, err = selectISA(want)
				return err
			})
			if p != nil {
				t.Fatalf("selectISA(%q) panicked: %v\n%s", want, p, stack)
			}
			var usable *isaSet
			for _, x := range isaSets {
				if x.usable && (want == "" && usable == nil || x.name == want) {
					usable = x
				}
			}
			switch {
			case usable != nil:
				if err != nil || s != usable {
					t.Fatalf("selectISA(%q) = %v, %v; want set %q", want, s, err, usable.name)
				}
			case err == nil:
				t.Fatalf("selectISA(%q) = %q, want an error", want, s.name)
			case !strings.Contains(err.Error(), strings.ToLower(want)):
				t.Fatalf("selectISA(%q): error %q does not name the request", want, err)
			}
		})
	}
	if s, err := selectISA("generic"); err != nil || s != genericSet {
		t.Fatalf(`selectISA("generic") = %v, %v; want the generic set`, s, err)
	}
}

// TestISAEnvUnsatisfiable starts the package with SBCONV_ISA set to sets
// this binary cannot honour: constructors must return an error naming the
// request, and ISA() falls back to "generic" without a crash.
func TestISAEnvUnsatisfiable(t *testing.T) {
	if os.Getenv(valChildEnv) == t.Name() {
		req := os.Getenv("SBCONV_ISA")
		_, err := NewConv2D(ConvSpec{InC: 1, OutC: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1}, []float32{1}, nil, 8)
		if err == nil || !strings.Contains(err.Error(), strings.ToLower(req)) {
			t.Fatalf("SBCONV_ISA=%s: NewConv2D error %v, want one naming %q", req, err, req)
		}
		_, err = NewConvTranspose2D(ConvSpec{InC: 1, OutC: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1}, []float32{1}, nil, 8)
		if err == nil {
			t.Fatalf("SBCONV_ISA=%s: NewConvTranspose2D accepted", req)
		}
		if ISAError() == nil {
			t.Fatalf("SBCONV_ISA=%s: ISAError() = nil", req)
		}
		if got := ISA(); got != "generic" {
			t.Fatalf("SBCONV_ISA=%s: ISA() = %q, want generic", req, got)
		}
		return
	}
	var reqs []string
	for _, name := range []string{"bogus", "avx2", "avx512", "neon"} {
		usable := false
		for _, s := range isaSets {
			usable = usable || s.usable && s.name == name
		}
		if !usable {
			reqs = append(reqs, name)
		}
	}
	for _, req := range reqs {
		t.Run(req, func(t *testing.T) {
			valChild(t, "TestISAEnvUnsatisfiable", "SBCONV_ISA="+req)
		})
	}
}

// TestForwardLegalSharing checks, against package ref, the memory sharing
// the contract allows: the residual is src itself (an identity shortcut),
// and dst sits right next to src in one array.
func TestForwardLegalSharing(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, deconv := range []bool{false, true} {
			for _, block := range []int{8, 16} {
				const n, c, h, w = 2, 11, 5, 6
				rs := ref.Spec{N: n, InC: c, OutC: c, H: h, W: w, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}
				spec := ConvSpec{InC: c, OutC: c, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
				x, wts, bias := randSlice(r, n*c*h*w), randSlice(r, c*c*9), randSlice(r, c)
				var fwd func(dst, src *layout.Tensor, ep Epilogue) error
				var want []float32
				if deconv {
					d, err := NewConvTranspose2D(spec, wts, bias, block)
					if err != nil {
						t.Fatal(err)
					}
					fwd, want = d.Forward, ref.ConvTranspose2D(rs, h, w, x, wts, bias, x, true)
				} else {
					cv, err := NewConv2D(spec, wts, bias, block)
					if err != nil {
						t.Fatal(err)
					}
					fwd = cv.Forward
					want, _, _ = ref.Conv2D(rs, x, wts, bias, x, true)
				}
				size, _ := layout.Size(n, c, h, w, block)
				for _, order := range []string{"src then dst", "dst then src"} {
					backing := make([]float32, 2*size)
					so, do := 0, size
					if order == "dst then src" {
						so, do = size, 0
					}
					src := &layout.Tensor{N: n, C: c, H: h, W: w, Block: block, Data: backing[so : so+size]}
					if err := src.SetNCHW(x); err != nil {
						t.Fatal(err)
					}
					dst := &layout.Tensor{N: n, C: c, H: h, W: w, Block: block, Data: backing[do : do+size]}
					for i := range dst.Data {
						dst.Data[i] = float32(math.NaN())
					}
					// The residual is src: same tensor, same memory.
					if err := fwd(dst, src, Epilogue{Residual: src, ReLU: true}); err != nil {
						t.Fatalf("deconv=%v block %d %s: %v", deconv, block, order, err)
					}
					if err := closeEnough(src.NCHW(), x, 0, 0); err != nil {
						t.Fatalf("deconv=%v block %d %s: src changed: %v", deconv, block, order, err)
					}
					checkPadLanes(t, dst)
					if err := closeEnough(dst.NCHW(), want, math.Sqrt(c*9), 1e-5); err != nil {
						t.Fatalf("deconv=%v block %d %s: %v", deconv, block, order, err)
					}
				}
			}
		}
	})
}
