package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-cmp/cmp"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// Action is what an update does to one stack or service.
type Action string

// Actions.
const (
	ActionAdd    Action = "add"
	ActionModify Action = "modify"
	ActionRemove Action = "remove"
	ActionNone   Action = "none"
	// ActionRepair applies a stack whose spec did not change but which is
	// not ready (it failed, or an operation stopped before it was).
	ActionRepair Action = "repair"
)

// ChangeSet is what moving a deployment from one spec to another changes,
// stack by stack. Stacks are listed in the order they are handled: adds,
// modifications, repairs and unchanged stacks in start order, then
// removals in reverse tier order. Renderings are deterministic.
//
// Everything that reaches the runtime takes part: the spec of every
// service and its rendered config files (so a changed template or
// variable modifies the services whose files it changes). The executor
// then compares the target with what was last applied, not only with the
// previous version: a stack whose recorded configuration hash or tier
// differs from the target's (a failed operation left another
// configuration), or whose services the runtime observes drifted
// (runtime.Compare: missing, stopped, image, replicas, tier, hash, extra
// services), is a repair with the reason; a stack that exists (recorded
// or observed) but is in neither version is removed. A stack that moves
// to another tier is a modification (StackChange.FromTier).
type ChangeSet struct {
	FromVersionID string        `json:"from_version_id,omitempty"`
	ToVersionID   string        `json:"to_version_id,omitempty"`
	Stacks        []StackChange `json:"stacks"`

	index map[string]int // by stack name, built by Diff
}

// StackChange is the change of one stack.
type StackChange struct {
	Stack  string `json:"stack_name"`
	Tier   int    `json:"tier"`
	Action Action `json:"action"`
	// Replace is set when a modification replaces running instances (any
	// change other than an instance count, init scripts or depends_on,
	// and a move to another tier on a runtime that labels instances with
	// their tier and cannot relabel them in place, such as Docker).
	Replace bool `json:"replace,omitempty"`
	// FromTier is the tier the stack moves from, when a modification
	// moves it to another tier (Tier); nil when it stays.
	FromTier *int            `json:"from_tier,omitempty"`
	Services []ServiceChange `json:"services,omitempty"`
	// Fields lists changed stack-level fields (depends_on, init_scripts).
	Fields []string `json:"fields,omitempty"`
	// Reason says why an unchanged stack is repaired, or why a stack that
	// is in neither version is removed.
	Reason string `json:"reason,omitempty"`
	// Drift lists the services the runtime observes out of sync, for a
	// repair found by observing the runtime.
	Drift []runtime.ServiceDrift `json:"drift,omitempty"`
}

// ServiceChange is the change of one service of a modified stack.
type ServiceChange struct {
	Service string `json:"service_name"`
	Action  Action `json:"action"`
	Replace bool   `json:"replace,omitempty"`
	// Fields are the JSON paths of changed fields, e.g. "image.tag",
	// "envs[1]", and "files <path>" for each rendered config file whose
	// content changed. Values are never shown: envs and files may hold
	// secrets.
	Fields []string `json:"fields,omitempty"`
}

// Counts returns how many stacks each action touches.
// A nil *ChangeSet changes nothing.
func (c *ChangeSet) Counts() (add, modify, remove, repair, none int) {
	if c == nil {
		return
	}
	for i := range c.Stacks {
		switch c.Stacks[i].Action {
		case ActionAdd:
			add++
		case ActionModify:
			modify++
		case ActionRemove:
			remove++
		case ActionRepair:
			repair++
		default:
			none++
		}
	}
	return
}

// Empty reports whether the change set changes nothing.
func (c *ChangeSet) Empty() bool {
	add, modify, remove, repair, _ := c.Counts()
	return add+modify+remove+repair == 0
}

// Stack returns the change of the named stack, or nil.
func (c *ChangeSet) Stack(name string) *StackChange {
	if c == nil {
		return nil
	}
	if c.index != nil && len(c.index) == len(c.Stacks) {
		if i, ok := c.index[name]; ok && i < len(c.Stacks) && c.Stacks[i].Stack == name {
			return &c.Stacks[i]
		}
	}
	for i := range c.Stacks {
		if c.Stacks[i].Stack == name {
			return &c.Stacks[i]
		}
	}
	return nil
}

// Diff computes the change set from one stack_deps to another. Either may
// be nil (a launch diffs from nil; a teardown to nil). It compares specs
// only; the executor's change sets also compare rendered config files and
// what was last applied.
func Diff(from, to stack.Deps) *ChangeSet { return diffFiles(from, to, nil, nil) }

