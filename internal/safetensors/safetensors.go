// Package safetensors is a strict reader of the safetensors format: an 8-byte
// little-endian header length N, N bytes of JSON naming each tensor's dtype,
// shape and data_offsets (plus an optional "__metadata__" object of strings),
// then the data buffer the offsets index. It exists so that block.Load can
// build networks from PyTorch state_dicts, and it is as strict as PyTorch's
// reader (the reference Rust implementation) or stricter: every malformed or
// hostile file is an error naming the file, the tensor and the bad value,
// never a panic, and never an allocation sized by what the header claims
// rather than by the bytes actually there.
//
// Checked: the header length (at most 100 MiB and inside the file), UTF-8 and
// JSON syntax, one JSON object and nothing after it but whitespace, duplicate
// names (encoding/json would silently keep the last), the keys of each entry
// (exactly dtype, shape, data_offsets), the dtype (BOOL, U8, I8, F8_E4M3,
// F8_E5M2, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64 are carried; only
// F32, F16 and BF16 convert to float32), shape dims (at most MaxDims
// non-negative integers whose product, and its size in bytes, fit in an
// int), data_offsets (two
// ascending non-negative integers inside the data buffer: past its end means
// a truncated file), byte length == elements × dtype size, and that the
// tensors, sorted by offset, tile the buffer exactly, as the reference
// requires: no overlap, no gap, no trailing bytes. Zero-element tensors are
// legal.
//
// Why hand-written, not github.com/nlpodyssey/safetensors (judged at
// v0.0.0-20250209183917-bfb01cc25f7c: pseudo-versions only, an empty README,
// last commit February 2025): it would add only itself to go.mod, and it does
// check contiguous offsets, byte lengths with overflow-checked products and
// the buffer's end (a 20 s fuzz of its Deserialize found no panic). But it
// decodes the header into a Go map, so a duplicated tensor name silently keeps
// the last entry; most of its errors name neither tensor nor value ("metadata
// incomplete buffer", "info data offsets mismatch"); it has no F16/BF16
// conversion; and it reads only a whole in-memory buffer, so a bad header
// cannot be refused before the file is read. Closing those gaps takes our own
// pass over the JSON, our own conversions and our own file reading, which is
// the whole of this package, so it uses encoding/json alone (json.Valid, then
// a walk of the validated header) and go.mod stays as it was.
package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"os"
	"slices"
)

// MaxHeaderLen is the largest JSON header accepted, in bytes (100 MiB; the
// reference reader's limit is 10^8). A longer header is refused before
// anything is allocated for it.
const MaxHeaderLen = 100 << 20

// MaxDims is the most dimensions a tensor's shape may have, NumPy's limit
// (NPY_MAXDIMS, 64 since NumPy 2). A longer shape is refused before its
// numbers are stored.
const MaxDims = 64

// ErrFormat is matched (errors.Is) by every error that reports a malformed
// file, as opposed to an I/O error.
var ErrFormat = errors.New("safetensors: malformed file")

// ErrNotSafetensors is matched by the error for a file whose first bytes
// cannot begin a safetensors file at all (a text file, an image, a PyTorch
// checkpoint), as opposed to a damaged one. It implies ErrFormat.
var ErrNotSafetensors = errors.New("safetensors: not a safetensors file")

// ErrCheckpoint is matched by the error for a file that starts as
// torch.save's output does: a zip archive, or a Python pickle (the format
// before PyTorch 1.6, and with _use_new_zipfile_serialization=False). It
// implies ErrNotSafetensors and ErrFormat.
var ErrCheckpoint = errors.New("safetensors: a PyTorch checkpoint, not a safetensors file")

type formatError struct {
	msg  string
	kind error // nil, ErrNotSafetensors or ErrCheckpoint
}

func (e *formatError) Error() string { return e.msg }

func (e *formatError) Is(target error) bool {
	switch target {
	case ErrFormat:
		return true
	case ErrNotSafetensors:
		return e.kind != nil
	}
	return target != nil && target == e.kind
}

func errorf(format string, args ...any) error {
	return &formatError{msg: fmt.Sprintf(format, args...)}
}

