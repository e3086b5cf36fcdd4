package deploy_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

func claimSpec(tag string) stack.Deps {
	return stack.Deps{{{
		Name: "a", Services: []stack.Service{{Name: "s", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: tag}}},
	}}}
}

// A client that sees an operation end (its last event) and at once
// starts the next one on the deployment is not refused as busy: the
// executor holds the deployment only until it has released the lease,
// and a request that comes while it finishes waits for that.
func TestNextOperationAfterTheEndIsNotBusy(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	v1, v2 := e.version("v1", claimSpec("1")), e.version("v2", claimSpec("2"))
	for i := range 10 {
		name := fmt.Sprintf("d%d", i)
		ended := make(chan deploy.Event, 1)
		h, err := e.ex.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: name, VersionID: v1, OnEvent: func(ev deploy.Event) {
			if ev.Type == deploy.EventOperationDone || ev.Type == deploy.EventOperationFailed {
				ended <- ev
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if ev := <-ended; ev.Type != deploy.EventOperationDone {
			t.Fatalf("launch %s: %s", name, ev.Message)
		}
		// The end is observable: the next operation is accepted.
		h2, err := e.ex.Submit(ctx, store.OpUpdate, deploy.Request{Deployment: name, VersionID: v2})
		if err != nil {
			t.Fatalf("update %s right after the launch's last event: %v", name, err)
		}
		if _, err := h.Wait(ctx); err != nil {
			t.Fatalf("launch %s: %v", name, err)
		}
		if _, err := h2.Wait(ctx); err != nil {
			t.Fatalf("update %s: %v", name, err)
		}
		// The finishing launch did not release the update's lease.
		if res, err := e.ex.Update(ctx, deploy.Request{Deployment: name, VersionID: v1}); err != nil || res.Operation.Status != store.OpSucceeded {
			t.Fatalf("update %s back right after the previous one's handle: %v", name, err)
		}
		e.consistent(name)
	}
}

// A callback that starts the next operation when it sees the end does
// not wait for itself: the executor lets the deployment go before it
// delivers the last events.
func TestNextOperationFromTheEndEvent(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	v1, v2 := e.version("v1", claimSpec("1")), e.version("v2", claimSpec("2"))
	type next struct {
		h   *deploy.Handle
		err error
	}
	got := make(chan next, 1)
	h, err := e.ex.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "d", VersionID: v1, OnEvent: func(ev deploy.Event) {
		if ev.Type == deploy.EventOperationDone {
			h, err := e.ex.Submit(ctx, store.OpUpdate, deploy.Request{Deployment: "d", VersionID: v2})
			got <- next{h, err}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	n := <-got
	if n.err != nil {
		t.Fatalf("update from the launch's done event: %v", n.err)
	}
	if res, err := n.h.Wait(ctx); err != nil || res.Deployment.VersionID != v2 {
		t.Fatalf("update: %v", err)
	}
}