// diffFiles is Diff that also compares the rendered config files of each
// service (stack -> service -> path -> content).
func diffFiles(from, to stack.Deps, fromFiles, toFiles files) *ChangeSet {
	cs := &ChangeSet{}
	old := map[string]*stack.Stack{}
	tierOf := map[string]int{}
	for ti, tier := range from {
		for i := range tier {
			old[tier[i].Name] = &tier[i]
			tierOf[tier[i].Name] = ti
		}
	}
	seen := make(map[string]bool, len(old))
	for ti, tier := range to {
		for i := range tier {
			s := &tier[i]
			seen[s.Name] = true
			prev, ok := old[s.Name]
			if !ok {
				cs.Stacks = append(cs.Stacks, StackChange{Stack: s.Name, Tier: ti, Action: ActionAdd})
				continue
			}
			cs.Stacks = append(cs.Stacks, diffStack(prev, s, tierOf[s.Name], ti, fromFiles[s.Name], toFiles[s.Name]))
		}
	}
	for ti := len(from) - 1; ti >= 0; ti-- {
		for i := range from[ti] {
			if name := from[ti][i].Name; !seen[name] {
				cs.Stacks = append(cs.Stacks, StackChange{Stack: name, Tier: ti, Action: ActionRemove})
			}
		}
	}
	cs.reindex()
	return cs
}

func (c *ChangeSet) reindex() {
	c.index = make(map[string]int, len(c.Stacks))
	for i := range c.Stacks {
		c.index[c.Stacks[i].Stack] = i
	}
}

func diffStack(from, to *stack.Stack, fromTier, tier int, fromFiles, toFiles map[string]map[string][]byte) StackChange {
	sc := StackChange{Stack: to.Name, Tier: tier, Action: ActionNone}
	if fromTier != tier {
		// Runtimes label what they run with its tier, and teardown,
		// status and drift read it back: a move is applied again.
		sc.FromTier = &fromTier
		sc.Replace = true
	}
	if !slices.Equal(from.DependsOn, to.DependsOn) {
		sc.Fields = append(sc.Fields, "depends_on")
	}
	if !cmp.Equal(from.InitScripts, to.InitScripts, cmpopts...) {
		sc.Fields = append(sc.Fields, "init_scripts")
	}
	for i := range to.Services {
		svc := &to.Services[i]
		prev := from.Service(svc.Name)
		if prev == nil {
			sc.Services = append(sc.Services, ServiceChange{Service: svc.Name, Action: ActionAdd, Replace: true})
			sc.Replace = true
			continue
		}
		fields := append(changedFields(prev, svc), changedFiles(fromFiles[svc.Name], toFiles[svc.Name])...)
		if len(fields) == 0 {
			continue
		}
		replace := slices.ContainsFunc(fields, func(f string) bool { return f != "instances" })
		sc.Services = append(sc.Services, ServiceChange{Service: svc.Name, Action: ActionModify, Replace: replace, Fields: fields})
		sc.Replace = sc.Replace || replace
	}
	for i := range from.Services {
		if to.Service(from.Services[i].Name) == nil {
			sc.Services = append(sc.Services, ServiceChange{Service: from.Services[i].Name, Action: ActionRemove})
		}
	}
	if len(sc.Services) > 0 || len(sc.Fields) > 0 || sc.FromTier != nil {
		sc.Action = ActionModify
	}
	return sc
}

// Moved reports whether the change moves the stack to another tier.
func (sc *StackChange) Moved() bool {
	return sc != nil && sc.FromTier != nil && *sc.FromTier != sc.Tier
}

// relabelInPlace clears Replace on the changes whose only replacement
// was a tier move, for a runtime that relabels in place
// (runtime.TierRelabeler).
func (c *ChangeSet) relabelInPlace() {
	for i := range c.Stacks {
		sc := &c.Stacks[i]
		if sc.Action == ActionModify && sc.Moved() && !slices.ContainsFunc(sc.Services, func(s ServiceChange) bool { return s.Replace }) {
			sc.Replace = false
		}
	}
}

// changedFiles returns "files <path>" for each config file whose
// rendered content differs, sorted by path.
func changedFiles(from, to map[string][]byte) []string {
	var out []string
	for p, b := range to {
		if old, ok := from[p]; !ok || !bytes.Equal(old, b) {
			out = append(out, "files "+p)
		}
	}
	for p := range from {
		if _, ok := to[p]; !ok {
			out = append(out, "files "+p)
		}
	}
	slices.Sort(out)
	return out
}

// cmpopts treat nil and empty slices alike: a document that writes
// "envs": [] means the same as one that leaves envs out.
var cmpopts = []cmp.Option{cmp.FilterValues(func(x, y any) bool {
	vx, vy := reflect.ValueOf(x), reflect.ValueOf(y)
	return vx.Kind() == reflect.Slice && vy.Kind() == reflect.Slice && vx.Len() == 0 && vy.Len() == 0
}, cmp.Comparer(func(x, y any) bool { return true }))}

