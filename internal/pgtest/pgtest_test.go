package pgtest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stackwave/stackwave/internal/pgtest"
)

func TestNewDatabase(t *testing.T) {
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b {
		t.Fatalf("two tests share database %s", a)
	}
	conn, err := pgx.Connect(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var tables int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("new database has %d tables (%v), want none", tables, err)
	}
}

// fakeTB records how a helper failed.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	failure  string
	cleanups []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failure = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

func run(fn func(tb testing.TB)) string {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	for _, c := range f.cleanups {
		c()
	}
	return f.failure
}

// TestFailsLoudly: without a server the helper fails the test, saying
// how to start one; it never skips.
func TestFailsLoudly(t *testing.T) {
	t.Setenv(pgtest.EnvURL, "")
	msg := run(func(tb testing.TB) { pgtest.NewDatabase(tb) })
	if !strings.Contains(msg, pgtest.EnvURL) || !strings.Contains(msg, "scripts/postgres.sh") {
		t.Errorf("failure %q does not name %s and scripts/postgres.sh", msg, pgtest.EnvURL)
	}
	t.Setenv(pgtest.EnvURL, "postgres://u:secret@127.0.0.1:1/none?connect_timeout=2")
	msg = run(func(tb testing.TB) { pgtest.NewDatabase(tb) })
	if !strings.Contains(msg, "unreachable") || !strings.Contains(msg, "scripts/postgres.sh") || strings.Contains(msg, "secret") {
		t.Errorf("failure for an unreachable server: %q", msg)
	}
}
