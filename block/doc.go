// Package block builds residual blocks and whole ResNets, regular and with
// spatial bottlenecks (arXiv 1809.02601), from PyTorch weights, on the
// kernels of package kernels.
//
// A network is loaded from a state_dict saved as safetensors. A file
// saved with the repository's python/sbconv_torch.py (its save) describes
// its network in its __metadata__, so the zero NetSpec builds it:
//
//	net, err := block.Load("resnet18_sb.safetensors", block.NetSpec{})
//	logits := make([]float32, batch*net.NumClasses())
//	err = net.Forward(logits, images, batch, 224, 224) // images: batch x 3 x 224 x 224, NCHW
//
// and a spec that contradicts the description is an error. A file without
// one (safetensors' save_file(model.state_dict(), path)) needs the spec,
// block.NetSpec{Arch: "resnet18", SB: []int{1, 2, 3, 4}}, and then Load
// cannot tell a regular basic block from its spatial-bottleneck form
// (see Load).
//
// The blocks are torchvision's BasicBlock and Bottleneck and their
// spatial-bottleneck forms at sampling rate r:
//
//	SBBasic:      conv1 Kr x Kr stride r*s -> bn1 -> relu -> conv2 ConvTranspose2d K x K stride r -> bn2 (+ shortcut) -> relu
//	SBBottleneck: conv1 1x1 -> conv2 Kr x Kr stride r*s -> conv3 ConvTranspose2d K x K stride r -> conv4 1x1 (+ shortcut), bn and relu after each
//
// where s is the block's own stride, the restore's output size is the
// shortcut's ((H-1)/s+1, so 7 -> 4 -> 7 and a stage entry 14 -> 4 -> 7 at
// rate 2), and the projection shortcut downsample.0/.1 (1x1 conv +
// BatchNorm) is there wherever the stride or the channel count changes.
// State_dict keys follow torchvision: conv1, bn1, layer1.0.conv1, ..., fc.
//
// # Sampling rates
//
// The rate r is 2, 3 or 4: NetSpec.Rate (0 means 2, or the rate the
// file's description records), or the last argument of NewSBBasic and
// NewSBBottleneck (none means 2). The reduce (Kr x Kr, stride r*s) pads
// (Kr-1)/2 on each side, the restore (K x K, stride r) (K-1)/2, as
// PyTorch's Conv2d and ConvTranspose2d with padding=(k-1)//2; Kr and K are
// the kernel sizes of the reduce's and restore's weights in the state_dict
// (square; Kr at least 1, K from r to 2r-1; DefaultKernelSize, the
// smallest odd size at least r, where RandomStateDict makes weights up).
// Rate 2 with Kr = K = 3 is the paper's block. The restore is PyTorch's
// call with output_size set to the shortcut's size: it picks one of the r
// sizes (l-1)*r - 2*((K-1)/2) + K + p, p in 0..r-1, for a reduced map of
// l. An odd K always reaches the shortcut's size; an even K only some
// (after an odd Kr, the sizes whose size-1 is not a multiple of r), and
// for the others, which PyTorch refuses too, OutputSize and Forward
// return an error naming the restore and the sizes it reaches.
//
// BatchNorm (eps 1e-5) is folded into the convolution before it when the
// network is built; the residual add and the ReLU are fused into the last
// kernel's store. The stem reads its three input channels straight from
// the NCHW input with the AVX2 and AVX-512 sets' stem kernels (one input
// float a tap step, so it computes exactly its real FLOPs), and elsewhere
// packs them with the kernel's taps into the reduction dimension (see
// Stem): close to its real FLOPs either way, not a whole channel block's.
//
// Layers are built for kernels.Block() (the dispatched microkernels'
// channel block). Networks and blocks are immutable once built and safe for
// concurrent Forward calls. The kernels' threads (kernels.SetThreads)
// split each layer of one call.
//
// # Sizes
//
// Net.Forward takes every input size PyTorch takes: any batch >= 1 and
// any h, w >= 1, since every layer (the stem, the max pool, each stride-2
// or spatial-bottleneck block at any rate) maps a size of at least 1 to
// one of at least 1, and a spatial-bottleneck block with odd kernels
// restores its shortcut's size from every size (an even Kr needs a side of
// at least 2, and an even K reaches only some sizes, as in PyTorch). Any
// other size, an input of another length, or one past
// layout.MaxElements is an error, never a panic. Before it makes up any
// weight, RandomNet refuses a network whose layers the kernels would
// refuse (kernels.ConvSpec.Validate: channels, and each layer's weights
// within layout.MaxElements) or whose weights pass MaxWeights, naming the
// layer or the total; the block constructors and NewStem (and so Build)
// refuse such a layer before they read or fold its weights.
//
// # Workspaces
//
// A Forward call needs the intermediate maps of its input shape (batch,
// height, width): a network's Forward runs each block in place, its last
// layer adding onto the residual's map (kernels' ForwardAdd), so there is
// no output map per block, a block with an identity shortcut has no
// projection map, and the blocks share their intermediate maps of one
// shape (they run one after another). A network keeps these workspaces
// when calls return, so that the steady state of a shape allocates
// nothing: those of the DefaultWorkspaceShapes shapes used last (least
// recently used dropped first), and for each at most GOMAXPROCS idle ones;
// a call that finds none idle allocates its own, and one returned past the
// bound goes to the garbage collector. Each convolution also keeps up to
// GOMAXPROCS (or kernels.Threads(), when more: images side by side)
// zero-haloed copies of its input (kernels.Conv2D.Release).
// Net.SetWorkspaceLimit(shapes, perShape) sets the bounds (shapes 0 keeps
// nothing) and Net.Release drops everything kept, the layers' copies
// included, for a server that has served a burst of sizes or of concurrent
// calls it will not see again. Blocks and the stem run on their own keep
// workspaces the same way (their Release drops them).
package block
