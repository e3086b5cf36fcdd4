package deploytest_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/deploy/deploytest"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store/memory"
)

// Record one launch's events and wait for its database to be ready, as
// an embedder's unit test does with the in-memory back-ends.
func ExampleRecorder() {
	ctx := context.Background()
	st := memory.New(nil)
	ex := deploy.New(sim.New(nil), st, nil)
	defer ex.Close()
	svc := func(name string) stack.Service {
		return stack.Service{Name: name, UnitType: "1U1G", Image: stack.Image{Name: name, Tag: "1"}}
	}
	deps := stack.Deps{
		{{Name: "db", Services: []stack.Service{svc("mysql")}}},
		{{Name: "api", Services: []stack.Service{svc("server")}}},
	}
	reg, err := st.Register(ctx, &product.Document{Name: "shop", ProviderName: "example", StackDeps: deps}, nil)
	if err != nil {
		panic(err)
	}

	rec := new(deploytest.Recorder)
	h, err := ex.Submit(ctx, "launch", deploy.Request{Deployment: "shop", VersionID: reg.Version.ID, OnEvent: rec.Record})
	if err != nil {
		panic(err)
	}
	ready, err := rec.Wait(ctx, deploytest.Stack(deploy.EventStackReady, "db"))
	if err != nil {
		panic(err)
	}
	fmt.Println(ready.Type, ready.Stack)
	if _, err := h.Wait(ctx); err != nil {
		panic(err)
	}
	for _, e := range deploytest.Filter(rec.Events(), func(e deploy.Event) bool { return e.Service == "" }) {
		fmt.Println(strings.TrimSpace(string(e.Type) + " " + e.Stack))
	}
	// Output:
	// stack-ready db
	// operation-started
	// stack-applying db
	// stack-waiting db
	// stack-ready db
	// stack-applying api
	// stack-waiting api
	// stack-ready api
	// operation-done
}
