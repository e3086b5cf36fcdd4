package sim_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
)

// benchSpecs returns a deployment of n stacks of 5 services, in 10 tiers,
// the shape of the executor's launch benchmark.
func benchSpecs(n int) []*runtime.StackSpec {
	specs := make([]*runtime.StackSpec, n)
	for i := range specs {
		name := "s" + strconv.Itoa(i)
		services := make([]stack.Service, 5)
		for j := range services {
			services[j] = stack.Service{
				Name: "svc" + strconv.Itoa(j), UnitType: "1U1G",
				Image:        stack.Image{Name: "example/app", Tag: "1"},
				Envs:         []string{"ROLE=" + name},
				AccessPoints: []stack.AccessPoint{{Type: stack.AccessInternalIP, BackendPorts: []int{8080}}},
			}
		}
		specs[i] = &runtime.StackSpec{Deployment: "bench", Tier: i % 10, Stack: stack.Stack{Name: name, Services: services}}
	}
	return specs
}

// BenchmarkApplyWait launches 1,000 stacks of 5 services with no latency:
// Apply then Wait for each, one after another or from 8 goroutines.
func BenchmarkApplyWait(b *testing.B) {
	specs := benchSpecs(1000)
	ctx := context.Background()
	report := func(runtime.Event) {}
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			rt := sim.New(nil)
			for _, spec := range specs {
				if err := rt.Apply(ctx, spec, report); err != nil {
					b.Fatal(err)
				}
				if err := rt.Wait(ctx, spec, report); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(specs)), "ns/stack")
	})
	b.Run("8-goroutines", func(b *testing.B) {
		for b.Loop() {
			rt := sim.New(nil)
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := g; i < len(specs); i += 8 {
						if rt.Apply(ctx, specs[i], report) != nil || rt.Wait(ctx, specs[i], report) != nil {
							panic("launch failed")
						}
					}
				})
			}
			wg.Wait()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(specs)), "ns/stack")
	})
	b.Run("reapply-unchanged", func(b *testing.B) {
		rt := sim.New(nil)
		for _, spec := range specs {
			if err := rt.Apply(ctx, spec, report); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			for _, spec := range specs {
				if err := rt.Apply(ctx, spec, report); err != nil {
					b.Fatal(err)
				}
				if err := rt.Wait(ctx, spec, report); err != nil {
					b.Fatal(err)
				}
			}
			rt.ResetCalls()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(specs)), "ns/stack")
	})
}
