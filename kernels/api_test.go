package kernels_test

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"
	"testing"

	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// TestAPINeverPanics calls every exported function and method of packages
// kernels and layout, found by parsing their sources, with zero values,
// nil receivers (every method has a pointer receiver), malformed tensors
// and extreme integers, and requires an error or a sane result, never a
// panic. An exported function, or a type with methods, that the tables
// below do not know fails the test: add it (and values for any new
// parameter type) when you add to the API.
func TestAPINeverPanics(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	threads := kernels.Threads()
	v := newAPIValues(t)

	funcs := map[string]map[string]any{
		"kernels": {
			"Block":              kernels.Block,
			"ISA":                kernels.ISA,
			"ISAError":           kernels.ISAError,
			"ISAs":               kernels.ISAs,
			"MaxPool3x3S2":       kernels.MaxPool3x3S2,
			"NewConv2D":          kernels.NewConv2D,
			"NewConvTranspose2D": kernels.NewConvTranspose2D,
			"SetThreads":         kernels.SetThreads,
			"Threads":            kernels.Threads,
		},
		"layout": {
			"CheckBlock":      layout.CheckBlock,
			"ConvWeightsLen":  layout.ConvWeightsLen,
			"FromNCHW":        layout.FromNCHW,
			"MulCheck":        layout.MulCheck,
			"New":             layout.New,
			"PackBias":        layout.PackBias,
			"PackConv":        layout.PackConv,
			"PackDeconvPhase": layout.PackDeconvPhase,
			"PackDeconvRows":  layout.PackDeconvRows,
			"PhaseTaps":       layout.PhaseTaps,
			"Size":            layout.Size,
		},
	}
	// The exported types that have methods, and the receivers to call
	// them on besides nil and the zero value.
	types := map[string]map[string]reflect.Type{
		"kernels": {
			"Conv2D":          reflect.TypeFor[kernels.Conv2D](),
			"ConvTranspose2D": reflect.TypeFor[kernels.ConvTranspose2D](),
			"ConvSpec":        reflect.TypeFor[kernels.ConvSpec](),
			"Epilogue":        reflect.TypeFor[kernels.Epilogue](),
		},
		"layout": {
			"Tensor": reflect.TypeFor[layout.Tensor](),
		},
	}
	receivers := map[reflect.Type][]reflect.Value{
		reflect.TypeFor[kernels.Conv2D]():          {reflect.ValueOf(v.conv)},
		reflect.TypeFor[kernels.ConvTranspose2D](): {reflect.ValueOf(v.deconv)},
	}
	for _, x := range v.tensors {
		if x != nil {
			receivers[reflect.TypeFor[layout.Tensor]()] = append(receivers[reflect.TypeFor[layout.Tensor]()], reflect.ValueOf(x))
		}
	}

	calls := 0
	for _, pkg := range []string{"kernels", "layout"} {
		dir := map[string]string{"kernels": ".", "layout": "../layout"}[pkg]
		api := exportedAPI(t, dir)
		for _, name := range api.funcs {
			f, ok := funcs[pkg][name]
			if !ok {
				t.Errorf("%s.%s is exported but not in this test's table of functions: add it", pkg, name)
				continue
			}
			fn := reflect.ValueOf(f)
			calls += v.sweep(t, pkg+"."+name, fn.Type(), func(args []reflect.Value) []reflect.Value {
				defer kernels.SetThreads(threads)
				return callVariadic(fn, args)
			})
		}
		for _, tname := range api.typesWithMethods() {
			typ, ok := types[pkg][tname]
			if !ok {
				t.Errorf("%s.%s has exported methods but is not in this test's table of types: add it", pkg, tname)
				continue
			}
			ptr := reflect.PointerTo(typ)
			for _, mname := range api.methods[tname] {
				m, ok := ptr.MethodByName(mname)
				if !ok {
					t.Errorf("%s.%s.%s: parsed but not in the method set", pkg, tname, mname)
					continue
				}
				_, valueRecv := typ.MethodByName(mname)
				recvs := []reflect.Value{reflect.New(typ)} // the zero value
				if !valueRecv {
					recvs = append(recvs, reflect.Zero(ptr)) // nil
				}
				recvs = append(recvs, receivers[typ]...)
				for _, r := range recvs {
					desc := fmt.Sprintf("%s.%s.%s on %s", pkg, tname, mname, describe(r))
					calls += v.sweep(t, desc, m.Func.Type(), func(args []reflect.Value) []reflect.Value {
						defer kernels.SetThreads(threads)
						return callVariadic(m.Func, append([]reflect.Value{r}, args[1:]...))
					}, 1)
				}
			}
		}
	}
	t.Logf("%d calls", calls)
}

