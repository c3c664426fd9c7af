package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The header is checked with json.Valid (syntax, nesting depth) and then
// walked by a small scanner that may assume well-formed JSON. Walking it with
// json.Decoder.Token instead costs about 140 bytes of garbage per token, up
// to ~80× the header for a long shape array; the scanner allocates only what
// it keeps (names, shapes, metadata strings, the maps), a small multiple of
// the header's size, and never anything a value in the header merely claims.

// parseHeader parses the JSON header and checks every entry against a data
// buffer of bufLen bytes. The returned tensors have begin and end set but no
// data: the caller slices the buffer once it has it.
func parseHeader(header []byte, bufLen int) (*File, error) {
	if !utf8.Valid(header) {
		return nil, errorf("header is not valid UTF-8")
	}
	if !json.Valid(header) {
		var v struct{}
		err := json.Unmarshal(header, &v) // only to describe the error
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, errorf("header: JSON syntax error at header byte %d: %v", se.Offset, err)
		}
		return nil, errorf("header: invalid JSON: %v", err)
	}
	s := &scanner{h: header}
	f := &File{tensors: make(map[string]*Tensor, s.members())}
	haveMeta := false
	err := s.object(label("header"), func(key string) error {
		if key == "__metadata__" {
			if haveMeta {
				return errorf("header: duplicate key %s", QuoteShort(key))
			}
			haveMeta = true
			var err error
			f.metadata, err = s.metadata()
			return err
		}
		if _, dup := f.tensors[key]; dup {
			return errorf("header: duplicate key %s", QuoteShort(key))
		}
		t, err := s.tensor(key, bufLen)
		if err != nil {
			return err
		}
		f.tensors[key] = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := checkTiling(f.tensors, bufLen); err != nil {
		return nil, err
	}
	return f, nil
}

// checkTiling checks that the tensors, sorted by offset, cover [0, bufLen)
// exactly once, as the reference reader requires.
func checkTiling(tensors map[string]*Tensor, bufLen int) error {
	ts := make([]*Tensor, 0, len(tensors))
	for _, t := range tensors {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *Tensor) int {
		if a.begin != b.begin {
			return a.begin - b.begin // both in [0, bufLen]: no overflow
		}
		if a.end != b.end {
			return a.end - b.end
		}
		return strings.Compare(a.Name, b.Name)
	})
	end := 0
	var prev *Tensor
	for _, t := range ts {
		switch {
		case t.begin < end:
			return errorf("tensor %s: data_offsets [%d, %d] overlap tensor %s at [%d, %d]",
				QuoteShort(t.Name), t.begin, t.end, QuoteShort(prev.Name), prev.begin, prev.end)
		case t.begin > end:
			return errorf("tensor %s: data_offsets [%d, %d] leave bytes [%d, %d) of the data buffer unused",
				QuoteShort(t.Name), t.begin, t.end, end, t.begin)
		}
		end, prev = t.end, t
	}
	if end != bufLen {
		return errorf("data buffer is %d bytes but its tensors end at %d (trailing bytes)", bufLen, end)
	}
	return nil
}

func (s *scanner) metadata() (map[string]string, error) {
	const where = label("__metadata__")
	m := make(map[string]string, s.members())
	err := s.object(where, func(k string) error {
		if _, dup := m[k]; dup {
			return errorf("%s: duplicate key %s", where, QuoteShort(k))
		}
		if s.peek() != '"' {
			return errorf("%s: key %s: want a string value, got %s", where, QuoteShort(k), s.describe())
		}
		m[k] = s.str()
		return nil
	})
	return m, err
}