// dtypeSizes holds the byte size of every dtype this package carries. Sub-byte
// dtypes (F4, F6_*) are not carried: a file holding them is refused.
var dtypeSizes = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// Tensor is one named tensor of a File. Its bytes are those of the file,
// little-endian, row-major (C order).
type Tensor struct {
	Name  string
	DType string // as in the file: "F32", "F16", "BF16", "I64", ...
	Shape []int  // empty for a scalar

	data       []byte
	begin, end int // data_offsets, relative to the data buffer
}

// Elements is the product of the shape (1 for a scalar, 0 if a dim is 0).
func (t *Tensor) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d // cannot overflow: checked when the file was parsed
	}
	return n
}

// Float32 returns the tensor's values as a new slice. F32 is copied, F16
// (IEEE 754 half: subnormals, infinities and NaN payloads exactly) and BF16
// are widened, which is exact; any other dtype is an error.
func (t *Tensor) Float32() ([]float32, error) {
	n := t.Elements()
	switch t.DType {
	case "F32":
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.data[4*i:]))
		}
		return out, nil
	case "F16":
		out := make([]float32, n)
		for i := range out {
			out[i] = halfToFloat32(binary.LittleEndian.Uint16(t.data[2*i:]))
		}
		return out, nil
	case "BF16":
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(t.data[2*i:])) << 16)
		}
		return out, nil
	}
	return nil, fmt.Errorf("safetensors: tensor %s: dtype %s does not convert to float32 (only F32, F16, BF16 do)", QuoteShort(t.Name), t.DType)
}

// halfToFloat32 widens an IEEE 754 binary16 value to binary32 exactly. A NaN
// keeps its sign and payload (shifted to the top of the float32 mantissa), as
// F16C's VCVTPH2PS and the FP16 library PyTorch uses do for quiet NaNs.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal: rebias 15 -> 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal: mant * 2^-24. Shift the leading one into the implicit bit.
	shift := uint32(bits.LeadingZeros32(mant) - 21) // 1..10
	mant = (mant << shift) & 0x3ff
	return math.Float32frombits(sign | (127-15+1-shift)<<23 | mant<<13)
}

// File is a parsed safetensors file.
type File struct {
	tensors  map[string]*Tensor
	metadata map[string]string
}

// Names lists the tensor names, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.tensors))
	for name := range f.tensors {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Tensor returns the named tensor. The returned Tensor is the caller's (its
// Shape is a copy); its bytes are shared with the File and never written.
func (f *File) Tensor(name string) (*Tensor, bool) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, false
	}
	c := *t
	c.Shape = slices.Clone(t.Shape)
	return &c, true
}

// Metadata returns a copy of the "__metadata__" object (nil if the file has
// none).
func (f *File) Metadata() map[string]string {
	return maps.Clone(f.metadata)
}

