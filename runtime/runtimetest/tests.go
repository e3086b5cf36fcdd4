package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// timeBound is how long the suite waits for a timeout it set itself to
// fire: short, since a never-ready service only has to outlast it.
const timeBound = 300 * time.Millisecond

func testApplyWaitObserve(e *env) {
	t := e.t
	const readyAfter = 200 * time.Millisecond
	web := e.service("app", "web", Behavior{ReadyAfter: readyAfter, Ports: []int{8080}})
	web.AccessPoints = []stack.AccessPoint{{Type: stack.AccessDomain, BackendPorts: []int{8080}}}
	db := e.service("app", "db", Behavior{Ports: []int{5432}})
	db.AccessPoints = []stack.AccessPoint{{Type: stack.AccessInternalIP, BackendPorts: []int{5432}}}
	cache := e.service("app", "cache", Behavior{Ports: []int{6379}})
	cache.AccessPoints = []stack.AccessPoint{{Type: stack.AccessPublicIP, BackendPorts: []int{6379}}}
	spec := e.spec("app", 1, web, db, cache)

	start := time.Now()
	e.apply(e.rt, spec)
	e.wait(e.rt, spec)
	if took := time.Since(start); took < readyAfter {
		t.Errorf("Apply and Wait took %v; web becomes ready only after %v", took, readyAfter)
	}

	ds := e.observe(e.rt, e.dep)
	if ds.Deployment != e.dep {
		t.Errorf("Observe reports deployment %q, want %q", ds.Deployment, e.dep)
	}
	if len(ds.Stacks) != 1 || ds.Stacks[0].Name != "app" {
		t.Fatalf("Observe reports stacks %v, want [app]", stackNames(ds))
	}
	if s := ds.Status(); s != runtime.StatusRunning {
		t.Errorf("deployment status %s, want %s", s, runtime.StatusRunning)
	}
	st := &ds.Stacks[0]
	if st.Tier != 1 || st.ProductID != spec.ProductID || st.VersionID != spec.VersionID {
		t.Errorf("stack tier %d product %q version %q, want 1 %q %q", st.Tier, st.ProductID, st.VersionID, spec.ProductID, spec.VersionID)
	}
	if st.Stopped {
		t.Error("stack reported stopped")
	}
	var names []string
	for _, svc := range st.Services {
		names = append(names, svc.Name)
	}
	if !slices.Equal(names, []string{"cache", "db", "web"}) {
		t.Fatalf("services %v, want [cache db web] (sorted by name)", names)
	}
	instNames, ids := map[string]bool{}, map[string]bool{}
	for i := range spec.Stack.Services {
		want := &spec.Stack.Services[i]
		svc := st.Service(want.Name)
		if h := runtime.ServiceHash(spec, want); svc.Hash != h {
			t.Errorf("service %s hash %q, want runtime.ServiceHash %q", svc.Name, svc.Hash, h)
		}
		if svc.Desired != 1 || len(svc.Instances) != 1 {
			t.Errorf("service %s: desired %d, %d instances; want 1 and 1", svc.Name, svc.Desired, len(svc.Instances))
		}
		if s := svc.Status(); s != runtime.StatusRunning {
			t.Errorf("service %s status %s, want %s", svc.Name, s, runtime.StatusRunning)
		}
		for _, in := range svc.Instances {
			if !in.Running || !in.Ready {
				t.Errorf("instance %s of %s: running %v ready %v, want both", in.Name, svc.Name, in.Running, in.Ready)
			}
			if in.Name == "" || in.ID == "" || in.StartedAt.IsZero() {
				t.Errorf("instance of %s lacks a name, ID or start time: %+v", svc.Name, in)
			}
			if instNames[in.Name] || ids[in.ID] {
				t.Errorf("instance name %q or ID %q is not unique", in.Name, in.ID)
			}
			instNames[in.Name], ids[in.ID] = true, true
		}
	}

	checkEndpoint(e, st.Service("web"), stack.AccessDomain, 8080, "web.app."+e.dep+".")
	checkEndpoint(e, st.Service("db"), stack.AccessInternalIP, 5432, "")
	checkEndpoint(e, st.Service("cache"), stack.AccessPublicIP, 6379, "")
}

