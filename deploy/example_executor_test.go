package deploy_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store/memory"
)

// Launch the seed's kodo-double product on the simulated runtime and print
// what happened to each stack. The stacks of one tier start concurrently,
// so the example sorts the events of a tier before printing them.
func ExampleExecutor_Launch() {
	ctx := context.Background()
	data, err := os.ReadFile("../examples/kodo-double.json")
	if err != nil {
		panic(err)
	}
	doc, err := product.Decode(data)
	if err != nil {
		panic(err)
	}

	st := memory.New(nil)
	var mu sync.Mutex
	var events []deploy.Event
	ex := deploy.New(sim.New(nil), st, &deploy.Options{OnEvent: func(e deploy.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	defer ex.Close()

	p, err := st.CreateProduct(ctx, &product.Product{Name: doc.Name, ProviderName: "example"})
	if err != nil {
		panic(err)
	}
	v, err := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: doc.StackDeps})
	if err != nil {
		panic(err)
	}
	res, err := ex.Launch(ctx, deploy.Request{
		Deployment: "kodo",
		VersionID:  v.ID,
		// The seed's authproxy services carry a config file.
		ConfigTemplates: map[string]string{"/authproxy_in/qboxauthproxy.conf": "listen 9085 # {{.Stack}}\n"},
	})
	if err != nil {
		panic(err)
	}

	// Keep the stack events; order them by tier, then stack name.
	var stackEvents []deploy.Event
	for _, e := range events {
		if e.Stack != "" && e.Service == "" {
			stackEvents = append(stackEvents, e)
		}
	}
	tier := map[string]int{"mysql-cluster": 0, "kodo-1": 1, "kodo-2": 1}
	sort.SliceStable(stackEvents, func(i, j int) bool {
		a, b := stackEvents[i], stackEvents[j]
		if tier[a.Stack] != tier[b.Stack] {
			return tier[a.Stack] < tier[b.Stack]
		}
		return a.Stack < b.Stack
	})
	for _, e := range stackEvents {
		fmt.Println(e.Type, e.Stack)
	}
	fmt.Println(res.Deployment.Status, res.Operation.Type, res.Operation.Status)
	// Output:
	// stack-applying mysql-cluster
	// stack-waiting mysql-cluster
	// stack-ready mysql-cluster
	// stack-applying kodo-1
	// stack-waiting kodo-1
	// stack-ready kodo-1
	// stack-applying kodo-2
	// stack-waiting kodo-2
	// stack-ready kodo-2
	// Available launch Succeeded
}
