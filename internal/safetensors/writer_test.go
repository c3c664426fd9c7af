package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
)

// testTensor is what the test-only writer lays out: data is written in the
// order given, whatever the names.
type testTensor struct {
	name  string
	dtype string
	shape []int
	data  []byte
}

// build writes a safetensors file the way the reference writer does: header
// JSON padded with spaces to a multiple of 8 bytes, tensors back to back.
func build(tb testing.TB, tensors []testTensor, meta map[string]string) []byte {
	tb.Helper()
	header := map[string]any{}
	if meta != nil {
		header["__metadata__"] = meta
	}
	var buf []byte
	for _, t := range tensors {
		shape := t.shape
		if shape == nil {
			shape = []int{}
		}
		header[t.name] = map[string]any{
			"dtype":        t.dtype,
			"shape":        shape,
			"data_offsets": []int{len(buf), len(buf) + len(t.data)},
		}
		buf = append(buf, t.data...)
	}
	js, err := json.Marshal(header)
	if err != nil {
		tb.Fatal(err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	return craft(string(js), buf)
}

// craft assembles a file from a literal header and data buffer.
func craft(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

func f32Bytes(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func u16Bytes(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

func i64Bytes(v ...int64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}
