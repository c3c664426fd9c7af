package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// allocBound is the most FuzzParse lets Parse allocate for an input of n
// bytes: linear in the input (names, shapes, metadata strings, the maps; 4-8×
// for the worst headers TestAllocationIsLinear builds), never anything a value
// in the header merely claims.
func allocBound(n int) uint64 { return 16*uint64(n) + 64<<10 }

// The 64 KiB slack in these bounds absorbs what other goroutines allocate
// meanwhile (runtime.MemStats counts the whole process: a fuzz worker talks
// to its coordinator while the target runs).

// FuzzParse: Parse never panics, never allocates beyond allocBound, and what
// it accepts is self-consistent and survives a rewrite.
func FuzzParse(f *testing.F) {
	f.Add(build(f, stateDict(), map[string]string{"format": "pt"}))
	f.Add(build(f, allDTypes(), nil))
	f.Add(craft("{}", nil))
	// A small state_dict PyTorch wrote, when the block test data is there.
	if b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "block", "resnet32_sb2_w6_c7_17x17_b1_f32.io.safetensors")); err == nil {
		f.Add(b)
	}
	for _, tc := range badFiles() {
		f.Add(tc.file)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var file *File
		var err error
		if n := totalAlloc(func() { file, err = Parse(data) }); n > allocBound(len(data)) {
			t.Fatalf("Parse of %d bytes allocated %d bytes", len(data), n)
		}
		if err != nil {
			if file != nil {
				t.Fatal("non-nil File with an error")
			}
			return
		}
		names := file.Names()
		if !slices.IsSorted(names) {
			t.Fatalf("names not sorted: %q", names)
		}
		var tensors []testTensor
		used := 0
		for _, name := range names {
			tn, ok := file.Tensor(name)
			if !ok || tn.Name != name {
				t.Fatalf("Tensor(%q) = %v, %v", name, tn, ok)
			}
			size := dtypeSizes[tn.DType]
			if size == 0 || tn.Elements()*size != len(tn.data) {
				t.Fatalf("tensor %q: %s %v with %d bytes", name, tn.DType, tn.Shape, len(tn.data))
			}
			used += len(tn.data)
			var vals []float32
			if n := totalAlloc(func() { vals, err = tn.Float32() }); n > 2*uint64(len(tn.data))+64<<10 {
				t.Fatalf("Float32 of %d bytes allocated %d", len(tn.data), n)
			}
			switch tn.DType {
			case "F32", "F16", "BF16":
				if err != nil || len(vals) != tn.Elements() {
					t.Fatalf("tensor %q: Float32: %d values, %v", name, len(vals), err)
				}
			default:
				if err == nil {
					t.Fatalf("tensor %q: Float32 of %s did not fail", name, tn.DType)
				}
			}
			tensors = append(tensors, testTensor{name, tn.DType, tn.Shape, tn.data})
		}
		if used+8 > len(data) {
			t.Fatalf("tensors use %d bytes of a %d-byte file", used, len(data))
		}

		// Rewrite what was read and read it back: the same tensors.
		again, err := Parse(build(t, tensors, file.Metadata()))
		if err != nil {
			t.Fatalf("rewritten file does not parse: %v", err)
		}
		if !slices.Equal(again.Names(), names) {
			t.Fatalf("names %q became %q", names, again.Names())
		}
		for _, tt := range tensors {
			tn, _ := again.Tensor(tt.name)
			if tn.DType != tt.dtype || !slices.Equal(tn.Shape, tt.shape) || !bytes.Equal(tn.data, tt.data) {
				t.Fatalf("tensor %q changed on rewrite", tt.name)
			}
		}
	})
}
