package block

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/sbconv/sbconv/internal/safetensors"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// Param is one tensor of a state_dict: its PyTorch shape and its values in
// PyTorch's (row-major) order.
type Param struct {
	Shape []int
	Data  []float32
}

// StateDict is a PyTorch state_dict being consumed by constructors. Each
// constructor takes the keys it needs (checking their shapes) and marks
// them used; Unused lists what nobody took, so a network builder can be as
// strict as PyTorch's load_state_dict(strict=True). It is not safe for
// concurrent use; the layers built from it are.
type StateDict struct {
	params   map[string]Param
	ignored  map[string]bool // keys that carry no weights (num_batches_tracked)
	used     map[string]bool
	source   string
	metadata map[string]string                       // the file's __metadata__ (ReadStateDict)
	fill     func(key string, shape []int) []float32 // makes up missing keys (RandomNet)
	report   *keyReport                              // while Build runs: collects what does not match
}

// maxDims is the most dimensions a tensor of a StateDict may have: the
// networks' weights have at most 4, and a longer shape is refused before
// it is copied or quoted.
const maxDims = 8

// checkShape refuses a shape no weight of these networks can have: more
// than maxDims dimensions, a negative one, or one (or a product of the
// non-zero ones) over layout.MaxElements, the kernels' limit, so that
// [0, 2^40] is refused as [2^40, 0] is. It returns the element count.
func checkShape(key string, shape []int) (int, error) {
	if len(shape) > maxDims {
		return 0, fmt.Errorf("%s has %d dimensions (shape %s): no weight has more than 4", quoteKey(key), len(shape), shapeText(shape))
	}
	n, nonzero := 1, 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("%s: negative dimension in shape %s", quoteKey(key), shapeText(shape))
		}
		if d > 0 && nonzero > layout.MaxElements/d {
			return 0, fmt.Errorf("%s: shape %s is too large (more than %d elements, even leaving out its zeros)",
				quoteKey(key), shapeText(shape), layout.MaxElements)
		}
		nonzero *= max(d, 1)
		n *= d
	}
	return n, nil
}

// quoteKey quotes a key for a message: at most its first 64 bytes (a key
// from a file may be of any length).
func quoteKey(key string) string { return safetensors.QuoteShort(key) }

// shapeText formats a shape as %v does, eliding the middle of a long one.
func shapeText(shape []int) string {
	if len(shape) <= maxDims {
		return fmt.Sprint(shape)
	}
	head, tail := fmt.Sprint(shape[:4]), fmt.Sprint(shape[len(shape)-4:])
	return fmt.Sprintf("%s ... %d more ... %s", head[:len(head)-1], len(shape)-8, tail[1:])
}

// NewStateDict wraps tensors given in memory (for a network assembled in
// Go rather than read from a file). The map is not copied; its values must
// not change while layers are built from it. A shape is refused when it
// has a negative dimension or more than 8, or when a dimension, or the
// product of the non-zero ones, passes layout.MaxElements: [0, 2^40] as
// [2^40, 0].
func NewStateDict(params map[string]Param) (*StateDict, error) {
	sd := &StateDict{params: map[string]Param{}, ignored: map[string]bool{}, used: map[string]bool{}, source: "state_dict"}
	for k, p := range params {
		n, err := checkShape(k, p.Shape)
		if err != nil {
			return nil, fmt.Errorf("block: %w", err)
		}
		if len(p.Data) != n {
			return nil, fmt.Errorf("block: %s: %d values for shape %s (want %d)", quoteKey(k), len(p.Data), shapeText(p.Shape), n)
		}
		sd.params[k] = p
	}
	return sd, nil
}