func (s *scanner) tensor(name string, bufLen int) (*Tensor, error) {
	where := tensorName(name) // quoted only for a message
	t := &Tensor{Name: name}
	var have struct{ dtype, shape, offsets bool }
	var offsets []int
	err := s.object(where, func(k string) error {
		var dup bool
		var err error
		switch k {
		case "dtype":
			if dup, have.dtype = have.dtype, true; dup {
				break
			}
			if s.peek() != '"' {
				return errorf("%s: dtype: want a string, got %s", where, s.describe())
			}
			dt := s.str()
			if _, ok := dtypeSizes[dt]; !ok {
				return errorf("%s: unknown dtype %s", where, QuoteShort(dt))
			}
			t.DType = dt
		case "shape":
			if dup, have.shape = have.shape, true; dup {
				break
			}
			t.Shape, err = s.ints(where, "shape", -1)
		case "data_offsets":
			if dup, have.offsets = have.offsets, true; dup {
				break
			}
			offsets, err = s.ints(where, "data_offsets", 2)
		default:
			return errorf("%s: unknown key %s (want dtype, shape, data_offsets)", where, QuoteShort(k))
		}
		if dup {
			return errorf("%s: duplicate key %s", where, QuoteShort(k))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch {
	case !have.dtype:
		return nil, errorf("%s: missing dtype", where)
	case !have.shape:
		return nil, errorf("%s: missing shape", where)
	case !have.offsets:
		return nil, errorf("%s: missing data_offsets", where)
	}

	size := dtypeSizes[t.DType]
	elems := 1
	for _, dim := range t.Shape {
		hi, lo := bits.Mul64(uint64(elems), uint64(dim))
		if hi != 0 || lo > math.MaxInt {
			return nil, errorf("%s: shape %s: element count overflows", where, shapeString(t.Shape))
		}
		elems = int(lo)
	}
	if elems > math.MaxInt/size {
		return nil, errorf("%s: shape %s of %s: byte size overflows", where, shapeString(t.Shape), t.DType)
	}
	begin, end := offsets[0], offsets[1]
	if begin > end {
		return nil, errorf("%s: data_offsets [%d, %d] are not ascending", where, begin, end)
	}
	if want := elems * size; end-begin != want {
		return nil, errorf("%s: data_offsets [%d, %d] hold %d bytes, but shape %s of %s needs %d",
			where, begin, end, end-begin, shapeString(t.Shape), t.DType, want)
	}
	if end > bufLen {
		return nil, errorf("%s: data_offsets [%d, %d] run past the end of the %d-byte data buffer (truncated file?)",
			where, begin, end, bufLen)
	}
	t.begin, t.end = begin, end
	return t, nil
}

// label names a part of the header in a message.
type label string

func (l label) String() string { return string(l) }

// tensorName names a tensor in a message, quoting at most a prefix of its
// name, and only when a message is made: a header of many tensors costs no
// quoting.
type tensorName string

func (n tensorName) String() string { return "tensor " + QuoteShort(string(n)) }

// scanner walks a header already known to be valid UTF-8 and valid JSON, so
// it needs no syntax checks of its own: after a key comes ':', after a value
// ',' or the closing bracket, a string ends at its first unescaped quote.
type scanner struct {
	h   []byte
	pos int
	err error // sticky: set if a string json.Valid accepted fails to unquote
}

func (s *scanner) peek() byte {
	for s.pos < len(s.h) {
		switch c := s.h[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

func (s *scanner) consume(c byte) bool {
	if s.peek() == c {
		s.pos++
		return true
	}
	return false
}

// object walks the object at pos, calling member for each key with pos at the
// key's value; member must consume the value (or fail).
func (s *scanner) object(where fmt.Stringer, member func(key string) error) error {
	if s.peek() != '{' {
		return errorf("%s: want an object, got %s", where, s.describe())
	}
	s.pos++
	if s.consume('}') {
		return nil
	}
	for {
		s.peek()
		key := s.str()
		if s.err != nil {
			return s.err
		}
		s.consume(':')
		if err := member(key); err != nil {
			return err
		}
		if s.err != nil {
			return s.err
		}
		if !s.consume(',') {
			s.consume('}')
			return nil
		}
	}
}

// members counts the keys of the object at pos (0 if there is none), so that
// maps are made once at their final size rather than grown by doubling.
func (s *scanner) members() int {
	if s.peek() != '{' {
		return 0
	}
	n, depth, inString := 0, 0, false
	for i := s.pos; i < len(s.h); i++ {
		c := s.h[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return n
			}
		case c == ':' && depth == 1:
			n++
		}
	}
	return n
}

// str consumes the string at pos (after peek returned '"').
func (s *scanner) str() string {
	start := s.pos
	escaped := false
	i := start + 1
	for ; s.h[i] != '"'; i++ {
		if s.h[i] == '\\' {
			escaped = true
			i++
		}
	}
	s.pos = i + 1
	if !escaped {
		return string(s.h[start+1 : i])
	}
	var out string
	if err := json.Unmarshal(s.h[start:s.pos], &out); err != nil && s.err == nil {
		s.err = errorf("header: string at byte %d: %v", start, err) // unreachable after json.Valid
	}
	return out
}

// number consumes the number at pos and returns its text.
func (s *scanner) number() []byte {
	start := s.pos
	for s.pos < len(s.h) && strings.IndexByte("+-.0123456789Ee", s.h[s.pos]) >= 0 {
		s.pos++
	}
	return s.h[start:s.pos]
}

// ints consumes an array of non-negative integers that fit in an int; want is
// the required length, or -1 for a shape's (at most MaxDims).
func (s *scanner) ints(where fmt.Stringer, field string, want int) ([]int, error) {
	if s.peek() != '[' {
		return nil, errorf("%s: %s: want an array, got %s", where, field, s.describe())
	}
	s.pos++
	// Size the result exactly: count the commas of a flat array.
	n := 1
	for _, c := range s.h[s.pos:] {
		if c == ']' || c == '[' || c == '{' || c == '"' {
			break
		}
		if c == ',' {
			n++
		}
	}
	if want >= 0 {
		n = min(n, want+1)
	} else if n > MaxDims {
		// A shape: refused before its numbers are stored (8 bytes
		// each, for the 2 of "1,").
		return nil, errorf("%s: %s has %d dimensions, more than %d", where, field, n, MaxDims)
	}
	out := make([]int, 0, n)
	if !s.consume(']') {
		for {
			if c := s.peek(); c < '0' || c > '9' {
				return nil, errorf("%s: %s: want a non-negative integer, got %s", where, field, s.describe())
			}
			text := s.number()
			v, ok := parseInt(text)
			if !ok {
				return nil, errorf("%s: %s: %s is not a non-negative integer that fits in an int",
					where, field, truncate(string(text)))
			}
			out = append(out, v)
			if want >= 0 && len(out) > want {
				return nil, errorf("%s: %s: want %d numbers, got more", where, field, want)
			}
			if !s.consume(',') {
				s.consume(']')
				break
			}
		}
	}
	if want >= 0 && len(out) != want {
		return nil, errorf("%s: %s: want %d numbers, got %d", where, field, want, len(out))
	}
	return out, nil
}

// parseInt parses decimal digits into an int, reporting false for anything
// else (sign, fraction, exponent) or overflow.
func parseInt(text []byte) (int, bool) {
	v := 0
	for _, c := range text {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int(c - '0')
		if v > (math.MaxInt-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, len(text) > 0
}

// describe names the value at pos for an error message, without consuming it.
func (s *scanner) describe() string {
	switch c := s.peek(); {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		save := s.pos
		v := s.str()
		s.pos = save
		return "string " + QuoteShort(v)
	case c == '-' || c >= '0' && c <= '9':
		save := s.pos
		text := s.number()
		s.pos = save
		return "number " + truncate(string(text))
	case c == 't':
		return "true"
	case c == 'f':
		return "false"
	case c == 'n':
		return "null"
	}
	return "end of header"
}

// truncate cuts a string from the file to 64 bytes for an error message.
func truncate(v string) string {
	if len(v) > 64 {
		return strings.ToValidUTF8(v[:64], "") + "..."
	}
	return v
}

// QuoteShort quotes a string from a file (a name, a key, a value) for an
// error message: whole up to 64 bytes, else its first 64 bytes, "..." and
// its length, so that a hostile file cannot make a message of its size.
func QuoteShort(v string) string {
	if len(v) > 64 {
		return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(strings.ToValidUTF8(v[:64], "")), len(v))
	}
	return strconv.Quote(v)
}

// shapeString formats a shape as "[2, 3]", eliding the middle of long ones.
func shapeString(shape []int) string {
	parts := make([]string, 0, min(len(shape), 17))
	for i, d := range shape {
		switch {
		case len(shape) <= 16 || i < 8 || i >= len(shape)-8:
			parts = append(parts, strconv.Itoa(d))
		case i == 8:
			parts = append(parts, fmt.Sprintf("... %d more ...", len(shape)-16))
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
