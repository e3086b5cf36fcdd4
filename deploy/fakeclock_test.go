package deploy_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// TestFakeClockReadyTimeout runs an executor, the simulated runtime and
// the in-memory store in a synctest bubble: the default 5-minute ready
// timeout of a service that never gets ready passes at once, in the
// bubble's time, to the nanosecond.
func TestFakeClockReadyTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st := memory.New(nil)
		rt := sim.New(&sim.Options{ApplyLatency: time.Second, ReadyLatency: 10 * time.Second})
		rt.Inject(sim.Fault{Kind: sim.NeverReady, Stack: "api"})
		ex := deploy.New(rt, st, nil)
		defer ex.Close()
		reg, err := st.Register(ctx, &product.Document{Name: "shop", ProviderName: "tests", StackDeps: threeTiers()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		begun := time.Now()
		_, err = ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: reg.Version.ID})
		took := time.Since(begun)
		if !errors.Is(err, runtime.ErrNotReady) {
			t.Fatalf("launch: %v, want ErrNotReady", err)
		}
		// db: 1s apply + 10s ready; api: 1s apply, then the 5m timeout.
		if want := 2*time.Second + 10*time.Second + deploy.DefaultReadyTimeout; took != want {
			t.Fatalf("launch took %s of fake time, want %s", took, want)
		}
	})
}

// TestFakeClockLeaseTTL: an executor that dies keeps its deployment
// leased for the lease TTL, then another resumes the operation; in a
// bubble the 30-second TTL passes at once.
func TestFakeClockLeaseTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		drv := memory.NewDriver()
		mem := store.New(drv, nil)
		rt := sim.New(&sim.Options{ReadyLatency: time.Second})
		reg, err := mem.Register(ctx, &product.Document{Name: "shop", ProviderName: "tests", StackDeps: threeTiers()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		dead := &deadDriver{Driver: drv}
		died := make(chan struct{})
		a := deploy.New(rt, store.New(dead, nil), &deploy.Options{Owner: "a", OnEvent: func(ev deploy.Event) {
			if ev.Type == deploy.EventStackReady && ev.Stack == "db" {
				dead.kill()
				close(died)
			}
		}})
		h, err := a.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "shop", VersionID: reg.Version.ID})
		if err != nil {
			t.Fatal(err)
		}
		<-died
		b := deploy.New(rt, mem, &deploy.Options{Owner: "b"})
		defer b.Close()
		if _, err := b.Resume(ctx, "shop"); !errors.Is(err, deploy.ErrBusy) {
			t.Fatalf("resume while a's lease holds: %v, want ErrBusy", err)
		}
		// a can write nothing more: it gives up within a lease TTL.
		if _, err := h.Wait(ctx); err == nil {
			t.Fatal("a finished the launch without a store")
		}
		a.Close()
		if d, _ := mem.GetDeployment(ctx, "shop"); d.Status != store.StatusUnderChange {
			t.Fatalf("a left %s", d.Status)
		}
		time.Sleep(deploy.DefaultLeaseTTL)
		res, err := b.Resume(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if res.Deployment.Status != store.StatusAvailable || res.Operation.Owner != "b" {
			t.Fatalf("resumed: %s by %s", res.Deployment.Status, res.Operation.Owner)
		}
	})
}
