package docker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

// benchServices are n testapp services answering HTTP, ready by a health
// check every 200ms.
func benchServices(b testing.TB, n int) []stack.Service {
	svcs := make([]stack.Service, n)
	for i := range svcs {
		svcs[i] = stack.Service{
			Name: fmt.Sprintf("s%02d", i), UnitType: "1U1G", Image: img(b),
			Envs:      []string{"TESTAPP_HTTP=8080"},
			Readiness: execProbe(8080, benchPeriod),
		}
	}
	return svcs
}

// healthTimes follows the engine's health_status events of a namespace
// and keeps, per container name, when it first turned healthy by the
// engine's clock, and when this process received that event.
type healthTimes struct {
	mu       sync.Mutex
	healthy  map[string]time.Time
	received map[string]time.Time
}

func watchHealth(b *testing.B, cli *client.Client, ns string) *healthTimes {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	h := &healthTimes{healthy: map[string]time.Time{}, received: map[string]time.Time{}}
	ev := cli.Events(ctx, client.EventsListOptions{Filters: make(client.Filters).Add("type", "container").
		Add("event", "health_status").Add("label", docker.DefaultLabelPrefix+".namespace="+ns)})
	go func() {
		for {
			select {
			case m := <-ev.Messages:
				now := time.Now()
				if m.Action == events.ActionHealthStatusHealthy {
					h.mu.Lock()
					name := m.Actor.Attributes["name"]
					if _, ok := h.healthy[name]; !ok {
						h.healthy[name], h.received[name] = time.Unix(0, m.TimeNano), now
					}
					h.mu.Unlock()
				}
			case <-ev.Err:
				return
			}
		}
	}()
	return h
}

func (h *healthTimes) reset() {
	h.mu.Lock()
	clear(h.healthy)
	clear(h.received)
	h.mu.Unlock()
}

// gaps returns, for each service-ready event, how long after the engine
// marked the service's last instance healthy Wait reported it (engine),
// and how long after another client of the engine received that event
// (delivered): the difference is the engine's delivery under load.
func (h *healthTimes) gaps(b *testing.B, rt *docker.Runtime, spec *runtime.StackSpec, ready map[string]time.Time) (engine, delivered []time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, svc := range spec.Stack.Services {
		var last, got time.Time
		for n := 1; n <= svc.Replicas(); n++ {
			name := fmt.Sprintf("%s-%s-%s-%s-%d", rt.Options().Namespace, spec.Deployment, spec.Stack.Name, svc.Name, n)
			t, ok := h.healthy[name]
			if !ok {
				b.Fatalf("no health_status event for %s", name)
			}
			if t.After(last) {
				last, got = t, h.received[name]
			}
		}
		engine = append(engine, ready[svc.Name].Sub(last))
		delivered = append(delivered, ready[svc.Name].Sub(got))
	}
	return engine, delivered
}

func reportGaps(b *testing.B, engine, delivered []time.Duration) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	slices.Sort(engine)
	slices.Sort(delivered)
	b.ReportMetric(ms(engine[len(engine)/2]), "ms-ready-gap-p50")
	b.ReportMetric(ms(engine[len(engine)*95/100]), "ms-ready-gap-p95")
	b.ReportMetric(ms(engine[len(engine)-1]), "ms-ready-gap-max")
	b.ReportMetric(ms(delivered[len(delivered)-1]), "ms-after-delivery-max")
}

// BenchmarkLaunch50 launches one tier of 50 independent stacks of one
// service each, as the deploy executor does: Apply calls bounded to 8 at
// a time, a Wait per stack right after its Apply, until all 50 are
// healthy. Removal is not timed. It also reports how long after the
// engine's health_status event Wait reported each service ready.
func BenchmarkLaunch50(b *testing.B) {
	rt := newRuntime(b, nil)
	var specs []*runtime.StackSpec
	for i, svc := range benchServices(b, 50) {
		specs = append(specs, stackSpec("bench50", fmt.Sprintf("st%02d", i), 0, svc))
	}
	health := watchHealth(b, rt.Client(), rt.Options().Namespace)
	var engine, delivered []time.Duration
	for b.Loop() {
		health.reset()
		ready := launchTier(b, rt, specs)
		b.StopTimer()
		time.Sleep(200 * time.Millisecond) // let the watcher catch up
		for _, spec := range specs {
			e, d := health.gaps(b, rt, spec, ready[spec.Stack.Name])
			engine, delivered = append(engine, e...), append(delivered, d...)
		}
		removeAll(b, rt, specs)
		b.StartTimer()
	}
	reportGaps(b, engine, delivered)
}

