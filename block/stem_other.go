//go:build !amd64 || purego

package block

import "github.com/sbconv/sbconv/asm"

// packSet names the generated pack kernel packRun8 calls: none outside
// amd64 (and under purego), where it always runs its Go loop.
type packSet uint8

const packGo packSet = 0

func dispatchedPack() packSet { return packGo }

func packAsm(packSet, *asm.PackParams) { panic("block: no pack kernel") }

// dispatchedStem: no stem kernels outside amd64 (and under purego).
func dispatchedStem(int) (func(ocb, sw int) func(*asm.Params), int) { return nil, 0 }

// avgPoolSet names the generated average-pool kernel globalAvgPool calls:
// none outside amd64 (and under purego), where it runs globalAvgPoolGo.
type avgPoolSet uint8

const avgPoolGo avgPoolSet = 0

func dispatchedAvgPool(int) avgPoolSet { return avgPoolGo }

func avgPoolAsm(avgPoolSet, *asm.AvgPoolParams) { panic("block: no average-pool kernel") }
