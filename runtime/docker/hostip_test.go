package docker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/internal/dockertest"
	"github.com/stackwave/stackwave/runtime/docker"
)

// TestPublishesOnLoopbackByDefault launches a service with a public port
// on a runtime whose Options leave HostIP unset, and checks on the engine
// that the port is bound to 127.0.0.1 alone.
func TestPublishesOnLoopbackByDefault(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	ns := "swh-" + randomHex(4)
	rt, err := docker.New(cli, &docker.Options{Namespace: ns, GracePeriod: 2 * time.Second, SubnetPool: testSubnetPool})
	must(t, err)
	t.Cleanup(func() {
		rt.Close()
		cleanNamespace(t, cli, docker.DefaultLabelPrefix, ns)
	})
	ctx := ctxT(t, 5*time.Minute)
	spec := stackSpec("hostip", "app", 0, web(t, "web", 8080))
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	ds, err := rt.Observe(ctx, "hostip")
	must(t, err)
	svc := ds.Stack("app").Service("web")
	if len(svc.Instances) != 1 {
		t.Fatalf("web has %d instances, want 1", len(svc.Instances))
	}
	res, err := cli.ContainerInspect(ctx, svc.Instances[0].ID, client.ContainerInspectOptions{})
	must(t, err)
	bound := 0
	for port, bindings := range res.Container.NetworkSettings.Ports {
		for _, b := range bindings {
			bound++
			if b.HostIP.String() != "127.0.0.1" {
				t.Errorf("port %s is published on %s:%s, want 127.0.0.1", port, b.HostIP, b.HostPort)
			}
		}
	}
	if bound == 0 {
		t.Fatalf("no published port: %+v", res.Container.NetworkSettings.Ports)
	}
	for _, ep := range svc.Endpoints {
		if ep.Address != "" && !strings.HasPrefix(ep.Address, "127.0.0.1:") {
			t.Errorf("endpoint address %q, want 127.0.0.1:<port>", ep.Address)
		}
	}
}
