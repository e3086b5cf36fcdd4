package kube_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/runtime/runtimetest"
	"github.com/stackwave/stackwave/stack"
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

	// The whole namespace deleted: everything is missing, and an update
	// of the unchanged version makes it all again, in tier order.
	ns := rt.Namespace(dep)
	must(t, env.Clientset.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := env.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("namespace %s not gone", ns)
		case <-tick.C:
		}
	}
	st, err := ex.Status(ctx, dep)
	must(t, err)
	if st.Status == store.StatusAvailable || st.Health != deploy.HealthMissing || st.Sync != deploy.SyncDrifted {
		t.Errorf("namespace deleted: status %s health %s sync %s", st.Status, st.Health, st.Sync)
	}
	res, err := ex.Update(ctx, deploy.Request{Deployment: dep, VersionID: vid})
	if err != nil {
		t.Fatalf("repair of the deleted namespace: %v; events:%s", err, log)
	}
	if _, _, _, rep, _ := res.Changes.Counts(); rep != 3 {
		t.Errorf("change set after the namespace went:\n%s", res.Changes)
	}
	st, err = ex.Status(ctx, dep)
	must(t, err)
	if st.Status != store.StatusAvailable || st.Sync != deploy.SyncInSync {
		t.Errorf("after repairing the namespace: %s %s", st.Status, st.Sync)
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

// mountedConfigMap returns the ConfigMap of config files the pods of a
// Deployment mount, checking that it is immutable and named after its
// content.
func mountedConfigMap(t testing.TB, cs kubernetes.Interface, ns, workload string) *corev1.ConfigMap {
	t.Helper()
	ctx := context.Background()
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, workload, metav1.GetOptions{})
	must(t, err)
	var name string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			name = v.ConfigMap.Name
		}
	}
	if !strings.HasPrefix(name, workload+"-files-") || len(name) != len(workload)+len("-files-")+10 {
		t.Fatalf("deployment %s mounts config map %q, want %s-files-<content hash>", workload, name, workload)
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	must(t, err)
	if cm.Immutable == nil || !*cm.Immutable {
		t.Errorf("config map %s is not immutable", name)
	}
	return cm
}

// A changed config file is a new immutable ConfigMap, named after its
// content; one no pod mounts any more goes at a later Apply.
func TestConfigMapsNamedByContent(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	kl := startKubelet(t, env)
	startProvisioner(t, env)
	dep := "cm-" + randomHex(3)
	kl.claim(dep)
	rt := newRuntime(t, env.Config, &kube.Options{BaseDomain: "kodo.test", PodTemplate: kl.podTemplate})
	cat := newCatalog(t, "kodo-double", kodoDouble(t))
	vid := cat.versions[0].ID
	ex, log := newExecutor(t, rt, cat.st, nil)
	ctx := ctxT(t, 5*time.Minute)
	ns := rt.Namespace(dep)
	var names []string
	for i := range 3 {
		tmpl := map[string]string{"/authproxy_in/qboxauthproxy.conf": fmt.Sprintf("release = %d\n", i)}
		req := deploy.Request{Deployment: dep, VersionID: vid, ConfigTemplates: tmpl}
		var err error
		if i == 0 {
			_, err = ex.Launch(ctx, req)
		} else {
			_, err = ex.Update(ctx, req)
		}
		if err != nil {
			t.Fatalf("release %d: %v; events:%s", i, err, log)
		}
		cm := mountedConfigMap(t, env.Clientset, ns, "kodo-1-authproxy-in")
		if got := cm.Data["authproxy_in.qboxauthproxy.conf"]; got != fmt.Sprintf("release = %d\n", i) {
			t.Errorf("release %d: file %q", i, got)
		}
		names = append(names, cm.Name)
	}
	if names[0] == names[1] || names[1] == names[2] {
		t.Errorf("config maps %v: a changed file kept its config map", names)
	}
	if _, err := env.Clientset.CoreV1().ConfigMaps(ns).Get(ctx, names[0], metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the first release's config map %s, mounted by no pod, is still there: %v", names[0], err)
	}
}

// Watch reports a Deployment deleted by hand.
func TestWatchReportsChangesByHand(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	kl := startKubelet(t, env)
	dep := "watch-" + randomHex(3)
	kl.claim(dep)
	rt := newRuntime(t, env.Config, &kube.Options{PodTemplate: kl.podTemplate})
	ctx := ctxT(t, 2*time.Minute)
	s := &runtime.StackSpec{Deployment: dep, ProductID: "p", VersionID: "v", Stack: stack.Stack{Name: "app", Services: []stack.Service{plain("web")}}}
	must(t, rt.Apply(ctx, s, nil))
	must(t, rt.Wait(ctx, s, nil))
	t.Cleanup(func() { _ = rt.Remove(context.Background(), s.Ref(), runtime.RemoveOptions{DeleteData: true}) })
	seen := make(chan string, 64)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Watch(wctx, func(d string) { seen <- d }) }()
	defer func() { cancel(); <-done }()
	tamper(env.Config)(t, s.Ref(), "web", runtimetest.Change{Kind: runtimetest.ChangeRemove})
	for {
		select {
		case d := <-seen:
			if d == dep {
				return
			}
		case <-ctx.Done():
			t.Fatal("Watch did not report the Deployment deleted by hand")
		}
	}
}
