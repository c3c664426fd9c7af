package block

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/sbconv/sbconv/internal/safetensors"
	"github.com/sbconv/sbconv/kernels"
)

// The description of a network that python/sbconv_torch.py's save writes
// into a safetensors file's __metadata__, every value a string:
//
//	"sbconv":      "1"             the description's version; present: the description is complete
//	"arch":        "resnet18"      NetSpec.Arch
//	"sb":          "[1, 2, 3, 4]"  NetSpec.SB as a JSON list ("[]": the regular network)
//	"width":       "64"            NetSpec.Width
//	"num_classes": "1000"          NetSpec.NumClasses
//	"rate":        "2"             NetSpec.Rate
//
// A file with "arch" but no "sbconv" (an earlier writer's) carries a
// description too, of whichever of the other keys it has.
const (
	metaVersion = "sbconv"
	metaArch    = "arch"
	metaSB      = "sb"
	metaWidth   = "width"
	metaClasses = "num_classes"
	metaRate    = "rate"
)

// describedVersion is the description version this package reads.
const describedVersion = "1"

// description is a file's description of its network: the spec, and
// which of its fields the file states (a field it leaves out is not
// checked).
type description struct {
	spec  NetSpec
	hasSB bool
}

// Metadata returns a copy of the __metadata__ of the file sd was read from
// (nil when it has none, or when sd was not read from a file).
func (sd *StateDict) Metadata() map[string]string {
	if sd == nil {
		return nil
	}
	return maps.Clone(sd.metadata)
}

// Spec returns the network the file sd was read from describes in its
// __metadata__, as python/sbconv_torch.py's save writes it (arch, SB
// stages, width, class count, rate), with ok true; ok is false when the
// file carries no description (saved by other means, or sd not read from
// a file). A malformed description is an error naming the key. Build and
// Load take what a zero NetSpec leaves open from this description, and
// refuse a NetSpec that disagrees with it.
func (sd *StateDict) Spec() (spec NetSpec, ok bool, err error) {
	d, ok, err := sd.description()
	if !ok || err != nil {
		return NetSpec{}, false, err
	}
	spec = d.spec
	spec.SB = slices.Clone(spec.SB)
	return spec, true, nil
}

// name names sd's origin in messages: its path, or "state_dict".
func (sd *StateDict) name() string {
	if sd == nil || sd.source == "" {
		return "state_dict"
	}
	return sd.source
}

func (sd *StateDict) description() (description, bool, error) {
	var d description
	if sd == nil {
		return d, false, nil
	}
	md := sd.metadata
	version, complete := md[metaVersion]
	arch, hasArch := md[metaArch]
	if !complete && !hasArch {
		return d, false, nil
	}
	bad := func(key, why string) error {
		return fmt.Errorf("block: %s: __metadata__ %q = %s: %s (the file's description of its network, which Load checks NetSpec against)",
			sd.name(), key, safetensors.QuoteShort(md[key]), why)
	}
	if complete && version != describedVersion {
		return d, false, bad(metaVersion, fmt.Sprintf("this version of package block reads descriptions of version %s; "+
			"save with the python/sbconv_torch.py of the same release", describedVersion))
	}
	if complete {
		for _, k := range []string{metaArch, metaSB, metaWidth, metaClasses, metaRate} {
			if _, ok := md[k]; !ok {
				return d, false, fmt.Errorf("block: %s: __metadata__ has %q = %q but no %q: the description of the network is incomplete",
					sd.name(), metaVersion, version, k)
			}
		}
	}
	a, ok := archs[arch]
	if !ok {
		return d, false, bad(metaArch, "want one of "+strings.Join(Archs(), ", "))
	}
	d.spec.Arch = arch
	if v, ok := md[metaSB]; ok {
		stages := len(a.blocks)
		var sb []int
		if len(v) > 64 || !strings.HasPrefix(strings.TrimSpace(v), "[") || json.Unmarshal([]byte(v), &sb) != nil {
			return d, false, bad(metaSB, "want a JSON list of stage numbers, such as [1, 2] or []")
		}
		seen := make([]bool, stages+1)
		for _, s := range sb {
			if s < 1 || s > stages {
				return d, false, bad(metaSB, fmt.Sprintf("stage %d: %s has stages 1..%d", s, arch, stages))
			}
			if seen[s] {
				return d, false, bad(metaSB, fmt.Sprintf("stage %d twice", s))
			}
			seen[s] = true
		}
		d.spec.SB, d.hasSB = sb, true
	}
	for _, f := range []struct {
		key string
		dst *int
	}{{metaWidth, &d.spec.Width}, {metaClasses, &d.spec.NumClasses}, {metaRate, &d.spec.Rate}} {
		v, ok := md[f.key]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return d, false, bad(f.key, "want a positive integer")
		}
		*f.dst = n
	}
	if d.spec.Rate != 0 && checkRate("rate", d.spec.Rate) != nil {
		return d, false, bad(metaRate, "want a sampling rate of 2, 3 or 4")
	}
	if d.spec.Width > a.maxWidth() {
		return d, false, bad(metaWidth, fmt.Sprintf("more than the %d %s takes", a.maxWidth(), arch))
	}
	if d.spec.NumClasses > kernels.MaxChannels {
		return d, false, bad(metaClasses, fmt.Sprintf("more than the %d classes the kernels take", kernels.MaxChannels))
	}
	return d, true, nil
}

