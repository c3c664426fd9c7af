// Command sbforward runs one network on one input: the Go half of the
// end-to-end test against PyTorch (python/test_sbconv_torch.py).
//
//	go run ./internal/cmd/sbforward [-arch A -sb 1,2 -width W -classes N -rate R] MODEL.safetensors INPUT.safetensors OUT.safetensors
//
// It loads MODEL with block.Load, with the NetSpec the flags give (none: the
// zero NetSpec, so the network is the one the file describes), reads the
// F32 tensor "input" [batch, 3, h, w] of INPUT, runs Net.Forward and writes
// the logits as the F32 tensor "logits" [batch, classes] of OUT. Any error
// is printed to stderr and the exit status is 1 (2 for a bad command line).
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/sbconv/sbconv/block"
	"github.com/sbconv/sbconv/internal/safetensors"
)

func main() {
	fs := flag.NewFlagSet("sbforward", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: sbforward [-arch A -sb 1,2 -width W -classes N -rate R] MODEL.safetensors INPUT.safetensors OUT.safetensors")
		fs.PrintDefaults()
	}
	var spec block.NetSpec
	var sb string
	fs.StringVar(&spec.Arch, "arch", "", "NetSpec.Arch (empty: from the file's description)")
	fs.StringVar(&sb, "sb", "", "NetSpec.SB: comma-separated 1-based stages")
	fs.IntVar(&spec.Width, "width", 0, "NetSpec.Width")
	fs.IntVar(&spec.NumClasses, "classes", 0, "NetSpec.NumClasses")
	fs.IntVar(&spec.Rate, "rate", 0, "NetSpec.Rate")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	stages, err := parseStages(sb)
	if err != nil || fs.NArg() != 3 {
		if err != nil {
			fmt.Fprintln(os.Stderr, "sbforward:", err)
		}
		fs.Usage()
		os.Exit(2)
	}
	spec.SB = stages
	if err := run(spec, fs.Arg(0), fs.Arg(1), fs.Arg(2)); err != nil {
		fmt.Fprintln(os.Stderr, "sbforward:", err)
		os.Exit(1)
	}
}

// parseStages reads "1,2,4" (or "") as a list of stages.
func parseStages(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("-sb %q: stage %q is not an integer", s, f)
		}
		out = append(out, v)
	}
	return out, nil
}

func run(spec block.NetSpec, model, input, out string) error {
	net, err := block.Load(model, spec)
	if err != nil {
		return err
	}
	in, err := safetensors.ReadFile(input)
	if err != nil {
		return err
	}
	x, ok := in.Tensor("input")
	if !ok {
		return fmt.Errorf("%s: no tensor \"input\" (have %s)", input, strings.Join(in.Names(), ", "))
	}
	if x.DType != "F32" || len(x.Shape) != 4 || x.Shape[1] != 3 {
		return fmt.Errorf("%s: \"input\" is %s %v, want F32 [batch, 3, h, w]", input, x.DType, x.Shape)
	}
	v, err := x.Float32()
	if err != nil {
		return err
	}
	batch, h, w := x.Shape[0], x.Shape[2], x.Shape[3]
	logits := make([]float32, batch*net.NumClasses())
	if err := net.Forward(logits, v, batch, h, w); err != nil {
		return err
	}
	return writeF32(out, "logits", logits, []int{batch, net.NumClasses()})
}

// writeF32 writes a safetensors file holding one F32 tensor.
func writeF32(path, name string, v []float32, shape []int) error {
	type entry struct {
		DType       string `json:"dtype"`
		Shape       []int  `json:"shape"`
		DataOffsets [2]int `json:"data_offsets"`
	}
	header, err := json.Marshal(map[string]entry{name: {"F32", shape, [2]int{0, 4 * len(v)}}})
	if err != nil {
		return err
	}
	for len(header)%8 != 0 {
		header = append(header, ' ')
	}
	buf := make([]byte, 8, 8+len(header)+4*len(v))
	binary.LittleEndian.PutUint64(buf, uint64(len(header)))
	buf = append(buf, header...)
	for _, f := range v {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(f))
	}
	return os.WriteFile(path, buf, 0o644)
}
