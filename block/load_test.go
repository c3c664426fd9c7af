package block

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sbconv/sbconv/internal/safetensors"
	"github.com/sbconv/sbconv/kernels"
	"github.com/sbconv/sbconv/layout"
)

// stEntry is one tensor of a crafted safetensors file: shape is the JSON
// text of its shape, so that a test can write any.
type stEntry struct {
	name, dtype, shape string
	data               []byte
}

// stBytes lays out a safetensors file: the header (with __metadata__ when
// meta is not nil) and the entries' data back to back.
func stBytes(t testing.TB, meta map[string]string, entries []stEntry) []byte {
	t.Helper()
	var h bytes.Buffer
	h.WriteByte('{')
	if meta != nil {
		js, err := json.Marshal(meta)
		require.NoError(t, err)
		h.WriteString(`"__metadata__":`)
		h.Write(js)
	}
	off := 0
	for i, e := range entries {
		if i > 0 || meta != nil {
			h.WriteByte(',')
		}
		name, err := json.Marshal(e.name)
		require.NoError(t, err)
		h.Write(name)
		fmt.Fprintf(&h, `:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, e.dtype, e.shape, off, off+len(e.data))
		off += len(e.data)
	}
	h.WriteByte('}')
	out := binary.LittleEndian.AppendUint64(make([]byte, 0, 8+h.Len()+off), uint64(h.Len()))
	out = append(out, h.Bytes()...)
	for _, e := range entries {
		out = append(out, e.data...)
	}
	return out
}

// f32Entries turns a state_dict into F32 entries, sorted by key.
func f32Entries(m map[string]Param) []stEntry {
	var out []stEntry
	for _, k := range slices.Sorted(maps.Keys(m)) {
		p := m[k]
		b := make([]byte, 0, 4*len(p.Data))
		for _, v := range p.Data {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		shape, _ := json.Marshal(p.Shape)
		if p.Shape == nil {
			shape = []byte("[]")
		}
		out = append(out, stEntry{k, "F32", string(shape), b})
	}
	return out
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

// describedMeta is the __metadata__ python/sbconv_torch.py's save writes
// for spec.
func describedMeta(spec NetSpec, classes int) map[string]string {
	sb, _ := json.Marshal(append([]int{}, spec.SB...))
	return map[string]string{"format": "pt", "sbconv": "1", "arch": spec.Arch, "sb": strings.ReplaceAll(string(sb), ",", ", "),
		"width": strconv.Itoa(spec.Width), "num_classes": strconv.Itoa(classes), "rate": "2", "torch": "1.13.0"}
}

// TestLoadDescription: a file that describes its network loads with a
// zero NetSpec and gives the reference's logits; a spec that contradicts
// the description is an error naming both values; a malformed description
// is an error naming the key; a file without one needs NetSpec.Arch.
func TestLoadDescription(t *testing.T) {
	spec := NetSpec{Arch: "resnet20", SB: []int{1, 3}, Width: 4}
	const classes, h, w = 10, 9, 7
	p, in, want := randomNet(t, 11, spec, classes, 1, h, w)
	entries := f32Entries(p.m)
	described := writeFile(t, "described.safetensors", stBytes(t, describedMeta(spec, classes), entries))
	resolved := NetSpec{Arch: "resnet20", SB: []int{1, 3}, Width: 4, NumClasses: classes, Rate: 2}

	for _, c := range []struct {
		name string
		spec NetSpec
	}{
		{"zero spec", NetSpec{}},
		{"the same spec", spec},
		{"SB in another order", NetSpec{Arch: "resnet20", SB: []int{3, 1}}},
		{"every field", resolved},
		{"only classes", NetSpec{NumClasses: classes}},
	} {
		t.Run("good/"+c.name, func(t *testing.T) {
			net, err := Load(described, c.spec)
			require.NoError(t, err)
			got := net.Spec()
			slices.Sort(got.SB)
			assert.Equal(t, resolved, got, "Net.Spec reports the resolved network")
			logits := make([]float32, classes)
			require.NoError(t, net.Forward(logits, in, 1, h, w))
			requireLogitsClose(t, logits, want, 1e-4, "described file")
		})
	}

	fix := "pass block.NetSpec{} to build what the file describes"
	for _, c := range []struct {
		name string
		spec NetSpec
		want []string
	}{
		{"regular spec", NetSpec{Arch: "resnet20", Width: 4}, []string{"NetSpec.SB = [] but the file describes SB [1 3]", "__metadata__", fix}},
		{"other stages", NetSpec{Arch: "resnet20", SB: []int{1, 2}}, []string{"NetSpec.SB = [1 2] but the file describes SB [1 3]", fix}},
		{"stages without arch", NetSpec{SB: []int{3}}, []string{"NetSpec.SB = [3] but the file describes SB [1 3]", fix}},
		{"other arch", NetSpec{Arch: "resnet32", SB: []int{1, 3}}, []string{`NetSpec.Arch = "resnet32" but the file describes Arch "resnet20"`, fix}},
		{"other width", NetSpec{Arch: "resnet20", SB: []int{1, 3}, Width: 8}, []string{"NetSpec.Width = 8 but the file describes Width 4", fix}},
		{"other classes", NetSpec{Arch: "resnet20", SB: []int{1, 3}, NumClasses: 7}, []string{"NetSpec.NumClasses = 7 but the file describes NumClasses 10", fix}},
		{"other rate", NetSpec{Arch: "resnet20", SB: []int{1, 3}, Rate: 3}, []string{"NetSpec.Rate = 3 but the file describes Rate 2", fix}},
		{"all wrong", NetSpec{Arch: "resnet56", Width: 5, NumClasses: 3},
			[]string{`Arch = "resnet56"`, "SB = []", "Width = 5", "NumClasses = 3", fix}},
	} {
		t.Run("disagrees/"+c.name, func(t *testing.T) {
			_, err := Load(described, c.spec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), described)
			for _, s := range c.want {
				assert.Contains(t, err.Error(), s)
			}
		})
	}

	long := "[" + strings.Repeat("1, ", 50000) + "1]"
	for _, c := range []struct {
		name      string
		key, val  string // val "" deletes key
		wantKey   string
		wantWords []string
	}{
		{"sb not JSON", "sb", "[1, 3", "sb", []string{`"[1, 3"`, "JSON list"}},
		{"sb not a list", "sb", "1, 3", "sb", []string{"JSON list"}},
		{"sb of strings", "sb", `["1"]`, "sb", []string{"JSON list"}},
		{"sb stage 4", "sb", "[4]", "sb", []string{"stage 4", "stages 1..3"}},
		{"sb twice", "sb", "[1, 1]", "sb", []string{"stage 1 twice"}},
		{"sb long", "sb", long, "sb", []string{fmt.Sprintf("(%d bytes)", len(long))}},
		{"width text", "width", "four", "width", []string{`"four"`, "positive integer"}},
		{"width 0", "width", "0", "width", []string{"positive integer"}},
		{"width too large", "width", "300000", "width", []string{"more than the 262144 resnet20 takes"}},
		{"classes too many", "num_classes", "2000000", "num_classes", []string{"more than the 1048576 classes"}},
		{"classes negative", "num_classes", "-1", "num_classes", []string{"positive integer"}},
		{"rate float", "rate", "2.0", "rate", []string{"positive integer"}},
		{"unknown arch", "arch", "resnet19", "arch", []string{`"resnet19"`, "resnet110"}},
		{"newer version", "sbconv", "2", "sbconv", []string{"version 1"}},
		{"no rate", "rate", "", "rate", []string{"incomplete"}},
		{"no arch", "arch", "", "arch", []string{"incomplete"}},
	} {
		t.Run("malformed/"+c.name, func(t *testing.T) {
			meta := describedMeta(spec, classes)
			if c.val == "" {
				delete(meta, c.key)
			} else {
				meta[c.key] = c.val
			}
			path := writeFile(t, "bad.safetensors", stBytes(t, meta, entries))
			for _, s := range []NetSpec{{}, spec} {
				_, err := Load(path, s)
				require.Error(t, err)
				assert.Contains(t, err.Error(), strconv.Quote(c.wantKey))
				for _, w := range c.wantWords {
					assert.Contains(t, err.Error(), w)
				}
				assert.Less(t, len(err.Error()), 600, "the message quotes a short prefix")
			}
			sd, err := ReadStateDict(path)
			require.NoError(t, err, "the description is read by Spec and Build, not ReadStateDict")
			_, ok, err := sd.Spec()
			assert.False(t, ok)
			assert.Error(t, err)
		})
	}

	t.Run("no description", func(t *testing.T) {
		path := writeFile(t, "plain.safetensors", stBytes(t, map[string]string{"format": "pt"}, entries))
		_, err := Load(path, NetSpec{})
		require.Error(t, err)
		for _, s := range []string{"NetSpec.Arch is empty", "block.NetSpec{Arch: ..., SB: ...}", "python/sbconv_torch.py", "resnet20"} {
			assert.Contains(t, err.Error(), s)
		}
		net, err := Load(path, spec)
		require.NoError(t, err, "an explicit spec loads a file without a description")
		assert.Equal(t, resolved, net.Spec())
		sd, err := ReadStateDict(path)
		require.NoError(t, err)
		_, ok, err := sd.Spec()
		assert.False(t, ok)
		assert.NoError(t, err)
		assert.Equal(t, map[string]string{"format": "pt"}, sd.Metadata())
	})

	t.Run("earlier writer", func(t *testing.T) {
		// The golden files' form: arch, sb, width, num_classes and no
		// "sbconv" or "rate".
		meta := map[string]string{"format": "pt", "arch": "resnet20", "sb": "[1, 3]"}
		path := writeFile(t, "old.safetensors", stBytes(t, meta, entries))
		net, err := Load(path, NetSpec{})
		require.NoError(t, err)
		assert.Equal(t, resolved, net.Spec(), "width and classes from the weights")
		_, err = Load(path, NetSpec{Arch: "resnet20"})
		assert.ErrorContains(t, err, "NetSpec.SB = [] but the file describes SB [1 3]")
		_, err = Load(path, NetSpec{Arch: "resnet20", SB: []int{1, 3}, Width: 8})
		assert.ErrorContains(t, err, "conv1.weight", "a width the file does not state is checked by the shapes")
	})
}

// TestGoldenDescriptions: every committed PyTorch file describes its
// network, so Load builds it from a zero NetSpec, and refuses the regular
// spec for an SB network and the reverse.
func TestGoldenDescriptions(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			path := filepath.Join(goldenDir, c.Name+".safetensors")
			net, err := Load(path, NetSpec{})
			require.NoError(t, err)
			got := net.Spec()
			assert.Equal(t, c.Arch, got.Arch)
			assert.True(t, sameStages(c.SB, got.SB), "SB %v, want %v", got.SB, c.SB)
			assert.Equal(t, c.Width, got.Width)
			assert.Equal(t, c.NumClasses, got.NumClasses)
			assert.Equal(t, rateOf(c.Rate), got.Rate)
			if len(c.SB) > 0 {
				other := NetSpec{Rate: 2}
				if rateOf(c.Rate) == 2 {
					other.Rate = 3
				}
				_, err = Load(path, other)
				require.Error(t, err)
				assert.Contains(t, err.Error(), fmt.Sprintf("NetSpec.Rate = %d but the file describes Rate %d", other.Rate, rateOf(c.Rate)))
			}
			wrong := NetSpec{Arch: c.Arch, SB: []int{1}}
			if slices.Equal(c.SB, []int{1}) {
				wrong.SB = nil
			}
			_, err = Load(path, wrong)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "but the file describes SB")
		})
	}
}

// TestWidthInferred: Width 0 takes conv1.weight's rows in Build, as
// NumClasses takes fc.weight's; RandomNet, with no weights to read, takes
// the architecture's own.
func TestWidthInferred(t *testing.T) {
	for _, spec := range []NetSpec{{Arch: "resnet20", SB: []int{2}, Width: 6}, {Arch: "resnet18", Width: 5}, {Arch: "resnet50", SB: []int{4}, Width: 3}} {
		t.Run(spec.Arch, func(t *testing.T) {
			p, in, want := randomNet(t, 2, spec, 4, 1, 35, 33)
			sd, err := NewStateDict(p.m)
			require.NoError(t, err)
			zero := spec
			zero.Width = 0
			net, err := Build(sd, zero)
			require.NoError(t, err)
			assert.Equal(t, NetSpec{Arch: spec.Arch, SB: spec.SB, Width: spec.Width, NumClasses: 4, Rate: 2}, net.Spec())
			got := make([]float32, 4)
			require.NoError(t, net.Forward(got, in, 1, 35, 33))
			requireLogitsClose(t, got, want, 1e-4, "inferred width")
		})
	}
	// Rows the kernels would refuse as a width are an error naming
	// conv1.weight, not NetSpec.Width.
	rows := archs["resnet50"].maxWidth() + 1
	sd, err := NewStateDict(map[string]Param{"conv1.weight": {Shape: []int{rows, 3, 7, 7}, Data: make([]float32, rows*3*7*7)}})
	require.NoError(t, err)
	_, err = Build(sd, NetSpec{Arch: "resnet50"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf(`"conv1.weight" has shape [%d 3 7 7]: %d rows, the width of stage 1, are more than the %d resnet50 takes`,
		rows, rows, rows-1))

	for arch, width := range map[string]int{"resnet20": 16, "resnet18": 64} {
		net, err := RandomNet(NetSpec{Arch: arch, NumClasses: 3}, 1)
		require.NoError(t, err)
		assert.Equal(t, NetSpec{Arch: arch, Width: width, NumClasses: 3, Rate: 2}, net.Spec())
	}
}

// TestLoadCheckpoint: a torch.save checkpoint (zip, or pickle in the
// legacy format) is an error that says how to save safetensors instead;
// any other file is "not a safetensors file" before any number.
func TestLoadCheckpoint(t *testing.T) {
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	for _, name := range []string{"archive/data.pkl", "archive/data/0", "archive/version"} {
		f, err := zw.Create(name)
		require.NoError(t, err)
		_, err = f.Write([]byte("\x80\x02}q\x00."))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	advice := []string{"PyTorch checkpoint", "save(model, path)", "python/sbconv_torch.py", "save_file(model.state_dict(), path)"}
	for _, c := range []struct {
		name       string
		file       []byte
		checkpoint bool
		want       []string
	}{
		{"zip", zipped.Bytes(), true, []string{"zip archive"}},
		{"pickle protocol 2", []byte("\x80\x02\x8a\x0alj\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03."), true, []string{"pickle (protocol 2)"}},
		{"pickle protocol 4", append([]byte("\x80\x04\x95"), make([]byte, 40)...), true, []string{"pickle (protocol 4)"}},
		{"text", []byte("resnet18 weights, see attached\n"), false, []string{"not a safetensors file", "more than the 104857600-byte limit"}},
		{"short text", []byte("{}\n"), false, []string{"3 bytes"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeFile(t, "model.pt", c.file), NetSpec{Arch: "resnet18"})
			require.Error(t, err)
			assert.Equal(t, c.checkpoint, errors.Is(err, safetensors.ErrCheckpoint))
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, w := range advice {
				assert.Equal(t, c.checkpoint, strings.Contains(err.Error(), w), "%q in %q", w, err)
			}
			if strings.Contains(err.Error(), "not a safetensors file: its first 8 bytes") {
				assert.Less(t, strings.Index(err.Error(), "not a safetensors file"), strings.Index(err.Error(), "header length"),
					"the message leads with what the number means")
			}
		})
	}
}

// TestBuildListsKeys: like load_state_dict(strict=True), Build names every
// missing, unexpected and mis-shaped key (a few, and a count of the rest),
// and says when the unexpected keys are the missing ones under a prefix.
func TestBuildListsKeys(t *testing.T) {
	spec := NetSpec{Arch: "resnet20", SB: []int{3}, Width: 4}
	p, _, _ := randomNet(t, 3, spec, 10, 1, 8, 8)
	layer2 := 0
	for k := range p.m {
		if strings.HasPrefix(k, "layer2.") {
			layer2++
		}
	}
	renamed := func(prefix string) func(m map[string]Param) {
		return func(m map[string]Param) {
			for k, v := range maps.Clone(m) {
				delete(m, k)
				m[prefix+k] = v
			}
		}
	}
	for _, c := range []struct {
		name    string
		mut     func(m map[string]Param)
		spec    NetSpec
		want    []string
		notWant []string
	}{
		// A whole network under a wrapper's prefix is named before any
		// key is looked for, whatever the spec says, the zero one too.
		{"DataParallel", renamed("module."), spec, []string{
			`every key carries the prefix "module."`, `"module.conv1.weight"`,
			"strip it", `k.removeprefix("module.")`, "DataParallel"}, []string{"missing"}},
		{"DataParallel, zero spec", renamed("module."), NetSpec{}, []string{`prefix "module."`, "strip it"}, []string{"describe"}},
		{"any prefix", renamed("model.backbone."), spec, []string{`prefix "model.backbone."`, "strip it"}, []string{"DataParallel"}},
		{"classes from a missing fc", renamed("module."), NetSpec{Arch: "resnet20", SB: []int{3}}, []string{`prefix "module."`}, nil},
		// Part of the keys under a prefix: the listing finds it.
		{"one stage prefixed", func(m map[string]Param) {
			for k, v := range maps.Clone(m) {
				if strings.HasPrefix(k, "layer2.") {
					delete(m, k)
					m["module."+k] = v
				}
			}
		}, spec, []string{fmt.Sprintf("%d missing keys", layer2), fmt.Sprintf("%d unexpected keys", layer2),
			`the unexpected keys are the missing ones with the prefix "module."`, `k.removeprefix("module.")`}, nil},
		{"two missing, one unexpected", func(m map[string]Param) {
			m["layer1.0.bn1.runing_var"] = m["layer1.0.bn1.running_var"]
			delete(m, "layer1.0.bn1.running_var")
			delete(m, "layer3.2.conv2.weight")
		}, spec, []string{"2 missing keys", `"layer1.0.bn1.running_var" [4]`, `"layer3.2.conv2.weight" [16 16 3 3]`,
			"1 unexpected key", `"layer1.0.bn1.runing_var" [4]`}, []string{"prefix", "more"}},
		{"many missing", func(m map[string]Param) {
			for k := range m {
				if strings.HasPrefix(k, "layer2.") {
					delete(m, k)
				}
			}
		}, spec, []string{fmt.Sprintf("%d missing keys", layer2), `"layer2.0.downsample.0.weight" [8 4 1 1]`, fmt.Sprintf("and %d more", layer2-shownKeys)},
			[]string{"unexpected"}},
		{"mis-shaped", func(m map[string]Param) {
			m["fc.bias"] = Param{Shape: []int{11}, Data: make([]float32, 11)}
			m["layer1.1.bn2.weight"] = Param{Shape: []int{5}, Data: make([]float32, 5)}
		}, spec, []string{"2 mis-shaped keys", `"layer1.1.bn2.weight" has shape [5], want [4]`, `"fc.bias" has shape [11], want [10]`},
			[]string{"missing", "unexpected"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := maps.Clone(p.m)
			c.mut(m)
			sd, err := NewStateDict(m)
			require.NoError(t, err)
			_, err = Build(sd, c.spec)
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, w := range c.notWant {
				assert.NotContains(t, err.Error(), w)
			}
			assert.Less(t, len(err.Error()), 1500, "a few keys and a count, not all of them")
		})
	}

	// A spec that asks for a network far larger than the file stops
	// listing rather than making up its weights.
	small := map[string]Param{"conv1.weight": {Shape: []int{2, 3, 3, 3}, Data: make([]float32, 54)}}
	sd, err := NewStateDict(small)
	require.NoError(t, err)
	var berr error
	alloc := totalAlloc(func() { _, berr = Build(sd, NetSpec{Arch: "resnet18", Width: 2048, NumClasses: 10}) })
	require.Error(t, berr)
	assert.Contains(t, berr.Error(), "the listing stopped")
	assert.Contains(t, berr.Error(), "at least 1 mis-shaped key")
	t.Log(berr)
	assert.Contains(t, berr.Error(), `"conv1.weight" has shape [2 3 3 3], want [2048 3 7 7]`)
	assert.Less(t, alloc, uint64(64<<20), "bytes allocated")
}

// totalAlloc reports the bytes the process allocated while fn ran: an
// upper bound on how far fn raised the peak of the heap.
func totalAlloc(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestNewStateDictShapes: a shape is refused when a dimension, or the
// product of the non-zero ones, passes layout.MaxElements, whatever the
// order ([0, big] as [big, 0]), or when it has more than 8 dimensions.
func TestNewStateDictShapes(t *testing.T) {
	big := layout.MaxElements + 1
	for _, c := range []struct {
		shape []int
		ok    bool
	}{
		{[]int{big, 0}, false},
		{[]int{0, big}, false},
		{[]int{0, 1 << 16, 1 << 16}, false},
		{[]int{1 << 15, 0, 1 << 17}, false},
		{[]int{0, layout.MaxElements}, true},
		{[]int{0, 0}, true},
		{[]int{}, true},
		{[]int{1, 1, 1, 1, 1, 1, 1, 1}, true},
		{[]int{1, 1, 1, 1, 1, 1, 1, 1, 1}, false},
		{[]int{2, -1}, false},
	} {
		var data []float32
		if c.ok {
			n := 1
			for _, d := range c.shape {
				n *= d
			}
			data = make([]float32, n)
		}
		_, err := NewStateDict(map[string]Param{"w": {Shape: c.shape, Data: data}})
		if c.ok {
			assert.NoError(t, err, "%v", c.shape)
		} else if assert.Error(t, err, "%v", c.shape) {
			assert.Contains(t, err.Error(), `"w"`)
		}
	}
	if strconv.IntSize == 64 {
		huge := 1 << (strconv.IntSize - 24) // 2^40
		for _, shape := range [][]int{{0, huge}, {huge, 0}, {0, huge, huge}} {
			_, err := NewStateDict(map[string]Param{"w": {Shape: shape}})
			assert.Error(t, err, "%v", shape)
		}
	}
}

// hostileCase is a file built to make Load costly, and what its error
// must say.
type hostileCase struct {
	name string
	file func() []byte
	want string
}

// hostileFiles are files of about size bytes built to make Load costly: a
// key of that length (unexpected, of another dtype, or missing under it),
// many tensors, a shape of size/2 dimensions, a long metadata value.
func hostileFiles(t testing.TB, size int) []hostileCase {
	spec := NetSpec{Arch: "resnet20", Width: 4}
	p, _, _ := randomNet(t, 3, spec, 10, 1, 8, 8)
	good := f32Entries(p.m)
	with := func(meta map[string]string, extra ...stEntry) func() []byte {
		return func() []byte { return stBytes(t, meta, append(slices.Clip(good), extra...)) }
	}
	many := func() []byte {
		extra := make([]stEntry, size/160)
		for i := range extra {
			extra[i] = stEntry{fmt.Sprintf("x%099d", i), "F32", "[0]", nil}
		}
		return with(nil, extra...)()
	}
	long := strings.Repeat("k", size)
	return []hostileCase{
		{"long key", with(nil, stEntry{long, "F32", "[0]", nil}), "1 unexpected key"},
		{"long key of another dtype", with(nil, stEntry{long, "U8", "[0]", nil}), "dtype U8"},
		{"long missing key", func() []byte {
			renamed := slices.Clone(good)
			renamed[0].name = long + renamed[0].name
			return stBytes(t, nil, renamed)
		}, "1 missing key"},
		{"many tensors", many, "unexpected keys"},
		{"million dims", with(nil, stEntry{"x", "F32", "[" + strings.Repeat("1,", size/2) + "1]", make([]byte, 4)}), "dimensions"},
		{"long metadata", with(map[string]string{"arch": "resnet20", "sb": strings.Repeat(" ", size) + "[]"}), `"sb"`},
	}
}

// loadHostile loads c's file and returns the bytes Load allocated and
// the file's size.
func loadHostile(t testing.TB, c hostileCase) (alloc, size uint64) {
	t.Helper()
	path := writeFile(t, "hostile.safetensors", c.file())
	st, err := os.Stat(path)
	require.NoError(t, err)
	var lerr error
	alloc = totalAlloc(func() { _, lerr = Load(path, NetSpec{Arch: "resnet20", Width: 4}) })
	require.Error(t, lerr)
	assert.Contains(t, lerr.Error(), c.want)
	assert.Less(t, len(lerr.Error()), 2000, "message of %d bytes", len(lerr.Error()))
	return alloc, uint64(st.Size())
}

// TestLoadHostileFiles: the hostile files are refused with a short
// message, and Load allocates a small multiple of the file's size (at
// most 4.3x measured, the bound is 6x), never what a header merely claims.
// BenchmarkLoadHostile runs them at 100 MB.
func TestLoadHostileFiles(t *testing.T) {
	for _, c := range hostileFiles(t, 4<<20) {
		t.Run(c.name, func(t *testing.T) {
			alloc, size := loadHostile(t, c)
			t.Logf("%d-byte file: %d bytes allocated (%.1fx)", size, alloc, float64(alloc)/float64(size))
			assert.LessOrEqual(t, alloc, 6*size+2<<20, "bytes allocated")
		})
	}
}

// BenchmarkLoadHostile reports the bytes Load allocates per byte of each
// hostile file at 100 MB, the header limit (alloc/B).
func BenchmarkLoadHostile(b *testing.B) {
	for _, c := range hostileFiles(b, 100<<20-(1<<20)) {
		b.Run(c.name, func(b *testing.B) {
			var ratio float64
			for range b.N {
				alloc, size := loadHostile(b, c)
				ratio = float64(alloc) / float64(size)
			}
			b.ReportMetric(ratio, "alloc/B")
		})
	}
}

// TestLoadMemory: loading a real network allocates a small multiple of
// its file (the bytes read, the float32 values, the folded and the packed
// weights).
func TestLoadMemory(t *testing.T) {
	spec := NetSpec{Arch: "resnet18", SB: []int{3, 4}, Width: 16}
	p, _, _ := randomNet(t, 1, spec, 100, 1, 32, 32)
	path := writeFile(t, "r18.safetensors", stBytes(t, describedMeta(spec, 100), f32Entries(p.m)))
	st, err := os.Stat(path)
	require.NoError(t, err)
	var net *Net
	alloc := totalAlloc(func() { net, err = Load(path, NetSpec{}) })
	require.NoError(t, err)
	require.Equal(t, 100, net.NumClasses())
	t.Logf("%d-byte file: %d bytes allocated (%.1fx)", st.Size(), alloc, float64(alloc)/float64(st.Size()))
	assert.LessOrEqual(t, alloc, 8*uint64(st.Size())+1<<20, "bytes allocated (ISA %s)", kernels.ISA())
}