// ReadStateDict reads a state_dict saved as safetensors: F32, F16 and BF16
// tensors are converted to float32; num_batches_tracked buffers (I64) are
// accepted and ignored; any other dtype is an error naming the key, as is
// a shape no weight can have (see NewStateDict). The file's __metadata__
// is kept (Metadata), and with it the description of the network that
// python/sbconv_torch.py's save writes there (Spec).
//
// A file that is not safetensors is an error that says what it is; for a
// PyTorch checkpoint (what torch.save writes) it says how to save the
// state_dict as safetensors instead.
func ReadStateDict(path string) (*StateDict, error) {
	f, err := safetensors.ReadFile(path)
	if errors.Is(err, safetensors.ErrCheckpoint) {
		return nil, fmt.Errorf("block: %w; Load reads safetensors: save the model with save(model, path) from "+
			"python/sbconv_torch.py, or the state_dict with safetensors' save_file(model.state_dict(), path)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("block: %w", err)
	}
	names := f.Names()
	sd := &StateDict{params: make(map[string]Param, len(names)), ignored: map[string]bool{}, used: map[string]bool{},
		source: path, metadata: f.Metadata()}
	for _, name := range names {
		t, _ := f.Tensor(name)
		if isBookkeeping(name) {
			sd.ignored[name] = true
			continue
		}
		switch t.DType {
		case "F32", "F16", "BF16":
		default:
			return nil, fmt.Errorf("block: %s: tensor %s has dtype %s, want F32, F16 or BF16", path, quoteKey(name), t.DType)
		}
		if _, err := checkShape(name, t.Shape); err != nil {
			return nil, fmt.Errorf("block: %s: tensor %w", path, err)
		}
		data, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("block: %s: %w", path, err)
		}
		sd.params[name] = Param{Shape: t.Shape, Data: data}
	}
	return sd, nil
}

// isBookkeeping reports whether a state_dict key holds no weights:
// BatchNorm's num_batches_tracked counter, which inference never reads.
func isBookkeeping(key string) bool {
	return key == "num_batches_tracked" || strings.HasSuffix(key, ".num_batches_tracked")
}

// Take returns the values of key, checking that its shape is want. A
// missing key or another shape is an error naming the key and both shapes.
func (sd *StateDict) Take(key string, want ...int) ([]float32, error) {
	if sd == nil || sd.params == nil {
		return nil, fmt.Errorf("block: Take(%q) on a StateDict not made by NewStateDict, ReadStateDict or RandomStateDict", key)
	}
	p, ok := sd.params[key]
	if !ok && sd.fill != nil {
		p = Param{Shape: slices.Clone(want), Data: sd.fill(key, want)}
		sd.params[key] = p
		ok = true
	}
	if ok && slices.Equal(p.Shape, want) {
		sd.used[key] = true
		return p.Data, nil
	}
	if sd.report != nil {
		// Build lists every mismatch, as load_state_dict does: it goes on
		// with zeros in place of this tensor, and fails at the end.
		if ok {
			sd.used[key] = true
		}
		return sd.report.standIn(key, p.Shape, ok, want)
	}
	if !ok {
		return nil, fmt.Errorf("block: %s: missing key %s (want shape %v)", sd.source, quoteKey(key), want)
	}
	return nil, fmt.Errorf("block: %s: key %s has shape %s, want %v", sd.source, quoteKey(key), shapeText(p.Shape), want)
}

// Shape returns the shape of key, or false when there is no such key.
func (sd *StateDict) Shape(key string) ([]int, bool) {
	if sd == nil {
		return nil, false
	}
	p, ok := sd.params[key]
	return p.Shape, ok
}

