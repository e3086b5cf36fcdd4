package docker_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// These tests change deployments by hand through the engine's API and
// check that stackwave sees it (Status, Preview) and repairs it (Update of
// the unchanged version, the Reconciler), and that a later update
// converges what a failed one left behind.

// forceRemove is docker rm -f of an instance of a service.
func forceRemove(t testing.TB, cli *client.Client, rt *docker.Runtime, dep, stk, svc string) time.Time {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	obs, err := rt.Observe(ctx, dep)
	must(t, err)
	s := obs.Stack(stk)
	if s == nil || s.Service(svc) == nil || len(s.Service(svc).Instances) == 0 {
		t.Fatalf("no instance of %s/%s to remove", stk, svc)
	}
	at := time.Now()
	// Killed first, as tamper does (see there).
	kill := 0
	_, _ = cli.ContainerStop(ctx, s.Service(svc).Instances[0].ID, client.ContainerStopOptions{Timeout: &kill})
	_, err = cli.ContainerRemove(ctx, s.Service(svc).Instances[0].ID, client.ContainerRemoveOptions{Force: true})
	must(t, err)
	return at
}

func TestDriftSeenAndRepairedOnTheEngine(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, &docker.Options{ProbeBinary: probeBinary(t), BaseDomain: "kodo.test"})
	cli := rt.Client()
	cat := newCatalog(t, "kodo-double", kodoDouble(t))
	vid := cat.versions[0].ID
	ex, log := newExecutor(t, rt, cat.st)
	// Generous: the test runs beside the package's other engine tests.
	ctx := ctxT(t, 15*time.Minute)
	_, err := ex.Launch(ctx, deploy.Request{Deployment: "kodo", VersionID: vid, ConfigTemplates: kodoTemplates})
	must(t, err)

	// A changed template is a change of kodo-1's and kodo-2's files only.
	before, err := rt.Observe(ctx, "kodo")
	must(t, err)
	changed := map[string]string{"/authproxy_in/qboxauthproxy.conf": "stack = {{.Stack}}\nmysql = {{addr \"mysql-cluster\" \"mysql-1\"}}\nrelease = 2\n"}
	res, err := ex.Update(ctx, deploy.Request{Deployment: "kodo", VersionID: vid, ConfigTemplates: changed})
	must(t, err)
	if !strings.Contains(res.Changes.String(), "~ kodo-1 (tier 1, replace): authproxy-in: files /authproxy_in/qboxauthproxy.conf") {
		t.Errorf("update with a changed template:\n%s", res.Changes)
	}
	after, err := rt.Observe(ctx, "kodo")
	must(t, err)
	b, a := idsOf(before), idsOf(after)
	for name, id := range b {
		if strings.Contains(name, "authproxy") == (a[name] == id) {
			t.Errorf("%s: %s -> %s (only the authproxies' files changed)", name, id, a[name])
		}
	}

	// docker rm -f, docker stop: Status and Preview say so.
	forceRemove(t, cli, rt, "kodo", "kodo-1", "authproxy-in")
	mysql := after.Stack("mysql-cluster").Service("mysql-1").Instances[0].ID
	secs := 1
	_, err = cli.ContainerStop(ctx, mysql, client.ContainerStopOptions{Timeout: &secs})
	must(t, err)
	st, err := ex.Status(ctx, "kodo")
	must(t, err)
	if st.Status == store.StatusAvailable || st.Sync != deploy.SyncDrifted || st.Health == deploy.HealthRunning {
		t.Errorf("status %s health %s sync %s after docker rm -f and stop", st.Status, st.Health, st.Sync)
	}
	cs, err := ex.Preview(ctx, "kodo", vid)
	must(t, err)
	for stk, why := range map[string]string{"mysql-cluster": "mysql-1: stopped", "kodo-1": "authproxy-in: missing"} {
		if sc := cs.Stack(stk); sc == nil || sc.Action != deploy.ActionRepair || !strings.Contains(sc.Reason, why) {
			t.Errorf("preview of %s: %+v, want a repair: %s", stk, sc, why)
		}
	}
	// The repair goes in tier order: mysql ready before kodo-1 applies.
	n := len(log.evs)
	_, err = ex.Update(ctx, deploy.Request{Deployment: "kodo", VersionID: vid})
	must(t, err)
	log.mu.Lock()
	evs := slices.Clone(log.evs[n:])
	log.mu.Unlock()
	mysqlReady := slices.IndexFunc(evs, func(e deploy.Event) bool { return e.Type == deploy.EventStackReady && e.Stack == "mysql-cluster" })
	kodoApply := slices.IndexFunc(evs, func(e deploy.Event) bool { return e.Type == deploy.EventStackApplying && e.Stack == "kodo-1" })
	if mysqlReady < 0 || kodoApply < 0 || kodoApply < mysqlReady {
		t.Errorf("repair events out of tier order (mysql ready %d, kodo-1 applying %d)", mysqlReady, kodoApply)
	}
	st, err = ex.Status(ctx, "kodo")
	must(t, err)
	if st.Status != store.StatusAvailable || st.Sync != deploy.SyncInSync || st.Health != deploy.HealthRunning {
		t.Errorf("after the repair: %s %s %s", st.Status, st.Health, st.Sync)
	}

	// The reconciler, told by the engine's events, repairs a docker rm -f
	// without waiting for its interval.
	r := deploy.NewReconciler(ex, &deploy.ReconcilerOptions{Interval: time.Hour,
		OnError: func(name string, err error) { t.Logf("reconcile %q: %v", name, err) }})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() { cancel(); <-done }()
	ready := make(chan time.Time, 1)
	ex2 := log.watch(func(e deploy.Event) {
		if e.Type == deploy.EventStackReady && e.Stack == "kodo-2" {
			select {
			case ready <- e.Time:
			default:
			}
		}
	})
	defer ex2()
	removed := forceRemove(t, cli, rt, "kodo", "kodo-2", "authproxy-in")
	select {
	case at := <-ready:
		t.Logf("docker rm -f to repaired and ready: %v", at.Sub(removed))
	case <-time.After(5 * time.Minute): // a last guard; the aim is seconds
		t.Fatal("the reconciler did not repair a docker rm -f within 5 minutes")
	case <-ctx.Done():
		t.Fatal("the reconciler did not repair a docker rm -f")
	}
}

