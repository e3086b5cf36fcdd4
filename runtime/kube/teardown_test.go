package kube_test

import (
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// TestRemoveDeployment: a deployment without claims goes with its
// namespace in one pass, and launches again afterwards; one with claims
// is declined (the caller keeps them stack by stack) unless DeleteData.
func TestRemoveDeployment(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	startProvisioner(t, env)
	rt := newRuntime(t, env.Config, nil)
	ctx := ctxT(t, 4*time.Minute)
	dep := "rmdep-" + randomHex(3)
	web := &runtime.StackSpec{Deployment: dep, ProductName: "p", ProductID: "p1", VersionID: "v1",
		Stack: stack.Stack{Name: "web", Services: []stack.Service{plain("web")}}, ReadyTimeout: 2 * time.Minute}
	gone := func() {
		t.Helper()
		_, err := env.Clientset.CoreV1().Namespaces().Get(ctx, rt.Namespace(dep), metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Fatalf("namespace after RemoveDeployment: %v, want it gone", err)
		}
	}
	for range 2 { // the second round launches into a new namespace
		must(t, rt.Apply(ctx, web, nil))
		must(t, rt.Wait(ctx, web, nil))
		must(t, rt.RemoveDeployment(ctx, dep, [][]string{{"web"}}, runtime.RemoveOptions{}))
		gone()
	}

	db := plain("db")
	db.VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}
	data := &runtime.StackSpec{Deployment: dep, ProductName: "p", ProductID: "p1", VersionID: "v1",
		Stack: stack.Stack{Name: "db", Services: []stack.Service{db}}, ReadyTimeout: 2 * time.Minute}
	must(t, rt.Apply(ctx, data, nil))
	must(t, rt.Wait(ctx, data, nil))
	if err := rt.RemoveDeployment(ctx, dep, [][]string{{"db"}}, runtime.RemoveOptions{}); !errors.Is(err, runtime.ErrNotSupported) {
		t.Fatalf("RemoveDeployment keeping claims: %v, want ErrNotSupported", err)
	}
	if err := rt.Wait(ctx, data, nil); err != nil {
		t.Fatalf("declined RemoveDeployment changed the stack: %v", err)
	}
	must(t, rt.RemoveDeployment(ctx, dep, [][]string{{"db"}}, runtime.RemoveOptions{DeleteData: true}))
	gone()
}
