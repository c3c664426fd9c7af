package block

import "testing"

// FuzzDescription: whatever a file's description says and whatever the
// spec asks, Build never panics, its messages stay short, and a network it
// builds has the stages the description states (else the spec's) and
// every field the spec sets.
func FuzzDescription(f *testing.F) {
	spec := NetSpec{Arch: "resnet20", SB: []int{2}, Width: 2}
	p, _, _ := randomNet(f, 1, spec, 3, 1, 8, 8)
	f.Add("1", "resnet20", "[2]", "2", "3", "2", "", uint8(0), 0, 0, 0)
	f.Add("1", "resnet20", "[2]", "2", "3", "2", "resnet20", uint8(2), 2, 3, 2)
	f.Add("1", "resnet20", "[2]", "2", "3", "2", "resnet20", uint8(0), 0, 0, 0)
	f.Add("", "resnet20", "[2]", "", "", "", "", uint8(4), 0, 0, 0)
	f.Add("", "", "", "", "", "", "resnet20", uint8(2), 0, 0, 0)
	f.Add("2", "resnet32", "[1, 2, 3]", "99999999999999999999", "-3", "3", "resnet32", uint8(255), -1, 1<<30, 4)
	f.Add("1", "resnet20", "[2, 2]", "2", "3", "2", "", uint8(2), 0, 0, 0)
	f.Add("1", "resnet20", "[2]", "2", "3", "3", "", uint8(0), 0, 0, 0)
	f.Add("1", "resnet20", "[2]", "2", "3", "4", "", uint8(0), 0, 0, 0)
	f.Add("1", "resnet20", "[2]", "2", "3", "3", "resnet20", uint8(2), 0, 0, 2)
	f.Add("", "", "", "", "", "", "resnet20", uint8(2), 0, 0, 3)
	f.Add("1", "resnet20", "[]", "2", "3", "4", "", uint8(0), 0, 0, 0)
	f.Fuzz(func(t *testing.T, version, arch, sb, width, classes, rate, specArch string, stages uint8, specWidth, specClasses, specRate int) {
		md := map[string]string{}
		for k, v := range map[string]string{metaVersion: version, metaArch: arch, metaSB: sb, metaWidth: width, metaClasses: classes, metaRate: rate} {
			if v != "" {
				md[k] = v
			}
		}
		sd, err := NewStateDict(p.m)
		if err != nil {
			t.Fatal(err)
		}
		sd.metadata = md
		s := NetSpec{Arch: specArch, Width: specWidth, NumClasses: specClasses, Rate: specRate}
		for st := 1; st <= 8; st++ {
			if stages&(1<<(st-1)) != 0 {
				s.SB = append(s.SB, st)
			}
		}
		desc, described, derr := sd.description()
		net, err := Build(sd, s)
		if err != nil {
			if len(err.Error()) > 2000 {
				t.Fatalf("message of %d bytes: %.300s...", len(err.Error()), err)
			}
			return
		}
		if derr != nil {
			t.Fatalf("Build accepted a description Spec refuses: %v", derr)
		}
		got := net.Spec()
		// A basic block's SB form has its shapes, so any stages build,
		// and its 3x3 restore is one of rate 3's too (a network without
		// SB stages takes any rate: no weights speak for one); the rest
		// the weights fix.
		if got.Arch != "resnet20" || got.Width != 2 || got.NumClasses != 3 || len(got.SB) > 0 && got.Rate != 2 && got.Rate != 3 {
			t.Fatalf("built %+v from weights of %+v", got, spec)
		}
		wantRate := rateOf(s.Rate)
		if s.Rate == 0 && described && desc.spec.Rate != 0 {
			wantRate = desc.spec.Rate
		}
		if got.Rate != wantRate {
			t.Fatalf("built rate %d from spec %+v, the file describes %+v", got.Rate, s, desc.spec)
		}
		wantSB := s.SB
		if described && desc.hasSB {
			wantSB = desc.spec.SB
		}
		if described && desc.spec.Arch != got.Arch || !sameStages(wantSB, got.SB) {
			t.Fatalf("built %+v from spec %+v, the file describes %+v", got, s, desc.spec)
		}
		for _, c := range [][2]int{{s.Width, got.Width}, {s.NumClasses, got.NumClasses}, {s.Rate, got.Rate}} {
			if c[0] != 0 && c[0] != c[1] {
				t.Fatalf("spec %+v built %+v", s, got)
			}
		}
		if s.Arch != "" && s.Arch != got.Arch {
			t.Fatalf("spec %+v built %+v", s, got)
		}
	})
}
