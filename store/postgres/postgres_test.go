package postgres_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stackwave/stackwave/internal/pgtest"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/postgres"
	"github.com/stackwave/stackwave/store/storetest"
)

func open(t testing.TB, url string, opts *postgres.Options) *store.Store {
	return storetest.Open(t, func(ctx context.Context) (*store.Store, error) { return postgres.Open(ctx, url, opts) })
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store {
		return open(t, pgtest.NewDatabase(t), nil)
	})
}

func TestProcesses(t *testing.T) {
	storetest.RunProcesses(t, storetest.ProcessHarness{
		NewDatabase: func(t *testing.T) string { return pgtest.NewDatabase(t) },
		Open: func(ctx context.Context, url string) (*store.Store, error) {
			return postgres.Open(ctx, url, nil)
		},
		Check: func(t *testing.T, url string) {
			conn := rawConn(t, url)
			for _, q := range []string{
				`SELECT count(*) FROM stackwave.versions v LEFT JOIN stackwave.products p ON p.id = v.product_id WHERE p.id IS NULL`,
				`SELECT count(*) FROM stackwave.deployments d LEFT JOIN stackwave.versions v ON v.id = d.version_id WHERE v.id IS NULL`,
				`SELECT count(*) FROM stackwave.events e LEFT JOIN stackwave.deployments d ON d.name = e.deployment WHERE d.name IS NULL`,
				`SELECT count(*) FROM stackwave.deployments d WHERE (SELECT count(*) FROM stackwave.events e WHERE e.deployment = d.name) <> d.event_seq`,
			} {
				var n int
				if err := conn.QueryRow(t.Context(), q).Scan(&n); err != nil || n != 0 {
					t.Errorf("%s: %d, %v; want 0", q, n, err)
				}
			}
		},
	})
}

func rawConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestConcurrentMigrations opens one new database from several replicas
// at once: the advisory lock lets exactly one of them migrate it.
func TestConcurrentMigrations(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const replicas = 6
	errs := make(chan error, replicas)
	start := make(chan struct{})
	for range replicas {
		go func() {
			<-start
			s, err := postgres.Open(context.Background(), url, nil)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	close(start)
	for range replicas {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	var versions, tables int
	conn := rawConn(t, url)
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM stackwave.schema_migrations`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != postgres.SchemaVersion() {
		t.Errorf("%d migrations recorded, want %d", versions, postgres.SchemaVersion())
	}
	conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'stackwave'`).Scan(&tables)
	if tables != 7 {
		t.Errorf("%d tables in schema stackwave, want 7", tables)
	}
}

func TestNewerSchema(t *testing.T) {
	url := pgtest.NewDatabase(t)
	open(t, url, nil).Close()
	if _, err := rawConn(t, url).Exec(t.Context(), `INSERT INTO stackwave.schema_migrations (version) VALUES ($1)`, postgres.SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	storetest.RefusesNewerSchema(t, func(ctx context.Context) (*store.Store, error) { return postgres.Open(ctx, url, nil) })
}

// TestLeaseServerClock shows that expiry follows the server's clock: the
// lease's times come from now() on the server.
func TestLeaseServerClock(t *testing.T) {
	url := pgtest.NewDatabase(t)
	s := open(t, url, nil)
	var before, after time.Time
	conn := rawConn(t, url)
	conn.QueryRow(t.Context(), `SELECT now()`).Scan(&before)
	l, err := s.AcquireLease(t.Context(), "web", "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	conn.QueryRow(t.Context(), `SELECT now()`).Scan(&after)
	if l.AcquiredAt.Before(before) || l.AcquiredAt.After(after) || l.ExpiresAt.Sub(l.AcquiredAt) != time.Minute {
		t.Errorf("lease %v to %v; the server's clock read %v and %v around it", l.AcquiredAt, l.ExpiresAt, before, after)
	}
	// Moving the lease into the past on the server expires it.
	if _, err := conn.Exec(t.Context(), `UPDATE stackwave.leases SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(t.Context(), "web", "b", time.Minute); err != nil {
		t.Errorf("taking a lease expired by the server's clock: %v", err)
	}
}

func TestBadURL(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://u:secret@127.0.0.1:1/db?bogus_option=%zz", nil)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open(bad URL): %v; want an error without the password", err)
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) *store.Store {
		return open(b, pgtest.NewDatabase(b), nil)
	})
}

// TestNotifyAcrossReplicas opens two stores on one database, as two
// replicas do: an append or a released lease through one wakes the
// subscribers of the other, which then read what changed.
func TestNotifyAcrossReplicas(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, b := open(t, url, nil), open(t, url, nil)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	reg, err := a.Register(ctx, &product.Document{Name: "p", ProviderName: "x", StackDeps: storetest.Spec("1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateDeployment(ctx, &store.Deployment{Name: "web", ProductID: reg.Product.ID, VersionID: reg.Version.ID}); err != nil {
		t.Fatal(err)
	}
	sub, err := b.SubscribeEvents(ctx, "web", store.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	released := b.SubscribeReleases()
	defer released.Close()
	for i := range 10 {
		sent := time.Now()
		if err := a.AppendEvents(ctx, "web", store.Event{OperationID: "op", Type: "t", Message: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
		evs, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("event %d on the other replica: %v", i, err)
		}
		if len(evs) != 1 || evs[0].Message != strconv.Itoa(i) {
			t.Fatalf("event %d: the other replica read %+v", i, evs)
		}
		t.Logf("event %d reached the other replica in %v", i, time.Since(sent).Round(time.Microsecond))
	}
	if _, err := a.AcquireLease(ctx, "web", "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	for len(released.Changed()) > 0 {
		<-released.Changed()
	}
	if err := a.ReleaseLease(ctx, "web", "a"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-released.Changed():
	case <-ctx.Done():
		t.Fatal("a lease released on one replica woke nothing on the other")
	}
}
