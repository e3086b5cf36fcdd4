package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stackwave/stackwave/stack"
)

// Plan is the dependency graph of a product's stacks: the order they start
// in, what each waits for, and the order they stop in.
//
// A stack waits for every stack of the previous tier, unless it lists
// depends_on, which then replaces that implicit dependency. The graph
// joins each tier through one barrier node instead of an edge from every
// stack of a tier to every stack of the next, so wide tiers cost linear
// space and time.
//
// A Plan is immutable and safe for concurrent use. Its text and JSON
// renderings are deterministic: the same stack_deps give the same bytes.
type Plan struct {
	deps  stack.Deps
	tiers [][]string
	nodes []node // stacks in start order: tier by tier, in document order
	index map[string]int
	// tierStart[t] is the index in nodes of the first stack of tier t;
	// tierStart[len(tiers)] == len(nodes).
	tierStart []int
	// explicitOut[i] lists the stacks that name stack i in depends_on.
	explicitOut [][]int32
	// implicitIn[t] says whether some stack of tier t+1 waits for the
	// whole of tier t.
	implicitIn []bool
}

type node struct {
	name  string
	tier  int
	stack *stack.Stack
	// deps are the explicit dependencies (indices into nodes); nil means
	// the whole previous tier.
	deps []int32
}

// PlanError reports stack_deps that cannot be planned: a duplicate stack
// name or a depends_on that names an unknown stack or one of the same or a
// later tier. Validated products never produce it.
type PlanError struct {
	Stack string
	Msg   string
}

func (e *PlanError) Error() string {
	if e == nil {
		return "<nil>"
	}
	return fmt.Sprintf("plan: stack %q: %s", e.Stack, e.Msg)
}

// NewPlan builds the plan of deps.
func NewPlan(deps stack.Deps) (*Plan, error) {
	_, n, _ := deps.Counts()
	p := &Plan{
		deps:       deps,
		tiers:      make([][]string, len(deps)),
		nodes:      make([]node, 0, n),
		index:      make(map[string]int, n),
		tierStart:  make([]int, len(deps)+1),
		implicitIn: make([]bool, len(deps)),
	}
	names := make([]string, n) // backing array shared by all tiers
	for ti, tier := range deps {
		p.tierStart[ti] = len(p.nodes)
		p.tiers[ti] = names[:len(tier):len(tier)]
		names = names[len(tier):]
		for si := range tier {
			s := &tier[si]
			if _, dup := p.index[s.Name]; dup {
				return nil, &PlanError{Stack: s.Name, Msg: "duplicate stack name"}
			}
			p.tiers[ti][si] = s.Name
			p.index[s.Name] = len(p.nodes)
			p.nodes = append(p.nodes, node{name: s.Name, tier: ti, stack: s})
		}
	}
	p.tierStart[len(deps)] = len(p.nodes)
	p.explicitOut = make([][]int32, len(p.nodes))
	// listed[j] == i+1 when stack i already lists stack j, so a long
	// depends_on list costs linear time.
	var listed []int32
	for i := range p.nodes {
		nd := &p.nodes[i]
		if len(nd.stack.DependsOn) == 0 {
			if nd.tier > 0 {
				p.implicitIn[nd.tier-1] = true
			}
			continue
		}
		nd.deps = make([]int32, 0, len(nd.stack.DependsOn))
		for _, dep := range nd.stack.DependsOn {
			j, ok := p.index[dep]
			switch {
			case !ok:
				return nil, &PlanError{Stack: nd.name, Msg: fmt.Sprintf("depends_on names unknown stack %q", dep)}
			case p.nodes[j].tier >= nd.tier:
				return nil, &PlanError{Stack: nd.name, Msg: fmt.Sprintf("depends_on names %q, which is not in an earlier tier", dep)}
			}
			if listed == nil {
				listed = make([]int32, len(p.nodes))
			}
			if listed[j] != int32(i+1) {
				listed[j] = int32(i + 1)
				nd.deps = append(nd.deps, int32(j))
				p.explicitOut[j] = append(p.explicitOut[j], int32(i))
			}
		}
	}
	return p, nil
}

