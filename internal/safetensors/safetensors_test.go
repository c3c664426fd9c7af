package safetensors

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stateDict is a miniature ResNet state_dict as PyTorch saves it, with the
// I64 num_batches_tracked scalar, a zero-element tensor and every float dtype.
func stateDict() []testTensor {
	return []testTensor{
		{"conv1.weight", "F32", []int{2, 1, 1, 3}, f32Bytes(1, -2, 3.5, 0, float32(math.Inf(1)), -0.25)},
		{"bn1.num_batches_tracked", "I64", nil, i64Bytes(7)},
		{"bn1.weight", "F16", []int{4}, u16Bytes(0x3c00, 0xc000, 0x0001, 0x7bff)},
		{"bn1.bias", "BF16", []int{2, 2}, u16Bytes(0x3f80, 0xc000, 0x4049, 0x0000)},
		{"empty", "F32", []int{0, 3}, nil},
		{"mask", "BOOL", []int{3}, []byte{1, 0, 1}},
		{"empty2", "F16", []int{3, 0}, nil},
	}
}

var stateDictFloats = map[string][]float32{
	"conv1.weight": {1, -2, 3.5, 0, float32(math.Inf(1)), -0.25},
	"bn1.weight":   {1, -2, 0x1p-24, 65504},
	"bn1.bias":     {1, -2, 3.140625, 0},
	"empty":        {},
	"empty2":       {},
}

func checkStateDict(t *testing.T, f *File) {
	t.Helper()
	want := stateDict()
	require.Equal(t, []string{"bn1.bias", "bn1.num_batches_tracked", "bn1.weight", "conv1.weight", "empty", "empty2", "mask"}, f.Names())
	for _, w := range want {
		tn, ok := f.Tensor(w.name)
		require.True(t, ok, w.name)
		assert.Equal(t, w.name, tn.Name)
		assert.Equal(t, w.dtype, tn.DType)
		wantShape := w.shape
		if wantShape == nil {
			wantShape = []int{}
		}
		assert.Equal(t, wantShape, tn.Shape, w.name)
		assert.Equal(t, len(w.data)/dtypeSizes[w.dtype], tn.Elements(), w.name)
		assert.Equal(t, len(w.data), len(tn.data), w.name)
		if len(w.data) > 0 {
			assert.Equal(t, w.data, tn.data, w.name)
		}
		got, err := tn.Float32()
		if floats, ok := stateDictFloats[w.name]; ok {
			require.NoError(t, err, w.name)
			assert.Equal(t, floats, got, w.name)
		} else {
			require.Error(t, err, w.name)
			assert.ErrorContains(t, err, `tensor "`+w.name+`"`)
			assert.ErrorContains(t, err, "dtype "+w.dtype)
		}
	}
	tn, _ := f.Tensor("bn1.num_batches_tracked")
	assert.Equal(t, 1, tn.Elements(), "a scalar has one element")
	assert.Equal(t, int64(7), int64(binary.LittleEndian.Uint64(tn.data)))

	_, ok := f.Tensor("fc.weight")
	assert.False(t, ok)
}

func TestRoundTripParse(t *testing.T) {
	file := build(t, stateDict(), map[string]string{"format": "pt"})
	f, err := Parse(file)
	require.NoError(t, err)
	checkStateDict(t, f)
	assert.Equal(t, map[string]string{"format": "pt"}, f.Metadata())
}

func TestRoundTripReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	require.NoError(t, os.WriteFile(path, build(t, stateDict(), nil), 0o644))
	f, err := ReadFile(path)
	require.NoError(t, err)
	checkStateDict(t, f)
	assert.Nil(t, f.Metadata())
}

func TestCopies(t *testing.T) {
	f, err := Parse(build(t, stateDict(), map[string]string{"k": "v"}))
	require.NoError(t, err)
	m := f.Metadata()
	m["k"] = "changed"
	assert.Equal(t, "v", f.Metadata()["k"], "Metadata returns a copy")
	tn, _ := f.Tensor("conv1.weight")
	tn.Shape[0] = 99
	tn2, _ := f.Tensor("conv1.weight")
	assert.Equal(t, 2, tn2.Shape[0], "Tensor returns its own Shape")
}

