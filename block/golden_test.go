package block

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/internal/safetensors"
	"github.com/sbconv/sbconv/kernels"
)

// goldenDir holds networks exported by PyTorch (testdata/block/gen.py):
// for each case a state_dict and an input with PyTorch's logits.
const goldenDir = "../testdata/block"

type goldenCase struct {
	Name       string `json:"name"`
	Arch       string `json:"arch"`
	SB         []int  `json:"sb"`
	Width      int    `json:"width"`
	NumClasses int    `json:"num_classes"`
	Batch      int    `json:"batch"`
	H          int    `json:"h"`
	W          int    `json:"w"`
	DType      string `json:"dtype"`
	Rate       int    `json:"rate"` // 0 (absent) means 2
	// The SB blocks' kernel sizes where they are not the rate's default
	// (absent: DefaultKernelSize), which Load reads off the weights.
	ReduceKernel  int `json:"reduce_kernel"`
	RestoreKernel int `json:"restore_kernel"`
}

// kernels returns the case's SB kernel sizes Kr and K.
func (c goldenCase) kernels() (kr, k int) {
	kr, k = c.ReduceKernel, c.RestoreKernel
	if kr == 0 {
		kr = DefaultKernelSize(rateOf(c.Rate))
	}
	if k == 0 {
		k = DefaultKernelSize(rateOf(c.Rate))
	}
	return kr, k
}

func goldenCases(t *testing.T) []goldenCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(goldenDir, "cases.json"))
	require.NoError(t, err)
	var cases []goldenCase
	require.NoError(t, json.Unmarshal(raw, &cases))
	require.NotEmpty(t, cases)
	return cases
}

// TestGoldenPyTorch loads every PyTorch-exported network with Load and
// matches its logits within 1e-3 of the largest |logit|: every dtype,
// spatial bottlenecks at every rate, and with kernel sizes other than the
// rate's default (an even restore among them), which the SB blocks must
// have read off the weights.
func TestGoldenPyTorch(t *testing.T) {
	dtypes := map[string]bool{}
	rates := map[int]bool{}
	var otherKernels, evenRestore bool
	for _, c := range goldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			io, err := safetensors.ReadFile(filepath.Join(goldenDir, c.Name+".io.safetensors"))
			require.NoError(t, err)
			get := func(name string, shape ...int) []float32 {
				x, ok := io.Tensor(name)
				require.True(t, ok, "no %q in the io file", name)
				require.Equal(t, shape, x.Shape, name)
				v, err := x.Float32()
				require.NoError(t, err)
				return v
			}
			in := get("input", c.Batch, 3, c.H, c.W)
			want := get("logits", c.Batch, c.NumClasses)
			// NumClasses 0 must take fc.weight's rows; the spec's own
			// count must agree with them.
			for _, classes := range []int{0, c.NumClasses} {
				net, err := Load(filepath.Join(goldenDir, c.Name+".safetensors"),
					NetSpec{Arch: c.Arch, SB: c.SB, Width: c.Width, NumClasses: classes, Rate: c.Rate})
				require.NoError(t, err)
				require.Equal(t, c.NumClasses, net.NumClasses())
				got := make([]float32, len(want))
				require.NoError(t, net.Forward(got, in, c.Batch, c.H, c.W))
				requireLogitsClose(t, got, want, 1e-3, kernels.ISA()+" "+c.DType)
				sbBlocks := 0
				for i, b := range net.blocks {
					s, ok := b.(interface{ KernelSizes() (int, int) })
					if !ok {
						continue
					}
					sbBlocks++
					kr, k := s.KernelSizes()
					wantKr, wantK := c.kernels()
					require.Equal(t, [2]int{wantKr, wantK}, [2]int{kr, k}, "block %d's (Kr, K)", i)
				}
				require.Equal(t, len(c.SB) > 0, sbBlocks > 0, "SB blocks built")
			}
			dtypes[c.DType] = true
			if len(c.SB) > 0 {
				rates[rateOf(c.Rate)] = true
				kr, k := c.kernels()
				d := DefaultKernelSize(rateOf(c.Rate))
				otherKernels = otherKernels || kr != d || k != d
				evenRestore = evenRestore || k%2 == 0
			}
		})
	}
	for _, d := range []string{"F32", "F16", "BF16"} {
		require.True(t, dtypes[d], "no passing golden case stores %s weights", d)
	}
	for _, r := range Rates() {
		require.True(t, rates[r], "no passing golden case has spatial bottlenecks at rate %d", r)
	}
	require.True(t, otherKernels, "no passing golden case has other SB kernel sizes than the rate's default")
	require.True(t, evenRestore, "no passing golden case has an even restore kernel")
}

