package deploy_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// writeCounter is a store driver that counts the transactions that
// write.
type writeCounter struct {
	store.Driver
	writes atomic.Int64
}

func (w *writeCounter) Update(ctx context.Context, opts *store.TxOptions, fn func(store.Tx) error) error {
	w.writes.Add(1)
	return w.Driver.Update(ctx, opts, fn)
}

// BenchmarkReconcilePass measures one reconcile pass over 1,000
// deployments of 10 stacks (two services each) on the simulated runtime
// with nothing drifted. Goal: under 200 ms, no store write, no runtime
// call that changes anything.
func BenchmarkReconcilePass(b *testing.B) {
	const deployments = 1000
	rt := sim.New(nil)
	wc := &writeCounter{Driver: memory.NewDriver()}
	st := store.New(wc, nil)
	ctx := context.Background()
	p, err := st.CreateProduct(ctx, &product.Product{Name: "bench", ProviderName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	v, err := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: wideDeps(2, 5, 2)})
	if err != nil {
		b.Fatal(err)
	}
	ex := deploy.New(rt, st, nil)
	defer ex.Close()
	for i := range deployments {
		if _, err := ex.Launch(ctx, deploy.Request{Deployment: fmt.Sprintf("d%d", i), VersionID: v.ID}); err != nil {
			b.Fatal(err)
		}
	}
	r := deploy.NewReconciler(ex, nil)
	if _, err := r.Pass(ctx); err != nil { // renders the specs once
		b.Fatal(err)
	}
	rt.ResetCalls()
	wc.writes.Store(0)
	b.ReportAllocs()
	for b.Loop() {
		res, err := r.Pass(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if res.Checked != deployments || res.Repaired != 0 {
			b.Fatalf("pass %+v", res)
		}
	}
	b.StopTimer()
	mutating := len(mutatingCalls(rt.Calls()))
	b.ReportMetric(float64(wc.writes.Load()), "store-writes")
	b.ReportMetric(float64(mutating), "mutating-calls")
	if wc.writes.Load() != 0 || mutating != 0 {
		b.Fatalf("passes with no drift made %d store writes and %d mutating runtime calls", wc.writes.Load(), mutating)
	}
}
