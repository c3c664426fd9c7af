package layout

import "fmt"

// MaxChannels bounds the channel counts (and kernel sizes) the packing
// functions accept, so that rounding up to a block and every product of
// sizes stay far from overflow.
const MaxChannels = 1 << 20

// ConvWeightsLen returns the length of a packed OIhw{b}i{b}o array:
// ceil(outC/b)*ceil(inC/b)*kh*kw*b*b, or 0 when no such array exists: a
// size that is not positive, a block CheckBlock rejects, or a length over
// MaxElements (PackConv and the other packers return an error for each).
func ConvWeightsLen(outC, inC, kh, kw, block int) int {
	if CheckBlock(block) != nil || outC <= 0 || inC <= 0 {
		return 0
	}
	n, err := MulCheck(MaxElements, (outC-1)/block+1, (inC-1)/block+1, kh, kw, block, block)
	if err != nil {
		return 0
	}
	return n
}

// PackConv packs PyTorch Conv2d weights (OIHW, w[oc][ic][kh][kw], length
// outC*inC*kh*kw) into OIhw{b}i{b}o (see the package comment). Padded
// channels are zero.
func PackConv(w []float32, outC, inC, kh, kw, block int) ([]float32, error) {
	if err := checkWeightShape(len(w), outC, inC, kh, kw, block, "OIHW"); err != nil {
		return nil, err
	}
	return packOIhw(outC, inC, kh, kw, block, func(oc, ic, t, u int) float32 {
		return w[((oc*inC+ic)*kh+t)*kw+u]
	}), nil
}

// PhaseTaps returns how many of a kernel's k taps fall in output phase r of
// a stride-s transposed convolution: the taps r, r+s, r+2s, ... below k.
func PhaseTaps(k, s, r int) int {
	if r < 0 || r >= k || s <= 0 {
		return 0
	}
	return 1 + (k-1-r)/s // no overflow for any s
}

// PackDeconvPhase packs output phase (rh, rw) of PyTorch ConvTranspose2d
// weights (IOHW, w[ic][oc][kh][kw], length inC*outC*kh*kw) with strides
// (sh, sw) into OIhw{b}i{b}o with nkh x nkw taps, flipped so that tap t
// reads the t-th of the phase's input rows in increasing order (see the
// package comment). A phase without taps returns an empty slice.
func PackDeconvPhase(w []float32, inC, outC, kh, kw, sh, sw, rh, rw, block int) (packed []float32, nkh, nkw int, err error) {
	if err := checkWeightShape(len(w), inC, outC, kh, kw, block, "IOHW"); err != nil {
		return nil, 0, 0, err
	}
	if sh <= 0 || sw <= 0 {
		return nil, 0, 0, fmt.Errorf("layout: stride %dx%d must be positive", sh, sw)
	}
	if rh < 0 || rh >= sh || rw < 0 || rw >= sw {
		return nil, 0, 0, fmt.Errorf("layout: phase (%d, %d) outside stride %dx%d", rh, rw, sh, sw)
	}
	nkh, nkw = PhaseTaps(kh, sh, rh), PhaseTaps(kw, sw, rw)
	if nkh == 0 || nkw == 0 {
		return []float32{}, nkh, nkw, nil
	}
	packed = packOIhw(outC, inC, nkh, nkw, block, func(oc, ic, t, u int) float32 {
		y := rh + (nkh-1-t)*sh
		x := rw + (nkw-1-u)*sw
		return w[((ic*outC+oc)*kh+y)*kw+x]
	})
	return packed, nkh, nkw, nil
}