func checkEndpoint(e *env, svc *runtime.ServiceState, typ string, port int, hostPrefix string) {
	e.t.Helper()
	for _, ep := range svc.Endpoints {
		if ep.Type != typ || ep.BackendPort != port {
			continue
		}
		if hostPrefix != "" && !strings.HasPrefix(ep.Host, hostPrefix) {
			e.t.Errorf("service %s: %s endpoint host %q, want %s<base domain>", svc.Name, typ, ep.Host, hostPrefix)
		}
		return
	}
	e.t.Errorf("service %s: no %s endpoint for port %d in %+v", svc.Name, typ, port, svc.Endpoints)
}

func stackNames(ds *runtime.DeploymentState) []string {
	var names []string
	for _, st := range ds.Stacks {
		names = append(names, st.Name)
	}
	return names
}

func testObserveOrder(e *env) {
	for _, s := range []struct {
		name string
		tier int
	}{{"zeta", 0}, {"alpha", 1}, {"mid", 0}} {
		e.launch(e.spec(s.name, s.tier, e.service(s.name, "web", Behavior{})))
	}
	want := []string{"mid", "zeta", "alpha"}
	for range 2 {
		if got := stackNames(e.observe(e.rt, e.dep)); !slices.Equal(got, want) {
			e.t.Errorf("Observe lists stacks %v, want %v (by tier, then name)", got, want)
		}
	}
	if ds := e.observe(e.rt, e.h.Deployment(e.t)); len(ds.Stacks) != 0 {
		e.t.Errorf("Observe of an unused deployment reports stacks %v, want none", stackNames(ds))
	}
}

func testIdempotent(e *env) {
	t := e.t
	web := e.service("app", "web", Behavior{})
	web.Instances = 2
	db := e.service("app", "db", Behavior{})
	spec := e.spec("app", 0, web, db)
	e.launch(spec)
	before := e.observeStack("app")

	events := e.apply(e.rt, spec)
	for _, name := range []string{"web", "db"} {
		types := eventsOf(events, name)
		if len(types) == 0 || slices.ContainsFunc(types, func(typ runtime.EventType) bool { return typ != runtime.EventServiceUnchanged }) {
			t.Errorf("second Apply reported for %s %v, want only %s; events:%s", name, types, runtime.EventServiceUnchanged, formatEvents(events))
		}
	}
	e.wait(e.rt, spec)
	after := e.observeStack("app")
	for _, name := range []string{"web", "db"} {
		b, a := before.Service(name), after.Service(name)
		if a == nil {
			t.Fatalf("service %s is gone after the second Apply", name)
		}
		if d := sameInstances(b, a); d != "" {
			t.Errorf("second Apply of an unchanged spec touched %s: %s", name, d)
		}
		if a.Hash != b.Hash {
			t.Errorf("service %s hash changed from %s to %s", name, b.Hash, a.Hash)
		}
	}
}

func testReplaceChanged(e *env) {
	t := e.t
	web := e.service("app", "web", Behavior{})
	db := e.service("app", "db", Behavior{})
	spec := e.spec("app", 0, web, db)
	e.launch(spec)
	before := e.observeStack("app")

	web2 := web
	web2.Envs = append(slices.Clip(web.Envs), "RUNTIMETEST_REVISION=2")
	spec2 := e.spec("app", 0, web2, db)
	events := e.apply(e.rt, spec2)
	if types := eventsOf(events, "web"); !slices.Contains(types, runtime.EventServiceReplaced) {
		t.Errorf("Apply of a changed web reported %v for it, want %s; events:%s", types, runtime.EventServiceReplaced, formatEvents(events))
	}
	if types := eventsOf(events, "db"); slices.ContainsFunc(types, func(typ runtime.EventType) bool { return typ != runtime.EventServiceUnchanged }) {
		t.Errorf("Apply reported %v for the unchanged db, want only %s", types, runtime.EventServiceUnchanged)
	}
	e.wait(e.rt, spec2)
	after := e.observeStack("app")

	if d := sameInstances(before.Service("db"), after.Service("db")); d != "" {
		t.Errorf("replacing web touched db: %s", d)
	}
	bw, aw := before.Service("web"), after.Service("web")
	if aw == nil {
		t.Fatal("web is gone after its replacement")
	}
	if want := runtime.ServiceHash(spec2, &spec2.Stack.Services[0]); aw.Hash != want || aw.Hash == bw.Hash {
		t.Errorf("replaced web has hash %s (was %s), want %s", aw.Hash, bw.Hash, want)
	}
	old := instancesByID(bw)
	for _, in := range aw.Instances {
		if _, kept := old[in.ID]; kept {
			t.Errorf("instance %s (%s) of the changed web was kept, want it replaced", in.Name, in.ID)
		}
		if !in.Running || !in.Ready {
			t.Errorf("new instance %s: running %v ready %v", in.Name, in.Running, in.Ready)
		}
	}
}

