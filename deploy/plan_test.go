package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
)

func seedPlan(t testing.TB) *deploy.Plan {
	t.Helper()
	data, err := os.ReadFile("../examples/kodo-double.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := product.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	p, err := deploy.NewPlan(doc.StackDeps)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// build returns stack_deps from tiers of "name" or "name>dep1,dep2"
// entries (the latter list depends_on); every stack has one service.
func build(tiers ...string) stack.Deps {
	var deps stack.Deps
	for _, tier := range tiers {
		var tr stack.Tier
		for _, entry := range strings.Fields(tier) {
			name, after, explicit := strings.Cut(entry, ">")
			s := stack.Stack{Name: name, Services: []stack.Service{{Name: "svc"}}}
			if explicit {
				s.DependsOn = []string{}
				if after != "" {
					s.DependsOn = strings.Split(after, ",")
				}
			}
			tr = append(tr, s)
		}
		deps = append(deps, tr)
	}
	return deps
}

func mustPlan(t testing.TB, deps stack.Deps) *deploy.Plan {
	t.Helper()
	p, err := deploy.NewPlan(deps)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSeedPlan(t *testing.T) {
	p := seedPlan(t)
	check := func(what string, got, want any) {
		t.Helper()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", what, diff)
		}
	}
	check("tiers", p.Tiers(), [][]string{{"mysql-cluster"}, {"kodo-1", "kodo-2"}})
	check("teardown", p.Teardown(), [][]string{{"kodo-1", "kodo-2"}, {"mysql-cluster"}})
	check("order", p.Order(), []string{"mysql-cluster", "kodo-1", "kodo-2"})
	check("mysql waits for", p.DependsOn("mysql-cluster"), []string(nil))
	check("kodo-2 waits for", p.DependsOn("kodo-2"), []string{"mysql-cluster"})
	check("unknown waits for", p.DependsOn("nope"), []string(nil))
	check("len", p.Len(), 3)
	check("tier", []int{p.Tier("mysql-cluster"), p.Tier("kodo-2"), p.Tier("nope")}, []int{0, 1, -1})
	if s, ok := p.Stack("kodo-1"); !ok || s.Services[0].Name != "authproxy-in" {
		t.Errorf("Stack(kodo-1) = %v, %v", s, ok)
	}
	if _, ok := p.Stack("nope"); ok {
		t.Error("Stack(nope) found")
	}
	if p.Explicit("kodo-1") || p.Explicit("nope") {
		t.Error("no stack of the seed lists depends_on")
	}
	if len(p.Deps()) != 2 {
		t.Error("Deps")
	}
}

const seedText = `2 tiers, 3 stacks, 3 services
start:
  tier 0: mysql-cluster
  tier 1: kodo-1, kodo-2
teardown:
  tier 1: kodo-1, kodo-2
  tier 0: mysql-cluster
`

const seedJSON = `{"tiers":[["mysql-cluster"],["kodo-1","kodo-2"]],` +
	`"teardown":[["kodo-1","kodo-2"],["mysql-cluster"]],` +
	`"stacks":[{"name":"mysql-cluster","tier":0,"services":["mysql-1"]},` +
	`{"name":"kodo-1","tier":1,"services":["authproxy-in"],"after_tier":0},` +
	`{"name":"kodo-2","tier":1,"services":["authproxy-in"],"after_tier":0}]}`

// The renderings are golden: the same input gives the same bytes, from
// one plan or from two built separately.
func TestRenderingsAreDeterministic(t *testing.T) {
	for i := range 3 {
		p := seedPlan(t)
		var b bytes.Buffer
		if err := p.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if b.String() != seedText || p.String() != seedText {
			t.Fatalf("run %d: text\n%s\nwant\n%s", i, b.String(), seedText)
		}
		js, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(js) != seedJSON {
			t.Fatalf("run %d: JSON\n%s\nwant\n%s", i, js, seedJSON)
		}
	}
}

func TestJSONShape(t *testing.T) {
	p := mustPlan(t, build("a b", "c>a d", "e>c,a"))
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tiers    [][]string `json:"tiers"`
		Teardown [][]string `json:"teardown"`
		Stacks   []struct {
			Name      string   `json:"name"`
			DependsOn []string `json:"depends_on"`
			AfterTier *int     `json:"after_tier"`
		} `json:"stacks"`
	}
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"a", "b"}, {"c", "d"}, {"e"}}, got.Tiers); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff([][]string{{"e"}, {"c", "d"}, {"a", "b"}}, got.Teardown); diff != "" {
		t.Error(diff)
	}
	if s := got.Stacks[4]; s.Name != "e" || strings.Join(s.DependsOn, ",") != "c,a" || s.AfterTier != nil {
		t.Errorf("e: %+v", s)
	}
	if s := got.Stacks[3]; s.Name != "d" || s.DependsOn != nil || s.AfterTier == nil || *s.AfterTier != 0 {
		t.Errorf("d: %+v", s)
	}
	// An empty plan still has lists, never null.
	js, _ = json.Marshal(mustPlan(t, nil))
	if string(js) != `{"tiers":[],"teardown":[],"stacks":[]}` {
		t.Errorf("empty plan: %s", js)
	}
}

