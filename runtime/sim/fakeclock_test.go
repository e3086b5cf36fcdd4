package sim_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
)

// TestFakeClock: in a synctest bubble the latency model and the ready
// timeout run on the bubble's clock, at once and to the nanosecond.
func TestFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := sim.New(&sim.Options{ApplyLatency: time.Minute, ReadyLatency: 10 * time.Minute})
		s := spec("d", "s", svc("web"))
		begun := time.Now()
		launch(t, rt, s)
		if took := time.Since(begun); took != 11*time.Minute {
			t.Fatalf("apply and wait took %s of fake time, want 11m", took)
		}

		rt.Inject(sim.Fault{Kind: sim.NeverReady, Service: "late"})
		late := spec("d", "late", svc("late"))
		late.ReadyTimeout = 5 * time.Minute
		if err := rt.Apply(ctx, late, nil); err != nil {
			t.Fatal(err)
		}
		begun = time.Now()
		serviceError(t, rt.Wait(ctx, late, nil), runtime.ErrNotReady)
		if took := time.Since(begun); took != 5*time.Minute {
			t.Fatalf("the ready timeout passed after %s of fake time, want 5m", took)
		}
	})
}
