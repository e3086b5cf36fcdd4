package runtimetest

import (
	"slices"
	"strings"

	"github.com/stackwave/stackwave/runtime"
)

// compare observes the stack of spec and compares it with spec.
func (e *env) compare(spec *runtime.StackSpec) []runtime.ServiceDrift {
	e.t.Helper()
	return runtime.Compare(spec, e.observe(e.rt, e.dep).Stack(spec.Stack.Name))
}

// wantDrift checks a Compare result: every service in sync but those in
// want, which must be drifted with the reason given (or extra, for
// runtime.SyncExtra).
func wantDrift(e *env, what string, got []runtime.ServiceDrift, want map[string]string) {
	e.t.Helper()
	seen := map[string]bool{}
	for _, d := range got {
		seen[d.Service] = true
		reason, ok := want[d.Service]
		switch {
		case !ok && d.Drifted():
			e.t.Errorf("%s: service %s: %s, want in sync", what, d.Service, d.String())
		case ok && reason == runtime.SyncExtra && d.Sync != runtime.SyncExtra:
			e.t.Errorf("%s: service %s: %s, want extra", what, d.Service, d.String())
		case ok && reason != runtime.SyncExtra && (d.Sync != runtime.SyncDrifted || !slices.Contains(d.Reasons, reason)):
			e.t.Errorf("%s: service %s: %s, want drifted: %s", what, d.Service, d.String(), reason)
		}
	}
	for name := range want {
		if !seen[name] {
			e.t.Errorf("%s: Compare does not report service %s", what, name)
		}
	}
}

func testDriftInSync(e *env) {
	web := e.service("app", "web", Behavior{})
	web.Instances = 2
	spec := e.spec("app", 0, web, e.service("app", "db", Behavior{}))
	e.launch(spec)
	wantDrift(e, "after Apply and Wait", e.compare(spec), nil)
	for _, svc := range e.observeStack("app").Services {
		if want := spec.Stack.Service(svc.Name).Image.Ref(); svc.Image != want {
			e.t.Errorf("Observe reports service %s running image %q, want %q", svc.Name, svc.Image, want)
		}
	}
}

func testDriftFromSpec(e *env) {
	web := e.service("app", "web", Behavior{})
	db := e.service("app", "db", Behavior{})
	spec := e.spec("app", 0, web, db)
	e.launch(spec)

	// Another spec: web's configuration and db's instances differ, cache
	// is new; what runs is compared with it.
	web2, db2 := web, db
	web2.Envs = append(slices.Clone(web.Envs), "DRIFT=1")
	db2.Instances = 2
	other := e.spec("app", 0, web2, db2, e.service("app", "cache", Behavior{}))
	wantDrift(e, "against a changed spec", e.compare(other), map[string]string{
		"web": runtime.DriftHash, "db": runtime.DriftReplicas, "cache": runtime.DriftMissing,
	})
	// A spec without db: db is extra.
	wantDrift(e, "against a spec without db", e.compare(e.spec("app", 0, web)), map[string]string{"db": runtime.SyncExtra})
}

func testDriftRemovedStack(e *env) {
	spec := e.spec("app", 0, e.service("app", "web", Behavior{}))
	e.launch(spec)
	e.remove(e.rt, spec.Ref(), runtime.RemoveOptions{})
	wantDrift(e, "after Remove", e.compare(spec), map[string]string{"web": runtime.DriftMissing})
}

func testDriftStoppedOnPurpose(e *env) {
	lc := capability[runtime.Lifecycle](e, runtime.CapLifecycle)
	spec := e.spec("app", 0, e.service("app", "web", Behavior{}))
	e.launch(spec)
	ctx, cancel := e.ctx()
	defer cancel()
	if err := lc.Stop(ctx, spec.Ref()); err != nil {
		e.t.Fatalf("Stop: %v", err)
	}
	st := e.observeStack("app")
	if !st.Stopped {
		e.t.Fatalf("Observe after Stop does not report the stack stopped")
	}
	wantDrift(e, "after Stop", runtime.Compare(spec, st), nil)
}

// testDriftByHand launches web (two instances) and db, changes web behind
// the runtime's back, and checks that Compare reports it with reason, that
// db is untouched, and that Apply and Wait of the same spec repair it.
func testDriftByHand(e *env, kind ChangeKind, reason string) {
	if e.h.Tamper == nil {
		e.t.Skip("Harness.Tamper is nil: the back-end's own API is not at hand to change a service by hand")
	}
	web := e.service("app", "web", Behavior{})
	web.Instances = 2
	spec := e.spec("app", 0, web, e.service("app", "db", Behavior{}))
	e.launch(spec)
	before := e.observeStack("app")
	if !e.h.Tamper(e.t, spec.Ref(), "web", Change{Kind: kind, Instances: 1}) {
		e.t.Skipf("the back-end has no %s change", kind)
	}
	wantDrift(e, "after the "+kind.String()+" by hand", e.compare(spec), map[string]string{"web": reason})

	events := e.apply(e.rt, spec)
	e.wait(e.rt, spec)
	wantDrift(e, "after Apply repaired the "+kind.String(), e.compare(spec), nil)
	after := e.observeStack("app")
	if diff := sameInstances(before.Service("db"), after.Service("db")); diff != "" {
		e.t.Errorf("repairing web touched db: %s", diff)
	}
	webEvents := eventsOf(events, "web")
	if len(webEvents) == 0 || webEvents[0] == runtime.EventServiceUnchanged && kind != ChangeStop {
		e.t.Errorf("Apply repairing a %s reported %v for web, want what it did:%s", kind, webEvents, formatEvents(events))
	}
	if kind == ChangeImage && slices.Contains(webEvents, runtime.EventServiceScaled) {
		e.t.Errorf("Apply reported an image repair as a scale:%s", formatEvents(events))
	}
	if kind == ChangeImage {
		if img := after.Service("web").Image; !strings.EqualFold(img, web.Image.Ref()) {
			e.t.Errorf("after the repair web runs %q, want %q", img, web.Image.Ref())
		}
	}
}