func TestTextNamesExplicitDependencies(t *testing.T) {
	p := mustPlan(t, build("mysql-cluster", "kodo-1 kodo-2", "gateway>mysql-cluster"))
	want := `3 tiers, 4 stacks, 4 services
start:
  tier 0: mysql-cluster
  tier 1: kodo-1, kodo-2
  tier 2: gateway (after mysql-cluster)
teardown:
  tier 2: gateway
  tier 1: kodo-1, kodo-2
  tier 0: mysql-cluster
`
	if got := p.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDependsOn(t *testing.T) {
	p := mustPlan(t, build("a b c", "d e>a", "f>b,a,b g", "h>"))
	for name, want := range map[string][]string{
		"a": nil,
		"d": {"a", "b", "c"}, // implicit: the whole previous tier
		"e": {"a"},           // explicit: only what it lists
		"f": {"b", "a"},      // in the order given, duplicates once
		"g": {"d", "e"},
		// An empty depends_on is the same as none (the canonical form
		// omits it): the whole previous tier.
		"h": {"f", "g"},
	} {
		if diff := cmp.Diff(want, p.DependsOn(name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if !p.Explicit("e") || p.Explicit("h") || p.Explicit("d") {
		t.Error("Explicit")
	}
	// DependsOn returns a copy.
	p.DependsOn("d")[0] = "x"
	if p.DependsOn("d")[0] != "a" || p.Tiers()[0][0] != "a" {
		t.Error("DependsOn exposed the plan's tiers")
	}
}

// Order is a valid start order: every stack after what it waits for.
func TestOrderRespectsDependencies(t *testing.T) {
	p := mustPlan(t, build("a b", "c>a d", "e>c f", "g>a,f"))
	pos := map[string]int{}
	for i, name := range p.Order() {
		pos[name] = i
	}
	for _, name := range p.Order() {
		for _, dep := range p.DependsOn(name) {
			if pos[dep] >= pos[name] {
				t.Errorf("%s starts before %s, which it waits for", name, dep)
			}
		}
	}
}

func TestCriticalPath(t *testing.T) {
	d := func(m map[string]int) func(string) time.Duration {
		return func(s string) time.Duration { return time.Duration(m[s]) * time.Second }
	}
	for _, c := range []struct {
		name  string
		deps  stack.Deps
		times map[string]int
		path  []string
		total int
	}{
		{"one stack", build("a"), map[string]int{"a": 3}, []string{"a"}, 3},
		// Tiers only: the slowest of each tier.
		{"tiers", build("a b", "c d", "e"), map[string]int{"a": 3, "b": 5, "c": 2, "d": 4, "e": 1}, []string{"b", "d", "e"}, 10},
		{"first slowest wins a tie", build("a b", "c"), map[string]int{"a": 2, "b": 2, "c": 1}, []string{"a", "c"}, 3},
		// x starts as soon as a is ready, not after slow: the tier
		// barrier would make it 10+5.
		{"depends_on beats the barrier", build("a slow", "x>a"), map[string]int{"a": 1, "slow": 10, "x": 5}, []string{"slow"}, 10},
		{"depends_on chain is longest", build("a slow", "x>a"), map[string]int{"a": 1, "slow": 10, "x": 20}, []string{"a", "x"}, 21},
		// w waits for the whole of tier 1, which ends with z (10+1) or
		// x (1+5), whichever is later.
		{"barrier after an early start", build("a slow", "x>a z", "w"), map[string]int{"a": 1, "slow": 10, "x": 5, "z": 1, "w": 1}, []string{"slow", "z", "w"}, 12},
		{"early start on the path", build("a slow", "x>a z", "w"), map[string]int{"a": 1, "slow": 10, "x": 20, "z": 1, "w": 1}, []string{"a", "x", "w"}, 22},
		{"skip a tier", build("a b", "c", "d>a"), map[string]int{"a": 7, "b": 1, "c": 1, "d": 7}, []string{"a", "d"}, 14},
		{"empty depends_on waits for the tier", build("a", "b>"), map[string]int{"a": 1, "b": 5}, []string{"a", "b"}, 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, total := mustPlan(t, c.deps).CriticalPath(d(c.times))
			if diff := cmp.Diff(c.path, path); diff != "" || total != time.Duration(c.total)*time.Second {
				t.Errorf("got %v %v, want %v %ds", path, total, c.path, c.total)
			}
		})
	}
	if path, total := mustPlan(t, nil).CriticalPath(d(nil)); path != nil || total != 0 {
		t.Errorf("empty plan: %v %v", path, total)
	}
}

// Without validation the planner still refuses what would make the
// graph wrong.
func TestPlanErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		deps  stack.Deps
		stack string
		msg   string
	}{
		{"duplicate name", build("a", "a"), "a", "duplicate stack name"},
		{"duplicate in a tier", build("a b a"), "a", "duplicate stack name"},
		{"unknown", build("a", "b>zz"), "b", `unknown stack "zz"`},
		{"same tier", build("a b>a"), "b", "not in an earlier tier"},
		{"itself", build("a", "b>b"), "b", "not in an earlier tier"},
		{"later tier", build("a", "b>c", "c"), "b", "not in an earlier tier"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := deploy.NewPlan(c.deps)
			var pe *deploy.PlanError
			if !errors.As(err, &pe) || p != nil {
				t.Fatalf("got %v, %v; want a *PlanError", p, err)
			}
			if pe.Stack != c.stack || !strings.Contains(pe.Error(), c.msg) {
				t.Errorf("got %v, want stack %q: %s", pe, c.stack, c.msg)
			}
		})
	}
}
