package redact

import (
	"slices"
	"sort"
	"strings"
)

// matcher is an Aho-Corasick automaton over the patterns a Redactor
// looks for: hidden forms, kept names and Withheld. Walking a text
// through it, each state tells, of the patterns that end at the current
// byte, overlapping ones included, the longest of each kind; that is
// all the union of their occurrences needs (an occurrence of a pattern
// ending at a byte holds every shorter one ending there).
//
// States are numbered breadth-first and their transitions stored
// sparsely, sorted by byte, with a dense table for the start state only:
// memory grows with the patterns' total length, not with it times the
// alphabet, since a deployment's secrets may be whole key files, each in
// some twenty forms.
type matcher struct {
	root  [256]int32 // the start state's transitions; 0 stays there
	first []int32    // state n's edges are label/next[first[n]:first[n+1]]
	label []byte
	next  []int32
	fail  []int32
	out   []int32 // what state n ends: an index into ends, 0 for nothing
	ends  []ends
	own   []owned // the states patterns end at, in order
}

// ends describes the patterns that end at a state: the length of the
// longest of each kind (0 for none).
type ends struct {
	hidden  int32 // a hidden form (or Marker)
	cover   int32 // the hidden part of a hidden form: KEY=value keeps KEY=
	secret  int32 // a form of a value whose key looks secret
	name    int32 // a kept name
	shelter int32 // Withheld
}

func (e *ends) max(o ends) {
	e.hidden = max(e.hidden, o.hidden)
	e.cover = max(e.cover, o.cover)
	e.secret = max(e.secret, o.secret)
	e.name = max(e.name, o.name)
	e.shelter = max(e.shelter, o.shelter)
}

// owned is what the patterns that end at state n themselves end.
type owned struct {
	n int32
	e ends
}

// pattern is a string to look for and what it ends.
type pattern struct {
	s string
	e ends
}

// newMatcher returns the automaton of ps, none of them empty, and for
// each of ps the index in m.own of the state it ends at; what m.own
// holds counts once m.propagate has run.
func newMatcher(ps []pattern) (*matcher, []int) {
	order := make([]int, len(ps))
	total := 1
	for i, p := range ps {
		order[i] = i
		total += len(p.s)
	}
	slices.SortFunc(order, func(i, j int) int { return strings.Compare(ps[i].s, ps[j].s) })
	m := &matcher{
		first: make([]int32, 1, total+1),
		label: make([]byte, 0, total),
		next:  make([]int32, 0, total),
		ends:  []ends{{}},
	}
	at := make([]int, len(ps))
	// A state stands for the patterns order[lo:hi], which share their
	// first depth bytes; being sorted, those of that length come first,
	// and those that go on with the same byte follow each other. States
	// are made a level at a time, each level no wider than ps.
	type block struct{ lo, hi int }
	level, deeper := []block{{0, len(ps)}}, []block(nil)
	for n, d := 0, 0; len(level) > 0; d++ {
		for _, bl := range level {
			l, h := bl.lo, bl.hi
			for ; l < h && len(ps[order[l]].s) == d; l++ {
				if k := len(m.own) - 1; k < 0 || m.own[k].n != int32(n) {
					m.own = append(m.own, owned{n: int32(n)})
				}
				m.own[len(m.own)-1].e.max(ps[order[l]].e)
				at[order[l]] = len(m.own) - 1
			}
			for l < h {
				b := ps[order[l]].s[d]
				j := l + 1
				for j < h && ps[order[j]].s[d] == b {
					j++
				}
				// Every state but the start is the target of one edge,
				// made in the order of the states.
				m.label = append(m.label, b)
				m.next = append(m.next, int32(len(m.label)))
				deeper = append(deeper, block{l, j})
				l = j
			}
			m.first = append(m.first, int32(len(m.label)))
			n++
		}
		level, deeper = deeper, level[:0]
	}
	for j := m.first[0]; j < m.first[1]; j++ {
		m.root[m.label[j]] = m.next[j]
	}
	// Failure links point to shallower states, numbered before.
	states := len(m.label) + 1
	m.fail = make([]int32, states)
	m.out = make([]int32, states)
	for n := 1; n < states; n++ {
		for j := m.first[n]; j < m.first[n+1]; j++ {
			m.fail[m.next[j]] = m.step(m.fail[n], m.label[j])
		}
	}
	return m, at
}

