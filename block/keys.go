package block

import (
	"fmt"
	"strings"
)

// keyReport collects, while Build runs, every key the network asks for
// that the state_dict lacks or holds in another shape, so that the error
// lists them all, as load_state_dict(strict=True) does, rather than the
// first. In place of each such tensor Take hands out zeros of the wanted
// shape, up to limit elements in all: a spec that asks for far more
// weights than the file holds stops the listing instead of allocating
// them.
type keyReport struct {
	missing   []string // key and wanted shape, in the order asked
	missKeys  []string // the missing keys themselves
	misshaped []string // key, its shape and the wanted one
	zeros     []float32
	filled    int
	limit     int
	stopped   bool
}

// standInSlack is how many elements of zeros Build hands out beyond the
// state_dict's own element count before it stops listing mismatches.
const standInSlack = 1 << 20

// shownKeys is how many keys of each kind a message names.
const shownKeys = 5

func newKeyReport(sd *StateDict) *keyReport {
	n := 0
	for _, p := range sd.params {
		n += len(p.Data)
	}
	return &keyReport{limit: n + standInSlack}
}

// standIn records key (of shape have, or absent) and returns zeros of
// shape want, or an error once the zeros handed out would pass the limit.
func (r *keyReport) standIn(key string, have []int, present bool, want []int) ([]float32, error) {
	if present {
		r.misshaped = append(r.misshaped, fmt.Sprintf("%s has shape %s, want %v", quoteKey(key), shapeText(have), want))
	} else {
		r.missing = append(r.missing, fmt.Sprintf("%s %v", quoteKey(key), want))
		r.missKeys = append(r.missKeys, key)
	}
	n := 1
	for _, d := range want {
		if d < 0 || d > 0 && n > (r.limit-r.filled)/d {
			n = r.limit + 1
			break
		}
		n *= d
	}
	if r.stopped || n > r.limit-r.filled {
		r.stopped = true
		return nil, fmt.Errorf("block: %s: stopped listing keys", quoteKey(key))
	}
	r.filled += n
	if len(r.zeros) < n {
		r.zeros = make([]float32, n)
	}
	return r.zeros[:n:n], nil
}

// missingText records a missing key whose shape is not known (fc.weight
// when NumClasses is to come from it).
func (r *keyReport) missingText(key, shape string) {
	r.missing = append(r.missing, quoteKey(key)+" "+shape)
	r.missKeys = append(r.missKeys, key)
}

// err returns the error that lists what r collected and the unexpected
// keys (nil when the state_dict matches), for the network spec.
func (r *keyReport) err(sd *StateDict, spec NetSpec, unexpected []string) error {
	if len(r.missing)+len(r.misshaped)+len(unexpected) == 0 {
		return nil
	}
	var parts []string
	list := func(what string, n int, item func(i int) string) {
		if n == 0 {
			return
		}
		shown := make([]string, min(n, shownKeys))
		for i := range shown {
			shown[i] = item(i)
		}
		more, least := "", ""
		if n > len(shown) {
			more = fmt.Sprintf(" and %d more", n-len(shown))
		}
		if r.stopped && what != "unexpected" {
			least = "at least "
		}
		parts = append(parts, fmt.Sprintf("%s%d %s %s: %s%s", least, n, what, plural(n, "key"), strings.Join(shown, ", "), more))
	}
	list("missing", len(r.missing), func(i int) string { return r.missing[i] })
	list("unexpected", len(unexpected), func(i int) string {
		return quoteKey(unexpected[i]) + " " + shapeText(sd.params[unexpected[i]].Shape)
	})
	list("mis-shaped", len(r.misshaped), func(i int) string { return r.misshaped[i] })
	if p, ok := commonPrefix(r.missKeys, unexpected); ok {
		parts = append(parts, "the unexpected keys are the missing ones with the prefix "+quoteKey(p)+": "+stripHint(p))
	}
	if r.stopped {
		parts = append(parts, "the listing stopped where the network asks for far more weights than the file holds: is NetSpec right?")
	}
	return fmt.Errorf("block: %s: the state_dict does not match %s: %s", sd.name(), specText(spec), strings.Join(parts, "; "))
}

// stripHint says how to remove the prefix p that a wrapper put on keys.
func stripHint(p string) string {
	hint := fmt.Sprintf("strip it before saving, {k.removeprefix(%s): v for k, v in state_dict.items()}", quoteKey(p))
	if p == "module." {
		hint += " (torch.nn.DataParallel and DistributedDataParallel add it; or save model.module)"
	}
	return hint
}

// wrapperPrefix reports the prefix p when the state_dict lacks the stem's
// "conv1.weight" and every key starts with p, p+"conv1.weight" and
// p+"fc.weight" among them: a whole network saved from inside a wrapper
// (DataParallel's "module.", a Lightning module's "model.", ...). Build
// says so before it looks for any key, since without conv1.weight the
// width, and so every shape it would list, is a guess.
func wrapperPrefix(sd *StateDict) (string, bool) {
	const stem = "conv1.weight"
	if _, ok := sd.params[stem]; ok {
		return "", false
	}
	for k := range sd.params {
		p, ok := strings.CutSuffix(k, stem)
		if !ok || p == "" || strings.Contains(p, "layer") {
			continue
		}
		if _, ok := sd.params[p+"fc.weight"]; !ok {
			continue
		}
		all := true
		for k := range sd.params {
			if !strings.HasPrefix(k, p) {
				all = false
				break
			}
		}
		if all {
			return p, true
		}
	}
	return "", false
}

// commonPrefix reports the prefix p when every missing key is p+key among
// the unexpected ones (a state_dict saved from a wrapper: "module.",
// "model.", ...).
func commonPrefix(missing, unexpected []string) (string, bool) {
	if len(missing) == 0 || len(unexpected) == 0 {
		return "", false
	}
	set := make(map[string]bool, len(unexpected))
	for _, u := range unexpected {
		set[u] = true
	}
	tried := map[string]bool{}
	for _, u := range unexpected {
		if len(u) <= len(missing[0]) || !strings.HasSuffix(u, missing[0]) {
			continue
		}
		p := u[:len(u)-len(missing[0])]
		if tried[p] {
			continue
		}
		tried[p] = true
		all := true
		for _, m := range missing {
			if !set[p+m] {
				all = false
				break
			}
		}
		if all {
			return p, true
		}
	}
	return "", false
}

// specText names the network of spec in a message.
func specText(spec NetSpec) string {
	sb := "regular"
	if len(spec.SB) > 0 {
		sb = fmt.Sprintf("SB %v", spec.SB)
	}
	return fmt.Sprintf("%s (%s, width %d)", spec.Arch, sb, spec.Width)
}

func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
