package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/stackwave/stackwave/product"

	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/sqlite"
	"github.com/stackwave/stackwave/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store {
		return open(t, filepath.Join(t.TempDir(), "stackwave.db"), nil)
	})
}

func TestProcesses(t *testing.T) {
	storetest.RunProcesses(t, storetest.ProcessHarness{
		NewDatabase: func(t *testing.T) string { return filepath.Join(t.TempDir(), "stackwave.db") },
		Open: func(ctx context.Context, path string) (*store.Store, error) {
			return sqlite.Open(ctx, path, nil)
		},
		Check: func(t *testing.T, path string) {
			db := rawDB(t, path)
			var result string
			if err := db.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&result); err != nil || result != "ok" {
				t.Errorf("PRAGMA integrity_check: %q, %v", result, err)
			}
			rows, err := db.QueryContext(t.Context(), "PRAGMA foreign_key_check")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var table, parent string
				var rowid, fk sql.NullInt64
				rows.Scan(&table, &rowid, &parent, &fk)
				t.Errorf("row %d of %s refers to a missing row of %s", rowid.Int64, table, parent)
			}
		},
	})
}

// rawDB opens the file without the store, for inspection.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "stackwave.db")
	s := open(t, path, nil)
	p, err := s.CreateProduct(ctx, &product.Product{Name: "kept", ProviderName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // reopening migrates nothing and keeps the records
		s = open(t, path, nil)
		got, err := s.GetProduct(ctx, "kept")
		if err != nil || got.ID != p.ID || !got.CreatedAt.Equal(p.CreatedAt) {
			t.Fatalf("after reopening: %+v, %v", got, err)
		}
		s.Close()
	}
	var versions []int
	rows, err := rawDB(t, path).QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		rows.Scan(&v)
		versions = append(versions, v)
	}
	rows.Close()
	if len(versions) != sqlite.SchemaVersion() || versions[len(versions)-1] != sqlite.SchemaVersion() {
		t.Errorf("schema_migrations %v, want 1 to %d once each", versions, sqlite.SchemaVersion())
	}
	var mode string
	rawDB(t, path).QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal_mode %q, want wal", mode)
	}
}

