package kube_test

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/stack"
)

// watchGate holds back what the API server's watches send a client while
// it is shut: the client's caches then lag behind the cluster, as they
// may at any moment, for as long as the test needs.
type watchGate struct{ mu sync.RWMutex }

func (g *watchGate) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		res, err := rt.RoundTrip(req)
		if err == nil && req.URL.Query().Get("watch") == "true" {
			res.Body = &gatedBody{ReadCloser: res.Body, gate: g}
		}
		return res, err
	})
}

func (g *watchGate) shut() { g.mu.Lock() }
func (g *watchGate) open() { g.mu.Unlock() }

// gatedBody hands on what it read only while its gate is open.
type gatedBody struct {
	io.ReadCloser
	gate *watchGate
}

func (b *gatedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.gate.mu.RLock()
	b.gate.mu.RUnlock()
	return n, err
}

// TestObserveFromCachesIsExact checks that Observe, once the runtime's
// watches run, reports from their caches what a fresh list reports, and
// that a pod or Deployment deleted with a plain client behind the
// runtime's back shows in the very next Observe even while the watches
// have not delivered the change (they are held back): the caches are
// used only when the API server confirms they are current.
func TestObserveFromCachesIsExact(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	var gate watchGate
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(gate.wrap)
	rt := newRuntime(t, cfg, nil)
	lister := newRuntime(t, env.Config, nil) // never watches: lists in full
	ctx := ctxT(t, 3*time.Minute)
	dep := "cached-" + randomHex(3)
	web := plain("web")
	web.Instances = 2
	web.AccessPoints = []stack.AccessPoint{{Type: stack.AccessInternalIP, BackendPorts: []int{8080}}}
	spec := &runtime.StackSpec{
		Deployment: dep, ProductName: "p", ProductID: "p1", VersionID: "v1",
		Stack: stack.Stack{Name: "s", Services: []stack.Service{web}}, ReadyTimeout: 2 * time.Minute,
	}
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))

	// Once the pods' statuses settle, the caches answer, with what the
	// lists say.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n := kube.CachedObserves(rt)
		got, err := rt.Observe(ctx, dep)
		must(t, err)
		want, err := lister.Observe(ctx, dep)
		must(t, err)
		if kube.CachedObserves(rt) > n && reflect.DeepEqual(got, want) {
			if s := got.Stack("s"); s == nil || len(s.Services) != 1 || len(s.Services[0].Instances) != 2 || len(s.Services[0].Endpoints) != 1 {
				t.Fatalf("observed from the caches: %+v", got)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Observe never answered from the caches with what the lists say: cached %d; got %+v, want %+v", kube.CachedObserves(rt)-n, got, want)
		case <-tick.C:
		}
	}

	// A pod deleted behind the runtime's back, its watch held back.
	ns := rt.Namespace(dep)
	pods, err := env.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelService + "=web"})
	must(t, err)
	if len(pods.Items) != 2 {
		t.Fatalf("%d pods, want 2", len(pods.Items))
	}
	gate.shut()
	shut := true
	defer func() {
		if shut {
			gate.open()
		}
	}()
	gone := pods.Items[0].Name
	must(t, env.Clientset.CoreV1().Pods(ns).Delete(ctx, gone, metav1.DeleteOptions{}))
	n := kube.CachedObserves(rt)
	st, err := rt.Observe(ctx, dep)
	must(t, err)
	s := st.Stack("s")
	if s == nil || len(s.Services) != 1 {
		t.Fatalf("after deleting pod %s: observed %+v", gone, st)
	}
	for _, in := range s.Services[0].Instances {
		if in.Name == gone {
			t.Errorf("Observe still reports pod %s, deleted before it was called", gone)
		}
	}
	if kube.CachedObserves(rt) != n {
		t.Errorf("Observe answered from caches that had not seen pod %s deleted", gone)
	}

	// The Deployment deleted.
	must(t, env.Clientset.AppsV1().Deployments(ns).Delete(ctx, "s-web", metav1.DeleteOptions{}))
	st, err = rt.Observe(ctx, dep)
	must(t, err)
	if s := st.Stack("s"); s != nil {
		t.Errorf("Observe still reports stack s, whose Deployment was deleted before it was called: %+v", s)
	}
	if kube.CachedObserves(rt) != n {
		t.Errorf("Observe answered from caches that had not seen the Deployment deleted")
	}
	gate.open()
	shut = false
	must(t, rt.Remove(context.WithoutCancel(ctx), spec.Ref(), runtime.RemoveOptions{DeleteData: true}))
}

// TestObserveWithoutNamespace: with a namespace per deployment, Observe
// of a deployment whose namespace does not exist (before its launch,
// after its teardown) answers that nothing exists as soon as the API
// server says the namespace is missing, without waiting for its lists
// (held here until the test ends); once the namespace and an object
// exist, the lists report them.
func TestObserveWithoutNamespace(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	ctx := ctxT(t, 5*time.Minute)
	dep := "nons-" + randomHex(3)
	hold := make(chan struct{})
	var holding sync.Mutex
	held := true
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			holding.Lock()
			h := held
			holding.Unlock()
			if h && req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/namespaces/stackwave-"+dep+"/") {
				select {
				case <-hold:
				case <-req.Context().Done():
					return nil, req.Context().Err()
				}
			}
			return rt.RoundTrip(req)
		})
	})
	rt := newRuntime(t, cfg, nil)
	ds, err := rt.Observe(ctx, dep)
	close(hold)
	must(t, err)
	if len(ds.Stacks) != 0 {
		t.Errorf("Observe of a deployment without a namespace: %d stacks, want none", len(ds.Stacks))
	}

	holding.Lock()
	held = false
	holding.Unlock()
	spec := &runtime.StackSpec{Deployment: dep, ProductName: "p", ProductID: "p1", VersionID: "v1",
		Stack: stack.Stack{Name: "web", Services: []stack.Service{plain("app")}}, ReadyTimeout: 10 * time.Minute}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), spec.Ref(), runtime.RemoveOptions{}) })
	must(t, rt.Apply(ctx, spec, nil))
	one := newRuntime(t, env.Config, nil) // no watches: Observe lists
	ds, err = one.Observe(ctx, dep)
	must(t, err)
	if len(ds.Stacks) != 1 || ds.Stacks[0].Name != "web" {
		t.Errorf("Observe after the apply: %+v, want stack web", ds.Stacks)
	}
}