func TestLegalOddities(t *testing.T) {
	for name, file := range map[string][]byte{
		"empty header":          craft("{}", nil),
		"padded header":         craft("  {} \t\r\n  ", nil),
		"zero-length at start":  craft(`{"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}),
		"zero-length at end":    craft(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"z":{"dtype":"F32","shape":[0,1],"data_offsets":[1,1]}}`, []byte{1}),
		"two zero-length":       craft(`{"y":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"z":{"dtype":"I64","shape":[5,0],"data_offsets":[0,0]}}`, nil),
		"huge dim times zero":   craft(`{"z":{"dtype":"F32","shape":[0,4611686018427387904],"data_offsets":[0,0]}}`, nil),
		"keys in any order":     craft(`{"a":{"data_offsets":[0,2],"shape":[1],"dtype":"F16"}}`, []byte{0, 0x3c}),
		"empty metadata":        craft(`{"__metadata__":{}}`, nil),
		"all carried dtypes":    build(t, allDTypes(), nil),
		"unicode name":          craft(`{"\u00e9t\u00e9":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}`, []byte{1}),
		"offsets out of order":  craft(`{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1, 2}),
		"metadata after tensor": craft(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"__metadata__":{"x":"y"}}`, []byte{1}),
		"starts PK like a zip":  craft(`{}`+strings.Repeat(" ", 0x4B50-2), nil), // a 19280-byte header
	} {
		t.Run(name, func(t *testing.T) {
			if name == "huge dim times zero" && strconv.IntSize < 64 {
				t.Skip("the dim does not fit a 32-bit int: refused there")
			}
			_, err := Parse(file)
			require.NoError(t, err)
		})
	}
}

func allDTypes() []testTensor {
	var ts []testTensor
	for dt, size := range dtypeSizes {
		ts = append(ts, testTensor{"t_" + dt, dt, []int{2}, make([]byte, 2*size)})
	}
	return ts
}

func hdr(n uint64, rest string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
}

const okEntry = `"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`