// TestMigrateVolumeStacks opens a database of schema 1, which has no
// record of the stacks whose volumes a deployment holds: its deployments
// read as holding none known, and the column then takes what is written.
func TestMigrateVolumeStacks(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "stackwave.db")
	s := open(t, path, nil)
	p, err := s.CreateProduct(ctx, &product.Product{Name: "p", ProviderName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "1", StackDeps: storetest.Spec("1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDeployment(ctx, &store.Deployment{Name: "old", ProductID: p.ID, VersionID: v.ID, VolumeStacks: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := rawDB(t, path)
	for _, q := range []string{"ALTER TABLE deployments DROP COLUMN volume_stacks", "DELETE FROM schema_migrations WHERE version > 1"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s = open(t, path, nil)
	d, err := s.GetDeployment(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if d.VolumeStacks != nil {
		t.Errorf("migrated deployment holds volume stacks %q, want none known", d.VolumeStacks)
	}
	d.VolumeStacks = []string{"b"}
	if _, err := s.UpdateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	if d, err = s.GetDeployment(ctx, "old"); err != nil || len(d.VolumeStacks) != 1 || d.VolumeStacks[0] != "b" {
		t.Errorf("after the migration: %v, %v", d.VolumeStacks, err)
	}
}

func TestNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stackwave.db")
	open(t, path, nil).Close()
	if _, err := rawDB(t, path).ExecContext(t.Context(), "INSERT INTO schema_migrations (version) VALUES (?)", sqlite.SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	storetest.RefusesNewerSchema(t, func(ctx context.Context) (*store.Store, error) { return sqlite.Open(ctx, path, nil) })
}

// Opening a database whose schema is current writes nothing, so it does
// not wait for another process's write: a command opening the store
// while a long operation of another one writes is not held up.
func TestOpenCurrentSchemaDuringAWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stackwave.db")
	open(t, path, nil).Close()
	conn, err := rawDB(t, path).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	// A write would wait for the lock until ctx ends (the minute is only
	// a guard: the open takes milliseconds).
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, err := sqlite.Open(ctx, path, &sqlite.Options{BusyTimeout: time.Millisecond})
	if err != nil {
		t.Fatalf("open while another connection writes: %v", err)
	}
	defer s.Close()
	if _, err := s.ListProducts(t.Context(), store.ProductQuery{}); err != nil {
		t.Fatalf("read while another connection writes: %v", err)
	}
}

func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stackwave.db")
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() {
			s, err := sqlite.Open(context.Background(), path, nil)
			if err == nil {
				_, err = s.CreateProduct(context.Background(), &product.Product{Name: "p", ProviderName: "x"})
				if errors.Is(err, store.ErrAlreadyExists) {
					err = nil
				}
				s.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestBadPath(t *testing.T) {
	for _, path := range []string{"", ":memory:", "a?b"} {
		if _, err := sqlite.Open(t.Context(), path, nil); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open(%q): %v, want ErrInvalid", path, err)
		}
	}
	if s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "file", "x.db"), nil); err != nil {
		t.Errorf("a file in a missing directory: %v", err)
	} else {
		s.Close()
	}
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(t.Context(), filepath.Join(notDir, "x.db"), nil); err == nil {
		t.Error("opened a file under a file")
	}
}

// TestModes shows that the store's files and the directory it makes are
// its owner's alone: they hold deployments' parameters.
func TestModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "stackwave.db")
	s := open(t, path, nil)
	if _, err := s.CreateProduct(t.Context(), &product.Product{Name: "p", ProviderName: "x"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(name), got, want)
		}
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) *store.Store {
		return open(b, filepath.Join(b.TempDir(), "stackwave.db"), nil)
	})
}

func BenchmarkStoreSyncFull(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) *store.Store {
		return open(b, filepath.Join(b.TempDir(), "stackwave.db"), &sqlite.Options{Sync: sqlite.SyncFull})
	})
}

// open opens a store on a file for a test.
func open(t testing.TB, path string, opts *sqlite.Options) *store.Store {
	return storetest.Open(t, func(ctx context.Context) (*store.Store, error) { return sqlite.Open(ctx, path, opts) })
}

// TestUrgentWritesPassQueued holds the writer connection in one write
// while others queue behind it: an urgent write (a lease renewal), queued
// last, goes first once the connection is free; the others keep their
// order.
func TestUrgentWritesPassQueued(t *testing.T) {
	ctx := t.Context()
	d, err := sqlite.OpenDriver(ctx, filepath.Join(t.TempDir(), "stackwave.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var mu sync.Mutex
	var order []string
	run := func(name string) func(store.Tx) error {
		return func(store.Tx) error {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		}
	}
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 5)
	go func() {
		done <- d.Update(ctx, nil, func(tx store.Tx) error {
			close(holding)
			<-release
			return run("first")(tx)
		})
	}()
	<-holding
	for i, name := range []string{"bulk-1", "bulk-2", "bulk-3"} {
		go func() { done <- d.Update(ctx, nil, run(name)) }()
		waitQueued(t, d, i+1)
	}
	go func() { done <- d.Update(ctx, &store.TxOptions{Urgent: true}, run("lease")) }()
	waitQueued(t, d, 4)
	close(release)
	for range 5 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(order, " "); got != "first lease bulk-1 bulk-2 bulk-3" {
		t.Errorf("writes ran in the order %s, want first lease bulk-1 bulk-2 bulk-3", got)
	}
}

// waitQueued waits until n writers wait for the connection.
func waitQueued(t *testing.T, d store.Driver, n int) {
	t.Helper()
	w, ok := d.(interface{ Waiting() int })
	if !ok {
		t.Fatalf("%T does not say how many writers wait", d)
	}
	for w.Waiting() < n {
		runtime.Gosched()
	}
}