// Parse parses a whole safetensors file held in memory. The File's tensors
// refer to data, which must not be modified afterwards.
func Parse(data []byte) (*File, error) {
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

func parse(data []byte) (*File, error) {
	n, err := checkStart(data[:min(len(data), 9)], int64(len(data)))
	if err != nil {
		return nil, err
	}
	buf := data[8+n:]
	f, err := parseHeader(data[8:8+n], len(buf))
	if err != nil {
		return nil, err
	}
	for _, t := range f.tensors {
		t.data = buf[t.begin:t.end:t.end]
	}
	return f, nil
}

// ReadFile reads and parses the safetensors file at path. The header is read
// and validated against the file's size before the data buffer is allocated,
// so a hostile header costs a small multiple of its own length (itself at
// most MaxHeaderLen), whatever sizes and offsets it claims.
func ReadFile(path string) (*File, error) {
	f, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return f, nil
}

func readFile(path string) (*File, error) {
	// A FIFO, a device or a directory is refused before it is opened: opening
	// a FIFO for reading blocks until some writer opens it, maybe forever.
	// The file is opened non-blocking all the same, and checked again, in
	// case path was replaced in between.
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errorf("not a regular file (%v)", st.Mode())
	}
	fd, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	if st, err = fd.Stat(); err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errorf("not a regular file (%v)", st.Mode())
	}
	size := st.Size()
	var head [9]byte
	k, err := io.ReadFull(fd, head[:min(size, 9)])
	if err != nil {
		return nil, truncated(err)
	}
	n, err := checkStart(head[:k], size)
	if err != nil {
		return nil, err
	}
	header := make([]byte, n)
	copy(header, head[8:k])
	if _, err := io.ReadFull(fd, header[k-8:]); err != nil {
		return nil, truncated(err)
	}
	rest := size - 8 - int64(n)
	if rest > math.MaxInt {
		return nil, errorf("data buffer of %d bytes does not fit in memory", rest)
	}
	f, err := parseHeader(header, int(rest))
	if err != nil {
		return nil, err
	}
	// parseHeader proved the tensors tile exactly rest bytes.
	buf := make([]byte, rest)
	if _, err := io.ReadFull(fd, buf); err != nil {
		return nil, truncated(err)
	}
	var one [1]byte
	if k, _ := fd.Read(one[:]); k != 0 {
		return nil, errorf("file grew past its size of %d bytes while being read", size)
	}
	for _, t := range f.tensors {
		t.data = buf[t.begin:t.end:t.end]
	}
	return f, nil
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errorf("file shrank while being read (truncated)")
	}
	return err
}

// checkStart validates the start of a file of size bytes, whose first
// min(size, 9) bytes are head, and returns its header length. A length that
// is out of bounds is what a file of another kind gives (eight bytes of text
// read as a number are at least 2^61) when no JSON object follows them:
// such a file is named for what it is, a PyTorch checkpoint when it starts
// as one, so that the message leads with what went wrong rather than with
// a number.
func checkStart(head []byte, size int64) (int, error) {
	if len(head) < 8 {
		if kind := checkpointKind(head); kind != "" {
			return 0, checkpointError(kind)
		}
		return 0, errorf("%d bytes is shorter than the 8-byte header length", size)
	}
	n := binary.LittleEndian.Uint64(head)
	// The header is a JSON object, which every writer starts at byte 8
	// (whitespace before it is legal JSON, but taken as a sign of another
	// kind of file when the length is wrong too).
	opens := len(head) > 8 && head[8] == '{'
	switch {
	case n >= 2 && n <= MaxHeaderLen && n <= uint64(size-8):
		return int(n), nil
	case !opens:
		if kind := checkpointKind(head); kind != "" {
			return 0, checkpointError(kind)
		}
		if n > MaxHeaderLen {
			return 0, &formatError{kind: ErrNotSafetensors, msg: fmt.Sprintf(
				"not a safetensors file: its first 8 bytes, read as the header length, are %d, more than the %d-byte limit", n, MaxHeaderLen)}
		}
		if n > uint64(size-8) {
			return 0, &formatError{kind: ErrNotSafetensors, msg: fmt.Sprintf(
				"not a safetensors file: its first 8 bytes, read as the header length, are %d, but only %d bytes follow", n, size-8)}
		}
	case n > MaxHeaderLen: // a header follows: a damaged safetensors file
		return 0, errorf("header length %d exceeds the %d-byte limit (a damaged file?)", n, MaxHeaderLen)
	case n > uint64(size-8):
		return 0, errorf("header length %d exceeds the %d bytes after the length field (truncated file?)", n, size-8)
	}
	return 0, errorf("header length %d cannot hold a JSON object", n)
}

// checkpointKind names what torch.save wrote when head starts as its
// output does, else it returns "".
func checkpointKind(head []byte) string {
	switch {
	case len(head) >= 4 && string(head[:4]) == "PK\x03\x04":
		return "a zip archive, as torch.save writes"
	case len(head) >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5:
		return fmt.Sprintf("a Python pickle (protocol %d), as torch.save writes with _use_new_zipfile_serialization=False or before PyTorch 1.6", head[1])
	}
	return ""
}

func checkpointError(kind string) error {
	return &formatError{kind: ErrCheckpoint, msg: "not a safetensors file but " + kind + " (a PyTorch checkpoint)"}
}
