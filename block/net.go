package block

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sbconv/sbconv/internal/workers"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// NetSpec names a network. Load and Build take the fields a spec leaves
// zero from the file's description of its network when it has one (see
// Load); NetSpec{} builds what the file describes.
type NetSpec struct {
	Arch       string // "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet18", "resnet34", "resnet50"
	SB         []int  // 1-based stages whose blocks are all spatial bottlenecks; empty: the regular network
	Width      int    // channels of stage 1 (later stages double it); 0: conv1.weight's rows, or the architecture's own, 16 or 64
	NumClasses int    // 0: as many as fc.weight has rows
	Rate       int    // sampling rate of the SB stages: 2, 3 or 4; 0 means 2 (or the file's description)
}

// arch describes one of the named architectures.
type arch struct {
	cifar      bool  // 3x3 stem, no max pool, 3 stages; else 7x7 stride-2 stem, max pool, 4 stages
	bottleneck bool  // Bottleneck blocks (expansion 4); else BasicBlock
	blocks     []int // blocks per stage
	width      int   // default Width
}

var archs = map[string]arch{
	"resnet20":  {cifar: true, blocks: []int{3, 3, 3}, width: 16},
	"resnet32":  {cifar: true, blocks: []int{5, 5, 5}, width: 16},
	"resnet44":  {cifar: true, blocks: []int{7, 7, 7}, width: 16},
	"resnet56":  {cifar: true, blocks: []int{9, 9, 9}, width: 16},
	"resnet110": {cifar: true, blocks: []int{18, 18, 18}, width: 16},
	"resnet18":  {blocks: []int{2, 2, 2, 2}, width: 64},
	"resnet34":  {blocks: []int{3, 4, 6, 3}, width: 64},
	"resnet50":  {bottleneck: true, blocks: []int{3, 4, 6, 3}, width: 64},
}

