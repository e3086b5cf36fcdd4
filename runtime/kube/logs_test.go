package kube_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store/memory"
)

// TestLogsOnKwok: kwok's pods run no containers and its nodes have no
// kubelet, so the API server cannot give their logs. This records what
// it answers instead and that Logs turns it into a clear
// runtime.ErrNotSupported, while selections that do not exist are still
// runtime.ErrNotFound.
func TestLogsOnKwok(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	rt := newRuntime(t, env.Config, nil)
	ctx := ctxT(t, 3*time.Minute)
	dep := "logs-" + randomHex(3)
	spec := &runtime.StackSpec{Deployment: dep, ProductID: "p", VersionID: "v1", ReadyTimeout: 2 * time.Minute,
		Stack: stack.Stack{Name: "web", Services: []stack.Service{plain("app")}}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := rt.Remove(ctx, spec.Ref(), runtime.RemoveOptions{DeleteData: true}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	ds, err := rt.Observe(ctx, dep)
	must(t, err)
	pod := ds.Stack("web").Service("app").Instances[0].Name

	// What the API server answers for a pod on a kwok node.
	_, raw := env.Clientset.CoreV1().Pods(rt.Namespace(dep)).GetLogs(pod, &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
	if raw == nil {
		t.Fatal("the API server gave the logs of a kwok pod; the test no longer runs where pods have no logs")
	}
	var status apierrors.APIStatus
	if !errors.As(raw, &status) {
		t.Fatalf("the API server's answer is no status: %v", raw)
	}
	t.Logf("the API server answers pods/%s/log with %d %s: %v", pod, status.Status().Code, status.Status().Reason, raw)

	for _, q := range []runtime.LogQuery{{}, {Stack: "web", Service: "app"}, {Stack: "web", Service: "app", Instance: pod, Follow: true}} {
		s, err := rt.Logs(ctx, dep, q)
		if err == nil {
			s.Close()
			t.Fatalf("Logs(%+v) of kwok pods returned a stream", q)
		}
		if !errors.Is(err, runtime.ErrNotSupported) || !strings.Contains(err.Error(), "kubelet") || !strings.Contains(err.Error(), pod) {
			t.Errorf("Logs(%+v): %v, want runtime.ErrNotSupported naming the pod and why", q, err)
		}
	}
	if _, err := rt.Logs(ctx, dep, runtime.LogQuery{Stack: "web", Service: "db"}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Logs of a missing service: %v, want runtime.ErrNotFound", err)
	}
}

// TestLogsAPIOnKwok: through the HTTP API, kwok's pods' logs are a 501
// that says why, and a missing service a 404.
func TestLogsAPIOnKwok(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	rt := newRuntime(t, env.Config, nil)
	st := memory.New(nil)
	ex := deploy.New(rt, st, nil)
	// Closed after the terminating cleanup below: a closed executor
	// refuses operations.
	t.Cleanup(func() { ex.Close() })
	ts := httptest.NewServer(api.New(st, ex, nil))
	defer ts.Close()
	c := &api.Client{URL: ts.URL}
	ctx := ctxT(t, 3*time.Minute)

	created, err := c.CreateProduct(ctx, []byte(`{"product_name": "logs", "stack_deps": [[{"stack_name": "web", "services": [
  {"service_name": "app", "unit_type": "1U1G", "image": {"name": "registry.kube.test/app", "tag": "1"}}]}]]}`))
	must(t, err)
	dep := "logs-api-" + randomHex(3)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := ex.Terminate(ctx, deploy.Request{Deployment: dep, DeleteData: true}); err != nil {
			t.Errorf("terminate: %v", err)
		}
	})
	if _, err := ex.Launch(ctx, deploy.Request{Deployment: dep, VersionID: created.VersionID}); err != nil {
		t.Fatalf("launch: %v", err)
	}
	_, err = c.Logs(ctx, dep, runtime.LogQuery{Stack: "web", Service: "app"})
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusNotImplemented || len(e.Details) == 0 || !strings.Contains(e.Details[0].Detail, "kubelet") {
		t.Errorf("logs of kwok pods through the API: %v, want 501 saying the kubelet has no log", err)
	}
	if _, err := c.Logs(ctx, dep, runtime.LogQuery{Stack: "web", Service: "db"}); !api.IsStatus(err, http.StatusNotFound) {
		t.Errorf("logs of a missing service through the API: %v, want 404", err)
	}
}