// TestEveryISA reruns the network tests in a child process for every
// other microkernel set this CPU runs (SBCONV_ISA is read once per
// process), so go test ./block covers them all.
func TestEveryISA(t *testing.T) {
	if os.Getenv(isaChildEnv) != "" {
		t.Skip("in a child")
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, isa := range kernels.ISAs() {
		if isa == kernels.ISA() {
			continue
		}
		t.Run(isa, func(t *testing.T) {
			runChild(t, "^(TestGoldenPyTorch|TestNetMatchesReference|TestBlocksMatchReference|TestForwardEverySize|TestRateBlocksMatchReference|TestRateNetMatchesReference|TestRateEverySize)$", isaChildEnv+"=1", "SBCONV_ISA="+isa)
		})
	}
}

const isaChildEnv = "SBCONV_BLOCK_CHILD"

// runChild runs the tests matching pattern in a new process with env
// added, through qemu when this binary is a cross-built one run under it.
func runChild(t *testing.T, pattern string, env ...string) {
	t.Helper()
	args := []string{"-test.run=" + pattern, "-test.count=1", "-test.v"}
	start := func(prog string, args ...string) ([]byte, error) {
		cmd := exec.Command(prog, args...)
		cmd.Env = append(os.Environ(), env...)
		return cmd.CombinedOutput()
	}
	out, err := start(os.Args[0], args...)
	if errors.Is(err, syscall.ENOEXEC) {
		if emu, lerr := exec.LookPath("qemu-" + map[string]string{"arm64": "aarch64", "amd64": "x86_64"}[runtime.GOARCH]); lerr == nil {
			out, err = start(emu, append([]string{os.Args[0]}, args...)...)
		}
	}
	if err != nil {
		t.Fatalf("child (%v) failed: %v\n%s", env, err, tail(out))
	}
	if !strings.Contains(string(out), "--- PASS") || strings.Contains(string(out), "--- FAIL") {
		t.Fatalf("child (%v) did not pass:\n%s", env, tail(out))
	}
}

func tail(b []byte) string {
	if len(b) > 6000 {
		return "...\n" + string(b[len(b)-6000:])
	}
	return string(b)
}

// TestLoadBadFiles: a missing, truncated or corrupted file, and a tensor of
// a dtype that holds no weights, are errors from Load, never a panic.
func TestLoadBadFiles(t *testing.T) {
	c := goldenCases(t)[0]
	spec := NetSpec{Arch: c.Arch, SB: c.SB, Width: c.Width}
	good, err := os.ReadFile(filepath.Join(goldenDir, c.Name+".safetensors"))
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	_, err = Load(filepath.Join(dir, "none.safetensors"), spec)
	require.Error(t, err)
	for _, cut := range []int{0, 4, 8, 100, len(good) / 2, len(good) - 1} {
		_, err := Load(write("cut.safetensors", good[:cut]), spec)
		require.Error(t, err, "file cut to %d bytes", cut)
	}
	huge := append([]byte{}, good...)
	huge[5] = 0x7f // header length of ~2^47
	_, err = Load(write("huge.safetensors", huge), spec)
	require.Error(t, err)
	// A weight stored as I32 (the same byte count as F32, so the file
	// itself is well formed): the dtype is the error.
	i32 := strings.Replace(string(good), `"conv1.weight":{"dtype":"F32"`, `"conv1.weight":{"dtype":"I32"`, 1)
	require.NotEqual(t, string(good), i32, "the test file's header changed form")
	_, err = Load(write("i32.safetensors", []byte(i32)), spec)
	require.ErrorContains(t, err, "conv1.weight")
	require.ErrorContains(t, err, "I32")
}
