package deploy_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// staleReads runs hook once, after the first deployment read, before
// handing the read record back: the record is stale by then.
type staleReads struct {
	store.Driver
	once sync.Once
	hook func()
}

func (s *staleReads) Deployment(ctx context.Context, name string) (*store.Deployment, error) {
	d, err := s.Driver.Deployment(ctx, name)
	s.once.Do(s.hook)
	return d, err
}

// TestResumeOfAnOperationThatEndedMeanwhile: an executor reads an
// operation in progress, and the operation ends before it takes the
// lease; it must not run the ended operation again (found by the fault
// harness, an executor contending with a running terminate).
func TestResumeOfAnOperationThatEndedMeanwhile(t *testing.T) {
	ctx := context.Background()
	drv := memory.NewDriver()
	st := store.New(drv, nil)
	rt := sim.New(&sim.Options{ReadyLatency: 20 * time.Millisecond})
	p, _ := st.CreateProduct(ctx, &product.Product{Name: "shop", ProviderName: "tests"})
	v, _ := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: threeTiers()})
	a := deploy.New(rt, st, &deploy.Options{Owner: "a"})
	defer a.Close()
	h, err := a.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "shop", VersionID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	var launchErr error
	stale := &staleReads{Driver: drv, hook: func() {
		_, launchErr = h.Wait(ctx)
		rt.ResetCalls()
	}}
	b := deploy.New(rt, store.New(stale, nil), &deploy.Options{Owner: "b"})
	defer b.Close()
	_, err = b.Resume(ctx, "shop")
	if launchErr != nil {
		t.Fatalf("launch: %v", launchErr)
	}
	if !errors.Is(err, deploy.ErrNothingToResume) {
		t.Fatalf("resume of an operation that ended after it was read: %v, want ErrNothingToResume", err)
	}
	d, _ := st.GetDeployment(ctx, "shop")
	if op := d.LastOperation(); d.Status != store.StatusAvailable || op.Owner != "a" || op.Status != store.OpSucceeded {
		t.Errorf("after the refused resume: %s, operation %s by %s", d.Status, op.Status, op.Owner)
	}
	for _, c := range rt.Calls() {
		if c.Op == "apply" || c.Op == "remove" {
			t.Errorf("the refused resume called the runtime: %+v", c)
		}
	}
}
