package docker_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

// BenchmarkUp20 times bringing up one tier of 20 one-service stacks whose
// health check runs every second, until every service is healthy, side
// by side in each round (the metrics are medians of the rounds):
//
//   - s-stackwave: the deploy executor's Launch (concurrency from the
//     runtime's hint);
//   - s-floor-4, s-floor-8: the engine's floor, create and start of the
//     same 20 containers straight through the API, 4 or 8 (the runtime's
//     bound) at once, plus one health-check interval, before which no
//     container can be healthy; stackwave/floor compares with the faster.
//     (All 20 at once make Engine 20.10 lose count of the network's
//     endpoints, moby/moby#42119, so that is no floor on this engine);
//   - s-compose: with STACKWAVE_COMPOSE naming a docker compose binary,
//     `compose up -d --wait` of the same services.
//
// Teardown between arms is not timed.
func BenchmarkUp20(b *testing.B) {
	svcs := benchServices(b, 20)
	var tier stack.Tier
	for i := range svcs {
		tier = append(tier, stack.Stack{Name: fmt.Sprintf("st%02d", i), Services: []stack.Service{svcs[i]}})
	}
	benchUp(b, "up20", stack.Deps{tier}, true)
}

// BenchmarkUpProduct12 is BenchmarkUp20 for a product shaped like the
// seed's: 12 services in 3 tiers of two stacks of two services, a tier
// started once the one before is healthy (compose: depends_on with
// condition service_healthy on every service of the tier before). The
// floor is, tier after tier, the create and start of its containers plus
// one health-check interval.
func BenchmarkUpProduct12(b *testing.B) {
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
	benchUp(b, "up12", deps, true)
}

// BenchmarkScale200 launches and tears down 200 containers: one tier of
// 200 one-service stacks in one deployment (one network, as every
// deployment has), services without a health check (ready once running
// for the settle time), and, with STACKWAVE_COMPOSE, one compose project
// of the same 200 services (`up -d --wait`, then `down -v`). Every
// launch and teardown must succeed; s-launch and s-teardown are
// stackwave's, s-compose-up and s-compose-down the peer's.
func BenchmarkScale200(b *testing.B) {
	rt := newRuntime(b, nil)
	var tier stack.Tier
	var svcs []stack.Service
	for i := range 200 {
		svc := stack.Service{Name: fmt.Sprintf("s%03d", i), UnitType: "1U1G", Image: img(b), Envs: []string{"TESTAPP_HTTP=8080"}}
		svcs = append(svcs, svc)
		tier = append(tier, stack.Stack{Name: fmt.Sprintf("st%03d", i), Services: []stack.Service{svc}})
	}
	cat := newCatalog(b, "scale200", stack.Deps{tier})
	ex, _ := newExecutor(b, rt, cat.st)
	ctx := context.Background()
	compose := os.Getenv("STACKWAVE_COMPOSE")
	file := writeComposeFile(b, composeSpec{tiers: [][]stack.Service{svcs}})
	var launch, teardown, up, down []time.Duration
	for b.Loop() {
		if compose != "" {
			start := time.Now()
			runCompose(b, compose, file, "scale200peer", "up", "-d", "--wait")
			up = append(up, time.Since(start))
			start = time.Now()
			runCompose(b, compose, file, "scale200peer", "down", "-v")
			down = append(down, time.Since(start))
		}
		start := time.Now()
		_, err := ex.Launch(ctx, deploy.Request{Deployment: "scale200", VersionID: cat.versions[0].ID})
		must(b, err)
		launch = append(launch, time.Since(start))
		start = time.Now()
		_, err = ex.Terminate(ctx, deploy.Request{Deployment: "scale200", DeleteData: true})
		must(b, err)
		teardown = append(teardown, time.Since(start))
	}
	b.ReportMetric(median(launch).Seconds(), "s-launch")
	b.ReportMetric(median(teardown).Seconds(), "s-teardown")
	if len(up) > 0 {
		b.ReportMetric(median(up).Seconds(), "s-compose-up")
		b.ReportMetric(median(down).Seconds(), "s-compose-down")
	}
}

