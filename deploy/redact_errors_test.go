package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// TestRedactionKeepsPublishedNames: an env value that repeats a name of
// the deployment (DB_HOST=mysql-cluster) leaves that name in errors and
// events, while a secret equal to a name hides it.
func TestRedactionKeepsPublishedNames(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.rt.Inject(sim.Fault{Kind: sim.NeverReady, Stack: "mysql-cluster", Service: "mysql",
		Err: errors.New("waiting for mysql-cluster quorum (root password frontend)")})
	v := e.version("v1", stack.Deps{
		{{Name: "mysql-cluster", Services: []stack.Service{{Name: "mysql", UnitType: "1U1G", Image: stack.Image{Name: "mysql", Tag: "8.0"},
			Envs: []string{"MYSQL_ROOT_PASSWORD=frontend", "MYSQL_DATABASE=orders-db"}}}}},
		{{Name: "frontend", Services: []stack.Service{{Name: "web", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1.27"},
			Envs: []string{"DB_HOST=mysql-cluster", "DB_ADDR=mysql.mysql-cluster", "SITE=shop-eu"}}}}},
	})
	// The service never becomes ready: however loaded the machine, the
	// timeout is what ends the wait.
	res, err := e.ex.Launch(context.Background(), deploy.Request{Deployment: "shop-eu", VersionID: v, Timeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("launch of a never-ready service succeeded")
	}
	for what, msg := range map[string]string{"error": err.Error(), "recorded operation": res.Operation.Message} {
		for _, want := range []string{"stack mysql-cluster", "waiting for mysql-cluster quorum", "root password " + redact.Marker} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s %q does not say %q", what, msg, want)
			}
		}
		if strings.Contains(msg, "frontend") {
			t.Errorf("%s shows the password: %q", what, msg)
		}
	}
	named := 0
	for _, ev := range e.eventLog() {
		if strings.Contains(ev.Message, "frontend") {
			t.Errorf("event %s shows the password: %q", ev.Type, ev.Message)
		}
		if strings.Contains(ev.Message, "mysql-cluster") {
			named++
		}
	}
	if named == 0 {
		t.Errorf("no event names mysql-cluster: %v", e.eventLog())
	}
}
