package docker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/stack"
)

// BenchmarkRepairAfterRemove measures, on the real engine, the time from
// docker rm -f of a service's container to its repair being ready, with
// a deploy.Reconciler whose interval is an hour: the engine's events
// trigger it. The service is the test image answering TCP, probed every
// 200ms (its own readiness). Goal: under 3s plus that readiness.
func BenchmarkRepairAfterRemove(b *testing.B) {
	rt := newRuntime(b, nil)
	cli := rt.Client()
	deps := stack.Deps{{{Name: "app", Services: []stack.Service{{
		Name: "web", UnitType: "1U1G", Image: img(b), Envs: []string{"TESTAPP_SERVICE=web", "TESTAPP_TCP=8080"},
		Readiness: &stack.Probe{Type: stack.ProbeTCP, Port: 8080, Period: stack.Duration(200 * time.Millisecond)},
	}}}}}
	cat := newCatalog(b, "repair", deps)
	ex, log := newExecutor(b, rt, cat.st)
	ctx := context.Background()
	if _, err := ex.Launch(ctx, deploy.Request{Deployment: "rep", VersionID: cat.versions[0].ID}); err != nil {
		b.Fatal(err)
	}
	r := deploy.NewReconciler(ex, &deploy.ReconcilerOptions{Interval: time.Hour})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() { cancel(); <-done }()
	ready := make(chan time.Time, 16)
	stop := log.watch(func(e deploy.Event) {
		if e.Type == deploy.EventOperationDone && e.Deployment == "rep" {
			ready <- e.Time
		}
	})
	defer stop()
	var total time.Duration
	for b.Loop() {
		removed := forceRemove(b, cli, rt, "rep", "app", "web")
		select {
		case at := <-ready:
			total += at.Sub(removed)
		case <-time.After(2 * time.Minute):
			b.Fatal("no repair within 2 minutes")
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/repair")
}
