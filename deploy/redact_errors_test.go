package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/redact"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store/memory"
)

// quotingRuntime fails Observe, once failing is set, with an error that
// quotes the deployment's values, as a back-end refusing an env may.
type quotingRuntime struct {
	runtime.Runtime
	failing atomic.Bool
	quote   string
}

func (r *quotingRuntime) Observe(ctx context.Context, name string) (*runtime.DeploymentState, error) {
	if r.failing.Load() {
		return nil, errors.New(r.quote)
	}
	return r.Runtime.Observe(ctx, name)
}

// TestObserveErrorsAreRedacted: errors of Observe that quote secret
// values pass the deployment's redactor on every path that returns them
// synchronously: PreviewChanges, and the Reconciler's OnError (which a
// server logs).
func TestObserveErrorsAreRedacted(t *testing.T) {
	const (
		password = `s3cr3t-"qu0ted" välue`
		pin      = "77331"
	)
	rt := &quotingRuntime{Runtime: sim.New(nil),
		quote: fmt.Sprintf("engine refused env %q (DB_PASSWORD=%s; PIN=%s); raw: %s", password, password, pin, password)}
	st := memory.New(nil)
	ex := deploy.New(rt, st, nil)
	t.Cleanup(func() { ex.Close() })
	ctx := context.Background()
	deps := stack.Deps{{{Name: "web", Services: []stack.Service{{Name: "nginx", UnitType: "1U1G",
		Image: stack.Image{Name: "nginx", Tag: "1.27"}, Envs: []string{"DB_PASSWORD=" + password, "PIN=" + pin}}}}}}
	if _, err := st.CreateProduct(ctx, &product.Product{ID: "prod-keep", Name: "keep", ProviderName: "tests"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateVersion(ctx, &product.Version{ID: "pv-keep", ProductID: "prod-keep", Name: "v1", Active: true, StackDeps: deps}); err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: "pv-keep"}); err != nil {
		t.Fatal(err)
	}
	rt.failing.Store(true)

	var mu sync.Mutex
	var errs []error
	_, err := ex.Preview(ctx, "shop", "pv-keep")
	if err == nil {
		t.Fatal("Preview succeeded while Observe fails")
	}
	errs = append(errs, err)
	r := deploy.NewReconciler(ex, &deploy.ReconcilerOptions{OnError: func(_ string, err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}})
	if _, err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 2 {
		t.Fatalf("errors %v, want one of Preview and one of the reconciler", errs)
	}
	for _, err := range errs {
		msg := err.Error()
		if !strings.Contains(msg, "engine refused env") || !strings.Contains(msg, redact.Marker) {
			t.Errorf("not the runtime's error, redacted: %s", msg)
		}
		for _, v := range []string{password, "PIN=" + pin} {
			for _, form := range redact.Forms(v) {
				if strings.Contains(msg, form) {
					t.Errorf("%q shows in %s", form, msg)
				}
			}
		}
	}
}
