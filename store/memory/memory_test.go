package memory_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
	"github.com/stackwave/stackwave/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store {
		s := memory.New(nil)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestLeaseClock(t *testing.T) {
	ctx := t.Context()
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := memory.New(&memory.Options{Now: clock.Now})
	l, err := s.AcquireLease(ctx, "web", "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !l.AcquiredAt.Equal(clock.Now()) || !l.ExpiresAt.Equal(clock.Now().Add(time.Minute)) {
		t.Errorf("lease %+v not stamped by the injected clock", l)
	}
	clock.Add(time.Minute - time.Nanosecond)
	if _, err := s.AcquireLease(ctx, "web", "b", time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
		t.Errorf("a nanosecond before expiry: %v, want ErrLeaseHeld", err)
	}
	clock.Add(time.Nanosecond)
	got, err := s.GetLease(ctx, "web")
	if err != nil || !got.Expired {
		t.Errorf("at expiry: %+v, %v; want expired", got, err)
	}
	if _, err := s.AcquireLease(ctx, "web", "b", time.Minute); err != nil {
		t.Errorf("at expiry: %v", err)
	}
}

func TestMaxOperations(t *testing.T) {
	ctx := t.Context()
	s := memory.New(&memory.Options{MaxOperations: 2})
	p, err := s.CreateProduct(ctx, &product.Product{Name: "p", ProviderName: "x"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "1", StackDeps: storetest.Spec("1")})
	if err != nil {
		t.Fatal(err)
	}
	d := &store.Deployment{Name: "d", ProductID: p.ID, VersionID: v.ID}
	for _, id := range []string{"a", "b", "c"} {
		d.Operations = append(d.Operations, store.Operation{ID: id, Type: store.OpRestart, Status: store.OpSucceeded})
	}
	d, err = s.CreateDeployment(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Operations) != 2 || d.Operations[0].ID != "b" {
		t.Errorf("operations %+v, want b and c", d.Operations)
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) *store.Store { return memory.New(nil) })
}