func testScale(e *env) {
	t := e.t
	web := e.service("app", "web", Behavior{})
	spec := e.spec("app", 0, web)
	e.launch(spec)
	first := e.observeService("app", "web")
	if len(first.Instances) != 1 {
		t.Fatalf("web has %d instances, want 1", len(first.Instances))
	}
	orig := first.Instances[0]

	spec.Stack.Services[0].Instances = 3
	events := e.apply(e.rt, spec)
	if types := eventsOf(events, "web"); !slices.Contains(types, runtime.EventServiceScaled) {
		t.Errorf("scaling web to 3 reported %v, want %s", types, runtime.EventServiceScaled)
	}
	e.wait(e.rt, spec)
	up := e.observeService("app", "web")
	if up.Desired != 3 || len(up.Instances) != 3 || up.Ready() != 3 {
		t.Errorf("after scaling to 3: desired %d, %d instances, %d ready", up.Desired, len(up.Instances), up.Ready())
	}
	if in, ok := instancesByID(up)[orig.ID]; !ok || !in.StartedAt.Equal(orig.StartedAt) {
		t.Errorf("scaling up replaced or restarted the first instance %s (%s)", orig.Name, orig.ID)
	}
	if up.Hash != first.Hash {
		t.Errorf("scaling changed the hash from %s to %s", first.Hash, up.Hash)
	}

	spec.Stack.Services[0].Instances = 1
	e.apply(e.rt, spec)
	e.wait(e.rt, spec)
	down := e.observeService("app", "web")
	if down.Desired != 1 || len(down.Instances) != 1 {
		t.Fatalf("after scaling to 1: desired %d, %d instances", down.Desired, len(down.Instances))
	}
	if in := down.Instances[0]; in.ID != orig.ID || !in.StartedAt.Equal(orig.StartedAt) {
		t.Errorf("scaling down kept %s (%s), want the first instance %s (%s) untouched", in.Name, in.ID, orig.Name, orig.ID)
	}
}

func testDropService(e *env) {
	t := e.t
	web := e.service("app", "web", Behavior{})
	db := e.service("app", "db", Behavior{})
	e.launch(e.spec("app", 0, web, db))
	before := e.observeService("app", "web")

	spec := e.spec("app", 0, web)
	events := e.apply(e.rt, spec)
	if types := eventsOf(events, "db"); !slices.Contains(types, runtime.EventServiceRemoved) {
		t.Errorf("dropping db reported %v for it, want %s; events:%s", types, runtime.EventServiceRemoved, formatEvents(events))
	}
	e.wait(e.rt, spec)
	st := e.observeStack("app")
	if st.Service("db") != nil {
		t.Error("db is still observed after it was dropped from the spec")
	}
	if after := st.Service("web"); after == nil {
		t.Error("web is gone")
	} else if d := sameInstances(before, after); d != "" {
		t.Errorf("dropping db touched web: %s", d)
	}
}

