package runtime_test

import (
	"context"
	"fmt"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
)

// A logging wrapper that keeps every capability of the runtime it wraps:
// the executor can still stop stacks (Lifecycle) and list volumes through
// it.
func ExampleWrap() {
	rt := sim.New(nil)
	logged := runtime.Wrap(rt, runtime.Hooks{
		After: func(ctx context.Context, c runtime.Call, took time.Duration, err error) {
			fmt.Printf("%s %s/%s: %v\n", c.Method, c.Deployment, c.Stack, err)
		},
	})
	fmt.Println(runtime.CapabilitiesOf(rt) == runtime.CapabilitiesOf(logged))
	_, ok := logged.(runtime.Lifecycle)
	fmt.Println("Lifecycle:", ok)
	_, ok = logged.(runtime.Addresser) // sim has none, nor has its wrapper
	fmt.Println("Addresser:", ok)

	ctx := context.Background()
	spec := &runtime.StackSpec{Deployment: "shop", Stack: stack.Stack{Name: "web", Services: []stack.Service{
		{Name: "nginx", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1.27"}},
	}}}
	logged.Apply(ctx, spec, nil)
	logged.(runtime.Lifecycle).Stop(ctx, spec.Ref())
	// Output:
	// true
	// Lifecycle: true
	// Addresser: false
	// Apply shop/web: <nil>
	// Stop shop/web: <nil>
}