// badFiles maps a case name to a malformed file and the substrings its error
// must contain: the tensor or key at fault and the bad value.
func badFiles() map[string]struct {
	file []byte
	want []string
} {
	type c = struct {
		file []byte
		want []string
	}
	d4 := []byte{0, 0, 0, 0}
	tensor := func(entry string, data []byte) []byte { return craft(`{"a":`+entry+`}`, data) }
	return map[string]c{
		"empty file":          {nil, []string{"0 bytes", "8-byte header length"}},
		"7 bytes":             {make([]byte, 7), []string{"7 bytes"}},
		"header past end":     {hdr(100, "{}"), []string{"header length 100", "2 bytes"}},
		"header over limit":   {hdr(1<<40, "{}"), []string{"header length 1099511627776", "limit", "damaged"}},
		"header max uint64":   {hdr(math.MaxUint64, "{}"), []string{"header length 18446744073709551615"}},
		"binary over limit":   {hdr(1<<40, "\x00\x01"), []string{"not a safetensors file", "header length, are 1099511627776", "limit"}},
		"text file":           {[]byte("hello, world\n"), []string{"not a safetensors file", "header length, are 8583909746840200552", "limit"}},
		"text past end":       {hdr(100, "xy"), []string{"not a safetensors file", "header length, are 100", "only 2 bytes follow"}},
		"zip checkpoint":      {[]byte("PK\x03\x04\x14\x00\x08\x08\x08\x00archive/data.pkl"), []string{"not a safetensors file", "zip archive", "torch.save", "PyTorch checkpoint"}},
		"pickle checkpoint":   {[]byte("\x80\x02\x8a\x0alj\xfc\x9cF\xf9 j\xa8P\x19."), []string{"not a safetensors file", "pickle (protocol 2)", "torch.save", "PyTorch checkpoint"}},
		"short pickle":        {[]byte("\x80\x04K."), []string{"not a safetensors file", "pickle (protocol 4)", "PyTorch checkpoint"}},
		"header length 0":     {hdr(0, ""), []string{"header length 0"}},
		"header length 1":     {hdr(1, "{"), []string{"header length 1"}},
		"invalid utf-8":       {craft("{\"\xff\":1}", nil), []string{"UTF-8"}},
		"truncated json":      {craft(`{"a":`, nil), []string{"JSON"}},
		"json syntax":         {craft(`{"a" 1}`, nil), []string{"JSON syntax error at header byte"}},
		"not an object":       {craft(`[1]`, nil), []string{"an array"}},
		"trailing garbage":    {craft(`{}x`, nil), []string{"JSON"}},
		"trailing object":     {craft(`{} {}`, nil), []string{"JSON syntax error", "after top-level value"}},
		"entry not object":    {craft(`{"a":5}`, nil), []string{`tensor "a"`, "number 5"}},
		"unknown dtype":       {tensor(`{"dtype":"F4","shape":[2],"data_offsets":[0,1]}`, []byte{0}), []string{`tensor "a"`, `unknown dtype "F4"`}},
		"lowercase dtype":     {tensor(`{"dtype":"f32","shape":[1],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, `"f32"`}},
		"dtype not string":    {tensor(`{"dtype":32,"shape":[1],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "dtype", "number 32"}},
		"dtype bool":          {tensor(`{"dtype":true,"shape":[1],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "dtype", "true"}},
		"long dtype":          {tensor(`{"dtype":"`+strings.Repeat("F", 100)+`","shape":[1],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, `unknown dtype "FFFF`}},
		"long number":         {tensor(`{"dtype":"F32","shape":[`+strings.Repeat("9", 100)+`],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "shape", "9999"}},
		"long string dim":     {tensor(`{"dtype":"F32","shape":["`+strings.Repeat("x", 100)+`"],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "shape", `xxxx"...`}},
		"missing dtype":       {tensor(`{"shape":[1],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "missing dtype"}},
		"missing shape":       {tensor(`{"dtype":"F32","data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "missing shape"}},
		"missing offsets":     {tensor(`{"dtype":"F32","shape":[1]}`, d4), []string{`tensor "a"`, "missing data_offsets"}},
		"unknown key":         {tensor(`{"dtype":"F32","shape":[1],"data_offsets":[0,4],"offsets":1}`, d4), []string{`tensor "a"`, `unknown key "offsets"`}},
		"duplicate dtype":     {tensor(`{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, `duplicate key "dtype"`}},
		"duplicate shape":     {tensor(`{"dtype":"F32","shape":[1],"shape":[1],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, `duplicate key "shape"`}},
		"duplicate offsets":   {tensor(`{"dtype":"F32","shape":[1],"data_offsets":[0,4],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, `duplicate key "data_offsets"`}},
		"negative dim":        {tensor(`{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "shape", "-1"}},
		"fractional dim":      {tensor(`{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "shape", "1.5"}},
		"exponent dim":        {tensor(`{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "shape", "1e0"}},
		"string dim":          {tensor(`{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "shape", `string "1"`}},
		"null shape":          {tensor(`{"dtype":"F32","shape":null,"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "shape", "null"}},
		"65 dims":             {tensor(`{"dtype":"F32","shape":[`+strings.Repeat("1,", 64)+`1],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "shape has 65 dimensions, more than 64"}},
		"nested shape":        {tensor(`{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "shape", "an array"}},
		"dim over uint64":     {tensor(`{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "18446744073709551616"}},
		"dim over int":        {tensor(`{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "9223372036854775808"}},
		"element overflow":    {tensor(`{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "[4294967296, 4294967296]", "element count overflows"}},
		"byte size overflow":  {tensor(`{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "[4611686018427387904]", "byte size overflows"}},
		"huge dim":            {tensor(`{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "[1000000000000]", "needs 4000000000000"}},
		"one offset":          {tensor(`{"dtype":"F32","shape":[1],"data_offsets":[4]}`, d4), []string{`tensor "a"`, "data_offsets", "want 2 numbers, got 1"}},
		"three offsets":       {tensor(`{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}`, d4), []string{`tensor "a"`, "data_offsets", "want 2 numbers, got more"}},
		"offsets not array":   {tensor(`{"dtype":"F32","shape":[1],"data_offsets":4}`, d4), []string{`tensor "a"`, "data_offsets", "number 4"}},
		"negative offset":     {tensor(`{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}`, d4), []string{`tensor "a"`, "data_offsets", "-4"}},
		"descending offsets":  {tensor(`{"dtype":"F32","shape":[1],"data_offsets":[4,0]}`, d4), []string{`tensor "a"`, "[4, 0]", "not ascending"}},
		"length mismatch":     {tensor(`{"dtype":"F32","shape":[2],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "[0, 4]", "hold 4 bytes", "shape [2] of F32 needs 8"}},
		"scalar mismatch":     {tensor(`{"dtype":"I64","shape":[],"data_offsets":[0,4]}`, d4), []string{`tensor "a"`, "shape [] of I64 needs 8"}},
		"truncated data":      {tensor(`{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`, d4), []string{`tensor "a"`, "[0, 8]", "past the end of the 4-byte data buffer", "truncated"}},
		"offsets far past":    {tensor(`{"dtype":"U8","shape":[4],"data_offsets":[4611686018427387904,4611686018427387908]}`, d4), []string{`tensor "a"`, "4611686018427387904", "past the end"}},
		"overlap":             {craft(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), []string{`tensor "b"`, "[4, 12]", `overlap tensor "a" at [0, 8]`}},
		"same offsets":        {craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}`, d4), []string{`tensor "b"`, "[0, 4]", `overlap tensor "a"`}},
		"zero-length inside":  {craft(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`, make([]byte, 8)), []string{`tensor "z"`, "[4, 4]", `overlap tensor "a"`}},
		"gap":                 {craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)), []string{`tensor "b"`, "[8, 12]", "[4, 8)", "unused"}},
		"gap at start":        {tensor(`{"dtype":"F32","shape":[1],"data_offsets":[4,8]}`, make([]byte, 8)), []string{`tensor "a"`, "[4, 8]", "[0, 4)"}},
		"trailing bytes":      {tensor(`{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`, make([]byte, 9)), []string{"9 bytes", "end at 4", "trailing"}},
		"data without tensor": {craft(`{}`, []byte{1}), []string{"1 bytes", "end at 0"}},
		"duplicate name":      {craft(`{`+okEntry+`,`+okEntry+`}`, d4), []string{`duplicate key "a"`}},
		"duplicate metadata":  {craft(`{"__metadata__":{},"__metadata__":{}}`, nil), []string{`duplicate key "__metadata__"`}},
		"metadata dup key":    {craft(`{"__metadata__":{"k":"1","k":"2"}}`, nil), []string{"__metadata__", `duplicate key "k"`}},
		"metadata not object": {craft(`{"__metadata__":"pt"}`, nil), []string{"__metadata__", `string "pt"`}},
		"metadata number":     {craft(`{"__metadata__":{"epoch":3}}`, nil), []string{"__metadata__", `"epoch"`, "number 3"}},
		"metadata nested":     {craft(`{"__metadata__":{"cfg":{"a":"b"}}}`, nil), []string{"__metadata__", `"cfg"`, "an object"}},
	}
}

// wideCases hold numbers past 2^31: with a 32-bit int they fail earlier, as
// numbers that do not fit, so only their being errors is checked there.
var wideCases = map[string]bool{
	"element overflow": true, "byte size overflow": true, "huge dim": true, "offsets far past": true,
}

func TestErrors(t *testing.T) {
	for name, tc := range badFiles() {
		t.Run(name, func(t *testing.T) {
			if wideCases[name] && strconv.IntSize < 64 {
				tc.want = []string{`tensor "a"`, "fits in an int"}
			}
			f, err := Parse(tc.file)
			require.Error(t, err)
			assert.Nil(t, f)
			assert.ErrorIs(t, err, ErrFormat)
			assert.True(t, strings.HasPrefix(err.Error(), "safetensors: "), err.Error())
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
			// The kind follows the message: another kind of file, a
			// checkpoint among them, or a damaged safetensors file.
			msg := strings.Join(tc.want, "|")
			assert.Equal(t, strings.Contains(msg, "not a safetensors file"), errors.Is(err, ErrNotSafetensors), "ErrNotSafetensors")
			assert.Equal(t, strings.Contains(msg, "PyTorch checkpoint"), errors.Is(err, ErrCheckpoint), "ErrCheckpoint")

			// ReadFile must refuse the same file, naming its path.
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			require.NoError(t, os.WriteFile(path, tc.file, 0o644))
			f, err = ReadFile(path)
			require.Error(t, err)
			assert.Nil(t, f)
			assert.ErrorIs(t, err, ErrFormat)
			assert.Equal(t, errors.Is(err, ErrCheckpoint), strings.Contains(msg, "PyTorch checkpoint"), "ErrCheckpoint")
			assert.ErrorContains(t, err, path)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadFile(filepath.Join(dir, "missing.safetensors"))
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.NotErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "missing.safetensors")

	_, err = ReadFile(dir)
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "not a regular file")

	// A real checkpoint cut short by a failed copy.
	full := build(t, stateDict(), nil)
	path := filepath.Join(dir, "cut.safetensors")
	require.NoError(t, os.WriteFile(path, full[:len(full)-5], 0o644))
	_, err = ReadFile(path)
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "truncated")
	_, err = Parse(full[:len(full)-5])
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "truncated")
}

// totalAlloc reports the bytes allocated (by this goroutine, in practice)
// while running fn.
func totalAlloc(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadFileHostileHeaderAllocatesLittle: a header that claims to be huge,
// or that points tensors far past a small file, costs no large allocation.
func TestReadFileHostileHeaderAllocatesLittle(t *testing.T) {
	dir := t.TempDir()
	for name, file := range map[string][]byte{
		"header 2^40":   hdr(1<<40, "{}"),
		"header 99 MiB": hdr(99<<20, "{}"),
		"tensor 2^62":   craft(`{"a":{"dtype":"U8","shape":[4611686018427387904],"data_offsets":[0,4611686018427387904]}}`, nil),
		"tensor 1 GiB":  craft(`{"a":{"dtype":"F32","shape":[268435456],"data_offsets":[0,1073741824]}}`, make([]byte, 16)),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			require.NoError(t, os.WriteFile(path, file, 0o644))
			var err error
			n := totalAlloc(func() { _, err = ReadFile(path) })
			require.ErrorIs(t, err, ErrFormat)
			assert.Less(t, n, uint64(64<<10), "bytes allocated")
			n = totalAlloc(func() { _, err = Parse(file) })
			require.ErrorIs(t, err, ErrFormat)
			assert.Less(t, n, uint64(64<<10), "bytes allocated")
		})
	}
}

func TestFloat16KnownValues(t *testing.T) {
	for _, c := range []struct {
		h    uint16
		bits uint32
	}{
		{0x0000, 0x00000000},                   // +0
		{0x8000, 0x80000000},                   // -0
		{0x3c00, math.Float32bits(1)},          // 1
		{0xc000, math.Float32bits(-2)},         // -2
		{0x3555, math.Float32bits(0.33325195)}, // nearest half to 1/3
		{0x3bff, math.Float32bits(0.99951172)}, // largest below 1
		{0x7bff, math.Float32bits(65504)},      // largest finite
		{0xfbff, math.Float32bits(-65504)},     // most negative finite
		{0x0400, math.Float32bits(0x1p-14)},    // smallest normal
		{0x03ff, math.Float32bits(0x3ffp-24)},  // largest subnormal
		{0x0200, math.Float32bits(0x1p-15)},    // a subnormal power of two
		{0x0001, math.Float32bits(0x1p-24)},    // smallest subnormal
		{0x8001, math.Float32bits(-0x1p-24)},   // its negative
		{0x0155, math.Float32bits(0x155p-24)},  // subnormal with scattered bits
		{0x7c00, math.Float32bits(float32(math.Inf(1)))},
		{0xfc00, math.Float32bits(float32(math.Inf(-1)))},
		{0x7e00, 0x7fc00000}, // canonical quiet NaN
		{0xfe00, 0xffc00000}, // negative quiet NaN
		{0x7c01, 0x7f802000}, // signalling NaN, payload kept
		{0x7fff, 0x7fffe000}, // all-ones payload
	} {
		assert.Equalf(t, c.bits, math.Float32bits(halfToFloat32(c.h)), "half %#04x", c.h)
	}
}

// halfReference computes the value of an IEEE 754 binary16 bit pattern from
// its definition with float64 arithmetic, independently of halfToFloat32.
func halfReference(h uint16) (v float64, nan bool) {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return math.Copysign(frac/1024*math.Pow(2, -14), sign), false
	case 31:
		if frac == 0 {
			return math.Inf(int(sign)), false
		}
		return math.NaN(), true
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15)), false
}

func TestFloat16Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		got := halfToFloat32(h)
		want, nan := halfReference(h)
		if nan {
			// NaN: sign and payload carried to the top of the mantissa.
			wantBits := uint32(h&0x8000)<<16 | 0x7f800000 | uint32(h&0x3ff)<<13
			require.Equalf(t, wantBits, math.Float32bits(got), "half %#04x", h)
			require.True(t, math.IsNaN(float64(got)))
			continue
		}
		require.Equalf(t, math.Float32bits(float32(want)), math.Float32bits(got), "half %#04x: want %g", h, want)
		require.Equalf(t, want, float64(got), "half %#04x: float32 must hold it exactly", h)
	}
}

func TestBFloat16(t *testing.T) {
	known := map[uint16]uint32{
		0x0000: 0x00000000,
		0x8000: 0x80000000,
		0x3f80: math.Float32bits(1),
		0xc000: math.Float32bits(-2),
		0x4049: math.Float32bits(3.140625),
		0x3eab: math.Float32bits(0.333984375),
		0x7f7f: math.Float32bits(0x1.fep127), // largest finite
		0x0080: math.Float32bits(0x1p-126),   // smallest normal
		0x0001: math.Float32bits(0x1p-133),   // smallest subnormal
		0x7f80: math.Float32bits(float32(math.Inf(1))),
		0xff80: math.Float32bits(float32(math.Inf(-1))),
		0x7fc0: 0x7fc00000, // quiet NaN
		0x7f81: 0x7f810000, // signalling NaN, payload kept
	}
	var data []byte
	var want []uint32
	for i := range 1 << 16 {
		b := uint16(i)
		data = binary.LittleEndian.AppendUint16(data, b)
		// Independent reference: sign, 8-bit exponent, 7-bit fraction.
		sign := 1.0
		if b&0x8000 != 0 {
			sign = -1
		}
		exp, frac := int(b>>7)&0xff, float64(b&0x7f)
		var bits uint32
		switch {
		case exp == 0xff:
			bits = uint32(b) << 16 // inf and NaN: same bits by definition
		case exp == 0:
			bits = math.Float32bits(float32(math.Copysign(frac/128*math.Pow(2, -126), sign)))
		default:
			bits = math.Float32bits(float32(sign * (1 + frac/128) * math.Pow(2, float64(exp-127))))
		}
		if k, ok := known[b]; ok {
			require.Equalf(t, k, bits, "reference for bf16 %#04x", b)
		}
		want = append(want, bits)
	}
	f, err := Parse(build(t, []testTensor{{"w", "BF16", []int{256, 256}, data}}, nil))
	require.NoError(t, err)
	tn, _ := f.Tensor("w")
	got, err := tn.Float32()
	require.NoError(t, err)
	require.Len(t, got, 1<<16)
	for i := range got {
		require.Equalf(t, want[i], math.Float32bits(got[i]), "bf16 %#04x", i)
	}
}

// TestFloat16ThroughFile: the F16 path of Float32 agrees with halfToFloat32
// for every pattern, read from a file.
func TestFloat16ThroughFile(t *testing.T) {
	var data []byte
	for i := range 1 << 16 {
		data = binary.LittleEndian.AppendUint16(data, uint16(i))
	}
	f, err := Parse(build(t, []testTensor{{"w", "F16", []int{1 << 16}, data}}, nil))
	require.NoError(t, err)
	tn, _ := f.Tensor("w")
	got, err := tn.Float32()
	require.NoError(t, err)
	for i := range got {
		require.Equal(t, math.Float32bits(halfToFloat32(uint16(i))), math.Float32bits(got[i]))
	}
}

func TestShapeString(t *testing.T) {
	assert.Equal(t, "[]", shapeString(nil))
	assert.Equal(t, "[2, 3]", shapeString([]int{2, 3}))
	long := make([]int, 100)
	for i := range long {
		long[i] = i
	}
	assert.Equal(t, "[0, 1, 2, 3, 4, 5, 6, 7, ... 84 more ..., 92, 93, 94, 95, 96, 97, 98, 99]", shapeString(long))
}

// TestAllocationIsLinear: headers built to be expensive (many metadata keys,
// a long shape, many tensors) cost Parse a small multiple of their size; a
// shape past MaxDims is refused before its numbers are stored.
func TestAllocationIsLinear(t *testing.T) {
	list := func(n int, item func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = item(i)
		}
		return strings.Join(parts, ",")
	}
	for name, file := range map[string][]byte{
		"metadata keys": craft(`{"__metadata__":{`+list(20000, func(i int) string { return `"` + strconv.FormatInt(int64(i), 36) + `":""` })+`}}`, nil),
		"longest shape": craft(`{"a":{"dtype":"F32","shape":[`+list(MaxDims, func(int) string { return "1" })+`],"data_offsets":[0,4]}}`, make([]byte, 4)),
		"long shape":    craft(`{"a":{"dtype":"F32","shape":[`+list(200000, func(int) string { return "1" })+`],"data_offsets":[0,4]}}`, make([]byte, 4)),
		"many tensors": craft(`{`+list(20000, func(i int) string {
			return `"` + strconv.FormatInt(int64(i), 36) + `":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`
		})+`}`, nil),
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			n := totalAlloc(func() { _, err = Parse(file) })
			if name == "long shape" {
				require.ErrorContains(t, err, "shape has 200000 dimensions, more than 64")
			} else {
				require.NoError(t, err)
			}
			t.Logf("%d bytes parsed, %d allocated (%.1f×)", len(file), n, float64(n)/float64(len(file)))
			assert.LessOrEqual(t, n, allocBound(len(file)))
		})
	}
}

func TestMembers(t *testing.T) {
	for h, want := range map[string]int{
		`{}`:            0,
		` { "a" : 1 } `: 1,
		`{"a\":":{"x":[1,{"y":2}]},"b":"}:\\","c":[]}`: 3,
		`[1]`: 0,
	} {
		assert.Equal(t, want, (&scanner{h: []byte(h)}).members(), h)
	}
}

// TestPyTorchFiles reads the state_dicts PyTorch wrote for the block tests
// (testdata/block): every file parses both ways, every float tensor converts,
// and the I64 num_batches_tracked buffers are carried.
func TestPyTorchFiles(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "block", "*.safetensors"))
	require.NoError(t, err)
	if len(paths) == 0 {
		t.Skip("no testdata/block files")
	}
	sawI64 := false
	for _, path := range paths {
		f, err := ReadFile(path)
		require.NoError(t, err)
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		g, err := Parse(raw)
		require.NoError(t, err)
		require.Equal(t, f.Names(), g.Names(), path)
		require.Equal(t, f.Metadata(), g.Metadata(), path)
		require.NotEmpty(t, f.Names(), path)
		for _, name := range f.Names() {
			tn, _ := f.Tensor(name)
			tg, _ := g.Tensor(name)
			require.Equal(t, tn.data, tg.data, name)
			switch tn.DType {
			case "F32", "F16", "BF16":
				v, err := tn.Float32()
				require.NoError(t, err, name)
				require.Len(t, v, tn.Elements(), name)
			case "I64":
				sawI64 = true
				require.True(t, strings.HasSuffix(name, "num_batches_tracked"), name)
				require.Empty(t, tn.Shape, name)
			default:
				t.Fatalf("%s: tensor %q: unexpected dtype %s", path, name, tn.DType)
			}
		}
	}
	require.True(t, sawI64, "some state_dict carries num_batches_tracked")
}
