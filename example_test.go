package stackwave_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// Register a product document, make an executor, launch: the package
// documentation's Embedding section.
func Example_embedding() {
	ctx := context.Background()
	data, err := os.ReadFile("examples/kodo-double.json")
	if err != nil {
		panic(err)
	}
	st := memory.New(nil)
	rt := sim.New(nil)
	ex := deploy.New(rt, st, &deploy.Options{Logger: slog.New(slog.DiscardHandler)})
	defer ex.Close()
	doc, err := product.Decode(data)
	if err != nil {
		panic(err)
	}
	reg, err := st.Register(ctx, doc, &store.RegisterOptions{ProviderName: "acme"})
	if err != nil {
		panic(err)
	}
	ready := 0
	res, err := ex.Launch(ctx, deploy.Request{
		Deployment: "kodo", VersionID: reg.Version.ID, Policy: deploy.Rollback,
		ConfigTemplates: map[string]string{"/authproxy_in/qboxauthproxy.conf": "listen 9085\n"},
		OnEvent: func(e deploy.Event) {
			if e.Type == deploy.EventStackReady {
				ready++
			}
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(reg.Product.Name, reg.Version.Name, reg.Created)
	fmt.Println(res.Deployment.Status, ready, "stacks ready")

	// Registering the same document again finds the same records.
	again, err := st.Register(ctx, doc, &store.RegisterOptions{ProviderName: "acme"})
	if err != nil {
		panic(err)
	}
	fmt.Println(again.Version.ID == reg.Version.ID, again.Created)

	// A closed executor refuses work.
	_ = ex.Close()
	_, err = ex.Launch(ctx, deploy.Request{Deployment: "other", VersionID: reg.Version.ID})
	fmt.Println(err)
	// Output:
	// kodo-double v1 true
	// Available 3 stacks ready
	// true false
	// launch other: executor closed
}