// PackBias returns bias (length c, or nil for none) zero-padded to
// ceil(c/block)*block floats.
func PackBias(bias []float32, c, block int) ([]float32, error) {
	if err := CheckBlock(block); err != nil {
		return nil, err
	}
	if c <= 0 || c > MaxChannels {
		return nil, fmt.Errorf("layout: channels %d: must be in [1, %d]", c, MaxChannels)
	}
	if bias != nil && len(bias) != c {
		return nil, fmt.Errorf("layout: len(bias) = %d, want %d (or nil)", len(bias), c)
	}
	out := make([]float32, (c+block-1)/block*block)
	copy(out, bias)
	return out, nil
}

func checkWeightShape(n, d0, d1, kh, kw, block int, order string) error {
	if err := CheckBlock(block); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		v    int
	}{{order[:1], d0}, {order[1:2], d1}, {"KH", kh}, {"KW", kw}} {
		if d.v <= 0 {
			return fmt.Errorf("layout: weight dimension %s = %d: must be positive", d.name, d.v)
		}
		if d.v > MaxChannels {
			return fmt.Errorf("layout: weight dimension %s = %d: overflows the limit of %d", d.name, d.v, MaxChannels)
		}
	}
	want, err := MulCheck(MaxElements, d0, d1, kh, kw)
	if err != nil {
		return err
	}
	if _, err := MulCheck(MaxElements, (d0+block-1)/block*block, (d1+block-1)/block*block, kh, kw); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("layout: len(weights) = %d, want %s %dx%dx%dx%d = %d", n, order, d0, d1, kh, kw, want)
	}
	return nil
}

// WeightSlack is the capacity, in floats, that the packed weights of
// PackConv, PackDeconvPhase and PackDeconvRows keep past their length
// (zeros, never read): kernels that prefetch their own weights ahead
// name lines up to asm.PfAhead bytes past the weights they read, and the
// slack keeps those lines inside the allocation.
const WeightSlack = 512

// packOIhw fills an OIhw{b}i{b}o array from get(oc, ic, t, u), with
// WeightSlack floats of capacity past its length.
func packOIhw(outC, inC, kh, kw, b int, get func(oc, ic, t, u int) float32) []float32 {
	ob, ib := (outC+b-1)/b, (inC+b-1)/b
	n := ob * ib * kh * kw * b * b
	out := make([]float32, n, n+WeightSlack)
	for oc := 0; oc < outC; oc++ {
		for ic := 0; ic < inC; ic++ {
			for t := 0; t < kh; t++ {
				for u := 0; u < kw; u++ {
					off := ((((oc/b)*ib+ic/b)*kh+t)*kw+u)*b*b + (ic%b)*b + oc%b
					out[off] = get(oc, ic, t, u)
				}
			}
		}
	}
	return out
}

// PackDeconvRows packs the weights of output row phase rh of PyTorch
// ConvTranspose2d weights (IOHW, w[ic][oc][kh][kw]) with vertical stride
// sh into OIhw{b}i{b}o with nkh x kw taps for the fused restore kernels:
// the phase's vertical taps flipped as in PackDeconvPhase, all kw
// horizontal taps in their own order (the kernel picks the taps of each
// output column parity itself):
//
//	rows[oc][ic][t][u] = w[ic][oc][rh + (nkh-1-t)*sh][u]
//
// A phase without vertical taps returns an empty slice.
func PackDeconvRows(w []float32, inC, outC, kh, kw, sh, rh, block int) (packed []float32, nkh int, err error) {
	if err := checkWeightShape(len(w), inC, outC, kh, kw, block, "IOHW"); err != nil {
		return nil, 0, err
	}
	if sh <= 0 || rh < 0 || rh >= sh {
		return nil, 0, fmt.Errorf("layout: row phase %d outside stride %d", rh, sh)
	}
	nkh = PhaseTaps(kh, sh, rh)
	if nkh == 0 {
		return []float32{}, 0, nil
	}
	packed = packOIhw(outC, inC, nkh, kw, block, func(oc, ic, t, u int) float32 {
		return w[((ic*outC+oc)*kh+rh+(nkh-1-t)*sh)*kw+u]
	})
	return packed, nkh, nil
}