// Archs lists the architectures NetSpec.Arch accepts.
func Archs() []string {
	var out []string
	for k := range archs {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Net is a whole network: stem, residual stages, global average pooling
// and the fully connected classifier, with every BatchNorm folded into the
// convolution before it. It is immutable once built and safe for
// concurrent Forward calls.
type Net struct {
	spec    NetSpec
	arch    arch
	stem    *Stem
	blocks  []Block
	fc      *kernels.Conv2D // Linear as a 1x1 convolution over the pooled features
	classes int
	cache   shapeCache[*workspace]
}

// workspace holds every tensor of one Forward call for one input shape.
type workspace struct {
	stemWS *stemWS            // the stem's packed input
	stem   *layout.Tensor     // the stem's output
	pooled *layout.Tensor     // after the max pool (ImageNet), or nil
	tmp    [][]*layout.Tensor // each block's intermediates, a map of one shape shared by the blocks (sharedMaps)
	out    *layout.Tensor     // the last block's output: Forward runs the blocks in place (blocksOn), leaving it in a map of tmp (or pooled, or stem)
	acts   []*layout.Tensor   // Steps' workspace only: each block's output, as Block.Forward writes it
	feat   *layout.Tensor     // n x C x 1 x 1, the pooled features
	logits *layout.Tensor     // n x classes x 1 x 1
	sides  *sides             // the batch's split for side-by-side runs (sides.go), made when first needed
}

// Load reads a PyTorch state_dict saved as safetensors (F32, F16 or BF16
// tensors, torchvision key names) and builds the network for
// kernels.Block().
//
// A file saved by python/sbconv_torch.py's save describes its network in
// its __metadata__ (see StateDict.Spec): Load(path, block.NetSpec{})
// builds that network, and a spec that sets a field the description
// contradicts (Arch; SB, compared as a set, whenever Arch is set; Width,
// NumClasses or Rate when non-zero) is an error naming both values. A
// file without the description (safetensors' save_file) loads from a spec
// that names Arch; then what the weights cannot tell is not checked: a
// regular basic block and its spatial-bottleneck form (SB) have the same
// keys and shapes, as do convolutions with padding 0 and 1 and spatial
// bottlenecks whose kernels fit two rates (3x3 at rates 2 and 3), so a
// wrong SB or Rate on such a file builds a network that computes other
// logits; a Rate whose restore kernels cannot be (K from r to 2r-1) is an
// error naming the key. Where neither spec nor description gives them,
// Width is the rows of conv1.weight, NumClasses those of fc.weight and
// Rate 2; Net.Spec reports the network built.
//
// Like PyTorch's load_state_dict(strict=True), Load lists every missing,
// unexpected and mis-shaped key (naming a few and counting the rest), and
// says so when the unexpected keys are the missing ones under a common
// prefix (such as DataParallel's "module."). A truncated or malformed
// file is an error, never a panic; a PyTorch checkpoint (torch.save's zip
// or pickle) is an error that says how to save safetensors instead.
func Load(path string, spec NetSpec) (*Net, error) {
	sd, err := ReadStateDict(path)
	if err != nil {
		return nil, err
	}
	return Build(sd, spec)
}

// Build builds the network spec names from sd, completing spec from the
// description sd carries and from its weights as Load does, and fails, as
// Load does, on any key it did not use.
func Build(sd *StateDict, spec NetSpec) (*Net, error) {
	if sd != nil && sd.params != nil {
		if p, ok := wrapperPrefix(sd); ok {
			return nil, fmt.Errorf("block: %s: every key carries the prefix %s, which the network's keys lack "+
				"(%q, not %q): %s", sd.name(), quoteKey(p), "conv1.weight", p+"conv1.weight", stripHint(p))
		}
	}
	spec, err := resolve(sd, spec)
	if err != nil {
		return nil, err
	}
	if sd == nil || sd.params == nil {
		return build(sd, spec)
	}
	sd.report = newKeyReport(sd)
	defer func() { sd.report = nil }()
	n, err := build(sd, spec)
	var unexpected []string
	if err == nil {
		unexpected = sd.Unused()
	}
	if kerr := sd.report.err(sd, spec, unexpected); kerr != nil {
		return nil, kerr
	}
	return n, err
}

// maxWidth is the largest Width the kernels take for a.
func (a arch) maxWidth() int {
	w := kernels.MaxChannels >> (len(a.blocks) - 1)
	if a.bottleneck {
		w /= Expansion
	}
	return w
}

func build(sd *StateDict, spec NetSpec) (*Net, error) {
	a, ok := archs[spec.Arch]
	if !ok {
		return nil, fmt.Errorf("block: NetSpec.Arch = %s: want one of %s", quoteKey(spec.Arch), strings.Join(Archs(), ", "))
	}
	stages := len(a.blocks)
	sb := make([]bool, stages+1)
	for _, s := range spec.SB {
		if s < 1 || s > stages {
			return nil, fmt.Errorf("block: NetSpec.SB names stage %d: %s has stages 1..%d", s, spec.Arch, stages)
		}
		if sb[s] {
			return nil, fmt.Errorf("block: NetSpec.SB names stage %d twice", s)
		}
		sb[s] = true
	}
	width := spec.Width
	if width == 0 {
		width = a.width
	}
	if width < 1 || width > a.maxWidth() {
		return nil, fmt.Errorf("block: NetSpec.Width = %d: must be in [1, %d] for %s", spec.Width, a.maxWidth(), spec.Arch)
	}
	if err := checkRate("NetSpec.Rate", rateOf(spec.Rate)); err != nil {
		return nil, fmt.Errorf("%w (0 means 2)", err)
	}
	if spec.NumClasses < 0 {
		return nil, fmt.Errorf("block: NetSpec.NumClasses = %d: must be positive, or 0 for fc.weight's rows", spec.NumClasses)
	}
	// Weights to be made up (RandomStateDict's, RandomNet's): every
	// layer's size and the total are checked before the first is. Weights
	// in memory (a file's, NewStateDict's) exist already: each constructor
	// checks its layers against the kernels' limits before it folds them,
	// and a spec they do not fit is reported by its keys.
	if sd != nil && sd.fill != nil {
		if err := checkNetSize(spec.Arch, a, sb, rateOf(spec.Rate), width, spec.NumClasses); err != nil {
			return nil, err
		}
	}
	n := &Net{spec: spec, arch: a}
	n.spec.SB = slices.Clone(spec.SB)
	n.spec.Width = width

	var err error
	if n.stem, err = NewStem(sd, "conv1", "bn1", a.stemSpec(width)); err != nil {
		return nil, err
	}
	inC := width
	n.spec.Rate = rateOf(spec.Rate)
	for _, p := range a.plan(width, sb, n.spec.Rate) {
		var b Block
		switch {
		case a.bottleneck && p.sb:
			b, err = NewSBBottleneck(sd, p.prefix, p.inC, p.planes, p.stride, p.rate)
		case a.bottleneck:
			b, err = NewBottleneck(sd, p.prefix, p.inC, p.planes, p.stride)
		case p.sb:
			b, err = NewSBBasic(sd, p.prefix, p.inC, p.planes, p.stride, p.rate)
		default:
			b, err = NewBasicBlock(sd, p.prefix, p.inC, p.planes, p.stride)
		}
		if err != nil {
			return nil, err
		}
		n.blocks = append(n.blocks, b)
		inC = b.OutChannels()
	}

	classes := spec.NumClasses
	if classes == 0 {
		fcShape, ok := sd.Shape("fc.weight")
		if !ok && sd.report != nil {
			// Build lists it with the other missing keys.
			sd.report.missingText("fc.weight", fmt.Sprintf("[classes %d]", inC))
			sd.report.missingText("fc.bias", "[classes]")
			return n, nil
		}
		if !ok {
			return nil, fmt.Errorf("block: %s: missing key %q (want shape [classes %d])", sd.name(), "fc.weight", inC)
		}
		if len(fcShape) == 2 {
			classes = fcShape[0]
		}
		if classes < 1 || classes > kernels.MaxChannels {
			return nil, fmt.Errorf("block: %s: %q has shape %s: want [classes %d] with classes in [1, %d]",
				sd.name(), "fc.weight", shapeText(fcShape), inC, kernels.MaxChannels)
		}
	}
	if classes > kernels.MaxChannels {
		return nil, fmt.Errorf("block: NetSpec.NumClasses = %d: must be at most %d", classes, kernels.MaxChannels)
	}
	fw, err := sd.Take("fc.weight", classes, inC)
	if err != nil {
		return nil, err
	}
	fb, err := sd.Take("fc.bias", classes)
	if err != nil {
		return nil, err
	}
	if n.fc, err = kernels.NewConv2D(conv(inC, classes, 1, 1, 0), fw, fb, kernels.Block()); err != nil {
		return nil, fmt.Errorf("block: fc: %w", err)
	}
	n.classes = classes
	n.spec.NumClasses = classes
	return n, nil
}

// NumClasses returns the number of logits per image.
func (n *Net) NumClasses() int {
	if n == nil {
		return 0
	}
	return n.classes
}

// built reports whether n was made by Build, Load or RandomNet (the
// methods of a nil or zero Net return errors and zeros).
func (n *Net) built() bool { return n != nil && n.stem != nil && n.fc != nil }

// Spec returns the spec the network was built from, resolved: Arch and SB
// as built, Width, NumClasses and Rate as the network has them.
func (n *Net) Spec() NetSpec {
	if n == nil {
		return NetSpec{}
	}
	s := n.spec
	s.SB = slices.Clone(s.SB)
	return s
}

// Blocks returns the network's residual blocks in order.
func (n *Net) Blocks() []Block {
	if n == nil {
		return nil
	}
	return slices.Clone(n.blocks)
}

// shapes walks the network for a batch x 3 x h x w input: f sees the input
// size of every block in order. It returns the size of the last map, or
// an error when some map would be empty.
func (n *Net) shapes(h, w int, f func(i int, b Block, h, w int)) (int, int, error) {
	oh, ow, err := n.stem.OutputSize(h, w)
	if err != nil {
		return 0, 0, err
	}
	if !n.arch.cifar {
		oh, ow = poolOut(oh), poolOut(ow)
	}
	for i, b := range n.blocks {
		if f != nil {
			f(i, b, oh, ow)
		}
		if oh, ow, err = b.OutputSize(oh, ow); err != nil {
			return 0, 0, err
		}
	}
	return oh, ow, nil
}

// FLOPs returns the floating-point operations of one Forward call,
// counting each multiply-add as two (so a convolution's FLOPs are twice
// its multiply-adds): the convolutions' and fc's by their real taps; the
// poolings, BatchNorm (folded) and the residual adds are not counted.
func (n *Net) FLOPs(batch, h, w int) float64 {
	if !n.built() {
		return 0
	}
	total := n.stem.FLOPs(batch, h, w)
	if _, _, err := n.shapes(h, w, func(_ int, b Block, h, w int) { total += b.FLOPs(batch, h, w) }); err != nil {
		return 0
	}
	return total + n.fc.FLOPs(batch, 1, 1)
}

// sharedMaps hands out the intermediates of a workspace's blocks. The
// blocks run one after another, so a map that lives only while its block
// runs is shared with every other block's map of the same shape: the k-th
// map of a shape in one block is the k-th in every block that has one (a
// block's own maps stay distinct). A projection's output is the block's
// own, since the blocks after it run in place on it. Only maps of one
// shape are shared: side by side (sides.go) each goroutine's images are
// the same slice of a map in every block, which would not hold for
// maps of two shapes over one buffer. (ResNet-50 at batch 8 on 224x224:
// Forward's maps 185 -> 127 MB, the projections' outputs 48 of them.)
type sharedMaps struct {
	batch int
	maps  map[sharedKey]*layout.Tensor
}

// sharedKey names a shared map: the k-th of its shape in a block.
type sharedKey struct {
	shape [3]int
	k     int
}

// take returns a block's maps for shapes, the last its own when own is
// set (the projection's output, withProjection's last).
func (s *sharedMaps) take(shapes [][3]int, own bool) ([]*layout.Tensor, error) {
	shared := shapes
	if own {
		shared = shapes[:len(shapes)-1]
	}
	out := make([]*layout.Tensor, 0, len(shapes))
	for i, sh := range shared {
		k := 0
		for _, prev := range shared[:i] {
			if prev == sh {
				k++
			}
		}
		key := sharedKey{sh, k}
		t := s.maps[key]
		if t == nil {
			ts, err := newTensors(s.batch, [][3]int{sh})
			if err != nil {
				return nil, err
			}
			t = ts[0]
			s.maps[key] = t
		}
		out = append(out, t)
	}
	if own {
		ts, err := newTensors(s.batch, shapes[len(shapes)-1:])
		if err != nil {
			return nil, err
		}
		out = append(out, ts[0])
	}
	return out, nil
}

// newWorkspace allocates the tensors of a call on a batch x 3 x h x w
// input; with steps, also a map for each block's output (Steps runs each
// block out of place, so that every step can be timed alone).
func (n *Net) newWorkspace(batch, h, w int, steps bool) (*workspace, error) {
	ws := &workspace{}
	var err error
	if ws.stemWS, err = n.stem.newWorkspace(batch, h, w); err != nil {
		return nil, err
	}
	sh, sw, err := n.stem.OutputSize(h, w)
	if err != nil {
		return nil, err
	}
	if ws.stem, err = layout.New(batch, n.stem.OutChannels(), sh, sw, kernels.Block()); err != nil {
		return nil, fmt.Errorf("block: %w", err)
	}
	if !n.arch.cifar {
		if ws.pooled, err = layout.New(batch, n.stem.OutChannels(), poolOut(sh), poolOut(sw), kernels.Block()); err != nil {
			return nil, fmt.Errorf("block: %w", err)
		}
	}
	if steps {
		ws.acts = make([]*layout.Tensor, len(n.blocks))
	}
	ws.tmp = make([][]*layout.Tensor, len(n.blocks))
	maps := sharedMaps{batch: batch, maps: map[sharedKey]*layout.Tensor{}}
	var ferr error
	_, _, err = n.shapes(h, w, func(i int, b Block, h, w int) {
		if ferr != nil {
			return
		}
		oh, ow, err := b.OutputSize(h, w)
		if err != nil {
			ferr = err
			return
		}
		if ws.tmp[i], err = maps.take(b.scratch(h, w), b.res().down != nil); err != nil {
			ferr = err
			return
		}
		if !steps {
			return
		}
		acts, err := newTensors(batch, [][3]int{{b.OutChannels(), oh, ow}})
		if err != nil {
			ferr = err
			return
		}
		ws.acts[i] = acts[0]
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, err
	}
	ws.out = ws.stem
	if ws.pooled != nil {
		ws.out = ws.pooled
	}
	for i, b := range n.blocks {
		ws.out = b.out(ws.out, ws.tmp[i])
	}
	c := n.fc.Spec()
	if ws.feat, err = layout.New(batch, c.InC, 1, 1, kernels.Block()); err != nil {
		return nil, fmt.Errorf("block: %w", err)
	}
	if ws.logits, err = layout.New(batch, c.OutC, 1, 1, kernels.Block()); err != nil {
		return nil, fmt.Errorf("block: %w", err)
	}
	return ws, nil
}

// Forward writes batch*NumClasses() logits for a batch x 3 x h x w input
// in NCHW order. Safe for concurrent use; allocates nothing in the steady
// state (workspaces are kept between calls, within the bounds
// SetWorkspaceLimit sets). Every input size PyTorch accepts works (h, w
// >= 1); any other is an error.
//
// A call uses kernels.Threads() goroutines, its workers held for all of
// its layers, unless the last call of its input shape split nothing
// (then the workers are left parked rather than polling on a core of
// their own for nothing). A batch that divides evenly among them runs
// side by side:
// each goroutine takes batch/threads images through every block on its
// own, with no join between layers; otherwise every layer is split. The
// logits are bit-identical either way, and whatever the thread count.
func (n *Net) Forward(logits, input []float32, batch, h, w int) error {
	if !n.built() {
		return fmt.Errorf("block: Forward on a Net not made by Build, Load or RandomNet")
	}
	if err := n.stem.checkInput(input, batch, h, w); err != nil {
		return err
	}
	if want := batch * n.classes; len(logits) != want {
		return fmt.Errorf("block: len(logits) = %d, want batch*NumClasses = %d*%d = %d", len(logits), batch, n.classes, want)
	}
	return n.cache.with([3]int{batch, h, w}, func() (*workspace, error) { return n.newWorkspace(batch, h, w, false) },
		func(ws *workspace) error { return n.forward(ws, logits, input, h, w) })
}

// SetWorkspaceLimit bounds the workspaces the network keeps between
// Forward calls: those of the shapes most recently used input shapes
// (batch, height, width), and for each at most perShape idle ones (0:
// GOMAXPROCS, the default). shapes = 0 keeps none, so every call
// allocates its own workspace and nothing outlives it. The defaults are
// DefaultWorkspaceShapes shapes and GOMAXPROCS per shape. A workspace
// holds every intermediate map of a call: for one 224x224 image about 16
// MB for ResNet-18 and 64 MB for ResNet-50 at width 64, in proportion to
// the batch, the pixels and the width. The same bounds apply to the
// workspaces the stem and blocks keep when they are run on their own.
// Safe to call concurrently with Forward.
func (n *Net) SetWorkspaceLimit(shapes, perShape int) error {
	if !n.built() {
		return fmt.Errorf("block: SetWorkspaceLimit on a Net not made by Build, Load or RandomNet")
	}
	if err := checkWorkspaceLimit(shapes, perShape); err != nil {
		return err
	}
	n.cache.setLimit(shapes, perShape)
	n.stem.cache.setLimit(shapes, perShape)
	for _, b := range n.blocks {
		b.workspaces().setLimit(shapes, perShape)
	}
	return nil
}

// Release drops every workspace the network keeps: its own, its stem's
// and blocks', and the input copies its layers keep (kernels.Conv2D's
// Release), for a server that has served a burst of sizes or of
// concurrent calls it will not see again. Calls running meanwhile finish
// on their own workspace and keep it when they return; the next call of
// a shape allocates its workspace again. Safe on a nil Net.
func (n *Net) Release() {
	if n == nil {
		return
	}
	n.cache.release()
	n.stem.Release()
	for _, b := range n.blocks {
		b.Release()
	}
	n.fc.Release()
}

func (n *Net) forward(ws *workspace, logits, input []float32, h, w int) error {
	if err := n.stem.forward(ws.stem, ws.stemWS, input, h, w); err != nil {
		return err
	}
	x := ws.stem
	if ws.pooled != nil {
		if err := maxPool3s2(ws.pooled, x); err != nil {
			return err
		}
		x = ws.pooled
	}
	if err := n.runBlocks(ws, x); err != nil {
		return err
	}
	globalAvgPool(ws.feat, ws.out)
	if err := n.fc.Forward(ws.logits, ws.feat, kernels.Epilogue{}); err != nil {
		return err
	}
	return ws.logits.NCHWInto(logits)
}

// held returns run with the workers held for its call, as a network
// call holds them for each of its layers (same thread policy).
func held(run func() error) func() error {
	return func() error {
		workers.Hold(kernels.Threads())
		defer workers.Unhold()
		return run()
	}
}

// Steps returns the network's layers for a batch x 3 x h x w input, in
// order, over a workspace of their own (the input is a fixed pattern):
// running them in order computes what Forward computes for it, and each
// can be timed alone, to see where a network's time goes. Each runs with
// the workers held, as Forward runs its layers, so that a layer timed
// alone splits as it does in the network.
func (n *Net) Steps(batch, h, w int) ([]Step, error) {
	if !n.built() {
		return nil, fmt.Errorf("block: Steps on a Net not made by Build, Load or RandomNet")
	}
	want, err := layout.MulCheck(layout.MaxElements, batch, 3, h, w)
	if err != nil || batch < 1 {
		return nil, fmt.Errorf("block: Steps: input %dx3x%dx%d: %v", batch, h, w, err)
	}
	in := make([]float32, want)
	for i := range in {
		in[i] = float32(i%17)/8 - 1
	}
	if err := n.stem.checkInput(in, batch, h, w); err != nil {
		return nil, err
	}
	ws, err := n.newWorkspace(batch, h, w, true)
	if err != nil {
		return nil, err
	}
	st := n.stem
	out := []Step{{Name: "conv1", FLOPs: st.FLOPs(batch, h, w),
		Run: func() error { return st.forward(ws.stem, ws.stemWS, in, h, w) }}}
	x := ws.stem
	if ws.pooled != nil {
		src, dst := x, ws.pooled
		out = append(out, Step{Name: "maxpool", Run: func() error { return maxPool3s2(dst, src) }})
		x = ws.pooled
	}
	i := 0
	for stage, count := range n.arch.blocks {
		for j := 0; j < count; j++ {
			out = append(out, n.blocks[i].steps(fmt.Sprintf("layer%d.%d.", stage+1, j), ws.acts[i], x, ws.tmp[i])...)
			x = ws.acts[i]
			i++
		}
	}
	src := x
	out = append(out, Step{Name: "avgpool", Run: func() error { globalAvgPool(ws.feat, src); return nil }})
	out = append(out, convStep("fc", n.fc, ws.logits, ws.feat, kernels.Epilogue{}))
	for i := range out {
		out[i].Run = held(out[i].Run)
	}
	return out, nil
}
