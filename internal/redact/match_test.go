package redact

import (
	"strings"
	"testing"
)

// FuzzMatcher checks the automaton against a brute-force search: the
// patterns are the NUL-separated parts of pats, one in three a kept name
// and one in five Withheld-like shelter; at each end position of text,
// the longest pattern of each kind ending there must be the one the
// automaton reports, and runs must be the union of the hidden patterns
// the rules leave hidden.
func FuzzMatcher(f *testing.F) {
	f.Add("he\x00she\x00his\x00hers", "ushers and his")
	f.Add("aaa\x00aa\x00a", "aaaa")
	f.Add("cluster\x00eu-pw\x00mysql-cluster-eu", "mysql-cluster-eu-pw")
	f.Fuzz(func(t *testing.T, pats, text string) {
		type pat struct {
			s    string
			kind int // 0 hidden, 1 name, 2 shelter
			keep int
		}
		var ps []pat
		var mps []pattern
		for i, p := range strings.Split(pats, "\x00") {
			if p == "" {
				continue
			}
			k := pat{s: p}
			var e ends
			switch {
			case i%5 == 4:
				k.kind = 2
				e.shelter = int32(len(p))
			case i%3 == 2:
				k.kind = 1
				e.name = int32(len(p))
			default:
				k.keep = i % 2 * (len(p) / 2)
				e.hidden, e.cover = int32(len(p)), int32(len(p)-k.keep)
			}
			ps = append(ps, k)
			mps = append(mps, pattern{p, e})
		}
		if len(ps) == 0 {
			return
		}
		m, _ := newMatcher(mps)
		m.propagate()

		// Longest of each kind per end, by brute force.
		var hits []hit
		var names, shelters, all []span
		var st int32
		for e := 1; e <= len(text); e++ {
			st = m.step(st, text[e-1])
			var want ends
			for _, p := range ps {
				if !strings.HasSuffix(text[:e], p.s) {
					continue
				}
				l := int32(len(p.s))
				switch p.kind {
				case 0:
					want.hidden = max(want.hidden, l)
					want.cover = max(want.cover, l-int32(p.keep))
				case 1:
					want.name = max(want.name, l)
				case 2:
					want.shelter = max(want.shelter, l)
				}
			}
			got := m.ends[m.out[st]]
			if got != want {
				t.Fatalf("at %d of %q: automaton %+v, brute force %+v", e, text, got, want)
			}
			if want.hidden > 0 {
				hits = append(hits, hit{e - int(want.hidden), e - int(want.cover), e})
			}
			if want.name > 0 {
				names = append(names, span{e - int(want.name), e})
			}
			if want.shelter > 0 {
				shelters = append(shelters, span{e - int(want.shelter), e})
			}
			if want.name > 0 || want.shelter > 0 {
				all = append(all, span{e - int(max(want.name, want.shelter)), e})
			}
		}

		// The rules, by brute force: a hit inside a shelter (or, unless
		// a hit left hidden starts or ends inside a name, a name) stays.
		within := func(ss []span, h hit) bool {
			for _, s := range ss {
				if s.start <= h.start && h.end <= s.end {
					return true
				}
			}
			return false
		}
		strictly := func(ss []span, x int) bool {
			for _, s := range ss {
				if s.start < x && x < s.end {
					return true
				}
			}
			return false
		}
		keep := all
		for _, h := range hits {
			if !within(all, h) && (strictly(names, h.start) || strictly(names, h.end)) {
				keep = shelters
			}
		}
		hidden := make([]bool, len(text))
		for _, h := range hits {
			if !within(keep, h) {
				for i := h.cover; i < h.end; i++ {
					hidden[i] = true
				}
			}
		}
		var want []span
		for i := 0; i < len(text); i++ {
			if hidden[i] && (i == 0 || !hidden[i-1]) {
				want = append(want, span{i, i + 1})
			} else if hidden[i] {
				want[len(want)-1].end = i + 1
			}
		}
		got := m.runs(text)
		if len(got) != len(want) {
			t.Fatalf("runs of %q: %v, want %v", text, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("runs of %q: %v, want %v", text, got, want)
			}
		}
	})
}
