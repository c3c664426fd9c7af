//go:build (!amd64 && !arm64) || purego

package bench

var (
	peakKernel       func(n int)
	peakKernelISA    string
	peakFLOPsPerIter float64
	peakMaxIters     int
)
