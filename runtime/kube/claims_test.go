package kube_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/stack"
)

// TestWaitClaimVerdict: a claim that cannot bind by itself (its storage
// class does not exist, or none is set and the cluster has no default)
// ends Wait at once with the cause and the fix, well before the ready
// timeout; a claim of a class that may still get a volume keeps Wait
// waiting, and the timeout names the claim's cause.
func TestWaitClaimVerdict(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	ctx := ctxT(t, 3*time.Minute)
	static := staticStorageClass(t, env, "stackwave-static-")
	for _, tc := range []struct {
		name    string
		classes map[string]string
		timeout time.Duration
		want    []string
	}{
		{"missing class", map[string]string{"SSD1": "no-such-class"}, 10 * time.Minute,
			[]string{"ClaimCannotBind", `storage class "no-such-class" does not exist`, "Options.StorageClasses"}},
		{"no class", map[string]string{}, 10 * time.Minute,
			[]string{"ClaimCannotBind", "no storage class is set", "default StorageClass"}},
		{"static class", map[string]string{"SSD1": static}, 3 * time.Second,
			[]string{"Timeout", static, "has no provisioner"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime(t, env.Config, &kube.Options{StorageClasses: tc.classes})
			dep := "claim-" + randomHex(3)
			db := plain("db")
			db.VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}
			spec := &runtime.StackSpec{Deployment: dep, ProductName: "p", ProductID: "p1", VersionID: "v1",
				Stack: stack.Stack{Name: "db", Services: []stack.Service{db}}, ReadyTimeout: tc.timeout}
			t.Cleanup(func() {
				_ = rt.Remove(context.Background(), spec.Ref(), runtime.RemoveOptions{DeleteData: true})
			})
			must(t, rt.Apply(ctx, spec, nil))
			err := rt.Wait(ctx, spec, nil)
			var se *runtime.ServiceError
			if !errors.As(err, &se) {
				t.Fatalf("Wait: %v, want a *runtime.ServiceError", err)
			}
			got := se.Reason + ": " + se.Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("Wait: %s\nwant it to contain %q", got, w)
				}
			}
		})
	}
}

// TestWaitNeverFits: a pod that requests more than any node has ends
// Wait at once, naming the request and the largest node.
func TestWaitNeverFits(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	rt := newRuntime(t, env.Config, nil)
	ctx := ctxT(t, 3*time.Minute)
	huge, err := stack.ParseUnit("1024U1G")
	must(t, err)
	cat := stack.DefaultCatalog()
	cat.Units["1024U1G"] = huge
	svc := plain("big")
	svc.UnitType = "1024U1G"
	dep := "fit-" + randomHex(3)
	spec := &runtime.StackSpec{Deployment: dep, ProductName: "p", ProductID: "p1", VersionID: "v1", Catalog: cat,
		Stack: stack.Stack{Name: "big", Services: []stack.Service{svc}}, ReadyTimeout: 10 * time.Minute}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), spec.Ref(), runtime.RemoveOptions{}) })
	must(t, rt.Apply(ctx, spec, nil))
	err = rt.Wait(ctx, spec, nil)
	var se *runtime.ServiceError
	if !errors.As(err, &se) || se.Reason != "Unschedulable" || !strings.Contains(se.Error(), "requests 1024 CPU") ||
		!strings.Contains(se.Error(), "smaller unit type") {
		t.Fatalf("Wait: %v, want an Unschedulable *runtime.ServiceError naming the request and the fix", err)
	}
}

// TestWaitDoesNotAwaitItsDiagnosis: the look at the nodes and claims of
// a service whose pod cannot be scheduled runs beside the wait. Here the
// nodes' list is held back until the test ends; the claim is bound
// meanwhile (the test makes its volume), the pod is scheduled and ready,
// and Wait returns at once instead of waiting for the list.
func TestWaitDoesNotAwaitItsDiagnosis(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	ctx := ctxT(t, 5*time.Minute)
	static := staticStorageClass(t, env, "stackwave-held-")

	asked := make(chan struct{}, 1)
	release := make(chan struct{})
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodGet && req.URL.Path == "/api/v1/nodes" {
				select {
				case asked <- struct{}{}:
				default:
				}
				select {
				case <-release:
				case <-req.Context().Done():
					return nil, req.Context().Err()
				}
			}
			return rt.RoundTrip(req)
		})
	})
	rt := newRuntime(t, cfg, &kube.Options{StorageClasses: map[string]string{"SSD1": static}})
	dep := "held-" + randomHex(3)
	db := plain("db")
	db.VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}
	spec := &runtime.StackSpec{Deployment: dep, ProductName: "p", ProductID: "p1", VersionID: "v1",
		Stack: stack.Stack{Name: "db", Services: []stack.Service{db}}, ReadyTimeout: 10 * time.Minute}
	t.Cleanup(func() {
		_ = rt.Remove(context.Background(), spec.Ref(), runtime.RemoveOptions{DeleteData: true})
	})
	defer close(release)
	must(t, rt.Apply(ctx, spec, nil))
	waited := make(chan error, 1)
	go func() { waited <- rt.Wait(ctx, spec, nil) }()

	// The pod waits for its claim: Wait looks at the nodes, and the
	// list is held.
	select {
	case <-asked:
	case err := <-waited:
		t.Fatalf("Wait returned %v before its pod could be scheduled", err)
	case <-ctx.Done():
		t.Fatal("Wait never looked at the nodes of its unschedulable pod")
	}
	claims, err := env.Clientset.CoreV1().PersistentVolumeClaims(rt.Namespace(dep)).List(ctx, metav1.ListOptions{})
	must(t, err)
	if len(claims.Items) != 1 {
		t.Fatalf("%d claims, want 1", len(claims.Items))
	}
	c := claims.Items[0]
	pv := volumeFor(&c, static, nil)
	_, err = env.Clientset.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() {
		_ = env.Clientset.CoreV1().PersistentVolumes().Delete(context.Background(), pv.Name, metav1.DeleteOptions{})
	})
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Wait did not return once the pod was ready: it waits for its look at the nodes")
	}
}
