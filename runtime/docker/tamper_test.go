package docker_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/runtime/runtimetest"
	"github.com/stackwave/stackwave/stack"
)

// tamper changes a service's containers through the engine's API, as
// someone at the engine would: docker rm -f, docker stop, a container
// re-made by hand from another image with the same labels, or the
// highest instances removed (a scale-down). The other image is the test
// image under a second tag, removed when the test ends.
func tamper(cli *client.Client, ns string, image stack.Image) func(t *testing.T, ref runtime.StackRef, service string, c runtimetest.Change) bool {
	return func(t *testing.T, ref runtime.StackRef, service string, c runtimetest.Change) bool {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		label := func(k, v string) string { return docker.DefaultLabelPrefix + "." + k + "=" + v }
		f := make(client.Filters).Add("label", label("namespace", ns), label("deployment", ref.Deployment),
			label("stack", ref.Stack), label("service", service), label("role", "container"))
		list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err != nil {
			t.Fatalf("tamper: list containers: %v", err)
		}
		if len(list.Items) == 0 {
			t.Fatalf("tamper: no container of %s service %s", ref, service)
		}
		remove := func(id string) {
			// docker rm -f, killed first: force-removing a running
			// container can leak its network endpoint on Engine 20.10,
			// which then blocks removing the network.
			kill := 0
			_, _ = cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &kill})
			if _, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil {
				t.Fatalf("tamper: docker rm -f %.12s: %v", id, err)
			}
		}
		for _, s := range list.Items {
			switch c.Kind {
			case runtimetest.ChangeRemove:
				remove(s.ID)
			case runtimetest.ChangeStop:
				secs := 1
				if _, err := cli.ContainerStop(ctx, s.ID, client.ContainerStopOptions{Timeout: &secs}); err != nil {
					t.Fatalf("tamper: docker stop %.12s: %v", s.ID, err)
				}
			case runtimetest.ChangeScale:
				if n, _ := strconv.Atoi(s.Labels[docker.DefaultLabelPrefix+".instance"]); n > c.Instances {
					remove(s.ID)
				}
			case runtimetest.ChangeImage:
				other := image.Name + ":by-hand"
				if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: image.Ref(), Target: other}); err != nil {
					t.Fatalf("tamper: docker tag: %v", err)
				}
				t.Cleanup(func() {
					_, _ = cli.ImageRemove(context.Background(), other, client.ImageRemoveOptions{})
				})
				res, err := cli.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
				if err != nil {
					t.Fatalf("tamper: inspect %.12s: %v", s.ID, err)
				}
				in := res.Container
				eps := map[string]*network.EndpointSettings{}
				for name, ep := range in.NetworkSettings.Networks {
					eps[name] = &network.EndpointSettings{Aliases: ep.Aliases}
				}
				remove(s.ID)
				cfg := *in.Config
				cfg.Image = other
				made, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
					Name: in.Name[1:], Config: &cfg, HostConfig: in.HostConfig,
					NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: eps},
				})
				if err != nil {
					t.Fatalf("tamper: docker create: %v", err)
				}
				if _, err := cli.ContainerStart(ctx, made.ID, client.ContainerStartOptions{}); err != nil {
					t.Fatalf("tamper: docker start: %v", err)
				}
			}
		}
		return true
	}
}
