package block

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/layout"
)

// TestZeroValuesNeverPanic calls every exported method of the block types,
// Net, Stem and StateDict on nil pointers and zero values: sizes and
// Forward calls are errors, counts are zero.
func TestZeroValuesNeverPanic(t *testing.T) {
	x, err := layout.New(1, 8, 4, 4, 8)
	require.NoError(t, err)
	y, err := layout.New(1, 8, 4, 4, 8)
	require.NoError(t, err)
	blocks := []Block{(*BasicBlock)(nil), &BasicBlock{}, (*SBBasic)(nil), &SBBasic{},
		(*Bottleneck)(nil), &Bottleneck{}, (*SBBottleneck)(nil), &SBBottleneck{}}
	for _, b := range blocks {
		require.NotPanics(t, func() {
			assert.Zero(t, b.InChannels())
			assert.Zero(t, b.OutChannels())
			assert.Zero(t, b.Stride())
			_, _, err := b.OutputSize(4, 4)
			assert.Error(t, err)
			assert.Zero(t, b.FLOPs(1, 4, 4))
			assert.Error(t, b.Forward(y, x))
			b.Release()
		}, "%T", b)
	}
	for _, b := range []interface {
		Rate() int
		KernelSizes() (int, int)
	}{(*SBBasic)(nil), &SBBasic{}, (*SBBottleneck)(nil), &SBBottleneck{}} {
		require.NotPanics(t, func() {
			assert.Zero(t, b.Rate())
			kr, k := b.KernelSizes()
			assert.Zero(t, kr+k)
		}, "%T", b)
	}
	for _, n := range []*Net{nil, {}} {
		require.NotPanics(t, func() {
			assert.Zero(t, n.NumClasses())
			assert.Zero(t, n.FLOPs(1, 32, 32))
			assert.Empty(t, n.Blocks())
			_ = n.Spec()
			assert.Error(t, n.Forward(make([]float32, 10), make([]float32, 3*32*32), 1, 32, 32))
			_, err := n.Steps(1, 32, 32)
			assert.Error(t, err)
			assert.Error(t, n.SetWorkspaceLimit(1, 1))
			n.Release()
		})
	}
	for _, s := range []*Stem{nil, {}} {
		require.NotPanics(t, func() {
			_, _, err := s.OutputSize(8, 8)
			assert.Error(t, err)
			assert.Zero(t, s.FLOPs(1, 8, 8))
			assert.Zero(t, s.OutChannels())
			assert.Error(t, s.Forward(y, make([]float32, 3*8*8), 1, 8, 8))
			s.Release()
		})
	}
	for _, sd := range []*StateDict{nil, {}} {
		require.NotPanics(t, func() {
			_, err := sd.Take("conv1.weight", 1)
			assert.Error(t, err)
			_, ok := sd.Shape("conv1.weight")
			assert.False(t, ok)
			assert.Empty(t, sd.Unused())
			assert.Nil(t, sd.Metadata())
			_, ok, err = sd.Spec()
			assert.False(t, ok)
			assert.NoError(t, err)
			_, err = Build(sd, NetSpec{Arch: "resnet20"})
			assert.Error(t, err)
		})
	}
}
