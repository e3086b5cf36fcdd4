package deploy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store/memory"
)

// wideDeps returns tiers x perTier stacks of services services each.
func wideDeps(tiers, perTier, services int) stack.Deps {
	deps := make(stack.Deps, tiers)
	for t := range deps {
		for s := range perTier {
			st := stack.Stack{Name: fmt.Sprintf("t%d-s%d", t, s)}
			for k := range services {
				st.Services = append(st.Services, stack.Service{
					Name: fmt.Sprintf("svc%d", k), UnitType: "1U1G",
					Image: stack.Image{Name: "registry.local/team/app", Tag: "1.0"},
					Envs:  []string{"MODE=prod", fmt.Sprintf("INDEX=%d", k)},
				})
			}
			deps[t] = append(deps[t], st)
		}
	}
	return deps
}

type benchEnv struct {
	ex  *deploy.Executor
	vid string
}

func newBenchEnv(b *testing.B, rt *sim.Runtime, deps stack.Deps, concurrency int) *benchEnv {
	b.Helper()
	st := memory.New(nil)
	ctx := context.Background()
	p, err := st.CreateProduct(ctx, &product.Product{Name: "bench", ProviderName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	v, err := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: deps})
	if err != nil {
		b.Fatal(err)
	}
	ex := deploy.New(rt, st, &deploy.Options{Concurrency: concurrency})
	b.Cleanup(func() { ex.Close() })
	return &benchEnv{ex: ex, vid: v.ID}
}

func (e *benchEnv) launch(b *testing.B, i int) {
	if _, err := e.ex.Launch(context.Background(), deploy.Request{Deployment: fmt.Sprintf("d%d", i), VersionID: e.vid}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLaunchOverhead measures the engine's own cost: 1,000 stacks of
// 5 services in 10 tiers on the simulated runtime with zero latency,
// records and events included.
func BenchmarkLaunchOverhead(b *testing.B) {
	e := newBenchEnv(b, sim.New(nil), wideDeps(10, 100, 5), 8)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.launch(b, i)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/launch")
}

// BenchmarkMakespan launches with a fixed latency L for every service's
// apply and readiness and reports the launch time against the critical
// path bound (what unbounded concurrency allows).
func BenchmarkMakespan(b *testing.B) {
	const L = 20 * time.Millisecond
	cases := []struct {
		name string
		deps func() stack.Deps
		// per-stack ready latency multiplier (apply is always L)
		ready func(stackName string) time.Duration
	}{
		{"tiers=4x10", func() stack.Deps { return wideDeps(4, 10, 3) }, func(string) time.Duration { return L }},
		{"depends_on", func() stack.Deps {
			// tier 0: fast and slow; tier 1 needs only the fast one.
			d := wideDeps(2, 2, 2)
			d[0][1].Name = "slow"
			d[1][0].DependsOn = []string{"t0-s0"}
			d[1][1].DependsOn = []string{"t0-s0"}
			return d
		}, func(s string) time.Duration {
			if s == "slow" {
				return 5 * L
			}
			return L
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			deps := tc.deps()
			rt := sim.New(&sim.Options{Latency: func(_, stackName, _ string) (time.Duration, time.Duration) {
				return L, tc.ready(stackName)
			}})
			e := newBenchEnv(b, rt, deps, 64)
			plan, err := deploy.NewPlan(deps)
			if err != nil {
				b.Fatal(err)
			}
			_, bound := plan.CriticalPath(func(s string) time.Duration { return L + tc.ready(s) })
			tiers := time.Duration(0)
			for _, tier := range deps {
				longest := time.Duration(0)
				for _, s := range tier {
					longest = max(longest, L+tc.ready(s.Name))
				}
				tiers += longest
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.launch(b, i)
			}
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(per.Microseconds())/1000, "makespan-ms")
			b.ReportMetric(float64(bound.Microseconds())/1000, "critical-path-ms")
			b.ReportMetric(float64(tiers.Microseconds())/1000, "tier-barrier-ms")
			b.ReportMetric(100*float64(per-bound)/float64(bound), "over-bound-%")
		})
	}
}
