// Package sqlite keeps a store in one SQLite file (modernc.org/sqlite:
// pure Go, no cgo). It is stackwave's default store.
//
// The file is in WAL mode, so reads never wait for writes. Every write is
// one IMMEDIATE transaction: it takes the file's write lock when it
// begins, and waits up to Options.BusyTimeout for another connection or
// process to finish its own. Several processes may therefore share one
// file: names stay unique through UNIQUE constraints, and revisions are
// checked in the transaction that writes. Within a process, writes queue
// for a single connection in order, lease renewals first, instead of
// spinning on the lock.
//
// A new file, and its WAL and shared-memory files, are created 0600, and
// a missing directory 0700: the store holds deployments' parameters.
// Subscriptions (*store.Store.SubscribeEvents) are woken by the writes of
// their own process; processes that share a file and must see each
// other's events at once should share PostgreSQL instead.
//
// By default (SyncNormal) a write acknowledged by the store survives the
// process being killed at any moment, as the subprocess tests in this
// package show, but not necessarily a power loss; Options.Sync = SyncFull
// makes every commit wait for the disk and survive that too.
//
// The schema is versioned in code: Open applies the migrations the file
// lacks, each in its own transaction, and refuses a file written by a
// newer stackwave. A file already at this version is checked with a read,
// so opening it never waits for another process's write.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/internal/sqldriver"
)

// Sync says how far a commit goes before a write is acknowledged.
type Sync int

const (
	// SyncNormal, the default, syncs the log to disk at checkpoints, not
	// on every commit: an acknowledged write survives a crash or kill of
	// the process (the log is in the operating system's hands), but the
	// last writes before an operating-system crash or a power loss may be
	// lost; the database is never left half-written. Commits are about
	// five times faster than with SyncFull.
	SyncNormal Sync = iota
	// SyncFull syncs the log to disk on every commit: an acknowledged
	// write survives a power loss too. Each write then waits for the
	// disk.
	SyncFull
)

// Options configure a store in SQLite. The zero value means the defaults.
type Options struct {
	// Options are the store's own (clock, history cap, catalog, keys).
	// Processes sharing a file should share a clock, as processes on one
	// machine do.
	store.Options
	// BusyTimeout bounds how long a write waits for the write lock held
	// by another process; zero means 10 seconds.
	BusyTimeout time.Duration
	// Sync chooses durability against speed; the zero value is
	// SyncNormal.
	Sync Sync
	// MaxReaders is the number of connections that serve reads
	// concurrently; zero means 4.
	MaxReaders int
}

// Open opens the SQLite database at path, creating it if needed, and
// brings its schema up to date. opts may be nil.
func Open(ctx context.Context, path string, opts *Options) (*store.Store, error) {
	d, err := OpenDriver(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &Options{}
	}
	return store.New(d, &opts.Options), nil
}

// OpenDriver opens the driver alone, for tests that wrap it.
func OpenDriver(ctx context.Context, path string, opts *Options) (store.Driver, error) {
	if opts == nil {
		opts = &Options{}
	}
	switch {
	case path == "" || path == ":memory:" || strings.HasPrefix(path, "file::memory:"):
		return nil, store.Invalid("path", path, "must name a file; use store/memory for a store in memory")
	case strings.ContainsAny(path, "?#\x00"):
		return nil, store.Invalid("path", path, "must not contain '?', '#' or NUL")
	}
	if err := create(path); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	busy := cmpOr(opts.BusyTimeout, 10*time.Second)
	syncMode := "NORMAL"
	if opts.Sync == SyncFull {
		syncMode = "FULL"
	}
	common := url.Values{}
	common.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
	common.Set("_foreign_keys", "1")
	wq := clone(common)
	wq.Set("_journal_mode", "WAL")
	wq.Set("_synchronous", syncMode)
	rq := clone(common)
	rq.Set("_query_only", "1")
	w, err := openDB("file:"+path+"?"+wq.Encode(), 1)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r, err := openDB("file:"+path+"?"+rq.Encode(), cmpOr(opts.MaxReaders, 4))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d, err := sqldriver.Open(ctx, dialect, sqldriver.Config{Reads: r, Writes: w, Pinned: true})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return d, nil
}

// create makes a missing database file 0600, in a directory made 0700
// when missing, before SQLite opens it with its default 0644. SQLite
// gives the WAL and shared-memory files the database file's mode.
func create(path string) error {
	if dir := filepath.Dir(path); dir != "" {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func clone(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func openDB(dsn string, conns int) (*sql.DB, error) {
	c, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// dialect is what SQLite does its own way.
var dialect = &sqldriver.Dialect{
	Begin:           "BEGIN IMMEDIATE",
	Migrations:      migrations,
	MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT (unixepoch()))`,
	Time:            func(t time.Time) any { return t.UnixNano() },
	EventTime:       func(t time.Time) any { return t.UTC().Format(time.RFC3339Nano) },
	JSON:            func(col string) string { return col },
	Contains:        func(h, p string) string { return "instr(" + h + ", " + p + ") > 0" },
	Classify:        classify,
	CacheStatements: true,
	EventRows:       50,
	Param:           func(int) string { return "?" },
}

func classify(err error) sqldriver.Kind {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return sqldriver.Other
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqldriver.Unique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqldriver.ForeignKey
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return sqldriver.Retry
	case sqlite3.SQLITE_INTERRUPT:
		return sqldriver.Interrupted
	case sqlite3.SQLITE_ERROR:
		if strings.Contains(se.Error(), "no transaction is active") {
			return sqldriver.NoTransaction
		}
	}
	return sqldriver.Other
}
