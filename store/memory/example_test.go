package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// A control plane catalogues a product and a version of it, records a
// deployment, and takes the deployment's lease before changing it.
func Example() {
	ctx := context.Background()
	s := memory.New(nil)
	defer s.Close()

	p, err := s.CreateProduct(ctx, &product.Product{Name: "blog", ProviderName: "Acme"})
	if err != nil {
		panic(err)
	}
	v, err := s.CreateVersion(ctx, &product.Version{
		ProductID: p.ID,
		Name:      "1.0",
		StackDeps: stack.Deps{{{
			Name: "web",
			Services: []stack.Service{{
				Name: "nginx", UnitType: "1U1G",
				Image: stack.Image{Name: "nginx", Tag: "1.27"},
			}},
		}}},
	})
	if err != nil {
		panic(err)
	}
	d, err := s.CreateDeployment(ctx, &store.Deployment{
		Name:      "blog-prod",
		ProductID: p.ID,
		VersionID: v.ID,
		Operations: []store.Operation{{
			ID: "op-1", Type: store.OpLaunch, Status: store.OpInProgress, ToVersionID: v.ID,
		}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Name, d.Status, "revision", d.Revision)

	// Replica a holds the deployment; replica b must wait for it.
	if _, err := s.AcquireLease(ctx, d.Name, "replica-a", 30*time.Second); err != nil {
		panic(err)
	}
	_, err = s.AcquireLease(ctx, d.Name, "replica-b", 30*time.Second)
	var held *store.LeaseHeldError
	if errors.As(err, &held) {
		fmt.Println("lease held by", held.Owner)
	}

	// The launch succeeds; the update carries the revision it read.
	d.Status = store.StatusAvailable
	d.LastOperation().Status = store.OpSucceeded
	if d, err = s.UpdateDeployment(ctx, d); err != nil {
		panic(err)
	}
	fmt.Println(d.Name, d.Status, "revision", d.Revision)

	// A writer holding the old revision is refused.
	stale := *d
	stale.Revision = 1
	_, err = s.UpdateDeployment(ctx, &stale)
	fmt.Println(errors.Is(err, store.ErrConflict))

	if err := s.ReleaseLease(ctx, d.Name, "replica-a"); err != nil {
		panic(err)
	}
	// Output:
	// blog-prod UnderChange revision 1
	// lease held by replica-a
	// blog-prod Available revision 2
	// true
}
