package deploy

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stackwave/stackwave/stack"
)

// wide returns two tiers of n stacks; every seventh stack of the second
// tier lists depends_on.
func wide(n int) stack.Deps {
	deps := stack.Deps{make(stack.Tier, n), make(stack.Tier, n)}
	for t := range deps {
		for i := range deps[t] {
			s := &deps[t][i]
			s.Name = "s-" + strconv.Itoa(t) + "-" + strconv.Itoa(i)
			s.Services = []stack.Service{{Name: "svc"}}
			if t == 1 && i%7 == 0 {
				s.DependsOn = []string{"s-0-" + strconv.Itoa(i), "s-0-" + strconv.Itoa(i+1)}
			}
		}
	}
	return deps
}

// edges counts what the graph stores to join stacks: one explicit edge
// per depends_on entry and one barrier per tier that some stack waits
// for whole. Wide tiers must not cost width x width.
func (p *Plan) edges() int {
	n := 0
	for _, out := range p.explicitOut {
		n += len(out)
	}
	for _, in := range p.implicitIn {
		if in {
			n++
		}
	}
	return n
}

func TestWideTiersAreLinear(t *testing.T) {
	const n = 5000
	p, err := NewPlan(wide(n))
	if err != nil {
		t.Fatal(err)
	}
	explicit := 2 * ((n + 6) / 7) // two depends_on entries on every seventh stack
	if got, want := p.edges(), explicit+1; got != want {
		t.Errorf("edges = %d, want %d", got, want)
	}
	// Memory per stack does not grow with the width.
	perStack := func(n int) float64 {
		deps := wide(n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 5 {
			if _, err := NewPlan(deps); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		return float64(after.TotalAlloc-before.TotalAlloc) / float64(5*2*n)
	}
	small, large := perStack(500), perStack(n)
	t.Logf("bytes per stack: %.0f for 2x500, %.0f for 2x%d", small, large, n)
	if large > 2*small {
		t.Errorf("memory per stack grows with the width: %.0f B for 2x500, %.0f B for 2x%d", small, large, n)
	}
	// Rendering and the critical path are linear too.
	if _, err := p.MarshalJSON(); err != nil {
		t.Fatal(err)
	}
	if path, _ := p.CriticalPath(func(string) time.Duration { return time.Second }); len(path) != 2 {
		t.Errorf("critical path %v", path)
	}
}

// BenchmarkNewPlanWide plans two tiers of 5,000 stacks: bytes and
// allocations per stack stay those of a narrow plan.
func BenchmarkNewPlanWide(b *testing.B) {
	deps := wide(5000)
	b.ReportAllocs()
	var p *Plan
	for b.Loop() {
		var err error
		if p, err = NewPlan(deps); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(p.edges())/float64(p.Len()), "edges/stack")
}
