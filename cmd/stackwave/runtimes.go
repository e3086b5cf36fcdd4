package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/moby/moby/client"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/runtime/sim"
)

// runtimeNames lists the values of --runtime.
const runtimeNames = "docker, kube or memory"

// errUnknownRuntime is a --runtime that names no runtime: a usage error.
var errUnknownRuntime = errors.New("unknown runtime")

// openRuntime returns the runtime --runtime names and the function that
// releases it. Each back-end is one case of the switch.
func openRuntime(ctx context.Context, name string, faults []string) (runtime.Runtime, func() error, error) {
	nop := func() error { return nil }
	if len(faults) > 0 && name != "memory" {
		return nil, nil, errFaultsNeedMemory
	}
	switch name {
	case "memory":
		// Containers simulated in this process (runtime/sim): for trying
		// things out and for tests, with no Docker or cluster.
		rt, err := withFaults(newSim(), faults)
		if err != nil {
			return nil, nil, err
		}
		return rt, nop, nil
	case "docker":
		return openDocker(ctx)
	case "kube":
		return openKube(ctx)
	}
	return nil, nil, fmt.Errorf("%w %q: want %s", errUnknownRuntime, name, runtimeNames)
}

// newSim makes the runtime of --runtime memory. Tests replace it to share
// one simulated runtime between commands run in process, as a Docker
// engine is shared between commands.
var newSim = func() *sim.Runtime { return sim.New(simOptions()) }

// simOptions are the options of the simulated runtime of --runtime
// memory: each instance writes one line as it starts, so that logs has
// something to show.
func simOptions() *sim.Options {
	return &sim.Options{Output: func(deployment, stack, service string) (stdout, stderr []string) {
		return []string{fmt.Sprintf("%s/%s of %s started (simulated)", stack, service, deployment)}, nil
	}}
}

// dockerHostIPEnv names the variable that sets the host address Docker
// publishes ports on; the command line binds loopback unless told.
const dockerHostIPEnv = "STACKWAVE_DOCKER_HOST_IP"

// openDocker connects to the engine DOCKER_HOST names (the local socket by
// default) and checks that it answers.
func openDocker(ctx context.Context) (runtime.Runtime, func() error, error) {
	hostIP := netip.MustParseAddr("127.0.0.1")
	if v := os.Getenv(dockerHostIPEnv); v != "" {
		ip, err := netip.ParseAddr(v)
		if err != nil {
			return nil, nil, fmt.Errorf("%s=%q: %w", dockerHostIPEnv, v, err)
		}
		hostIP = ip
	}
	rt, err := docker.NewFromEnv(&docker.Options{HostIP: hostIP})
	if err != nil {
		return nil, nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := rt.Client().Ping(pctx, client.PingOptions{}); err != nil {
		rt.Close()
		return nil, nil, unreachable(fmt.Errorf("docker engine unreachable: %w", err))
	}
	return rt, rt.Close, nil
}

// openKube connects to the cluster KUBECONFIG (or ~/.kube/config) names,
// in its current context, and checks that the API server answers.
func openKube(ctx context.Context) (runtime.Runtime, func() error, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, nil, unreachable(fmt.Errorf("kubernetes: no usable kubeconfig (KUBECONFIG or ~/.kube/config): %w", err))
	}
	rt, err := kube.New(cfg, nil)
	if err != nil {
		return nil, nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := rt.Clientset().Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(pctx); err != nil {
		rt.Close()
		return nil, nil, unreachable(fmt.Errorf("kubernetes API server %s unreachable: %w", cfg.Host, err))
	}
	return rt, rt.Close, nil
}
