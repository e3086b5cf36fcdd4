package docker_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

func TestApplyWaitObserveRemove(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 2*time.Minute)
	api := web(t, "api", 8080)
	api.Instances = 2
	worker := stack.Service{Name: "worker", UnitType: "1U1G", Image: img(t), Envs: []string{"TESTAPP_SERVICE=worker"}}
	spec := stackSpec("d1", "app", 0, api, worker)
	var events []runtime.Event
	report := func(e runtime.Event) { events = append(events, e) }

	must(t, rt.Apply(ctx, spec, report))
	must(t, rt.Wait(ctx, spec, report))
	st, err := rt.Observe(ctx, "d1")
	must(t, err)
	b, _ := json.MarshalIndent(st, "", "  ")
	t.Logf("%s", b)
	if st.Status() != runtime.StatusRunning {
		t.Fatalf("status %s", st.Status())
	}
	addr := endpoint(t, rt, "d1", "app", "api", 8080)
	code, body, err := get("http://" + addr + "/")
	if err != nil || code != 200 || !strings.Contains(body, `"service": "api"`) {
		t.Fatalf("GET %s: %d %q %v", addr, code, body, err)
	}
	for _, e := range events {
		t.Logf("event %s %s/%s %s", e.Type, e.Stack, e.Service, e.Message)
	}
	must(t, rt.Remove(ctx, spec.Ref(), runtime.RemoveOptions{}))
	st, err = rt.Observe(context.Background(), "d1")
	must(t, err)
	if len(st.Stacks) != 0 {
		t.Fatalf("after remove: %+v", st)
	}
}

// TestSubnetPool: with a pool, every deployment network gets its own /24
// of it, also when several are created at once.
func TestSubnetPool(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, 2*time.Minute)
	// Outside the engine's default address pools (172.17-31.0.0/16,
	// 192.168.0.0/16): a network another program creates without a
	// subnet may get a whole /16 of those, this pool included.
	pool := netip.MustParsePrefix("10.213.0.0/16")
	rt := newRuntime(t, &docker.Options{SubnetPool: pool})
	names := []string{"pool-a", "pool-b", "pool-c"}
	errs := make(chan error, len(names))
	for _, dep := range names {
		go func() {
			spec := stackSpec(dep, "app", 0, web(t, "api", 8080))
			errs <- rt.Apply(ctx, spec, nil)
		}()
	}
	for range names {
		must(t, <-errs)
	}
	res, err := rt.Client().NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Prefix]string{}
	for _, n := range res.Items {
		if !strings.HasPrefix(n.Name, rt.Options().Namespace+"-") {
			continue
		}
		if len(n.IPAM.Config) != 1 || !pool.Contains(n.IPAM.Config[0].Subnet.Addr()) || n.IPAM.Config[0].Subnet.Bits() != 24 {
			t.Errorf("network %s: IPAM %+v, want one /24 of %s", n.Name, n.IPAM.Config, pool)
			continue
		}
		if other, dup := seen[n.IPAM.Config[0].Subnet]; dup {
			t.Errorf("networks %s and %s share %s", n.Name, other, n.IPAM.Config[0].Subnet)
		}
		seen[n.IPAM.Config[0].Subnet] = n.Name
	}
	if len(seen) != len(names) {
		t.Errorf("%d pool networks, want %d", len(seen), len(names))
	}
	if _, err := docker.New(rt.Client(), &docker.Options{SubnetPool: netip.MustParsePrefix("10.213.0.0/25")}); err == nil {
		t.Error("a pool narrower than /24 was accepted")
	}
}