// sameStages reports whether a and b name the same set of stages.
func sameStages(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// rateOf is a spec's rate with 0 read as 2.
func rateOf(r int) int {
	if r == 0 {
		return 2
	}
	return r
}

// resolve completes spec from sd for Build: from the description the file
// carries (refusing a spec that disagrees with it), then Width from the
// rows of conv1.weight; Rate 0 becomes 2.
func resolve(sd *StateDict, spec NetSpec) (NetSpec, error) {
	d, described, err := sd.description()
	if err != nil {
		return spec, err
	}
	spec.SB = slices.Clone(spec.SB)
	switch {
	case !described && spec.Arch == "":
		return spec, fmt.Errorf("block: %s: NetSpec.Arch is empty and the state_dict does not describe its network "+
			"(no %q in its __metadata__): pass block.NetSpec{Arch: ..., SB: ...} naming it (Arch one of %s), "+
			"or save the model with save(model, path) from python/sbconv_torch.py, which records it",
			sd.name(), metaArch, strings.Join(Archs(), ", "))
	case described:
		var diffs []string
		differ := func(field string, have, want any) {
			diffs = append(diffs, fmt.Sprintf("NetSpec.%s = %v but the file describes %s %v", field, have, field, want))
		}
		if spec.Arch != "" && spec.Arch != d.spec.Arch {
			differ("Arch", quoteKey(spec.Arch), quoteKey(d.spec.Arch))
		}
		// With Arch set, an empty SB means the regular network; with
		// Arch empty, it leaves the stages to the file.
		if d.hasSB && (spec.Arch != "" || len(spec.SB) > 0) && !sameStages(spec.SB, d.spec.SB) {
			differ("SB", fmt.Sprint(spec.SB), fmt.Sprint(d.spec.SB))
		}
		if spec.Width != 0 && d.spec.Width != 0 && spec.Width != d.spec.Width {
			differ("Width", spec.Width, d.spec.Width)
		}
		if spec.NumClasses != 0 && d.spec.NumClasses != 0 && spec.NumClasses != d.spec.NumClasses {
			differ("NumClasses", spec.NumClasses, d.spec.NumClasses)
		}
		if spec.Rate != 0 && rateOf(spec.Rate) != rateOf(d.spec.Rate) {
			differ("Rate", rateOf(spec.Rate), rateOf(d.spec.Rate))
		}
		if len(diffs) > 0 {
			return spec, fmt.Errorf("block: %s: %s (its __metadata__); pass block.NetSpec{} to build what the file describes",
				sd.name(), strings.Join(diffs, ", "))
		}
		if spec.Arch == "" && len(spec.SB) == 0 {
			spec.SB = slices.Clone(d.spec.SB)
		}
		spec.Arch = d.spec.Arch
		if spec.Width == 0 {
			spec.Width = d.spec.Width
		}
		if spec.NumClasses == 0 {
			spec.NumClasses = d.spec.NumClasses
		}
		if spec.Rate == 0 {
			spec.Rate = d.spec.Rate
		}
	}
	if a, ok := archs[spec.Arch]; ok && spec.Width == 0 {
		spec.Width = a.width
		if s, ok := sd.Shape("conv1.weight"); ok && len(s) == 4 && s[0] > 0 {
			// The stem's output channels are stage 1's width.
			if s[0] > a.maxWidth() {
				return spec, fmt.Errorf("block: %s: %q has shape %v: %d rows, the width of stage 1, are more than the %d %s takes",
					sd.name(), "conv1.weight", s, s[0], a.maxWidth(), spec.Arch)
			}
			spec.Width = s[0]
		}
	}
	spec.Rate = rateOf(spec.Rate)
	return spec, nil
}
