package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
	"github.com/stackwave/stackwave/store/storetest"
)

// TestWrapDriverConformance runs the store's conformance suite over a
// wrapped in-memory driver, hooks counting every call.
func TestWrapDriverConformance(t *testing.T) {
	var mu sync.Mutex
	methods := map[string]int{}
	storetest.Run(t, func(t *testing.T) *store.Store {
		d := store.WrapDriver(memory.NewDriver(), store.DriverHooks{
			Before: func(ctx context.Context, c store.DriverCall) context.Context { return ctx },
			After: func(_ context.Context, c store.DriverCall, _ time.Duration, _ error) {
				mu.Lock()
				methods[c.Method]++
				mu.Unlock()
			},
		})
		if got, want := store.CapabilitiesOf(d), store.CapabilitiesOf(memory.NewDriver()); got != want {
			t.Fatalf("the wrapped memory driver has %v, the driver %v", got, want)
		}
		s := store.New(d, nil)
		t.Cleanup(func() { s.Close() })
		return s
	})
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range []string{"Update", "Product", "ListProducts", "ListEvents", "Deployment"} {
			if methods[m] == 0 {
				t.Errorf("the hooks saw no %s call; saw %v", m, methods)
			}
		}
	})
}
