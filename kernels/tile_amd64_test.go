//go:build !purego

package kernels

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/asm"
)

// TestTileWidths: the driver asks for tile kernels up to maxTileW pixels
// a row, and the generated sets have them for exactly 2..maxTileW, so
// none is left unused and none asked for is missing.
func TestTileWidths(t *testing.T) {
	for _, ws := range [][]int{asm.AVX2TileWidths[:], asm.AVX512TileWidths[:]} {
		require.Equal(t, 2, slices.Min(ws))
		require.Equal(t, maxTileW, slices.Max(ws))
		require.Len(t, ws, maxTileW-1)
	}
}
