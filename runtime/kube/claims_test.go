package kube_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	static := "stackwave-static-" + randomHex(3)
	immediate := storagev1.VolumeBindingImmediate
	_, err := env.Clientset.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: static}, Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &immediate,
	}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() {
		_ = env.Clientset.StorageV1().StorageClasses().Delete(context.Background(), static, metav1.DeleteOptions{})
	})
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