// Issue 17, bug 3, on the engine: a later update converges what a failed
// update left behind.
func TestUpdateAfterFailedUpdateOnTheEngine(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, &docker.Options{ProbeBinary: probeBinary(t)})
	image := img(t)
	svc := func(name string, env ...string) stack.Service {
		return stack.Service{Name: name, UnitType: "1U1G", Image: image,
			Envs:      append([]string{"TESTAPP_SERVICE=" + name, "TESTAPP_TCP=8080"}, env...),
			Readiness: &stack.Probe{Type: stack.ProbeTCP, Port: 8080, Period: stack.Duration(200 * time.Millisecond)}}
	}
	v1 := stack.Deps{{{Name: "a", Services: []stack.Service{svc("app")}}}}
	v2 := stack.Deps{{{Name: "a", Services: []stack.Service{svc("app", "RELEASE=2")}}}, {{Name: "c", Services: []stack.Service{svc("boom", "TESTAPP_EXIT_AFTER=0s", "TESTAPP_EXIT_CODE=3")}}}}
	v3 := stack.Deps{{{Name: "a", Services: []stack.Service{svc("app")}}, {Name: "d", Services: []stack.Service{svc("other")}}}}
	cat := newCatalog(t, "bug3", v1, v2, v3)
	ex, _ := newExecutor(t, rt, cat.st)
	ctx := ctxT(t, 5*time.Minute)
	_, err := ex.Launch(ctx, deploy.Request{Deployment: "x", VersionID: cat.versions[0].ID})
	must(t, err)
	if _, err := ex.Update(ctx, deploy.Request{Deployment: "x", VersionID: cat.versions[1].ID, Policy: deploy.FailFast}); err == nil {
		t.Fatal("the update to v2 succeeded; its stack c exits")
	}
	res, err := ex.Update(ctx, deploy.Request{Deployment: "x", VersionID: cat.versions[2].ID})
	must(t, err)
	t.Logf("change set of the update to v3:\n%s", res.Changes)
	obs, err := rt.Observe(ctx, "x")
	must(t, err)
	var names []string
	for _, s := range obs.Stacks {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"a", "d"}) {
		t.Errorf("the engine runs stacks %v, want [a d]", names)
	}
	spec := &runtime.StackSpec{Deployment: "x", Stack: v3[0][0]}
	if d := runtime.Compare(spec, obs.Stack("a")); !runtime.InSync(d) {
		t.Errorf("a runs another configuration than v3's: %v", d)
	}
	st, err := ex.Status(ctx, "x")
	must(t, err)
	if st.Status != store.StatusAvailable || st.Sync != deploy.SyncInSync || st.VersionID != cat.versions[2].ID {
		t.Errorf("status %s sync %s version %s", st.Status, st.Sync, st.VersionID)
	}
}

