//go:build purego

package kernels_test

func init() { apiBuildTags = append(apiBuildTags, "purego") }
