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

func TestDiffNilAndEmptySlicesAreEqual(t *testing.T) {
	a := stack.Deps{{{Name: "s", Services: []stack.Service{{Name: "a", UnitType: "1U1G", Image: stack.Image{Name: "app", Tag: "1"}}}}}}
	b := stack.Deps{{{Name: "s", Services: []stack.Service{{Name: "a", UnitType: "1U1G", Image: stack.Image{Name: "app", Tag: "1"}, Envs: []string{}, Command: []string{}}}}}}
	if cs := Diff(a, b); !cs.Empty() {
		t.Fatalf("nil and empty slices differ: %v", cs)
	}
}
