package harness

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stackwave/stackwave/internal/pgtest"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
	"github.com/stackwave/stackwave/store/postgres"
	"github.com/stackwave/stackwave/store/sqlite"
)

// An executor's view of the shared driver keeps the driver's optional
// interfaces: over PostgreSQL its store judges leases by the server's
// clock and hears the other executor, as a real process does. Killed,
// it writes nothing, while the shared driver goes on.
func TestKillableKeepsTheDriversCapabilities(t *testing.T) {
	for name, open := range map[string]func(t *testing.T, ctx context.Context) (store.Driver, error){
		"memory": func(*testing.T, context.Context) (store.Driver, error) { return memory.NewDriver(), nil },
		"sqlite": func(t *testing.T, ctx context.Context) (store.Driver, error) {
			return sqlite.OpenDriver(ctx, filepath.Join(t.TempDir(), "k.db"), nil)
		},
		"postgres": func(t *testing.T, ctx context.Context) (store.Driver, error) {
			return postgres.OpenDriver(ctx, pgtest.NewDatabase(t), nil)
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			d, err := open(t, ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			k := newKillable(d)
			if got, want := store.CapabilitiesOf(k.drv), store.CapabilitiesOf(d); got != want {
				t.Errorf("the executor's driver has %v, the shared driver %v", got, want)
			}
			if want := store.CapClock | store.CapNotifier; name == "postgres" && !store.CapabilitiesOf(k.drv).Has(want) {
				t.Errorf("the executor's driver over PostgreSQL has %v, want %v", store.CapabilitiesOf(k.drv), want)
			}

			st, shared := store.New(k.drv, nil), store.New(d, nil)
			if _, err := st.AcquireLease(ctx, "d", "ex0", time.Minute); err != nil {
				t.Fatalf("lease before the kill: %v", err)
			}
			k.dead.Store(true)
			// Its writes fail at once with an error nobody retries.
			if _, err := st.CreateProduct(ctx, &product.Product{Name: "after-death", ProviderName: "tests"}); !errors.Is(err, store.ErrClosed) {
				t.Errorf("a killed executor's write: %v, want %v", err, errDead)
			}
			if err := st.ReleaseLease(ctx, "d", "ex0"); !errors.Is(err, store.ErrClosed) {
				t.Errorf("a killed executor's lease release: %v, want %v", err, errDead)
			}
			if l, err := shared.GetLease(ctx, "d"); err != nil || l.Owner != "ex0" || l.Expired {
				t.Errorf("the lease after the kill: %+v, %v; want ex0's, unexpired", l, err)
			}
			if _, err := shared.CreateProduct(ctx, &product.Product{Name: "alive", ProviderName: "tests"}); err != nil {
				t.Errorf("the shared driver after the kill: %v", err)
			}
		})
	}
}