// changedFields returns the JSON paths of the fields that differ between
// two services, sorted, with instances normalised (0 and 1 are equal).
func changedFields(from, to *stack.Service) []string {
	a, b := *from, *to
	a.Instances, b.Instances = a.Replicas(), b.Replicas()
	var r fieldReporter
	cmp.Equal(&a, &b, append(cmpopts[:len(cmpopts):len(cmpopts)], cmp.Reporter(&r))...)
	return r.fields()
}

// fieldReporter collects the JSON paths of unequal leaves.
type fieldReporter struct {
	path cmp.Path
	diff map[string]bool
}

func (r *fieldReporter) PushStep(ps cmp.PathStep) { r.path = append(r.path, ps) }
func (r *fieldReporter) PopStep()                 { r.path = r.path[:len(r.path)-1] }

func (r *fieldReporter) Report(rs cmp.Result) {
	if rs.Equal() {
		return
	}
	if r.diff == nil {
		r.diff = map[string]bool{}
	}
	r.diff[jsonPath(r.path)] = true
}

func (r *fieldReporter) fields() []string {
	out := make([]string, 0, len(r.diff))
	for f := range r.diff {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// jsonPath renders a cmp path with the JSON names of struct fields. A
// slice element that was added or removed is reported as the slice.
func jsonPath(p cmp.Path) string {
	var b strings.Builder
	for i, step := range p {
		switch s := step.(type) {
		case cmp.StructField:
			parent := p[i-1].Type()
			for parent.Kind() == reflect.Pointer {
				parent = parent.Elem()
			}
			name := s.Name()
			if f, ok := parent.FieldByName(s.Name()); ok {
				if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" {
					name = tag
				}
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(name)
		case cmp.SliceIndex:
			x, y := s.SplitKeys()
			if x < 0 || y < 0 || x != y {
				return b.String()
			}
			b.WriteString("[" + strconv.Itoa(x) + "]")
		case cmp.MapIndex:
			b.WriteString("[" + fmt.Sprint(s.Key()) + "]")
		}
	}
	return b.String()
}

// WriteText writes the change set, one line a stack:
//
//	3 stacks: 1 to add, 1 to modify, 0 to remove, 1 unchanged
//	  + kodo-3 (tier 1)
//	  ~ kodo-1 (tier 1, replace): authproxy-in: image.tag
//	  ~ kodo-2 (tier 2, replace): moved from tier 1 to tier 2
//	    mysql-cluster (tier 0)
func (c *ChangeSet) WriteText(w io.Writer) error {
	if c == nil {
		c = &ChangeSet{}
	}
	var b bytes.Buffer
	add, modify, remove, repair, none := c.Counts()
	fmt.Fprintf(&b, "%d stacks: %d to add, %d to modify, %d to remove, ", len(c.Stacks), add, modify, remove)
	if repair > 0 {
		fmt.Fprintf(&b, "%d to repair, ", repair)
	}
	fmt.Fprintf(&b, "%d unchanged\n", none)
	for i := range c.Stacks {
		sc := &c.Stacks[i]
		mark := map[Action]string{ActionAdd: "+", ActionModify: "~", ActionRemove: "-", ActionNone: " ", ActionRepair: "!"}[sc.Action]
		fmt.Fprintf(&b, "  %s %s (tier %d", mark, sc.Stack, sc.Tier)
		if sc.Replace {
			b.WriteString(", replace")
		}
		b.WriteString(")")
		var parts []string
		if sc.Moved() {
			parts = append(parts, fmt.Sprintf("moved from tier %d to tier %d", *sc.FromTier, sc.Tier))
		}
		if sc.Reason != "" {
			parts = append(parts, sc.Reason)
		}
		if len(sc.Fields) > 0 {
			parts = append(parts, strings.Join(sc.Fields, ", "))
		}
		for _, svc := range sc.Services {
			switch svc.Action {
			case ActionAdd:
				parts = append(parts, "+"+svc.Service)
			case ActionRemove:
				parts = append(parts, "-"+svc.Service)
			default:
				parts = append(parts, svc.Service+": "+strings.Join(svc.Fields, ", "))
			}
		}
		if len(parts) > 0 {
			b.WriteString(": ")
			b.WriteString(strings.Join(parts, "; "))
		}
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}

// String returns the text rendering.
func (c *ChangeSet) String() string {
	var b strings.Builder
	_ = c.WriteText(&b)
	return b.String()
}

// MarshalJSON renders the change set with a summary of counts.
func (c *ChangeSet) MarshalJSON() ([]byte, error) {
	if c == nil {
		c = &ChangeSet{}
	}
	type alias ChangeSet
	add, modify, remove, repair, none := c.Counts()
	stacks := c.Stacks
	if stacks == nil {
		stacks = []StackChange{}
	}
	return json.Marshal(struct {
		alias
		Stacks  []StackChange  `json:"stacks"`
		Summary map[string]int `json:"summary"`
	}{alias(*c), stacks, map[string]int{"add": add, "modify": modify, "remove": remove, "repair": repair, "none": none}})
}
