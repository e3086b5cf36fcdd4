package deploy_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// instanceIDs returns the instance IDs of every service of a deployment,
// by "stack/service".
func instanceIDs(t *testing.T, rt runtime.Runtime, name string) map[string][]string {
	t.Helper()
	obs, err := rt.Observe(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, s := range obs.Stacks {
		for _, svc := range s.Services {
			for _, in := range svc.Instances {
				out[s.Name+"/"+svc.Name] = append(out[s.Name+"/"+svc.Name], in.ID)
			}
		}
	}
	return out
}

// A changed variable or template is a change: plan shows the files (never
// their content), the update replaces exactly the services whose files
// changed, and a repeated update is up to date.
func TestConfigChangeReplacesOnlyItsServices(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	proxy := service("authproxy-in")
	proxy.ConfigPaths = []string{"/etc/app.conf"}
	deps := stack.Deps{{stk("db", "mysql")}, {{Name: "kodo-1", Services: []stack.Service{proxy, service("kodo")}}}}
	vid := e.version("v1", deps)
	tmpl := map[string]string{"/etc/app.conf": "secret={{.Vars.secret}}\n"}
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "kodo", VersionID: vid, ConfigTemplates: tmpl, Vars: map[string]string{"secret": "one"}}); err != nil {
		t.Fatal(err)
	}
	before := instanceIDs(t, e.rt, "kodo")

	req := deploy.Request{Deployment: "kodo", VersionID: vid, Vars: map[string]string{"secret": "two"}}
	cs, err := e.ex.PreviewChanges(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "2 stacks: 0 to add, 1 to modify, 0 to remove, 1 unchanged\n" +
		"    db (tier 0)\n" +
		"  ~ kodo-1 (tier 1, replace): authproxy-in: files /etc/app.conf\n"
	if got := cs.String(); got != want {
		t.Errorf("preview:\n%s\nwant:\n%s", got, want)
	}
	res, err := e.ex.Update(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Changes.String(); got != want {
		t.Errorf("update's change set:\n%s\nwant:\n%s", got, want)
	}
	for _, ev := range e.eventLog() {
		if strings.Contains(ev.Message, "two") || strings.Contains(ev.Message, "one") {
			t.Errorf("event shows a value: %v", ev)
		}
	}
	after := instanceIDs(t, e.rt, "kodo")
	for key, ids := range before {
		same := slices.Equal(ids, after[key])
		if key == "kodo-1/authproxy-in" && same {
			t.Errorf("%s was not replaced although its file changed", key)
		}
		if key != "kodo-1/authproxy-in" && !same {
			t.Errorf("%s was replaced although nothing of it changed", key)
		}
	}
	st, err := e.ex.Status(ctx, "kodo")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != store.StatusAvailable || st.Sync != deploy.SyncInSync || st.Health != deploy.HealthRunning {
		t.Errorf("status %s health %s sync %s, want Available running in-sync", st.Status, st.Health, st.Sync)
	}
	res, err = e.ex.Update(ctx, req)
	if err != nil || !res.Changes.Empty() {
		t.Errorf("the same update again: %v, changes\n%s", err, res.Changes)
	}
}

// Templates and variables nothing uses are refused before anything is
// recorded, listing them.
func TestUnusedTemplatesAndVarsRefused(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	svc := service("web")
	svc.ConfigPaths = []string{"/etc/web.conf"}
	vid := e.version("v1", stack.Deps{{{Name: "web", Services: []stack.Service{svc}}}})
	_, err := e.ex.Launch(ctx, deploy.Request{Deployment: "x", VersionID: vid,
		ConfigTemplates: map[string]string{"/etc/web.conf": "port={{.Vars.port}}", "/nope.conf": "x"},
		Vars:            map[string]string{"port": "80", "unused": "2"}})
	var ue *deploy.UnusedError
	if !errors.As(err, &ue) || !errors.Is(err, deploy.ErrInvalidRequest) {
		t.Fatalf("err = %v, want an *UnusedError matching ErrInvalidRequest", err)
	}
	if !slices.Equal(ue.Templates, []string{"/nope.conf"}) || !slices.Equal(ue.Vars, []string{"unused"}) {
		t.Errorf("unused templates %v vars %v, want [/nope.conf] [unused]", ue.Templates, ue.Vars)
	}
	if _, err := e.st.GetDeployment(ctx, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused launch left a record: %v", err)
	}
	if len(e.rt.Calls()) != 0 {
		t.Errorf("a refused launch called the runtime: %v", e.rt.Calls())
	}
}

// The catalog's word: no launch or update to an inactive version; a
// deployment already at one keeps running and can be repaired.
func TestInactiveVersionRefused(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	v1 := e.version("v1", stack.Deps{{stk("web", "nginx")}})
	v2 := e.version("v2", stack.Deps{{stk("web", "nginx", "cache")}})
	deactivate := func(id string) {
		v, err := e.st.GetVersion(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		v.Active = false
		if _, err := e.st.UpdateVersion(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	deactivate(v2)
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "x", VersionID: v2}); !errors.Is(err, deploy.ErrVersionInactive) || !strings.Contains(err.Error(), v2) {
		t.Errorf("launch of an inactive version: %v, want ErrVersionInactive naming %s", err, v2)
	}
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "x", VersionID: v1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Update(ctx, deploy.Request{Deployment: "x", VersionID: v2}); !errors.Is(err, deploy.ErrVersionInactive) {
		t.Errorf("update to an inactive version: %v, want ErrVersionInactive", err)
	}
	deactivate(v1)
	e.rt.Tamper("x", "web", "nginx", sim.Change{Kind: sim.StopChange})
	res, err := e.ex.Update(ctx, deploy.Request{Deployment: "x", VersionID: v1})
	if err != nil {
		t.Fatalf("repair at the inactive current version: %v", err)
	}
	if sc := res.Changes.Stack("web"); sc.Action != deploy.ActionRepair {
		t.Errorf("change set %s, want web repaired", res.Changes)
	}
}

// Issue 17, bug 3: an update computes its change set against what was last
// applied, not only the previous version.
func TestUpdateAfterFailedUpdateConverges(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	img := func(tag string) stack.Stack {
		s := stk("a", "app")
		s.Services[0].Image.Tag = tag
		return s
	}
	v1 := e.version("v1", stack.Deps{{img("1")}})
	v2 := e.version("v2", stack.Deps{{img("2")}, {stk("c", "boom")}})
	v3 := e.version("v3", stack.Deps{{img("1"), stk("d", "other")}})
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "x", VersionID: v1}); err != nil {
		t.Fatal(err)
	}
	e.rt.Inject(sim.Fault{Kind: sim.ExitOnStart, Deployment: "x", Stack: "c", ExitCode: 3})
	if _, err := e.ex.Update(ctx, deploy.Request{Deployment: "x", VersionID: v2, Policy: deploy.FailFast}); err == nil {
		t.Fatal("the update to v2 succeeded; its stack c exits on start")
	}
	res, err := e.ex.Update(ctx, deploy.Request{Deployment: "x", VersionID: v3})
	if err != nil {
		t.Fatal(err)
	}
	if sc := res.Changes.Stack("a"); sc == nil || sc.Action != deploy.ActionRepair || !strings.Contains(sc.Reason, "another configuration") {
		t.Errorf("a: %+v, want a repair: last applied with another configuration", sc)
	}
	if sc := res.Changes.Stack("c"); sc == nil || sc.Action != deploy.ActionRemove {
		t.Errorf("c: %+v, want removed", sc)
	}
	obs, err := e.rt.Observe(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if got := stackNamesOf(obs); !slices.Equal(got, []string{"a", "d"}) {
		t.Errorf("runtime runs %v, want [a d]", got)
	}
	if a := obs.Stack("a"); a == nil || a.Services[0].Image != "app:1" {
		t.Errorf("a runs %+v, want image app:1", a)
	}
	e.consistent("x")
	st, err := e.ex.Status(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != store.StatusAvailable || st.VersionID != v3 || st.Sync != deploy.SyncInSync {
		t.Errorf("status %s version %s sync %s, want Available %s in-sync", st.Status, st.VersionID, st.Sync, v3)
	}
}

func stackNamesOf(obs *runtime.DeploymentState) []string {
	var out []string
	for _, s := range obs.Stacks {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

// Drift made behind stackwave's back is shown by Status (health apart
// from sync) and Preview, and an update of the unchanged version repairs
// it in tier order, waiting for readiness, saying what it did.
func TestDriftIsSeenAndRepaired(t *testing.T) {
	cases := []struct {
		name   string
		change sim.Change
		reason string
		health string
		event  deploy.EventType
	}{
		{"remove", sim.Change{Kind: sim.RemoveChange}, runtime.DriftMissing, deploy.HealthDegraded, deploy.EventServiceCreated},
		{"stop", sim.Change{Kind: sim.StopChange}, runtime.DriftStopped, deploy.HealthDegraded, deploy.EventServiceUnchanged},
		{"image", sim.Change{Kind: sim.ImageChange, Image: stack.Image{Name: "app", Tag: "evil"}}, runtime.DriftImage, deploy.HealthRunning, deploy.EventServiceReplaced},
		{"scale", sim.Change{Kind: sim.ScaleChange, Instances: 3}, runtime.DriftReplicas, deploy.HealthRunning, deploy.EventServiceScaled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil, nil)
			ctx := context.Background()
			vid := e.version("v1", threeTiers())
			if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
				t.Fatal(err)
			}
			if !e.rt.Tamper("shop", "api", "server", c.change) {
				t.Fatal("Tamper found no service api/server")
			}
			st, err := e.ex.Status(ctx, "shop")
			if err != nil {
				t.Fatal(err)
			}
			if st.Status == store.StatusAvailable || st.Recorded != store.StatusAvailable || st.Sync != deploy.SyncDrifted || st.Health != c.health {
				t.Errorf("status %s (recorded %s) health %s sync %s; want not Available, health %s, drifted", st.Status, st.Recorded, st.Health, st.Sync, c.health)
			}
			api := st.Stacks[1]
			server := findSvc(api.Services, "server")
			if api.Name != "api" || api.Sync != deploy.SyncDrifted || server == nil || server.Sync != runtime.SyncDrifted || !slices.Contains(server.Drift, c.reason) {
				t.Errorf("api %+v, want server drifted: %s", api, c.reason)
			}
			for _, other := range st.Stacks {
				if other.Name != "api" && (other.Sync != deploy.SyncInSync || other.Health != deploy.HealthRunning) {
					t.Errorf("stack %s: %s %s, want running in-sync", other.Name, other.Health, other.Sync)
				}
			}
			cs, err := e.ex.Preview(ctx, "shop", vid)
			if err != nil {
				t.Fatal(err)
			}
			sc := cs.Stack("api")
			if sc.Action != deploy.ActionRepair || !strings.Contains(sc.Reason, "server: "+c.reason) {
				t.Errorf("preview %s, want api repaired for server: %s", cs, c.reason)
			}
			if add, mod, rem, rep, _ := cs.Counts(); add+mod+rem != 0 || rep != 1 {
				t.Errorf("preview %s, want one repair and nothing else", cs)
			}
			n := len(e.eventLog())
			res, err := e.ex.Update(ctx, deploy.Request{Deployment: "shop", VersionID: vid})
			if err != nil {
				t.Fatal(err)
			}
			if rep := res.Changes.Stack("api"); rep.Action != deploy.ActionRepair {
				t.Errorf("update's change set %s", res.Changes)
			}
			var types []deploy.EventType
			for _, ev := range e.eventLog()[n:] {
				if ev.Stack == "api" && (ev.Service == "server" || ev.Service == "") {
					types = append(types, ev.Type)
				}
			}
			if !slices.Contains(types, deploy.EventStackRepair) || !slices.Contains(types, c.event) || !slices.Contains(types, deploy.EventStackReady) {
				t.Errorf("events of the repair %v, want %s, %s and %s", types, deploy.EventStackRepair, c.event, deploy.EventStackReady)
			}
			if c.name == "image" && slices.Contains(types, deploy.EventServiceScaled) {
				t.Errorf("an image repair was reported as a scale: %v", types)
			}
			st, err = e.ex.Status(ctx, "shop")
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != store.StatusAvailable || st.Health != deploy.HealthRunning || st.Sync != deploy.SyncInSync {
				t.Errorf("after the repair: %s %s %s, want Available running in-sync", st.Status, st.Health, st.Sync)
			}
			// Nothing else was touched: only api was applied.
			for _, call := range e.rt.Calls() {
				if call.Op == "apply" && call.Time.After(res.Operation.StartedAt) && call.Stack != "api" {
					t.Errorf("the repair applied stack %s", call.Stack)
				}
			}
		})
	}
}

func findSvc(s []deploy.ServiceStatus, name string) *deploy.ServiceStatus {
	for i := range s {
		if s[i].Name == name {
			return &s[i]
		}
	}
	return nil
}

// Instances are listed only on request, one page at a time.
func TestStatusPagesInstances(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	deps := threeTiers()
	deps[1][0].Services[0].Instances = 3
	vid := e.version("v1", deps)
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
		t.Fatal(err)
	}
	count := func(st *deploy.Status) (n int) {
		for _, s := range st.Stacks {
			for _, svc := range s.Services {
				n += len(svc.Instances)
			}
		}
		return n
	}
	st, err := e.ex.Status(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if count(st) != 0 || st.Instances != nil {
		t.Errorf("status lists %d instances unasked", count(st))
	}
	var seen []string
	for off := 0; ; {
		st, err := e.ex.Status(ctx, "shop", deploy.WithInstances(off, 4))
		if err != nil {
			t.Fatal(err)
		}
		if st.Instances.Total != 7 || count(st) > 4 {
			t.Fatalf("page at %d: %+v with %d instances", off, st.Instances, count(st))
		}
		for _, s := range st.Stacks {
			for _, svc := range s.Services {
				for _, in := range svc.Instances {
					seen = append(seen, in.ID)
				}
			}
		}
		if st.Instances.Next == 0 {
			break
		}
		off = st.Instances.Next
	}
	if len(seen) != 7 || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != 7 {
		t.Errorf("pages listed %d instances (%v), want 7 distinct", len(seen), seen)
	}
}

// Terminate with DeleteData of a terminated deployment deletes the
// volumes the first terminate kept.
func TestDeleteDataOfTerminatedDeployment(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	db := stk("db", "mysql")
	db.Services[0].VolumeArgs = []stack.VolumeArg{{MountPath: "/var/lib/mysql", UnitType: "SSD1_10G"}}
	vid := e.version("v1", stack.Deps{{db}})
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "x", VersionID: vid}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Terminate(ctx, deploy.Request{Deployment: "x"}); err != nil {
		t.Fatal(err)
	}
	if vols, _ := e.rt.Volumes(ctx, "x"); len(vols) != 1 {
		t.Fatalf("volumes after terminate: %v, want the one kept", vols)
	}
	if _, err := e.ex.Terminate(ctx, deploy.Request{Deployment: "x"}); !errors.Is(err, deploy.ErrInvalidRequest) {
		t.Errorf("terminating a terminated deployment without DeleteData: %v, want ErrInvalidRequest", err)
	}
	if _, err := e.ex.Terminate(ctx, deploy.Request{Deployment: "x", DeleteData: true}); err != nil {
		t.Fatal(err)
	}
	if vols, _ := e.rt.Volumes(ctx, "x"); len(vols) != 0 {
		t.Errorf("volumes after terminate with DeleteData: %v, want none", vols)
	}
	if d, _ := e.st.GetDeployment(ctx, "x"); d.Status != store.StatusTerminated {
		t.Errorf("status %s, want Terminated", d.Status)
	}
}

