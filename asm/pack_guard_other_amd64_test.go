//go:build !purego && !linux

package asm

import "testing"

// packPlaces: without guard pages, checkPack's operands lie between
// sentinels only.
var packPlaces = []string{"guards"}

func packGuardPage(t *testing.T) []float32 {
	t.Fatal("no guard pages on this system")
	return nil
}
