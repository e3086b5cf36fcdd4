package kube_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/runtime/runtimetest"
	"github.com/stackwave/stackwave/store"
)

// TestDriftSeenAndRepairedOnKubernetes changes a deployment with the API
// server's own calls (delete a Deployment, set its image, scale it, delete
// the whole namespace), and checks that Status and Preview say so and
// that an update of the unchanged version repairs it, reporting an image
// repair as a replacement.
func TestDriftSeenAndRepairedOnKubernetes(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	kl := startKubelet(t, env)
	startProvisioner(t, env)
	dep := "drift-" + randomHex(3)
	kl.claim(dep)
	rt := newRuntime(t, env.Config, &kube.Options{BaseDomain: "kodo.test", PodTemplate: kl.podTemplate})
	cat := newCatalog(t, "kodo-double", kodoDouble(t))
	vid := cat.versions[0].ID
	ex, log := newExecutor(t, rt, cat.st, nil)
	ctx := ctxT(t, 5*time.Minute)
	if _, err := ex.Launch(ctx, deploy.Request{Deployment: dep, VersionID: vid, ConfigTemplates: kodoTemplates}); err != nil {
		t.Fatalf("launch: %v; events:%s", err, log)
	}
	hand := tamper(env.Config)
	ref := runtime.StackRef{Deployment: dep, Stack: "kodo-1"}
	for _, c := range []struct {
		change runtimetest.Change
		reason string
	}{
		{runtimetest.Change{Kind: runtimetest.ChangeImage}, runtime.DriftImage},
		{runtimetest.Change{Kind: runtimetest.ChangeScale, Instances: 0}, runtime.DriftReplicas},
		{runtimetest.Change{Kind: runtimetest.ChangeRemove}, runtime.DriftMissing},
	} {
		hand(t, ref, "authproxy-in", c.change)
		st, err := ex.Status(ctx, dep)
		must(t, err)
		if st.Status == store.StatusAvailable || st.Sync != deploy.SyncDrifted {
			t.Errorf("%s by hand: status %s sync %s", c.change.Kind, st.Status, st.Sync)
		}
		cs, err := ex.Preview(ctx, dep, vid)
		must(t, err)
		if sc := cs.Stack("kodo-1"); sc == nil || sc.Action != deploy.ActionRepair || !strings.Contains(sc.Reason, "authproxy-in: "+c.reason) {
			t.Errorf("%s by hand: preview\n%s", c.change.Kind, cs)
		}
		n := log.len()
		if _, err := ex.Update(ctx, deploy.Request{Deployment: dep, VersionID: vid}); err != nil {
			t.Fatalf("repair of the %s: %v; events:%s", c.change.Kind, err, log)
		}
		types := log.typesSince(n, "kodo-1")
		if c.change.Kind == runtimetest.ChangeImage && (!slices.Contains(types, deploy.EventServiceReplaced) || slices.Contains(types, deploy.EventServiceScaled)) {
			t.Errorf("image repair reported as %v, want a replacement", types)
		}
		st, err = ex.Status(ctx, dep)
		must(t, err)
		if st.Status != store.StatusAvailable || st.Sync != deploy.SyncInSync || st.Health != deploy.HealthRunning {
			t.Errorf("after repairing the %s: %s %s %s", c.change.Kind, st.Status, st.Health, st.Sync)
		}
	}
}

func (l *opLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.evs)
}

// typesSince returns the types of the events about a stack from the nth
// on.
func (l *opLog) typesSince(n int, stk string) []deploy.EventType {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []deploy.EventType
	for _, e := range l.evs[n:] {
		if e.Stack == stk {
			out = append(out, e.Type)
		}
	}
	return out
}
