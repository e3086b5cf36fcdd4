package deploy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stackwave/stackwave/stack"
)

func svc(name, tag string, envs ...string) stack.Service {
	return stack.Service{Name: name, UnitType: "1U1G", Image: stack.Image{Name: "app", Tag: tag}, Envs: envs}
}

func TestDiff(t *testing.T) {
	from := stack.Deps{
		{{Name: "db", Services: []stack.Service{svc("mysql", "8")}}},
		{
			{Name: "web", Services: []stack.Service{svc("api", "1", "TOKEN=secret-value"), svc("worker", "1")}},
			{Name: "old", Services: []stack.Service{svc("x", "1")}},
			{Name: "same", Services: []stack.Service{svc("y", "1")}},
		},
	}
	to := stack.Deps{
		{{Name: "db", Services: []stack.Service{svc("mysql", "8")}}},
		{
			{Name: "web", Services: []stack.Service{svc("api", "2", "TOKEN=other-secret"), {Name: "worker", UnitType: "1U1G", Image: stack.Image{Name: "app", Tag: "1"}, Instances: 3}}},
			{Name: "same", Services: []stack.Service{svc("y", "1")}},
			{Name: "cache", Services: []stack.Service{svc("redis", "7")}},
		},
	}
	cs := Diff(from, to)
	want := []StackChange{
		{Stack: "db", Tier: 0, Action: ActionNone},
		{Stack: "web", Tier: 1, Action: ActionModify, Replace: true, Services: []ServiceChange{
			{Service: "api", Action: ActionModify, Replace: true, Fields: []string{"envs[0]", "image.tag"}},
			{Service: "worker", Action: ActionModify, Fields: []string{"instances"}},
		}},
		{Stack: "same", Tier: 1, Action: ActionNone},
		{Stack: "cache", Tier: 1, Action: ActionAdd},
		{Stack: "old", Tier: 1, Action: ActionRemove},
	}
	if diff := cmp.Diff(want, cs.Stacks); diff != "" {
		t.Fatalf("Diff (-want +got):\n%s", diff)
	}
	text := cs.String()
	for _, secret := range []string{"secret-value", "other-secret"} {
		if strings.Contains(text, secret) {
			t.Errorf("text rendering shows an env value: %s", text)
		}
	}
	wantText := `5 stacks: 1 to add, 1 to modify, 1 to remove, 2 unchanged
    db (tier 0)
  ~ web (tier 1, replace): api: envs[0], image.tag; worker: instances
    same (tier 1)
  + cache (tier 1)
  - old (tier 1)
`
	if text != wantText {
		t.Errorf("text:\n%s\nwant:\n%s", text, wantText)
	}
	b1, _ := json.Marshal(cs)
	b2, _ := json.Marshal(Diff(from, to))
	if string(b1) != string(b2) {
		t.Errorf("JSON is not deterministic:\n%s\n%s", b1, b2)
	}
	if !strings.Contains(string(b1), `"summary":{"add":1,"modify":1,"none":2,"remove":1,"repair":0}`) {
		t.Errorf("JSON summary missing: %s", b1)
	}
}

func TestDiffScaleOnlyDoesNotReplace(t *testing.T) {
	a := stack.Deps{{{Name: "s", Services: []stack.Service{svc("a", "1")}}}}
	b := stack.Deps{{{Name: "s", Services: []stack.Service{{Name: "a", UnitType: "1U1G", Image: stack.Image{Name: "app", Tag: "1"}, Instances: 1}}}}}
	if cs := Diff(a, b); !cs.Empty() {
		t.Fatalf("instances 0 and 1 differ: %v", cs)
	}
	b[0][0].Services[0].Instances = 2
	cs := Diff(a, b)
	if sc := cs.Stack("s"); sc.Action != ActionModify || sc.Replace {
		t.Fatalf("scale: got %+v, want a modification without replacement", sc)
	}
}

// A stack that moves to another tier unchanged is modified: runtimes
// label it with its tier. It replaces instances unless the runtime
// relabels in place.
func TestDiffTierMove(t *testing.T) {
	db := stack.Stack{Name: "db", Services: []stack.Service{svc("mysql", "8")}}
	app := stack.Stack{Name: "app", Services: []stack.Service{svc("web", "1")}}
	cache := stack.Stack{Name: "cache", Services: []stack.Service{svc("redis", "7")}}
	from := stack.Deps{{db, cache}, {app}}
	to := stack.Deps{{db}, {cache}, {app}}
	cs := Diff(from, to)
	if add, modify, remove, repair, none := cs.Counts(); add+remove+repair != 0 || modify != 2 || none != 1 {
		t.Fatalf("counts %d %d %d %d %d, want 2 modified (cache, app), 1 unchanged:\n%v", add, modify, remove, repair, none, cs)
	}
	for _, c := range []struct {
		name     string
		from, to int
	}{{"cache", 0, 1}, {"app", 1, 2}} {
		sc := cs.Stack(c.name)
		if !sc.Moved() || *sc.FromTier != c.from || sc.Tier != c.to || !sc.Replace || len(sc.Services) != 0 {
			t.Errorf("%s: got %+v, want a move from tier %d to %d that replaces", c.name, sc, c.from, c.to)
		}
	}
	if sc := cs.Stack("db"); sc.Moved() || sc.FromTier != nil {
		t.Errorf("db stays in tier 0, got %+v", sc)
	}
	want := "3 stacks: 0 to add, 2 to modify, 0 to remove, 1 unchanged\n" +
		"    db (tier 0)\n" +
		"  ~ cache (tier 1, replace): moved from tier 0 to tier 1\n" +
		"  ~ app (tier 2, replace): moved from tier 1 to tier 2\n"
	if got := cs.String(); got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
	b, err := json.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"stack_name":"cache","tier":1,"action":"modify","replace":true,"from_tier":0`) {
		t.Errorf("JSON does not tell the move: %s", b)
	}

	cs.relabelInPlace()
	if sc := cs.Stack("cache"); sc.Replace || sc.Action != ActionModify {
		t.Errorf("relabelled in place: got %+v, want a modification without replacement", sc)
	}
	// A move that also changes a service still replaces it.
	to[1][0].Services = []stack.Service{svc("redis", "8")}
	cs = Diff(from, to)
	cs.relabelInPlace()
	if sc := cs.Stack("cache"); !sc.Replace || !sc.Moved() {
		t.Errorf("moved and changed: got %+v, want a replacing move", sc)
	}
}

func TestDiffNilAndEmptySlicesAreEqual(t *testing.T) {
	a := stack.Deps{{{Name: "s", Services: []stack.Service{{Name: "a", UnitType: "1U1G", Image: stack.Image{Name: "app", Tag: "1"}}}}}}
	b := stack.Deps{{{Name: "s", Services: []stack.Service{{Name: "a", UnitType: "1U1G", Image: stack.Image{Name: "app", Tag: "1"}, Envs: []string{}, Command: []string{}}}}}}
	if cs := Diff(a, b); !cs.Empty() {
		t.Fatalf("nil and empty slices differ: %v", cs)
	}
}
