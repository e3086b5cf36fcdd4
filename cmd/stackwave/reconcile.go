package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/stackwave/stackwave/deploy"
)

// reconcileUsage is the help of serve's --reconcile flag.
const reconcileUsage = "repair deployments that drift from their record, looking at each every INTERVAL and at once when the runtime reports a change (0: off); PUT /api/deployments/NAME/reconcile {\"paused\": true} exempts one"

// startReconciler runs a deploy.Reconciler every interval until ctx is
// done, logging what it repairs and what fails; wait returns once it has
// stopped. An interval of zero runs nothing.
func startReconciler(ctx context.Context, ex *deploy.Executor, every time.Duration, log *slog.Logger) (wait func()) {
	if every <= 0 {
		return func() {}
	}
	r := deploy.NewReconciler(ex, &deploy.ReconcilerOptions{
		Interval: every,
		OnError: func(name string, err error) {
			log.Error("reconcile", "deployment", name, "error", err)
		},
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	log.Info("reconciling deployments", "interval", every)
	return func() { <-done }
}
