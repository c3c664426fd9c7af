// Package emit is what every generator in gen/ shares besides its
// kernels: the command line, writing the files, and the Go tables of the
// convolution kernels, which every set lays out alike for package
// kernels.
package emit

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
)

// Render returns a generator's files by name.
type Render func() (map[string][]byte, error)

// Main is a generator's main function: it writes render's files into the
// folder -dir names (the asm package, by default ../asm from gen/).
func Main(render Render) {
	dir := flag.String("dir", "../asm", "output folder (the asm package)")
	flag.Parse()
	files, err := render()
	if err == nil {
		err = Write(*dir, files)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// Write writes files into dir, in name order.
func Write(dir string, files map[string][]byte) error {
	for _, name := range Names(files) {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Names returns the names of files, sorted.
func Names(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// IntList writes xs as the body of a Go composite literal: {1, 2, 4}.
func IntList(xs []int) string {
	s := "{"
	for i, x := range xs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(x)
	}
	return s + "}"
}

// KernelTable writes the Go table var table = [<set>MaxOCB]
// [len(<set>SrcStrides)][len(<set>DstStrides)]elem of a set's kernels
// for maxOCB output blocks, one row of cells per input stride: cell
// returns the Go text of entry [ocb-1][s][d] (a kernel's name, nil, or a
// braced list of them when elem is an array of kernels).
func KernelTable(b *bytes.Buffer, set, table, elem string, maxOCB int, srcStrides, dstStrides []int, cell func(ocb, s, d int) string) {
	fmt.Fprintf(b, "var %s = [%sMaxOCB][len(%sSrcStrides)][len(%sDstStrides)]%s{\n", table, set, set, set, elem)
	for ocb := 1; ocb <= maxOCB; ocb++ {
		fmt.Fprintf(b, "\t{\n")
		for _, s := range srcStrides {
			fmt.Fprintf(b, "\t\t{")
			for i, d := range dstStrides {
				if i > 0 {
					fmt.Fprintf(b, ", ")
				}
				fmt.Fprintf(b, "%s", cell(ocb, s, d))
			}
			fmt.Fprintf(b, "},\n")
		}
		fmt.Fprintf(b, "\t},\n")
	}
	fmt.Fprintf(b, "}\n")
}

// OrNil returns name, or "nil" for none ("").
func OrNil(name string) string {
	if name == "" {
		return "nil"
	}
	return name
}

// ConvTables writes the Go tables of a set's convolution kernels, after
// its <set>MaxOCB constant: <set>URW, <set>SrcStrides, <set>DstStrides,
// <set>Conv and <set>Conv1x1 (see "Sets" in package asm's comment), and
// <set>Kernel, the lookup in them that package kernels dispatches by.
// urw[ocb-1] is the pixels a step of the kernels for ocb output blocks,
// so len(urw) is the set's MaxOCB; name returns the kernel for ocb output
// blocks, strides s and d (in pixels) and the 1x1 form when pw is set, or
// "" where the set has none (the table holds nil there).
func ConvTables(b *bytes.Buffer, set string, urw, srcStrides, dstStrides []int, name func(ocb, s, d int, pw bool) string) {
	fmt.Fprintf(b, "// %sURW[ocb] is the pixels per step of the %s kernels for ocb output blocks.\n", set, set)
	fmt.Fprintf(b, "var %sURW = [%sMaxOCB + 1]int{0", set, set)
	for _, u := range urw {
		fmt.Fprintf(b, ", %d", u)
	}
	fmt.Fprintf(b, "}\n\n")
	fmt.Fprintf(b, "// %sSrcStrides and %sDstStrides are the input and output pixel strides\n", set, set)
	fmt.Fprintf(b, "// (in pixels) of the convolution kernels, in the order %sConv and\n", set)
	fmt.Fprintf(b, "// %sConv1x1 index them.\n", set)
	fmt.Fprintf(b, "var (\n\t%sSrcStrides = [...]int%s\n\t%sDstStrides = [...]int%s\n)\n", set, IntList(srcStrides), set, IntList(dstStrides))
	for _, pw := range []bool{false, true} {
		table, what := set+"Conv", "any window"
		if pw {
			table, what = set+"Conv1x1", "a 1x1 window"
		}
		fmt.Fprintf(b, "\n// %s[ocb-1][si][di] is the %s microkernel for %s, ocb output\n", table, set, what)
		fmt.Fprintf(b, "// blocks, input pixel stride %sSrcStrides[si] and output pixel stride\n", set)
		fmt.Fprintf(b, "// %sDstStrides[di]; nil where the driver never asks (d > 1 with s > 1).\n", set)
		KernelTable(b, set, table, "func(*Params)", len(urw), srcStrides, dstStrides, func(ocb, s, d int) string {
			return OrNil(name(ocb, s, d, pw))
		})
	}
	fmt.Fprintf(b, "\n// %sKernel returns the %s convolution kernel for ocb output blocks, input\n", set, set)
	fmt.Fprintf(b, "// pixel stride s and output pixel stride d (in pixels), the 1x1 form when\n")
	fmt.Fprintf(b, "// pw is set, or nil where the set has none: a lookup in %sConv and\n", set)
	fmt.Fprintf(b, "// %sConv1x1.\n", set)
	fmt.Fprintf(b, "func %sKernel(ocb, s, d int, pw bool) func(*Params) {\n", set)
	fmt.Fprintf(b, "\tif ocb < 1 || ocb > %sMaxOCB {\n\t\treturn nil\n\t}\n", set)
	fmt.Fprintf(b, "\tfor si, sv := range %sSrcStrides {\n", set)
	fmt.Fprintf(b, "\t\tfor di, dv := range %sDstStrides {\n", set)
	fmt.Fprintf(b, "\t\t\tif sv == s && dv == d {\n")
	fmt.Fprintf(b, "\t\t\t\tif pw {\n\t\t\t\t\treturn %sConv1x1[ocb-1][si][di]\n\t\t\t\t}\n", set)
	fmt.Fprintf(b, "\t\t\t\treturn %sConv[ocb-1][si][di]\n", set)
	fmt.Fprintf(b, "\t\t\t}\n\t\t}\n\t}\n\treturn nil\n}\n")
}