// orEmpty returns p, or an empty plan for a nil one: a nil *Plan has no
// stacks.
func (p *Plan) orEmpty() *Plan {
	if p == nil {
		return &Plan{}
	}
	return p
}

// Deps returns the stack_deps the plan was built from.
func (p *Plan) Deps() stack.Deps {
	if p == nil {
		return nil
	}
	return p.deps
}

// Len returns the number of stacks.
func (p *Plan) Len() int {
	if p == nil {
		return 0
	}
	return len(p.nodes)
}

// Tiers returns the stack names of each tier in start order. The caller
// must not modify the result.
func (p *Plan) Tiers() [][]string {
	if p == nil {
		return nil
	}
	return p.tiers
}

// Teardown returns the tiers in the order they stop: the last tier first.
func (p *Plan) Teardown() [][]string {
	p = p.orEmpty()
	out := make([][]string, len(p.tiers))
	for i, t := range p.tiers {
		out[len(p.tiers)-1-i] = t
	}
	return out
}

// Order returns every stack name in a start order that respects all
// dependencies: tier by tier, in document order within a tier.
func (p *Plan) Order() []string {
	p = p.orEmpty()
	out := make([]string, len(p.nodes))
	for i := range p.nodes {
		out[i] = p.nodes[i].name
	}
	return out
}

// Stack returns the stack called name and whether it is in the plan.
func (p *Plan) Stack(name string) (*stack.Stack, bool) {
	p = p.orEmpty()
	i, ok := p.index[name]
	if !ok {
		return nil, false
	}
	return p.nodes[i].stack, true
}

// Tier returns the tier index of the stack called name, or -1.
func (p *Plan) Tier(name string) int {
	p = p.orEmpty()
	i, ok := p.index[name]
	if !ok {
		return -1
	}
	return p.nodes[i].tier
}

// DependsOn returns the stacks the stack called name waits for: its
// depends_on list when it has one, else every stack of the previous tier.
func (p *Plan) DependsOn(name string) []string {
	p = p.orEmpty()
	i, ok := p.index[name]
	if !ok {
		return nil
	}
	nd := &p.nodes[i]
	if nd.deps == nil {
		if nd.tier == 0 {
			return nil
		}
		return append([]string(nil), p.tiers[nd.tier-1]...)
	}
	out := make([]string, len(nd.deps))
	for k, j := range nd.deps {
		out[k] = p.nodes[j].name
	}
	return out
}

// Explicit reports whether the stack called name lists depends_on.
func (p *Plan) Explicit(name string) bool {
	p = p.orEmpty()
	i, ok := p.index[name]
	return ok && p.nodes[i].deps != nil
}

// CriticalPath returns the longest chain of dependent stacks when each
// stack takes estimate(name) to become ready, and that chain's total time:
// the shortest possible launch time with unbounded concurrency.
func (p *Plan) CriticalPath(estimate func(stack string) time.Duration) ([]string, time.Duration) {
	p = p.orEmpty()
	if len(p.nodes) == 0 {
		return nil, 0
	}
	finish := make([]time.Duration, len(p.nodes))
	prev := make([]int32, len(p.nodes))
	tierDone := make([]time.Duration, len(p.tiers))
	tierLast := make([]int32, len(p.tiers)) // stack finishing last in each tier
	for t := range p.tiers {
		tierLast[t] = -1
	}
	for i := range p.nodes {
		nd := &p.nodes[i]
		var start time.Duration
		prev[i] = -1
		if nd.deps == nil {
			if nd.tier > 0 {
				start, prev[i] = tierDone[nd.tier-1], tierLast[nd.tier-1]
			}
		} else {
			for _, j := range nd.deps {
				if finish[j] > start || prev[i] < 0 {
					start, prev[i] = finish[j], j
				}
			}
		}
		finish[i] = start + estimate(nd.name)
		if tierLast[nd.tier] < 0 || finish[i] > tierDone[nd.tier] {
			tierDone[nd.tier], tierLast[nd.tier] = finish[i], int32(i)
		}
	}
	end := int32(0)
	for i := range finish {
		if finish[i] > finish[end] {
			end = int32(i)
		}
	}
	var path []string
	for i := end; i >= 0; i = prev[i] {
		path = append(path, p.nodes[i].name)
	}
	for l, r := 0, len(path)-1; l < r; l, r = l+1, r-1 {
		path[l], path[r] = path[r], path[l]
	}
	return path, finish[end]
}

