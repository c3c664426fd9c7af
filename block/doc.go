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
// spatial-bottleneck forms:
//
//	SBBasic:      conv1 3x3 stride 2s -> bn1 -> relu -> conv2 ConvTranspose2d 3x3 stride 2 -> bn2 (+ shortcut) -> relu
//	SBBottleneck: conv1 1x1 -> conv2 3x3 stride 2s -> conv3 ConvTranspose2d 3x3 stride 2 -> conv4 1x1 (+ shortcut), bn and relu after each
//
// where s is the block's own stride, the restore's output size is the
// shortcut's ((H-1)/s+1, so 7 -> 4 -> 7 and a stage entry 14 -> 4 -> 7),
// and the projection shortcut downsample.0/.1 (1x1 conv + BatchNorm) is
// there wherever the stride or the channel count changes. State_dict keys
// follow torchvision: conv1, bn1, layer1.0.conv1, ..., fc.
//
// BatchNorm (eps 1e-5) is folded into the convolution before it when the
// network is built; the residual add and the ReLU are fused into the last
// kernel's store. The stem's three input channels are packed with the
// kernel's taps into the reduction dimension (see Stem), so it computes
// close to its real FLOPs instead of a whole channel block's.
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
// or spatial-bottleneck block) maps a size of at least 1 to one of at
// least 1, and a spatial-bottleneck block always restores its shortcut's
// size. Any other size, an input of another length, or one past
// layout.MaxElements is an error, never a panic. Before it makes up any
// weight, RandomNet refuses a network whose layers the kernels would
// refuse (kernels.ConvSpec.Validate: channels, and each layer's weights
// within layout.MaxElements) or whose weights pass MaxWeights, naming the
// layer or the total; the block constructors and NewStem (and so Build)
// refuse such a layer before they read or fold its weights.
//
// # Workspaces
//
// A Forward call needs every intermediate map of its input shape (batch,
// height, width). A network keeps these workspaces when calls return, so
// that the steady state of a shape allocates nothing: those of the
// DefaultWorkspaceShapes shapes used last (least recently used dropped
// first), and for each at most GOMAXPROCS idle ones; a call that finds
// none idle allocates its own, and one returned past the bound goes to
// the garbage collector. Each convolution also keeps up to GOMAXPROCS
// zero-haloed copies of its input (kernels.Conv2D.Release).
// Net.SetWorkspaceLimit(shapes, perShape) sets the bounds (shapes 0 keeps
// nothing) and Net.Release drops everything kept, the layers' copies
// included, for a server that has served a burst of sizes or of
// concurrent calls it will not see again. Blocks and the stem run on
// their own keep workspaces the same way (their Release drops them).
package block