// propagate makes each state end what the patterns ending at it end and
// what its failure link ends.
func (m *matcher) propagate() {
	m.ends = m.ends[:1]
	seen := map[ends]int32{{}: 0}
	k := 0
	for n := 1; n < len(m.fail); n++ {
		i := m.out[m.fail[n]]
		if k < len(m.own) && m.own[k].n == int32(n) {
			e := m.ends[i]
			e.max(m.own[k].e)
			k++
			var ok bool
			if i, ok = seen[e]; !ok {
				i = int32(len(m.ends))
				m.ends = append(m.ends, e)
				seen[e] = i
			}
		}
		m.out[n] = i
	}
}

// step returns the state after byte c from state n.
func (m *matcher) step(n int32, c byte) int32 {
	for n != 0 {
		lo, hi := m.first[n], m.first[n+1]
		if hi-lo <= 8 {
			for j := lo; j < hi; j++ {
				if m.label[j] == c {
					return m.next[j]
				}
			}
		} else {
			j := lo + int32(sort.Search(int(hi-lo), func(k int) bool { return m.label[lo+int32(k)] >= c }))
			if j < hi && m.label[j] == c {
				return m.next[j]
			}
		}
		n = m.fail[n]
	}
	return m.root[c]
}

// span is the bytes [start, end) of a text.
type span struct{ start, end int }

// hit is where the longest hidden form ending at end starts, and where
// the hidden part of the hidden forms ending there starts.
type hit struct{ start, cover, end int }

// runs returns the runs of s to hide, in order, neither overlapping nor
// touching: the union of the hidden parts of every occurrence of every
// hidden form, but those inside an occurrence of Withheld or of a kept
// name. When a hidden form that is not inside a kept name starts or
// ends inside one, the name cannot be kept whole, and no name is kept.
func (m *matcher) runs(s string) []span {
	var (
		hits                      []hit
		shelters, names, withheld []span
		n                         int32
	)
	for i := 0; i < len(s); i++ {
		if n == 0 {
			n = m.root[s[i]] // most bytes of most texts start nothing
		} else {
			n = m.step(n, s[i])
		}
		if m.out[n] == 0 {
			continue
		}
		o := &m.ends[m.out[n]]
		end := i + 1
		if o.hidden > 0 {
			hits = append(hits, hit{end - int(o.hidden), end - int(o.cover), end})
		}
		if o.name > 0 || o.shelter > 0 {
			shelters = append(shelters, span{end - int(max(o.name, o.shelter)), end})
		}
		if o.name > 0 {
			names = append(names, span{end - int(o.name), end})
		}
		if o.shelter > 0 {
			withheld = append(withheld, span{end - int(o.shelter), end})
		}
	}
	if len(hits) == 0 {
		return nil
	}
	if len(shelters) == 0 {
		return merge(hits, nil)
	}
	if len(names) > 0 {
		sh, nm := newSpans(shelters), newSpans(names)
		cut := false
		for _, h := range hits {
			if !sh.holds(h.start, h.end) && (nm.inside(h.start) || nm.inside(h.end)) {
				cut = true
				break
			}
		}
		if !cut {
			return merge(hits, sh)
		}
	}
	return merge(hits, newSpans(withheld))
}

// merge returns the union of the hidden parts of hits that are not
// inside one of keep, as runs in order that neither overlap nor touch.
// Hits come in order of their ends.
func merge(hits []hit, keep *spanSet) []span {
	var out []span
	for _, h := range hits {
		if keep.holds(h.start, h.end) {
			continue
		}
		start := h.cover
		for len(out) > 0 && out[len(out)-1].end >= start {
			start = min(start, out[len(out)-1].start)
			out = out[:len(out)-1]
		}
		out = append(out, span{start, h.end})
	}
	return out
}

// spanSet answers which of a list of spans, in order of their ends,
// holds a span or a position.
type spanSet struct {
	end    []int
	minBeg []int // minBeg[i] is the least start of the spans from i on
}

func newSpans(ss []span) *spanSet {
	if len(ss) == 0 {
		return nil
	}
	sp := &spanSet{end: make([]int, len(ss)), minBeg: make([]int, len(ss))}
	low := ss[len(ss)-1].start
	for i := len(ss) - 1; i >= 0; i-- {
		low = min(low, ss[i].start)
		sp.end[i], sp.minBeg[i] = ss[i].end, low
	}
	return sp
}

// holds reports whether one of the spans holds [start, end).
func (sp *spanSet) holds(start, end int) bool {
	if sp == nil {
		return false
	}
	i := sort.SearchInts(sp.end, end)
	return i < len(sp.end) && sp.minBeg[i] <= start
}

// inside reports whether x lies strictly inside one of the spans: after
// its first byte and before its end.
func (sp *spanSet) inside(x int) bool {
	i := sort.SearchInts(sp.end, x+1)
	return i < len(sp.end) && sp.minBeg[i] < x
}