// testExit checks that a service exiting exitAfter after it starts fails
// Wait at once, while another service that never becomes ready would
// otherwise keep it waiting until the timeout.
func testExit(e *env, exitAfter time.Duration) {
	t := e.t
	bad := e.service("app", "bad", Behavior{Exit: true, ExitAfter: exitAfter, ExitCode: 3})
	slow := e.service("app", "slow", Behavior{NeverReady: true})
	spec := e.spec("app", 0, bad, slow)
	e.apply(e.rt, spec)

	start := time.Now()
	events, err := e.tryWait(e.rt, spec)
	took := time.Since(start)
	if took > e.h.Timeout/2 {
		t.Errorf("Wait took %v to notice an exited service; it must fail at once, not wait out the %v timeout", took, e.h.Timeout)
	}
	se := e.serviceError(err, runtime.ErrFailed, "app", "bad")
	if !e.h.NoExitCode && se.ExitCode != 3 {
		t.Errorf("ServiceError exit code %d, want 3", se.ExitCode)
	}
	if !e.h.NoLogs && len(se.Logs) == 0 {
		t.Error("ServiceError carries no log lines")
	}
	if se.Reason == "" {
		t.Error("ServiceError has no reason")
	}
	if types := eventsOf(events, "bad"); !slices.Contains(types, runtime.EventServiceFailed) {
		t.Errorf("Wait reported %v for the exited service, want %s", types, runtime.EventServiceFailed)
	}
	if svc := e.observeService("app", "bad"); svc.Running() != 0 {
		t.Errorf("Observe reports %d running instances of the exited service", svc.Running())
	}
}

