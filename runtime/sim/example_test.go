package sim_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
)

// A control plane's unit test drives the simulated runtime like a real
// one, then inspects what it holds.
func Example() {
	ctx := context.Background()
	rt := sim.New(nil)
	show := func(e runtime.Event) { fmt.Printf("  %s %s/%s: %s\n", e.Type, e.Stack, e.Service, e.Message) }

	db := &runtime.StackSpec{Deployment: "demo", Tier: 0, Stack: stack.Stack{Name: "db", Services: []stack.Service{{
		Name: "mysql", UnitType: "1U2G", Image: stack.Image{Name: "mysql", Tag: "8.4"},
		VolumeArgs: []stack.VolumeArg{{MountPath: "/var/lib/mysql", UnitType: "SSD1_10G"}},
	}}}}
	web := &runtime.StackSpec{Deployment: "demo", Tier: 1, Stack: stack.Stack{Name: "web", Services: []stack.Service{{
		Name: "nginx", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1.27"}, Instances: 2,
		AccessPoints: []stack.AccessPoint{{Type: stack.AccessDomain, BackendPorts: []int{80}}},
	}}}}
	for _, spec := range []*runtime.StackSpec{db, web} {
		fmt.Println("launch", spec.Stack.Name)
		if err := rt.Apply(ctx, spec, show); err != nil {
			panic(err)
		}
		if err := rt.Wait(ctx, spec, show); err != nil {
			panic(err)
		}
	}

	state, _ := rt.Observe(ctx, "demo")
	for _, st := range state.Stacks {
		for _, svc := range st.Services {
			fmt.Printf("%s/%s %s, %d instances\n", st.Name, svc.Name, svc.Status(), len(svc.Instances))
			for _, ep := range svc.Endpoints {
				fmt.Printf("  %s %s at %s\n", ep.Type, ep.Host, ep.Address)
			}
		}
	}

	// The next start of nginx crashes; Wait reports it at once.
	rt.Inject(sim.Fault{Kind: sim.ExitOnStart, Service: "nginx", ExitCode: 1})
	web.Stack.Services[0].Envs = []string{"WORKERS=4"}
	fmt.Println("update web")
	_ = rt.Apply(ctx, web, show)
	err := rt.Wait(ctx, web, show)
	var se *runtime.ServiceError
	fmt.Println(errors.Is(err, runtime.ErrFailed), errors.As(err, &se) && se.ExitCode == 1)

	// Removing the database keeps its data.
	_ = rt.Remove(ctx, db.Ref(), runtime.RemoveOptions{})
	volumes, _ := rt.Volumes(ctx, "demo")
	fmt.Println("kept", volumes[0].Name)

	// Output:
	// launch db
	//   service-created db/mysql: created 1 instance
	//   service-ready db/mysql: ready
	// launch web
	//   service-created web/nginx: created 2 instances
	//   service-ready web/nginx: ready
	// db/mysql running, 1 instances
	// web/nginx running, 2 instances
	//   domain nginx.web.demo.stackwave.local at 127.0.0.1:30000
	// update web
	//   service-replaced web/nginx: replaced 2 instances: configuration changed
	//   service-waiting web/nginx: waiting for 2 instances to be ready
	//   service-failed web/nginx: exited with code 1
	// true true
	// kept demo-db-mysql-1-vol1
}
