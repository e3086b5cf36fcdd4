package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/store"
)

// TestScaleToZeroRefused: a spec's 0 instances means one, so a scale to
// zero would report a success while one instance runs: it is refused,
// and nothing changes (stopping the stack runs none).
func TestScaleToZeroRefused(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	vid := e.version("v1", threeTiers())
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
		t.Fatal(err)
	}
	calls := len(e.rt.Calls())
	_, err := e.ex.Scale(ctx, deploy.Request{Deployment: "shop", Stack: "worker", Service: "job", Instances: 0})
	if !errors.Is(err, deploy.ErrInvalidRequest) || !strings.Contains(err.Error(), "stop the stack") {
		t.Fatalf("scale to 0: %v, want ErrInvalidRequest naming stop", err)
	}
	if got := len(e.rt.Calls()); got != calls {
		t.Fatalf("a refused scale reached the runtime: %v", e.rt.Calls()[calls:])
	}
	st, err := e.ex.Status(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != store.StatusAvailable || st.Stacks[2].Services[0].Running != 1 {
		t.Fatalf("after a refused scale: %s, %+v", st.Status, st.Stacks[2])
	}
}

// TestStatusAllStopped: with every stack stopped the deployment's health
// is stopped and its verdict Degraded; starting them makes it Available.
func TestStatusAllStopped(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	vid := e.version("v1", threeTiers())
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
		t.Fatal(err)
	}
	stacks := []string{"db", "api", "worker", "web"}
	for _, s := range stacks {
		if _, err := e.ex.Stop(ctx, deploy.Request{Deployment: "shop", Stack: s}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := e.ex.Status(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != deploy.StatusDegraded || st.Health != deploy.HealthStopped {
		t.Fatalf("all stopped: %s, health %s", st.Status, st.Health)
	}
	for _, s := range stacks {
		if _, err := e.ex.Start(ctx, deploy.Request{Deployment: "shop", Stack: s}); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ = e.ex.Status(ctx, "shop"); st.Status != store.StatusAvailable || st.Health != deploy.HealthRunning {
		t.Fatalf("all started: %s, health %s", st.Status, st.Health)
	}
}
