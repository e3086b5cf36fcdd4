package memory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

	// The product and its first version are written at once.
	reg, err := s.Register(ctx, &product.Document{
		Name:         "blog",
		ProviderName: "Acme",
		VersionName:  "1.0",
		StackDeps: stack.Deps{{{
			Name: "web",
			Services: []stack.Service{{
				Name: "nginx", UnitType: "1U1G",
				Image: stack.Image{Name: "nginx", Tag: "1.27"},
			}},
		}}},
	}, nil)
	if err != nil {
		panic(err)
	}
	p, v := reg.Product, reg.Version
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

// A client follows a deployment's event log from a sequence number: each
// append wakes it, and each event comes once, in order.
func ExampleEventSubscription() {
	ctx := context.Background()
	s := memory.New(nil)
	defer s.Close()
	reg, err := s.Register(ctx, &product.Document{Name: "blog", ProviderName: "Acme", StackDeps: stack.Deps{{{
		Name:     "web",
		Services: []stack.Service{{Name: "nginx", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1.27"}}},
	}}}}, nil)
	if err != nil {
		panic(err)
	}
	if _, err := s.CreateDeployment(ctx, &store.Deployment{Name: "blog-prod", ProductID: reg.Product.ID, VersionID: reg.Version.ID}); err != nil {
		panic(err)
	}

	sub, err := s.SubscribeEvents(ctx, "blog-prod", store.EventQuery{AfterSeq: 0})
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	go func() {
		for _, typ := range []string{"operation-started", "stack-ready", "operation-done"} {
			if err := s.AppendEvents(ctx, "blog-prod", store.Event{OperationID: "op-1", Type: typ}); err != nil {
				panic(err)
			}
		}
	}()
	for seen := 0; seen < 3; {
		evs, err := sub.Next(ctx)
		if err != nil {
			panic(err)
		}
		for _, e := range evs {
			fmt.Println(e.Seq, e.Type)
			seen++
		}
	}
	// Output:
	// 1 operation-started
	// 2 stack-ready
	// 3 operation-done
}

// Env values and launch variables are sealed before they reach the
// driver, and opened when read.
func ExampleKeyring() {
	ctx := context.Background()
	keys, err := store.ParseKeyring([]byte("# the first key seals\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"))
	if err != nil {
		panic(err)
	}
	drv := memory.NewDriver()
	s := store.New(drv, &store.Options{Keys: keys})
	reg, err := s.Register(ctx, &product.Document{Name: "blog", ProviderName: "Acme", StackDeps: stack.Deps{{{
		Name: "web",
		Services: []stack.Service{{Name: "nginx", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1.27"},
			Envs: []string{"DB_PASSWORD=hunter2"}}},
	}}}}, nil)
	if err != nil {
		panic(err)
	}
	v, _ := s.GetVersion(ctx, reg.Version.ID)
	fmt.Println(v.StackDeps[0][0].Services[0].Envs[0])
	raw, _ := drv.Version(ctx, reg.Version.ID)
	fmt.Println(strings.HasPrefix(raw.StackDeps[0][0].Services[0].Envs[0], "DB_PASSWORD=sealed:v1:"+keys.KeyID()+":"))
	// Output:
	// DB_PASSWORD=hunter2
	// true
}
