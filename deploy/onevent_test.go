package deploy_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// TestOptionsOnEventPerOperation checks what Options.OnEvent promises
// when operations run at once: each operation's events come in order
// (started first, done last), and a callback busy with one operation's
// event does not hold back another's: calls for different operations
// may overlap.
func TestOptionsOnEventPerOperation(t *testing.T) {
	ctx := t.Context()
	st := memory.New(nil)
	defer st.Close()
	reg, err := st.Register(ctx, &product.Document{Name: "shop", ProviderName: "tests", StackDeps: threeTiers()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	otherDone := make(chan struct{})
	var (
		mu   sync.Mutex
		seen = map[string][]deploy.EventType{}
	)
	onEvent := func(e deploy.Event) {
		mu.Lock()
		seen[e.Deployment] = append(seen[e.Deployment], e.Type)
		mu.Unlock()
		switch {
		case e.Deployment == "held" && e.Type == deploy.EventOperationStarted:
			// Busy with this operation's first event until the other
			// operation's last event was delivered.
			select {
			case <-release:
			case <-ctx.Done():
			}
		case e.Deployment == "free" && e.Type == deploy.EventOperationDone:
			close(otherDone)
		}
	}
	ex := deploy.New(sim.New(nil), st, &deploy.Options{OnEvent: onEvent})
	defer ex.Close()
	held, err := ex.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "held", VersionID: reg.Version.ID})
	if err != nil {
		t.Fatal(err)
	}
	// Run returns once its events were delivered; were the callbacks
	// of all operations one queue, they would wait behind the held one
	// (the bound is only a last guard).
	fctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if _, err := ex.Run(fctx, store.OpLaunch, deploy.Request{Deployment: "free", VersionID: reg.Version.ID}); err != nil {
		t.Fatalf("the other operation, while a callback is busy with the first: %v", err)
	}
	select {
	case <-otherDone:
	default:
		t.Fatal("the other operation returned before its last event was delivered")
	}
	close(release)
	if _, err := held.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, name := range []string{"held", "free"} {
		evs := seen[name]
		if len(evs) < 2 || evs[0] != deploy.EventOperationStarted || evs[len(evs)-1] != deploy.EventOperationDone {
			t.Errorf("%s: events %v, want operation-started first and operation-done last", name, evs)
		}
	}
}