// launchTier applies and waits for stacks concurrently, at most 8 Apply
// calls at once, and returns when each service was reported ready, by
// stack and service.
func launchTier(b *testing.B, rt *docker.Runtime, specs []*runtime.StackSpec) map[string]map[string]time.Time {
	ctx := context.Background()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ready := map[string]map[string]time.Time{}
	errs := make([]error, len(specs))
	for i, spec := range specs {
		ready[spec.Stack.Name] = map[string]time.Time{}
		wg.Go(func() {
			sem <- struct{}{}
			err := rt.Apply(ctx, spec, nil)
			<-sem
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = rt.Wait(ctx, spec, func(e runtime.Event) {
				if e.Type == runtime.EventServiceReady {
					mu.Lock()
					ready[spec.Stack.Name][e.Service] = e.Time
					mu.Unlock()
				}
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(b, err)
	}
	return ready
}

func removeAll(b *testing.B, rt *docker.Runtime, specs []*runtime.StackSpec) {
	// One stack at a time: teardown is not timed, and it keeps clear of
	// Engine 20.10's racy endpoint count (moby/moby#42119).
	for _, spec := range specs {
		must(b, rt.Remove(context.Background(), spec.Ref(), runtime.RemoveOptions{GracePeriod: time.Second}))
	}
}

// BenchmarkSequential50 is the naive baseline for BenchmarkLaunch50: the
// same 50 containers, same client, created, started and polled until
// healthy one after another.
func BenchmarkSequential50(b *testing.B) {
	rt := newRuntime(b, nil) // for its namespace and cleanup
	cli := rt.Client()
	ns := rt.Options().Namespace
	ref := img(b).Ref()
	ctx := context.Background()
	netName := ns + "-seq"
	for b.Loop() {
		net, err := cli.NetworkCreate(ctx, netName, client.NetworkCreateOptions{Driver: "bridge",
			Labels: map[string]string{docker.DefaultLabelPrefix + ".namespace": ns}})
		must(b, err)
		var ids []string
		for i := range 50 {
			res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
				Name: fmt.Sprintf("%s-seq-%02d", ns, i),
				Config: &container.Config{Image: ref, Env: []string{"TESTAPP_HTTP=8080"},
					Labels: map[string]string{docker.DefaultLabelPrefix + ".namespace": ns},
					Healthcheck: &container.HealthConfig{Test: []string{"CMD", "/testapp", "probe", "tcp", "127.0.0.1:8080"},
						Interval: 200 * time.Millisecond, Timeout: 3 * time.Second, Retries: 3}},
				HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(netName),
					Resources: container.Resources{NanoCPUs: 1e9, Memory: 1 << 30, MemorySwap: 1 << 30}},
			})
			must(b, err)
			ids = append(ids, res.ID)
			_, err = cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{})
			must(b, err)
			for {
				res, err := cli.ContainerInspect(ctx, res.ID, client.ContainerInspectOptions{})
				must(b, err)
				if h := res.Container.State.Health; h != nil && h.Status == container.Healthy {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		b.StopTimer()
		for _, id := range ids {
			secs := 1
			_, err := cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
			must(b, err)
			_, err = cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
			must(b, err)
		}
		_, err = cli.NetworkRemove(ctx, net.ID, client.NetworkRemoveOptions{})
		must(b, err)
		b.StartTimer()
	}
}

// BenchmarkLaunchProduct12 launches a product of 12 services in 3 tiers
// (two stacks of two services per tier) through the deploy executor, with
// the in-memory store, until every service is healthy; terminating it
// between rounds is not timed.
func BenchmarkLaunchProduct12(b *testing.B) {
	rt := newRuntime(b, nil)
	all := benchServices(b, 12)
	var deps stack.Deps
	for t := range 3 {
		var tier stack.Tier
		for s := range 2 {
			i := t*4 + s*2
			tier = append(tier, stack.Stack{Name: fmt.Sprintf("t%ds%d", t, s), Services: []stack.Service{all[i], all[i+1]}})
		}
		deps = append(deps, tier)
	}
	cat := newCatalog(b, "bench12", deps)
	ex, _ := newExecutor(b, rt, cat.st)
	ctx := context.Background()
	for b.Loop() {
		_, err := ex.Launch(ctx, deploy.Request{Deployment: "bench12", VersionID: cat.versions[0].ID})
		must(b, err)
		b.StopTimer()
		_, err = ex.Terminate(ctx, deploy.Request{Deployment: "bench12", DeleteData: true})
		must(b, err)
		b.StartTimer()
	}
}

// benchPeriod is the health check interval of the benchmark services.
const benchPeriod = time.Second
