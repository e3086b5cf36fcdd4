package deploy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// An executor renews its own lease, so the lease alone does not keep it
// from starting a second operation, or resuming the one it is running,
// on a deployment: a control plane that calls ResumeAll every lease TTL
// would run its own operations twice, and a refused request would give
// up the running operation's lease.
func TestOneOperationPerDeploymentInAnExecutor(t *testing.T) {
	e := newEnv(t, &sim.Options{ApplyLatency: 200 * time.Millisecond}, nil)
	ctx := context.Background()
	v, err := e.st.CreateVersion(ctx, &product.Version{ProductID: e.pid, Name: "v1", Active: true, StackDeps: stack.Deps{{{
		Name: "a", Services: []stack.Service{{Name: "s", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1"}}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.ex.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "d", VersionID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := e.ex.ResumeAll(ctx)
	if err != nil || len(hs) != 0 {
		t.Errorf("ResumeAll while the operation runs: %d resumed, %v", len(hs), err)
	}
	if _, err := e.ex.Resume(ctx, "d"); !errors.Is(err, deploy.ErrBusy) {
		t.Errorf("Resume while the operation runs: %v, want ErrBusy", err)
	}
	if _, err := e.ex.Submit(ctx, store.OpTerminate, deploy.Request{Deployment: "d"}); !errors.Is(err, deploy.ErrBusy) {
		t.Errorf("a second operation: %v, want ErrBusy", err)
	}
	if l, err := e.st.GetLease(ctx, "d"); err != nil || l.Owner != e.ex.Owner() || l.Expired {
		t.Errorf("the running operation lost its lease: %+v, %v", l, err)
	}
	if res, err := h.Wait(ctx); err != nil || res.Operation.Status != store.OpSucceeded {
		t.Fatalf("launch: %v", err)
	}
	if n := len(e.rt.Calls()); n != 2 { // one Apply, one Wait
		t.Errorf("%d runtime calls, want 2: %v", n, e.rt.Calls())
	}
	// Once it has ended, the next operation may start.
	if _, err := e.ex.Terminate(ctx, deploy.Request{Deployment: "d"}); err != nil {
		t.Errorf("terminate after the launch: %v", err)
	}
}
