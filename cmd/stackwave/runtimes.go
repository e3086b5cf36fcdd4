package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
)

// runtimeNames lists the values of --runtime.
const runtimeNames = "docker, kube or memory"

// errUnknownRuntime is a --runtime that names no runtime: a usage error.
var errUnknownRuntime = errors.New("unknown runtime")

// openRuntime returns the runtime --runtime names and the function that
// releases it. Each back-end is one case of the switch.
func openRuntime(_ context.Context, name string) (runtime.Runtime, func() error, error) {
	nop := func() error { return nil }
	switch name {
	case "memory":
		// Containers simulated in this process (runtime/sim): for trying
		// things out and for tests, with no Docker or cluster.
		return sim.New(nil), nop, nil
	case "docker":
		// Plug runtime/docker in here:
		//	rt, err := docker.NewFromEnv(nil)
		//	if err != nil { return nil, nil, err }
		//	return rt, rt.Close, nil
		return nil, nil, fmt.Errorf("runtime %s is not available in this build; use --runtime memory", name)
	case "kube":
		// Plug runtime/kube in here, configured from KUBECONFIG.
		return nil, nil, fmt.Errorf("runtime %s is not available in this build; use --runtime memory", name)
	}
	return nil, nil, fmt.Errorf("%w %q: want %s", errUnknownRuntime, name, runtimeNames)
}