func testNeverReady(e *env) {
	t := e.t
	slow := e.service("app", "slow", Behavior{NeverReady: true})
	spec := e.spec("app", 0, slow)
	spec.ReadyTimeout = timeBound
	e.apply(e.rt, spec)

	start := time.Now()
	events, err := e.tryWait(e.rt, spec)
	took := time.Since(start)
	se := e.serviceError(err, runtime.ErrNotReady, "app", "slow")
	if took < timeBound {
		t.Errorf("Wait gave up after %v, before the ReadyTimeout of %v", took, timeBound)
	}
	if took > timeBound+e.h.Timeout/2 {
		t.Errorf("Wait took %v, long after the ReadyTimeout of %v", took, timeBound)
	}
	if se.Reason == "" {
		t.Error("ServiceError has no reason")
	}
	if types := eventsOf(events, "slow"); !slices.Contains(types, runtime.EventServiceWaiting) {
		t.Errorf("Wait reported %v for the slow service, want %s", types, runtime.EventServiceWaiting)
	}
	// Back-ends that start instances asynchronously (Kubernetes) may not
	// show the instance running yet when the short ReadyTimeout passes:
	// it must run soon, and never be ready.
	deadline := time.Now().Add(e.h.Timeout)
	for {
		svc := e.observeService("app", "slow")
		if svc.Ready() != 0 {
			t.Fatalf("never-ready service: %d ready instances", svc.Ready())
		}
		if svc.Running() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never-ready service: %d running instances after %v, want 1", svc.Running(), e.h.Timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testProbeTimeout checks that a probe's own timeout bounds Wait ahead
// of the spec's.
func testProbeTimeout(e *env) {
	t := e.t
	slow := e.service("app", "slow", Behavior{NeverReady: true})
	if slow.Readiness == nil {
		slow.Readiness = &stack.Probe{Type: stack.ProbeRunning}
	} else {
		p := *slow.Readiness
		slow.Readiness = &p
	}
	slow.Readiness.Timeout = stack.Duration(timeBound)
	spec := e.spec("app", 0, slow)
	e.apply(e.rt, spec)

	start := time.Now()
	_, err := e.tryWait(e.rt, spec)
	took := time.Since(start)
	e.serviceError(err, runtime.ErrNotReady, "app", "slow")
	if took < timeBound || took > timeBound+e.h.Timeout/2 {
		t.Errorf("Wait failed after %v, want soon after the probe timeout of %v", took, timeBound)
	}
}

func testRemove(e *env) {
	t := e.t
	spec := e.spec("app", 0, e.service("app", "web", Behavior{}))
	e.launch(spec)
	other := e.spec("other", 0, e.service("other", "web", Behavior{}))
	e.launch(other)

	e.remove(e.rt, spec.Ref(), runtime.RemoveOptions{})
	ds := e.observe(e.rt, e.dep)
	if ds.Stack("app") != nil {
		t.Error("the removed stack is still observed")
	}
	if ds.Stack("other") == nil {
		t.Error("removing app removed the other stack too")
	}
	e.remove(e.rt, spec.Ref(), runtime.RemoveOptions{})
	e.remove(e.rt, e.ref("never-created"), runtime.RemoveOptions{DeleteData: true})

	_, err := e.tryWait(e.rt, spec)
	if err == nil || !errors.Is(runtime.MapError(e.rt, err), runtime.ErrNotFound) {
		t.Errorf("Wait for a removed stack: %v, want an error matching runtime.ErrNotFound", err)
	}

	e.remove(e.rt, other.Ref(), runtime.RemoveOptions{DeleteData: true})
	if ds := e.observe(e.rt, e.dep); len(ds.Stacks) != 0 {
		t.Errorf("after removing every stack Observe reports %v", stackNames(ds))
	}
}

func testVolumes(e *env) {
	t := e.t
	vl := capability[runtime.VolumeLister](e, runtime.CapVolumeLister)
	volumes := func(stackName string) []runtime.VolumeState {
		t.Helper()
		ctx, cancel := e.ctx()
		defer cancel()
		all, err := vl.Volumes(ctx, e.dep)
		if err != nil {
			t.Fatalf("Volumes %s: %v", e.dep, err)
		}
		var out []runtime.VolumeState
		for _, v := range all {
			if v.Stack == stackName {
				out = append(out, v)
			}
		}
		return out
	}
	volNames := func(vs []runtime.VolumeState) []string {
		var names []string
		for _, v := range vs {
			names = append(names, v.Name)
		}
		return names
	}

	db := e.service("data", "db", Behavior{})
	db.VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}
	web := e.service("data", "web", Behavior{})
	spec := e.spec("data", 0, db, web)
	e.launch(spec)

	vs := volumes("data")
	if len(vs) != 1 {
		t.Fatalf("Volumes lists %d volumes of stack data, want 1: %+v", len(vs), vs)
	}
	if v := vs[0]; v.Name == "" || v.Service != "db" || v.MountPath != "/data" {
		t.Errorf("volume %+v, want a named volume of db at /data", v)
	} else if v.SizeBytes != 0 && v.SizeBytes != 10<<30 {
		t.Errorf("volume size %d, want 10 GiB", v.SizeBytes)
	}

	e.remove(e.rt, spec.Ref(), runtime.RemoveOptions{})
	if e.observe(e.rt, e.dep).Stack("data") != nil {
		t.Error("the removed stack is still observed")
	}
	kept := volumes("data")
	if !slices.Equal(volNames(kept), volNames(vs)) {
		t.Errorf("after Remove without DeleteData the volumes are %v, want %v kept", volNames(kept), volNames(vs))
	}

	e.launch(spec)
	if again := volumes("data"); !slices.Equal(volNames(again), volNames(vs)) {
		t.Errorf("applying the stack again gives volumes %v, want the kept %v", volNames(again), volNames(vs))
	}

	e.remove(e.rt, spec.Ref(), runtime.RemoveOptions{DeleteData: true})
	if left := volumes("data"); len(left) != 0 {
		t.Errorf("Remove with DeleteData left volumes %v", volNames(left))
	}

	// DeleteData also deletes what an earlier Remove kept.
	e.launch(spec)
	e.remove(e.rt, spec.Ref(), runtime.RemoveOptions{})
	e.remove(e.rt, spec.Ref(), runtime.RemoveOptions{DeleteData: true})
	if left := volumes("data"); len(left) != 0 {
		t.Errorf("Remove with DeleteData of a removed stack left its kept volumes %v", volNames(left))
	}
}

func testNewRuntime(e *env) {
	t := e.t
	web := e.service("app", "web", Behavior{Ports: []int{8080}})
	web.AccessPoints = []stack.AccessPoint{{Type: stack.AccessPublicIP, BackendPorts: []int{8080}}}
	web.Instances = 2
	spec := e.spec("app", 0, web, e.service("app", "db", Behavior{}))
	e.launch(spec)
	first := e.observe(e.rt, e.dep)

	rt2 := e.h.NewRuntime(t)
	e.checkCapabilities(rt2)
	second := e.observe(rt2, e.dep)
	if d := diffState(first, second); d != "" {
		t.Errorf("a new runtime observes another state than the one that applied: %s", d)
	}
	events := e.apply(rt2, spec)
	for _, ev := range events {
		if ev.Type != runtime.EventServiceUnchanged {
			t.Errorf("the new runtime's Apply of the same spec reported %s for %s, want only %s", ev.Type, ev.Service, runtime.EventServiceUnchanged)
		}
	}
	e.wait(rt2, spec)
	e.remove(rt2, spec.Ref(), runtime.RemoveOptions{DeleteData: true})
	if e.observe(e.rt, e.dep).Stack("app") != nil {
		t.Error("the first runtime still observes the stack the new one removed")
	}
}

// diffState describes the first difference between two observations, or
// returns "".
func diffState(a, b *runtime.DeploymentState) string {
	if !slices.Equal(stackNames(a), stackNames(b)) {
		return fmt.Sprintf("stacks %v and %v", stackNames(a), stackNames(b))
	}
	for i := range a.Stacks {
		sa, sb := &a.Stacks[i], &b.Stacks[i]
		if sa.Tier != sb.Tier || sa.ProductID != sb.ProductID || sa.VersionID != sb.VersionID || sa.Stopped != sb.Stopped || len(sa.Services) != len(sb.Services) {
			return fmt.Sprintf("stack %s: %+v and %+v", sa.Name, *sa, *sb)
		}
		for j := range sa.Services {
			va, vb := &sa.Services[j], &sb.Services[j]
			if va.Name != vb.Name || va.Hash != vb.Hash || va.Desired != vb.Desired || !slices.Equal(va.Endpoints, vb.Endpoints) {
				return fmt.Sprintf("service %s/%s: %+v and %+v", sa.Name, va.Name, *va, *vb)
			}
			if d := sameInstances(va, vb); d != "" {
				return fmt.Sprintf("service %s/%s: %s", sa.Name, va.Name, d)
			}
		}
	}
	return ""
}

func testEvents(e *env) {
	t := e.t
	spec := e.spec("app", 0, e.service("app", "web", Behavior{ReadyAfter: 100 * time.Millisecond}), e.service("app", "db", Behavior{}))
	applied := e.apply(e.rt, spec)
	waited := e.wait(e.rt, spec)
	for _, name := range []string{"web", "db"} {
		if types := eventsOf(applied, name); !slices.Contains(types, runtime.EventServiceCreated) {
			t.Errorf("Apply reported %v for %s, want %s", types, name, runtime.EventServiceCreated)
		}
		if types := eventsOf(waited, name); !slices.Contains(types, runtime.EventServiceReady) {
			t.Errorf("Wait reported %v for %s, want %s", types, name, runtime.EventServiceReady)
		}
	}
	for _, ev := range slices.Concat(applied, waited) {
		if ev.Stack != "app" || ev.Time.IsZero() {
			t.Errorf("event %+v lacks its stack or time", ev)
		}
		if ev.Type == runtime.EventServiceFailed || ev.Type == runtime.EventServiceRemoved || ev.Type == runtime.EventServiceReplaced {
			t.Errorf("unexpected event %s for %s: %s", ev.Type, ev.Service, ev.Message)
		}
	}
}

func testIsolation(e *env) {
	t := e.t
	b := newEnv(t, e.h) // a second deployment, on a runtime of its own
	specA := e.spec("app", 0, e.service("app", "web", Behavior{}))
	specB := b.spec("app", 0, b.service("app", "web", Behavior{}))
	e.launch(specA)
	b.launch(specB)

	beforeB := b.observeService("app", "web")
	a := e.observeService("app", "web")
	for _, in := range a.Instances {
		for _, other := range beforeB.Instances {
			if in.ID == other.ID || in.Name == other.Name {
				t.Errorf("deployments %s and %s share an instance name or ID: %s (%s) and %s (%s)", e.dep, b.dep, in.Name, in.ID, other.Name, other.ID)
			}
		}
	}

	e.remove(e.rt, specA.Ref(), runtime.RemoveOptions{DeleteData: true})
	if len(e.observe(e.rt, e.dep).Stacks) != 0 {
		t.Errorf("deployment %s still has stacks", e.dep)
	}
	afterB := b.observeService("app", "web")
	if d := sameInstances(beforeB, afterB); d != "" {
		t.Errorf("removing %s's stack touched %s: %s", e.dep, b.dep, d)
	}
	if afterB.Status() != runtime.StatusRunning {
		t.Errorf("%s's service is %s after %s's stack was removed", b.dep, afterB.Status(), e.dep)
	}
}

func testInitScripts(e *env) {
	t := e.t
	ok := e.spec("init-ok", 0, e.service("init-ok", "web", Behavior{}))
	ok.Stack.InitScripts = []stack.InitScript{e.h.InitScript(t, ok.Ref(), "web", 0)}
	e.launch(ok)
	rec := e.recorder("RunInit " + ok.Ref().String())
	ctx, cancel := e.ctx()
	defer cancel()
	err := e.rt.RunInit(ctx, ok, 0, rec.report)
	events := rec.close()
	if err != nil {
		t.Errorf("RunInit of a succeeding script: %v", err)
	}
	if types := eventsOf(events, "web"); !slices.Contains(types, runtime.EventInitScript) {
		t.Errorf("RunInit reported %v, want %s", types, runtime.EventInitScript)
	}

	bad := e.spec("init-bad", 0, e.service("init-bad", "web", Behavior{}))
	bad.Stack.InitScripts = []stack.InitScript{e.h.InitScript(t, bad.Ref(), "web", 3)}
	e.launch(bad)
	err = e.rt.RunInit(ctx, bad, 0, nil)
	se := e.serviceError(err, runtime.ErrFailed, "init-bad", "web")
	if !e.h.NoExitCode && se.ExitCode != 3 {
		t.Errorf("failed init script: exit code %d, want 3", se.ExitCode)
	}
}

func testLifecycle(e *env) {
	t := e.t
	lc := capability[runtime.Lifecycle](e, runtime.CapLifecycle)
	spec := e.spec("app", 0, e.service("app", "web", Behavior{}), e.service("app", "db", Behavior{}))
	e.launch(spec)
	running := e.observeStack("app")
	ctx, cancel := e.ctx()
	defer cancel()

	if err := lc.Stop(ctx, spec.Ref()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	stopped := e.observeStack("app")
	if !stopped.Stopped || stopped.Status() != runtime.StatusNotRunning {
		t.Errorf("after Stop the stack is stopped=%v %s, want stopped and %s", stopped.Stopped, stopped.Status(), runtime.StatusNotRunning)
	}
	if h := stopped.Service("web"); h == nil || h.Hash != running.Service("web").Hash {
		t.Error("Stop lost the service or its hash")
	}

	if err := lc.Start(ctx, spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	e.wait(e.rt, spec)
	started := e.observeStack("app")
	if started.Stopped || started.Status() != runtime.StatusRunning {
		t.Errorf("after Start the stack is stopped=%v %s, want running", started.Stopped, started.Status())
	}
	checkRestarted(e, "Start", running, started)

	if err := lc.Restart(ctx, spec); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	e.wait(e.rt, spec)
	restarted := e.observeStack("app")
	if restarted.Status() != runtime.StatusRunning {
		t.Errorf("after Restart the stack is %s, want running", restarted.Status())
	}
	checkRestarted(e, "Restart", started, restarted)
}

// checkRestarted checks that every instance of after is a new run: a new
// instance, or the same one started later.
func checkRestarted(e *env, op string, before, after *runtime.StackState) {
	e.t.Helper()
	for _, svc := range after.Services {
		prev := before.Service(svc.Name)
		if prev == nil {
			e.t.Errorf("%s: service %s appeared", op, svc.Name)
			continue
		}
		old := instancesByID(prev)
		for _, in := range svc.Instances {
			if p, ok := old[in.ID]; ok && !in.StartedAt.After(p.StartedAt) {
				e.t.Errorf("%s did not restart %s (%s): started at %v as before", op, in.Name, in.ID, in.StartedAt)
			}
		}
	}
}

func testCancel(e *env) {
	t := e.t
	spec := e.spec("app", 0, e.service("app", "slow", Behavior{NeverReady: true}))
	cancelled, cancel := context.WithCancel(e.t.Context())
	cancel()
	e.track(spec.Ref())
	if err := e.rt.Apply(cancelled, spec, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a cancelled context: %v, want an error wrapping context.Canceled", err)
	}
	e.apply(e.rt, spec)

	const after = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(e.t.Context())
	defer cancel()
	timer := time.AfterFunc(after, cancel)
	defer timer.Stop()
	start := time.Now()
	err := e.rt.Wait(ctx, spec, nil)
	took := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Wait cancelled: %v, want an error wrapping context.Canceled", err)
	}
	if prompt := after + max(e.h.Timeout/10, 500*time.Millisecond); took > prompt {
		t.Errorf("Wait returned %v after it started, cancelled after %v; want it within %v", took, after, prompt)
	}
}

// testTierMove applies a stack again, unchanged but in another tier: the
// runtime must then report the new tier (teardown order, status and
// drift read it), judge the stack in sync with the moved spec, and
// drifted (runtime.DriftTier) against the old one. A runtime that
// relabels in place (runtime.TierRelabeler) keeps the instances.
func testTierMove(e *env) {
	t := e.t
	web := e.service("app", "web", Behavior{})
	db := e.service("app", "db", Behavior{})
	spec := e.spec("app", 0, web, db)
	e.launch(spec)
	before := e.observeStack("app")
	if before.Tier != 0 {
		t.Fatalf("Observe reports tier %d after an Apply in tier 0", before.Tier)
	}

	moved := e.spec("app", 1, web, db)
	e.apply(e.rt, moved)
	e.wait(e.rt, moved)
	after := e.observeStack("app")
	if after.Tier != 1 {
		t.Errorf("Observe reports tier %d after the stack moved to tier 1", after.Tier)
	}
	if d := runtime.Compare(moved, after); !runtime.InSync(d) {
		t.Errorf("moved stack is not in sync with its spec: %v", d)
	}
	if runtime.InSyncHashed(moved, nil, after) != runtime.InSync(runtime.Compare(moved, after)) {
		t.Error("InSyncHashed and Compare disagree on the moved stack")
	}
	for _, d := range runtime.Compare(spec, after) {
		if !slices.Contains(d.Reasons, runtime.DriftTier) {
			t.Errorf("against the spec of tier 0, %s reports %v, want %s", d.Service, d.Reasons, runtime.DriftTier)
		}
	}
	if runtime.RelabelsTier(e.rt) {
		for _, name := range []string{"web", "db"} {
			if d := sameInstances(before.Service(name), after.Service(name)); d != "" {
				t.Errorf("runtime relabels tier moves in place, but the move touched %s: %s", name, d)
			}
		}
	}
	for _, name := range []string{"web", "db"} {
		s := after.Service(name)
		if s == nil {
			t.Fatalf("service %s is gone after the move", name)
		}
		for _, in := range s.Instances {
			if !in.Running || !in.Ready {
				t.Errorf("instance %s after the move: running %v ready %v", in.Name, in.Running, in.Ready)
			}
		}
	}

	// The next Apply of the moved spec changes nothing.
	events := e.apply(e.rt, moved)
	for _, name := range []string{"web", "db"} {
		if types := eventsOf(events, name); slices.ContainsFunc(types, func(typ runtime.EventType) bool { return typ != runtime.EventServiceUnchanged }) {
			t.Errorf("Apply after the move reported %v for %s, want only %s", types, name, runtime.EventServiceUnchanged)
		}
	}
}
