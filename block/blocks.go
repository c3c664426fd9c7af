package block

import (
	"fmt"

	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// Block is one residual block on nChw{b}c tensors of kernels.Block()
// channels a block: BasicBlock, Bottleneck, SBBasic or SBBottleneck. Blocks
// are immutable once built and safe for concurrent Forward calls.
type Block interface {
	// InChannels and OutChannels are the channels of the block's input
	// and output.
	InChannels() int
	OutChannels() int
	// Stride is the block's own stride s: the output is
	// (h-1)/s+1 x (w-1)/s+1.
	Stride() int
	// OutputSize returns the output size for an h x w input, or an error
	// when the input is too small.
	OutputSize(h, w int) (oh, ow int, err error)
	// FLOPs returns the multiply-adds of one Forward call on an n x
	// InChannels x h x w input, two operations each.
	FLOPs(n, h, w int) float64
	// Forward computes dst = block(src). src is n x InChannels x h x w;
	// dst must be n x OutChannels x OutputSize(h, w). Intermediate
	// tensors are kept by the block between calls, within the bounds
	// of the package comment's Workspaces, so the steady state allocates
	// nothing.
	Forward(dst, src *layout.Tensor) error
	// Release drops the intermediates the block keeps for its Forward
	// calls (see Net.SetWorkspaceLimit), and the input copies its layers
	// keep (kernels.Conv2D.Release); calls running meanwhile keep theirs
	// and return them when done. A Net's Forward keeps intermediates of
	// its own, which Net.Release drops with these.
	Release()

	// scratch lists the shapes (channels, height, width) of the
	// intermediate tensors forward needs for an h x w input.
	scratch(h, w int) [][3]int
	// forward is Forward with the intermediates given. With dst nil it
	// computes the block in place (a network's blocks run so): the last
	// layer adds its output to the residual where the residual lies,
	// src itself or the projection's output in tmp (out says which), src
	// then being overwritten.
	forward(dst, src *layout.Tensor, tmp []*layout.Tensor) error
	// out returns the tensor an in-place forward on src and tmp leaves the
	// block's output in.
	out(src *layout.Tensor, tmp []*layout.Tensor) *layout.Tensor
	// steps is forward as a list of its layers, named under prefix.
	steps(prefix string, dst, src *layout.Tensor, tmp []*layout.Tensor) []Step
	// workspaces is the cache of Forward's intermediates.
	workspaces() *shapeCache[[]*layout.Tensor]
	// res is the block's shortcut and channels.
	res() *residual
}

// residual holds what every block shares: its channels, its stride and
// the projection shortcut, and the per-shape intermediates of Forward.
type residual struct {
	inC, outC, stride int
	down              *kernels.Conv2D // downsample.0 + downsample.1; nil: identity
	cache             shapeCache[[]*layout.Tensor]
}

// The methods of a block type are safe on a nil or zero block (one not
// made by its constructor): sizes are errors, counts are zero.

func (r *residual) inChannels() int {
	if r == nil {
		return 0
	}
	return r.inC
}

func (r *residual) outChannels() int {
	if r == nil {
		return 0
	}
	return r.outC
}

func (r *residual) strideOf() int {
	if r == nil {
		return 0
	}
	return r.stride
}

func (r *residual) workspaces() *shapeCache[[]*layout.Tensor] { return &r.cache }

// release drops the block's kept intermediates and the input copies its
// layers keep: the shortcut's and those given.
func (r *residual) release(layers ...interface{ Release() }) {
	if r == nil {
		return
	}
	r.cache.release()
	r.down.Release()
	for _, l := range layers {
		l.Release()
	}
}

// outputSize is the shortcut's output size: (h-1)/s+1 by (w-1)/s+1.
func (r *residual) outputSize(h, w int) (oh, ow int, err error) {
	if r == nil || r.stride < 1 {
		return 0, 0, fmt.Errorf("block: a block not built by its constructor")
	}
	if h < 1 || w < 1 {
		return 0, 0, fmt.Errorf("block: input size %dx%d must be positive", h, w)
	}
	return (h-1)/r.stride + 1, (w-1)/r.stride + 1, nil
}

// shortcut computes the block's residual into the projection's map, the
// last of tmp (or returns src for the identity).
func (r *residual) shortcut(src *layout.Tensor, tmp []*layout.Tensor) (*layout.Tensor, error) {
	if r.down == nil {
		return src, nil
	}
	p := tmp[len(tmp)-1]
	return p, r.down.Forward(p, src, kernels.Epilogue{})
}

// out returns where the block's residual lies: src for the identity, the
// projection's map (the last of tmp) otherwise; an in-place forward
// leaves its output there (every block type's Block.out).
func (r *residual) out(src *layout.Tensor, tmp []*layout.Tensor) *layout.Tensor {
	if r.down == nil {
		return src
	}
	return tmp[len(tmp)-1]
}

// withProjection appends to a block's intermediates the projection's
// output map, last (shortcut, out), where the block has a projection:
// the identity needs none.
func (r *residual) withProjection(shapes [][3]int, oh, ow int) [][3]int {
	if r.down == nil {
		return shapes
	}
	return append(shapes, [3]int{r.outC, oh, ow})
}

// addLast runs a block's last layer, last.Forward with the residual res
// and ReLU into dst, or, with dst nil, last.ForwardAdd onto res in place.
func addLast(last interface {
	Forward(dst, src *layout.Tensor, ep kernels.Epilogue) error
	ForwardAdd(dst, src *layout.Tensor, relu bool) error
}, dst, src, res *layout.Tensor) error {
	if dst == nil {
		return last.ForwardAdd(res, src, true)
	}
	return last.Forward(dst, src, kernels.Epilogue{Residual: res, ReLU: true})
}

func (r *residual) downFLOPs(n, h, w int) float64 {
	if r.down == nil {
		return 0
	}
	return r.down.FLOPs(n, h, w)
}

// init validates the block's channels and stride, and every convolution
// of the block (specs, its own) against the kernels' limits before
// reading any weight, then reads its projection shortcut, which PyTorch's
// ResNets have wherever the stride or the channel count changes.
func (r *residual) init(sd *StateDict, prefix string, inC, outC, stride int, specs []kernels.ConvSpec) error {
	r.inC, r.outC, r.stride = inC, outC, stride
	if inC < 1 || inC > kernels.MaxChannels {
		return fmt.Errorf("block: %s: input channels %d: must be in [1, %d]", prefix, inC, kernels.MaxChannels)
	}
	if outC < 1 || outC > kernels.MaxChannels {
		return fmt.Errorf("block: %s: output channels %d: must be in [1, %d]", prefix, outC, kernels.MaxChannels)
	}
	if stride != 1 && stride != 2 {
		return fmt.Errorf("block: %s: stride %d: must be 1 or 2", prefix, stride)
	}
	down, ok := shortcutSpec(inC, outC, stride)
	if ok {
		specs = append(specs[:len(specs):len(specs)], down)
	}
	for i, s := range specs {
		if err := s.Validate(); err != nil {
			name := fmt.Sprintf("conv%d", i+1)
			if ok && i == len(specs)-1 {
				name = "downsample.0"
			}
			return fmt.Errorf("block: %s%s: %w", prefix, name, err)
		}
	}
	if !ok {
		return nil
	}
	var err error
	r.down, err = convBN(sd, prefix+"downsample.0", prefix+"downsample.1", down)
	return err
}

// forwardScratch runs b.forward with intermediates from b's cache.
func forwardScratch(b Block, c *shapeCache[[]*layout.Tensor], dst, src *layout.Tensor) error {
	if err := src.Validate("block: src"); err != nil {
		return err
	}
	if err := dst.Validate("block: dst"); err != nil {
		return err // nil would make forward work in place, over src
	}
	if c == nil || b.OutChannels() == 0 {
		return fmt.Errorf("block: Forward on a block not built by its constructor")
	}
	return c.with([3]int{src.N, src.H, src.W}, func() ([]*layout.Tensor, error) {
		if _, _, err := b.OutputSize(src.H, src.W); err != nil {
			return nil, err
		}
		return newTensors(src.N, b.scratch(src.H, src.W))
	}, func(tmp []*layout.Tensor) error { return b.forward(dst, src, tmp) })
}

// conv is the ConvSpec of a square k x k convolution.
func conv(in, out, k, stride, pad int) kernels.ConvSpec {
	return kernels.ConvSpec{InC: in, OutC: out, KH: k, KW: k, StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
}

// BasicBlock is torchvision's BasicBlock: two 3x3 convolutions, the first
// with the block's stride, each followed by BatchNorm (folded), ReLU after
// the first and after the residual add.
type BasicBlock struct {
	residual
	conv1, conv2 *kernels.Conv2D
}

// NewBasicBlock builds a BasicBlock from the state_dict keys under prefix
// (for example "layer2.0."): conv1, bn1, conv2, bn2 and, where stride or
// channels change, downsample.0 and downsample.1.
func NewBasicBlock(sd *StateDict, prefix string, inC, planes, stride int) (*BasicBlock, error) {
	b := &BasicBlock{}
	s := basicSpecs(inC, planes, stride)
	err := b.init(sd, prefix, inC, planes, stride, s)
	if err != nil {
		return nil, err
	}
	if b.conv1, err = convBN(sd, prefix+"conv1", prefix+"bn1", s[0]); err != nil {
		return nil, err
	}
	if b.conv2, err = convBN(sd, prefix+"conv2", prefix+"bn2", s[1]); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *BasicBlock) res() *residual {
	if b == nil {
		return nil
	}
	return &b.residual
}

func (b *BasicBlock) InChannels() int                             { return b.res().inChannels() }
func (b *BasicBlock) OutChannels() int                            { return b.res().outChannels() }
func (b *BasicBlock) Stride() int                                 { return b.res().strideOf() }
func (b *BasicBlock) OutputSize(h, w int) (oh, ow int, err error) { return b.res().outputSize(h, w) }

func (b *BasicBlock) FLOPs(n, h, w int) float64 {
	oh, ow, err := b.OutputSize(h, w)
	if err != nil {
		return 0
	}
	return b.conv1.FLOPs(n, h, w) + b.conv2.FLOPs(n, oh, ow) + b.downFLOPs(n, h, w)
}

func (b *BasicBlock) scratch(h, w int) [][3]int {
	oh, ow, _ := b.OutputSize(h, w)
	return b.withProjection([][3]int{{b.outC, oh, ow}}, oh, ow)
}

func (b *BasicBlock) forward(dst, src *layout.Tensor, tmp []*layout.Tensor) error {
	if err := b.conv1.Forward(tmp[0], src, kernels.Epilogue{ReLU: true}); err != nil {
		return err
	}
	res, err := b.shortcut(src, tmp)
	if err != nil {
		return err
	}
	return addLast(b.conv2, dst, tmp[0], res)
}

func (b *BasicBlock) Release() {
	if b != nil {
		b.release(b.conv1, b.conv2)
	}
}

func (b *BasicBlock) Forward(dst, src *layout.Tensor) error {
	r := b.res()
	if r == nil {
		return forwardScratch(b, nil, dst, src)
	}
	return forwardScratch(b, &r.cache, dst, src)
}

// SBBasic is the spatial-bottleneck basic block at sampling rate r (2, 3
// or 4): a Kr x Kr convolution of stride r*s, padding (Kr-1)/2, keeps one
// of every r*r of the block's output pixels, and a K x K stride-r
// transposed convolution, padding (K-1)/2, restores the output size; each
// is followed by BatchNorm (folded), ReLU after the first and after the
// residual add, which the restore fuses into its store. Rate 2 with Kr =
// K = 3 is the paper's block.
type SBBasic struct {
	residual
	sampling
	conv1   *kernels.Conv2D
	restore *kernels.ConvTranspose2D
}

// NewSBBasic builds an SBBasic from the keys under prefix: conv1 (Conv2d
// Kr x Kr, stride rate*stride, padding (Kr-1)/2), bn1, conv2
// (ConvTranspose2d K x K, stride rate, padding (K-1)/2), bn2 and, where
// stride or channels change, downsample.0 and downsample.1. rate is the
// sampling rate, 2, 3 or 4 (omitted: 2); Kr and K are the kernel sizes of
// conv1.weight and conv2.weight (square; K from rate to 2*rate-1; where
// sd makes weights up, RandomStateDict, the smallest odd size at least
// rate: 3, 3, 5). A bad rate or kernel size is an error naming it.
func NewSBBasic(sd *StateDict, prefix string, inC, planes, stride int, rate ...int) (*SBBasic, error) {
	b := &SBBasic{}
	g, err := newSampling(sd, prefix, "conv1", "conv2", rate)
	if err != nil {
		return nil, err
	}
	b.sampling = g
	s := sbBasicSpecs(inC, planes, stride, g)
	err = b.init(sd, prefix, inC, planes, stride, s)
	if err != nil {
		return nil, err
	}
	if b.conv1, err = convBN(sd, prefix+"conv1", prefix+"bn1", s[0]); err != nil {
		return nil, err
	}
	if b.restore, err = deconvBN(sd, prefix+"conv2", prefix+"bn2", s[1]); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *SBBasic) res() *residual {
	if b == nil {
		return nil
	}
	return &b.residual
}

func (b *SBBasic) InChannels() int  { return b.res().inChannels() }
func (b *SBBasic) OutChannels() int { return b.res().outChannels() }
func (b *SBBasic) Stride() int      { return b.res().strideOf() }

// Rate returns the block's sampling rate r (0 on a block not built by
// NewSBBasic).
func (b *SBBasic) Rate() int { return b.sampl().rateValue() }

// KernelSizes returns the reduce's kernel size Kr (conv1) and the
// restore's K (conv2).
func (b *SBBasic) KernelSizes() (kr, k int) { return b.sampl().kernelSizes() }

func (b *SBBasic) sampl() *sampling {
	if b == nil {
		return nil
	}
	return &b.sampling
}

// OutputSize returns the shortcut's size, or an error when the reduce
// would leave an empty map or the restore cannot reach that size (an
// even K, see the package comment).
func (b *SBBasic) OutputSize(h, w int) (oh, ow int, err error) {
	if oh, ow, err = b.res().outputSize(h, w); err != nil {
		return 0, 0, err
	}
	return b.sampling.restores(b.conv1, b.restore, h, w, oh, ow)
}

func (b *SBBasic) FLOPs(n, h, w int) float64 {
	oh, ow, err := b.OutputSize(h, w)
	if err != nil {
		return 0
	}
	lh, lw, err := b.conv1.OutputSize(h, w)
	if err != nil {
		return 0
	}
	return b.conv1.FLOPs(n, h, w) + b.restore.FLOPs(n, lh, lw, oh, ow) + b.downFLOPs(n, h, w)
}

func (b *SBBasic) scratch(h, w int) [][3]int {
	oh, ow, _ := b.OutputSize(h, w)
	lh, lw, _ := b.conv1.OutputSize(h, w)
	return b.withProjection([][3]int{{b.outC, lh, lw}}, oh, ow)
}

func (b *SBBasic) forward(dst, src *layout.Tensor, tmp []*layout.Tensor) error {
	if err := b.conv1.Forward(tmp[0], src, kernels.Epilogue{ReLU: true}); err != nil {
		return err
	}
	res, err := b.shortcut(src, tmp)
	if err != nil {
		return err
	}
	return addLast(b.restore, dst, tmp[0], res)
}

func (b *SBBasic) Release() {
	if b != nil {
		b.release(b.conv1, b.restore)
	}
}

func (b *SBBasic) Forward(dst, src *layout.Tensor) error {
	r := b.res()
	if r == nil {
		return forwardScratch(b, nil, dst, src)
	}
	return forwardScratch(b, &r.cache, dst, src)
}

// Expansion is the channel expansion of the bottleneck blocks: their
// output has Expansion*planes channels.
const Expansion = 4

// Bottleneck is torchvision's Bottleneck (ResNet v1.5): 1x1, 3x3 with the
// block's stride, 1x1 to Expansion*planes channels, each followed by
// BatchNorm (folded) and ReLU, the last ReLU after the residual add.
type Bottleneck struct {
	residual
	conv1, conv2, conv3 *kernels.Conv2D
}

// NewBottleneck builds a Bottleneck from the keys under prefix: conv1..3,
// bn1..3 and, where stride or channels change, downsample.0 and .1.
func NewBottleneck(sd *StateDict, prefix string, inC, planes, stride int) (*Bottleneck, error) {
	if planes < 1 || planes > kernels.MaxChannels/Expansion {
		return nil, fmt.Errorf("block: %s: planes %d: must be in [1, %d]", prefix, planes, kernels.MaxChannels/Expansion)
	}
	b := &Bottleneck{}
	s := bottleneckSpecs(inC, planes, stride)
	err := b.init(sd, prefix, inC, Expansion*planes, stride, s)
	if err != nil {
		return nil, err
	}
	if b.conv1, err = convBN(sd, prefix+"conv1", prefix+"bn1", s[0]); err != nil {
		return nil, err
	}
	if b.conv2, err = convBN(sd, prefix+"conv2", prefix+"bn2", s[1]); err != nil {
		return nil, err
	}
	if b.conv3, err = convBN(sd, prefix+"conv3", prefix+"bn3", s[2]); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Bottleneck) res() *residual {
	if b == nil {
		return nil
	}
	return &b.residual
}

func (b *Bottleneck) InChannels() int                             { return b.res().inChannels() }
func (b *Bottleneck) OutChannels() int                            { return b.res().outChannels() }
func (b *Bottleneck) Stride() int                                 { return b.res().strideOf() }
func (b *Bottleneck) OutputSize(h, w int) (oh, ow int, err error) { return b.res().outputSize(h, w) }

func (b *Bottleneck) FLOPs(n, h, w int) float64 {
	oh, ow, err := b.OutputSize(h, w)
	if err != nil {
		return 0
	}
	return b.conv1.FLOPs(n, h, w) + b.conv2.FLOPs(n, h, w) + b.conv3.FLOPs(n, oh, ow) + b.downFLOPs(n, h, w)
}

func (b *Bottleneck) scratch(h, w int) [][3]int {
	oh, ow, _ := b.OutputSize(h, w)
	p := b.conv1.Spec().OutC
	return b.withProjection([][3]int{{p, h, w}, {p, oh, ow}}, oh, ow)
}

func (b *Bottleneck) forward(dst, src *layout.Tensor, tmp []*layout.Tensor) error {
	relu := kernels.Epilogue{ReLU: true}
	if err := b.conv1.Forward(tmp[0], src, relu); err != nil {
		return err
	}
	if err := b.conv2.Forward(tmp[1], tmp[0], relu); err != nil {
		return err
	}
	res, err := b.shortcut(src, tmp)
	if err != nil {
		return err
	}
	return addLast(b.conv3, dst, tmp[1], res)
}

func (b *Bottleneck) Release() {
	if b != nil {
		b.release(b.conv1, b.conv2, b.conv3)
	}
}

func (b *Bottleneck) Forward(dst, src *layout.Tensor) error {
	r := b.res()
	if r == nil {
		return forwardScratch(b, nil, dst, src)
	}
	return forwardScratch(b, &r.cache, dst, src)
}

// SBBottleneck is the spatial-bottleneck Bottleneck at sampling rate r (2,
// 3 or 4): its middle 3x3 convolution becomes a Kr x Kr convolution of
// stride r*s, padding (Kr-1)/2, and a K x K stride-r transposed
// convolution, padding (K-1)/2, back to the block's output size, between
// the two 1x1 convolutions: conv1 1x1, conv2 the reduce, conv3 the
// restore, conv4 1x1 to Expansion*planes, each with BatchNorm (folded) and
// ReLU. Rate 2 with Kr = K = 3 is the paper's block.
type SBBottleneck struct {
	residual
	sampling
	conv1, conv2 *kernels.Conv2D
	restore      *kernels.ConvTranspose2D
	conv4        *kernels.Conv2D
}

// NewSBBottleneck builds an SBBottleneck from the keys under prefix:
// conv1..4, bn1..4 (conv2 the Kr x Kr reduce of stride rate*stride, conv3
// the K x K ConvTranspose2d of stride rate) and, where stride or channels
// change, downsample.0 and .1. rate, Kr and K are as for NewSBBasic (Kr
// from conv2.weight, K from conv3.weight).
func NewSBBottleneck(sd *StateDict, prefix string, inC, planes, stride int, rate ...int) (*SBBottleneck, error) {
	if planes < 1 || planes > kernels.MaxChannels/Expansion {
		return nil, fmt.Errorf("block: %s: planes %d: must be in [1, %d]", prefix, planes, kernels.MaxChannels/Expansion)
	}
	b := &SBBottleneck{}
	g, err := newSampling(sd, prefix, "conv2", "conv3", rate)
	if err != nil {
		return nil, err
	}
	b.sampling = g
	s := sbBottleneckSpecs(inC, planes, stride, g)
	err = b.init(sd, prefix, inC, Expansion*planes, stride, s)
	if err != nil {
		return nil, err
	}
	if b.conv1, err = convBN(sd, prefix+"conv1", prefix+"bn1", s[0]); err != nil {
		return nil, err
	}
	if b.conv2, err = convBN(sd, prefix+"conv2", prefix+"bn2", s[1]); err != nil {
		return nil, err
	}
	if b.restore, err = deconvBN(sd, prefix+"conv3", prefix+"bn3", s[2]); err != nil {
		return nil, err
	}
	if b.conv4, err = convBN(sd, prefix+"conv4", prefix+"bn4", s[3]); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *SBBottleneck) res() *residual {
	if b == nil {
		return nil
	}
	return &b.residual
}

func (b *SBBottleneck) InChannels() int  { return b.res().inChannels() }
func (b *SBBottleneck) OutChannels() int { return b.res().outChannels() }
func (b *SBBottleneck) Stride() int      { return b.res().strideOf() }

// Rate returns the block's sampling rate r (0 on a block not built by
// NewSBBottleneck).
func (b *SBBottleneck) Rate() int { return b.sampl().rateValue() }

// KernelSizes returns the reduce's kernel size Kr (conv2) and the
// restore's K (conv3).
func (b *SBBottleneck) KernelSizes() (kr, k int) { return b.sampl().kernelSizes() }

func (b *SBBottleneck) sampl() *sampling {
	if b == nil {
		return nil
	}
	return &b.sampling
}

// OutputSize returns the shortcut's size, or an error when the reduce
// would leave an empty map or the restore cannot reach that size (an
// even K, see the package comment).
func (b *SBBottleneck) OutputSize(h, w int) (oh, ow int, err error) {
	if oh, ow, err = b.res().outputSize(h, w); err != nil {
		return 0, 0, err
	}
	return b.sampling.restores(b.conv2, b.restore, h, w, oh, ow)
}

func (b *SBBottleneck) FLOPs(n, h, w int) float64 {
	oh, ow, err := b.OutputSize(h, w)
	if err != nil {
		return 0
	}
	lh, lw, err := b.conv2.OutputSize(h, w)
	if err != nil {
		return 0
	}
	return b.conv1.FLOPs(n, h, w) + b.conv2.FLOPs(n, h, w) + b.restore.FLOPs(n, lh, lw, oh, ow) +
		b.conv4.FLOPs(n, oh, ow) + b.downFLOPs(n, h, w)
}

func (b *SBBottleneck) scratch(h, w int) [][3]int {
	oh, ow, _ := b.OutputSize(h, w)
	lh, lw, _ := b.conv2.OutputSize(h, w)
	p := b.conv1.Spec().OutC
	return b.withProjection([][3]int{{p, h, w}, {p, lh, lw}, {p, oh, ow}}, oh, ow)
}

func (b *SBBottleneck) forward(dst, src *layout.Tensor, tmp []*layout.Tensor) error {
	relu := kernels.Epilogue{ReLU: true}
	if err := b.conv1.Forward(tmp[0], src, relu); err != nil {
		return err
	}
	if err := b.conv2.Forward(tmp[1], tmp[0], relu); err != nil {
		return err
	}
	if err := b.restore.Forward(tmp[2], tmp[1], relu); err != nil {
		return err
	}
	res, err := b.shortcut(src, tmp)
	if err != nil {
		return err
	}
	return addLast(b.conv4, dst, tmp[2], res)
}

func (b *SBBottleneck) Release() {
	if b != nil {
		b.release(b.conv1, b.conv2, b.restore, b.conv4)
	}
}

func (b *SBBottleneck) Forward(dst, src *layout.Tensor) error {
	r := b.res()
	if r == nil {
		return forwardScratch(b, nil, dst, src)
	}
	return forwardScratch(b, &r.cache, dst, src)
}

// newTensors allocates one zeroed tensor of kernels.Block() a shape.
func newTensors(n int, shapes [][3]int) ([]*layout.Tensor, error) {
	out := make([]*layout.Tensor, len(shapes))
	for i, s := range shapes {
		t, err := layout.New(n, s[0], s[1], s[2], kernels.Block())
		if err != nil {
			return nil, fmt.Errorf("block: %w", err)
		}
		out[i] = t
	}
	return out, nil
}

// Step is one layer of a network bound to tensors of its own: running a
// network's steps in order computes what its Forward computes, and each
// can be timed alone (see Net.Steps).
type Step struct {
	Name  string  // the state_dict prefix of the layer ("layer2.0.conv1"), or "maxpool", "avgpool"
	FLOPs float64 // multiply-adds, two operations each
	Run   func() error
}

func convStep(name string, c *kernels.Conv2D, dst, src *layout.Tensor, ep kernels.Epilogue) Step {
	return Step{Name: name, FLOPs: c.FLOPs(src.N, src.H, src.W),
		Run: func() error { return c.Forward(dst, src, ep) }}
}

func deconvStep(name string, d *kernels.ConvTranspose2D, dst, src *layout.Tensor, ep kernels.Epilogue) Step {
	return Step{Name: name, FLOPs: d.FLOPs(src.N, src.H, src.W, dst.H, dst.W),
		Run: func() error { return d.Forward(dst, src, ep) }}
}

// shortcutStep is the projection shortcut's step (none for the identity)
// and the residual the block's last layer adds.
func (r *residual) shortcutStep(prefix string, src *layout.Tensor, tmp []*layout.Tensor) ([]Step, *layout.Tensor) {
	if r.down == nil {
		return nil, src
	}
	p := tmp[len(tmp)-1]
	return []Step{convStep(prefix+"downsample", r.down, p, src, kernels.Epilogue{})}, p
}

func (b *BasicBlock) steps(prefix string, dst, src *layout.Tensor, tmp []*layout.Tensor) []Step {
	relu := kernels.Epilogue{ReLU: true}
	out := []Step{convStep(prefix+"conv1", b.conv1, tmp[0], src, relu)}
	sc, res := b.shortcutStep(prefix, src, tmp)
	out = append(out, sc...)
	return append(out, convStep(prefix+"conv2", b.conv2, dst, tmp[0], kernels.Epilogue{Residual: res, ReLU: true}))
}

func (b *SBBasic) steps(prefix string, dst, src *layout.Tensor, tmp []*layout.Tensor) []Step {
	relu := kernels.Epilogue{ReLU: true}
	out := []Step{convStep(prefix+"conv1", b.conv1, tmp[0], src, relu)}
	sc, res := b.shortcutStep(prefix, src, tmp)
	out = append(out, sc...)
	return append(out, deconvStep(prefix+"conv2", b.restore, dst, tmp[0], kernels.Epilogue{Residual: res, ReLU: true}))
}

func (b *Bottleneck) steps(prefix string, dst, src *layout.Tensor, tmp []*layout.Tensor) []Step {
	relu := kernels.Epilogue{ReLU: true}
	out := []Step{
		convStep(prefix+"conv1", b.conv1, tmp[0], src, relu),
		convStep(prefix+"conv2", b.conv2, tmp[1], tmp[0], relu),
	}
	sc, res := b.shortcutStep(prefix, src, tmp)
	out = append(out, sc...)
	return append(out, convStep(prefix+"conv3", b.conv3, dst, tmp[1], kernels.Epilogue{Residual: res, ReLU: true}))
}

func (b *SBBottleneck) steps(prefix string, dst, src *layout.Tensor, tmp []*layout.Tensor) []Step {
	relu := kernels.Epilogue{ReLU: true}
	out := []Step{
		convStep(prefix+"conv1", b.conv1, tmp[0], src, relu),
		convStep(prefix+"conv2", b.conv2, tmp[1], tmp[0], relu),
		deconvStep(prefix+"conv3", b.restore, tmp[2], tmp[1], relu),
	}
	sc, res := b.shortcutStep(prefix, src, tmp)
	out = append(out, sc...)
	return append(out, convStep(prefix+"conv4", b.conv4, dst, tmp[2], kernels.Epilogue{Residual: res, ReLU: true}))
}