// A rollback restores the files rendered with the variables the
// deployment had before, not the new ones.
func TestRollbackRestoresTheFilesOfBefore(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	proxy := service("proxy")
	proxy.ConfigPaths = []string{"/etc/app.conf"}
	v1 := e.version("v1", stack.Deps{{{Name: "front", Services: []stack.Service{proxy}}}})
	v2 := e.version("v2", stack.Deps{{{Name: "front", Services: []stack.Service{proxy}}}, {stk("late", "boom")}})
	tmpl := map[string]string{"/etc/app.conf": "release={{.Vars.release}}\n"}
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "x", VersionID: v1, ConfigTemplates: tmpl, Vars: map[string]string{"release": "1"}}); err != nil {
		t.Fatal(err)
	}
	hashOf := func() string {
		obs, err := e.rt.Observe(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		return obs.Stack("front").Services[0].Hash
	}
	before := hashOf()
	e.rt.Inject(sim.Fault{Kind: sim.ExitOnStart, Deployment: "x", Stack: "late"})
	res, err := e.ex.Update(ctx, deploy.Request{Deployment: "x", VersionID: v2, Policy: deploy.Rollback, Vars: map[string]string{"release": "2"}})
	var oe *deploy.OperationError
	if !errors.As(err, &oe) || !oe.RolledBack {
		t.Fatalf("update: %v, want a rolled back OperationError", err)
	}
	if sc := res.Changes.Stack("front"); sc == nil || !slices.Contains(sc.Services[0].Fields, "files /etc/app.conf") {
		t.Errorf("change set %s, want front's file changed", res.Changes)
	}
	if after := hashOf(); after != before {
		t.Errorf("after the rollback front runs configuration %s, want %s (release 1's file)", after, before)
	}
	// The record keeps the variables of what runs: status is in sync and
	// a later update of v1 changes nothing.
	st, err := e.ex.Status(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if st.Sync != deploy.SyncInSync || st.Health != deploy.HealthRunning {
		t.Errorf("after the rollback: health %s sync %s, want running in-sync", st.Health, st.Sync)
	}
	if res, err := e.ex.Update(ctx, deploy.Request{Deployment: "x", VersionID: v1}); err != nil || !res.Changes.Empty() {
		t.Errorf("update to v1 after the rollback: %v\n%s", err, res.Changes)
	}
}

// A stack that moves to another tier with an unchanged spec is applied
// again: plan says so, the runtime then reports the new tier (sim
// relabels in place: nothing is replaced), status shows it in sync, the
// same update again changes nothing, and teardown removes it in the
// order of its new tier.
func TestTierMoveIsApplied(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	v1 := e.version("v1", stack.Deps{{stk("db", "mysql"), stk("app", "web")}})
	v2 := e.version("v2", stack.Deps{{stk("db", "mysql")}, {stk("app", "web")}})
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "m", VersionID: v1}); err != nil {
		t.Fatal(err)
	}
	before := instanceIDs(t, e.rt, "m")

	want := "2 stacks: 0 to add, 1 to modify, 0 to remove, 1 unchanged\n" +
		"    db (tier 0)\n" +
		"  ~ app (tier 1): moved from tier 0 to tier 1\n"
	cs, err := e.ex.Preview(ctx, "m", v2)
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.String(); got != want {
		t.Errorf("preview:\n%s\nwant:\n%s", got, want)
	}
	res, err := e.ex.Update(ctx, deploy.Request{Deployment: "m", VersionID: v2})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Changes.String(); got != want {
		t.Errorf("update's change set:\n%s\nwant:\n%s", got, want)
	}
	obs, err := e.rt.Observe(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	if app := obs.Stack("app"); app == nil || app.Tier != 1 {
		t.Fatalf("the runtime reports app as %+v, want it in tier 1", app)
	}
	if after := instanceIDs(t, e.rt, "m"); !maps.EqualFunc(before, after, slices.Equal[[]string]) {
		t.Errorf("the move replaced instances on a runtime that relabels: before %v, after %v", before, after)
	}
	e.consistent("m")
	st, err := e.ex.Status(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != store.StatusAvailable || st.Sync != deploy.SyncInSync {
		t.Errorf("status %s sync %s, want Available in-sync", st.Status, st.Sync)
	}
	for _, s := range st.Stacks {
		if want := map[string]int{"db": 0, "app": 1}[s.Name]; s.Tier != want || s.Sync != deploy.SyncInSync {
			t.Errorf("status of %s: tier %d sync %s (%s), want tier %d in sync", s.Name, s.Tier, s.Sync, s.Reason, want)
		}
	}
	if res, err := e.ex.Update(ctx, deploy.Request{Deployment: "m", VersionID: v2}); err != nil || !res.Changes.Empty() {
		t.Errorf("the same update again: %v, changes\n%s", err, res.Changes)
	}

	if _, err := e.ex.Terminate(ctx, deploy.Request{Deployment: "m"}); err != nil {
		t.Fatal(err)
	}
	var removed []string
	for _, ev := range e.eventLog() {
		if ev.Type == deploy.EventStackRemoved {
			removed = append(removed, ev.Stack)
		}
	}
	if !slices.Equal(removed, []string{"app", "db"}) {
		t.Errorf("teardown removed %v, want [app db] (app is in the later tier)", removed)
	}
}

// A stack the runtime still holds in its old tier (a move that was
// interrupted, or applied by an earlier release) is drift: status says
// so, plan shows the repair and the reconciler makes it.
func TestTierMoveLeftUndoneIsRepaired(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	deps := stack.Deps{{stk("db", "mysql")}, {stk("app", "web")}}
	vid := e.version("v1", deps)
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "m", VersionID: vid}); err != nil {
		t.Fatal(err)
	}
	// Apply app as if it were still in tier 0.
	old := &runtime.StackSpec{Deployment: "m", ProductID: e.pid, VersionID: vid, Tier: 0, Stack: deps[1][0]}
	if err := e.rt.Apply(ctx, old, nil); err != nil {
		t.Fatal(err)
	}
	st, err := e.ex.Status(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	if st.Sync == deploy.SyncInSync {
		t.Errorf("status in sync while app runs labelled tier 0")
	}
	cs, err := e.ex.Preview(ctx, "m", vid)
	if err != nil {
		t.Fatal(err)
	}
	sc := cs.Stack("app")
	if sc == nil || sc.Action != deploy.ActionRepair || !strings.Contains(sc.Reason, "tier 0, want 1") {
		t.Fatalf("preview of the same version: %v, want app repaired for its tier", cs)
	}
	// The reconciler repairs it, once.
	r := deploy.NewReconciler(e.ex, nil)
	if res, err := r.Pass(ctx); err != nil || res.Repaired != 1 {
		t.Fatalf("reconciler pass %+v, %v; want app repaired", res, err)
	}
	obs, err := e.rt.Observe(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	if app := obs.Stack("app"); app == nil || app.Tier != 1 {
		t.Errorf("after the repair the runtime reports app as %+v, want tier 1", app)
	}
	if res, err := r.Pass(ctx); err != nil || res.Repaired != 0 || res.Checked != 1 {
		t.Errorf("second reconciler pass %+v, %v; want nothing to repair", res, err)
	}
	if res, err := e.ex.Update(ctx, deploy.Request{Deployment: "m", VersionID: vid}); err != nil || !res.Changes.Empty() {
		t.Errorf("update after the repair: %v, changes\n%s", err, res.Changes)
	}
}