// Unused returns, sorted, the keys no constructor took (bookkeeping
// buffers such as num_batches_tracked excepted).
func (sd *StateDict) Unused() []string {
	if sd == nil {
		return nil
	}
	out := make([]string, 0, max(0, len(sd.params)-len(sd.used)))
	for k := range sd.params {
		if !sd.used[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// BNEps is BatchNorm2d's default epsilon, which every folded BatchNorm
// uses.
const BNEps = 1e-5

// foldBN reads BatchNorm prefix's weight, bias, running_mean and
// running_var for c channels and returns the per-channel scale and shift
// that BatchNorm applies in eval mode: y = x*scale + shift.
func foldBN(sd *StateDict, prefix string, c int) (scale, shift []float64, err error) {
	get := func(name string) ([]float32, error) { return sd.Take(prefix+"."+name, c) }
	g, err := get("weight")
	if err != nil {
		return nil, nil, err
	}
	b, err := get("bias")
	if err != nil {
		return nil, nil, err
	}
	m, err := get("running_mean")
	if err != nil {
		return nil, nil, err
	}
	v, err := get("running_var")
	if err != nil {
		return nil, nil, err
	}
	scale, shift = make([]float64, c), make([]float64, c)
	for i := 0; i < c; i++ {
		if !(v[i] >= 0) {
			return nil, nil, fmt.Errorf("block: %s: %s.running_var[%d] = %v, want >= 0", sd.source, prefix, i, v[i])
		}
		scale[i] = float64(g[i]) / math.Sqrt(float64(v[i])+BNEps)
		shift[i] = float64(b[i]) - float64(m[i])*scale[i]
	}
	return scale, shift, nil
}

// convBN builds the convolution conv (a Conv2d without bias, OIHW) with
// BatchNorm bn folded into its weights and bias.
func convBN(sd *StateDict, conv, bn string, spec kernels.ConvSpec) (*kernels.Conv2D, error) {
	w, b, err := foldedConv(sd, conv, bn, spec, false)
	if err != nil {
		return nil, err
	}
	c, err := kernels.NewConv2D(spec, w, b, kernels.Block())
	if err != nil {
		return nil, fmt.Errorf("block: %s: %w", conv, err)
	}
	return c, nil
}

// deconvBN is convBN for a ConvTranspose2d (weights IOHW).
func deconvBN(sd *StateDict, conv, bn string, spec kernels.ConvSpec) (*kernels.ConvTranspose2D, error) {
	w, b, err := foldedConv(sd, conv, bn, spec, true)
	if err != nil {
		return nil, err
	}
	d, err := kernels.NewConvTranspose2D(spec, w, b, kernels.Block())
	if err != nil {
		return nil, fmt.Errorf("block: %s: %w", conv, err)
	}
	return d, nil
}

// foldedConv returns conv's weights (OIHW, or IOHW when transposed) scaled
// by bn, and the bias bn leaves, in float32.
func foldedConv(sd *StateDict, conv, bn string, spec kernels.ConvSpec, transposed bool) (w, b []float32, err error) {
	d0, d1 := spec.OutC, spec.InC
	if transposed {
		d0, d1 = spec.InC, spec.OutC
	}
	raw, err := sd.Take(conv+".weight", d0, d1, spec.KH, spec.KW)
	if err != nil {
		return nil, nil, err
	}
	scale, shift, err := foldBN(sd, bn, spec.OutC)
	if err != nil {
		return nil, nil, err
	}
	taps := spec.KH * spec.KW
	w = make([]float32, len(raw))
	for i := 0; i < d0; i++ {
		for j := 0; j < d1; j++ {
			oc := i
			if transposed {
				oc = j
			}
			base := (i*d1 + j) * taps
			for t := 0; t < taps; t++ {
				w[base+t] = float32(float64(raw[base+t]) * scale[oc])
			}
		}
	}
	b = make([]float32, spec.OutC)
	for i := range b {
		b[i] = float32(shift[i])
	}
	return w, b, nil
}

// RandomStateDict returns a state_dict that makes up every key a
// constructor asks for, with the shape it asks for, as a freshly
// initialised PyTorch model in eval mode would hold it (Kaiming-normal
// convolutions, BatchNorm statistics near the identity): for benchmarks,
// and for trying a shape without a trained model. Build a network from it
// with RandomNet, or a single block with its constructor.
func RandomStateDict(seed uint64) *StateDict {
	rng := rand.New(rand.NewPCG(seed, 0x5b))
	sd := &StateDict{params: map[string]Param{}, used: map[string]bool{}, source: "random state_dict"}
	sd.fill = func(key string, shape []int) []float32 {
		n := 1
		for _, d := range shape {
			n *= d
		}
		d := make([]float32, n)
		switch {
		case len(shape) == 4:
			fan := shape[1] * shape[2] * shape[3]
			for i := range d {
				d[i] = float32(rng.NormFloat64() * math.Sqrt(2/float64(fan)))
			}
		case len(shape) == 2:
			for i := range d {
				d[i] = float32(rng.NormFloat64() / math.Sqrt(float64(shape[1])))
			}
		case strings.HasSuffix(key, ".running_var"):
			for i := range d {
				d[i] = float32(0.5 + rng.Float64())
			}
		case strings.HasSuffix(key, ".weight"):
			for i := range d {
				d[i] = float32(0.5 + 0.5*rng.Float64())
			}
		default:
			for i := range d {
				d[i] = float32(0.1 * rng.NormFloat64())
			}
		}
		return d
	}
	return sd
}

// RandomNet builds the network spec names from RandomStateDict(seed).
// spec.NumClasses must be set.
func RandomNet(spec NetSpec, seed uint64) (*Net, error) {
	if spec.NumClasses < 1 {
		return nil, fmt.Errorf("block: RandomNet: NetSpec.NumClasses = %d: must be positive", spec.NumClasses)
	}
	return Build(RandomStateDict(seed), spec)
}
