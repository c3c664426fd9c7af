package block

import (
	"fmt"

	"github.com/sbconv/sbconv/kernels"
)

// Rates lists the sampling rates of the spatial-bottleneck blocks
// (NetSpec.Rate, and the rate argument of NewSBBasic and NewSBBottleneck):
// 2, 3 and 4.
func Rates() []int { return []int{2, 3, 4} }

// DefaultKernelSize is the kernel size of a spatial bottleneck's reduce
// and restore at a rate r of Rates where no weight gives one
// (RandomStateDict): the smallest odd size at least r, 3, 3 and 5 for
// rates 2, 3 and 4, which restores every size. python/sbconv_torch.py
// uses the same default.
func DefaultKernelSize(rate int) int { return rate | 1 }

// sampling is what a spatial-bottleneck block adds to its residual: the
// sampling rate r and the kernel sizes of its reduce (Kr) and restore (K),
// with the names of those layers for messages.
type sampling struct {
	prefix          string // the block's state_dict prefix
	reduce, restore string // the layers' names: conv1 and conv2, or conv2 and conv3
	rate, kr, k     int
}

func (g *sampling) rateValue() int {
	if g == nil {
		return 0
	}
	return g.rate
}

func (g *sampling) kernelSizes() (kr, k int) {
	if g == nil {
		return 0, 0
	}
	return g.kr, g.k
}

// checkRate validates a sampling rate; what names it in the message.
func checkRate(what string, r int) error {
	if r < 2 || r > 4 {
		return fmt.Errorf("block: %s = %d: the sampling rate must be 2, 3 or 4", what, r)
	}
	return nil
}

// newSampling reads a spatial-bottleneck block's rate from the variadic
// argument of its constructor (none: 2) and its kernel sizes from the
// weights of its reduce and restore under prefix, and validates them.
func newSampling(sd *StateDict, prefix, reduce, restore string, rate []int) (sampling, error) {
	g := sampling{prefix: prefix, reduce: reduce, restore: restore, rate: 2}
	switch len(rate) {
	case 0:
	case 1:
		g.rate = rate[0]
	default:
		return g, fmt.Errorf("block: %s: rate %v: give at most one sampling rate (none: 2)", prefix, rate)
	}
	if err := checkRate(prefix+": rate", g.rate); err != nil {
		return g, err
	}
	var err error
	if g.kr, err = kernelSize(sd, prefix+reduce+".weight", g.rate, 1, kernels.MaxKernel, "the reduce"); err != nil {
		return g, err
	}
	if g.k, err = kernelSize(sd, prefix+restore+".weight", g.rate, g.rate, 2*g.rate-1, "the restore"); err != nil {
		return g, err
	}
	return g, nil
}

// kernelSize returns the kernel size of the 4-D weight key (its last two
// dimensions, which must be equal and within [lo, hi]), or
// DefaultKernelSize(rate) when sd lacks the key or holds it with another
// number of dimensions (Take then reports it with the shape wanted).
func kernelSize(sd *StateDict, key string, rate, lo, hi int, what string) (int, error) {
	s, ok := sd.Shape(key)
	if !ok || len(s) != 4 {
		return DefaultKernelSize(rate), nil
	}
	if s[2] != s[3] {
		return 0, fmt.Errorf("block: %s: %s has shape %s: %s's kernel must be square (%d x %d is not)",
			sd.name(), quoteKey(key), shapeText(s), what, s[2], s[3])
	}
	if s[2] < lo || s[2] > hi {
		return 0, fmt.Errorf("block: %s: %s has shape %s: %s's kernel size %d must be in [%d, %d] at rate %d",
			sd.name(), quoteKey(key), shapeText(s), what, s[2], lo, hi, rate)
	}
	return s[2], nil
}

// reduceSpec and restoreSpec are the block's reduce (stride rate*stride)
// and restore (stride rate) convolutions.
func (g sampling) reduceSpec(in, out, stride int) kernels.ConvSpec {
	return conv(in, out, g.kr, g.rate*stride, (g.kr-1)/2)
}

func (g sampling) restoreSpec(c int) kernels.ConvSpec {
	return conv(c, c, g.k, g.rate, (g.k-1)/2)
}

// restores checks that the block runs on an h x w input whose shortcut is
// oh x ow: the reduce leaves a map of at least 1x1 and the restore can
// give it back at oh x ow (PyTorch's output_size: an odd K always can,
// an even K only some sizes). It returns oh, ow.
func (g *sampling) restores(reduce *kernels.Conv2D, restore *kernels.ConvTranspose2D, h, w, oh, ow int) (int, int, error) {
	lh, lw, err := reduce.OutputSize(h, w)
	if err != nil {
		return 0, 0, fmt.Errorf("block: %s%s (the reduce, kernel %d, stride %d) on a %dx%d input: %w",
			g.prefix, g.reduce, g.kr, reduce.Spec().StrideH, h, w, err)
	}
	minH, maxH, minW, maxW, err := restore.OutputRange(lh, lw)
	if err != nil {
		return 0, 0, fmt.Errorf("block: %s%s (the restore) on a %dx%d map: %w", g.prefix, g.restore, lh, lw, err)
	}
	if oh < minH || oh > maxH || ow < minW || ow > maxW {
		return 0, 0, fmt.Errorf("block: %s%s (the restore, ConvTranspose2d kernel %d, stride %d, padding %d) "+
			"restores the reduce's %dx%d map only to %s x %s pixels, not the shortcut's %dx%d (block input %dx%d): "+
			"%s, as in PyTorch (odd kernels take every size)",
			g.prefix, g.restore, g.k, g.rate, (g.k-1)/2, lh, lw, span(minH, maxH), span(minW, maxW), oh, ow, h, w,
			g.sizeRule(reduce.Spec().StrideH/g.rate))
	}
	return oh, ow, nil
}

// sizeRule says which sizes a block with an even kernel takes, for its
// stride s: with the paddings (Kr-1)/2 and (K-1)/2 the reduced map has
// (n-1)/(r*s)+1 pixels from n (odd Kr) or (n-2)/(r*s)+1 (even Kr), and
// the restore reaches r sizes from (l-1)*r+1 (odd K) or (l-1)*r+2 (even
// K) up.
func (g *sampling) sizeRule(s int) string {
	what := fmt.Sprintf("with Kr = %d and K = %d at rate %d the block takes only", g.kr, g.k, g.rate)
	switch {
	case g.kr%2 == 1:
		return fmt.Sprintf("%s sides whose output size n has (n-1) %% %d != 0", what, g.rate)
	case g.k%2 == 1:
		return fmt.Sprintf("%s input sides n with (n-1) %% %d != 0", what, g.rate*s)
	default:
		return fmt.Sprintf("%s input sides n >= 2 with (n-2) %% %d != 0", what, g.rate*s)
	}
}

// span formats lo..hi, or lo alone.
func span(lo, hi int) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d..%d", lo, hi)
}