// A stack that moves to another tier unchanged is applied again on the
// engine: container labels cannot change, so plan says its containers
// are replaced, the update replaces them (start first) with containers
// of the new tier, and the other stack is left alone.
func TestTierMoveOnTheEngine(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, &docker.Options{ProbeBinary: probeBinary(t)})
	image := img(t)
	svc := func(name string) stack.Service {
		return stack.Service{Name: name, UnitType: "1U1G", Image: image,
			Envs:      []string{"TESTAPP_SERVICE=" + name, "TESTAPP_TCP=8080"},
			Readiness: &stack.Probe{Type: stack.ProbeTCP, Port: 8080, Period: stack.Duration(200 * time.Millisecond)}}
	}
	a := stack.Stack{Name: "a", Services: []stack.Service{svc("db")}}
	b := stack.Stack{Name: "b", Services: []stack.Service{svc("web")}}
	cat := newCatalog(t, "tiermove", stack.Deps{{a, b}}, stack.Deps{{a}, {b}})
	ex, _ := newExecutor(t, rt, cat.st)
	ctx := ctxT(t, 5*time.Minute)
	_, err := ex.Launch(ctx, deploy.Request{Deployment: "x", VersionID: cat.versions[0].ID})
	must(t, err)
	ids := func() map[string]string {
		obs, err := rt.Observe(ctx, "x")
		must(t, err)
		out := map[string]string{}
		for _, s := range obs.Stacks {
			for _, sv := range s.Services {
				for _, in := range sv.Instances {
					out[s.Name] += in.ID + " "
				}
			}
		}
		return out
	}
	before := ids()

	want := "2 stacks: 0 to add, 1 to modify, 0 to remove, 1 unchanged\n" +
		"    a (tier 0)\n" +
		"  ~ b (tier 1, replace): moved from tier 0 to tier 1\n"
	cs, err := ex.Preview(ctx, "x", cat.versions[1].ID)
	must(t, err)
	if got := cs.String(); got != want {
		t.Errorf("preview:\n%s\nwant:\n%s", got, want)
	}
	res, err := ex.Update(ctx, deploy.Request{Deployment: "x", VersionID: cat.versions[1].ID})
	must(t, err)
	if got := res.Changes.String(); got != want {
		t.Errorf("update's change set:\n%s\nwant:\n%s", got, want)
	}
	obs, err := rt.Observe(ctx, "x")
	must(t, err)
	for name, tier := range map[string]int{"a": 0, "b": 1} {
		if s := obs.Stack(name); s == nil || s.Tier != tier {
			t.Errorf("the engine reports stack %s as %+v, want tier %d", name, s, tier)
		}
	}
	after := ids()
	if after["a"] != before["a"] {
		t.Errorf("stack a was touched: %s, now %s", before["a"], after["a"])
	}
	if after["b"] == before["b"] {
		t.Errorf("stack b kept containers %s labelled with its old tier", after["b"])
	}
	st, err := ex.Status(ctx, "x")
	must(t, err)
	if st.Status != store.StatusAvailable || st.Sync != deploy.SyncInSync {
		t.Errorf("status %s sync %s, want Available in-sync", st.Status, st.Sync)
	}
	res, err = ex.Update(ctx, deploy.Request{Deployment: "x", VersionID: cat.versions[1].ID})
	must(t, err)
	if !res.Changes.Empty() {
		t.Errorf("the same update again changes:\n%s", res.Changes)
	}
}
