package sim_test

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
)

// A NeverReady fault's Err is why the instances are not ready: Wait
// reports it while it waits and in its timeout.
func TestNeverReadySaysWhy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := sim.New(nil)
		rt.Inject(sim.Fault{Kind: sim.NeverReady, Service: "db", Err: errors.New("claim data-db-0 not bound")})
		s := spec("d", "s", svc("db"))
		s.ReadyTimeout = 30 * time.Millisecond
		if err := rt.Apply(ctx, s, nil); err != nil {
			t.Fatal(err)
		}
		var waiting []string
		err := rt.Wait(ctx, s, func(e runtime.Event) {
			if e.Type == runtime.EventServiceWaiting {
				waiting = append(waiting, e.Message)
			}
		})
		se := serviceError(t, err, runtime.ErrNotReady)
		if !strings.Contains(se.Error(), "claim data-db-0 not bound") {
			t.Errorf("timeout %q does not say why", se)
		}
		if len(waiting) != 1 || !strings.HasSuffix(waiting[0], ": claim data-db-0 not bound") {
			t.Errorf("waiting events %q, want one saying why", waiting)
		}
	})
}