// benchUp runs the arms of BenchmarkUp20 and BenchmarkUpProduct12.
func benchUp(b *testing.B, name string, deps stack.Deps, withFloor8 bool) {
	rt := newRuntime(b, nil)
	cat := newCatalog(b, name, deps)
	ex, _ := newExecutor(b, rt, cat.st)
	ctx := context.Background()
	compose := os.Getenv("STACKWAVE_COMPOSE")
	var spec composeSpec
	for _, tier := range deps {
		var svcs []stack.Service
		for _, s := range tier {
			svcs = append(svcs, s.Services...)
		}
		spec.tiers = append(spec.tiers, svcs)
	}
	spec.health = true
	file := writeComposeFile(b, spec)
	var sw, floor, floor8, peer []time.Duration
	for b.Loop() {
		if compose != "" {
			start := time.Now()
			runCompose(b, compose, file, name+"peer", "up", "-d", "--wait")
			peer = append(peer, time.Since(start))
			b.StopTimer()
			// One at a time: teardown is not timed here, and it keeps
			// clear of Engine 20.10's racy endpoint count
			// (moby/moby#42119), which leaves a network that cannot be
			// removed until the engine restarts.
			runCompose(b, compose, file, name+"peer", "--parallel", "1", "down", "-v", "-t", "1")
			b.StartTimer()
		}
		start := time.Now()
		_, err := ex.Launch(ctx, deploy.Request{Deployment: name, VersionID: cat.versions[0].ID})
		must(b, err)
		sw = append(sw, time.Since(start))
		b.StopTimer()
		must(b, rmForce(ctx, rt.Client(), rt.Options().Namespace, name, 1))
		_, err = ex.Terminate(ctx, deploy.Request{Deployment: name, DeleteData: true})
		must(b, err)
		b.StartTimer()
		floor = append(floor, floorUp(b, rt, name+"-floor", spec.tiers, 4))
		if withFloor8 {
			floor8 = append(floor8, floorUp(b, rt, name+"-floor", spec.tiers, docker.DefaultParallelism))
		}
	}
	b.ReportMetric(median(sw).Seconds(), "s-stackwave")
	b.ReportMetric(median(floor).Seconds(), "s-floor-4")
	best := median(floor)
	if len(floor8) > 0 {
		b.ReportMetric(median(floor8).Seconds(), "s-floor-8")
		best = min(best, median(floor8))
	}
	b.ReportMetric(float64(median(sw))/float64(best), "stackwave/floor")
	if len(peer) > 0 {
		b.ReportMetric(median(peer).Seconds(), "s-compose")
		b.ReportMetric(float64(median(peer))/float64(median(sw)), "compose/stackwave")
	}
}

// floorUp creates and starts the containers of each tier through the
// engine's API, par at once, on a network of
// their own, and returns the time that took plus one health-check
// interval per tier: what no client of the engine can beat. It removes
// them afterwards (not counted).
func floorUp(b *testing.B, rt *docker.Runtime, name string, tiers [][]stack.Service, par int) time.Duration {
	ctx := context.Background()
	cli := rt.Client()
	ns := rt.Options().Namespace
	labels := map[string]string{docker.DefaultLabelPrefix + ".namespace": ns, docker.DefaultLabelPrefix + ".deployment": name}
	netName := ns + "-" + name
	var took time.Duration
	start := time.Now()
	_, err := cli.NetworkCreate(ctx, netName, client.NetworkCreateOptions{Driver: "bridge", Labels: labels})
	must(b, err)
	for ti, tier := range tiers {
		var g errgroup.Group
		g.SetLimit(par)
		for _, svc := range tier {
			g.Go(func() error {
				res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
					Name: fmt.Sprintf("%s-%d-%s", netName, ti, svc.Name),
					Config: &container.Config{Image: svc.Image.Ref(), Env: svc.Envs, Labels: labels,
						Healthcheck: &container.HealthConfig{Test: []string{"CMD", "/testapp", "probe", "tcp", "127.0.0.1:8080"},
							Interval: benchPeriod, Timeout: 3 * time.Second, Retries: 3}},
					HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(netName),
						Resources: container.Resources{NanoCPUs: 1e9, Memory: 1 << 30, MemorySwap: 1 << 30}},
				})
				if err != nil {
					return err
				}
				_, err = cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{})
				return err
			})
		}
		must(b, g.Wait())
		took += benchPeriod
	}
	took += time.Since(start)
	b.StopTimer()
	must(b, rmForce(ctx, cli, ns, name, 1))
	b.StartTimer()
	return took
}

// composeSpec describes a compose project: tiers of services, each
// service of a tier depending on every service of the tier before.
type composeSpec struct {
	tiers  [][]stack.Service
	health bool // a health check every benchPeriod, as the services' probes
}

func writeComposeFile(b *testing.B, spec composeSpec) string {
	var sb strings.Builder
	sb.WriteString("services:\n")
	for ti, tier := range spec.tiers {
		for _, s := range tier {
			fmt.Fprintf(&sb, "  %s:\n    image: %s\n", s.Name, s.Image.Ref())
			fmt.Fprintf(&sb, "    environment: [TESTAPP_HTTP=8080]\n")
			if spec.health {
				fmt.Fprintf(&sb, "    healthcheck: {test: [CMD, /testapp, probe, tcp, '127.0.0.1:8080'], interval: %s}\n", benchPeriod)
			}
			if ti > 0 {
				sb.WriteString("    depends_on:\n")
				for _, d := range spec.tiers[ti-1] {
					cond := "service_started"
					if spec.health {
						cond = "service_healthy"
					}
					fmt.Fprintf(&sb, "      %s: {condition: %s}\n", d.Name, cond)
				}
			}
		}
	}
	file := filepath.Join(b.TempDir(), "compose.yaml")
	must(b, os.WriteFile(file, []byte(sb.String()), 0o600))
	return file
}

func runCompose(b *testing.B, compose, file, project string, args ...string) {
	out, err := exec.Command(compose, append([]string{"-f", file, "-p", project}, args...)...).CombinedOutput()
	if err != nil {
		b.Fatalf("compose %v: %v: %s", args, err, out)
	}
}