// callVariadic calls fn with args, the last one the variadic slice if fn
// is variadic.
func callVariadic(fn reflect.Value, args []reflect.Value) []reflect.Value {
	if fn.Type().IsVariadic() {
		return fn.CallSlice(args)
	}
	return fn.Call(args)
}

func describe(r reflect.Value) string {
	if r.IsNil() {
		return "nil"
	}
	if x, ok := r.Interface().(*layout.Tensor); ok {
		return fmt.Sprintf("&Tensor{N: %d, C: %d, H: %d, W: %d, Block: %d, len(Data): %d}", x.N, x.C, x.H, x.W, x.Block, len(x.Data))
	}
	if r.Elem().IsZero() {
		return "the zero value"
	}
	return "a built value"
}

// apiValues holds the argument values per parameter type, the first of
// each list a legal, typical one.
type apiValues struct {
	byType  map[reflect.Type][]reflect.Value
	conv    *kernels.Conv2D
	deconv  *kernels.ConvTranspose2D
	tensors []*layout.Tensor
	rng     *rand.Rand
}

func newAPIValues(t *testing.T) *apiValues {
	spec := kernels.ConvSpec{InC: 3, OutC: 5, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	conv, err := kernels.NewConv2D(spec, make([]float32, 5*3*9), make([]float32, 5), 8)
	if err != nil {
		t.Fatal(err)
	}
	deconv, err := kernels.NewConvTranspose2D(spec, make([]float32, 3*5*9), nil, 8)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(n, c, h, w, b int) *layout.Tensor {
		x, err := layout.New(n, c, h, w, b)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	// Legal tensors for both layers, both directions, and the max pool
	// (7x7 -> 4x4), then tensors no constructor returns.
	tensors := []*layout.Tensor{
		mk(1, 3, 7, 7, 8), mk(1, 5, 4, 4, 8), mk(1, 3, 4, 4, 8), mk(1, 5, 7, 7, 8), mk(2, 3, 7, 7, 16),
		nil,
		{},
		{N: 1, C: 3, H: 7, W: 7, Block: 8}, // no Data
		{N: 1, C: 3, H: 7, W: 7, Block: 8, Data: make([]float32, 391)},             // Data one short
		{N: 1, C: 3, H: 7, W: 7, Block: 4, Data: make([]float32, 196)},             // illegal block
		{N: 1, C: 3, H: 7, W: 7, Data: make([]float32, 392)},                       // block 0
		{N: -1, C: 3, H: 7, W: 7, Block: 8, Data: make([]float32, 392)},            // negative batch
		{N: math.MaxInt, C: math.MaxInt, H: math.MaxInt, W: math.MaxInt, Block: 8}, // overflowing
		{N: 1 << 20, C: 1 << 20, H: 1 << 20, W: 1 << 20, Block: 16, Data: make([]float32, 16)},
	}
	ints := []int{1, 0, -1, 2, 3, 7, 8, 16, 17, 1 << 20, 1 << 31, layout.MaxElements, layout.MaxElements + 1,
		math.MaxInt / 2, math.MaxInt - 1, math.MaxInt, math.MinInt}
	floats := [][]float32{make([]float32, 3*7*7), nil, {}, make([]float32, 5*3*9), make([]float32, 5),
		make([]float32, 5*4*4), make([]float32, 1)}
	specs := []kernels.ConvSpec{
		{InC: 3, OutC: 5, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
		{},
		{InC: 1, OutC: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1},
		{InC: -1, OutC: -1, KH: -1, KW: -1, StrideH: -1, StrideW: -1, PadH: -1, PadW: -1},
		{InC: math.MaxInt, OutC: math.MaxInt, KH: math.MaxInt, KW: math.MaxInt, StrideH: math.MaxInt, StrideW: math.MaxInt, PadH: math.MaxInt, PadW: math.MaxInt},
		{InC: kernels.MaxChannels, OutC: kernels.MaxChannels, KH: kernels.MaxKernel, KW: kernels.MaxKernel, StrideH: kernels.MaxStride, StrideW: kernels.MaxStride, PadH: kernels.MaxPad, PadW: kernels.MaxPad},
	}
	var eps []kernels.Epilogue
	for _, r := range append([]*layout.Tensor{nil}, tensors...) {
		eps = append(eps, kernels.Epilogue{Residual: r, ReLU: r == nil})
	}
	v := &apiValues{byType: map[reflect.Type][]reflect.Value{}, conv: conv, deconv: deconv, tensors: tensors,
		rng: rand.New(rand.NewPCG(7, 11))}
	add := func(xs any) {
		s := reflect.ValueOf(xs)
		for i := 0; i < s.Len(); i++ {
			v.byType[s.Type().Elem()] = append(v.byType[s.Type().Elem()], s.Index(i))
		}
	}
	add(ints)
	add(floats)
	add(tensors)
	add(specs)
	add(eps)
	add([]string{"x", ""})
	add([]bool{false, true})
	add([][]int{{3, 4}, nil, {0}, {-1, 2}, {math.MaxInt, 2}, {1 << 31, 1 << 31, 1 << 31}})
	return v
}

// sweep calls call with argument lists for a function type (parameters
// from skip on; those before are the caller's), checks that it neither
// panics nor returns an insane result, and returns the number of calls.
// Up to 4096 combinations it tries them all; beyond, each value of each
// parameter with the others typical, then random combinations.
func (v *apiValues) sweep(t *testing.T, name string, ft reflect.Type, call func([]reflect.Value) []reflect.Value, skip ...int) int {
	t.Helper()
	first := 0
	if len(skip) > 0 {
		first = skip[0]
	}
	lists := make([][]reflect.Value, ft.NumIn())
	total := 1
	for i := first; i < ft.NumIn(); i++ {
		lists[i] = v.byType[ft.In(i)]
		if len(lists[i]) == 0 {
			t.Fatalf("%s: no test values for parameter type %v: add some to newAPIValues", name, ft.In(i))
		}
		total = min(total*len(lists[i]), 1<<20)
	}
	var combos [][]int
	idx := make([]int, ft.NumIn())
	if total <= 4096 {
		for {
			combos = append(combos, append([]int(nil), idx...))
			i := first
			for ; i < len(idx); i++ {
				if idx[i]++; idx[i] < len(lists[i]) {
					break
				}
				idx[i] = 0
			}
			if i == len(idx) {
				break
			}
		}
	} else {
		for i := first; i < len(idx); i++ {
			for j := range lists[i] {
				c := make([]int, len(idx))
				c[i] = j
				combos = append(combos, c)
			}
		}
		for range 2000 {
			c := make([]int, len(idx))
			for i := first; i < len(idx); i++ {
				c[i] = v.rng.IntN(len(lists[i]))
			}
			combos = append(combos, c)
		}
	}
	for _, c := range combos {
		args := make([]reflect.Value, ft.NumIn())
		for i := first; i < len(args); i++ {
			args[i] = lists[i][c[i]]
		}
		out, p, stack := func() (out []reflect.Value, p any, stack []byte) {
			defer func() {
				if p = recover(); p != nil {
					stack = debug.Stack()
				}
			}()
			return call(args), nil, nil
		}()
		if p != nil {
			t.Errorf("%s%s panicked: %v\n%s", name, formatArgs(args[first:]), p, stack)
			return len(combos) // the first panic of each function is enough
		}
		if problem := insane(name, out); problem != "" {
			t.Errorf("%s%s: %s", name, formatArgs(args[first:]), problem)
		}
	}
	return len(combos)
}

// insane returns what is wrong with a call's results, or "": floats must
// be finite and not negative (FLOPs), ints not below -1 (Offset's "no
// such element"), and the sizes of an error-free OutputSize or
// OutputRange ordered and positive.
func insane(name string, out []reflect.Value) string {
	errFree := true
	if n := len(out); n > 0 && out[n-1].Type() == reflect.TypeFor[error]() {
		errFree = out[n-1].IsNil()
	}
	var ints []int
	for _, o := range out {
		switch o.Kind() {
		case reflect.Float64:
			if f := o.Float(); f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
				return fmt.Sprintf("result %v", f)
			}
		case reflect.Int:
			if o.Int() < -1 {
				return fmt.Sprintf("result %d", o.Int())
			}
			ints = append(ints, int(o.Int()))
		}
	}
	if errFree && strings.Contains(name, ".OutputSize ") && (ints[0] < 1 || ints[1] < 1) {
		return fmt.Sprintf("size %dx%d with a nil error", ints[0], ints[1])
	}
	if errFree && strings.Contains(name, ".OutputRange ") && (ints[0] < 1 || ints[0] > ints[1] || ints[2] < 1 || ints[2] > ints[3]) {
		return fmt.Sprintf("range [%d, %d] x [%d, %d] with a nil error", ints[0], ints[1], ints[2], ints[3])
	}
	return ""
}

func formatArgs(args []reflect.Value) string {
	var s []string
	for _, a := range args {
		switch x := a.Interface().(type) {
		case []float32:
			if x == nil {
				s = append(s, "nil")
			} else {
				s = append(s, fmt.Sprintf("[%d]float32", len(x)))
			}
		case *layout.Tensor:
			s = append(s, describe(a))
		default:
			s = append(s, fmt.Sprintf("%+v", x))
		}
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// apiBuildTags are the build tags of this test binary that select files
// (api_purego_test.go adds purego).
var apiBuildTags []string

// parsedAPI is a package's exported functions and, per exported type, its
// exported methods, from the sources this build compiles.
type parsedAPI struct {
	funcs   []string
	methods map[string][]string
}

func (a parsedAPI) typesWithMethods() []string {
	var out []string
	for k := range a.methods {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func exportedAPI(t *testing.T, dir string) parsedAPI {
	t.Helper()
	ctx := build.Default
	ctx.BuildTags = append(ctx.BuildTags, apiBuildTags...)
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	api := parsedAPI{methods: map[string][]string{}}
	fset := token.NewFileSet()
	for _, path := range files {
		base := filepath.Base(path)
		if strings.HasSuffix(base, "_test.go") {
			continue
		}
		if ok, err := ctx.MatchFile(dir, base); err != nil || !ok {
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || !fd.Name.IsExported() {
				continue
			}
			if fd.Recv == nil {
				api.funcs = append(api.funcs, fd.Name.Name)
				continue
			}
			rt := fd.Recv.List[0].Type
			if st, ok := rt.(*ast.StarExpr); ok {
				rt = st.X
			}
			if id, ok := rt.(*ast.Ident); ok && id.IsExported() {
				api.methods[id.Name] = append(api.methods[id.Name], fd.Name.Name)
			}
		}
	}
	if len(api.funcs) == 0 {
		t.Fatalf("found no exported functions in %s", dir)
	}
	return api
}
