package docker_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

// A stack of one web service on the local engine: apply it, wait until
// its health check passes, read its published address, remove it. (It
// needs an engine, so it is compiled but not run by go test.)
func Example() {
	rt, err := docker.NewFromEnv(&docker.Options{
		HostIP:      netip.MustParseAddr("127.0.0.1"),
		ProbeBinary: "/usr/local/lib/stackwave/stackwave-probe", // for tcp/http probes in any image
	})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	spec := &runtime.StackSpec{
		Deployment: "demo",
		Stack: stack.Stack{Name: "site", Services: []stack.Service{{
			Name: "web", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1.27"},
			AccessPoints: []stack.AccessPoint{{Type: stack.AccessDomain, BackendPorts: []int{80}}},
			Readiness:    &stack.Probe{Type: stack.ProbeHTTP, Port: 80, Path: "/"},
		}}},
		ReadyTimeout: time.Minute,
	}
	ctx := context.Background()
	report := func(e runtime.Event) { fmt.Println(e.Type, e.Service, e.Message) }
	if err := rt.Apply(ctx, spec, report); err != nil {
		log.Fatal(runtime.MapError(rt, err))
	}
	if err := rt.Wait(ctx, spec, report); err != nil {
		log.Fatal(runtime.MapError(rt, err)) // a *runtime.ServiceError with the exit code and last log lines
	}
	st, err := rt.Observe(ctx, "demo")
	if err != nil {
		log.Fatal(err)
	}
	for _, ep := range st.Stack("site").Service("web").Endpoints {
		fmt.Printf("http://%s (Host: %s)\n", ep.Address, ep.Host)
	}
	if err := rt.Remove(ctx, spec.Ref(), runtime.RemoveOptions{}); err != nil {
		log.Fatal(err)
	}
}
