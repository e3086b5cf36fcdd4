package runtimetest

import (
	"errors"
	"slices"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// testRemoveDeployment checks runtime.DeploymentRemover, for runtimes
// that implement it: one call removes every stack of the deployment,
// named in tiers or not, and nothing of another deployment; it keeps the
// volumes unless DeleteData is set (or declines, having changed nothing,
// with runtime.ErrNotSupported); it is idempotent; and removing a
// deployment that does not exist is not an error.
func testRemoveDeployment(e *env) {
	t := e.t
	dr := capability[runtime.DeploymentRemover](e, runtime.CapDeploymentRemover)
	vl, hasVolumes := e.rt.(runtime.VolumeLister)

	withVolume := func(svc stack.Service) stack.Service {
		svc.VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}
		return svc
	}
	// Two tiers, and a stack the tiers do not name (as one left by an
	// interrupted operation).
	db := e.spec("db", 0, withVolume(e.service("db", "db", Behavior{})))
	web := e.spec("web", 1, e.service("web", "web", Behavior{}))
	stray := e.spec("stray", 1, e.service("stray", "web", Behavior{}))
	for _, s := range []*runtime.StackSpec{db, web, stray} {
		e.launch(s)
	}

	// Another deployment with a stack and a volume of the same names.
	otherDep := e.h.Deployment(t)
	other := e.spec("db", 0, withVolume(e.h.Service(t, runtime.StackRef{Deployment: otherDep, Stack: "db"}, "db", Behavior{})))
	other.Deployment = otherDep
	e.launch(other)
	otherBefore := e.observe(e.rt, otherDep)

	volumes := func(dep string) []string {
		t.Helper()
		if !hasVolumes {
			return nil
		}
		ctx, cancel := e.ctx()
		defer cancel()
		vs, err := vl.Volumes(ctx, dep)
		if err != nil {
			t.Fatalf("Volumes %s: %v", dep, err)
		}
		var names []string
		for _, v := range vs {
			names = append(names, v.Name)
		}
		return names
	}
	ownVolumes, otherVolumes := volumes(e.dep), volumes(otherDep)
	if hasVolumes && (len(ownVolumes) != 1 || len(otherVolumes) != 1) {
		t.Fatalf("Volumes lists %v and %v, want one volume in each deployment", ownVolumes, otherVolumes)
	}
	removeDeployment := func(dep string, opts runtime.RemoveOptions) error {
		t.Helper()
		ctx, cancel := e.ctx()
		defer cancel()
		return dr.RemoveDeployment(ctx, dep, [][]string{{"db"}, {"web"}}, opts)
	}
	// The other deployment is untouched: same stacks, same instances,
	// same volumes.
	checkOther := func(when string) {
		t.Helper()
		after := e.observe(e.rt, otherDep)
		if diff := diffState(otherBefore, after); diff != "" {
			t.Errorf("%s, the other deployment changed: %s", when, diff)
		}
		if got := volumes(otherDep); !slices.Equal(got, otherVolumes) {
			t.Errorf("%s, the other deployment's volumes are %v, want %v", when, got, otherVolumes)
		}
	}
	checkGone := func(when string) {
		t.Helper()
		if ds := e.observe(e.rt, e.dep); len(ds.Stacks) != 0 {
			t.Errorf("%s, Observe still reports stacks %v", when, stackNames(ds))
		}
		if _, err := e.tryWait(e.rt, web); err == nil || !errors.Is(runtime.MapError(e.rt, err), runtime.ErrNotFound) {
			t.Errorf("%s, Wait for a removed stack: %v, want an error matching runtime.ErrNotFound", when, err)
		}
	}

	// A runtime may decline one pass (runtime.ErrNotSupported) when it
	// cannot honour the options for this deployment: then it changes
	// nothing.
	declined := func(err error, what string) {
		t.Helper()
		t.Logf("RemoveDeployment %s declined: %v", what, err)
		if ds := e.observe(e.rt, e.dep); !slices.Equal(stackNames(ds), []string{"db", "stray", "web"}) {
			t.Errorf("a declined RemoveDeployment %s changed the deployment: stacks %v, want db, stray, web", what, stackNames(ds))
		}
		if got := volumes(e.dep); !slices.Equal(got, ownVolumes) {
			t.Errorf("a declined RemoveDeployment %s changed the volumes: %v, want %v", what, got, ownVolumes)
		}
		checkOther("after a declined RemoveDeployment " + what)
	}

	// Without DeleteData: every stack goes, the volumes stay.
	removed := false
	switch err := removeDeployment(e.dep, runtime.RemoveOptions{}); {
	case errors.Is(err, runtime.ErrNotSupported):
		declined(err, "without DeleteData")
	case err != nil:
		t.Fatalf("RemoveDeployment %s: %v", e.dep, err)
	default:
		removed = true
		checkGone("after RemoveDeployment")
		if got := volumes(e.dep); !slices.Equal(got, ownVolumes) {
			t.Errorf("after RemoveDeployment without DeleteData the volumes are %v, want %v kept", got, ownVolumes)
		}
		checkOther("after RemoveDeployment")
		// Idempotent: nothing left to remove is not an error, and the
		// kept volumes still stay.
		if err := removeDeployment(e.dep, runtime.RemoveOptions{}); err != nil {
			t.Errorf("RemoveDeployment of a removed deployment: %v", err)
		}
		if got := volumes(e.dep); !slices.Equal(got, ownVolumes) {
			t.Errorf("a second RemoveDeployment left volumes %v, want %v kept", got, ownVolumes)
		}
	}

	// With DeleteData: the stacks and every volume of the deployment go,
	// those kept by the call before too.
	switch err := removeDeployment(e.dep, runtime.RemoveOptions{DeleteData: true}); {
	case errors.Is(err, runtime.ErrNotSupported) && !removed:
		// This runtime removes this deployment stack by stack only.
		declined(err, "with DeleteData")
		return
	case err != nil:
		t.Fatalf("RemoveDeployment %s with DeleteData: %v", e.dep, err)
	}
	checkGone("after RemoveDeployment with DeleteData")
	if got := volumes(e.dep); len(got) != 0 {
		t.Errorf("after RemoveDeployment with DeleteData the volumes are %v, want none", got)
	}
	checkOther("after RemoveDeployment with DeleteData")
	if err := removeDeployment(e.dep, runtime.RemoveOptions{DeleteData: true}); err != nil {
		t.Errorf("RemoveDeployment with DeleteData of a removed deployment: %v", err)
	}
	if err := removeDeployment(e.h.Deployment(t), runtime.RemoveOptions{DeleteData: true}); err != nil {
		t.Errorf("RemoveDeployment of a deployment that never existed: %v", err)
	}
	checkOther("at the end")
}
