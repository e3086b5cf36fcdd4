package deploy_test

import (
	"context"
	"fmt"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store/memory"
)

// A service removed behind stackwave's back (here with the simulated
// runtime's Tamper; docker rm -f on Docker) shows in Status as drift, and
// a Reconciler pass repairs it.
func ExampleReconciler() {
	ctx := context.Background()
	st, rt := memory.New(nil), sim.New(nil)
	ex := deploy.New(rt, st, nil)
	defer ex.Close()
	p, _ := st.CreateProduct(ctx, &product.Product{Name: "shop", ProviderName: "me"})
	img := stack.Image{Name: "app", Tag: "1"}
	v, _ := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: stack.Deps{
		{{Name: "db", Services: []stack.Service{{Name: "mysql", UnitType: "1U1G", Image: img}}}},
		{{Name: "web", Services: []stack.Service{{Name: "nginx", UnitType: "1U1G", Image: img}}}},
	}})
	if _, err := ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: v.ID}); err != nil {
		panic(err)
	}

	rt.Tamper("shop", "web", "nginx", sim.Change{Kind: sim.RemoveChange})
	status, _ := ex.Status(ctx, "shop")
	fmt.Printf("%s (recorded %s): health %s, sync %s\n", status.Status, status.Recorded, status.Health, status.Sync)
	for _, s := range status.Stacks {
		fmt.Printf("  %s: %s, %s", s.Name, s.Health, s.Sync)
		if s.Reason != "" {
			fmt.Printf(" (%s)", s.Reason)
		}
		fmt.Println()
	}

	r := deploy.NewReconciler(ex, nil)
	res, _ := r.Pass(ctx)
	fmt.Printf("pass: %d checked, %d repaired\n", res.Checked, res.Repaired)
	status, _ = ex.Status(ctx, "shop")
	fmt.Printf("%s: health %s, sync %s\n", status.Status, status.Health, status.Sync)
	// Output:
	// Degraded (recorded Available): health degraded, sync drifted
	//   db: running, in-sync
	//   web: missing, drifted (drifted: nginx: missing)
	// pass: 1 checked, 1 repaired
	// Available: health running, sync in-sync
}