// planJSON is the JSON form of a plan.
type planJSON struct {
	Tiers    [][]string  `json:"tiers"`
	Teardown [][]string  `json:"teardown"`
	Stacks   []stackJSON `json:"stacks"`
}

type stackJSON struct {
	Name     string   `json:"name"`
	Tier     int      `json:"tier"`
	Services []string `json:"services"`
	// DependsOn is set for stacks that list depends_on; AfterTier for the
	// others of tiers after the first.
	DependsOn []string `json:"depends_on,omitempty"`
	AfterTier *int     `json:"after_tier,omitempty"`
}

// MarshalJSON renders the plan as
// {"tiers": [[...]], "teardown": [[...]], "stacks": [{"name", "tier",
// "services", "depends_on" | "after_tier"}]}.
func (p *Plan) MarshalJSON() ([]byte, error) {
	p = p.orEmpty()
	out := planJSON{Tiers: p.tiers, Teardown: p.Teardown(), Stacks: make([]stackJSON, len(p.nodes))}
	if out.Tiers == nil {
		out.Tiers = [][]string{}
	}
	for i := range p.nodes {
		nd := &p.nodes[i]
		sj := stackJSON{Name: nd.name, Tier: nd.tier, Services: make([]string, len(nd.stack.Services))}
		for k := range nd.stack.Services {
			sj.Services[k] = nd.stack.Services[k].Name
		}
		if nd.deps != nil {
			sj.DependsOn = p.DependsOn(nd.name)
		} else if nd.tier > 0 {
			t := nd.tier - 1
			sj.AfterTier = &t
		}
		out.Stacks[i] = sj
	}
	return json.Marshal(out)
}

// WriteText writes the plan as text: a line of counts, then one tier a
// line in start order and in teardown order. A stack that lists
// depends_on is followed by what it waits for; the others wait for the
// whole previous tier:
//
//	3 tiers, 4 stacks, 4 services
//	start:
//	  tier 0: mysql-cluster
//	  tier 1: kodo-1, kodo-2
//	  tier 2: gateway (after mysql-cluster)
//	teardown:
//	  tier 2: gateway
//	  tier 1: kodo-1, kodo-2
//	  tier 0: mysql-cluster
func (p *Plan) WriteText(w io.Writer) error {
	p = p.orEmpty()
	var b bytes.Buffer
	tiers, stacks, services := p.deps.Counts()
	fmt.Fprintf(&b, "%d tiers, %d stacks, %d services\nstart:\n", tiers, stacks, services)
	for t, names := range p.tiers {
		b.WriteString("  tier ")
		b.WriteString(strconv.Itoa(t))
		b.WriteString(": ")
		for k, name := range names {
			if k > 0 {
				b.WriteString(", ")
			}
			b.WriteString(name)
			if nd := &p.nodes[p.tierStart[t]+k]; nd.deps != nil {
				b.WriteString(" (after ")
				b.WriteString(strings.Join(p.DependsOn(name), ", "))
				b.WriteString(")")
			}
		}
		b.WriteByte('\n')
	}
	b.WriteString("teardown:\n")
	for t := len(p.tiers) - 1; t >= 0; t-- {
		fmt.Fprintf(&b, "  tier %d: %s\n", t, strings.Join(p.tiers[t], ", "))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// String returns the text rendering.
func (p *Plan) String() string {
	var b strings.Builder
	_ = p.WriteText(&b)
	return b.String()
}
